#include "pipeline/dead_letter_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/encoding.hpp"

namespace hub2kusto::pipeline {
namespace {

bool is_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t n = c < 0x80           ? 1
                          : (c >> 5) == 0x6  ? 2
                          : (c >> 4) == 0xe  ? 3
                          : (c >> 3) == 0x1e ? 4
                                             : 0;
    if (n == 0 || i + n > s.size()) {
      return false;
    }
    for (std::size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) {
        return false;
      }
    }
    i += n;
  }
  return true;
}

} // namespace

void DeadLetterCounts::add(const std::vector<DeadLetter>& records) {
  std::lock_guard lock(mutex_);
  for (const auto& r : records) {
    ++counts_[{r.stage, r.error_code}];
  }
}

void DeadLetterCounts::describe(MetricsSink& out, const MetricLabels& labels, std::string_view name,
                                std::string_view help) const {
  std::lock_guard lock(mutex_);
  for (const auto& [key, count] : counts_) {
    MetricLabels l = labels;
    l.emplace_back("stage", key.first);
    l.emplace_back("error_code", key.second);
    out.counter(name, help, l, count);
  }
}

std::string to_json_lines(const std::vector<DeadLetter>& records) {
  std::string text;
  for (const auto& r : records) {
    nlohmann::json line = {{"stage", r.stage},
                           {"reason", r.reason},
                           {"partition", r.partition.value()},
                           {"sequence_number", r.sequence_number.value()},
                           {"offset", r.offset.value()},
                           {"enqueued_time", r.enqueued_time},
                           {"database", r.database},
                           {"table", r.table},
                           {"format", r.format},
                           {"mapping", r.mapping},
                           {"batch_id", r.batch_id},
                           {"routed", r.routed}};
    if (!r.error_code.empty()) {
      line["error_code"] = r.error_code;
    }
    if (is_utf8(r.body)) {
      line["body"] = r.body;
    } else {
      line["body"] = encoding::base64_encode(r.body);
      line["body_encoding"] = "base64";
    }
    text += line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    text += '\n';
  }
  return text;
}

Result<DeadLetter> from_json_line(std::string_view line) {
  const auto json = nlohmann::json::parse(line, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    return failure("not a JSON object");
  }
  DeadLetter d;
  try {
    const auto text = [&](const char* name) {
      const auto it = json.find(name);
      return it == json.end() || it->is_null() ? std::string() : it->get<std::string>();
    };
    d.stage = text("stage");
    d.reason = text("reason");
    d.error_code = text("error_code");
    d.partition = PartitionId(text("partition"));
    d.sequence_number = SequenceNumber(json.value("sequence_number", std::int64_t{-1}));
    d.offset = Offset(text("offset"));
    d.enqueued_time = text("enqueued_time");
    d.database = text("database");
    d.table = text("table");
    d.format = text("format");
    d.mapping = text("mapping");
    d.batch_id = text("batch_id");
    d.routed = json.value("routed", false);
    d.body = text("body");
    if (text("body_encoding") == "base64") {
      auto raw = encoding::base64_decode(d.body);
      if (!raw) {
        return failure("\"body\" is not valid base64");
      }
      d.body = std::move(*raw);
    }
  } catch (const nlohmann::json::exception& e) {
    return failure(fmt::format("a field has the wrong type: {}", e.what()));
  }
  if (d.stage.empty() || d.partition.value().empty()) {
    return failure("\"stage\" and \"partition\" are required");
  }
  return d;
}

Written BlobDeadLetterStore::prepare() {
  auto ready = blobs_.ensure_container(container_);
  if (!ready) {
    return failure("dead-letter " + ready.error().message);
  }
  return std::monostate{};
}

Written BlobDeadLetterStore::write(const std::vector<DeadLetter>& records) {
  if (records.empty()) {
    return std::monostate{};
  }
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.system_now().time_since_epoch())
          .count();
  const std::string name =
      fmt::format("{}/{}/{}-{}-{}.jsonl", prefix_, records.front().partition.value(),
                  records.front().sequence_number.value(), ms, counter_.fetch_add(1));
  auto written = blobs_.put_block_blob(container_, name, to_json_lines(records));
  if (!written) {
    return failure("dead-letter " + written.error().message);
  }
  return std::monostate{};
}

Result<int> FileDeadLetterStore::open_for_append() {
  std::error_code ec;
  if (file_.has_parent_path()) {
    std::filesystem::create_directories(file_.parent_path(), ec);
    if (ec) {
      return failure(fmt::format("cannot create the directory of the dead-letter file '{}': {}",
                                 file_.string(), ec.message()));
    }
  }
  const int fd = ::open(file_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    return failure(fmt::format("cannot open the dead-letter file '{}': {}", file_.string(),
                               std::strerror(errno)));
  }
  return fd;
}

Written FileDeadLetterStore::prepare() {
  std::lock_guard lock(mutex_);
  auto fd = open_for_append();
  if (!fd) {
    return failure(fd.error().message);
  }
  ::close(*fd);
  return std::monostate{};
}

Written FileDeadLetterStore::write(const std::vector<DeadLetter>& records) {
  const std::string text = to_json_lines(records);
  std::lock_guard lock(mutex_);
  auto opened = open_for_append();
  if (!opened) {
    return failure(opened.error().message);
  }
  const int fd = *opened;
  // Where this write starts: a write that fails half-way is cut back to here, so a reader
  // never meets a partial line.
  struct stat before {};
  if (::fstat(fd, &before) != 0) {
    const int err = errno;
    ::close(fd);
    return failure(fmt::format("cannot read the size of the dead-letter file '{}': {}",
                               file_.string(), std::strerror(err)));
  }
  const auto fail = [&](std::string_view what, int err) -> Written {
    std::string message = fmt::format("cannot {} the dead-letter file '{}': {}", what,
                                      file_.string(), std::strerror(err));
    if (::ftruncate(fd, before.st_size) != 0) {
      message += fmt::format("; cutting it back to {} bytes failed too ({}): its last line may be "
                             "partial",
                             before.st_size, std::strerror(errno));
    }
    ::close(fd);
    return failure(std::move(message));
  };
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return fail("write", n < 0 ? errno : ENOSPC);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    return fail("fsync", errno);
  }
  ::close(fd);
  return std::monostate{};
}

} // namespace hub2kusto::pipeline
