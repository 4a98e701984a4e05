#include "common/backoff.hpp"

#include <deque>

#include <gtest/gtest.h>

namespace hub2kusto {
namespace {

using std::chrono::milliseconds;

// Draws from a fixed list, so the jittered delays are exact.
class FixedRandom final : public RandomSource {
public:
  explicit FixedRandom(std::deque<double> draws) : draws_(std::move(draws)) {}
  double uniform() override {
    const double d = draws_.empty() ? 0.0 : draws_.front();
    if (!draws_.empty()) {
      draws_.pop_front();
    }
    return d;
  }

private:
  std::deque<double> draws_;
};

TEST(Backoff, GrowsExponentiallyWithJitterInTheUpperHalf) {
  FixedRandom random({0.0, 1.0, 0.5, 0.0});
  Backoff b({.initial = milliseconds(100), .max = milliseconds(10'000), .multiplier = 2.0}, random);
  EXPECT_EQ(b.next(), milliseconds(50));  // base 100, draw 0 -> 50
  EXPECT_EQ(b.next(), milliseconds(200)); // base 200, draw 1 -> 200
  EXPECT_EQ(b.next(), milliseconds(300)); // base 400, draw .5 -> 300
  EXPECT_EQ(b.next(), milliseconds(400)); // base 800, draw 0 -> 400
  EXPECT_EQ(b.attempts(), 4U);
}

TEST(Backoff, IsCappedAtTheMaximumEvenAfterManyAttempts) {
  FixedRandom random({});
  Backoff b({.initial = milliseconds(100), .max = milliseconds(1'000), .multiplier = 2.0}, random);
  for (int i = 0; i < 200; ++i) {
    EXPECT_LE(b.next(), milliseconds(1'000));
  }
  EXPECT_EQ(b.next(), milliseconds(500)); // half the cap with a zero draw
}

TEST(Backoff, ResetStartsFromTheInitialDelayAgain) {
  FixedRandom random({1.0, 1.0, 1.0});
  Backoff b({.initial = milliseconds(100), .max = milliseconds(10'000), .multiplier = 3.0}, random);
  EXPECT_EQ(b.next(), milliseconds(100));
  EXPECT_EQ(b.next(), milliseconds(300));
  b.reset();
  EXPECT_EQ(b.attempts(), 0U);
  EXPECT_EQ(b.next(), milliseconds(100));
}

TEST(Backoff, WithoutARandomSourceTheWaitsAreExactAndCapped) {
  Backoff b({.initial = milliseconds(1'000), .max = milliseconds(3'000), .multiplier = 2.0});
  EXPECT_EQ(b.next(), milliseconds(1'000));
  EXPECT_EQ(b.next(), milliseconds(2'000));
  EXPECT_EQ(b.next(), milliseconds(3'000));
  EXPECT_EQ(b.next(), milliseconds(3'000));
}

} // namespace
} // namespace hub2kusto
