#include "ingest/request_limiter.hpp"

#include <algorithm>
#include <utility>

namespace hub2kusto::ingest {

RequestLimiter::RequestLimiter(Options options, const Clock& clock)
    : clock_(clock), recovery_(options.recovery), calm_since_(clock.steady_now()) {
  counts_.max = std::max(1, options.max);
  counts_.limit = counts_.max;
}

RequestLimiter::Slot::Slot(Slot&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), round_(other.round_), limit_(other.limit_) {}

RequestLimiter::Slot::~Slot() {
  if (owner_ != nullptr) {
    owner_->release();
  }
}

void RequestLimiter::Slot::throttled() {
  if (owner_ != nullptr) {
    owner_->on_throttled(round_);
  }
}

RequestLimiter::Slot RequestLimiter::acquire() {
  std::unique_lock lock(mutex_);
  grow(clock_.steady_now());
  if (counts_.in_flight >= counts_.limit) {
    ++counts_.waits;
    turn_.wait(lock, [&] { return counts_.in_flight < counts_.limit; });
  }
  ++counts_.in_flight;
  counts_.peak = std::max(counts_.peak, counts_.in_flight);
  return Slot(this, counts_.cuts, counts_.limit);
}

void RequestLimiter::release() {
  {
    std::lock_guard lock(mutex_);
    --counts_.in_flight;
    grow(clock_.steady_now());
  }
  turn_.notify_all();
}

void RequestLimiter::on_throttled(std::uint64_t round) {
  std::lock_guard lock(mutex_);
  ++counts_.throttled;
  if (round != counts_.cuts) {
    return; // sent before the last cut, under the limit that was already halved
  }
  counts_.limit = std::max(1, (counts_.limit + 1) / 2); // half, rounded up
  ++counts_.cuts;
  calm_since_ = clock_.steady_now();
}

void RequestLimiter::grow(std::chrono::steady_clock::time_point now) {
  if (counts_.limit < counts_.max && now - calm_since_ >= recovery_) {
    ++counts_.limit;
    calm_since_ = now;
  } else if (counts_.limit >= counts_.max) {
    calm_since_ = now; // growth is counted from when the limit last stood below the maximum
  }
}

void RequestLimiter::cap(int max) {
  std::lock_guard lock(mutex_);
  counts_.max = std::clamp(max, 1, counts_.max);
  counts_.limit = std::min(counts_.limit, counts_.max);
}

RequestLimiter::Counts RequestLimiter::counts() const {
  std::lock_guard lock(mutex_);
  return counts_;
}

void RequestLimiter::describe(MetricsSink& out, const MetricLabels& labels) const {
  const Counts c = counts();
  out.gauge("hub2kusto_kusto_requests_limit",
            "Requests the cluster is sent at once now: target.max_concurrent_requests, halved by "
            "throttling and grown back by one every 30 s without it.",
            labels, c.limit);
  out.gauge("hub2kusto_kusto_requests_in_flight", "Requests to the cluster running now.", labels,
            c.in_flight);
  out.gauge("hub2kusto_kusto_requests_in_flight_peak",
            "The most requests to the cluster that ran at once.", labels, c.peak);
  out.counter("hub2kusto_kusto_throttled_total",
              "Requests the cluster answered with throttling (429).", labels, c.throttled);
  out.counter("hub2kusto_kusto_request_waits_total",
              "Requests that waited for a turn because the limit was reached.", labels, c.waits);
}

} // namespace hub2kusto::ingest
