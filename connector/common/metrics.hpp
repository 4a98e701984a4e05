#pragma once
// Where a stage's metrics go. Each stage's metrics struct names and explains its own series in
// a describe() beside its counters (docs/architecture.md, "Metrics and logs"), so a counter
// cannot be counted and never exported; ops/ renders what they describe as Prometheus text, and
// app/ only adds the labels that say which connection and partition they belong to.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/histogram.hpp"

namespace hub2kusto {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class MetricsSink {
public:
  virtual ~MetricsSink() = default;
  // `name` follows Prometheus naming: counters end in _total.
  virtual void counter(std::string_view name, std::string_view help, const MetricLabels& labels,
                       std::uint64_t value) = 0;
  virtual void gauge(std::string_view name, std::string_view help, const MetricLabels& labels,
                     double value) = 0;
  // `name` is the family's: the _bucket, _sum and _count series are the sink's to write.
  virtual void histogram(std::string_view name, std::string_view help, const MetricLabels& labels,
                         const Histogram::Snapshot& value) = 0;
};

} // namespace hub2kusto
