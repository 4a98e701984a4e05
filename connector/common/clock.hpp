#pragma once
// Time as an injected collaborator (docs/architecture.md, "Time and randomness"): token renewal,
// backoff, linger and checkpoint throttling ask a Clock, so tests advance a manual clock
// (tests/support/manual_clock.hpp) instead of sleeping.

#include <chrono>
#include <thread>

#include "common/liveness.hpp"

namespace hub2kusto {

class Clock {
public:
  virtual ~Clock() = default;
  // Wall-clock time, for expiries that leave the process (SAS `se`, token lifetimes).
  virtual std::chrono::system_clock::time_point system_now() const = 0;
  // Monotonic time, for intervals.
  virtual std::chrono::steady_clock::time_point steady_now() const = 0;
};

class SystemClock final : public Clock {
public:
  std::chrono::system_clock::time_point system_now() const override {
    return std::chrono::system_clock::now();
  }
  std::chrono::steady_clock::time_point steady_now() const override {
    return std::chrono::steady_clock::now();
  }
};

// Waiting as an injected collaborator, beside the clock: backoffs and retry delays sleep through
// a Sleeper, so tests see every wait and move a manual clock by it instead of sleeping.
class Sleeper {
public:
  virtual ~Sleeper() = default;
  virtual void sleep_for(std::chrono::milliseconds duration) = 0;
};

class ThreadSleeper final : public Sleeper {
public:
  // A deliberate wait: the thread's heart, if it has one, is idle meanwhile.
  void sleep_for(std::chrono::milliseconds duration) override {
    const Liveness::Sleeping sleeping;
    std::this_thread::sleep_for(duration);
  }
};

} // namespace hub2kusto
