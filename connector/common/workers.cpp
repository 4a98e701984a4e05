#include "common/workers.hpp"

#include <atomic>
#include <cassert>

#include <fmt/format.h>

#include "common/threads.hpp"

namespace hub2kusto {

class Workers::Loop {
public:
  explicit Loop(Turn t) : turn(std::move(t)) {}
  enum class State { idle, ready, running, over };
  Turn turn;
  // Under Workers::mutex_.
  State state = State::idle;
  bool woken_while_running = false;
  std::optional<TimePoint> due; // the timer entry that counts; others are stale
};

Workers::Workers(std::size_t threads, const std::string& name, Liveness* liveness) {
  assert(threads > 0);
  std::vector<std::shared_ptr<Liveness::Heart>> hearts;
  for (std::size_t i = 0; i < threads; ++i) {
    hearts.push_back(liveness != nullptr ? liveness->watch(fmt::format("{} {}", name, i))
                                         : nullptr);
  }
  // Each thread takes the next heart (the body is copied into each, so the counter is shared).
  auto next = std::make_shared<std::atomic<std::size_t>>(0);
  threads_ = start_named_threads(threads, name,
                                 [this, hearts, next] { work(hearts[next->fetch_add(1)]); });
}

Workers::~Workers() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  join_all(threads_);
}

Workers::Handle Workers::add(Turn turn) {
  auto loop = std::make_shared<Loop>(std::move(turn));
  std::lock_guard lock(mutex_);
  ++loops_;
  return loop;
}

void Workers::wake(const Handle& loop) {
  {
    std::lock_guard lock(mutex_);
    if (loop->state == Loop::State::running) {
      loop->woken_while_running = true;
      return;
    }
    ready_locked(loop);
  }
  changed_.notify_one();
}

std::size_t Workers::loops() const {
  std::lock_guard lock(mutex_);
  return loops_;
}

void Workers::ready_locked(const Handle& loop) {
  if (loop->state != Loop::State::idle) {
    return;
  }
  loop->state = Loop::State::ready;
  loop->due.reset();
  ready_.push_back(loop);
}

void Workers::work(const std::shared_ptr<Liveness::Heart>& heart) {
  const Liveness::Scope scope(heart.get());
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    // Timers that came due make their loops ready.
    const auto now = std::chrono::steady_clock::now();
    while (!timers_.empty() && timers_.begin()->first <= now) {
      auto [at, loop] = *timers_.begin();
      timers_.erase(timers_.begin());
      if (loop->due == at) {
        ready_locked(loop);
      }
    }
    if (ready_.empty()) {
      if (timers_.empty()) {
        changed_.wait(lock);
      } else {
        // A copy: while this worker waits, another may take the timer and free its node.
        const TimePoint first = timers_.begin()->first;
        changed_.wait_until(lock, first);
      }
      continue;
    }
    Handle loop = std::move(ready_.front());
    ready_.pop_front();
    loop->state = Loop::State::running;
    loop->woken_while_running = false;
    lock.unlock();
    if (heart) {
      heart->busy();
    }
    const std::optional<TimePoint> next = loop->turn();
    if (heart) {
      heart->idle();
    }
    lock.lock();
    if (!next) {
      loop->state = Loop::State::over;
      loop->turn = nullptr; // what it captured goes now, not when the last handle does
      --loops_;
      continue;
    }
    loop->state = Loop::State::idle;
    if (loop->woken_while_running || *next <= std::chrono::steady_clock::now()) {
      ready_locked(loop);
      continue;
    }
    loop->due = *next;
    const bool earliest = timers_.empty() || *next < timers_.begin()->first;
    timers_.emplace(*next, loop);
    if (earliest && !ready_.empty()) {
      // This worker takes another turn next: a waiting one must watch the new first timer.
      changed_.notify_one();
    }
  }
}

} // namespace hub2kusto
