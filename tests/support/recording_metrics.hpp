#pragma once
// A MetricsSink that keeps what a stage described, for tests that check every counter is
// exported under its name.
#include <map>
#include <string>

#include "common/metrics.hpp"

namespace hub2kusto::fakes {

class RecordingMetrics final : public MetricsSink {
public:
  void counter(std::string_view name, std::string_view help, const MetricLabels& labels,
               std::uint64_t value) override {
    record(name, help, labels, static_cast<double>(value));
  }
  void gauge(std::string_view name, std::string_view help, const MetricLabels& labels,
             double value) override {
    record(name, help, labels, value);
  }

  // name{label=value,...} -> value
  std::map<std::string, double> samples;
  bool every_help_given = true;

private:
  void record(std::string_view name, std::string_view help, const MetricLabels& labels,
              double value) {
    std::string key(name);
    for (const auto& [k, v] : labels) {
      key += (key.size() == name.size() ? "{" : ",") + k + "=" + v;
    }
    if (!labels.empty()) {
      key += "}";
    }
    samples[key] = value;
    every_help_given = every_help_given && !help.empty();
  }
};

} // namespace hub2kusto::fakes
