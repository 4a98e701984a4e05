#include "common/task_pool.hpp"

#include <cassert>

#include "common/threads.hpp"

namespace hub2kusto {

TaskPool::TaskPool(std::size_t threads, const std::string& name) {
  assert(threads > 0);
  threads_ = start_named_threads(threads, name, [this] { work(); });
}

TaskPool::~TaskPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  submitted_.notify_all();
  join_all(threads_);
}

void TaskPool::submit(std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    tasks_.push_back(std::move(task));
  }
  submitted_.notify_one();
}

void TaskPool::work() {
  while (true) {
    std::function<void()> task;
    {
      std::unique_lock lock(mutex_);
      submitted_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) {
        return; // stopping, and nothing left to run
      }
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

} // namespace hub2kusto
