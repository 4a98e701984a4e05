#pragma once
// Logging through spdlog: one sink for the process, text or JSON lines, on stderr (stdout is
// for command output such as `check-config` and `map`). Every message passes through
// redact_text() before it is written, so a secret that slips into a log line is masked.
//
// Levels (docs/architecture.md, "Metrics and logs"): ERROR means data loss or operator action, WARN
// means recovered with no loss, per-event logging is TRACE only.

#include <cstdio>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <spdlog/logger.h>

namespace hub2kusto {

enum class LogFormat { text, json };

std::optional<spdlog::level::level_enum> parse_log_level(std::string_view name);
std::optional<LogFormat> parse_log_format(std::string_view name);

// Installs the process sink and level; safe to call again (the last call wins).
// `stream` is where lines go (stderr unless a test captures them).
void configure_logging(spdlog::level::level_enum level, LogFormat format,
                       std::FILE* stream = stderr);

// A named logger on the process sink; one per stage ("hub", "ingest", "app", ...).
std::shared_ptr<spdlog::logger> logger(const std::string& name);

// Fields the JSON lines logged on this thread carry beside "msg" while the scope lives:
// `connection`, `partition`, `batch_id`, `table`, `error_code`, so a log pipeline filters on
// them without parsing the text. Scopes nest (an inner field of the same name wins); the text
// format leaves them out (its messages say the same in words). Values are redacted as messages
// are.
class LogFields {
public:
  LogFields(std::initializer_list<std::pair<std::string_view, std::string_view>> fields);
  ~LogFields();
  LogFields(const LogFields&) = delete;
  LogFields& operator=(const LogFields&) = delete;

private:
  std::size_t added_;
};

} // namespace hub2kusto
