#pragma once
// TaskPool: a fixed number of threads that run submitted tasks in the order they came. The
// partitions' deliveries run on one per connection (docs/architecture.md, "Threads"), so the
// threads of a process no longer grow by one per partition delivering.
//
// Threads: submit() from any thread; tasks run on the pool's threads and must not wait for
// another task of the same pool. The destructor runs what was submitted, then joins.
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace hub2kusto {

class TaskPool {
public:
  // `name` (at most 15 characters) names the threads, as `top -H` and `ps -L` show them.
  TaskPool(std::size_t threads, const std::string& name);
  ~TaskPool();
  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  void submit(std::function<void()> task);
  std::size_t size() const { return threads_.size(); }

private:
  void work();

  std::mutex mutex_;
  std::condition_variable submitted_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

} // namespace hub2kusto
