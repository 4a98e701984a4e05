// hub2kusto end to end: delivery, restarts, faults of Kusto and of the hub, routing, formats,
// checkpoints and dead letters, verified by counting rows in the table and reading the
// emulators' counters and the checkpoint files (bridge_fixture.hpp).
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
  EventHubsEmulator hub({"--hub", "telemetry:4", "--preload", (dir_ / "events.jsonl").string(),
                         "--preload-events", "2000"});
  ASSERT_TRUE(hub.running()) << hub.stderr_text();
  KustoEmulator kusto({});
  ASSERT_TRUE(kusto.running()) << kusto.stderr_text();
  create_table(kusto);

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
  EventHubsEmulator hub({"--hub", "telemetry:2"});
  ASSERT_TRUE(hub.running()) << hub.stderr_text();
  KustoEmulator kusto({}, false);
  ASSERT_TRUE(kusto.running()) << kusto.stderr_text();
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
  EventHubsEmulator hub({"--hub", "telemetry:4", "--preload", (dir_ / "poison.jsonl").string(),
                         "--preload-events", "200"});
  ASSERT_TRUE(hub.running()) << hub.stderr_text();
  KustoEmulator kusto({});
  ASSERT_TRUE(kusto.running()) << kusto.stderr_text();
  create_table(kusto);
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
  EventHubsEmulator hub({"--hub", "telemetry:2"});
  ASSERT_TRUE(hub.running()) << hub.stderr_text();
  KustoEmulator kusto({});
  ASSERT_TRUE(kusto.running()) << kusto.stderr_text();
  create_table(kusto);
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

// Rows per `line` value: {distinct lines, total rows}.
std::pair<long long, long long> lines_and_rows(KustoEmulator& kusto) {
  // 100,000 groups take a while under the sanitizers: a generous timeout.
  const auto r = kusto.query("T | summarize count() by line", "", std::chrono::seconds(600));
  long long groups = 0;
  long long rows = 0;
  try {
    for (const auto& row : r.at("Tables").at(0).at("Rows")) {
      ++groups;
      rows += row.at(1).get<long long>();
    }
  } catch (const std::exception&) {
    return {-1, -1};
  }
  return {groups, rows};
}

TEST_F(Bridge, KilledFiveTimesMidRunEveryEventArrivesAtLeastOnce) {
  constexpr int kEvents = 100'000;
  {
    std::ofstream lines(dir_ / "distinct.jsonl");
    for (int i = 0; i < kEvents; ++i) {
      lines << telemetry_line(i, i % 100) << "\n";
    }
  }
  EventHubsEmulator hub({"--hub", "telemetry:4", "--preload", (dir_ / "distinct.jsonl").string(),
                         "--preload-events", std::to_string(kEvents)});
  ASSERT_TRUE(hub.running()) << hub.stderr_text();
  KustoEmulator kusto({});
  ASSERT_TRUE(kusto.running()) << kusto.stderr_text();
  create_table(kusto);
  // Slow Kusto down (25 ms per streaming request, 500-event batches) so the run lasts long
  // enough to be killed in the middle of it several times.
  ASSERT_TRUE(kusto.fault("/faults/latency?ms=25"));
  auto env = environment(hub, kusto);
  env.emplace_back("HUB2KUSTO_CONNECTIONS_0_BATCHING_MAX_EVENTS", "500");
  std::mt19937 random(std::random_device{}());
  for (int kill = 1; kill <= 5; ++kill) {
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
  // At least once, not exactly once: what was ingested but not yet checkpointed when killed
  // came again. Reported, not asserted.
  std::printf("[ duplicates ] %lld rows for %d events: %lld duplicates after 5 kills\n", rows,
              kEvents, rows - kEvents);
  RecordProperty("duplicates", std::to_string(rows - kEvents));
}

TEST_F(Bridge, StreamingDisabledMidRunTheRestArrivesQueued) {
  EventHubsEmulator hub({"--hub", "telemetry:2"});
  ASSERT_TRUE(hub.running()) << hub.stderr_text();
  KustoEmulator kusto({});
  ASSERT_TRUE(kusto.running()) << kusto.stderr_text();
  create_table(kusto);
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
  EventHubsEmulator hub({"--hub", "telemetry:2", "--preload", (dir_ / "events.jsonl").string(),
                         "--preload-events", "400"});
  ASSERT_TRUE(hub.running()) << hub.stderr_text();
  KustoEmulator kusto({});
  ASSERT_TRUE(kusto.running()) << kusto.stderr_text();
  create_table(kusto);
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
  EventHubsEmulator hub({"--hub", "telemetry:4"});
  ASSERT_TRUE(hub.running()) << hub.stderr_text();
  KustoEmulator kusto({});
  ASSERT_TRUE(kusto.running()) << kusto.stderr_text();
  ASSERT_FALSE(kusto
                   .mgmt(".create table M (deviceId:string, temperature:real, humidity:long, "
                         "line:long, Seq:long, Enqueued:datetime)")
                   .contains("error"));
  ASSERT_FALSE(kusto.mgmt(".alter table M policy streamingingestion enable").contains("error"));
  {
    std::ofstream mapping(dir_ / "mapping.json");
    mapping << R"([{"column":"deviceId","Properties":{"Path":"$.deviceId"}},)"
            << R"({"column":"temperature","Properties":{"Path":"$.temperature"}},)"
            << R"({"column":"humidity","Properties":{"Path":"$.humidity"}},)"
            << R"({"column":"line","Properties":{"Path":"$.line"}},)"
            << R"({"column":"Seq","Properties":{"Path":"$['x-opt-sequence-number']"}},)"
            << R"({"column":"Enqueued","Properties":{"Path":"$['x-opt-enqueued-time']"}}])";
  }
  auto env = environment(hub, kusto);
  std::erase_if(env, [](const auto& kv) {
    return kv.first == "HUB2KUSTO_CONNECTIONS_0_TARGET_MAPPING" ||
           kv.first == "HUB2KUSTO_CONNECTIONS_0_TARGET_TABLE";
  });
  env.emplace_back("HUB2KUSTO_CONNECTIONS_0_TARGET_TABLE", "M");
  env.emplace_back("HUB2KUSTO_CONNECTIONS_0_TARGET_SCHEMA",
                   "deviceId:string,temperature:real,humidity:long,line:long,Seq:long,"
                   "Enqueued:datetime");
  env.emplace_back("HUB2KUSTO_CONNECTIONS_0_TARGET_MAPPING_FILE", (dir_ / "mapping.json").string());
  env.emplace_back("HUB2KUSTO_CONNECTIONS_0_TARGET_SYSTEM_PROPERTIES",
                   "x-opt-sequence-number,x-opt-enqueued-time");
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
  EXPECT_EQ(metric_sum(metrics().second, "hub2kusto_events_dead_lettered_total{"), 0);
  EXPECT_EQ(metric_sum(metrics().second, "hub2kusto_partition_receiving{"), 4);
  EXPECT_EQ(metric_sum(metrics().second, "hub2kusto_kusto_reachable{"), 1);
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
TEST_F(Bridge, BlobCheckpointsAreSharedWithTheOfficialSdkStore) {
  EventHubsEmulator hub({"--hub", "telemetry:4", "--preload", (dir_ / "events.jsonl").string(),
                         "--preload-events", "2000"});
  ASSERT_TRUE(hub.running()) << hub.stderr_text();
  KustoEmulator kusto({});
  ASSERT_TRUE(kusto.running()) << kusto.stderr_text();
  create_table(kusto);
  const std::string storage = kusto.azurite()->blob_connection_string();
  auto env = environment(hub, kusto);
  std::erase_if(env, [](const auto& kv) { return kv.first == "HUB2KUSTO_CHECKPOINT_DIRECTORY"; });
  env.emplace_back("HUB2KUSTO_CHECKPOINT_STORE", "blob");
  env.emplace_back("HUB2KUSTO_CHECKPOINT_BLOB_CONNECTION_STRING", storage);
  env.emplace_back("HUB2KUSTO_CHECKPOINT_CONTAINER", "hub2kusto-checkpoints");
  const auto sdk = [&](const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"node",
                                     HUB2KUSTO_SOURCE_DIR
                                     "/tests/integration/checkpoint/checkpoints.js",
                                     args[0],
                                     storage,
                                     "hub2kusto-checkpoints",
                                     "127.0.0.1",
                                     "telemetry",
                                     "$Default"};
    argv.insert(argv.end(), args.begin() + 1, args.end());
    ChildProcess node(argv);
    auto line = node.read_line(60s);
    node.wait_exit(60s);
    return line.value_or(node.stderr_text());
  };
  {
    ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, env);
    ASSERT_TRUE(eventually([&] { return kusto.count("T") == 2000; })) << bridge.stderr_text();
    const auto all_at_499 = nlohmann::json::parse(
        R"([{"partitionId":"0","sequenceNumber":499},{"partitionId":"1","sequenceNumber":499},
            {"partitionId":"2","sequenceNumber":499},{"partitionId":"3","sequenceNumber":499}])");
    std::string listed;
    ASSERT_TRUE(eventually([&] {
      listed = sdk({"list"});
      auto json = nlohmann::json::parse(listed, nullptr, false);
      if (!json.is_array()) {
        return false;
      }
      for (auto& c : json) {
        c.erase("offset");
      }
      return json == all_at_499;
    })) << listed
        << bridge.stderr_text();
    ::kill(bridge.pid(), SIGTERM);
    ASSERT_EQ(bridge.wait_exit(30s), 0) << bridge.stderr_text();
  }
  // An SDK consumer moves partition 0 back to sequence number 199: 300 events come again.
  ASSERT_EQ(sdk({"update", "0", "199", "19900"}), "updated");
  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, env);
  ASSERT_TRUE(eventually([&] { return kusto.count("T") == 2300; })) << bridge.stderr_text();
  EXPECT_NE(bridge.stderr_text().find("partition 0: resuming after sequence number 199"),
            std::string::npos)
      << bridge.stderr_text();
  stop(bridge);
  EXPECT_EQ(kusto.count("T"), 2300);
}

// Queued ingestion accepts a batch and Kusto fails it later (here: a mapping that does not
// exist, which only the ingestion itself finds out). The bridge reads the failed-ingestions
// queue and records each failed batch in the dead-letter store (here: a blob container), with
// its partition and sequence numbers, while every good event arrives.
TEST_F(Bridge, QueuedBatchesKustoFailsLaterAreDeadLetteredToBlobs) {
  EventHubsEmulator hub({"--hub", "telemetry:2"});
  ASSERT_TRUE(hub.running()) << hub.stderr_text();
  KustoEmulator kusto({});
  ASSERT_TRUE(kusto.running()) << kusto.stderr_text();
  create_table(kusto);
  ASSERT_FALSE(kusto.mgmt(".alter table T policy streamingingestion disable").contains("error"));
  const std::string storage = kusto.azurite()->blob_connection_string();
  auto env = environment(hub, kusto);
  std::erase_if(env, [](const auto& kv) { return kv.first == "HUB2KUSTO_DEAD_LETTER_DIRECTORY"; });
  env.emplace_back("HUB2KUSTO_DEAD_LETTER_STORE", "blob");
  env.emplace_back("HUB2KUSTO_DEAD_LETTER_BLOB_CONNECTION_STRING", storage);
  env.emplace_back("HUB2KUSTO_DEAD_LETTER_CONTAINER", "dead-letters");
  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, env);
  const auto produce = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {
        "node",    HUB2KUSTO_SOURCE_DIR "/tests/integration/bridge/telemetry.js",
        "produce", hub.connection_string(),
        "40",      "2"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    ChildProcess producer(argv);
    ASSERT_EQ(producer.wait_exit(60s), 0) << producer.stderr_text();
  };
  produce({});                  // sequence numbers 0-19 of each partition: good
  produce({"no_such_mapping"}); // 20-39: Kusto fails them after queuing
  ASSERT_TRUE(eventually([&] { return kusto.count("T") == 40; })) << bridge.stderr_text();

  // Every bad event is covered by exactly one failed-batch record.
  std::map<std::string, std::set<long long>> covered;
  std::string listed;
  ASSERT_TRUE(eventually([&] {
    ChildProcess node({"node", HUB2KUSTO_SOURCE_DIR "/tests/integration/checkpoint/checkpoints.js",
                       "blobs", storage, "dead-letters"});
    listed = node.read_line(60s).value_or("");
    node.wait_exit(60s);
    covered.clear();
    const auto blobs = nlohmann::json::parse(listed, nullptr, false);
    if (!blobs.is_object()) {
      return false;
    }
    std::size_t events = 0;
    for (const auto& [name, content] : blobs.items()) {
      std::istringstream lines(content.get<std::string>());
      for (std::string line; std::getline(lines, line);) {
        const auto r = nlohmann::json::parse(line);
        EXPECT_EQ(r["stage"], "queued-ingestion") << line;
        EXPECT_NE(r["reason"].get<std::string>().find("no_such_mapping"), std::string::npos)
            << line;
        const std::string id = r["batch_id"];
        const auto last = std::stoll(id.substr(id.rfind('-') + 1));
        for (long long n = r["sequence_number"].get<long long>(); n <= last; ++n) {
          covered[r["partition"]].insert(n);
          ++events;
        }
      }
    }
    return events == 40;
  })) << listed
      << bridge.stderr_text();
  for (const char* p : {"0", "1"}) {
    EXPECT_EQ(covered[p].size(), 20U) << p;
    EXPECT_EQ(*covered[p].begin(), 20) << p;
    EXPECT_EQ(*covered[p].rbegin(), 39) << p;
  }
  EXPECT_NE(bridge.stderr_text().find("failed in Kusto after it was accepted"), std::string::npos);
  EXPECT_GE(metric_sum(http_get(ops_port_, "/metrics").second,
                       "hub2kusto_queued_ingestion_failures_total{"),
            1);
  stop(bridge);
}

// As on a real cluster: the temporary containers and the failed-ingestions queue are shared by
// every client, and the data-management service reads a blob only when its batching fires
// (here 3 s after it took the message). Two connections (two hubs, the same table, the same
// partition ids and sequence numbers, so the same batch ids) go queued at once; another
// application's failure report waits on the shared queue. Every row of both hubs arrives
// exactly once, and the other application's report is still there afterwards.
TEST_F(Bridge, TwoHubsQueuedIntoOneTableOfASharedClusterArriveExactlyOnce) {
  EventHubsEmulator hub({"--hub", "telemetry:2", "--hub", "second:2"});
  ASSERT_TRUE(hub.running()) << hub.stderr_text();
  KustoEmulator kusto({"--dm-delay-ms", "3000"});
  ASSERT_TRUE(kusto.running()) << kusto.stderr_text();
  create_table(kusto);
  ASSERT_FALSE(kusto.mgmt(".alter table T policy streamingingestion disable").contains("error"));

  ChildProcess other({"node", HUB2KUSTO_SOURCE_DIR "/tests/integration/bridge/foreign_client.js",
                      "fail", kusto.url(), "db", "T"});
  const std::string other_report = other.read_line(90s).value_or("");
  ASSERT_EQ(other.wait_exit(60s), 0) << other.stderr_text();
  ASSERT_EQ(other_report.size(), 36U) << other_report;

  const auto produce = [&](const std::string& name, int first) {
    ChildProcess producer({"node", HUB2KUSTO_SOURCE_DIR "/tests/integration/bridge/telemetry.js",
                           "produce", hub.connection_string(name), "400", "2", "",
                           std::to_string(first)});
    ASSERT_EQ(producer.wait_exit(60s), 0) << producer.stderr_text();
  };
  produce("telemetry", 0); // lines 0-399, sequence numbers 0-199 of partitions 0 and 1
  produce("second", 400);  // lines 400-799, the same partitions and sequence numbers

  auto env = environment(hub, kusto);
  env.emplace_back("HUB2KUSTO_CONNECTIONS_0_BATCHING_MAX_EVENTS", "50");
  env.emplace_back("HUB2KUSTO_CONNECTIONS_1_NAME", "second");
  env.emplace_back("HUB2KUSTO_CONNECTIONS_1_SOURCE_CONNECTION_STRING",
                   hub.connection_string("second"));
  env.emplace_back("HUB2KUSTO_CONNECTIONS_1_TARGET_CONNECTION_STRING",
                   "Data Source=" + kusto.url() + ";Initial Catalog=db");
  env.emplace_back("HUB2KUSTO_CONNECTIONS_1_TARGET_TABLE", "T");
  env.emplace_back("HUB2KUSTO_CONNECTIONS_1_TARGET_MAPPING", "m");
  env.emplace_back("HUB2KUSTO_CONNECTIONS_1_BATCHING_LINGER", "200ms");
  env.emplace_back("HUB2KUSTO_CONNECTIONS_1_BATCHING_MAX_EVENTS", "50");
  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, env);
  // Every message the service took is finished, and the rows of all of them are in.
  ASSERT_TRUE(eventually(
      [&] {
        const auto st = kusto.status();
        return kusto.count("T") >= 800 && st.at("queued_messages").get<long long>() ==
                                              st.at("queued_succeeded").get<long long>() +
                                                  st.at("queued_failed").get<long long>();
      },
      120s))
      << bridge.stderr_text() << kusto.status().dump();
  const auto [lines, rows] = lines_and_rows(kusto);
  EXPECT_EQ(lines, 800);
  EXPECT_EQ(rows, 800);
  // hub2kusto read its reports several times meanwhile (every ops refresh), never the queue.
  ASSERT_TRUE(eventually([&] {
    return metric_sum(http_get(ops_port_, "/metrics").second, "hub2kusto_events_ingested_total") ==
           800;
  })) << bridge.stderr_text();
  stop(bridge);
  ChildProcess peek({"node", HUB2KUSTO_SOURCE_DIR "/tests/integration/bridge/foreign_client.js",
                     "peek", kusto.url()});
  const std::string reports = peek.read_line(60s).value_or("");
  EXPECT_EQ(peek.wait_exit(60s), 0) << peek.stderr_text();
  EXPECT_NE(reports.find(other_report), std::string::npos) << reports;
}

// Events a device gzipped itself, marked `Compression=gzip`: ADX inflates each on its own, so
// they arrive as rows on the streaming path and, once the table's policy is off, on the queued
// one; a marked event that is not gzip is dead-lettered with its reason.
TEST_F(Bridge, EventsSentWithCompressionGzipArriveAsRowsStreamingAndQueued) {
  EventHubsEmulator hub({"--hub", "telemetry:2"});
  ASSERT_TRUE(hub.running()) << hub.stderr_text();
  KustoEmulator kusto({});
  ASSERT_TRUE(kusto.running()) << kusto.stderr_text();
  create_table(kusto);
  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, environment(hub, kusto));
  const auto produce = [&](int first) {
    ChildProcess producer({"node",
                           HUB2KUSTO_SOURCE_DIR "/tests/integration/bridge/produce_compressed.js",
                           hub.connection_string(), std::to_string(first), "100"});
    ASSERT_EQ(producer.wait_exit(60s), 0) << producer.stderr_text();
  };
  produce(0);
  ASSERT_TRUE(eventually([&] { return kusto.count("T") == 100; }))
      << bridge.stderr_text() << " rows: " << kusto.count("T");
  const auto streamed = kusto.status().at("streaming_requests").get<long long>();
  EXPECT_GT(streamed, 0);
  ASSERT_FALSE(kusto.mgmt(".alter table T policy streamingingestion disable").contains("error"));
  produce(100);
  ASSERT_TRUE(eventually([&] { return kusto.count("T") == 200; }))
      << bridge.stderr_text() << " rows: " << kusto.count("T");
  EXPECT_GT(kusto.status().at("queued_succeeded").get<long long>(), 0);
  const auto [lines, rows] = lines_and_rows(kusto);
  EXPECT_EQ(lines, 200);
  EXPECT_EQ(rows, 200);
  stop(bridge);
  std::ifstream in(dir_ / "dead-letter" / "telemetry.jsonl");
  std::vector<nlohmann::json> letters;
  for (std::string line; std::getline(in, line);) {
    letters.push_back(nlohmann::json::parse(line));
  }
  ASSERT_EQ(letters.size(), 2U); // the one bad event of each round
  for (const auto& d : letters) {
    EXPECT_EQ(d["stage"], "decompression") << d.dump();
    EXPECT_NE(d["reason"].get<std::string>().find("not valid gzip"), std::string::npos);
  }
}

// A cluster whose resource id is not the public default (a sovereign or private cloud) accepts
// only tokens for its own audience, which it names in its auth metadata: hub2kusto reads it
// there, as the SDKs do, and its application-key tokens are accepted.
TEST_F(Bridge, TokensAreAskedForTheAudienceTheClusterNames) {
  EventHubsEmulator hub({"--hub", "telemetry:2", "--preload", (dir_ / "events.jsonl").string(),
                         "--preload-events", "100"});
  ASSERT_TRUE(hub.running()) << hub.stderr_text();
  const std::string admin = "admin-static-token";
  KustoEmulator kusto({"--require-token", "--static-token", admin, "--app", "app-1=secret-1",
                       "--resource-id", "https://private-cluster.kusto.example.net"});
  ASSERT_TRUE(kusto.running()) << kusto.stderr_text();
  ASSERT_FALSE(kusto
                   .mgmt(".create table T (deviceId:string, temperature:real, humidity:long, "
                         "line:long)",
                         "db", admin)
                   .contains("error"));
  ASSERT_FALSE(
      kusto.mgmt(".alter table T policy streamingingestion enable", "db", admin).contains("error"));
  auto env = environment(hub, kusto);
  std::erase_if(env, [](const auto& kv) {
    return kv.first == "HUB2KUSTO_CONNECTIONS_0_TARGET_CONNECTION_STRING" ||
           kv.first == "HUB2KUSTO_CONNECTIONS_0_TARGET_MAPPING"; // columns by name
  });
  env.emplace_back("HUB2KUSTO_CONNECTIONS_0_TARGET_CONNECTION_STRING",
                   "Data Source=" + kusto.url() +
                       ";Initial Catalog=db;AAD Federated Security=True;Application Client "
                       "Id=app-1;Application Key=secret-1;Authority Id=tenant-1");
  env.emplace_back("AZURE_AUTHORITY_HOST", kusto.url());
  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, env);
  ASSERT_TRUE(eventually([&] { return kusto.count("T", admin) == 100; }))
      << bridge.stderr_text() << " rows: " << kusto.count("T", admin);
  stop(bridge);
  EXPECT_EQ(bridge.stderr_text().find("secret-1"), std::string::npos);
}

// IoT Hub checkpoints live where the SDKs keep them: under the Event Hub-compatible namespace
// and name the redirect names, not the IoT Hub host. A checkpoint an earlier version kept under
// the IoT Hub host is read once, so an upgrade resumes instead of starting over.
TEST_F(Bridge, IotHubCheckpointsAreScopedByTheEventHubCompatibleEndpointAndOldOnesAreRead) {
  const std::string key = "aW90aHViLXRlc3Qta2V5LWZvci1odWIya3VzdG8tdGVzdHM="; // base64
  EventHubsEmulator hub({"--hub", "iot-ehub:2", "--iothub", "myhub", "--iothub-policy",
                         "service=" + key, "--iothub-eventhub-namespace",
                         "ihsuprodemu01res.servicebus.windows.net", "--preload",
                         (dir_ / "events.jsonl").string(), "--preload-events", "100"});
  ASSERT_TRUE(hub.running()) << hub.stderr_text();
  KustoEmulator kusto({});
  ASSERT_TRUE(kusto.running()) << kusto.stderr_text();
  create_table(kusto);
  // Where earlier versions kept partition 0's checkpoint: the IoT Hub host, the learned hub.
  const auto earlier = dir_ / "checkpoints" / "127.0.0.1" / "iot-ehub" / "$default" / "checkpoint";
  std::filesystem::create_directories(earlier);
  std::ofstream(earlier / "0") << R"({"sequencenumber":"24","offset":"24"})";
  auto env = environment(hub, kusto);
  std::erase_if(env, [](const auto& kv) {
    return kv.first == "HUB2KUSTO_CONNECTIONS_0_SOURCE_CONNECTION_STRING";
  });
  env.emplace_back("HUB2KUSTO_CONNECTIONS_0_SOURCE_CONNECTION_STRING",
                   "HostName=127.0.0.1:" + std::to_string(hub.iothub_port()) +
                       ";SharedAccessKeyName=service;SharedAccessKey=" + key +
                       ";UseDevelopmentEmulator=true");
  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, env);
  // Partition 0 resumes after 24 (25 events), partition 1 starts at the beginning (50).
  ASSERT_TRUE(eventually([&] { return kusto.count("T") == 75; }))
      << bridge.stderr_text() << " rows: " << kusto.count("T");
  const auto checkpoint = [&](int p) {
    std::ifstream in(dir_ / "checkpoints" / "ihsuprodemu01res.servicebus.windows.net" / "iot-ehub" /
                     "$default" / "checkpoint" / std::to_string(p));
    const auto json = nlohmann::json::parse(in, nullptr, false);
    return json.is_object() ? json.value("sequencenumber", "") : std::string();
  };
  ASSERT_TRUE(eventually([&] { return checkpoint(0) == "49" && checkpoint(1) == "49"; }))
      << bridge.stderr_text();
  stop(bridge);
  EXPECT_NE(bridge.stderr_text().find("checkpoint read from where earlier versions kept it"),
            std::string::npos)
      << bridge.stderr_text();
  EXPECT_EQ(kusto.count("T"), 75);
}

// Each Avro event is a whole container file: joined back to back they are no Avro file at all.
// Events routed Format=apacheavro (streaming) and Format=avro (queued, once the table's policy
// is off) arrive as rows, one file a request or blob, and Kusto refuses none of them.
TEST_F(Bridge, AvroContainerFileEventsArriveAsRowsOneFileARequest) {
  EventHubsEmulator hub({"--hub", "telemetry:2"});
  ASSERT_TRUE(hub.running()) << hub.stderr_text();
  KustoEmulator kusto({});
  ASSERT_TRUE(kusto.running()) << kusto.stderr_text();
  create_table(kusto);
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
  EventHubsEmulator hub({"--hub", "telemetry:1", "--preload", (dir_ / "events.jsonl").string(),
                         "--preload-events", "1000"});
  ASSERT_TRUE(hub.running()) << hub.stderr_text();
  KustoEmulator kusto({"--streaming-max-bytes", "20000"});
  ASSERT_TRUE(kusto.running()) << kusto.stderr_text();
  create_table(kusto);
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
  EventHubsEmulator hub({"--hub", "telemetry:2"});
  ASSERT_TRUE(hub.running()) << hub.stderr_text();
  KustoEmulator kusto({}, false);
  ASSERT_TRUE(kusto.running()) << kusto.stderr_text();
  create_table(kusto);
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
  EventHubsEmulator hub({"--hub", "telemetry:1"});
  ASSERT_TRUE(hub.running()) << hub.stderr_text();
  KustoEmulator kusto({}, false);
  ASSERT_TRUE(kusto.running()) << kusto.stderr_text();
  create_table(kusto);
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
  EventHubsEmulator hub({"--hub", "telemetry:1", "--preload", (dir_ / "large.jsonl").string(),
                         "--preload-events", "400"});
  ASSERT_TRUE(hub.running()) << hub.stderr_text();
  KustoEmulator kusto({});
  ASSERT_TRUE(kusto.running()) << kusto.stderr_text();
  create_table(kusto);
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
  EventHubsEmulator hub({"--hub", "telemetry:2", "--preload", (dir_ / "poison.jsonl").string(),
                         "--preload-events", "100"});
  ASSERT_TRUE(hub.running()) << hub.stderr_text();
  KustoEmulator kusto({});
  ASSERT_TRUE(kusto.running()) << kusto.stderr_text();
  create_table(kusto);
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
