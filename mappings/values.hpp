#pragma once
// Text forms of Kusto scalar values: parsing what events carry, and writing what Kusto
// ingests. All writers append to a caller's buffer and never allocate on their own.
//
// datetime and timespan are 100-nanosecond ticks (Kusto's resolution); datetimes count from
// the Unix epoch and cover 0001-01-01 to 9999-12-31 (docs scalar-data-types/datetime).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/civil_time.hpp"

namespace hub2kusto::mappings::values {

inline constexpr std::int64_t kTicksPerSecond = civil_time::kTicksPerSecond;

// ISO 8601 forms (2026-11-24T10:00:00Z, with fractions up to 7 digits, with an offset, without
// a zone (taken as UTC), with a space instead of T, minutes only, date only) and RFC 822 / RFC
// 1123 / RFC 850 forms (Tue, 24 Nov 2026 10:00:00 GMT). Returns ticks since the Unix epoch.
std::optional<std::int64_t> parse_datetime(std::string_view text);
// 2026-11-24T10:00:00.0000000Z
void append_datetime(std::string& out, std::int64_t ticks);

// [-][d.]hh:mm[:ss[.fffffff]]
std::optional<std::int64_t> parse_timespan(std::string_view text);
// [-][d.]hh:mm:ss[.fffffff], the fraction only when not zero (as Kusto prints timespans).
void append_timespan(std::string& out, std::int64_t ticks);

// 8-4-4-4-12 hexadecimal, optionally in braces; written lower-case without braces.
bool append_guid(std::string& out, std::string_view text);

// true/false (any case), 1/0.
std::optional<bool> parse_bool(std::string_view text);
// Optional sign and decimal digits, surrounding whitespace allowed; nullopt on overflow.
std::optional<std::int64_t> parse_integer(std::string_view text);
// A decimal or exponent number, NaN, Infinity, -Infinity (as Kusto's real() accepts).
std::optional<double> parse_real(std::string_view text);
// A plain decimal number: [-+]digits[.digits][e[-+]digits].
bool is_decimal_text(std::string_view text);

void append_int(std::string& out, std::int64_t value);
// Shortest text that reads back as the same double; NaN, Infinity, -Infinity as words.
void append_real(std::string& out, double value);

enum class UnixUnit { seconds, milliseconds, microseconds, nanoseconds };
// A Unix time in `unit` as ticks; nullopt outside Kusto's datetime range.
std::optional<std::int64_t> unix_to_ticks(double value, UnixUnit unit);
std::optional<std::int64_t> unix_to_ticks(std::int64_t value, UnixUnit unit);

// Kusto's datetime range, in ticks since the Unix epoch.
inline constexpr std::int64_t kMinDateTimeTicks = -621355968000000000; // 0001-01-01
inline constexpr std::int64_t kMaxDateTimeTicks =
    2534023007999999999; // 9999-12-31 23:59:59.9999999

} // namespace hub2kusto::mappings::values
