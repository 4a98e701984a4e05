#include "ingest/request_limiter.hpp"

#include <future>
#include <optional>
#include <vector>

#include <gtest/gtest.h>

#include "support/manual_clock.hpp"
#include "support/recording_metrics.hpp"

namespace hub2kusto::ingest {
namespace {

using namespace std::chrono_literals;

class Limiter : public ::testing::Test {
protected:
  ManualClock clock_;
  RequestLimiter limiter_{RequestLimiter::Options{.max = 4, .recovery = 30s}, clock_};

  std::vector<RequestLimiter::Slot> take(int n) {
    std::vector<RequestLimiter::Slot> slots;
    for (int i = 0; i < n; ++i) {
      slots.push_back(limiter_.acquire());
    }
    return slots;
  }
};

TEST_F(Limiter, AFifthRequestWaitsUntilOneOfFourEnds) {
  auto slots = take(4);
  auto fifth = std::async(std::launch::async, [&] { return limiter_.acquire(); });
  // The fifth has not started: it is counted as waiting and it has no turn yet.
  while (limiter_.counts().waits == 0) {
    std::this_thread::yield();
  }
  EXPECT_EQ(fifth.wait_for(0s), std::future_status::timeout);
  EXPECT_EQ(limiter_.counts().in_flight, 4);
  slots.pop_back();
  auto turn = fifth.get();
  EXPECT_EQ(limiter_.counts().in_flight, 4);
  EXPECT_EQ(limiter_.counts().peak, 4);
}

TEST_F(Limiter, ThrottlingHalvesTheLimitOncePerRound) {
  auto slots = take(4);
  // All four were sent under the limit of four: the first answer halves it, the others were
  // sent under the old limit and do not halve it again.
  for (auto& s : slots) {
    s.throttled();
  }
  EXPECT_EQ(limiter_.counts().limit, 2);
  EXPECT_EQ(limiter_.counts().throttled, 4U);
  slots.clear();
  // A request sent under the new limit that is throttled halves it again.
  auto next = limiter_.acquire();
  EXPECT_EQ(next.limit(), 2);
  next.throttled();
  EXPECT_EQ(limiter_.counts().limit, 1);
}

TEST_F(Limiter, HalvingRoundsUpAndNeverGoesBelowOne) {
  RequestLimiter three{RequestLimiter::Options{.max = 3}, clock_};
  three.acquire().throttled();
  EXPECT_EQ(three.counts().limit, 2);
  three.acquire().throttled();
  EXPECT_EQ(three.counts().limit, 1);
  three.acquire().throttled();
  EXPECT_EQ(three.counts().limit, 1);
}

TEST_F(Limiter, TheLimitGrowsBackByOneEveryQuietRecoveryUpToTheMaximum) {
  limiter_.acquire().throttled();
  limiter_.acquire().throttled();
  ASSERT_EQ(limiter_.counts().limit, 1);
  clock_.advance(29s);
  { auto s = limiter_.acquire(); }
  EXPECT_EQ(limiter_.counts().limit, 1);
  clock_.advance(1s);
  { auto s = limiter_.acquire(); }
  EXPECT_EQ(limiter_.counts().limit, 2);
  for (int i = 0; i < 5; ++i) {
    clock_.advance(30s);
    auto s = limiter_.acquire();
  }
  EXPECT_EQ(limiter_.counts().limit, 4);
  // At the maximum, a quiet stretch does not bank growth for later.
  clock_.advance(10min);
  limiter_.acquire().throttled();
  EXPECT_EQ(limiter_.counts().limit, 2);
  { auto s = limiter_.acquire(); }
  EXPECT_EQ(limiter_.counts().limit, 2);
}

TEST_F(Limiter, TheSmallestMaximumOfTheConnectionsHolds) {
  limiter_.cap(2);
  limiter_.cap(3);
  EXPECT_EQ(limiter_.counts().max, 2);
  EXPECT_EQ(limiter_.counts().limit, 2);
}

TEST_F(Limiter, ItsSeriesAreDescribedWithTheClusterLabel) {
  auto slots = take(3);
  slots[0].throttled();
  fakes::RecordingMetrics out;
  limiter_.describe(out, {{"cluster", "http://k"}});
  EXPECT_EQ(out.samples["hub2kusto_kusto_requests_limit{cluster=http://k}"], 2);
  EXPECT_EQ(out.samples["hub2kusto_kusto_requests_in_flight{cluster=http://k}"], 3);
  EXPECT_EQ(out.samples["hub2kusto_kusto_requests_in_flight_peak{cluster=http://k}"], 3);
  EXPECT_EQ(out.samples["hub2kusto_kusto_throttled_total{cluster=http://k}"], 1);
  EXPECT_EQ(out.samples["hub2kusto_kusto_request_waits_total{cluster=http://k}"], 0);
  EXPECT_TRUE(out.every_help_given);
}

} // namespace
} // namespace hub2kusto::ingest
