#include "common/histogram.hpp"

#include <algorithm>
#include <array>

namespace hub2kusto {

Histogram::Histogram(std::span<const double> bounds)
    : bounds_(bounds.begin(), bounds.end()),
      buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds.size() + 1)) {}

std::size_t Histogram::bucket_of(double value) const {
  // The first bound not below the value: Prometheus buckets are "less than or equal".
  return static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) -
                                  bounds_.begin());
}

void Histogram::observe(double value, std::uint64_t times) {
  buckets_[bucket_of(value)].fetch_add(times, std::memory_order_relaxed);
  sum_.fetch_add(value * static_cast<double>(times), std::memory_order_relaxed);
}

Histogram::Tally::~Tally() {
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    if (buckets_[i] != 0) {
      into_.buckets_[i].fetch_add(buckets_[i], std::memory_order_relaxed);
    }
  }
  into_.sum_.fetch_add(sum_, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.bounds = bounds_;
  s.cumulative.reserve(bounds_.size() + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  // The +Inf bucket and the count must agree in the exposition; the buckets are the truth.
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::span<const double> Histogram::seconds() {
  static constexpr std::array<double, 16> bounds{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                                 2.5,   5,    10,    30,   60,  120,  300, 600};
  return bounds;
}

std::span<const double> Histogram::bytes() {
  static constexpr std::array<double, 9> bounds{1024,    4096,    16384,    65536,   262144,
                                                1048576, 4194304, 16777216, 67108864};
  return bounds;
}

std::span<const double> Histogram::events() {
  static constexpr std::array<double, 6> bounds{1, 10, 100, 1000, 10000, 100000};
  return bounds;
}

} // namespace hub2kusto
