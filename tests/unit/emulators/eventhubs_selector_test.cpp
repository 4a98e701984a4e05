#include "selector.hpp"
#include "store.hpp"

#include <gtest/gtest.h>

namespace hub2kusto::emulator {
namespace {

TEST(StartSelector, EveryFormTheSdksSend) {
  // eventhubs-amqp.md §5.2.
  auto earliest = parse_start_selector("amqp.annotation.x-opt-offset > '-1'");
  ASSERT_TRUE(earliest);
  EXPECT_EQ(earliest->field, StartSelector::Field::offset);
  EXPECT_EQ(earliest->value, -1);
  EXPECT_FALSE(earliest->inclusive);
  EXPECT_TRUE(parse_start_selector("amqp.annotation.x-opt-offset > '@latest'")->latest);
  auto at = parse_start_selector("amqp.annotation.x-opt-sequence-number >= '42'");
  ASSERT_TRUE(at);
  EXPECT_EQ(at->field, StartSelector::Field::sequence_number);
  EXPECT_TRUE(at->inclusive);
  EXPECT_EQ(at->value, 42);
  // Rust omits the space after the operator, older .NET the quotes; legacy field name.
  EXPECT_EQ(parse_start_selector("amqp.annotation.x-opt-offset >'12345'")->value, 12345);
  EXPECT_EQ(parse_start_selector("amqp.annotation.x-opt-enqueuedtimeutc > 1700000000000")->field,
            StartSelector::Field::enqueued_time);
  EXPECT_FALSE(parse_start_selector("amqp.annotation.x-opt-colour > '1'"));
  EXPECT_FALSE(parse_start_selector("x-opt-offset > '1'"));
  EXPECT_FALSE(parse_start_selector("amqp.annotation.x-opt-offset > 'abc'"));
}

TEST(Partition, PositionsAndStartIndex) {
  Partition p{"0", {}, 0};
  p.append("aaaa", "", 1000);
  p.append("bb", "k", 1000);
  p.append("cccccc", "", 2000);
  EXPECT_EQ(p.events[1].sequence_number, 1);
  EXPECT_EQ(p.events[1].offset, 4);
  EXPECT_EQ(p.events[2].offset, 6);
  auto start = [&](const char* expr) { return p.start_index(*parse_start_selector(expr)); };
  EXPECT_EQ(start("amqp.annotation.x-opt-offset > '-1'"), 0u);
  EXPECT_EQ(start("amqp.annotation.x-opt-offset > '4'"), 2u);
  EXPECT_EQ(start("amqp.annotation.x-opt-offset >= '4'"), 1u);
  EXPECT_EQ(start("amqp.annotation.x-opt-sequence-number > '0'"), 1u);
  EXPECT_EQ(start("amqp.annotation.x-opt-enqueued-time > '1000'"), 2u);
  EXPECT_EQ(start("amqp.annotation.x-opt-enqueued-time >= '1000'"), 0u);
  EXPECT_EQ(start("amqp.annotation.x-opt-offset > '@latest'"), 3u);
}

TEST(Hub, PartitionKeysRouteStably) {
  Hub hub;
  hub.partitions = {Partition{"0", {}, 0}, Partition{"1", {}, 0}, Partition{"2", {}, 0}};
  Partition* first = &hub.route("device-1");
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(&hub.route("device-1"), first);
  }
  // Without a key, events spread round robin.
  EXPECT_NE(&hub.route(""), &hub.route(""));
}

} // namespace
} // namespace hub2kusto::emulator
