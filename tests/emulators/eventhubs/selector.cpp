#include "selector.hpp"

#include <charconv>

namespace hub2kusto::emulator {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') {
    s.remove_prefix(1);
  }
  while (!s.empty() && s.back() == ' ') {
    s.remove_suffix(1);
  }
  return s;
}

} // namespace

std::optional<StartSelector> parse_start_selector(std::string_view text) {
  text = trim(text);
  constexpr std::string_view prefix = "amqp.annotation.";
  if (text.substr(0, prefix.size()) != prefix) {
    return std::nullopt;
  }
  text.remove_prefix(prefix.size());
  const std::size_t op = text.find('>');
  if (op == std::string_view::npos) {
    return std::nullopt;
  }
  StartSelector s;
  const std::string_view field = trim(text.substr(0, op));
  if (field == "x-opt-offset") {
    s.field = StartSelector::Field::offset;
  } else if (field == "x-opt-sequence-number") {
    s.field = StartSelector::Field::sequence_number;
  } else if (field == "x-opt-enqueued-time" || field == "x-opt-enqueuedtimeutc") {
    s.field = StartSelector::Field::enqueued_time;
  } else {
    return std::nullopt;
  }
  std::string_view value = text.substr(op + 1);
  if (!value.empty() && value.front() == '=') {
    s.inclusive = true;
    value.remove_prefix(1);
  }
  value = trim(value);
  if (value.size() >= 2 && value.front() == '\'' && value.back() == '\'') {
    value = value.substr(1, value.size() - 2);
  }
  if (s.field == StartSelector::Field::offset && value == "@latest") {
    s.latest = true;
    return s;
  }
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), s.value);
  if (ec != std::errc() || end != value.data() + value.size() || value.empty()) {
    return std::nullopt;
  }
  return s;
}

} // namespace hub2kusto::emulator
