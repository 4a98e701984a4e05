// BlobOwnershipStore against Azurite: every claim is conditional, so of two claimants exactly
// one wins, a stale renewal loses quietly, and a release leaves the partition claimable; the
// official JS blob checkpoint store reads our ownerships and we read its claims.
#include "checkpoint/blob_ownership_store.hpp"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "checkpoint/balancer.hpp"
#include "checkpoint/official_store.hpp"
#include "checkpoint/scope.hpp"
#include "support/kusto_emulator.hpp"
#include "support/manual_clock.hpp"

namespace hub2kusto::checkpoint {
namespace {

using namespace std::chrono_literals;
using testing::Azurite;
using testing::ChildProcess;

const char* const kContainer = "ownership";

class Ownerships : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_TRUE(azurite_.running()) << azurite_.stderr_text();
    ASSERT_TRUE(blobs_.ensure_container(kContainer));
  }
  // The listed ownership of `partition`; fails the test when there is none.
  Ownership listed(const std::string& partition) {
    auto all = store_.list();
    if (!all) {
      ADD_FAILURE() << all.error().message;
      return {};
    }
    for (auto& o : *all) {
      if (o.partition.value() == partition) {
        return o;
      }
    }
    ADD_FAILURE() << "no ownership of partition " << partition;
    return {};
  }
  std::vector<std::string> sdk_args(const std::string& command) {
    return {command,     azurite_.blob_connection_string(),
            kContainer,  "MyNS.servicebus.windows.net",
            "Telemetry", "$Default"};
  }

  Azurite azurite_;
  SystemClock clock_;
  std::unique_ptr<azure::HttpTransport> transport_ = azure::make_http_transport();
  azure::BlobClient blobs_{
      azure::parse_storage_connection_string(azurite_.blob_connection_string()).value(),
      *transport_, clock_};
  BlobOwnershipStore store_{blobs_, kContainer, kScope};
};

// A replica claims one partition per quick cycle (balanced), and renews what it holds once per
// update interval, not in every quick cycle: at hundreds of partitions that would be hundreds
// of writes a second.
TEST_F(Ownerships, ABalancerRenewsEachPartitionOncePerUpdateIntervalNotInEveryCycle) {
  ManualClock clock(std::chrono::system_clock::now());
  SystemRandom random;
  std::vector<std::string> gained;
  Balancer balancer(
      store_, {PartitionId("0"), PartitionId("1"), PartitionId("2"), PartitionId("3")},
      {.owner_id = "replica-a", .update_interval = 10s, .expiration = 120s}, clock, random,
      {[&](const std::vector<PartitionId>& ids) {
         for (const auto& p : ids) {
           gained.push_back(p.value());
         }
       },
       [](const PartitionId&) {}});
  const auto etags = [&] {
    std::map<std::string, std::string> out;
    auto listed = store_.list();
    EXPECT_TRUE(listed) << listed.error().message;
    for (const auto& o : listed ? *listed : std::vector<Ownership>()) {
      out[o.partition.value()] = o.etag;
    }
    return out;
  };
  for (int cycle = 0; cycle < 4; ++cycle) { // claimed at 0, 1, 2 and 3 s
    EXPECT_TRUE(balancer.cycle()) << cycle;
    clock.advance(1s);
  }
  EXPECT_EQ(gained.size(), 4U);
  const auto claimed = etags();
  EXPECT_FALSE(balancer.cycle()); // at 4 s: nothing to claim, nothing due
  EXPECT_EQ(etags(), claimed);
  clock.advance(6s); // at 10 s: the first claim is due
  balancer.cycle();
  const auto renewed = etags();
  int changed = 0;
  for (const auto& [partition, etag] : renewed) {
    changed += etag != claimed.at(partition) ? 1 : 0;
  }
  EXPECT_EQ(changed, 1);
  clock.advance(10s); // at 20 s: all four
  balancer.cycle();
  for (const auto& [partition, etag] : etags()) {
    EXPECT_NE(etag, renewed.at(partition)) << partition;
  }
  EXPECT_EQ(balancer.metrics().losses.load(), 0U);
}

// A greedy replica that wins every partition in its first cycle tells the bridge of them in one
// call, so it reads their checkpoints in one listing, not one request each; a restart adopts
// them together too.
TEST_F(Ownerships, AGreedyBalancerHandsEveryPartitionItWonInACycleOverTogether) {
  ManualClock clock(std::chrono::system_clock::now());
  SystemRandom random;
  const std::vector<PartitionId> partitions{PartitionId("0"), PartitionId("1"), PartitionId("2"),
                                            PartitionId("3")};
  std::vector<std::vector<std::string>> calls;
  const Balancer::Hooks hooks{[&](const std::vector<PartitionId>& ids) {
                                std::vector<std::string> call;
                                for (const auto& p : ids) {
                                  call.push_back(p.value());
                                }
                                calls.push_back(call);
                              },
                              [](const PartitionId&) {}};
  const BalancerOptions options{.owner_id = "replica-a",
                                .update_interval = 10s,
                                .expiration = 120s,
                                .strategy = BalancingStrategy::greedy};
  {
    Balancer balancer(store_, partitions, options, clock, random, hooks);
    EXPECT_TRUE(balancer.cycle()); // claimed: the next cycle comes soon
    EXPECT_FALSE(balancer.cycle());
  }
  ASSERT_EQ(calls.size(), 1U);
  std::sort(calls[0].begin(), calls[0].end());
  EXPECT_EQ(calls[0], (std::vector<std::string>{"0", "1", "2", "3"}));
  calls.clear();
  Balancer restarted(store_, partitions, options, clock, random, hooks);
  EXPECT_FALSE(restarted.cycle()); // adopted, nothing claimed: no hurry for the next cycle
  ASSERT_EQ(calls.size(), 1U);
  EXPECT_EQ(calls[0].size(), 4U);
}

TEST_F(Ownerships, OfTwoFirstClaimsExactlyOneWins) {
  EXPECT_EQ(store_.blob_name(PartitionId("0")),
            "myns.servicebus.windows.net/telemetry/$default/ownership/0");
  const auto first = store_.claim(PartitionId("0"), "pod-a", std::nullopt);
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_TRUE(*first);
  const auto second = store_.claim(PartitionId("0"), "pod-b", std::nullopt);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_FALSE(*second); // the blob exists: If-None-Match: * fails, quietly
  const auto o = listed("0");
  EXPECT_EQ(o.owner, "pod-a");
  EXPECT_EQ(o.etag, **first);
  ASSERT_TRUE(o.age);
  EXPECT_LT(*o.age, 60s); // written just now, on the service's clock
}

TEST_F(Ownerships, AStaleClaimLosesAndAReleaseLeavesThePartitionClaimable) {
  const auto a = store_.claim(PartitionId("3"), "pod-a", std::nullopt);
  ASSERT_TRUE(a && *a);
  // pod-b lists, then steals with the ETag it saw.
  const auto b = store_.claim(PartitionId("3"), "pod-b", listed("3").etag);
  ASSERT_TRUE(b) << b.error().message;
  ASSERT_TRUE(*b);
  // pod-a's renewal carries the ETag it wrote: no longer current, so it lost the partition.
  const auto renewal = store_.claim(PartitionId("3"), "pod-a", **a);
  ASSERT_TRUE(renewal);
  EXPECT_FALSE(*renewal);
  const auto stale_release = store_.release(PartitionId("3"), **a);
  ASSERT_TRUE(stale_release);
  EXPECT_FALSE(*stale_release);
  EXPECT_EQ(listed("3").owner, "pod-b");
  // pod-b renews and then releases with the ETags it holds.
  const auto renewed = store_.claim(PartitionId("3"), "pod-b", **b);
  ASSERT_TRUE(renewed && *renewed);
  EXPECT_NE(**renewed, **b);
  const auto released = store_.release(PartitionId("3"), **renewed);
  ASSERT_TRUE(released && *released);
  const auto o = listed("3");
  EXPECT_EQ(o.owner, "");
  EXPECT_FALSE(is_live(o, 120s)); // claimable at once
}

TEST_F(Ownerships, TheOfficialBlobCheckpointStoreReadsOursAndWeReadItsClaims) {
  for (const char* partition : {"0", "1"}) {
    const auto claimed = store_.claim(PartitionId(partition), "hub2kusto-0", std::nullopt);
    ASSERT_TRUE(claimed && *claimed) << partition;
  }
  EXPECT_EQ(nlohmann::json::parse(official_store(sdk_args("owners"))),
            nlohmann::json::parse(R"([{"partitionId":"0","ownerId":"hub2kusto-0"},
                                      {"partitionId":"1","ownerId":"hub2kusto-0"}])"));
  // The SDK processor claims partition 2 (new) and steals 1 with the ETag it listed.
  auto args = sdk_args("claim");
  args.insert(args.end(), {"sdk-processor", "1", "2"});
  EXPECT_EQ(nlohmann::json::parse(official_store(args)), nlohmann::json::parse(R"(["1","2"])"));
  EXPECT_EQ(listed("0").owner, "hub2kusto-0");
  EXPECT_EQ(listed("1").owner, "sdk-processor");
  EXPECT_EQ(listed("2").owner, "sdk-processor");
  // Checkpoints beside them are not ownerships.
  ASSERT_TRUE(blobs_.set_metadata(kContainer,
                                  "myns.servicebus.windows.net/telemetry/$default/checkpoint/0",
                                  {{"sequencenumber", "1"}, {"offset", "1"}}));
  const auto all = store_.list();
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 3U);
}

} // namespace
} // namespace hub2kusto::checkpoint
