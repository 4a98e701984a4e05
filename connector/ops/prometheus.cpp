#include "ops/prometheus.hpp"

#include <cmath>

#include <fmt/format.h>

namespace hub2kusto::ops {

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    switch (c) {
    case '\\':
      out += "\\\\";
      break;
    case '"':
      out += "\\\"";
      break;
    case '\n':
      out += "\\n";
      break;
    default:
      out.push_back(c);
    }
  }
  return out;
}

namespace {

std::string format_value(double value) {
  if (std::isnan(value)) {
    return "NaN";
  }
  if (std::isinf(value)) {
    return value > 0 ? "+Inf" : "-Inf";
  }
  // Integral values (every counter) without an exponent or a trailing ".0".
  if (value == std::floor(value) && std::fabs(value) < 9.0e15) {
    return fmt::format("{}", static_cast<std::int64_t>(value));
  }
  return fmt::format("{}", value);
}

// HELP text escapes only backslash and newline.
std::string escape_help(std::string_view help) {
  std::string out;
  for (const char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

} // namespace

void PrometheusText::add(std::string_view name, MetricType type, std::string_view help,
                         const Labels& labels, double value) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(std::string(name), Family{type, std::string(help), {}}).first;
    order_.emplace_back(name);
  }
  std::string line(name);
  if (!labels.empty()) {
    line.push_back('{');
    for (std::size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) {
        line.push_back(',');
      }
      line += fmt::format("{}=\"{}\"", labels[i].first, escape_label_value(labels[i].second));
    }
    line.push_back('}');
  }
  line.push_back(' ');
  line += format_value(value);
  it->second.samples.push_back(std::move(line));
}

std::string PrometheusText::render() const {
  std::string out;
  for (const auto& name : order_) {
    const Family& f = families_.find(name)->second;
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, escape_help(f.help), name,
                       f.type == MetricType::counter ? "counter" : "gauge");
    for (const auto& s : f.samples) {
      out += s;
      out.push_back('\n');
    }
  }
  return out;
}

} // namespace hub2kusto::ops
