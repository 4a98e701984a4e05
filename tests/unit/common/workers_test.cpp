#include "common/workers.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace hub2kusto {
namespace {

using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

// What the tests wait for: a condition another thread makes true, with a deadline.
class Signal {
public:
  void notify() {
    std::lock_guard lock(mutex_);
    ++count_;
    changed_.notify_all();
  }
  bool wait_for_count(int n, std::chrono::seconds limit = 10s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return count_ >= n; });
  }
  int count() {
    std::lock_guard lock(mutex_);
    return count_;
  }

private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int count_ = 0;
};

TEST(Workers, ALoopRunsOnlyWhenWokenOrDueAndEndsWhenItSaysSo) {
  Workers workers(1, "test-workers"); // one thread: turns run in the order they were asked
  Signal turns;
  std::atomic<bool> over{false};
  auto loop = workers.add([&]() -> std::optional<Workers::TimePoint> {
    const bool last = over; // read before the test hears of this turn and goes on
    turns.notify();
    if (last) {
      return std::nullopt;
    }
    return Steady::now() + 1h; // only a wake brings the next turn
  });
  EXPECT_EQ(workers.loops(), 1U);
  EXPECT_EQ(turns.count(), 0); // added, not woken
  workers.wake(loop);
  ASSERT_TRUE(turns.wait_for_count(1));
  workers.wake(loop);
  ASSERT_TRUE(turns.wait_for_count(2));
  over = true;
  workers.wake(loop);
  ASSERT_TRUE(turns.wait_for_count(3));
  workers.wake(loop); // over: no turn
  Signal probed;
  auto probe = workers.add([&]() -> std::optional<Workers::TimePoint> {
    probed.notify();
    return std::nullopt;
  });
  workers.wake(probe);
  ASSERT_TRUE(probed.wait_for_count(1)); // after anything asked before it
  EXPECT_EQ(turns.count(), 3);
}

TEST(Workers, ALoopIsDueAgainAtTheTimeItNamed) {
  Workers workers(1, "test-workers");
  Signal turns;
  Workers::TimePoint asked{};
  Workers::TimePoint second{};
  auto loop = workers.add([&]() -> std::optional<Workers::TimePoint> {
    if (turns.count() == 0) {
      asked = Steady::now() + 50ms;
      turns.notify();
      return asked;
    }
    second = Steady::now();
    turns.notify();
    return std::nullopt;
  });
  workers.wake(loop);
  ASSERT_TRUE(turns.wait_for_count(2));
  EXPECT_GE(second, asked);
}

// Never two turns of one loop at once, however often it is woken; a wake during a turn brings
// one more turn after it, so none is lost.
TEST(Workers, TurnsOfOneLoopNeverOverlapAndAWakeDuringATurnIsNotLost) {
  Workers workers(4, "test-workers");
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  std::atomic<int> turns{0};
  std::atomic<int> last_seen{0};
  std::atomic<int> published{0};
  Signal done;
  Workers::Handle loop;
  loop = workers.add([&]() -> std::optional<Workers::TimePoint> {
    if (inside.fetch_add(1) != 0) {
      ++overlaps;
    }
    last_seen = published.load();
    ++turns;
    inside.fetch_sub(1);
    if (last_seen == 1000) {
      done.notify();
    }
    return Steady::now() + 1h;
  });
  std::vector<std::thread> wakers;
  for (int t = 0; t < 4; ++t) {
    wakers.emplace_back([&] {
      for (int i = 0; i < 250; ++i) {
        published.fetch_add(1);
        workers.wake(loop);
      }
    });
  }
  for (auto& w : wakers) {
    w.join();
  }
  // Every wake came after its publication: some turn saw the last one.
  ASSERT_TRUE(done.wait_for_count(1)) << last_seen.load();
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_LE(turns.load(), 1000);
}

TEST(Workers, AThousandLoopsShareTwoThreads) {
  Workers workers(2, "test-workers");
  Signal over;
  std::vector<Workers::Handle> loops;
  for (int i = 0; i < 1000; ++i) {
    auto turns = std::make_shared<int>(0);
    loops.push_back(workers.add([&over, turns]() -> std::optional<Workers::TimePoint> {
      if (++*turns == 3) {
        over.notify();
        return std::nullopt;
      }
      return Steady::now(); // due at once: goes to the back of the line
    }));
  }
  for (auto& l : loops) {
    workers.wake(l);
  }
  ASSERT_TRUE(over.wait_for_count(1000));
  EXPECT_EQ(workers.size(), 2U);
}

} // namespace
} // namespace hub2kusto
