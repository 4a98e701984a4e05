#include "selector.hpp"
#include "store.hpp"

#include <cstdio>

#include <gtest/gtest.h>

namespace hub2kusto::emulator {
namespace {

TEST(StartSelector, EveryFormTheSdksSend) {
  // docs/protocols.md, "Receiver links and start positions".
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

TEST(Partition, PositionsAndStartSequence) {
  Partition p;
  p.append("aaaa", "", 1000);
  p.append("bb", "k", 1000);
  p.append("cccccc", "", 2000);
  EXPECT_EQ(p.at(1)->sequence_number, 1);
  EXPECT_EQ(p.at(1)->offset, 4);
  EXPECT_EQ(p.at(2)->offset, 6);
  EXPECT_EQ(p.at(3), nullptr);
  auto start = [&](const char* expr) { return p.start_sequence(*parse_start_selector(expr)); };
  EXPECT_EQ(start("amqp.annotation.x-opt-offset > '-1'"), 0);
  EXPECT_EQ(start("amqp.annotation.x-opt-offset > '4'"), 2);
  EXPECT_EQ(start("amqp.annotation.x-opt-offset >= '4'"), 1);
  EXPECT_EQ(start("amqp.annotation.x-opt-sequence-number > '0'"), 1);
  EXPECT_EQ(start("amqp.annotation.x-opt-enqueued-time > '1000'"), 2);
  EXPECT_EQ(start("amqp.annotation.x-opt-enqueued-time >= '1000'"), 0);
  EXPECT_EQ(start("amqp.annotation.x-opt-offset > '@latest'"), 3);
}

TEST(Partition, RetentionDropsTheOldestAndKeepsPositions) {
  Partition p;
  p.retention = 2;
  for (int i = 0; i < 5; ++i) {
    p.append("event", "", 1000 + i);
  }
  EXPECT_EQ(p.begin_sequence(), 3);
  EXPECT_EQ(p.at(2), nullptr);
  EXPECT_EQ(p.at(4)->offset, 20);
  // A start before the first kept event begins at the oldest kept one.
  EXPECT_EQ(p.start_sequence(*parse_start_selector("amqp.annotation.x-opt-offset > '-1'")), 3);
}

TEST(PartitionLog, EventsSurviveARestartAndATornTailIsDropped) {
  const std::string path = ::testing::TempDir() + "/partition_log_test.log";
  std::remove(path.c_str());
  {
    Partition p;
    PartitionLog log;
    ASSERT_FALSE(log.open(path, p));
    for (const char* body : {"one", "two", "three"}) {
      ASSERT_TRUE(log.append(p.append(body, "key", 5000)));
    }
  }
  {
    std::FILE* f = std::fopen(path.c_str(), "ab"); // a record cut short by a kill
    std::fputs("\x40\x00\x00\x00partial", f);
    std::fclose(f);
  }
  Partition p;
  PartitionLog log;
  ASSERT_FALSE(log.open(path, p));
  ASSERT_EQ(p.next_sequence, 3);
  EXPECT_EQ(p.at(2)->message, "three");
  EXPECT_EQ(p.at(2)->partition_key, "key");
  EXPECT_EQ(p.at(2)->offset, 6);
  ASSERT_TRUE(log.append(p.append("four", "", 6000)));
  Partition again;
  PartitionLog reread;
  ASSERT_FALSE(reread.open(path, again));
  EXPECT_EQ(again.next_sequence, 4);
  EXPECT_EQ(again.at(3)->message, "four");
}

TEST(Hub, PartitionKeysRouteStably) {
  Hub hub;
  hub.partitions.resize(3);
  Partition* first = &hub.route("device-1");
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(&hub.route("device-1"), first);
  }
  // Without a key, events spread round robin.
  EXPECT_NE(&hub.route(""), &hub.route(""));
}

} // namespace
} // namespace hub2kusto::emulator
