// Several hub2kusto replicas on one hub, sharing its partitions through ownership blobs in
// Azurite (docs/protocols.md, "Ownership and load balancing"): they divide the partitions,
// a stopped replica's partitions are released and taken at once, a killed one's are taken
// after they expire, and every event arrives.
#include <signal.h>

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "bridge/bridge_fixture.hpp"

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
                        const std::string& storage, const std::string& id) {
    auto env = environment(hub, kusto);
    std::erase_if(env, [](const auto& kv) { return kv.first == "HUB2KUSTO_CHECKPOINT_DIRECTORY"; });
    env.insert(env.end(), {{"HUB2KUSTO_CHECKPOINT_STORE", "blob"},
                           {"HUB2KUSTO_CHECKPOINT_BLOB_CONNECTION_STRING", storage},
                           {"HUB2KUSTO_CHECKPOINT_CONTAINER", "checkpoints"},
                           {"HUB2KUSTO_OWNERSHIP_OWNER_ID", id},
                           {"HUB2KUSTO_OWNERSHIP_UPDATE_INTERVAL", "1s"},
                           {"HUB2KUSTO_OWNERSHIP_EXPIRATION", "4s"},
                           {"HUB2KUSTO_CONNECTIONS_0_BATCHING_MAX_EVENTS", "100"}});
    return {id, ops_port_,
            std::make_unique<ChildProcess>(std::vector<std::string>{HUB2KUSTO_BINARY, "run"}, env)};
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
  Services services({"--hub", "telemetry:12", "--preload", distinct_events(kEvents),
                     "--preload-events", std::to_string(kEvents)});
  ASSERT_NO_FATAL_FAILURE(start(services));
  auto& [hub, kusto] = services;
  // 200 ms a streaming request and 100-event batches: the run lasts through the handovers.
  ASSERT_TRUE(kusto.fault("/faults/latency?ms=200"));
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
  std::printf("[ replicas   ] divided in %lld ms; released partitions taken in %lld ms; a killed "
              "replica's taken in %lld ms; %lld duplicates of %d events\n",
              static_cast<long long>(ms(divided)), static_cast<long long>(ms(taken_after_release)),
              static_cast<long long>(ms(taken_after_kill)), rows - kEvents, kEvents);
  RecordProperty("duplicates", std::to_string(rows - kEvents));
}

} // namespace
} // namespace hub2kusto::bridge_test
