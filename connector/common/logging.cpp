#include "common/logging.hpp"

#include <chrono>
#include <mutex>
#include <vector>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include "common/redact.hpp"

namespace hub2kusto {
namespace {

std::string utc_timestamp(spdlog::log_clock::time_point tp) {
  const auto ms = std::chrono::time_point_cast<std::chrono::milliseconds>(tp);
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z",
                     std::chrono::time_point_cast<std::chrono::seconds>(ms),
                     ms.time_since_epoch().count() % 1000);
}

// This thread's LogFields, outermost first.
thread_local std::vector<std::pair<std::string, std::string>> t_fields;

class RedactingSink final : public spdlog::sinks::base_sink<std::mutex> {
public:
  RedactingSink(LogFormat format, std::FILE* stream) : format_(format), stream_(stream) {}

protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const std::string text = redact_text(std::string_view(msg.payload.data(), msg.payload.size()));
    const auto level_view = spdlog::level::to_string_view(msg.level);
    const std::string_view level(level_view.data(), level_view.size());
    const std::string_view name(msg.logger_name.data(), msg.logger_name.size());
    std::string line;
    if (format_ == LogFormat::json) {
      nlohmann::json j = {{"ts", utc_timestamp(msg.time)},
                          {"level", std::string(level)},
                          {"logger", std::string(name)},
                          {"msg", text}};
      for (const auto& [key, value] : t_fields) {
        j[key] = redact_text(value);
      }
      line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } else {
      line = fmt::format("{} {:<5} [{}] {}", utc_timestamp(msg.time), level, name, text);
    }
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stream_);
  }
  void flush_() override { std::fflush(stream_); }

private:
  LogFormat format_;
  std::FILE* stream_;
};

std::mutex g_mutex;
std::shared_ptr<spdlog::sinks::sink> g_sink;
spdlog::level::level_enum g_level = spdlog::level::info;

std::shared_ptr<spdlog::sinks::sink> current_sink() {
  std::lock_guard lock(g_mutex);
  if (!g_sink) {
    g_sink = std::make_shared<RedactingSink>(LogFormat::text, stderr);
  }
  return g_sink;
}

} // namespace

std::optional<spdlog::level::level_enum> parse_log_level(std::string_view name) {
  static constexpr std::pair<std::string_view, spdlog::level::level_enum> kLevels[] = {
      {"trace", spdlog::level::trace},       {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},         {"warn", spdlog::level::warn},
      {"warning", spdlog::level::warn},      {"error", spdlog::level::err},
      {"critical", spdlog::level::critical}, {"off", spdlog::level::off}};
  for (const auto& [n, l] : kLevels) {
    if (n == name) {
      return l;
    }
  }
  return std::nullopt;
}

LogFields::LogFields(std::initializer_list<std::pair<std::string_view, std::string_view>> fields)
    : added_(fields.size()) {
  for (const auto& [key, value] : fields) {
    t_fields.emplace_back(key, value);
  }
}

LogFields::~LogFields() {
  t_fields.resize(t_fields.size() - added_);
}

std::optional<LogFormat> parse_log_format(std::string_view name) {
  if (name == "text") {
    return LogFormat::text;
  }
  if (name == "json") {
    return LogFormat::json;
  }
  return std::nullopt;
}

void configure_logging(spdlog::level::level_enum level, LogFormat format, std::FILE* stream) {
  {
    std::lock_guard lock(g_mutex);
    g_sink = std::make_shared<RedactingSink>(format, stream);
    g_level = level;
  }
  spdlog::drop_all();
  spdlog::set_level(level);
}

std::shared_ptr<spdlog::logger> logger(const std::string& name) {
  static std::mutex registration;
  std::lock_guard lock(registration);
  if (auto existing = spdlog::get(name)) {
    return existing;
  }
  auto created = std::make_shared<spdlog::logger>(name, current_sink());
  {
    std::lock_guard level_lock(g_mutex);
    created->set_level(g_level);
  }
  created->flush_on(spdlog::level::warn);
  spdlog::register_logger(created);
  return created;
}

} // namespace hub2kusto
