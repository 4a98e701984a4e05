#include "common/iso8601.hpp"

#include <gtest/gtest.h>

namespace hub2kusto {
namespace {

using namespace std::chrono;

TEST(Iso8601, ParsesUtcAndOffsetsToTheSameInstant) {
  const auto z = parse_iso8601_utc("2026-11-24T10:00:00Z");
  const auto plus = parse_iso8601_utc("2026-11-24T11:30:00+01:30");
  const auto minus = parse_iso8601_utc("2026-11-24T05:00:00-05:00");
  ASSERT_TRUE(z && plus && minus);
  EXPECT_EQ(*z, *plus);
  EXPECT_EQ(*z, *minus);
  EXPECT_EQ(duration_cast<seconds>(z->time_since_epoch()).count(), 1795514400);
}

TEST(Iso8601, KeepsFractionsToTheTick) {
  const auto t = parse_iso8601_utc("2026-01-02T03:04:05.1234567Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(format_iso8601_utc(*t), "2026-01-02T03:04:05.1234567Z");
}

TEST(Iso8601, RejectsMissingZoneAndImpossibleDates) {
  EXPECT_FALSE(parse_iso8601_utc("2026-11-24T10:00:00"));
  EXPECT_FALSE(parse_iso8601_utc("2026-02-30T10:00:00Z"));
  EXPECT_FALSE(parse_iso8601_utc("2026-11-24T24:00:00Z"));
  EXPECT_FALSE(parse_iso8601_utc("2026-11-24T10:00:00.Z"));
  EXPECT_FALSE(parse_iso8601_utc("yesterday"));
}

TEST(Iso8601, FormatsWithSevenFractionalDigits) {
  EXPECT_EQ(format_iso8601_utc(system_clock::time_point{}), "1970-01-01T00:00:00.0000000Z");
}

} // namespace
} // namespace hub2kusto
