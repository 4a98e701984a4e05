#include "common/histogram.hpp"

#include <array>

#include <gtest/gtest.h>

namespace hub2kusto {
namespace {

constexpr std::array<double, 3> kBounds{0.1, 1, 10};

TEST(Histogram, CountsEachObservationInTheFirstBucketNotBelowItCumulatively) {
  Histogram h(kBounds);
  h.observe(0.05);
  h.observe(0.1); // a bound is "less than or equal": its own bucket
  h.observe(5);
  h.observe(50, 2); // above every bound: only +Inf
  const auto s = h.snapshot();
  EXPECT_EQ(s.bounds, (std::vector<double>{0.1, 1, 10}));
  EXPECT_EQ(s.cumulative, (std::vector<std::uint64_t>{2, 2, 3, 5}));
  EXPECT_EQ(s.count, 5U);
  EXPECT_DOUBLE_EQ(s.sum, 0.05 + 0.1 + 5 + 100);
}

TEST(Histogram, ATallyAddsWhatItGatheredWhenItEnds) {
  Histogram h(kBounds);
  {
    Histogram::Tally tally(h);
    tally.observe(0.5);
    tally.observe(0.7);
    tally.observe(20);
    EXPECT_EQ(h.snapshot().count, 0U); // not yet
  }
  const auto s = h.snapshot();
  EXPECT_EQ(s.cumulative, (std::vector<std::uint64_t>{0, 2, 2, 3}));
  EXPECT_DOUBLE_EQ(s.sum, 21.2);
}

TEST(Histogram, StandardBoundsAscend) {
  for (const auto bounds : {Histogram::seconds(), Histogram::bytes(), Histogram::events()}) {
    ASSERT_FALSE(bounds.empty());
    for (std::size_t i = 1; i < bounds.size(); ++i) {
      EXPECT_LT(bounds[i - 1], bounds[i]);
    }
  }
}

} // namespace
} // namespace hub2kusto
