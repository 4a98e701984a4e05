#pragma once
// Time that moves only when a test moves it: ManualClock stands in for the Clock, ManualSleeper
// for the Sleeper (connector/common/clock.hpp).
#include <chrono>
#include <mutex>
#include <vector>

#include "common/clock.hpp"

namespace hub2kusto {

// A clock that moves only when told to. Thread-safe.
class ManualClock final : public Clock {
public:
  explicit ManualClock(std::chrono::system_clock::time_point start = {}) : system_(start) {}

  std::chrono::system_clock::time_point system_now() const override {
    std::lock_guard lock(mutex_);
    return system_;
  }
  std::chrono::steady_clock::time_point steady_now() const override {
    std::lock_guard lock(mutex_);
    return steady_;
  }
  void advance(std::chrono::nanoseconds by) {
    std::lock_guard lock(mutex_);
    system_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(by);
    steady_ += by;
  }

private:
  mutable std::mutex mutex_;
  std::chrono::system_clock::time_point system_;
  std::chrono::steady_clock::time_point steady_{};
};

// Records every wait and moves the clock by it instead of sleeping. One thread at a time.
class ManualSleeper final : public Sleeper {
public:
  explicit ManualSleeper(ManualClock& clock) : clock_(clock) {}
  void sleep_for(std::chrono::milliseconds duration) override {
    waits.push_back(duration);
    clock_.advance(duration);
  }
  std::vector<std::chrono::milliseconds> waits;

private:
  ManualClock& clock_;
};

} // namespace hub2kusto
