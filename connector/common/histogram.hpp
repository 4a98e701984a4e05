#pragma once
// Histogram: a distribution kept as Prometheus keeps one (the exposition format's "histogram"
// type): how many observations fell at or below each of a fixed set of upper bounds, plus their
// count and sum. Observing is a binary search over the bounds and two relaxed atomic adds, so
// the data path may observe from any thread without a lock; a scrape reads a snapshot (the
// counts of one snapshot may be a few observations apart, as with any lock-free scrape).
//
// Bounds are chosen per series, in the series' base unit (seconds, bytes, events): see the
// standard sets below.
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace hub2kusto {

class Histogram {
public:
  // `bounds`: ascending upper bounds; the +Inf bucket is implied.
  explicit Histogram(std::span<const double> bounds = seconds());
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // Any thread. `times` observations of `value` at once (a batch's events of one age).
  void observe(double value, std::uint64_t times = 1);

  // Observations gathered on one thread and added when it ends (a batch's events): the shared
  // counts are touched once per bucket, not once per observation.
  class Tally {
  public:
    explicit Tally(Histogram& into) : into_(into), buckets_(into.bounds_.size() + 1) {}
    ~Tally();
    Tally(const Tally&) = delete;
    Tally& operator=(const Tally&) = delete;
    void observe(double value) {
      ++buckets_[into_.bucket_of(value)];
      sum_ += value;
    }

  private:
    Histogram& into_;
    std::vector<std::uint64_t> buckets_;
    double sum_ = 0;
  };

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<std::uint64_t> cumulative; // observations <= bounds[i]; one more: all (+Inf)
    std::uint64_t count = 0;
    double sum = 0;
  };
  Snapshot snapshot() const;

  // Standard bounds. Latency from a request's milliseconds to a queued ingestion's minutes.
  static std::span<const double> seconds();
  // Batch and request sizes, 1 KiB to 64 MiB by fours.
  static std::span<const double> bytes();
  // Events in a batch or request, 1 to 100,000.
  static std::span<const double> events();

private:
  std::size_t bucket_of(double value) const;

  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_; // not cumulative; one per bound + Inf
  std::atomic<double> sum_{0};
};

} // namespace hub2kusto
