#include "base/civil_time.hpp"

#include <string>

#include <gtest/gtest.h>

namespace hub2kusto::civil_time {
namespace {

std::string datetime(std::int64_t ticks) {
  char buffer[kDateTimeChars];
  return std::string(buffer, write_datetime(buffer, ticks));
}

TEST(CivilTime, DaysAndDatesRoundTripAcrossKustosWholeRange) {
  const std::int64_t first = days_from_civil(1, 1, 1);
  const std::int64_t last = days_from_civil(9999, 12, 31);
  for (std::int64_t z = first; z <= last; z += 37) {
    const Date d = civil_from_days(z);
    ASSERT_EQ(days_from_civil(d.year, d.month, d.day), z) << z;
    ASSERT_GE(d.day, 1U);
    ASSERT_LE(d.day, days_in_month(d.year, d.month)) << z;
  }
  EXPECT_EQ(days_from_civil(1970, 1, 1), 0);
  EXPECT_EQ(days_from_civil(2000, 3, 1), 11017);
}

TEST(CivilTime, LeapYearsFollowTheGregorianRules) {
  EXPECT_EQ(days_in_month(2024, 2), 29U);
  EXPECT_EQ(days_in_month(1900, 2), 28U);
  EXPECT_EQ(days_in_month(2000, 2), 29U);
  EXPECT_EQ(days_in_month(2026, 2), 28U);
}

TEST(CivilTime, DateTimesAreWrittenWithSevenFractionalDigitsBeforeAndAfterTheEpoch) {
  EXPECT_EQ(datetime(0), "1970-01-01T00:00:00.0000000Z");
  EXPECT_EQ(datetime(1), "1970-01-01T00:00:00.0000001Z");
  EXPECT_EQ(datetime(-1), "1969-12-31T23:59:59.9999999Z");
  EXPECT_EQ(datetime(days_from_civil(2026, 11, 24) * kSecondsPerDay * kTicksPerSecond +
                     (10 * 3600 + 5) * kTicksPerSecond + 1234567),
            "2026-11-24T10:00:05.1234567Z");
  EXPECT_EQ(datetime(days_from_civil(1, 1, 1) * kSecondsPerDay * kTicksPerSecond),
            "0001-01-01T00:00:00.0000000Z");
  EXPECT_EQ(datetime((days_from_civil(9999, 12, 31) + 1) * kSecondsPerDay * kTicksPerSecond - 1),
            "9999-12-31T23:59:59.9999999Z");
}

TEST(CivilTime, DigitsAreReadExactlyOrNotAtAll) {
  unsigned out = 7;
  EXPECT_TRUE(read_digits("2026-11", 0, 4, out));
  EXPECT_EQ(out, 2026U);
  EXPECT_TRUE(read_digits("2026-11", 5, 2, out));
  EXPECT_EQ(out, 11U);
  EXPECT_FALSE(read_digits("2026-11", 4, 2, out)); // '-'
  EXPECT_FALSE(read_digits("2026-11", 6, 2, out)); // past the end
}

} // namespace
} // namespace hub2kusto::civil_time
