#pragma once
// Balancer: one connection's ownership cycle (docs/protocols.md, "Ownership and load
// balancing"), on a thread of its own. Every update interval it
//
//   lists the ownership blobs
//   renews each partition it holds and last renewed an update interval ago or more (a
//     conditional write with the ETag it holds); a renewal that
//     loses (412), or an owner it does not know in the listing, or no renewal for a whole
//     expiration (storage unreachable: peers may have taken it) -> lost
//   adopts the partitions the listing gives its own owner id that it does not hold (claims of
//     this pod before a restart)
//   claims what choose_claims() says -> gained
//
// and runs the next cycle after a tenth of the interval when it just gained a partition (the
// share may allow more), so replicas that start together divide a hub within seconds. On stop it
// releases what it holds (an empty owner, claimable at once), after the bridge drained it.
//
// The bridge hears of changes through `Hooks`, on this thread: gained -> start the partitions
// after their checkpoints (all won in one cycle together, so a greedy start at hundreds of
// partitions reads their checkpoints in one listing, not one request each); lost -> stop it at
// once, deliver nothing more that was not in flight, write no checkpoint.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "checkpoint/balancing.hpp"
#include "checkpoint/blob_ownership_store.hpp"
#include "common/clock.hpp"
#include "common/metrics.hpp"
#include "common/random.hpp"

namespace hub2kusto::checkpoint {

struct BalancerOptions {
  std::string owner_id;
  std::chrono::milliseconds update_interval{10'000};
  std::chrono::milliseconds expiration{120'000};
  BalancingStrategy strategy = BalancingStrategy::balanced;
};

struct BalancerMetrics {
  std::atomic<std::int64_t> owned{0};
  std::atomic<std::uint64_t> cycles{0};
  std::atomic<std::uint64_t> cycle_failures{0}; // listing failed
  std::atomic<std::uint64_t> claims{0};         // won, stolen ones included
  std::atomic<std::uint64_t> claims_lost{0};    // another claimant was faster
  std::atomic<std::uint64_t> steals{0};         // won from a live owner
  std::atomic<std::uint64_t> losses{0};         // partitions taken from us
  std::atomic<std::uint64_t> releases{0};
  std::atomic<std::int64_t> last_cycle_us{0};
  void describe(MetricsSink& out, const MetricLabels& labels) const;
};

class Balancer {
public:
  struct Hooks {
    std::function<void(const std::vector<PartitionId>&)> gained; // once a cycle, when any
    std::function<void(const PartitionId&)> lost;
  };

  Balancer(BlobOwnershipStore& store, std::vector<PartitionId> partitions, BalancerOptions options,
           const Clock& clock, RandomSource& random, Hooks hooks);
  ~Balancer();
  Balancer(const Balancer&) = delete;
  Balancer& operator=(const Balancer&) = delete;

  // Starts the cycles on their own thread.
  void start();
  // Ends the cycles (the one running finishes); releases nothing. Any thread.
  void stop();
  // After stop() and after the partitions drained: gives up every partition held.
  void release_all();
  // One cycle; whether to run the next one soon (gained a partition, wants more). The thread's
  // body, public for tests.
  bool cycle();
  // A partition whose reading ended on its own (its link was stolen): no longer renewed.
  void forget(const PartitionId& partition);

  std::vector<PartitionId> held() const;
  const BalancerMetrics& metrics() const { return metrics_; }

private:
  struct Held {
    std::string etag;
    std::chrono::steady_clock::time_point renewed_at;
  };
  void lose(const std::string& partition, const std::string& why);
  void run();
  // The only writers of held_; each keeps the owned gauge equal to its size.
  void hold(const PartitionId& partition, std::string etag);
  bool drop(const std::string& partition);
  std::map<std::string, Held> drop_all();

  BlobOwnershipStore& store_;
  const std::vector<PartitionId> partitions_;
  const BalancerOptions options_;
  const Clock& clock_;
  RandomSource& random_;
  Hooks hooks_;
  BalancerMetrics metrics_;
  mutable std::mutex mutex_; // held_
  std::map<std::string, Held> held_;
  std::mutex wake_mutex_;
  std::condition_variable wake_;
  bool stopping_ = false; // under wake_mutex_
  std::thread thread_;
};

} // namespace hub2kusto::checkpoint
