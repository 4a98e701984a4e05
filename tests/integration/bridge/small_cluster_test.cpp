// A small cluster: it serves two streaming requests at once and answers the others 429, as a
// real cluster does beyond its concurrent streaming requests (docs/protocols.md, "Throttling").
// hub2kusto starts with four at once (target.max_concurrent_requests), is throttled in that
// first round, halves to two and is not throttled again; every event arrives, none is
// dead-lettered.
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

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

// Thirty-two partitions and a cluster that takes one request at a time: the partitions'
// batches wait for it together and travel in shared requests (far fewer than the partitions'
// batches), each partition's checkpoint still follows only its own events, and a kill -9 in
// the middle of it loses nothing.
TEST_F(Bridge, ThirtyTwoPartitionsShareRequestsAndEachCheckpointsItsOwnEventsThroughAKill) {
  constexpr int kPartitions = 32;
  constexpr int kEvents = 32'000;
  Services services({"--hub", "telemetry:" + std::to_string(kPartitions), "--preload",
                     distinct_events(kEvents), "--preload-events", std::to_string(kEvents)});
  ASSERT_NO_FATAL_FAILURE(start(services));
  auto& [hub, kusto] = services;
  // 200 ms a request, one at a time: a partition's 1,000 events are far below a request's
  // 10,000, and while one request is out, the other partitions' batches wait and join.
  ASSERT_TRUE(kusto.fault("/faults/latency?ms=200"));
  auto env = environment(hub, kusto);
  env.emplace_back("HUB2KUSTO_CONNECTIONS_0_TARGET_MAX_CONCURRENT_REQUESTS", "1");
  const auto checkpoint = [&](int p) {
    std::ifstream in(dir_ / "checkpoints" / "127.0.0.1" / "telemetry" / "$default" / "checkpoint" /
                     std::to_string(p));
    const auto json = nlohmann::json::parse(in, nullptr, false);
    return json.is_object() ? json.value("sequencenumber", "") : std::string();
  };
  {
    ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, env);
    std::mt19937 random(std::random_device{}());
    const long long grow =
        std::uniform_int_distribution<long long>(kEvents / 8, kEvents / 2)(random);
    ASSERT_TRUE(eventually([&] { return kusto.count("T") >= grow; }, 120s)) << bridge.stderr_text();
    const auto metrics = http_get(ops_port_, "/metrics").second;
    ::kill(bridge.pid(), SIGKILL);
    bridge.wait_exit(10s);
    EXPECT_GT(metric_sum(metrics, "hub2kusto_delivery_joined_requests_total{"), 0) << metrics;
  }
  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, env);
  ASSERT_TRUE(eventually(
      [&] {
        for (int p = 0; p < kPartitions; ++p) {
          if (checkpoint(p) != std::to_string(kEvents / kPartitions - 1)) {
            return false;
          }
        }
        return true;
      },
      300s))
      << bridge.stderr_text().substr(0, 3000);
  const auto metrics = http_get(ops_port_, "/metrics").second;
  const auto status = kusto.status();
  stop(bridge, 60s);
  const auto [distinct, rows] = lines_and_rows(kusto);
  EXPECT_EQ(distinct, kEvents); // every event at least once
  EXPECT_EQ(std::filesystem::file_size(dir_ / "dead-letter" / "telemetry.jsonl"), 0U);
  const double batches = metric_sum(metrics, "hub2kusto_batches_delivered_total{");
  const double requests = metric_sum(metrics, "hub2kusto_delivery_requests_total{");
  EXPECT_GT(metric_sum(metrics, "hub2kusto_delivery_joined_requests_total{"), 0) << metrics;
  EXPECT_LT(requests, batches) << metrics;
  EXPECT_LE(metric_sum(metrics, "hub2kusto_kusto_requests_in_flight_peak{"), 1) << metrics;
  // At least once: the kill repeats at most the request in flight and the one Kusto had just
  // taken, whose checkpoints were not yet saved (10,000 events each at most).
  EXPECT_LE(rows - kEvents, 2 * 10'000);
  std::printf("[ joined     ] after the restart: %.0f batches in %.0f requests; %d streaming "
              "requests in all; %lld duplicates after the kill\n",
              batches, requests, status.at("streaming_requests").get<int>(), rows - kEvents);
}

} // namespace
} // namespace hub2kusto::bridge_test
