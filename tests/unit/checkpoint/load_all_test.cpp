#include "checkpoint/load_all.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>

#include "support/partition_ids.hpp"

namespace hub2kusto::checkpoint {
namespace {

using testing::partition_ids;

using namespace std::chrono_literals;

// A store whose reads wait until `expected` of them are in flight at once (or give up after a
// deadline, then say so), so a test sees whether reads overlap.
class RendezvousStore final : public CheckpointStore {
public:
  explicit RendezvousStore(int expected) : expected_(expected) {}

  Result<std::monostate> prepare() override { return std::monostate{}; }

  Result<std::optional<Checkpoint>> load(const PartitionId& partition) override {
    std::unique_lock lock(mutex_);
    ++waiting_;
    most_ = std::max(most_, waiting_);
    arrived_.notify_all();
    const bool met = arrived_.wait_for(lock, 10s, [&] { return most_ >= expected_; });
    --waiting_;
    if (!met) {
      return failure("reads did not overlap");
    }
    if (partition.value() == fail_) {
      return failure("cannot read checkpoint blob 'c/ns/hub/$default/checkpoint/" + fail_ + "'");
    }
    if (partition.value() == "2") {
      return std::optional<Checkpoint>(); // nothing stored yet
    }
    return std::optional(Checkpoint{SequenceNumber(std::stoll(partition.value()) * 10),
                                    Offset(partition.value() + "00")});
  }
  Saved save(const PartitionId&, const Checkpoint&) override { return std::monostate{}; }

  std::string fail_;
  int most_ = 0;

private:
  std::mutex mutex_;
  std::condition_variable arrived_;
  int waiting_ = 0;
  const int expected_;
};

TEST(LoadAll, ReadsEveryPartitionsCheckpointConcurrentlyInPartitionOrder) {
  RendezvousStore store(8); // each read waits for all eight to be in flight
  const auto loaded = load_all(store, partition_ids(8));
  ASSERT_TRUE(loaded) << loaded.error().message;
  ASSERT_EQ(loaded.value().size(), 8U);
  EXPECT_EQ(store.most_, 8);
  for (int i = 0; i < 8; ++i) {
    if (i == 2) {
      EXPECT_FALSE(loaded.value()[i].has_value());
      continue;
    }
    ASSERT_TRUE(loaded.value()[i].has_value()) << i;
    EXPECT_EQ(loaded.value()[i]->sequence_number.value(), i * 10);
    EXPECT_EQ(loaded.value()[i]->offset.value(), std::to_string(i) + "00");
  }
}

TEST(LoadAll, AtMostParallelReadsAreInFlight) {
  RendezvousStore store(3);
  const auto loaded = load_all(store, partition_ids(9), 3); // three waves of three
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(store.most_, 3);
  EXPECT_EQ(loaded.value()[8]->sequence_number.value(), 80);
}

TEST(LoadAll, AFailedReadIsReportedAsTheStoreGaveIt) {
  RendezvousStore store(4);
  store.fail_ = "3";
  const auto loaded = load_all(store, partition_ids(4));
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().message, "cannot read checkpoint blob 'c/ns/hub/$default/checkpoint/3'");
}

} // namespace
} // namespace hub2kusto::checkpoint
