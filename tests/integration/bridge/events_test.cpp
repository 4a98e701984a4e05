// hub2kusto end to end with events that are hard to carry: Avro files, batches too large to
// stream, stolen partitions, undecodable and unmappable events, and a slow Kusto that must not
// let buffered bytes grow past their budget.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bridge/bridge_fixture.hpp"

namespace hub2kusto::bridge_test {
namespace {

using namespace std::chrono_literals;

TEST_F(Bridge, AvroContainerFileEventsArriveAsRowsOneFileARequest) {
  Services services({"--hub", "telemetry:2"});
  ASSERT_NO_FATAL_FAILURE(start(services));
  auto& [hub, kusto] = services;
  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, environment(hub, kusto));
  const auto produce = [&](const std::string& format, int first) {
    ChildProcess producer({"node", HUB2KUSTO_SOURCE_DIR "/tests/integration/bridge/produce_avro.js",
                           hub.connection_string(), format, std::to_string(first), "50"});
    ASSERT_EQ(producer.wait_exit(60s), 0) << producer.stderr_text();
  };
  produce("apacheavro", 0); // lines 0-99, two records a file
  ASSERT_TRUE(eventually([&] { return kusto.count("T") == 100; }))
      << bridge.stderr_text() << " rows: " << kusto.count("T");
  ASSERT_FALSE(kusto.mgmt(".alter table T policy streamingingestion disable").contains("error"));
  produce("avro", 100); // lines 100-199
  ASSERT_TRUE(eventually([&] { return kusto.count("T") == 200; }))
      << bridge.stderr_text() << " rows: " << kusto.count("T");
  const auto [lines, rows] = lines_and_rows(kusto);
  EXPECT_EQ(lines, 200);
  EXPECT_EQ(rows, 200);
  const std::string metrics = http_get(ops_port_, "/metrics").second;
  EXPECT_EQ(metric_sum(metrics, "hub2kusto_batches_rejected_total"), 0) << metrics;
  EXPECT_EQ(kusto.status().at("queued_failed").get<long long>(), 0);
  stop(bridge);
  EXPECT_EQ(std::filesystem::file_size(dir_ / "dead-letter" / "telemetry.jsonl"), 0U); // none
}

// A cluster whose streaming limit is below our batches answers 413: that batch goes queued,
// the table's next batches are cut smaller, and they stream again. One size answer does not
// send the table's traffic queued for a quarter of an hour.
TEST_F(Bridge, ATooLargeAnswerCutsTheTablesBatchesAndStreamingGoesOn) {
  Services services({"--hub", "telemetry:1", "--preload", (dir_ / "events.jsonl").string(),
                     "--preload-events", "1000"},
                    {"--streaming-max-bytes", "20000"});
  ASSERT_NO_FATAL_FAILURE(start(services));
  auto& [hub, kusto] = services;
  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, environment(hub, kusto));
  ASSERT_TRUE(eventually([&] { return kusto.count("T") == 1000; })) // one batch, sent queued
      << bridge.stderr_text() << " rows: " << kusto.count("T");
  ChildProcess producer({"node", HUB2KUSTO_SOURCE_DIR "/tests/integration/bridge/telemetry.js",
                         "produce", hub.connection_string(), "2000", "1"});
  ASSERT_EQ(producer.wait_exit(60s), 0) << producer.stderr_text();
  ASSERT_TRUE(eventually([&] { return kusto.count("T") == 3000; }))
      << bridge.stderr_text() << " rows: " << kusto.count("T");
  const std::string metrics = http_get(ops_port_, "/metrics").second;
  EXPECT_GE(metric_sum(metrics, "hub2kusto_ingest_fallbacks_total"), 1) << metrics;
  EXPECT_GE(metric_sum(metrics, "hub2kusto_ingest_requests_total{connection=\"telemetry\","
                                "path=\"streaming\",outcome=\"delivered\""),
            1)
      << metrics;
  stop(bridge);
  EXPECT_NE(bridge.stderr_text().find("bytes for 900 s"), std::string::npos)
      << bridge.stderr_text();
}

// Another instance with a higher owner level takes every partition: nothing is left for this
// one to do, and it must say so and exit non-zero (so Kubernetes restarts it), not hang.
TEST_F(Bridge, WhenEveryPartitionIsStolenTheProcessExitsNonZero) {
  Services services({"--hub", "telemetry:2"}, {}, false);
  ASSERT_NO_FATAL_FAILURE(start(services));
  auto& [hub, kusto] = services;
  auto first_env = environment(hub, kusto);
  first_env.emplace_back("HUB2KUSTO_CONNECTIONS_0_SOURCE_OWNER_LEVEL", "1");
  ChildProcess first({HUB2KUSTO_BINARY, "run"}, first_env);
  ASSERT_TRUE(eventually([&] {
    return hub.partition_status("telemetry", "0").at("consumer_attaches") == 1 &&
           hub.partition_status("telemetry", "1").at("consumer_attaches") == 1;
  })) << first.stderr_text();
  auto second_env = environment(hub, kusto);
  second_env.emplace_back("HUB2KUSTO_CONNECTIONS_0_SOURCE_OWNER_LEVEL", "2");
  std::erase_if(second_env,
                [](const auto& kv) { return kv.first == "HUB2KUSTO_CHECKPOINT_DIRECTORY"; });
  second_env.emplace_back("HUB2KUSTO_CHECKPOINT_DIRECTORY", (dir_ / "second").string());
  ChildProcess second({HUB2KUSTO_BINARY, "run"}, second_env);
  EXPECT_EQ(first.wait_exit(60s), 1) << first.stderr_text();
  EXPECT_NE(first.stderr_text().find("every partition stopped on its own"), std::string::npos)
      << first.stderr_text();
  stop(second);
}

// One event the decoder refuses (an AMQP-value body nested 70 deep, sent with the official
// producer) is dead-lettered with its raw bytes and stage "decode"; the events behind it arrive
// and the partition does not stop, now or after a restart.
TEST_F(Bridge, AnUndecodableEventIsDeadLetteredAndThePartitionGoesOn) {
  Services services({"--hub", "telemetry:1"}, {}, false);
  ASSERT_NO_FATAL_FAILURE(start(services));
  auto& [hub, kusto] = services;
  ChildProcess producer({"node", HUB2KUSTO_SOURCE_DIR "/tests/integration/bridge/produce_poison.js",
                         hub.connection_string()});
  ASSERT_EQ(producer.wait_exit(60s), 0) << producer.stderr_text();
  {
    ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, environment(hub, kusto));
    ASSERT_TRUE(eventually([&] { return kusto.count("T") == 20; }))
        << bridge.stderr_text() << " rows: " << kusto.count("T");
    stop(bridge);
  }
  std::ifstream in(dir_ / "dead-letter" / "telemetry.jsonl");
  std::vector<nlohmann::json> letters;
  for (std::string line; std::getline(in, line);) {
    letters.push_back(nlohmann::json::parse(line));
  }
  ASSERT_EQ(letters.size(), 1U);
  EXPECT_EQ(letters[0]["stage"], "decode");
  EXPECT_EQ(letters[0]["sequence_number"], 10);
  EXPECT_EQ(letters[0]["body_encoding"], "base64");
  EXPECT_NE(letters[0]["reason"].get<std::string>().find("nest too deeply"), std::string::npos);
  // A restart resumes past it; nothing stops and nothing is recorded twice.
  ChildProcess again({HUB2KUSTO_BINARY, "run"}, environment(hub, kusto));
  ASSERT_TRUE(eventually([&] {
    return hub.partition_status("telemetry", "0").at("consumer_attaches") == 2;
  })) << again.stderr_text();
  stop(again);
  EXPECT_EQ(kusto.count("T"), 20);
}

// Kusto answers slowly while the hub has plenty: what the bridge holds for a partition stays
// within source.max_buffered_bytes (AMQP credit follows the bytes), and nothing is lost.
TEST_F(Bridge, ASlowKustoKeepsBufferedBytesWithinTheConfiguredBudget) {
  {
    std::ofstream lines(dir_ / "large.jsonl");
    for (int i = 0; i < 10; ++i) {
      lines << telemetry_line(i, i, R"(,"padding":")" + std::string(20'000, 'p') + "\"") << "\n";
    }
  }
  Services services({"--hub", "telemetry:1", "--preload", (dir_ / "large.jsonl").string(),
                     "--preload-events", "400"});
  ASSERT_NO_FATAL_FAILURE(start(services));
  auto& [hub, kusto] = services;
  ASSERT_TRUE(kusto.fault("/faults/latency?ms=1500"));
  auto env = environment(hub, kusto);
  constexpr double kBudget = 256 * 1024;
  env.emplace_back("HUB2KUSTO_CONNECTIONS_0_SOURCE_MAX_BUFFERED_BYTES", "256KiB");
  env.emplace_back("HUB2KUSTO_CONNECTIONS_0_BATCHING_MAX_EVENTS", "20");
  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, env);
  // While Kusto is slow, sample the buffer once the first batches went through: it fills up
  // to the budget and not past it.
  double most = 0;
  int samples = 0;
  ASSERT_TRUE(eventually([&] {
    const auto m = http_get(ops_port_, "/metrics").second;
    const double ingested = metric_sum(m, "hub2kusto_events_ingested_total{");
    if (ingested >= 40) {
      most = std::max(most, metric_sum(m, "hub2kusto_buffered_bytes{"));
      ++samples;
    }
    return samples >= 10;
  })) << bridge.stderr_text();
  EXPECT_GT(most, kBudget / 4) << "the buffer never filled: nothing was measured";
  EXPECT_LE(most, kBudget * 1.1);
  ASSERT_TRUE(kusto.fault("/faults/reset"));
  ASSERT_TRUE(eventually([&] { return kusto.count("T") == 400; })) << bridge.stderr_text();
  stop(bridge);
}

// With the local mapping, an event the engine cannot map (not JSON; a record that is not an
// object) is dead-lettered at once with the engine's reason, and every other event arrives.
// Thirty-two partitions of 20 kB events and a Kusto that answers nothing for a while: each
// partition alone may buffer 8 MiB, but together they hold no more than the process's budget
// (limits.max_buffered_bytes, 16 MiB here, against 64 MiB waiting in the hub), and every event
// arrives once Kusto answers again.
TEST_F(Bridge, AStalledKustoKeepsWhatAllPartitionsHoldWithinTheProcessBudget) {
  constexpr int kPartitions = 32;
  constexpr int kEvents = 3'200;
  constexpr double kBudget = 16 << 20;
  {
    std::ofstream lines(dir_ / "large.jsonl");
    for (int i = 0; i < kEvents; ++i) {
      lines << telemetry_line(i, i % 100, R"(,"padding":")" + std::string(20'000, 'p') + "\"")
            << "\n";
    }
  }
  Services services({"--hub", "telemetry:" + std::to_string(kPartitions), "--preload",
                     (dir_ / "large.jsonl").string(), "--preload-events", std::to_string(kEvents)});
  ASSERT_NO_FATAL_FAILURE(start(services));
  auto& [hub, kusto] = services;
  ASSERT_TRUE(kusto.fault("/faults/pause?seconds=8"));
  auto env = environment(hub, kusto);
  env.emplace_back("HUB2KUSTO_LIMITS_MAX_BUFFERED_BYTES", "16MiB");
  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, env);
  // What the budget counts, and what the partitions' own gauges say they hold (receive buffers,
  // open batches, batches not delivered): both stay within the budget, plus an event of each
  // partition (a partition holding nothing may always take one).
  const double bound = kBudget + kPartitions * 21'000;
  double budget = 0;
  double most_used = 0;
  double most_held = 0;
  int samples = 0;
  ASSERT_TRUE(eventually([&] {
    const auto m = http_get(ops_port_, "/metrics").second;
    budget = metric_sum(m, "hub2kusto_memory_budget_bytes");
    most_used = std::max(most_used, metric_sum(m, "hub2kusto_memory_budget_used_bytes"));
    most_held = std::max(most_held, metric_sum(m, "hub2kusto_buffered_bytes{") +
                                        metric_sum(m, "hub2kusto_in_flight_bytes{"));
    return ++samples >= 40 && kusto.status().at("paused_requests").get<int>() > 0;
  })) << bridge.stderr_text();
  EXPECT_EQ(budget, kBudget);
  EXPECT_GT(most_held, kBudget / 2) << "the partitions never filled the budget: nothing measured";
  EXPECT_LE(most_used, bound);
  EXPECT_LE(most_held, bound);
  ASSERT_TRUE(eventually(
      [&] { return lines_and_rows(kusto) == std::pair<long long, long long>(kEvents, kEvents); },
      60s))
      << kusto.status().dump() << hub.partition_status("telemetry", "0").dump()
      << http_get(ops_port_, "/metrics").second << bridge.stderr_text();
  stop(bridge);
  std::printf("[ budget     ] at most %.1f MiB counted, %.1f MiB held by the partitions' gauges, "
              "budget 16 MiB\n",
              most_used / (1 << 20), most_held / (1 << 20));
}

TEST_F(Bridge, EventsTheLocalMappingRejectsAreDeadLetteredWithTheirReasons) {
  {
    std::ofstream lines(dir_ / "poison.jsonl");
    for (int i = 0; i < 10; ++i) {
      if (i == 3) {
        lines << R"({"deviceId":"dev-3","temperature":)"
              << "\n";
      } else if (i == 6) {
        lines << R"(["dev-6", 21.5])"
              << "\n";
      } else {
        lines << telemetry_line(i, i) << "\n";
      }
    }
  }
  Services services({"--hub", "telemetry:2", "--preload", (dir_ / "poison.jsonl").string(),
                     "--preload-events", "100"});
  ASSERT_NO_FATAL_FAILURE(start(services));
  auto& [hub, kusto] = services;
  auto env = environment(hub, kusto);
  std::erase_if(
      env, [](const auto& kv) { return kv.first == "HUB2KUSTO_CONNECTIONS_0_TARGET_MAPPING"; });
  env.emplace_back("HUB2KUSTO_CONNECTIONS_0_TARGET_SCHEMA",
                   "deviceId:string,temperature:real,humidity:long,line:long");
  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, env);
  ASSERT_TRUE(eventually([&] { return kusto.count("T") == 80; })) << bridge.stderr_text();
  std::vector<nlohmann::json> letters;
  ASSERT_TRUE(eventually([&] {
    letters.clear();
    std::ifstream in(dir_ / "dead-letter" / "telemetry.jsonl");
    for (std::string line; std::getline(in, line);) {
      letters.push_back(nlohmann::json::parse(line));
    }
    return letters.size() == 20;
  })) << bridge.stderr_text();
  int not_json = 0;
  int not_object = 0;
  for (const auto& d : letters) {
    EXPECT_EQ(d["stage"], "mapping") << d;
    EXPECT_TRUE(d["sequence_number"].is_number()) << d;
    const std::string reason = d["reason"];
    if (d["body"] == R"({"deviceId":"dev-3","temperature":)") {
      ++not_json;
      EXPECT_NE(reason.find("malformed JSON at byte 34"), std::string::npos) << reason;
    } else if (d["body"] == R"(["dev-6", 21.5])") {
      ++not_object;
      EXPECT_NE(reason.find("record 1: "), std::string::npos) << reason;
    }
  }
  EXPECT_EQ(not_json, 10);
  EXPECT_EQ(not_object, 10);
  stop(bridge);
  EXPECT_EQ(kusto.count("T"), 80);
}

} // namespace
} // namespace hub2kusto::bridge_test
