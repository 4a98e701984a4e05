// Several hub2kusto replicas on one hub, sharing its partitions through ownership blobs in
// Azurite (docs/protocols.md, "Ownership and load balancing"): they divide the partitions,
// a stopped replica's partitions are released and taken at once, a killed one's are taken
// after they expire, and every event arrives. An official SDK processor in the same consumer
// group shares them too, and its checkpoints are where the replicas resume.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bridge/bridge_fixture.hpp"
#include "checkpoint/official_store.hpp"

namespace hub2kusto::bridge_test {
namespace {

using namespace std::chrono_literals;

class Replicas : public Bridge {
protected:
  struct Replica {
    std::string id;
    int ops_port = 0;
    std::unique_ptr<ChildProcess> process;
  };

  // hub2kusto as replica `id`, its checkpoints and ownership in `storage`'s "checkpoints".
  Replica start_replica(const EventHubsEmulator& hub, const KustoEmulator& kusto,
                        const std::string& storage, const std::string& id,
                        const std::vector<std::pair<std::string, std::string>>& extra = {}) {
    auto env = environment(hub, kusto);
    std::erase_if(env, [](const auto& kv) { return kv.first == "HUB2KUSTO_CHECKPOINT_DIRECTORY"; });
    env.insert(env.end(), {{"HUB2KUSTO_CHECKPOINT_STORE", "blob"},
                           {"HUB2KUSTO_CHECKPOINT_BLOB_CONNECTION_STRING", storage},
                           {"HUB2KUSTO_CHECKPOINT_CONTAINER", "checkpoints"},
                           {"HUB2KUSTO_OWNERSHIP_OWNER_ID", id},
                           {"HUB2KUSTO_OWNERSHIP_UPDATE_INTERVAL", "1s"},
                           {"HUB2KUSTO_OWNERSHIP_EXPIRATION", "4s"},
                           {"HUB2KUSTO_CONNECTIONS_0_BATCHING_MAX_EVENTS", "100"}});
    env.insert(env.end(), extra.begin(), extra.end());
    return {id, ops_port_,
            std::make_unique<ChildProcess>(std::vector<std::string>{HUB2KUSTO_BINARY, "run"}, env)};
  }

  // Twelve partitions preloaded with `events` distinct events, and a Kusto that answers each
  // streaming request after `latency_ms`.
  void start_services(std::optional<Services>& services, int events, int latency_ms) {
    services.emplace(std::vector<std::string>{"--hub", "telemetry:12", "--preload",
                                              distinct_events(events), "--preload-events",
                                              std::to_string(events)});
    ASSERT_NO_FATAL_FAILURE(start(*services));
    ASSERT_TRUE(services->kusto.fault("/faults/latency?ms=" + std::to_string(latency_ms)));
  }

  // Partitions each replica says it owns (-1: it did not answer).
  static std::map<std::string, int> owned(const std::vector<Replica*>& replicas) {
    std::map<std::string, int> out;
    for (const auto* r : replicas) {
      out[r->id] = static_cast<int>(metric_sum(http_get(r->ops_port, "/metrics").second,
                                               "hub2kusto_ownership_partitions_owned"));
    }
    return out;
  }
};

TEST_F(Replicas, ShareTwelvePartitionsAndTakeOverAStoppedAndAKilledReplicasPartitions) {
  constexpr int kEvents = 36'000;
  std::optional<Services> services;
  // 200 ms a streaming request and 100-event batches: the run lasts through the handovers.
  ASSERT_NO_FATAL_FAILURE(start_services(services, kEvents, 200));
  auto& [hub, kusto] = *services;
  const std::string storage = kusto.azurite()->blob_connection_string();
  auto a = start_replica(hub, kusto, storage, "replica-a");
  auto b = start_replica(hub, kusto, storage, "replica-b");
  auto c = start_replica(hub, kusto, storage, "replica-c");
  const auto started = std::chrono::steady_clock::now();
  const std::map<std::string, int> even{{"replica-a", 4}, {"replica-b", 4}, {"replica-c", 4}};
  ASSERT_TRUE(eventually([&] {
    return owned({&a, &b, &c}) == even;
  })) << a.process->stderr_text()
      << b.process->stderr_text() << c.process->stderr_text();
  const auto divided = std::chrono::steady_clock::now() - started;
  // Graceful scale-down: c drains, checkpoints and releases; a and b take its four without
  // waiting for them to expire.
  stop(*c.process);
  EXPECT_NE(c.process->stderr_text().find("4 partition(s) released"), std::string::npos)
      << c.process->stderr_text();
  const auto released = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] {
    return owned({&a, &b}) == std::map<std::string, int>{{"replica-a", 6}, {"replica-b", 6}};
  })) << a.process->stderr_text()
      << b.process->stderr_text();
  const auto taken_after_release = std::chrono::steady_clock::now() - released;
  // A crash: b's six are taken by a once they expired (4 s).
  ::kill(b.process->pid(), SIGKILL);
  b.process->wait_exit(10s);
  const auto killed = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] {
    return owned({&a}) == std::map<std::string, int>{{"replica-a", 12}};
  })) << a.process->stderr_text();
  const auto taken_after_kill = std::chrono::steady_clock::now() - killed;
  // Every event arrives; what was in flight at the handovers may arrive twice.
  ASSERT_TRUE(eventually([&] { return lines_and_rows(kusto).first == kEvents; }, 180s))
      << a.process->stderr_text().substr(0, 3000);
  stop(*a.process, 60s);
  const auto [distinct, rows] = lines_and_rows(kusto);
  EXPECT_EQ(distinct, kEvents);
  const auto ms = [](auto d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  };
  // The update interval is 1 s and the expiration 4 s; each bound allows 1 s more for the
  // scrapes that observe it. Released partitions go within an interval, never waiting for their
  // claims to expire; a killed replica's within the expiration and one interval, plus the
  // quick cycles that claim its six one at a time (balanced: a tenth of the interval apart, and
  // each cycle's listing and writes take their time too; under the sanitizers about 200 ms).
  EXPECT_LT(taken_after_release, 1s + 1s) << ms(taken_after_release) << " ms";
  EXPECT_LT(taken_after_kill, 4s + 1s + 6 * 200ms + 1s) << ms(taken_after_kill) << " ms";
  std::printf("[ replicas   ] divided in %lld ms; released partitions taken in %lld ms; a killed "
              "replica's taken in %lld ms; %lld duplicates of %d events\n",
              static_cast<long long>(ms(divided)), static_cast<long long>(ms(taken_after_release)),
              static_cast<long long>(ms(taken_after_kill)), rows - kEvents, kEvents);
  RecordProperty("duplicates", std::to_string(rows - kEvents));
}

// Two replicas and an official EventHubConsumerClient (balanced, with the official blob
// checkpoint store) in one consumer group: each holds a fair share, by the ownership blobs and
// by what it reads. When the SDK processor stops, the replicas take its partitions and resume
// after its checkpoints; between them every event arrives.
// A greedy replica wins all twelve partitions in one cycle and reads their checkpoints in one
// listing. One checkpoint blob holds a position that is not a number: the listing fails, each
// partition is read on its own, and only that one is held back (its claim lapses and is tried
// again); the other eleven are read to their end.
TEST_F(Replicas, AnUnreadableCheckpointHoldsBackOnlyItsOwnPartitionOnAGreedyStart) {
  constexpr int kEvents = 1'200; // 100 a partition (the emulator deals them out in turn)
  std::optional<Services> services;
  ASSERT_NO_FATAL_FAILURE(start_services(services, kEvents, 0));
  auto& [hub, kusto] = *services;
  const std::string storage = kusto.azurite()->blob_connection_string();
  ASSERT_EQ(checkpoint::official_store({"create", storage, "checkpoints"}), "created");
  const std::string broken = "127.0.0.1/telemetry/$default/checkpoint/5";
  ASSERT_EQ(checkpoint::official_store(
                {"put-blob", storage, "checkpoints", broken, "sequencenumber=five", "offset=5"}),
            "put");
  auto a =
      start_replica(hub, kusto, storage, "replica-a", {{"HUB2KUSTO_OWNERSHIP_STRATEGY", "greedy"}});
  // The stored positions, as hub2kusto's series say (the official store's listing refuses the
  // broken blob, as it should).
  const auto checkpoints = [&] {
    return metric_sum(http_get(a.ops_port, "/metrics").second,
                      "hub2kusto_checkpoint_sequence_number{");
  };
  const std::string refused = "partition 5: claimed but its checkpoint cannot be read";
  const auto refusals = [&] {
    const std::string text = a.process->stderr_text();
    std::size_t n = 0;
    for (auto at = text.find(refused); at != std::string::npos; at = text.find(refused, at + 1)) {
      ++n;
    }
    return n;
  };
  // Done when the other eleven checkpoints name their last events (sequence number 99 each)
  // and partition 5 was refused again after that: it had every chance to be read.
  ASSERT_TRUE(eventually([&] { return checkpoints() == 11 * 99; }, 60s))
      << a.process->stderr_text();
  const std::size_t before = refusals();
  ASSERT_GE(before, 1U) << a.process->stderr_text();
  ASSERT_TRUE(eventually([&] { return refusals() > before; }, 30s)) << a.process->stderr_text();
  EXPECT_EQ(kusto.count("T"), kEvents - kEvents / 12);
  EXPECT_EQ(checkpoints(), 11 * 99); // none for partition 5
  EXPECT_NE(a.process->stderr_text().find("metadata sequencenumber 'five' is not a number"),
            std::string::npos)
      << a.process->stderr_text();
  for (int p = 0; p < 12; ++p) {
    if (p != 5) {
      EXPECT_EQ(a.process->stderr_text().find("partition " + std::to_string(p) + ": claimed but"),
                std::string::npos)
          << p;
    }
  }
  stop(*a.process);
}

TEST_F(Replicas, ShareAHubWithAnOfficialSdkProcessorAndResumeAfterItsCheckpoints) {
  constexpr int kEvents = 60'000;
  std::optional<Services> services;
  // 500 ms a streaming request and 100-event batches: a replica needs 25 s for a partition's
  // 5,000 events, so the partitions the SDK processor takes over still hold most of theirs.
  ASSERT_NO_FATAL_FAILURE(start_services(services, kEvents, 500));
  auto& [hub, kusto] = *services;
  const std::string storage = kusto.azurite()->blob_connection_string();
  const auto sdk_store = [&](const std::string& command) {
    return nlohmann::json::parse(checkpoint::official_store({command, storage, "checkpoints",
                                                             "127.0.0.1", "telemetry", "$Default"}),
                                 nullptr, false);
  };
  // The container exists before anyone lists it, as an operator creates it before the first
  // processor starts (the replicas would create it too, but not necessarily first).
  ASSERT_EQ(checkpoint::official_store({"create", storage, "checkpoints"}), "created");
  // Owner id -> the partitions the ownership blobs give it.
  const auto owners = [&] {
    std::map<std::string, std::set<std::string>> out;
    const auto listed = sdk_store("owners");
    for (const auto& o : listed.is_array() ? listed : nlohmann::json::array()) {
      out[o.at("ownerId").get<std::string>()].insert(o.at("partitionId").get<std::string>());
    }
    return out;
  };
  auto a = start_replica(hub, kusto, storage, "replica-a");
  auto b = start_replica(hub, kusto, storage, "replica-b");
  ChildProcess sdk({"node", HUB2KUSTO_SOURCE_DIR "/tests/integration/bridge/sdk_processor.js",
                    hub.connection_string(), storage, "checkpoints", "sdk-processor", "1000",
                    "4000"});
  std::map<std::string, std::set<std::string>> held;
  ASSERT_TRUE(eventually(
      [&] {
        held = owners();
        return held["replica-a"].size() == 4 && held["replica-b"].size() == 4 &&
               held["sdk-processor"].size() == 4 &&
               owned({&a, &b}) == std::map<std::string, int>{{"replica-a", 4}, {"replica-b", 4}};
      },
      60s))
      << a.process->stderr_text() << b.process->stderr_text() << sdk.stderr_text();
  // The SDK processor reads (and checkpoints) the four it holds.
  std::set<std::string> checkpointed;
  while (!std::includes(checkpointed.begin(), checkpointed.end(), held["sdk-processor"].begin(),
                        held["sdk-processor"].end())) {
    const auto line = sdk.read_line(60s);
    ASSERT_TRUE(line) << "checkpointed in " << nlohmann::json(checkpointed).dump() << " of "
                      << nlohmann::json(held["sdk-processor"]).dump() << "; owners now "
                      << nlohmann::json(owners()).dump() << "\n"
                      << sdk.stderr_text();
    checkpointed.insert(nlohmann::json::parse(*line).at("checkpointed").get<std::string>());
  }
  const auto a_before = a.process->stderr_text().size();
  const auto b_before = b.process->stderr_text().size();
  ::kill(sdk.pid(), SIGTERM);
  std::optional<std::string> summary;
  while ((summary = sdk.read_line(60s)) && !summary->starts_with("{\"lines\"")) {
  }
  ASSERT_TRUE(summary) << "no summary; exit status " << sdk.wait_exit(5s) << "\n"
                       << sdk.stderr_text();
  ASSERT_EQ(sdk.wait_exit(30s), 0) << sdk.stderr_text();
  // Its partitions go to the replicas (six each), each resumed after the SDK's checkpoint.
  ASSERT_TRUE(eventually([&] {
    return owned({&a, &b}) == std::map<std::string, int>{{"replica-a", 6}, {"replica-b", 6}};
  })) << a.process->stderr_text()
      << b.process->stderr_text();
  const auto sdk_read = nlohmann::json::parse(*summary);
  // A replica counts a partition as owned when it claims it, and says where it resumes a moment
  // later, when the partition's checkpoint is read.
  const auto taken_over = [&] {
    return a.process->stderr_text().substr(a_before) + b.process->stderr_text().substr(b_before);
  };
  for (const auto& partition : held["sdk-processor"]) {
    const auto after = sdk_read.at("checkpoints").at(partition).get<long long>();
    const std::string resumed =
        "partition " + partition + ": resuming after sequence number " + std::to_string(after);
    EXPECT_TRUE(eventually([&] { return taken_over().find(resumed) != std::string::npos; }))
        << "partition " << partition << "\n"
        << taken_over();
  }
  // Between the SDK processor and Kusto, every event arrives.
  std::set<long long> read_by_sdk;
  for (const auto& line : sdk_read.at("lines")) {
    read_by_sdk.insert(line.get<long long>());
  }
  const auto arrived = [&] {
    std::set<long long> all = read_by_sdk;
    const auto r = kusto.query("T | summarize count() by line", "", 120s);
    for (const auto& row : r.at("Tables").at(0).at("Rows")) {
      all.insert(row.at(0).get<long long>());
    }
    return all.size();
  };
  ASSERT_TRUE(eventually([&] { return arrived() == kEvents; }, 180s))
      << a.process->stderr_text().substr(0, 3000);
  stop(*a.process, 60s);
  stop(*b.process, 60s);
  std::printf("[ sdk group  ] the SDK processor read %zu events of its 4 partitions; the replicas "
              "took them over after its checkpoints\n",
              read_by_sdk.size());
}

} // namespace
} // namespace hub2kusto::bridge_test
