#pragma once
// Timers on the injected clock (docs/architecture.md, "Time and randomness"). The AMQP thread keeps
// its backoffs and token renewals here and runs what is due on a short periodic tick, rather than
// one Proton timer each: a pending Proton timer keeps proton::container::run() from returning after
// stop() (a 45-minute renewal would hold shutdown for 45 minutes), and due times taken from
// the Clock can be tested with a ManualClock. One thread only.
#include <chrono>
#include <functional>
#include <map>
#include <vector>

namespace hub2kusto::hub {

class TimerQueue {
public:
  using TimePoint = std::chrono::steady_clock::time_point;

  void add(TimePoint due, std::function<void()> fn) { timers_.emplace(due, std::move(fn)); }

  // Runs every timer due at `now`, earliest first; timers they add run on a later call.
  std::size_t run_due(TimePoint now) {
    std::vector<std::function<void()>> due;
    for (auto it = timers_.begin(); it != timers_.end() && it->first <= now;) {
      due.push_back(std::move(it->second));
      it = timers_.erase(it);
    }
    for (auto& fn : due) {
      fn();
    }
    return due.size();
  }

  std::size_t size() const { return timers_.size(); }
  void clear() { timers_.clear(); }

private:
  std::multimap<TimePoint, std::function<void()>> timers_;
};

} // namespace hub2kusto::hub
