#include "hub/partition_channel.hpp"

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

namespace hub2kusto::hub {
namespace {

using namespace std::chrono_literals;
using Reason = PartitionChannel::GrantReason;

HubEvent event(std::int64_t n) {
  HubEvent e;
  e.partition = PartitionId("0");
  e.sequence_number = SequenceNumber(n);
  e.body = "x";
  return e;
}

TEST(PartitionChannel, AnAttachFillsTheWindowAndEventsUseTheCredit) {
  PartitionChannel ch(PartitionId("0"), {.high = 10, .low = 4});
  EXPECT_EQ(ch.grant(Reason::attach), 10U);
  EXPECT_EQ(ch.grant(Reason::attach), 0U); // already full
  for (int i = 0; i < 10; ++i) {
    ASSERT_FALSE(ch.push(event(i))); // no reader waits
  }
  EXPECT_EQ(ch.credit().buffered, 10U);
  EXPECT_EQ(ch.credit().credit, 0U);
  EXPECT_EQ(ch.credit().max_in_flight, 10U);
  EXPECT_EQ(ch.last_received(), SequenceNumber(9));
}

TEST(PartitionChannel, PartialAndWholeTakesKeepPartitionOrderAndTheByteCount) {
  PartitionChannel ch(PartitionId("0"), {.high = 100, .low = 10});
  ch.grant(Reason::attach);
  std::int64_t pushed = 0;
  std::int64_t expected = 0;
  std::vector<HubEvent> out;
  // Takes of 3 while 5 arrive each round (the head moves, the front is compacted away), then
  // takes of everything (the whole buffer changes hands), then partial again.
  for (int round = 0; round < 30; ++round) {
    for (int i = 0; i < 5; ++i) {
      ASSERT_FALSE(ch.push(event(pushed++)));
    }
    out.clear();
    const std::size_t max = round >= 10 && round < 20 ? 1000 : 3;
    const std::size_t n = ch.take(out, max, 0ms);
    ASSERT_EQ(n, out.size());
    for (const auto& e : out) {
      ASSERT_EQ(e.sequence_number.value(), expected++);
    }
    EXPECT_EQ(ch.credit().buffered, static_cast<std::size_t>(pushed - expected));
    EXPECT_EQ(ch.credit().buffered == 0, ch.credit().buffered_bytes == 0);
  }
  out.clear();
  ch.take(out, 1000, 0ms);
  for (const auto& e : out) {
    ASSERT_EQ(e.sequence_number.value(), expected++);
  }
  EXPECT_EQ(expected, pushed);
  EXPECT_EQ(ch.credit().buffered_bytes, 0U);
}

TEST(PartitionChannel, RoomIsRequestedOnlyAtTheLowWatermarkAndOnlyOnce) {
  PartitionChannel ch(PartitionId("0"), {.high = 10, .low = 4});
  int requests = 0;
  ch.on_room([&] { ++requests; });
  ASSERT_EQ(ch.grant(Reason::attach), 10U);
  for (int i = 0; i < 10; ++i) {
    ASSERT_FALSE(ch.push(event(i))); // no reader waits
  }
  std::vector<HubEvent> out;
  EXPECT_EQ(ch.take(out, 5, 0ms), 5U); // 5 left: above the low watermark
  EXPECT_EQ(requests, 0);
  EXPECT_EQ(ch.grant(Reason::top_up), 0U);
  EXPECT_EQ(ch.take(out, 1, 0ms), 1U); // 4 left: at the low watermark
  EXPECT_EQ(requests, 1);
  EXPECT_EQ(ch.take(out, 1, 0ms), 1U); // still pending: no second request
  EXPECT_EQ(requests, 1);
  EXPECT_EQ(ch.grant(Reason::top_up), 7U); // 3 buffered + 7 credit = the window
  EXPECT_EQ(ch.credit().max_in_flight, 10U);
  ASSERT_EQ(out.size(), 7U);
  for (std::size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i].sequence_number.value(), static_cast<std::int64_t>(i));
  }
}

TEST(PartitionChannel, ALostLinkForgetsItsCreditButKeepsTheEvents) {
  PartitionChannel ch(PartitionId("0"), {.high = 10, .low = 4});
  ASSERT_EQ(ch.grant(Reason::attach), 10U);
  (void)ch.push(event(0));
  (void)ch.push(event(1));
  ch.link_lost();
  EXPECT_EQ(ch.credit().credit, 0U);
  EXPECT_EQ(ch.credit().buffered, 2U);
  EXPECT_EQ(ch.grant(Reason::attach), 8U); // a new link gets the window less what is buffered
}

TEST(PartitionChannel, AStoppedStreamWakesItsReaderAndKeepsItsFirstReason) {
  PartitionChannel ch(PartitionId("0"), {.high = 10, .low = 4});
  std::atomic<std::size_t> taken{99};
  std::thread reader([&] {
    std::vector<HubEvent> out;
    taken = ch.take(out, 10, 60s);
  });
  ch.set_status(PartitionState::stolen, "amqp:link:stolen: taken");
  reader.join(); // returns long before 60 s: the status change woke it
  EXPECT_EQ(taken.load(), 0U);
  ch.set_status(PartitionState::closed);
  EXPECT_EQ(ch.status().state, PartitionState::stolen);
  EXPECT_EQ(ch.status().reason, "amqp:link:stolen: taken");
}

TEST(PartitionChannel, PushSaysWhenAWaitingReaderMustBeWoken) {
  PartitionChannel ch(PartitionId("0"), {.high = 10, .low = 4});
  ASSERT_EQ(ch.grant(Reason::attach), 10U);
  std::vector<HubEvent> out;
  std::thread reader([&] { ch.take(out, 10, 60s); });
  while (!ch.reader_waiting()) {
    std::this_thread::yield(); // until the reader blocks in take()
  }
  EXPECT_TRUE(ch.push(event(7)));
  ch.wake_reader();
  reader.join(); // long before 60 s: the wake-up reached it
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].sequence_number.value(), 7);
}

HubEvent sized(std::int64_t n, std::size_t body_bytes) {
  HubEvent e = event(n);
  e.body.assign(body_bytes, 'x');
  return e;
}

TEST(PartitionChannel, CreditFollowsTheBytesInFlightUnderAByteBudget) {
  const std::size_t each = sized(0, 100'000).approximate_size();
  // Room for 10 events of 100 kB, though the window allows 300.
  PartitionChannel ch(PartitionId("0"), {.high = 300, .low = 150, .max_bytes = 10 * each});
  int requests = 0;
  ch.on_room([&] { ++requests; });
  ASSERT_EQ(ch.grant(Reason::attach), 1U); // nothing known of the sizes: one event shows them
  ASSERT_FALSE(ch.push(sized(0, 100'000)));
  std::vector<HubEvent> out;
  EXPECT_EQ(ch.take(out, 1, 0ms), 1U);
  EXPECT_EQ(requests, 1);
  EXPECT_EQ(ch.grant(Reason::top_up), 10U); // the budget at 100 kB an event
  for (int i = 1; i <= 10; ++i) {
    ASSERT_FALSE(ch.push(sized(i, 100'000)));
  }
  EXPECT_EQ(ch.credit().buffered_bytes, 10 * each);
  EXPECT_EQ(ch.take(out, 4, 0ms), 4U); // 6 left: 60% of the budget, no top-up yet
  EXPECT_EQ(requests, 1);
  EXPECT_EQ(ch.grant(Reason::top_up), 0U);
  EXPECT_EQ(ch.take(out, 1, 0ms), 1U); // 5 left: half the budget free
  EXPECT_EQ(requests, 2);
  EXPECT_EQ(ch.grant(Reason::top_up), 5U); // 5 buffered + 5 credit x 100 kB = the budget
  EXPECT_EQ(ch.credit().max_in_flight, 10U);
}

TEST(PartitionChannel, AnEventLargerThanTheBudgetStillGetsOneCredit) {
  PartitionChannel ch(PartitionId("0"), {.high = 300, .low = 150, .max_bytes = 1'000});
  ASSERT_EQ(ch.grant(Reason::attach), 1U);
  ASSERT_FALSE(ch.push(sized(0, 50'000)));
  ch.link_lost();
  std::vector<HubEvent> out;
  EXPECT_EQ(ch.take(out, 1, 0ms), 1U);
  EXPECT_EQ(ch.grant(Reason::attach), 1U); // nothing buffered, nothing granted: one at a time
  EXPECT_EQ(ch.grant(Reason::attach), 0U);
}

TEST(PartitionChannel, UnderAProcessBudgetCreditStopsAtTheSharedRoomAndResumesWhenItFrees) {
  const std::size_t each = sized(0, 10'000).approximate_size();
  auto budget = MemoryBudget::create(40 * each);
  // Another partition holds 30 events' worth (its fair share is 20).
  auto other = budget->open(nullptr);
  other->set_held(30 * each);
  auto ch =
      std::make_shared<PartitionChannel>(PartitionId("0"), CreditWindow{.high = 300, .low = 150});
  ch->use_budget(budget);
  int requests = 0;
  ch->on_room([&] { ++requests; });
  ASSERT_EQ(ch->grant(Reason::attach), 1U); // nothing known of the sizes: one event shows them
  ASSERT_FALSE(ch->push(sized(0, 10'000)));
  std::vector<HubEvent> out;
  EXPECT_EQ(ch->take(out, 1, 0ms), 1U);
  EXPECT_EQ(requests, 1);
  ch->holding(each);                        // the reader holds it in a batch
  EXPECT_EQ(ch->grant(Reason::top_up), 9U); // what the budget has left, not the window's 300
  EXPECT_EQ(budget->used(), 40 * each);
  for (int i = 1; i <= 9; ++i) {
    ASSERT_FALSE(ch->push(sized(i, 10'000)));
  }
  EXPECT_EQ(ch->take(out, 9, 0ms), 9U);
  ch->holding(10 * each); // not delivered: the budget has no room for more
  EXPECT_EQ(requests, 2);
  EXPECT_EQ(ch->grant(Reason::top_up), 0U); // refused: 10 events' worth of its share reserved
  EXPECT_EQ(ch->credit().credit, 0U);
  other->set_held(20 * each); // the other partition delivered some: the channel is told
  EXPECT_EQ(requests, 3);
  EXPECT_EQ(other->room(), 0U); // what it freed is the channel's first
  EXPECT_EQ(ch->grant(Reason::top_up), 10U);
  EXPECT_EQ(budget->used(), 40 * each);
}

} // namespace
} // namespace hub2kusto::hub
