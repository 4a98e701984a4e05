#include "hub/selector.hpp"

#include <gtest/gtest.h>

namespace hub2kusto::hub {
namespace {

// The expressions of docs/protocols.md, "Receiver links and start positions", with the spacing and
// quotes the SDKs send.
TEST(Selector, EarliestAndLatestUseTheOffsetSentinels) {
  EXPECT_EQ(selector_expression(StartPosition::earliest()), "amqp.annotation.x-opt-offset > '-1'");
  EXPECT_EQ(selector_expression(StartPosition::latest()),
            "amqp.annotation.x-opt-offset > '@latest'");
}

TEST(Selector, OffsetsAndSequenceNumbersAreExclusiveOrInclusive) {
  EXPECT_EQ(selector_expression(StartPosition::after(Offset("12345"))),
            "amqp.annotation.x-opt-offset > '12345'");
  EXPECT_EQ(selector_expression(StartPosition::at(Offset("12345"))),
            "amqp.annotation.x-opt-offset >= '12345'");
  EXPECT_EQ(selector_expression(StartPosition::after(SequenceNumber(42))),
            "amqp.annotation.x-opt-sequence-number > '42'");
  EXPECT_EQ(selector_expression(StartPosition::at(SequenceNumber(42))),
            "amqp.annotation.x-opt-sequence-number >= '42'");
}

TEST(Selector, EnqueuedTimeIsUnixMilliseconds) {
  const Timestamp t{std::chrono::milliseconds(1'700'000'000'123)};
  EXPECT_EQ(selector_expression(StartPosition::enqueued_since(t)),
            "amqp.annotation.x-opt-enqueued-time >= '1700000000123'");
}

} // namespace
} // namespace hub2kusto::hub
