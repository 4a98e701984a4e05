#include "common/task_pool.hpp"

#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace hub2kusto {
namespace {

TEST(TaskPool, OneThreadRunsTasksInTheOrderTheyCame) {
  std::vector<int> order;
  {
    TaskPool pool(1, "test-pool");
    for (int i = 0; i < 100; ++i) {
      pool.submit([&order, i] { order.push_back(i); }); // one thread: no lock needed
    }
  } // the destructor runs what was submitted
  ASSERT_EQ(order.size(), 100U);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(order[i], i);
  }
}

TEST(TaskPool, AtMostItsThreadsRunAtOnceWhateverIsSubmitted) {
  constexpr int kThreads = 3;
  std::mutex mutex;
  std::condition_variable changed;
  int running = 0;
  int peak = 0;
  bool release = false;
  std::set<pthread_t> threads;
  {
    TaskPool pool(kThreads, "test-pool");
    EXPECT_EQ(pool.size(), static_cast<std::size_t>(kThreads));
    for (int i = 0; i < 50; ++i) {
      pool.submit([&] {
        std::unique_lock lock(mutex);
        threads.insert(pthread_self());
        peak = std::max(peak, ++running);
        changed.notify_all();
        changed.wait(lock, [&] { return release; });
        --running;
      });
    }
    {
      std::unique_lock lock(mutex);
      changed.wait(lock, [&] { return running == kThreads; }); // every thread holds one
      release = true;
    }
    changed.notify_all();
  }
  EXPECT_EQ(peak, kThreads);
  EXPECT_EQ(threads.size(), static_cast<std::size_t>(kThreads));
}

TEST(TaskPool, ItsThreadsCarryItsName) {
  TaskPool pool(1, "h2k-delivery-and-more"); // cut to Linux's 15 characters
  std::promise<std::string> name;
  pool.submit([&name] {
    char buffer[16] = {};
    pthread_getname_np(pthread_self(), buffer, sizeof buffer);
    name.set_value(buffer);
  });
  EXPECT_EQ(name.get_future().get(), "h2k-delivery-an");
}

} // namespace
} // namespace hub2kusto
