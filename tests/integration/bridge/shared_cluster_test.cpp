// hub2kusto end to end beside other clients of the same services: checkpoints an SDK consumer
// shares, queued ingestion the cluster fails later, two hubs into one table of a shared cluster,
// per-event compression, the token audience the cluster names, IoT Hub checkpoint scopes.
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

TEST_F(Bridge, BlobCheckpointsAreSharedWithTheOfficialSdkStore) {
  Services services({"--hub", "telemetry:4", "--preload", (dir_ / "events.jsonl").string(),
                     "--preload-events", "2000"});
  ASSERT_NO_FATAL_FAILURE(start(services));
  auto& [hub, kusto] = services;
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
  Services services({"--hub", "telemetry:2"});
  ASSERT_NO_FATAL_FAILURE(start(services));
  auto& [hub, kusto] = services;
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
  // Logged just after the dead letters are written.
  EXPECT_TRUE(eventually([&] {
    return bridge.stderr_text().find("failed in Kusto after it was accepted") != std::string::npos;
  })) << bridge.stderr_text();
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
  Services services({"--hub", "telemetry:2", "--hub", "second:2"}, {"--dm-delay-ms", "3000"});
  ASSERT_NO_FATAL_FAILURE(start(services));
  auto& [hub, kusto] = services;
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

// A blue/green switch: the green deployment reads the hub again from the start, with its own
// consumer group, into the table the blue one filled. With delivery.deduplicate each queued
// batch carries its key (the hub and the batch's partition and sequence numbers), the batches
// green sends again are cut where blue cut them, and Kusto drops every one: no row twice.
TEST_F(Bridge, WithDeduplicationQueuedBatchesReadAgainByAnotherConsumerGroupAreDroppedByKusto) {
  constexpr int kEvents = 1000; // 500 a partition: five batches of 100 each
  Services services({"--hub", "telemetry:2:green", "--preload", distinct_events(kEvents),
                     "--preload-events", std::to_string(kEvents)});
  ASSERT_NO_FATAL_FAILURE(start(services));
  auto& [hub, kusto] = services;
  ASSERT_FALSE(kusto.mgmt(".alter table T policy streamingingestion disable").contains("error"));
  const auto deployment = [&](const std::string& consumer_group) {
    auto env = environment(hub, kusto);
    std::erase_if(
        env, [](const auto& kv) { return kv.first == "HUB2KUSTO_CONNECTIONS_0_BATCHING_LINGER"; });
    env.emplace_back("HUB2KUSTO_CONNECTIONS_0_SOURCE_CONSUMER_GROUP", consumer_group);
    env.emplace_back("HUB2KUSTO_CONNECTIONS_0_DELIVERY_DEDUPLICATE", "true");
    // Batches close at 100 events only, never on time: blue and green cut them alike.
    env.emplace_back("HUB2KUSTO_CONNECTIONS_0_BATCHING_MAX_EVENTS", "100");
    env.emplace_back("HUB2KUSTO_CONNECTIONS_0_BATCHING_LINGER", "30s");
    env.emplace_back("HUB2KUSTO_CONNECTIONS_0_BATCHING_IDLE_FLUSH", "0ms");
    return env;
  };
  const auto all_finished = [&] {
    const auto st = kusto.status();
    return st.at("queued_messages").get<long long>() ==
           st.at("queued_succeeded").get<long long>() + st.at("queued_failed").get<long long>();
  };
  {
    ChildProcess blue({HUB2KUSTO_BINARY, "run"}, deployment("$Default"));
    ASSERT_TRUE(eventually([&] { return kusto.count("T") == kEvents; }, 120s))
        << blue.stderr_text() << " rows: " << kusto.count("T");
    stop(blue);
  }
  ChildProcess green({HUB2KUSTO_BINARY, "run"}, deployment("green"));
  // Green sends all ten batches again, and the service finishes each message.
  ASSERT_TRUE(eventually(
      [&] { return kusto.status().at("queued_messages").get<long long>() == 20 && all_finished(); },
      120s))
      << green.stderr_text() << kusto.status().dump();
  const auto [lines, rows] = lines_and_rows(kusto);
  EXPECT_EQ(lines, kEvents);
  EXPECT_EQ(rows, kEvents);
  // It skipped each, and said so in the reports green reads.
  EXPECT_TRUE(eventually([&] {
    return metric_sum(http_get(ops_port_, "/metrics").second,
                      "hub2kusto_queued_duplicates_skipped_total") == 10;
  })) << http_get(ops_port_, "/metrics").second;
  EXPECT_EQ(metric_sum(http_get(ops_port_, "/metrics").second, "hub2kusto_events_ingested_total"),
            kEvents);
  stop(green);
}

// Events a device gzipped itself, marked `Compression=gzip`: ADX inflates each on its own, so
// they arrive as rows on the streaming path and, once the table's policy is off, on the queued
// one; a marked event that is not gzip is dead-lettered with its reason.
TEST_F(Bridge, EventsSentWithCompressionGzipArriveAsRowsStreamingAndQueued) {
  Services services({"--hub", "telemetry:2"});
  ASSERT_NO_FATAL_FAILURE(start(services));
  auto& [hub, kusto] = services;
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
  Services services({"--hub", "iot-ehub:2", "--iothub", "myhub", "--iothub-policy",
                     "service=" + key, "--iothub-eventhub-namespace",
                     "ihsuprodemu01res.servicebus.windows.net", "--preload",
                     (dir_ / "events.jsonl").string(), "--preload-events", "100"});
  ASSERT_NO_FATAL_FAILURE(start(services));
  auto& [hub, kusto] = services;
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

} // namespace
} // namespace hub2kusto::bridge_test
