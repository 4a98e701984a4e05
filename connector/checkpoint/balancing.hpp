#pragma once
// Partition load balancing as the Azure SDKs' event processors do it (docs/protocols.md,
// "Ownership and load balancing"), so hub2kusto replicas and SDK processors that share a
// consumer group and a checkpoint container divide the partitions between them. Each replica
// runs a cycle every update interval: it lists the ownership blobs, keeps what it owns (renewal
// is the caller's), and asks choose_claims() what to take this cycle.
//
// Pure: the ownerships in, the claims out; the randomness is injected.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/random.hpp"
#include "common/types.hpp"

namespace hub2kusto::checkpoint {

// `balanced` (the JS and Python default): at most one claim per cycle, so replicas converge
// without a thundering herd. `greedy` (.NET's and Java's): everything the share allows at once.
enum class BalancingStrategy { balanced, greedy };

// One ownership blob as listed.
struct Ownership {
  PartitionId partition;
  std::string owner; // empty: released, claimable at once
  std::string etag;  // what a claim must match
  // Since the blob was last written (a claim or a renewal), on the storage service's clock;
  // none when the service did not say, which counts as fresh.
  std::optional<std::chrono::milliseconds> age;
};

// A partition to claim this cycle.
struct Claim {
  PartitionId partition;
  std::optional<std::string> etag; // none: no ownership blob yet, create it
  std::string previous_owner;      // not empty: taken from this live owner (a steal)
};

// An ownership is live while it has an owner and was written within `expiration`.
bool is_live(const Ownership& ownership, std::chrono::milliseconds expiration);

// The claims `self` makes this cycle over `partitions`, given every ownership listed:
// - owners are the live ownerships grouped by owner, `self` counted even with none;
//   with P partitions and N owners each may hold P / N, and P mod N of them one more;
// - when every owner holds its share already, nothing;
// - else `self` aims at P / N + 1 while fewer than P mod N others hold that many, else P / N;
// - unowned, released and expired partitions first, chosen at random;
// - then steals, from the owner holding most first: from owners above P / N + 1 always, from
//   owners at P / N + 1 only while `self` is below P / N (a steal never makes the victim
//   poorer than the thief);
// - `balanced` claims at most one partition, `greedy` all it needs.
std::vector<Claim> choose_claims(const std::vector<PartitionId>& partitions,
                                 const std::vector<Ownership>& ownerships, const std::string& self,
                                 std::chrono::milliseconds expiration, BalancingStrategy strategy,
                                 RandomSource& random);

} // namespace hub2kusto::checkpoint
