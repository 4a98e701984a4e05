#include "pipeline/batcher.hpp"
#include "support/manual_clock.hpp"

#include <gtest/gtest.h>

namespace hub2kusto::pipeline {
namespace {

using namespace std::chrono_literals;

hub::HubEvent sample_event(std::int64_t n, std::string body = "{}") {
  hub::HubEvent e;
  e.partition = PartitionId("3");
  e.sequence_number = SequenceNumber(n);
  e.offset = Offset(std::to_string(n * 10));
  e.body = std::move(body);
  return e;
}

Route route(const std::string& table) {
  Route r;
  r.database = DatabaseName("db");
  r.table = TableName(table);
  r.format = IngestFormat::json;
  return r;
}

class BatcherTest : public ::testing::Test {
protected:
  ManualClock clock_;
  Batcher batcher_{PartitionId("3"), BatchLimits{.max_bytes = 100, .max_events = 4, .linger = 1s},
                   clock_};
  std::vector<ReadyBatch> ready_;
};

TEST_F(BatcherTest, ABatchClosesAtItsEventCountWithADeterministicId) {
  for (int n = 10; n < 14; ++n) {
    batcher_.add(sample_event(n), route("T"), route("T").key(), {"{}\n", false, false}, ready_);
  }
  ASSERT_EQ(ready_.size(), 1U);
  EXPECT_EQ(ready_[0].batch.id, "3-10-13");
  EXPECT_EQ(ready_[0].batch.data, "{}\n{}\n{}\n{}\n");
  EXPECT_EQ(ready_[0].batch.records, 4U);
  EXPECT_EQ(ready_[0].batch.target.table.value(), "T");
  ASSERT_EQ(ready_[0].events.size(), 4U);
  EXPECT_EQ(ready_[0].events[3].offset.value(), "130");
  EXPECT_EQ(batcher_.open_batches(), 0U);
  EXPECT_EQ(batcher_.open_bytes(), 0U);
}

TEST_F(BatcherTest, ATableLimitedAfterATooLargeAnswerClosesSmallerBatchesForAWhile) {
  batcher_.limit_table("db.T", 30, clock_.steady_now() + 1min);
  const std::string twenty(19, 'x');
  batcher_.add(sample_event(1), route("T"), route("T").key(), {twenty + "\n", false, false},
               ready_);
  batcher_.add(sample_event(2), route("T"), route("T").key(), {twenty + "\n", false, false},
               ready_);
  ASSERT_EQ(ready_.size(), 1U); // 40 > 30
  // Another table keeps the configured limit.
  batcher_.add(sample_event(3), route("U"), route("U").key(), {twenty + "\n", false, false},
               ready_);
  batcher_.add(sample_event(4), route("U"), route("U").key(), {twenty + "\n", false, false},
               ready_);
  EXPECT_EQ(ready_.size(), 1U);
  // Once the while is over, T is back to 100 bytes.
  clock_.advance(2min);
  batcher_.add(sample_event(5), route("T"), route("T").key(), {twenty + "\n", false, false},
               ready_);
  EXPECT_EQ(ready_.size(), 1U);
}

TEST_F(BatcherTest, ABinaryFormatsEventTravelsAlone) {
  Route avro = route("T");
  avro.format = IngestFormat::apacheavro;
  batcher_.add(sample_event(1), avro, avro.key(), {"Obj\x01...", false, true}, ready_);
  batcher_.add(sample_event(2), avro, avro.key(), {"Obj\x01...", false, true}, ready_);
  ASSERT_EQ(ready_.size(), 2U);
  EXPECT_EQ(ready_[0].batch.id, "3-1-1");
  EXPECT_EQ(ready_[1].batch.id, "3-2-2");
}

TEST_F(BatcherTest, AnEventThatWouldPassTheSizeLimitStartsTheNextBatch) {
  const std::string sixty(59, 'x');
  batcher_.add(sample_event(1), route("T"), route("T").key(), {sixty + "\n", false, false}, ready_);
  EXPECT_TRUE(ready_.empty());
  batcher_.add(sample_event(2), route("T"), route("T").key(), {sixty + "\n", false, false},
               ready_); // 120 > 100
  ASSERT_EQ(ready_.size(), 1U);
  EXPECT_EQ(ready_[0].batch.id, "3-1-1");
  EXPECT_EQ(batcher_.open_bytes(), 60U);
}

TEST_F(BatcherTest, RoutesHaveTheirOwnBatchesAndTokens) {
  const auto a =
      batcher_.add(sample_event(1), route("A"), route("A").key(), {"{}\n", false, false}, ready_);
  const auto b =
      batcher_.add(sample_event(2), route("B"), route("B").key(), {"{}\n", false, false}, ready_);
  const auto a2 =
      batcher_.add(sample_event(3), route("A"), route("A").key(), {"{}\n", false, false}, ready_);
  EXPECT_NE(a, b);
  EXPECT_EQ(a, a2);
  EXPECT_EQ(batcher_.open_batches(), 2U);
  batcher_.take_all(ready_);
  ASSERT_EQ(ready_.size(), 2U);
  EXPECT_EQ(ready_[0].batch.id, "3-1-3"); // A opened first, leaves first
  EXPECT_EQ(ready_[1].batch.id, "3-2-2");
}

TEST_F(BatcherTest, BatchesLeaveAfterTheirLingerOnTheInjectedClock) {
  batcher_.add(sample_event(1), route("A"), route("A").key(), {"{}\n", false, false}, ready_);
  clock_.advance(600ms);
  batcher_.add(sample_event(2), route("B"), route("B").key(), {"{}\n", false, false}, ready_);
  EXPECT_EQ(batcher_.next_due(), clock_.steady_now() + 400ms);
  clock_.advance(400ms);
  batcher_.take_due(ready_);
  ASSERT_EQ(ready_.size(), 1U);
  EXPECT_EQ(ready_[0].batch.target.table.value(), "A");
  clock_.advance(600ms);
  batcher_.take_due(ready_);
  EXPECT_EQ(ready_.size(), 2U);
  EXPECT_FALSE(batcher_.next_due().has_value());
}

} // namespace
} // namespace hub2kusto::pipeline
