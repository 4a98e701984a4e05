#pragma once
// ISO 8601 / RFC 3339 date-times as operators write them in configuration:
//   2026-11-24T10:00:00Z, 2026-11-24T10:00:00.123456Z, 2026-11-24T11:00:00+01:00
// A zone (Z or an offset) is required: a start position must not depend on the pod's zone.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace hub2kusto {

std::optional<std::chrono::system_clock::time_point> parse_iso8601_utc(std::string_view text);

// 2026-11-24T10:00:00.1234567Z (7 fractional digits, as Kusto writes datetimes).
std::string format_iso8601_utc(std::chrono::system_clock::time_point tp);

} // namespace hub2kusto
