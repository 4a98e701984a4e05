#include "common/iso8601.hpp"

#include <fmt/format.h>

namespace hub2kusto {
namespace {

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) {
    return false;
  }
  out = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') {
      return false;
    }
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

} // namespace

std::optional<std::chrono::system_clock::time_point> parse_iso8601_utc(std::string_view s) {
  using namespace std::chrono;
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!digits(s, 0, 4, y) || s.size() < 19 || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !digits(s, 11, 2, h) || s[13] != ':' || !digits(s, 14, 2, mi) || s[16] != ':' ||
      !digits(s, 17, 2, sec)) {
    return std::nullopt;
  }
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)},
                           day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || sec > 59) {
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
    int oh = 0, om = 0;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(s, pos + 4, 2, om) || oh > 23 || om > 59) {
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
  const auto tp = sys_days(ymd) + hours(h) + minutes(mi) + seconds(sec) + fraction - offset;
  return time_point_cast<system_clock::duration>(tp);
}

std::string format_iso8601_utc(std::chrono::system_clock::time_point tp) {
  using namespace std::chrono;
  using Ticks = duration<std::int64_t, std::ratio<1, 10'000'000>>; // Kusto's 100 ns
  const Ticks ticks = duration_cast<Ticks>(tp.time_since_epoch());
  const auto day_point = floor<days>(sys_time<Ticks>(ticks));
  const year_month_day ymd{day_point};
  Ticks rest = ticks - duration_cast<Ticks>(day_point.time_since_epoch());
  const auto h = duration_cast<hours>(rest);
  rest -= h;
  const auto m = duration_cast<minutes>(rest);
  rest -= m;
  const auto sec = duration_cast<seconds>(rest);
  rest -= sec;
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}Z", int(ymd.year()),
                     unsigned(ymd.month()), unsigned(ymd.day()), h.count(), m.count(), sec.count(),
                     rest.count());
}

} // namespace hub2kusto
