// A Kusto target that is wrong for every event alike (a table or mapping not created yet) is
// not bad data: the partition holds, nothing is dead-lettered, the checkpoint stays, /readyz
// names the target and the cause, and delivery resumes by itself once the target is fixed.
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "bridge/bridge_fixture.hpp"

namespace hub2kusto::bridge_test {
namespace {

using namespace std::chrono_literals;

class HeldTarget : public Bridge {
protected:
  // Once the target is fixed: all 500 events arrive, once; the bridge turns ready; nothing was
  // dead-lettered.
  void all_arrive_once(ChildProcess& bridge, KustoEmulator& kusto) {
    ASSERT_TRUE(eventually([&] { return kusto.count("T") == 500; }, 120s))
        << bridge.stderr_text() << " rows: " << kusto.count("T");
    ASSERT_TRUE(eventually([&] { return http_get(ops_port_, "/readyz").first == 200; }))
        << http_get(ops_port_, "/readyz").second;
    stop(bridge);
    EXPECT_EQ(kusto.count("T"), 500);
    EXPECT_EQ(saved_checkpoints(), 2U)
        << files_and_contents(dir_ / "checkpoints"); // one a partition
    EXPECT_EQ(std::filesystem::file_size(dir_ / "dead-letter" / "telemetry.jsonl"), 0U);
  }
};

TEST_F(HeldTarget, AMissingTableThenAMissingMappingHoldTheEventsUntilEachIsCreated) {
  Services services({"--hub", "telemetry:2", "--preload", (dir_ / "events.jsonl").string(),
                     "--preload-events", "500"},
                    {}, false);
  ASSERT_NO_FATAL_FAILURE(start(services, false));
  auto& [hub, kusto] = services;
  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, environment(hub, kusto));
  const auto readyz_says = [&](const std::string& text) {
    return eventually([&] {
      const auto ready = http_get(ops_port_, "/readyz");
      return ready.first == 503 && ready.second.find(text) != std::string::npos;
    });
  };

  // No table T yet: every batch is refused, for the target's sake, not the data's.
  ASSERT_TRUE(readyz_says("BadRequest_TableNotExist")) << http_get(ops_port_, "/readyz").second;
  const auto ready = http_get(ops_port_, "/readyz").second;
  EXPECT_NE(ready.find("Kusto target db.T"), std::string::npos) << ready;
  EXPECT_NE(ready.find("holding the partition"), std::string::npos) << ready;
  EXPECT_GT(
      metric_sum(http_get(ops_port_, "/metrics").second, "hub2kusto_target_problem_retries_total{"),
      0);
  EXPECT_EQ(std::filesystem::file_size(dir_ / "dead-letter" / "telemetry.jsonl"), 0U);
  EXPECT_EQ(saved_checkpoints(), 0U) // no position saved past held events
      << files_and_contents(dir_ / "checkpoints") << bridge.stderr_text();
  EXPECT_NE(bridge.stderr_text().find("refuses every batch"), std::string::npos);

  // The table, without the mapping the configuration names. Streaming is enabled on the
  // database first, so the table streams from its first moment: a batch that met the table
  // before its own policy would go queued, where a missing mapping only shows minutes later.
  ASSERT_FALSE(kusto.mgmt(".alter database db policy streamingingestion enable").contains("error"));
  ASSERT_FALSE(kusto
                   .mgmt(".create table T (deviceId:string, temperature:real, humidity:long, "
                         "line:long)")
                   .contains("error"));
  ASSERT_TRUE(readyz_says("BadRequest_MappingReferenceWasNotFound"))
      << http_get(ops_port_, "/readyz").second;
  EXPECT_EQ(kusto.count("T"), 0);

  // The mapping: everything arrives, once, and the bridge is ready.
  ASSERT_FALSE(
      kusto
          .mgmt(
              R"(.create table T ingestion json mapping 'm' '[{"column":"deviceId","Properties":{"Path":"$.deviceId"}},{"column":"temperature","Properties":{"Path":"$.temperature"}},{"column":"humidity","Properties":{"Path":"$.humidity"}},{"column":"line","Properties":{"Path":"$.line"}}]')")
          .contains("error"));
  all_arrive_once(bridge, kusto);
}

// An identity without the Ingestor role: Kusto answers 403 to streaming ingestion and to the
// commands queued ingestion needs. Nothing is the data's fault, so nothing is dead-lettered.
TEST_F(HeldTarget, AForbiddenIngestionHoldsTheEventsUntilThePermissionIsGranted) {
  Services services({"--hub", "telemetry:2", "--preload", (dir_ / "events.jsonl").string(),
                     "--preload-events", "500"},
                    {}, true);
  ASSERT_NO_FATAL_FAILURE(start(services));
  auto& [hub, kusto] = services;
  ASSERT_TRUE(kusto.fault("/faults/forbidden?on=true"));
  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, environment(hub, kusto));

  ASSERT_TRUE(eventually([&] {
    const auto ready = http_get(ops_port_, "/readyz");
    return ready.first == 503 && ready.second.find("Forbidden") != std::string::npos;
  })) << http_get(ops_port_, "/readyz").second;
  const auto ready = http_get(ops_port_, "/readyz").second;
  EXPECT_NE(ready.find("Kusto target db.T"), std::string::npos) << ready;
  EXPECT_NE(ready.find("holding the partition"), std::string::npos) << ready;
  ASSERT_TRUE(eventually([&] { return kusto.status().value("forbidden_answered", 0) >= 4; }));
  EXPECT_EQ(std::filesystem::file_size(dir_ / "dead-letter" / "telemetry.jsonl"), 0U);
  EXPECT_EQ(saved_checkpoints(), 0U)
      << files_and_contents(dir_ / "checkpoints") << bridge.stderr_text();
  EXPECT_EQ(kusto.count("T"), 0);

  ASSERT_TRUE(kusto.fault("/faults/forbidden?on=false"));
  all_arrive_once(bridge, kusto);
}

// Streaming disabled on the cluster sends every batch queued; the data-management service then
// refuses this identity. Not the data's fault either: the partition holds until it may ingest.
TEST_F(HeldTarget, StreamingDisabledAndQueuedForbiddenHoldUntilThePermissionIsGranted) {
  Services services({"--hub", "telemetry:2", "--preload", (dir_ / "events.jsonl").string(),
                     "--preload-events", "500"},
                    {}, true);
  ASSERT_NO_FATAL_FAILURE(start(services));
  auto& [hub, kusto] = services;
  ASSERT_TRUE(kusto.fault("/faults/streaming-disabled?on=true"));
  ASSERT_TRUE(kusto.fault("/faults/forbidden?on=true&scope=queued"));
  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, environment(hub, kusto));

  ASSERT_TRUE(eventually([&] {
    const auto ready = http_get(ops_port_, "/readyz");
    return ready.first == 503 && ready.second.find("Forbidden") != std::string::npos &&
           ready.second.find(".get ingestion resources") != std::string::npos;
  })) << http_get(ops_port_, "/readyz").second;
  EXPECT_NE(http_get(ops_port_, "/readyz").second.find("holding the partition"), std::string::npos);
  ASSERT_TRUE(eventually([&] { return kusto.status().value("forbidden_answered", 0) >= 4; }));
  EXPECT_EQ(std::filesystem::file_size(dir_ / "dead-letter" / "telemetry.jsonl"), 0U);
  EXPECT_EQ(saved_checkpoints(), 0U)
      << files_and_contents(dir_ / "checkpoints") << bridge.stderr_text();

  ASSERT_TRUE(kusto.fault("/faults/forbidden?on=false"));
  all_arrive_once(bridge, kusto);
}

} // namespace
} // namespace hub2kusto::bridge_test
