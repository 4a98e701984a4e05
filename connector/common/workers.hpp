#pragma once
// Workers: a fixed number of threads that take turns running many loops, one turn at a time
// each. A loop (a partition's pipeline) never runs on two threads at once, so what it keeps
// needs no lock of its own and its order holds; between turns it holds no thread, so the
// threads of a process do not grow with its loops (docs/architecture.md, "Threads").
//
// A loop's turn says when it wants the next one at the latest; wake() brings it forward (its
// events arrived, its delivery ended, it was told to stop). A wake during a turn runs one more
// turn right after it, so no wake is lost.
//
// Threads: add() and wake() from any thread, turns on the workers. A turn may block (a drain,
// a store that refuses writes), and holds its worker meanwhile.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/liveness.hpp"

namespace hub2kusto {

class Workers {
public:
  using TimePoint = std::chrono::steady_clock::time_point;
  // One turn; returns when the next is due at the latest, or none once the loop is over (it
  // leaves the workers then).
  using Turn = std::function<std::optional<TimePoint>()>;

  class Loop;
  // What add() returns: wake() the loop through it. Kept after the loop ended, it wakes nothing.
  using Handle = std::shared_ptr<Loop>;

  // `name` (at most 15 characters) names the threads. With `liveness`, each thread has a heart
  // there, busy during a turn (common/liveness.hpp).
  Workers(std::size_t threads, const std::string& name, Liveness* liveness = nullptr);
  // Ends the threads after their current turns; loops not over by then get no more turns.
  ~Workers();
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  // Adds a loop; its first turn comes with the first wake(), so what it needs to know of its
  // own handle can be set up first.
  Handle add(Turn turn);
  // Its next turn as soon as a worker is free (right after the current one, if it runs).
  void wake(const Handle& loop);
  std::size_t size() const { return threads_.size(); }
  // Loops added and not over.
  std::size_t loops() const;

private:
  void work(const std::shared_ptr<Liveness::Heart>& heart);
  // Under mutex_: queues `loop` for a turn unless it is queued, running or over.
  void ready_locked(const Handle& loop);

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Handle> ready_;
  std::multimap<TimePoint, Handle> timers_; // a loop's due time; stale entries are skipped
  std::size_t loops_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

} // namespace hub2kusto
