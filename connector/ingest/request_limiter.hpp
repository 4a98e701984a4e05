#pragma once
// How many requests one Kusto cluster is sent at once. A cluster serves a few concurrent
// streaming requests per core and throttles the rest with 429 (docs/protocols.md,
// "Throttling"); every partition of a large hub delivering at once would flood it. At most the
// limit run at a time, others wait for a turn. A throttling answer halves the limit, once per
// round: answers to requests that began before the last cut do not cut again, since they were
// sent under the old limit. The limit grows back by one after each `recovery` without a
// throttling answer, up to `max`: additive increase, multiplicative decrease, as TCP's
// congestion control, so a 429 storm settles a little below what the cluster takes.
//
// One limiter per cluster, shared by every connection (and every partition) that sends to it.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "common/clock.hpp"
#include "common/metrics.hpp"

namespace hub2kusto::ingest {

class RequestLimiter {
public:
  struct Options {
    int max = 4; // target.max_concurrent_requests
    std::chrono::milliseconds recovery{30'000};
  };

  RequestLimiter(Options options, const Clock& clock);
  RequestLimiter(const RequestLimiter&) = delete;
  RequestLimiter& operator=(const RequestLimiter&) = delete;

  // One request's turn, given back when the slot is destroyed.
  class Slot {
  public:
    Slot(Slot&& other) noexcept;
    Slot& operator=(Slot&&) = delete;
    ~Slot();
    // The cluster answered this request with throttling.
    void throttled();
    // The limit when this request began: 1 means it ran alone.
    int limit() const { return limit_; }

  private:
    friend class RequestLimiter;
    Slot(RequestLimiter* owner, std::uint64_t round, int limit)
        : owner_(owner), round_(round), limit_(limit) {}
    RequestLimiter* owner_;
    std::uint64_t round_; // the limiter's cuts when this request began
    int limit_;
  };

  // Waits until fewer requests than the limit are running, then takes a turn.
  Slot acquire();

  // Another connection to the same cluster allows fewer at once: the smallest maximum holds.
  void cap(int max);

  struct Counts {
    int limit = 0;
    int max = 0;
    int in_flight = 0;
    int peak = 0;                // the most in flight at once
    std::uint64_t throttled = 0; // throttling answers
    std::uint64_t cuts = 0;      // times the limit was halved
    std::uint64_t waits = 0;     // requests that waited for a turn
  };
  Counts counts() const;

  // The limit, the requests in flight and the throttling answers, labelled with `labels` (the
  // cluster).
  void describe(MetricsSink& out, const MetricLabels& labels) const;

private:
  void release();
  void on_throttled(std::uint64_t round);
  void grow(std::chrono::steady_clock::time_point now); // with mutex_ held

  const Clock& clock_;
  std::chrono::milliseconds recovery_;
  mutable std::mutex mutex_;
  std::condition_variable turn_;
  Counts counts_;
  std::chrono::steady_clock::time_point calm_since_; // the last cut or growth
};

} // namespace hub2kusto::ingest
