#include "checkpoint/checkpointer.hpp"

#include <gtest/gtest.h>

namespace hub2kusto::checkpoint {
namespace {

using namespace std::chrono_literals;

BatchRange range(std::int64_t first, std::int64_t last) {
  return {SequenceNumber(first), SequenceNumber(last), Offset(std::to_string(last * 100))};
}

class Checkpointer : public ::testing::Test {
protected:
  ManualClock clock_;
  MemoryCheckpointStore store_;
  PartitionCheckpointer cp_{PartitionId("0"), store_, clock_, 5s};
};

TEST_F(Checkpointer, ALaterBatchFinishingFirstDoesNotMoveTheWatermark) {
  cp_.begin(range(0, 9));
  cp_.begin(range(10, 19));
  cp_.begin(range(20, 29));
  cp_.complete(SequenceNumber(10));
  EXPECT_FALSE(cp_.watermark().has_value());
  cp_.complete(SequenceNumber(20));
  EXPECT_FALSE(cp_.watermark().has_value());
  cp_.complete(SequenceNumber(0));
  ASSERT_TRUE(cp_.watermark().has_value());
  EXPECT_EQ(cp_.watermark()->sequence_number.value(), 29); // the whole prefix at once
  EXPECT_EQ(cp_.watermark()->offset.value(), "2900");
  EXPECT_EQ(cp_.pending(), 0U);
}

TEST_F(Checkpointer, SavesAreThrottledToTheIntervalAndForwardOnly) {
  cp_.begin(range(0, 9));
  cp_.complete(SequenceNumber(0));
  EXPECT_TRUE(cp_.maybe_save().value());
  EXPECT_EQ(store_.load(PartitionId("0")).value()->sequence_number.value(), 9);
  cp_.begin(range(10, 19));
  cp_.complete(SequenceNumber(10));
  EXPECT_FALSE(cp_.maybe_save().value()); // within 5 s of the last save
  clock_.advance(5s);
  EXPECT_TRUE(cp_.maybe_save().value());
  EXPECT_EQ(store_.load(PartitionId("0")).value()->sequence_number.value(), 19);
  clock_.advance(5s);
  EXPECT_FALSE(cp_.maybe_save().value()); // nothing new
  EXPECT_EQ(store_.save_attempts(), 2);
}

TEST_F(Checkpointer, FlushSavesAtOnce) {
  cp_.begin(range(0, 4));
  cp_.complete(SequenceNumber(0));
  ASSERT_TRUE(cp_.maybe_save().value());
  cp_.begin(range(5, 9));
  cp_.complete(SequenceNumber(5));
  EXPECT_TRUE(cp_.flush().value()); // shutdown does not wait for the interval
  EXPECT_EQ(store_.load(PartitionId("0")).value()->sequence_number.value(), 9);
}

TEST_F(Checkpointer, AFailedSaveKeepsTheOldPositionAndIsTriedAgain) {
  cp_.begin(range(0, 9));
  cp_.complete(SequenceNumber(0));
  store_.fail_saves(1);
  EXPECT_FALSE(cp_.maybe_save().ok());
  EXPECT_FALSE(cp_.saved().has_value());
  EXPECT_FALSE(store_.load(PartitionId("0")).value().has_value());
  clock_.advance(5s);
  EXPECT_TRUE(cp_.maybe_save().value());
  EXPECT_EQ(cp_.saved()->sequence_number.value(), 9);
}

TEST_F(Checkpointer, BatchesBehindTheStoredPositionAreIgnored) {
  PartitionCheckpointer resumed(PartitionId("0"), store_, clock_, 5s,
                                Checkpoint{SequenceNumber(19), Offset("1900")});
  resumed.begin(range(10, 19)); // a replay of what was already checkpointed
  EXPECT_EQ(resumed.pending(), 0U);
  resumed.begin(range(20, 29));
  resumed.complete(SequenceNumber(20));
  EXPECT_EQ(resumed.watermark()->sequence_number.value(), 29);
  EXPECT_TRUE(resumed.flush().value());
}

} // namespace
} // namespace hub2kusto::checkpoint
