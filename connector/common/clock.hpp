#pragma once
// Time as an injected collaborator (docs/architecture.md, "Time and randomness"): token renewal,
// backoff, linger and checkpoint throttling ask a Clock, so tests advance a ManualClock instead of
// sleeping.

#include <chrono>
#include <mutex>

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

} // namespace hub2kusto
