#include "checkpoint/file_checkpoint_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace hub2kusto::checkpoint {
namespace {

// Names as the blob store lowercases them (docs/protocols.md, "Checkpoint blobs"); path separators
// cannot sneak in.
std::string component(std::string_view name) {
  std::string out;
  for (const char c : name) {
    out.push_back(c == '/' || c == '\\'
                      ? '_'
                      : static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out.empty() ? "_" : out;
}

Saved fsync_path(const std::filesystem::path& path, int flags) {
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) {
    return failure(fmt::format("cannot open '{}': {}", path.string(), std::strerror(errno)));
  }
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) {
    return failure(fmt::format("cannot fsync '{}': {}", path.string(), std::strerror(err)));
  }
  return std::monostate{};
}

} // namespace

FileCheckpointStore::FileCheckpointStore(std::filesystem::path directory, const Scope& scope)
    : directory_(directory / component(scope.fully_qualified_namespace) /
                 component(scope.event_hub.value()) / component(scope.consumer_group.value()) /
                 "checkpoint") {}

std::filesystem::path FileCheckpointStore::path_of(const PartitionId& partition) const {
  return directory_ / component(partition.value());
}

Result<std::monostate> FileCheckpointStore::create_directory() const {
  std::error_code ec;
  std::filesystem::create_directories(directory_, ec);
  if (ec) {
    return failure(fmt::format("cannot create the checkpoint directory '{}': {}",
                               directory_.string(), ec.message()));
  }
  return std::monostate{};
}

Result<std::monostate> FileCheckpointStore::prepare() {
  std::lock_guard lock(mutex_);
  if (auto created = create_directory(); !created) {
    return created;
  }
  const auto probe = directory_ / ".hub2kusto-write-test";
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) {
    return failure(fmt::format("cannot write in the checkpoint directory '{}': {}",
                               directory_.string(), std::strerror(errno)));
  }
  ::close(fd);
  std::error_code ec;
  std::filesystem::remove(probe, ec);
  return std::monostate{};
}

Result<std::optional<Checkpoint>> FileCheckpointStore::load(const PartitionId& partition) {
  std::lock_guard lock(mutex_);
  const auto path = path_of(partition);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return std::optional<Checkpoint>();
  }
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  const auto json = nlohmann::json::parse(text.str(), nullptr, false);
  try {
    if (json.is_discarded() || !json.is_object()) {
      throw std::runtime_error("not a JSON object");
    }
    Checkpoint c{SequenceNumber(std::stoll(json.at("sequencenumber").get<std::string>())),
                 Offset(json.at("offset").get<std::string>())};
    return std::optional(c);
  } catch (const std::exception& e) {
    return failure(fmt::format("the checkpoint file '{}' is not readable ({}); move it away to "
                               "start the partition from the configured position",
                               path.string(), e.what()));
  }
}

Saved FileCheckpointStore::save(const PartitionId& partition, const Checkpoint& checkpoint) {
  std::lock_guard lock(mutex_);
  if (auto created = create_directory(); !created) {
    return created;
  }
  std::error_code ec;
  const auto path = path_of(partition);
  const auto temporary = path.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << nlohmann::json{{"sequencenumber", std::to_string(checkpoint.sequence_number.value())},
                          {"offset", checkpoint.offset.value()}}
               .dump()
        << "\n";
    if (!out.flush()) {
      return failure(fmt::format("cannot write the checkpoint file '{}'", temporary));
    }
  }
  if (auto synced = fsync_path(temporary, O_RDONLY); !synced) {
    return synced;
  }
  std::filesystem::rename(temporary, path, ec);
  if (ec) {
    return failure(
        fmt::format("cannot rename '{}' to '{}': {}", temporary, path.string(), ec.message()));
  }
  return fsync_path(directory_, O_RDONLY | O_DIRECTORY);
}

} // namespace hub2kusto::checkpoint
