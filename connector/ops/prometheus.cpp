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

const char* type_name(MetricType type) {
  switch (type) {
  case MetricType::counter:
    return "counter";
  case MetricType::gauge:
    return "gauge";
  case MetricType::histogram:
    return "histogram";
  }
  return "untyped";
}

} // namespace

PrometheusText::Family& PrometheusText::family(std::string_view name, MetricType type,
                                               std::string_view help) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(std::string(name), Family{type, std::string(help), {}}).first;
    order_.emplace_back(name);
  }
  return it->second;
}

std::string PrometheusText::sample(std::string_view name, const Labels& labels, double value) {
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
  return line;
}

void PrometheusText::add(std::string_view name, MetricType type, std::string_view help,
                         const Labels& labels, double value) {
  family(name, type, help).samples.push_back(sample(name, labels, value));
}

void PrometheusText::histogram(std::string_view name, std::string_view help, const Labels& labels,
                               const Histogram::Snapshot& value) {
  auto& samples = family(name, MetricType::histogram, help).samples;
  const std::string bucket = fmt::format("{}_bucket", name);
  Labels l = labels;
  l.emplace_back("le", "");
  for (std::size_t i = 0; i < value.cumulative.size(); ++i) {
    l.back().second = i < value.bounds.size() ? format_value(value.bounds[i]) : "+Inf";
    samples.push_back(sample(bucket, l, static_cast<double>(value.cumulative[i])));
  }
  samples.push_back(sample(fmt::format("{}_sum", name), labels, value.sum));
  samples.push_back(
      sample(fmt::format("{}_count", name), labels, static_cast<double>(value.count)));
}

std::string PrometheusText::render() const {
  std::string out;
  for (const auto& name : order_) {
    const Family& f = families_.find(name)->second;
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, escape_help(f.help), name,
                       type_name(f.type));
    for (const auto& s : f.samples) {
      out += s;
      out.push_back('\n');
    }
  }
  return out;
}

} // namespace hub2kusto::ops
