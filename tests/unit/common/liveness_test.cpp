#include "common/liveness.hpp"

#include <future>

#include <gtest/gtest.h>

#include "common/clock.hpp"
#include "common/workers.hpp"

namespace hub2kusto {
namespace {

using namespace std::chrono_literals;

TEST(Liveness, AHeartBusyLongerThanTheBoundWithoutABeatIsStuck) {
  Liveness liveness;
  const auto heart = liveness.watch("worker 0");
  const auto now = std::chrono::steady_clock::now();
  EXPECT_TRUE(liveness.stuck(1s, now + 1h).empty()); // idle: never stuck
  heart->busy();
  EXPECT_TRUE(liveness.stuck(1s, std::chrono::steady_clock::now()).empty());
  const auto stuck = liveness.stuck(1s, std::chrono::steady_clock::now() + 90s);
  ASSERT_EQ(stuck.size(), 1U);
  EXPECT_NE(stuck[0].find("thread 'worker 0' busy"), std::string::npos) << stuck[0];
  EXPECT_NE(stuck[0].find("for 90 s"), std::string::npos) << stuck[0];
  heart->idle();
  EXPECT_TRUE(liveness.stuck(1s, std::chrono::steady_clock::now() + 1h).empty());
}

TEST(Liveness, ADroppedHeartIsNoLongerWatched) {
  Liveness liveness;
  liveness.watch("gone")->busy();
  EXPECT_TRUE(liveness.stuck(1s, std::chrono::steady_clock::now() + 1h).empty());
}

TEST(Liveness, BoundedWaitsBeatAndDeliberateSleepsAreIdle) {
  Liveness liveness;
  const auto heart = liveness.watch("amqp");
  const Liveness::Scope scope(heart.get());
  heart->busy();
  const auto later = std::chrono::steady_clock::now() + 1h;
  const auto before = heart->busy_for(later);
  // The clock moves on (a tick, not a wait for another thread), then an HTTP request starts:
  // busy from then.
  const auto started = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() == started) {
  }
  Liveness::beat();
  EXPECT_LT(heart->busy_for(later), before);
  {
    const Liveness::Sleeping sleeping;
    EXPECT_EQ(heart->busy_for(std::chrono::steady_clock::now() + 1h), 0ns);
  }
  EXPECT_GT(heart->busy_for(std::chrono::steady_clock::now() + 1h), 0ns); // busy again
  heart->idle();
  Liveness::beat(); // an idle heart stays idle
  EXPECT_EQ(heart->busy_for(std::chrono::steady_clock::now() + 1h), 0ns);
}

TEST(Liveness, AWorkerIsBusyDuringATurnAndIdleBetween) {
  Liveness liveness;
  std::promise<void> in_turn;
  std::promise<void> release;
  auto released = release.get_future().share();
  {
    Workers workers(1, "test-worker", &liveness);
    auto loop = workers.add([&]() -> std::optional<Workers::TimePoint> {
      in_turn.set_value();
      released.wait();
      return std::nullopt;
    });
    workers.wake(loop);
    in_turn.get_future().wait();
    const auto stuck = liveness.stuck(1s, std::chrono::steady_clock::now() + 1h);
    ASSERT_EQ(stuck.size(), 1U);
    EXPECT_NE(stuck[0].find("'test-worker 0'"), std::string::npos) << stuck[0];
    release.set_value();
  }
  EXPECT_TRUE(liveness.stuck(1s, std::chrono::steady_clock::now() + 1h).empty());
}

} // namespace
} // namespace hub2kusto
