#pragma once
// Logging through spdlog: one sink for the process, text or JSON lines, on stderr (stdout is
// for command output such as `check-config` and `map`). Every message passes through
// redact_text() before it is written, so a secret that slips into a log line is masked.
//
// Levels (docs/architecture.md, "Metrics and logs"): ERROR means data loss or operator action, WARN
// means recovered with no loss, per-event logging is TRACE only.

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

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

} // namespace hub2kusto
