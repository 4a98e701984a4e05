#pragma once
// PrometheusText: writes metric samples in the Prometheus text exposition format (version
// 0.0.4): one `# HELP` and `# TYPE` line per family, then its samples, label values escaped.
// Samples of one family may be added in any order (per partition, per connection); render()
// groups them under their family in the order families were first seen.
//
// Threads: one (the ops server builds one per scrape).
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/metrics.hpp"

namespace hub2kusto::ops {

using Labels = MetricLabels;

enum class MetricType { counter, gauge, histogram };

class PrometheusText final : public MetricsSink {
public:
  // `name` follows Prometheus naming (counters end in _total); a family keeps the type and
  // help of its first sample.
  void add(std::string_view name, MetricType type, std::string_view help, const Labels& labels,
           double value);
  void counter(std::string_view name, std::string_view help, const Labels& labels,
               std::uint64_t value) override {
    add(name, MetricType::counter, help, labels, static_cast<double>(value));
  }
  void gauge(std::string_view name, std::string_view help, const Labels& labels,
             double value) override {
    add(name, MetricType::gauge, help, labels, value);
  }
  // name_bucket{...,le="..."} for each bound and +Inf, then name_sum and name_count.
  void histogram(std::string_view name, std::string_view help, const Labels& labels,
                 const Histogram::Snapshot& value) override;

  std::string render() const;

private:
  struct Family {
    MetricType type;
    std::string help;
    std::vector<std::string> samples; // each a full line without the newline
  };
  Family& family(std::string_view name, MetricType type, std::string_view help);
  static std::string sample(std::string_view name, const Labels& labels, double value);

  std::vector<std::string> order_;
  std::map<std::string, Family, std::less<>> families_;
};

// A label value as the exposition format wants it: backslash, double quote and newline escaped.
std::string escape_label_value(std::string_view value);

} // namespace hub2kusto::ops
