// choose_claims() on tables of ownerships: shares and remainders, expired and released
// partitions before steals, steal order, both strategies, and replicas that converge through
// conditional claims as they would on one container.
#include "checkpoint/balancing.hpp"

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "support/partition_ids.hpp"

namespace hub2kusto::checkpoint {
namespace {

using testing::partition_ids;

using namespace std::chrono_literals;
constexpr std::chrono::milliseconds kExpiration = 120s;

// Draws from a seeded generator: runs repeat exactly.
class SeededRandom final : public RandomSource {
public:
  explicit SeededRandom(unsigned seed) : engine_(seed) {}
  double uniform() override { return std::uniform_real_distribution<double>(0.0, 1.0)(engine_); }

private:
  std::mt19937 engine_;
};

Ownership owned(int partition, const std::string& owner, std::chrono::milliseconds age = 5s) {
  return {PartitionId(std::to_string(partition)), owner,
          "\"etag-" + std::to_string(partition) + '"', age};
}

// Partitions first..last owned by `owner`.
void give(std::vector<Ownership>& table, int first, int last, const std::string& owner) {
  for (int p = first; p <= last; ++p) {
    table.push_back(owned(p, owner));
  }
}

std::set<std::string> ids(const std::vector<Claim>& claims) {
  std::set<std::string> out;
  for (const auto& c : claims) {
    out.insert(c.partition.value());
  }
  return out;
}

TEST(Balancing, ANewReplicaOnAnUnownedHubClaimsOnePartitionPerCycleWhenBalanced) {
  SeededRandom random(1);
  const auto claims =
      choose_claims(partition_ids(4), {}, "a", kExpiration, BalancingStrategy::balanced, random);
  ASSERT_EQ(claims.size(), 1U);
  EXPECT_FALSE(claims[0].etag); // no blob yet: created, If-None-Match: *
  EXPECT_TRUE(claims[0].previous_owner.empty());
}

TEST(Balancing, GreedyClaimsItsWholeShareAtOnceFromTheUnownedPartitions) {
  SeededRandom random(2);
  std::vector<Ownership> table;
  give(table, 0, 3, "b");
  give(table, 4, 7, "c");
  const auto claims =
      choose_claims(partition_ids(12), table, "a", kExpiration, BalancingStrategy::greedy, random);
  EXPECT_EQ(ids(claims), (std::set<std::string>{"8", "9", "10", "11"}));
  for (const auto& c : claims) {
    EXPECT_TRUE(c.previous_owner.empty()) << c.partition.value();
  }
}

TEST(Balancing, NothingIsClaimedWhenEveryOwnerHoldsItsShareRemainderIncluded) {
  SeededRandom random(3);
  std::vector<Ownership> even;
  give(even, 0, 3, "a");
  give(even, 4, 7, "b");
  give(even, 8, 11, "c");
  EXPECT_TRUE(
      choose_claims(partition_ids(12), even, "a", kExpiration, BalancingStrategy::greedy, random)
          .empty());
  // 13 over three owners: one of them holds the extra partition, and no one else wants it.
  std::vector<Ownership> remainder;
  give(remainder, 0, 3, "a");
  give(remainder, 4, 7, "b");
  give(remainder, 8, 12, "c");
  for (const std::string self : {"a", "b", "c"}) {
    EXPECT_TRUE(choose_claims(partition_ids(13), remainder, self, kExpiration,
                              BalancingStrategy::greedy, random)
                    .empty())
        << self;
  }
}

TEST(Balancing, TheRemainderGoesToAnOwnerWhileTooFewHoldIt) {
  SeededRandom random(4);
  std::vector<Ownership> table;
  give(table, 0, 1, "a");
  give(table, 2, 3, "b"); // partition 4 unowned: 5 over 2 owners, one may hold 3
  const auto claims =
      choose_claims(partition_ids(5), table, "a", kExpiration, BalancingStrategy::greedy, random);
  EXPECT_EQ(ids(claims), std::set<std::string>{"4"});
}

TEST(Balancing, ExpiredAndReleasedPartitionsAreTakenWithTheirEtagBeforeAnyoneIsRobbed) {
  std::vector<Ownership> table;
  give(table, 0, 2, "b");
  table.push_back(owned(3, "c", 121s)); // c stopped renewing: expired
  table.push_back(owned(4, ""));        // released on shutdown
  table.push_back(owned(5, "b"));
  SeededRandom random(5);
  const auto first =
      choose_claims(partition_ids(6), table, "a", kExpiration, BalancingStrategy::balanced, random);
  ASSERT_EQ(first.size(), 1U);
  EXPECT_TRUE(first[0].partition.value() == "3" || first[0].partition.value() == "4");
  EXPECT_EQ(first[0].etag, "\"etag-" + first[0].partition.value() + '"');
  EXPECT_TRUE(first[0].previous_owner.empty());
  // Greedy takes both, and then (b holding 4 of 6 against a's 2 + 1 wanted) nothing more: a's
  // share is 3.
  const auto all =
      choose_claims(partition_ids(6), table, "a", kExpiration, BalancingStrategy::greedy, random);
  ASSERT_EQ(all.size(), 3U);
  EXPECT_EQ(all[0].previous_owner, "");
  EXPECT_EQ(all[1].previous_owner, "");
  EXPECT_EQ(ids({all[0], all[1]}), (std::set<std::string>{"3", "4"}));
  EXPECT_EQ(all[2].previous_owner, "b"); // the third is stolen from the owner above its share
}

TEST(Balancing, AnOwnershipWithoutAKnownAgeCountsAsLive) {
  Ownership o = owned(0, "b");
  o.age.reset();
  EXPECT_TRUE(is_live(o, kExpiration));
  EXPECT_FALSE(is_live(owned(0, "b", 120s), kExpiration));
  EXPECT_FALSE(is_live(owned(0, ""), kExpiration));
}

TEST(Balancing, StealsFromTheOwnerHoldingMostFirst) {
  std::vector<Ownership> table;
  give(table, 0, 6, "b");  // 7
  give(table, 7, 11, "c"); // 5
  for (unsigned seed = 0; seed < 20; ++seed) {
    SeededRandom random(seed);
    const auto claims = choose_claims(partition_ids(12), table, "a", kExpiration,
                                      BalancingStrategy::balanced, random);
    ASSERT_EQ(claims.size(), 1U);
    EXPECT_EQ(claims[0].previous_owner, "b");
    EXPECT_EQ(claims[0].etag, "\"etag-" + claims[0].partition.value() + '"');
  }
  // Greedy wants 4: b goes down to 5 and c to 4 ... each steal from whoever holds most then.
  SeededRandom random(7);
  const auto claims =
      choose_claims(partition_ids(12), table, "a", kExpiration, BalancingStrategy::greedy, random);
  std::map<std::string, int> robbed;
  for (const auto& c : claims) {
    ++robbed[c.previous_owner];
  }
  EXPECT_EQ(claims.size(), 4U);
  EXPECT_EQ(robbed["b"], 3); // 7 -> 4
  EXPECT_EQ(robbed["c"], 1); // 5 -> 4
}

TEST(Balancing, AnOwnerOneAboveTheShareIsRobbedOnlyByAnOwnerBelowIt) {
  SeededRandom random(8);
  // 4 over 3: b and c at 2 (one above the share of 1), a at 0: a may take one.
  std::vector<Ownership> table;
  give(table, 0, 1, "b");
  give(table, 2, 3, "c");
  const auto claims =
      choose_claims(partition_ids(4), table, "a", kExpiration, BalancingStrategy::greedy, random);
  ASSERT_EQ(claims.size(), 1U);
  EXPECT_FALSE(claims[0].previous_owner.empty());
  // 7 over 3 (share 2, one may hold 3): b at 3, a and c at 2: nobody moves.
  std::vector<Ownership> settled;
  give(settled, 0, 2, "b");
  give(settled, 3, 4, "c");
  give(settled, 5, 6, "a");
  EXPECT_TRUE(
      choose_claims(partition_ids(7), settled, "a", kExpiration, BalancingStrategy::greedy, random)
          .empty());
}

TEST(Balancing, NoPartitionsNoClaims) {
  SeededRandom random(9);
  EXPECT_TRUE(choose_claims({}, {}, "a", kExpiration, BalancingStrategy::greedy, random).empty());
}

// Replicas that share one table as they share a container: each cycle every replica lists the
// same snapshot (they run at the same moment), then their claims land one after another, each
// only if the partition's ETag is still the one listed (or, for a first claim, if there is no
// blob yet): the losers of a race get nothing, as with If-Match and If-None-Match.
class Container {
public:
  std::vector<Ownership> list() const {
    std::vector<Ownership> out;
    for (const auto& [partition, entry] : table_) {
      out.push_back({PartitionId(partition), entry.owner, entry.etag, entry.age});
    }
    return out;
  }
  bool claim(const Claim& c, const std::string& owner) {
    auto it = table_.find(c.partition.value());
    if (c.etag ? it == table_.end() || it->second.etag != *c.etag : it != table_.end()) {
      return false;
    }
    table_[c.partition.value()] = {owner, "\"" + std::to_string(++version_) + '"', 0ms};
    return true;
  }
  void renew(const std::string& owner) { // every live owner's renewal
    for (auto& [partition, entry] : table_) {
      if (entry.owner == owner) {
        entry.etag = "\"" + std::to_string(++version_) + '"';
        entry.age = 0ms;
      }
    }
  }
  void age(std::chrono::milliseconds by) {
    for (auto& [partition, entry] : table_) {
      entry.age += by;
    }
  }
  std::map<std::string, int> counts() const {
    std::map<std::string, int> out;
    for (const auto& [partition, entry] : table_) {
      ++out[entry.owner];
    }
    return out;
  }

private:
  struct Entry {
    std::string owner;
    std::string etag;
    std::chrono::milliseconds age;
  };
  std::map<std::string, Entry> table_;
  int version_ = 0;
};

// One update interval: all list the same snapshot, then claim, then renew.
void cycle(Container& container, const std::vector<std::string>& replicas, int partition_count,
           BalancingStrategy strategy, RandomSource& random) {
  const auto snapshot = container.list();
  std::vector<std::pair<std::string, std::vector<Claim>>> wanted;
  for (const auto& r : replicas) {
    wanted.emplace_back(r, choose_claims(partition_ids(partition_count), snapshot, r, kExpiration,
                                         strategy, random));
  }
  for (const auto& [r, claims] : wanted) {
    for (const auto& c : claims) {
      container.claim(c, r);
    }
  }
  container.age(10s);
  for (const auto& r : replicas) {
    container.renew(r);
  }
}

TEST(Balancing, ThreeReplicasSplitTwelvePartitionsAndTheSurvivorsTakeOverADeadOnesShare) {
  for (const auto strategy : {BalancingStrategy::balanced, BalancingStrategy::greedy}) {
    for (unsigned seed = 0; seed < 10; ++seed) {
      SeededRandom random(seed);
      Container container;
      const std::vector<std::string> all = {"a", "b", "c"};
      // Balanced claims one a cycle: four cycles at least; racing claims cost a few more.
      for (int i = 0; i < 12; ++i) {
        cycle(container, all, 12, strategy, random);
      }
      EXPECT_EQ(container.counts(), (std::map<std::string, int>{{"a", 4}, {"b", 4}, {"c", 4}}))
          << "seed " << seed;
      // c dies: its ownerships age past the expiration, then a and b take them.
      for (int i = 0; i < 12 + 10; ++i) {
        cycle(container, {"a", "b"}, 12, strategy, random);
      }
      EXPECT_EQ(container.counts(), (std::map<std::string, int>{{"a", 6}, {"b", 6}}))
          << "seed " << seed;
    }
  }
}

} // namespace
} // namespace hub2kusto::checkpoint
