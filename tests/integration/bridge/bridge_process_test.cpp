// hub2kusto run as an operator runs it, end to end on loopback: eventhubs-emulator ->
// hub2kusto -> kusto-emulator (Azurite behind it), verified by counting rows in the table and
// reading the emulator's delivery counters and the checkpoint files. Waits are for conditions
// with deadlines.
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
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

} // namespace
} // namespace hub2kusto
