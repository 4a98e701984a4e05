#include "common/iso8601.hpp"

#include "base/civil_time.hpp"

namespace hub2kusto {

using civil_time::read_digits;

std::optional<std::chrono::system_clock::time_point> parse_iso8601_utc(std::string_view s) {
  using namespace std::chrono;
  unsigned y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!read_digits(s, 0, 4, y) || s.size() < 19 || s[4] != '-' || !read_digits(s, 5, 2, mo) ||
      s[7] != '-' || !read_digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !read_digits(s, 11, 2, h) || s[13] != ':' || !read_digits(s, 14, 2, mi) || s[16] != ':' ||
      !read_digits(s, 17, 2, sec)) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > civil_time::days_in_month(y, mo) || h > 23 || mi > 59 ||
      sec > 59) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  nanoseconds fraction{0};
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::int64_t scale = 100'000'000;
    const std::size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      fraction += nanoseconds((s[pos] - '0') * scale);
      scale /= 10;
      ++pos;
    }
    if (pos == start) {
      return std::nullopt;
    }
  }
  minutes offset{0};
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    unsigned oh = 0, om = 0;
    if (!read_digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !read_digits(s, pos + 4, 2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset = hours(oh) + minutes(om);
    if (s[pos] == '-') {
      offset = -offset;
    }
    pos += 6;
  } else {
    return std::nullopt; // no zone
  }
  if (pos != s.size()) {
    return std::nullopt;
  }
  const auto tp = sys_days(days(civil_time::days_from_civil(y, mo, d))) + hours(h) + minutes(mi) +
                  seconds(sec) + fraction - offset;
  return time_point_cast<system_clock::duration>(tp);
}

std::string format_iso8601_utc(std::chrono::system_clock::time_point tp) {
  using Ticks = std::chrono::duration<std::int64_t, std::ratio<1, civil_time::kTicksPerSecond>>;
  const Ticks ticks = std::chrono::floor<Ticks>(tp.time_since_epoch());
  char buffer[civil_time::kDateTimeChars];
  return std::string(buffer, civil_time::write_datetime(buffer, ticks.count()));
}

} // namespace hub2kusto
