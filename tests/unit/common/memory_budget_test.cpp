#include "common/memory_budget.hpp"

#include <memory>
#include <vector>

#include <gtest/gtest.h>

namespace hub2kusto {
namespace {

TEST(MemoryBudget, APartitionMayUseWhatTheOthersLeave) {
  auto budget = MemoryBudget::create(1'000);
  auto busy = budget->open(nullptr);
  auto quiet = budget->open(nullptr);
  EXPECT_EQ(busy->room(), 1'000U); // nothing used: all of it, though its fair share is 500
  busy->set_received(700);
  busy->set_held(200);
  EXPECT_EQ(budget->used(), 900U);
  EXPECT_EQ(busy->room(), 100U);
  EXPECT_EQ(quiet->room(), 100U);
  EXPECT_EQ(quiet->room(200), 0U); // less than it asks for: refused
}

TEST(MemoryBudget, ARefusedPartitionKeepsItsFairShareReservedAndIsToldWhenRoomFrees) {
  auto budget = MemoryBudget::create(1'000);
  int told_busy = 0;
  int told_quiet = 0;
  auto busy = budget->open([&] { ++told_busy; });
  auto quiet = budget->open([&] { ++told_quiet; });
  busy->set_received(950);
  EXPECT_EQ(quiet->room(100), 0U); // 50 left: it reserves what is left of its share, 500
  EXPECT_EQ(busy->room(), 0U);     // the 50 left is the quiet partition's now
  busy->set_received(980);         // more used: nothing to tell
  EXPECT_EQ(told_quiet, 0);
  busy->set_received(550); // 450 free, none reserved for anyone else
  EXPECT_EQ(told_quiet, 1);
  EXPECT_EQ(told_busy, 0); // still under the quiet partition's reservation: nothing for it
  EXPECT_EQ(busy->room(), 0U);
  EXPECT_EQ(quiet->room(100), 450U); // taken: the reservation ends
  EXPECT_EQ(busy->room(), 450U);
  EXPECT_LE(budget->used(), budget->limit());
}

// Credit granted while the fair shares were larger, to partitions that never use it (they are at
// their end), stays counted: the reservations of the partitions refused since can add up to more
// than is free. They must not wait for each other: each waiting one is told when room frees, and
// one refused after the last change sees what is free when it looks again.
TEST(MemoryBudget, ReservationsAddingUpToMoreThanIsFreeDoNotKeepEveryoneWaiting) {
  auto budget = MemoryBudget::create(100);
  auto stale = budget->open(nullptr);
  std::vector<int> told(8, 0);
  std::vector<std::shared_ptr<MemoryBudget::Account>> waiting;
  for (int i = 0; i < 8; ++i) {
    waiting.push_back(budget->open([&told, i] { ++told[static_cast<std::size_t>(i)]; }));
  }
  auto late = budget->open(nullptr); // 10 accounts: a fair share of 10
  stale->set_received(97);           // 3 free
  for (auto& w : waiting) {
    EXPECT_EQ(w->room(5), 0U); // refused: each reserves its 10, 80 reserved in all
  }
  stale->set_received(90); // 10 free, 80 reserved
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(told[static_cast<std::size_t>(i)], 1) << i;
  }
  EXPECT_EQ(waiting[0]->room(5), 10U);
  waiting[0]->set_received(10);
  EXPECT_EQ(waiting[1]->room(5), 0U); // nothing free now: it waits again
  waiting[0]->set_received(0);
  EXPECT_EQ(told[1], 2);
  // Refused first (70 reserved by the others), it looks again with its own reservation.
  EXPECT_EQ(late->room(5), 10U);
}

// A partition refused while it held its whole fair share reserves nothing. Once its batches are
// delivered it holds nothing, and it must be told although another's reservation covers what
// is free: no later change may come (the others may be at their ends), and a partition that
// holds nothing may always take an event.
TEST(MemoryBudget, APartitionRefusedWhileHoldingItsShareIsToldOnceItHoldsNothing) {
  auto budget = MemoryBudget::create(100);
  auto stale = budget->open(nullptr);
  int told_full = 0;
  int told_empty = 0;
  auto full = budget->open([&] { ++told_full; });
  auto empty = budget->open([&] { ++told_empty; }); // 3 accounts: a fair share of 33
  stale->set_received(70);
  full->set_held(40);
  EXPECT_EQ(full->room(10), 0U);  // holds more than its share: nothing reserved for it
  EXPECT_EQ(empty->room(10), 0U); // reserves its 33
  full->set_held(0);              // delivered: 30 free
  EXPECT_EQ(told_empty, 1);
  EXPECT_EQ(told_full, 1);
  EXPECT_EQ(full->room(10), 30U); // with its own reservation now, all that is free
  empty->set_received(25);        // the other took its credit: 5 free
  EXPECT_EQ(empty->room(10), 0U);
  EXPECT_EQ(told_empty, 1);
  stale->set_received(0); // freed: told again
  EXPECT_EQ(told_empty, 2);
}

// Its reservation follows what it holds whenever room frees: a partition refused with a small
// reservation that has delivered since may take what its whole share now covers.
TEST(MemoryBudget, AWaitingPartitionsReservationGrowsAsItDelivers) {
  auto budget = MemoryBudget::create(100);
  int told = 0;
  auto waiting = budget->open([&] { ++told; });
  auto busy = budget->open(nullptr); // a fair share of 50
  waiting->set_held(45);
  busy->set_received(55);           // full
  EXPECT_EQ(waiting->room(20), 0U); // reserves 5
  waiting->set_held(0);             // delivered: 45 free, and 50 of it is its share
  EXPECT_EQ(told, 1);
  EXPECT_EQ(busy->room(), 0U); // the freed room is the waiting partition's until it looks
  EXPECT_EQ(waiting->room(20), 45U);
  EXPECT_EQ(busy->room(), 45U);
}

TEST(MemoryBudget, AClosedAccountFreesItsBytesAndItsReservation) {
  auto budget = MemoryBudget::create(900);
  int told = 0;
  auto a = budget->open([&] { ++told; });
  auto b = budget->open(nullptr);
  auto c = budget->open(nullptr);
  b->set_received(450);
  c->set_held(450);
  EXPECT_EQ(a->room(10), 0U); // reserves its share, 300
  EXPECT_EQ(budget->accounts(), 3U);
  c.reset();
  EXPECT_EQ(budget->accounts(), 2U);
  EXPECT_EQ(budget->used(), 450U);
  EXPECT_EQ(told, 1);
  EXPECT_EQ(a->room(10), 450U);
  a.reset();
  EXPECT_EQ(b->room(), 450U); // nothing reserved any more
}

TEST(MemoryBudget, AWaitingPartitionIsToldOncePerRefusalAndATakeFreesNothing) {
  auto budget = MemoryBudget::create(1'000);
  int told = 0;
  auto waiting = budget->open([&] { ++told; });
  auto busy = budget->open(nullptr);
  busy->set_received(1'000);
  EXPECT_EQ(waiting->room(10), 0U);
  busy->move_to_held(400); // taken by its reader: still held, so still no room
  EXPECT_EQ(budget->used(), 1'000U);
  EXPECT_EQ(told, 0);
  busy->set_held(0); // delivered
  EXPECT_EQ(told, 1);
  busy->set_received(100); // more freed: it was told already and has not asked again
  EXPECT_EQ(told, 1);
  busy->set_received(1'000);
  EXPECT_EQ(waiting->room(10), 0U); // refused again: told again when room frees
  busy->set_received(0);
  EXPECT_EQ(told, 2);
  EXPECT_EQ(waiting->room(10), 1'000U);
}

TEST(MemoryBudget, WithoutALimitThereIsAlwaysRoom) {
  auto budget = MemoryBudget::create(0);
  auto a = budget->open(nullptr);
  a->set_received(1ULL << 40);
  EXPECT_GT(a->room(), 1ULL << 40);
}

} // namespace
} // namespace hub2kusto
