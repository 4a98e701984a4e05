#include "common/memory_budget.hpp"

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
