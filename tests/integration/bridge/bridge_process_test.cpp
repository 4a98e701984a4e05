// hub2kusto run as an operator runs it, end to end on loopback: eventhubs-emulator ->
// hub2kusto -> kusto-emulator (Azurite behind it), verified by counting rows in the table and
// reading the emulator's delivery counters and the checkpoint files. Waits are for conditions
// with deadlines.
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/child_process.hpp"
#include "support/eventhubs_emulator.hpp"
#include "support/kusto_emulator.hpp"

namespace hub2kusto {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::EventHubsEmulator;
using testing::KustoEmulator;

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 60s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(50ms); // polling other processes
  }
  return true;
}

class Bridge : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("hub2kusto-bridge-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::ofstream lines(dir_ / "events.jsonl");
    for (int i = 0; i < 50; ++i) {
      lines << R"({"deviceId":"dev-)" << i << R"(","temperature":21.5,"humidity":40,"line":)" << i
            << "}\n";
    }
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void create_table(KustoEmulator& kusto) {
    ASSERT_FALSE(kusto
                     .mgmt(".create table T (deviceId:string, temperature:real, humidity:long, "
                           "line:long)")
                     .contains("error"));
    ASSERT_FALSE(
        kusto
            .mgmt(
                R"(.create table T ingestion json mapping 'm' '[{"column":"deviceId","Properties":{"Path":"$.deviceId"}},{"column":"temperature","Properties":{"Path":"$.temperature"}},{"column":"humidity","Properties":{"Path":"$.humidity"}},{"column":"line","Properties":{"Path":"$.line"}}]')")
            .contains("error"));
    ASSERT_FALSE(kusto.mgmt(".alter table T policy streamingingestion enable").contains("error"));
  }

  std::vector<std::pair<std::string, std::string>>
  environment(const EventHubsEmulator& hub, const KustoEmulator& kusto,
              const std::string& key = "SAS_KEY_VALUE") {
    return {{"HUB2KUSTO_CONNECTIONS_0_NAME", "telemetry"},
            {"HUB2KUSTO_CONNECTIONS_0_SOURCE_CONNECTION_STRING",
             hub.connection_string("telemetry", key)},
            {"HUB2KUSTO_CONNECTIONS_0_TARGET_CONNECTION_STRING",
             "Data Source=" + kusto.url() + ";Initial Catalog=db"},
            {"HUB2KUSTO_CONNECTIONS_0_TARGET_TABLE", "T"},
            {"HUB2KUSTO_CONNECTIONS_0_TARGET_MAPPING", "m"},
            {"HUB2KUSTO_CONNECTIONS_0_BATCHING_LINGER", "200ms"},
            {"HUB2KUSTO_CHECKPOINT_DIRECTORY", (dir_ / "checkpoints").string()},
            {"HUB2KUSTO_CHECKPOINT_INTERVAL", "200ms"},
            {"HUB2KUSTO_DEAD_LETTER_DIRECTORY", (dir_ / "dead-letter").string()},
            {"HUB2KUSTO_SHUTDOWN_DRAIN_DEADLINE", "20s"}};
  }

  std::filesystem::path dir_;
};

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
    ::kill(bridge.pid(), SIGTERM);
    EXPECT_EQ(bridge.wait_exit(30s), 0) << bridge.stderr_text();
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
    ::kill(bridge.pid(), SIGTERM);
    EXPECT_EQ(bridge.wait_exit(30s), 0) << bridge.stderr_text();
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
        lines << R"({"deviceId":"dev-)" << i << R"(","temperature":21.5,"humidity":40,"line":)" << i
              << "}\n";
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
  ::kill(bridge.pid(), SIGTERM);
  EXPECT_EQ(bridge.wait_exit(30s), 0) << bridge.stderr_text();
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
  ::kill(bridge.pid(), SIGTERM);
  EXPECT_EQ(bridge.wait_exit(30s), 0) << bridge.stderr_text();
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
      lines << R"({"deviceId":"dev-)" << i % 100 << R"(","temperature":21.5,"humidity":40,"line":)"
            << i << "}\n";
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
  ::kill(bridge.pid(), SIGTERM);
  EXPECT_EQ(bridge.wait_exit(60s), 0) << bridge.stderr_text();
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
  ::kill(bridge.pid(), SIGTERM);
  EXPECT_EQ(bridge.wait_exit(30s), 0) << bridge.stderr_text();
}

TEST_F(Bridge, KustoAnswering503ForAWhileLosesNothing) {
  EventHubsEmulator hub({"--hub", "telemetry:2", "--preload", (dir_ / "events.jsonl").string(),
                         "--preload-events", "400"});
  ASSERT_TRUE(hub.running()) << hub.stderr_text();
  KustoEmulator kusto({});
  ASSERT_TRUE(kusto.running()) << kusto.stderr_text();
  create_table(kusto);
  ASSERT_TRUE(kusto.fault("/faults/streaming?kind=unavailable&count=12"));
  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, environment(hub, kusto));
  ASSERT_TRUE(eventually([&] { return kusto.count("T") == 400; }, 120s)) << bridge.stderr_text();
  EXPECT_GT(kusto.status().at("streaming_faults_answered").get<int>(), 0);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "dead-letter" / "telemetry.jsonl"));
  ::kill(bridge.pid(), SIGTERM);
  EXPECT_EQ(bridge.wait_exit(30s), 0) << bridge.stderr_text();
}

} // namespace
} // namespace hub2kusto
