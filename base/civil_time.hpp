#pragma once
// The time core of the connector and the mapping engine: proleptic Gregorian calendar
// arithmetic on day counts (Howard Hinnant's algorithms,
// https://howardhinnant.github.io/date_algorithms.html) and Kusto's datetime text, which has
// 100-nanosecond ticks and writes seven fractional digits (2026-11-24T10:00:00.1234567Z).
// Every function is total on its stated range and allocation-free, so the mapping engine can
// use it per value.
#include <cstdint>
#include <string_view>

namespace hub2kusto::civil_time {

inline constexpr std::int64_t kTicksPerSecond = 10'000'000; // Kusto's 100 ns
inline constexpr std::int64_t kSecondsPerDay = 86'400;

struct Date {
  std::int64_t year;
  unsigned month; // 1-12
  unsigned day;   // 1-31
};

// Days since 1970-01-01 of a date.
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// The date `z` days after 1970-01-01.
constexpr Date civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2 ? 1 : 0), m, d};
}

constexpr bool is_leap(std::int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

constexpr unsigned days_in_month(std::int64_t y, unsigned m) {
  constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

// Reads exactly `n` ASCII digits at s[pos] into `out`; false when one is missing.
constexpr bool read_digits(std::string_view s, std::size_t pos, std::size_t n, unsigned& out) {
  if (pos + n > s.size()) {
    return false;
  }
  out = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') {
      return false;
    }
    out = out * 10 + static_cast<unsigned>(s[i] - '0');
  }
  return true;
}

// Writes `value` with at least `width` digits at `p`; returns the end.
inline char* put_digits(char* p, std::uint64_t value, int width) {
  char buffer[24];
  int n = 0;
  do {
    buffer[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  for (int i = n; i < width; ++i) {
    *p++ = '0';
  }
  while (n > 0) {
    *p++ = buffer[--n];
  }
  return p;
}

// Writes a value below 100 as two digits at `p`; returns the end.
inline char* put_two(char* p, std::uint64_t value) {
  p[0] = static_cast<char>('0' + value / 10);
  p[1] = static_cast<char>('0' + value % 10);
  return p + 2;
}

// The longest text write_datetime writes (a five-digit year would need one more).
inline constexpr std::size_t kDateTimeChars = 32;

// Writes `ticks` since the Unix epoch as Kusto writes a datetime, yyyy-MM-ddTHH:mm:ss.fffffffZ,
// at `p` (room for kDateTimeChars); returns the end.
inline char* write_datetime(char* p, std::int64_t ticks) {
  std::int64_t seconds = ticks / kTicksPerSecond;
  std::int64_t fraction = ticks % kTicksPerSecond;
  if (fraction < 0) {
    fraction += kTicksPerSecond;
    --seconds;
  }
  std::int64_t days = seconds / kSecondsPerDay;
  std::int64_t rest = seconds % kSecondsPerDay;
  if (rest < 0) {
    rest += kSecondsPerDay;
    --days;
  }
  const Date date = civil_from_days(days);
  p = put_digits(p, static_cast<std::uint64_t>(date.year), 4);
  *p++ = '-';
  p = put_two(p, date.month);
  *p++ = '-';
  p = put_two(p, date.day);
  *p++ = 'T';
  p = put_two(p, static_cast<std::uint64_t>(rest / 3600));
  *p++ = ':';
  p = put_two(p, static_cast<std::uint64_t>(rest / 60 % 60));
  *p++ = ':';
  p = put_two(p, static_cast<std::uint64_t>(rest % 60));
  *p++ = '.';
  p = put_digits(p, static_cast<std::uint64_t>(fraction), 7);
  *p++ = 'Z';
  return p;
}

} // namespace hub2kusto::civil_time
