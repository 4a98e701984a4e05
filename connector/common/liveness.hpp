#pragma once
// Liveness: whether the threads that move data still make progress, for /healthz
// (docs/architecture.md, "Liveness"). A restart helps a thread that is stuck (a deadlock, a
// system call that never returns); it does not help a hub or a cluster that is down, so only
// the first fails liveness, the second is readiness.
//
// Each watched thread has a Heart. The thread calls busy() when it starts a unit of work (a
// worker's turn, an AMQP loop iteration) and idle() when it waits for work; work is also
// progress at each bounded wait inside it (an HTTP request, which has a timeout; a deliberate
// sleep, during which the heart is idle). A heart busy for longer than the bound without a
// beat is stuck. A quiet pipeline (no events, an unreachable Kusto target) is idle or beating,
// never stuck.
//
// Threads: hearts beat from their own thread (relaxed atomics), stuck() reads from any.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace hub2kusto {

class Liveness {
public:
  class Heart {
  public:
    explicit Heart(std::string name) : name_(std::move(name)) {}
    const std::string& name() const { return name_; }
    void busy() { busy_since_.store(now_ns(), std::memory_order_relaxed); }
    void idle() { busy_since_.store(kIdle, std::memory_order_relaxed); }
    // How long it has been busy without a beat; zero when idle.
    std::chrono::nanoseconds busy_for(std::chrono::steady_clock::time_point now) const;

  private:
    friend class Liveness;
    static constexpr std::int64_t kIdle = INT64_MIN;
    static std::int64_t now_ns() {
      return std::chrono::steady_clock::now().time_since_epoch().count();
    }
    std::string name_;
    std::atomic<std::int64_t> busy_since_{kIdle}; // steady clock nanoseconds
  };

  // A heart for a thread named `name` (stuck() reports it by that name). Kept until the
  // returned pointer is dropped.
  std::shared_ptr<Heart> watch(std::string name);
  // Threads busy without a beat for longer than `bound`: one line each, naming the thread and
  // for how long.
  std::vector<std::string>
  stuck(std::chrono::milliseconds bound,
        std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now()) const;

  // The calling thread's heart, for the bounded waits below: set while a Scope lives.
  class Scope {
  public:
    explicit Scope(Heart* heart);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

  private:
    Heart* previous_;
  };
  // A bounded wait begins (an HTTP request): the calling thread's heart, if any, beats.
  static void beat();
  // A deliberate sleep: the calling thread's heart, if any, is idle until it ends.
  class Sleeping {
  public:
    Sleeping();
    ~Sleeping();
    Sleeping(const Sleeping&) = delete;
    Sleeping& operator=(const Sleeping&) = delete;

  private:
    Heart* heart_;
    bool was_busy_ = false;
  };

private:
  mutable std::mutex mutex_;
  std::vector<std::weak_ptr<Heart>> hearts_;
};

} // namespace hub2kusto
