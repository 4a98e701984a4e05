#include "checkpoint/checkpointer.hpp"
#include "support/fake_checkpoint_store.hpp"
#include "support/manual_clock.hpp"

#include <memory>
#include <optional>

#include <gtest/gtest.h>

namespace hub2kusto::checkpoint {
namespace {

using namespace std::chrono_literals;

// Tracks events first..last as batch `token` (offset = 100 x sequence number).
void batch(PartitionCheckpointer& cp, std::int64_t first, std::int64_t last, BatchToken token) {
  for (std::int64_t n = first; n <= last; ++n) {
    cp.track(SequenceNumber(n), Offset(std::to_string(n * 100)), token);
  }
}

class Checkpointer : public ::testing::Test {
protected:
  ManualClock clock_;
  fakes::FakeCheckpointStore store_;
  PartitionCheckpointer cp_{PartitionId("0"), store_, clock_, 5s};
};

TEST_F(Checkpointer, ALaterBatchFinishingFirstDoesNotMoveTheWatermark) {
  batch(cp_, 0, 9, 0);
  batch(cp_, 10, 19, 10);
  batch(cp_, 20, 29, 20);
  cp_.complete(10);
  EXPECT_FALSE(cp_.watermark().has_value());
  cp_.complete(20);
  EXPECT_FALSE(cp_.watermark().has_value());
  cp_.complete(0);
  ASSERT_TRUE(cp_.watermark().has_value());
  EXPECT_EQ(cp_.watermark()->sequence_number.value(), 29); // the whole prefix at once
  EXPECT_EQ(cp_.watermark()->offset.value(), "2900");
  EXPECT_EQ(cp_.pending(), 0U);
}

TEST_F(Checkpointer, InterleavedBatchesOfTwoRoutesMoveTheWatermarkOnlyPastFinishedEvents) {
  // Events 1..6 alternate between batch A (odd) and batch B (even).
  for (std::int64_t n = 1; n <= 6; ++n) {
    cp_.track(SequenceNumber(n), Offset(std::to_string(n)), n % 2 == 1 ? 100 : 200);
  }
  cp_.complete(200);
  EXPECT_FALSE(cp_.watermark().has_value()); // event 1 (A) still pending
  cp_.complete(100);
  EXPECT_EQ(cp_.watermark()->sequence_number.value(), 6);
  EXPECT_EQ(cp_.watermark()->offset.value(), "6");
}

TEST_F(Checkpointer, RunsOfOneBatchBetweenOthersStopTheWatermarkAtTheirLastFinishedEvent) {
  batch(cp_, 1, 3, 100);                            // A
  batch(cp_, 4, 5, 200);                            // B
  batch(cp_, 6, 8, 100);                            // A again, after B
  cp_.track_done(SequenceNumber(9), Offset("900")); // dead-lettered before batching
  batch(cp_, 10, 12, 300);                          // C
  EXPECT_EQ(cp_.pending(), 12U);
  cp_.complete(100);
  EXPECT_EQ(cp_.watermark()->sequence_number.value(), 3); // B's 4 is next
  EXPECT_EQ(cp_.watermark()->offset.value(), "300");
  EXPECT_EQ(cp_.pending(), 9U);
  cp_.complete(200);
  EXPECT_EQ(cp_.watermark()->sequence_number.value(), 9); // through A's second run and 9
  EXPECT_EQ(cp_.watermark()->offset.value(), "900");
  EXPECT_EQ(cp_.pending(), 3U);
  cp_.complete(300);
  EXPECT_EQ(cp_.watermark()->sequence_number.value(), 12);
  EXPECT_EQ(cp_.pending(), 0U);
}

TEST_F(Checkpointer, AnEventDeadLetteredBeforeBatchingFinishesAtOnce) {
  cp_.track_done(SequenceNumber(0), Offset("0"));
  EXPECT_EQ(cp_.watermark()->sequence_number.value(), 0);
  cp_.track(SequenceNumber(1), Offset("1"), 7);
  cp_.track_done(SequenceNumber(2), Offset("2"));
  EXPECT_EQ(cp_.watermark()->sequence_number.value(), 0); // 1 is still in batch 7
  cp_.complete(7);
  EXPECT_EQ(cp_.watermark()->sequence_number.value(), 2);
}

TEST_F(Checkpointer, SavesAreThrottledToTheIntervalAndForwardOnly) {
  batch(cp_, 0, 9, 0);
  cp_.complete(0);
  EXPECT_TRUE(cp_.maybe_save().value());
  EXPECT_EQ(store_.load(PartitionId("0")).value()->sequence_number.value(), 9);
  batch(cp_, 10, 19, 10);
  cp_.complete(10);
  EXPECT_FALSE(cp_.maybe_save().value()); // within 5 s of the last save
  clock_.advance(5s);
  EXPECT_TRUE(cp_.maybe_save().value());
  EXPECT_EQ(store_.load(PartitionId("0")).value()->sequence_number.value(), 19);
  clock_.advance(5s);
  EXPECT_FALSE(cp_.maybe_save().value()); // nothing new
  EXPECT_EQ(store_.save_attempts(), 2);
}

TEST_F(Checkpointer, KnowsWhenTheEventAtTheStoredPositionWasEnqueued) {
  const auto at = [](int s) {
    return PartitionCheckpointer::EnqueuedTime(std::chrono::seconds(s));
  };
  cp_.track(SequenceNumber(1), Offset("1"), 7, at(100));
  cp_.track(SequenceNumber(2), Offset("2"), 7, at(101));
  cp_.track_done(SequenceNumber(3), Offset("3"), at(102));
  cp_.track(SequenceNumber(4), Offset("4"), 8, at(103));
  EXPECT_FALSE(cp_.saved_enqueued_time().has_value());
  cp_.complete(7);
  ASSERT_TRUE(cp_.flush());
  EXPECT_EQ(cp_.saved()->sequence_number.value(), 3);
  EXPECT_EQ(cp_.saved_enqueued_time(), at(102));
  cp_.complete(8); // the watermark moves; the stored position (and its time) only when saved
  EXPECT_EQ(cp_.saved_enqueued_time(), at(102));
  ASSERT_TRUE(cp_.flush());
  EXPECT_EQ(cp_.saved_enqueued_time(), at(103));
}

TEST_F(Checkpointer, FlushSavesAtOnce) {
  batch(cp_, 0, 4, 0);
  cp_.complete(0);
  ASSERT_TRUE(cp_.maybe_save().value());
  batch(cp_, 5, 9, 5);
  cp_.complete(5);
  EXPECT_TRUE(cp_.flush().value()); // shutdown does not wait for the interval
  EXPECT_EQ(store_.load(PartitionId("0")).value()->sequence_number.value(), 9);
}

// After another owner took the partition, nothing this process finishes moves its checkpoint.
TEST_F(Checkpointer, OnceTheOwnershipFenceIsWithdrawnNothingIsSaved) {
  auto fence = std::make_shared<OwnershipFence>();
  const std::optional<Checkpoint> stored = Checkpoint{SequenceNumber(0), Offset("0")};
  PartitionCheckpointer owned{PartitionId("0"), store_, clock_, 5s, stored, fence};
  batch(owned, 1, 4, 1);
  owned.complete(1);
  ASSERT_TRUE(owned.flush().value());
  batch(owned, 5, 9, 5);
  owned.complete(5);
  fence->withdraw();
  EXPECT_FALSE(owned.flush().value());
  clock_.advance(5s);
  EXPECT_FALSE(owned.maybe_save().value());
  EXPECT_EQ(store_.load(PartitionId("0")).value()->sequence_number.value(), 4);
}

TEST_F(Checkpointer, AFailedSaveKeepsTheOldPositionAndIsTriedAgain) {
  batch(cp_, 0, 9, 0);
  cp_.complete(0);
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
  batch(resumed, 10, 19, 10); // a replay of what was already checkpointed
  EXPECT_EQ(resumed.pending(), 0U);
  batch(resumed, 20, 29, 20);
  resumed.complete(20);
  EXPECT_EQ(resumed.watermark()->sequence_number.value(), 29);
  EXPECT_TRUE(resumed.flush().value());
}

} // namespace
} // namespace hub2kusto::checkpoint
