// hub2kusto end to end: delivery, restarts, faults of Kusto and of the hub, routing and the ops
// endpoints, verified by counting rows in the table and reading the emulators' counters and the
// checkpoint files (bridge_fixture.hpp).
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

TEST_F(Bridge, DeliversEveryEventStopsCleanlyAndResumesWithoutResending) {
  Services services({"--hub", "telemetry:4", "--preload", (dir_ / "events.jsonl").string(),
                     "--preload-events", "2000"});
  ASSERT_NO_FATAL_FAILURE(start(services));
  auto& [hub, kusto] = services;

  {
    ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, environment(hub, kusto));
    ASSERT_TRUE(eventually([&] { return kusto.count("T") == 2000; })) << bridge.stderr_text();
    // Checkpoints are saved at most every 200 ms: wait for the last one, then stop.
    const auto checkpoint = [&](int p) {
      std::ifstream in(dir_ / "checkpoints" / "127.0.0.1" / "telemetry" / "$default" /
                       "checkpoint" / std::to_string(p));
      const auto json = nlohmann::json::parse(in, nullptr, false);
      return json.is_object() ? json.value("sequencenumber", "") : std::string();
    };
    ASSERT_TRUE(eventually([&] {
      return checkpoint(0) == "499" && checkpoint(1) == "499" && checkpoint(2) == "499" &&
             checkpoint(3) == "499";
    })) << bridge.stderr_text();
    stop(bridge);
    EXPECT_NE(bridge.stderr_text().find("stopped cleanly"), std::string::npos)
        << bridge.stderr_text();
  }
  EXPECT_EQ(kusto.count("T"), 2000);

  // A restart resumes after the checkpoints: the service sends nothing it sent before.
  {
    ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, environment(hub, kusto));
    ASSERT_TRUE(eventually([&] {
      for (const char* p : {"0", "1", "2", "3"}) {
        if (hub.partition_status("telemetry", p).at("consumer_attaches") != 2) {
          return false;
        }
      }
      return true;
    })) << bridge.stderr_text();
    for (const char* p : {"0", "1", "2", "3"}) {
      EXPECT_EQ(hub.partition_status("telemetry", p).at("deliveries"), 500) << p;
    }
    stop(bridge);
    EXPECT_NE(bridge.stderr_text().find("resuming after sequence number 499"), std::string::npos)
        << bridge.stderr_text();
  }
  EXPECT_EQ(kusto.count("T"), 2000);
}

TEST_F(Bridge, ABadKeyStopsStartUpWithAClearMessageAndNoSecret) {
  Services services({"--hub", "telemetry:2"}, {}, false);
  ASSERT_NO_FATAL_FAILURE(start(services, false));
  auto& [hub, kusto] = services;
  const std::string key = "WrongKeyValue123456789=";
  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, environment(hub, kusto, key));
  EXPECT_EQ(bridge.wait_exit(60s), 1);
  const std::string err = bridge.stderr_text();
  EXPECT_NE(err.find("refused the SAS token for rule 'RootManageSharedAccessKey'"),
            std::string::npos)
      << err;
  EXPECT_EQ(err.find(key), std::string::npos);
}

TEST_F(Bridge, PoisonEventsAreDeadLetteredWhileEveryOtherEventArrives) {
  // Every tenth line is not JSON; preloaded 200 events carry 20 of them over 4 partitions.
  {
    std::ofstream lines(dir_ / "poison.jsonl");
    for (int i = 0; i < 10; ++i) {
      if (i == 7) {
        lines << R"({"deviceId":"dev-7","temperature":)"
              << "\n";
      } else {
        lines << telemetry_line(i, i) << "\n";
      }
    }
  }
  Services services({"--hub", "telemetry:4", "--preload", (dir_ / "poison.jsonl").string(),
                     "--preload-events", "200"});
  ASSERT_NO_FATAL_FAILURE(start(services));
  auto& [hub, kusto] = services;
  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, environment(hub, kusto));
  ASSERT_TRUE(eventually([&] { return kusto.count("T") == 180; })) << bridge.stderr_text();
  const auto dead_letters = [&] {
    std::vector<nlohmann::json> out;
    std::ifstream in(dir_ / "dead-letter" / "telemetry.jsonl");
    for (std::string line; std::getline(in, line);) {
      out.push_back(nlohmann::json::parse(line));
    }
    return out;
  };
  ASSERT_TRUE(eventually([&] { return dead_letters().size() == 20; })) << bridge.stderr_text();
  for (const auto& d : dead_letters()) {
    EXPECT_EQ(d["stage"], "ingest");
    EXPECT_EQ(d["body"], R"({"deviceId":"dev-7","temperature":)");
    EXPECT_NE(d["reason"].get<std::string>().find("HTTP 400"), std::string::npos) << d;
  }
  // Logged at ERROR with the position, never the body.
  const std::string err = bridge.stderr_text();
  EXPECT_NE(err.find("dead-lettered (ingest)"), std::string::npos) << err;
  EXPECT_EQ(err.find(R"("temperature":)"
                     "\n"),
            std::string::npos);
  stop(bridge);
  EXPECT_EQ(kusto.count("T"), 180);
}

TEST_F(Bridge, RoutingByTableAndFormatSendsEventsToTwoTables) {
  Services services({"--hub", "telemetry:2"});
  ASSERT_NO_FATAL_FAILURE(start(services));
  auto& [hub, kusto] = services;
  ASSERT_FALSE(kusto.mgmt(".create table Alerts (device:string, level:long)").contains("error"));
  ASSERT_FALSE(
      kusto.mgmt(".alter table Alerts policy streamingingestion enable").contains("error"));
  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, environment(hub, kusto));
  // The official producer: JSON telemetry to the default table, CSV alerts routed by properties.
  ChildProcess producer({"node", HUB2KUSTO_SOURCE_DIR "/tests/integration/bridge/produce_routed.js",
                         hub.connection_string(), "30"});
  ASSERT_EQ(producer.wait_exit(60s), 0) << producer.stderr_text();
  ASSERT_TRUE(eventually([&] { return kusto.count("T") == 30 && kusto.count("Alerts") == 30; }))
      << bridge.stderr_text() << " T=" << kusto.count("T") << " Alerts=" << kusto.count("Alerts");
  stop(bridge);
}

TEST_F(Bridge, KilledFiveTimesMidRunEveryEventArrivesAndRepeatsAtMostTwoBatchesAPartition) {
  constexpr int kEvents = 100'000;
  constexpr int kPartitions = 4;
  constexpr int kBatchEvents = 500;
  constexpr int kKills = 5;
  Services services({"--hub", "telemetry:4", "--preload", distinct_events(kEvents),
                     "--preload-events", std::to_string(kEvents)});
  ASSERT_NO_FATAL_FAILURE(start(services));
  auto& [hub, kusto] = services;
  // Slow Kusto down (25 ms per streaming request, 500-event batches) so the run lasts long
  // enough to be killed in the middle of it several times.
  ASSERT_TRUE(kusto.fault("/faults/latency?ms=25"));
  auto env = environment(hub, kusto);
  env.emplace_back("HUB2KUSTO_CONNECTIONS_0_BATCHING_MAX_EVENTS", std::to_string(kBatchEvents));
  std::mt19937 random(std::random_device{}());
  for (int kill = 1; kill <= kKills; ++kill) {
    ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, env);
    // A random moment: once the table has grown by a random amount since this start.
    const long long start = kusto.count("T");
    const long long grow = std::uniform_int_distribution<long long>(2'000, 12'000)(random);
    ASSERT_TRUE(eventually([&] { return kusto.count("T") >= start + grow; }, 120s))
        << bridge.stderr_text();
    ::kill(bridge.pid(), SIGKILL);
    bridge.wait_exit(10s);
  }
  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, env);
  // Done when every partition's checkpoint names its last event (25,000 events each): the
  // checkpoint moves only past what Kusto accepted. Then one expensive check of every line.
  const auto checkpoint = [&](int p) {
    std::ifstream in(dir_ / "checkpoints" / "127.0.0.1" / "telemetry" / "$default" / "checkpoint" /
                     std::to_string(p));
    const auto json = nlohmann::json::parse(in, nullptr, false);
    return json.is_object() ? json.value("sequencenumber", "") : std::string();
  };
  ASSERT_TRUE(eventually(
      [&] {
        return checkpoint(0) == "24999" && checkpoint(1) == "24999" && checkpoint(2) == "24999" &&
               checkpoint(3) == "24999";
      },
      300s))
      << bridge.stderr_text().substr(0, 3000);
  stop(bridge, 60s);
  const auto [distinct, rows] = lines_and_rows(kusto);
  EXPECT_EQ(distinct, kEvents); // every event at least once
  // At least once, not exactly once: with a checkpoint after every accepted batch (the
  // default), a kill repeats at most each partition's batch in flight and its accepted batch
  // whose checkpoint was not yet written.
  std::printf("[ duplicates ] %lld rows for %d events: %lld duplicates after %d kills\n", rows,
              kEvents, rows - kEvents, kKills);
  RecordProperty("duplicates", std::to_string(rows - kEvents));
  EXPECT_LE(rows - kEvents, static_cast<long long>(kKills) * kPartitions * 2 * kBatchEvents);
}

TEST_F(Bridge, StreamingDisabledMidRunTheRestArrivesQueued) {
  Services services({"--hub", "telemetry:2"});
  ASSERT_NO_FATAL_FAILURE(start(services));
  auto& [hub, kusto] = services;
  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, environment(hub, kusto));
  const auto produce = [&](int per_partition) {
    ChildProcess node({"node", HUB2KUSTO_SOURCE_DIR "/tests/integration/hub/produce.js",
                       hub.connection_string(), std::to_string(per_partition), "2"});
    return node.wait_exit(60s) == 0;
  };
  ASSERT_TRUE(produce(50));
  ASSERT_TRUE(eventually([&] { return kusto.count("T") == 100; })) << bridge.stderr_text();
  const int queued_before = kusto.status().at("queued_messages").get<int>();
  ASSERT_FALSE(kusto.mgmt(".alter table T policy streamingingestion disable").contains("error"));
  ASSERT_TRUE(produce(50));
  ASSERT_TRUE(eventually([&] { return kusto.count("T") == 200; })) << bridge.stderr_text();
  EXPECT_GT(kusto.status().at("queued_messages").get<int>(), queued_before); // the queued path
  stop(bridge);
}

TEST_F(Bridge, KustoAnswering503ForThirtySecondsLosesNothingAndIngestionResumes) {
  Services services({"--hub", "telemetry:2", "--preload", (dir_ / "events.jsonl").string(),
                     "--preload-events", "400"});
  ASSERT_NO_FATAL_FAILURE(start(services));
  auto& [hub, kusto] = services;
  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, environment(hub, kusto));
  ASSERT_TRUE(eventually([&] { return kusto.count("T") == 400; })) << bridge.stderr_text();

  // An outage: every ingest, management and query request answers 503 for 30 s, while the
  // official producer keeps sending.
  ASSERT_TRUE(kusto.fault("/faults/unavailable?seconds=30"));
  const auto outage_end = std::chrono::steady_clock::now() + 30s;
  ChildProcess producer({"node", HUB2KUSTO_SOURCE_DIR "/tests/integration/bridge/telemetry.js",
                         "produce", hub.connection_string(), "400", "2"});
  ASSERT_EQ(producer.wait_exit(60s), 0) << producer.stderr_text();
  // Not ready while Kusto does not answer, and it says so.
  std::pair<int, std::string> ready;
  ASSERT_TRUE(eventually([&] {
    ready = http_get(ops_port_, "/readyz");
    return ready.first == 503 && ready.second.find("HTTP 503") != std::string::npos;
  })) << ready.second;
  EXPECT_LT(std::chrono::steady_clock::now(), outage_end) << "the outage ended before this check";

  ASSERT_TRUE(eventually([&] { return kusto.count("T") == 800; }, 180s))
      << bridge.stderr_text() << " rows=" << kusto.count("T");
  EXPECT_GT(kusto.status().at("outage_answered").get<int>(), 0);
  // Streaming answered 503 through the outage; the batches went by queued ingestion (its
  // queue lives in storage, which stayed up) or were held and retried.
  const auto metrics = http_get(ops_port_, "/metrics").second;
  EXPECT_GT(metric_sum(metrics, "hub2kusto_ingest_fallbacks_total{") +
                metric_sum(metrics, "hub2kusto_batch_retries_total{"),
            0)
      << metrics;
  EXPECT_EQ(std::filesystem::file_size(dir_ / "dead-letter" / "telemetry.jsonl"), 0U); // none
  ASSERT_TRUE(eventually([&] { return http_get(ops_port_, "/readyz").first == 200; }));
  stop(bridge);
  EXPECT_EQ(kusto.count("T"), 800);
}

// 50,000 events from the official producer over 4 partitions, mapped by the bridge itself
// (target.schema + mapping_file, system properties as columns), each in the table exactly
// once with the values it carried, as the official query client reads them; /readyz and
// /metrics scraped while it runs.
TEST_F(Bridge, FiftyThousandEventsArriveExactlyOnceMappedWhileOpsEndpointsAreScraped) {
  constexpr int kEvents = 50'000;
  Services services({"--hub", "telemetry:4"});
  ASSERT_NO_FATAL_FAILURE(start(services, false));
  auto& [hub, kusto] = services;
  ASSERT_FALSE(kusto
                   .mgmt(".create table M (deviceId:string, temperature:real, humidity:long, "
                         "line:long, Seq:long, Enqueued:datetime, Partition:string)")
                   .contains("error"));
  ASSERT_FALSE(kusto.mgmt(".alter table M policy streamingingestion enable").contains("error"));
  {
    std::ofstream mapping(dir_ / "mapping.json");
    mapping << R"([{"column":"deviceId","Properties":{"Path":"$.deviceId"}},)"
            << R"({"column":"temperature","Properties":{"Path":"$.temperature"}},)"
            << R"({"column":"humidity","Properties":{"Path":"$.humidity"}},)"
            << R"({"column":"line","Properties":{"Path":"$.line"}},)"
            << R"({"column":"Seq","Properties":{"Path":"$['x-opt-sequence-number']"}},)"
            << R"({"column":"Enqueued","Properties":{"Path":"$['x-opt-enqueued-time']"}},)"
            << R"({"column":"Partition","Properties":{"Path":"$['hub2kusto-partition-id']"}}])";
  }
  auto env = environment(hub, kusto);
  std::erase_if(env, [](const auto& kv) {
    return kv.first == "HUB2KUSTO_CONNECTIONS_0_TARGET_MAPPING" ||
           kv.first == "HUB2KUSTO_CONNECTIONS_0_TARGET_TABLE";
  });
  env.emplace_back("HUB2KUSTO_CONNECTIONS_0_TARGET_TABLE", "M");
  env.emplace_back("HUB2KUSTO_CONNECTIONS_0_TARGET_SCHEMA",
                   "deviceId:string,temperature:real,humidity:long,line:long,Seq:long,"
                   "Enqueued:datetime,Partition:string");
  env.emplace_back("HUB2KUSTO_CONNECTIONS_0_TARGET_MAPPING_FILE", (dir_ / "mapping.json").string());
  env.emplace_back("HUB2KUSTO_CONNECTIONS_0_TARGET_SYSTEM_PROPERTIES",
                   "x-opt-sequence-number,x-opt-enqueued-time,hub2kusto-partition-id");
  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, env);

  // Alive at once; ready once every partition is attached and Kusto answered the probe.
  ASSERT_TRUE(eventually([&] { return http_get(ops_port_, "/healthz").first == 200; }))
      << bridge.stderr_text();
  ASSERT_TRUE(eventually([&] { return http_get(ops_port_, "/readyz").first == 200; }))
      << bridge.stderr_text() << http_get(ops_port_, "/readyz").second;
  EXPECT_EQ(nlohmann::json::parse(http_get(ops_port_, "/readyz").second)["ready"], true);

  ChildProcess producer({"node", HUB2KUSTO_SOURCE_DIR "/tests/integration/bridge/telemetry.js",
                         "produce", hub.connection_string(), std::to_string(kEvents), "4"});
  ASSERT_EQ(producer.wait_exit(300s), 0) << producer.stderr_text();
  ASSERT_TRUE(eventually([&] { return kusto.count("M") >= kEvents; }, 300s))
      << bridge.stderr_text() << " rows=" << kusto.count("M");

  // The series of docs/architecture.md, "Metrics and logs", as Prometheus would scrape them: every
  // event counted as received and ingested, none dead-lettered, the lag from the management node
  // down to 0 once the checkpoints are written.
  const auto metrics = [&] { return http_get(ops_port_, "/metrics"); };
  ASSERT_EQ(metrics().first, 200);
  EXPECT_NE(metrics().second.find("# TYPE hub2kusto_events_ingested_total counter"),
            std::string::npos)
      << metrics().second;
  EXPECT_EQ(metric_sum(metrics().second, "hub2kusto_events_received_total{"), kEvents);
  EXPECT_EQ(metric_sum(metrics().second, "hub2kusto_events_ingested_total{"), kEvents);
  // No dead letter: no series (each appears with its stage and error code); -1 when absent.
  EXPECT_LE(metric_sum(metrics().second, "hub2kusto_events_dead_lettered_total{"), 0);
  EXPECT_EQ(metric_sum(metrics().second, "hub2kusto_partition_receiving{"), 4);
  EXPECT_EQ(metric_sum(metrics().second, "hub2kusto_kusto_reachable{"), 1);
  // The process series Prometheus's client libraries export.
  EXPECT_GT(metric_sum(metrics().second, "process_resident_memory_bytes "), 1 << 20);
  EXPECT_GT(metric_sum(metrics().second, "process_cpu_seconds_total "), 0);
  EXPECT_GT(metric_sum(metrics().second, "process_open_fds "), 3);
  EXPECT_GT(
      metric_sum(metrics().second,
                 "hub2kusto_ingest_requests_total{connection=\"telemetry\",path=\"streaming\","
                 "outcome=\"delivered\"}"),
      0);
  ASSERT_TRUE(eventually([&] {
    const std::string m = metrics().second;
    return metric_sum(m, "hub2kusto_partition_last_enqueued_sequence_number{") ==
               4 * (kEvents / 4 - 1) &&
           metric_sum(m, "hub2kusto_partition_lag_events{") == 0;
  })) << metrics().second;

  stop(bridge, 60s);

  ChildProcess verify({"node", HUB2KUSTO_SOURCE_DIR "/tests/integration/bridge/telemetry.js",
                       "verify", kusto.url(), "db", "M", std::to_string(kEvents)});
  const auto line = verify.read_line(300s);
  ASSERT_TRUE(line) << verify.stderr_text();
  ASSERT_EQ(verify.wait_exit(60s), 0) << verify.stderr_text();
  const auto result = nlohmann::json::parse(*line);
  EXPECT_EQ(result["rows"], kEvents) << *line;
  EXPECT_EQ(result["distinct"], kEvents) << *line;
  EXPECT_EQ(result["missing"], 0) << *line;
  EXPECT_EQ(result["duplicates"], 0) << *line;
  EXPECT_EQ(result["wrong"], 0) << *line;
  // The partition and the sequence number name each event: the key of exact de-duplication.
  for (const char* p : {"0", "1", "2", "3"}) {
    const auto seqs =
        kusto.query(std::string("M | where Partition == '") + p + "' | summarize count() by Seq");
    ASSERT_TRUE(seqs.contains("Tables")) << seqs.dump();
    EXPECT_EQ(seqs.at("Tables").at(0).at("Rows").size(), static_cast<std::size_t>(kEvents / 4))
        << p;
  }
}

// With the Kusto target unreachable, the process is alive but not ready, and /readyz says why.
TEST_F(Bridge, ReadyzSaysWhyWhileTheKustoTargetIsUnreachable) {
  EventHubsEmulator hub({"--hub", "telemetry:2"});
  ASSERT_TRUE(hub.running()) << hub.stderr_text();
  const int nothing_there = emulators::free_port("127.0.0.1");
  const auto env = environment(hub, "http://127.0.0.1:" + std::to_string(nothing_there));
  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, env);
  std::pair<int, std::string> ready;
  ASSERT_TRUE(eventually([&] {
    ready = http_get(ops_port_, "/readyz");
    return ready.first == 503 &&
           ready.second.find("did not answer '.show version'") != std::string::npos;
  })) << bridge.stderr_text()
      << ready.second;
  const auto body = nlohmann::json::parse(ready.second);
  EXPECT_EQ(body["ready"], false);
  EXPECT_NE(ready.second.find(std::to_string(nothing_there)), std::string::npos) << ready.second;
  EXPECT_EQ(http_get(ops_port_, "/healthz").first, 200);
  const auto metrics = http_get(ops_port_, "/metrics").second;
  EXPECT_EQ(metric_sum(metrics, "hub2kusto_kusto_reachable{"), 0) << metrics;
  EXPECT_EQ(http_get(ops_port_, "/nothing").first, 404);
  stop(bridge, 60s);
}

// checkpoint.store 'blob': the positions land in Azurite where the official JS blob checkpoint
// store reads them, and a position it writes is where a restart resumes.

} // namespace
} // namespace hub2kusto::bridge_test
