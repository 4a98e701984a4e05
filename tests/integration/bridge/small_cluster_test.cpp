// A small cluster: it serves two streaming requests at once and answers the others 429, as a
// real cluster does beyond its concurrent streaming requests (docs/protocols.md, "Throttling").
// hub2kusto starts with four at once (target.max_concurrent_requests), is throttled in that
// first round, halves to two and is not throttled again; every event arrives, none is
// dead-lettered.
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "bridge/bridge_fixture.hpp"

namespace hub2kusto::bridge_test {
namespace {

using namespace std::chrono_literals;

TEST_F(Bridge, AClusterServingTwoRequestsAtOnceThrottlesTheFirstRoundAndNoneAfter) {
  constexpr int kEvents = 8'000;
  Services services({"--hub", "telemetry:8", "--preload", distinct_events(kEvents),
                     "--preload-events", std::to_string(kEvents)});
  ASSERT_NO_FATAL_FAILURE(start(services));
  auto& [hub, kusto] = services;
  // 100 ms a request and 100-event batches: eight partitions have a request ready all the time.
  ASSERT_TRUE(kusto.fault("/faults/latency?ms=100"));
  ASSERT_TRUE(kusto.fault("/faults/concurrency?streaming=2"));
  auto env = environment(hub, kusto);
  env.emplace_back("HUB2KUSTO_CONNECTIONS_0_BATCHING_MAX_EVENTS", "100");
  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, env);

  ASSERT_TRUE(eventually([&] { return lines_and_rows(kusto).first >= kEvents / 2; }, 120s))
      << bridge.stderr_text();
  const auto throttled_at_half = kusto.status().at("streaming_throttled").get<int>();
  ASSERT_TRUE(eventually([&] { return lines_and_rows(kusto).first == kEvents; }, 120s))
      << bridge.stderr_text();
  const auto status = kusto.status();
  const auto metrics = http_get(ops_port_, "/metrics").second;
  stop(bridge);

  EXPECT_GT(throttled_at_half, 0) << "the first round was not throttled: " << status.dump();
  EXPECT_EQ(status.at("streaming_throttled").get<int>(), throttled_at_half)
      << "throttled again in the second half";
  EXPECT_EQ(metric_sum(metrics, "hub2kusto_kusto_requests_limit{"), 2) << metrics;
  EXPECT_LE(metric_sum(metrics, "hub2kusto_kusto_requests_in_flight_peak{"), 4) << metrics;
  EXPECT_GT(metric_sum(metrics, "hub2kusto_kusto_throttled_total{"), 0) << metrics;
  EXPECT_EQ(std::filesystem::file_size(dir_ / "dead-letter" / "telemetry.jsonl"), 0U);
  std::printf("[ small      ] %d streaming requests, %d throttled (all before half the events)\n",
              status.at("streaming_requests").get<int>(), throttled_at_half);
}

} // namespace
} // namespace hub2kusto::bridge_test
