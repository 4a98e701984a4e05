#include "mappings/values.hpp"
#include "base/civil_time.hpp"
#include "base/text.hpp"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

namespace hub2kusto::mappings::values {
namespace {

using text::iequals;
using text::is_space;
using text::lower;
using text::trim;

using civil_time::days_from_civil;
using civil_time::days_in_month;
using civil_time::put_digits;
using civil_time::put_two;
using civil_time::read_digits;

// Fraction digits after a '.', as ticks (digits beyond the 7th are dropped).
bool fraction_ticks(std::string_view s, std::size_t& pos, std::int64_t& ticks) {
  const std::size_t start = pos;
  std::int64_t scale = 1'000'000;
  ticks = 0;
  while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
    ticks += (s[pos] - '0') * scale;
    scale /= 10;
    ++pos;
  }
  return pos > start;
}

// Reads hh:mm[:ss[.fffffff]] at s[pos] and moves pos past it; the fraction is read only when
// `fraction` is given. Ranges are the caller's to check.
bool clock_time(std::string_view s, std::size_t& pos, unsigned& h, unsigned& mi, unsigned& sec,
                std::int64_t* fraction) {
  if (!read_digits(s, pos, 2, h) || pos + 2 >= s.size() || s[pos + 2] != ':' ||
      !read_digits(s, pos + 3, 2, mi)) {
    return false;
  }
  pos += 5;
  if (pos < s.size() && s[pos] == ':') {
    if (!read_digits(s, pos + 1, 2, sec)) {
      return false;
    }
    pos += 3;
    if (fraction != nullptr && pos < s.size() && s[pos] == '.') {
      ++pos;
      if (!fraction_ticks(s, pos, *fraction)) {
        return false;
      }
    }
  }
  return true;
}

std::optional<std::int64_t> to_ticks(std::int64_t y, unsigned mo, unsigned d, unsigned h,
                                     unsigned mi, unsigned sec, std::int64_t fraction,
                                     std::int64_t offset_minutes) {
  if (y < 1 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
      mi > 59 || sec > 59) {
    return std::nullopt;
  }
  const std::int64_t seconds =
      days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset_minutes * 60;
  const std::int64_t ticks = seconds * kTicksPerSecond + fraction;
  if (ticks < kMinDateTimeTicks || ticks > kMaxDateTimeTicks) {
    return std::nullopt;
  }
  return ticks;
}

std::optional<std::int64_t> parse_iso(std::string_view s) {
  unsigned y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!read_digits(s, 0, 4, y) || s.size() < 10 || s[4] != '-' || !read_digits(s, 5, 2, mo) ||
      s[7] != '-' || !read_digits(s, 8, 2, d)) {
    return std::nullopt;
  }
  std::size_t pos = 10;
  std::int64_t fraction = 0;
  std::int64_t offset = 0;
  if (pos < s.size()) {
    if (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' ') {
      return std::nullopt;
    }
    ++pos;
    if (!clock_time(s, pos, h, mi, sec, &fraction)) {
      return std::nullopt;
    }
    if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
      ++pos;
    } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
      unsigned oh = 0, om = 0;
      const bool colon = pos + 3 < s.size() && s[pos + 3] == ':';
      if (!read_digits(s, pos + 1, 2, oh) || !read_digits(s, pos + (colon ? 4 : 3), 2, om) ||
          oh > 23 || om > 59) {
        return std::nullopt;
      }
      offset = (s[pos] == '-' ? -1 : 1) * static_cast<std::int64_t>(oh * 60 + om);
      pos += colon ? 6 : 5;
    }
  }
  if (pos != s.size()) {
    return std::nullopt;
  }
  return to_ticks(y, mo, d, h, mi, sec, fraction, offset);
}

int month_from_name(std::string_view name) {
  static constexpr std::string_view kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                                 "jul", "aug", "sep", "oct", "nov", "dec"};
  for (int i = 0; i < 12; ++i) {
    if (iequals(name, kMonths[i])) {
      return i + 1;
    }
  }
  return 0;
}

// RFC 822/1123 "Tue, 24 Nov 2026 10:00:00 GMT" and RFC 850 "Tuesday, 24-Nov-26 10:00:00 GMT".
std::optional<std::int64_t> parse_rfc(std::string_view s) {
  const std::size_t comma = s.find(',');
  if (comma != std::string_view::npos) {
    s = trim(s.substr(comma + 1));
  }
  unsigned d = 0, h = 0, mi = 0, sec = 0, y = 0;
  std::size_t pos = 0;
  const std::size_t day_len = s.size() > 1 && s[1] >= '0' && s[1] <= '9' ? 2 : 1;
  if (!read_digits(s, 0, day_len, d)) {
    return std::nullopt;
  }
  pos = day_len;
  if (pos >= s.size() || (s[pos] != ' ' && s[pos] != '-')) {
    return std::nullopt;
  }
  const char sep = s[pos++];
  const int mo = month_from_name(s.substr(pos, 3));
  if (mo == 0 || pos + 3 >= s.size() || s[pos + 3] != sep) {
    return std::nullopt;
  }
  pos += 4;
  if (read_digits(s, pos, 4, y)) {
    pos += 4;
  } else if (read_digits(s, pos, 2, y)) {
    y += y < 50 ? 2000 : 1900; // RFC 850 two-digit years
    pos += 2;
  } else {
    return std::nullopt;
  }
  if (pos >= s.size() || s[pos] != ' ') {
    return std::nullopt;
  }
  ++pos;
  if (!clock_time(s, pos, h, mi, sec, nullptr)) {
    return std::nullopt;
  }
  const std::string_view zone = trim(s.substr(pos));
  if (!zone.empty() && !iequals(zone, "GMT") && !iequals(zone, "UTC") && !iequals(zone, "Z")) {
    return std::nullopt;
  }
  return to_ticks(y, static_cast<unsigned>(mo), d, h, mi, sec, 0, 0);
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  c = lower(c);
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  return -1;
}

} // namespace

std::optional<std::int64_t> parse_datetime(std::string_view text) {
  text = trim(text);
  if (text.empty()) {
    return std::nullopt;
  }
  if (text[0] >= '0' && text[0] <= '9' && text.size() >= 10 && text[4] == '-') {
    return parse_iso(text);
  }
  return parse_rfc(text);
}

void append_datetime(std::string& out, std::int64_t ticks) {
  char buffer[civil_time::kDateTimeChars];
  out.append(buffer, civil_time::write_datetime(buffer, ticks));
}

std::optional<std::int64_t> parse_timespan(std::string_view text) {
  text = trim(text);
  bool negative = false;
  if (!text.empty() && text[0] == '-') {
    negative = true;
    text.remove_prefix(1);
  }
  // [d.]hh:mm[:ss[.f]]
  std::int64_t days = 0;
  const std::size_t colon = text.find(':');
  const std::size_t dot = text.find('.');
  if (colon == std::string_view::npos) {
    return std::nullopt;
  }
  if (dot != std::string_view::npos && dot < colon) {
    const auto d = parse_integer(text.substr(0, dot));
    if (!d || *d < 0 || *d > 10'675'199) {
      return std::nullopt;
    }
    days = *d;
    text.remove_prefix(dot + 1);
  }
  unsigned h = 0, m = 0, s = 0;
  std::size_t pos = 0;
  std::int64_t fraction = 0;
  if (!clock_time(text, pos, h, m, s, &fraction) || h > 23 || m > 59 || s > 59 ||
      pos != text.size()) {
    return std::nullopt;
  }
  const std::int64_t ticks = ((days * 86400) + h * 3600 + m * 60 + s) * kTicksPerSecond + fraction;
  return negative ? -ticks : ticks;
}

void append_timespan(std::string& out, std::int64_t ticks) {
  const std::uint64_t t =
      ticks < 0 ? static_cast<std::uint64_t>(-(ticks + 1)) + 1 : static_cast<std::uint64_t>(ticks);
  char buffer[48];
  char* p = buffer;
  if (ticks < 0) {
    *p++ = '-';
  }
  const std::uint64_t fraction = t % kTicksPerSecond;
  std::uint64_t seconds = t / kTicksPerSecond;
  const std::uint64_t days = seconds / 86400;
  seconds %= 86400;
  if (days > 0) {
    p = put_digits(p, days, 1);
    *p++ = '.';
  }
  p = put_two(p, seconds / 3600);
  *p++ = ':';
  p = put_two(p, seconds / 60 % 60);
  *p++ = ':';
  p = put_two(p, seconds % 60);
  if (fraction != 0) {
    *p++ = '.';
    p = put_digits(p, fraction, 7);
  }
  out.append(buffer, p);
}

bool append_guid(std::string& out, std::string_view text) {
  text = trim(text);
  if (text.size() == 38 && text.front() == '{' && text.back() == '}') {
    text = text.substr(1, 36);
  }
  if (text.size() != 36) {
    return false;
  }
  for (std::size_t i = 0; i < 36; ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? text[i] != '-' : hex_digit(text[i]) < 0) {
      return false;
    }
  }
  char buffer[36];
  for (std::size_t i = 0; i < 36; ++i) {
    buffer[i] = lower(text[i]);
  }
  out.append(buffer, 36);
  return true;
}

std::optional<bool> parse_bool(std::string_view text) {
  text = trim(text);
  if (iequals(text, "true") || text == "1") {
    return true;
  }
  if (iequals(text, "false") || text == "0") {
    return false;
  }
  return std::nullopt;
}

std::optional<std::int64_t> parse_integer(std::string_view text) {
  text = trim(text);
  if (!text.empty() && text[0] == '+') {
    text.remove_prefix(1);
  }
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return std::nullopt;
  }
  return v;
}

std::optional<double> parse_real(std::string_view text) {
  text = trim(text);
  if (iequals(text, "nan")) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  if (iequals(text, "infinity") || iequals(text, "+infinity") || iequals(text, "inf")) {
    return std::numeric_limits<double>::infinity();
  }
  if (iequals(text, "-infinity") || iequals(text, "-inf")) {
    return -std::numeric_limits<double>::infinity();
  }
  if (!text.empty() && text[0] == '+') {
    text.remove_prefix(1);
  }
  double v = 0;
  const auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), v, std::chars_format::general);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return std::nullopt;
  }
  return v;
}

bool is_decimal_text(std::string_view text) {
  text = trim(text);
  std::size_t i = 0;
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) {
    ++i;
  }
  std::size_t digits_before = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    ++i;
    ++digits_before;
  }
  std::size_t digits_after = 0;
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      ++i;
      ++digits_after;
    }
  }
  if (digits_before + digits_after == 0) {
    return false;
  }
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '-' || text[i] == '+')) {
      ++i;
    }
    std::size_t exp_digits = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      ++i;
      ++exp_digits;
    }
    if (exp_digits == 0) {
      return false;
    }
  }
  return i == text.size();
}

void append_int(std::string& out, std::int64_t value) {
  char buffer[24];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, end);
}

void append_real(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
    return;
  }
  if (std::isinf(value)) {
    out += value < 0 ? "-Infinity" : "Infinity";
    return;
  }
  char buffer[32];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, end);
}

std::optional<std::int64_t> unix_to_ticks(double value, UnixUnit unit) {
  double ticks = value;
  switch (unit) {
  case UnixUnit::seconds:
    ticks *= 1e7;
    break;
  case UnixUnit::milliseconds:
    ticks *= 1e4;
    break;
  case UnixUnit::microseconds:
    ticks *= 10;
    break;
  case UnixUnit::nanoseconds:
    ticks /= 100;
    break;
  }
  if (!std::isfinite(ticks) || ticks < static_cast<double>(kMinDateTimeTicks) ||
      ticks > static_cast<double>(kMaxDateTimeTicks)) {
    return std::nullopt;
  }
  return static_cast<std::int64_t>(std::llround(ticks));
}

std::optional<std::int64_t> unix_to_ticks(std::int64_t value, UnixUnit unit) {
  std::int64_t factor = 1;
  switch (unit) {
  case UnixUnit::seconds:
    factor = kTicksPerSecond;
    break;
  case UnixUnit::milliseconds:
    factor = 10'000;
    break;
  case UnixUnit::microseconds:
    factor = 10;
    break;
  case UnixUnit::nanoseconds:
    return value / 100;
  }
  if (value > kMaxDateTimeTicks / factor || value < kMinDateTimeTicks / factor) {
    return std::nullopt;
  }
  return value * factor;
}

} // namespace hub2kusto::mappings::values
