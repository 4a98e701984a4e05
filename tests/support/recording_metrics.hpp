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
  // A histogram as its _count and _sum samples, and the snapshot itself by name{labels}.
  void histogram(std::string_view name, std::string_view help, const MetricLabels& labels,
                 const Histogram::Snapshot& value) override {
    record(std::string(name) + "_count", help, labels, static_cast<double>(value.count));
    record(std::string(name) + "_sum", help, labels, value.sum);
    histograms[key(name, labels)] = value;
  }

  // name{label=value,...} -> value
  std::map<std::string, double> samples;
  std::map<std::string, Histogram::Snapshot> histograms;
  bool every_help_given = true;

private:
  void record(std::string_view name, std::string_view help, const MetricLabels& labels,
              double value) {
    samples[key(name, labels)] = value;
    every_help_given = every_help_given && !help.empty();
  }
  static std::string key(std::string_view name, const MetricLabels& labels) {
    std::string key(name);
    for (const auto& [k, v] : labels) {
      key += (key.size() == name.size() ? "{" : ",") + k + "=" + v;
    }
    if (!labels.empty()) {
      key += "}";
    }
    return key;
  }
};

} // namespace hub2kusto::fakes
