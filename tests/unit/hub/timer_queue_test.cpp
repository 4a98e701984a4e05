#include "hub/timer_queue.hpp"

#include <vector>

#include <gtest/gtest.h>

#include "common/clock.hpp"
#include "support/manual_clock.hpp"

namespace hub2kusto::hub {
namespace {

using namespace std::chrono_literals;

TEST(TimerQueue, RunsWhatIsDueOnTheInjectedClockInOrder) {
  ManualClock clock;
  TimerQueue timers;
  std::vector<int> ran;
  timers.add(clock.steady_now() + 300ms, [&] { ran.push_back(3); });
  timers.add(clock.steady_now() + 100ms, [&] { ran.push_back(1); });
  timers.add(clock.steady_now() + 200ms, [&] { ran.push_back(2); });
  EXPECT_EQ(timers.run_due(clock.steady_now()), 0U);
  clock.advance(200ms);
  EXPECT_EQ(timers.run_due(clock.steady_now()), 2U);
  EXPECT_EQ(ran, (std::vector<int>{1, 2}));
  clock.advance(100ms);
  EXPECT_EQ(timers.run_due(clock.steady_now()), 1U);
  EXPECT_EQ(ran, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(timers.size(), 0U);
}

TEST(TimerQueue, ATimerAddedByATimerWaitsForTheNextRun) {
  ManualClock clock;
  TimerQueue timers;
  int runs = 0;
  timers.add(clock.steady_now(), [&] {
    ++runs;
    timers.add(clock.steady_now(), [&] { ++runs; });
  });
  EXPECT_EQ(timers.run_due(clock.steady_now()), 1U);
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(timers.run_due(clock.steady_now()), 1U);
  EXPECT_EQ(runs, 2);
}

} // namespace
} // namespace hub2kusto::hub
