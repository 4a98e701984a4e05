#include "mappings/values.hpp"

#include <cmath>

#include <gtest/gtest.h>

namespace hub2kusto::mappings::values {
namespace {

std::string dt(std::string_view text) {
  const auto ticks = parse_datetime(text);
  if (!ticks) {
    return "null";
  }
  std::string out;
  append_datetime(out, *ticks);
  return out;
}

TEST(DateTime, Iso8601FormsKustoAccepts) {
  // docs scalar-data-types/datetime: ISO 8601 with and without zone, space separator, minutes
  // only, date only; always UTC.
  EXPECT_EQ(dt("2014-05-25T08:20:03.123456Z"), "2014-05-25T08:20:03.1234560Z");
  EXPECT_EQ(dt("2014-05-25T08:20:03.123456"), "2014-05-25T08:20:03.1234560Z");
  EXPECT_EQ(dt("2014-05-25T08:20"), "2014-05-25T08:20:00.0000000Z");
  EXPECT_EQ(dt("2014-11-08 15:55:55"), "2014-11-08T15:55:55.0000000Z");
  EXPECT_EQ(dt("2014-11-08"), "2014-11-08T00:00:00.0000000Z");
  EXPECT_EQ(dt("2014-11-08T15:55:55+02:00"), "2014-11-08T13:55:55.0000000Z");
  EXPECT_EQ(dt("2014-11-08T15:55:55.123456789Z"), "2014-11-08T15:55:55.1234567Z");
}

TEST(DateTime, RfcFormsKustoAccepts) {
  // docs scalar-data-types/datetime: RFC 822 and RFC 850 examples.
  EXPECT_EQ(dt("Sat, 8 Nov 14 15:05:02 GMT"), "2014-11-08T15:05:02.0000000Z");
  EXPECT_EQ(dt("Sat, 08 Nov 2014 15:05:02 GMT"), "2014-11-08T15:05:02.0000000Z");
  EXPECT_EQ(dt("Saturday, 08-Nov-14 15:05:02 GMT"), "2014-11-08T15:05:02.0000000Z");
}

TEST(DateTime, BoundariesAndInvalidValues) {
  EXPECT_EQ(dt("0001-01-01T00:00:00Z"), "0001-01-01T00:00:00.0000000Z");
  EXPECT_EQ(dt("9999-12-31T23:59:59.9999999Z"), "9999-12-31T23:59:59.9999999Z");
  EXPECT_EQ(dt("2024-02-29"), "2024-02-29T00:00:00.0000000Z");
  EXPECT_EQ(dt("2023-02-29"), "null");
  EXPECT_EQ(dt("2014-13-01"), "null");
  EXPECT_EQ(dt("2014-01-01T25:00"), "null");
  EXPECT_EQ(dt("yesterday"), "null");
  EXPECT_EQ(dt(""), "null");
  std::string before_epoch;
  append_datetime(before_epoch, -1);
  EXPECT_EQ(before_epoch, "1969-12-31T23:59:59.9999999Z");
}

TEST(TimeSpan, ParsesAndWritesKustoForm) {
  // docs scalar-data-types/timespan: [-][d.]hh:mm:ss[.fffffff]
  auto ts = [](std::string_view text) {
    const auto ticks = parse_timespan(text);
    if (!ticks) {
      return std::string("null");
    }
    std::string out;
    append_timespan(out, *ticks);
    return out;
  };
  EXPECT_EQ(ts("01:02:03"), "01:02:03");
  EXPECT_EQ(ts("2.01:02:03.5"), "2.01:02:03.5000000");
  EXPECT_EQ(ts("-00:00:01"), "-00:00:01");
  EXPECT_EQ(ts("10:30"), "10:30:00");
  EXPECT_EQ(ts("24:00:00"), "null");
  EXPECT_EQ(ts("abc"), "null");
}

TEST(Guid, CanonicalLowerCase) {
  std::string out;
  EXPECT_TRUE(append_guid(out, "{74BE27DE-1E4E-49D9-B579-FE0B331D3642}"));
  EXPECT_EQ(out, "74be27de-1e4e-49d9-b579-fe0b331d3642");
  EXPECT_FALSE(append_guid(out, "74be27de-1e4e-49d9-b579"));
  EXPECT_FALSE(append_guid(out, "74be27de11e4e-49d9-b579-fe0b331d3642"));
}

TEST(Numbers, ParseAndFormat) {
  EXPECT_EQ(parse_integer(" 42 "), 42);
  EXPECT_EQ(parse_integer("-9223372036854775808"), std::numeric_limits<std::int64_t>::min());
  EXPECT_FALSE(parse_integer("9223372036854775808"));
  EXPECT_FALSE(parse_integer("4x"));
  EXPECT_TRUE(std::isnan(*parse_real("NaN")));
  EXPECT_EQ(parse_real("-Infinity"), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(parse_real("1e3"), 1000.0);
  EXPECT_TRUE(is_decimal_text("-12.50"));
  EXPECT_TRUE(is_decimal_text("1e-3"));
  EXPECT_FALSE(is_decimal_text("1.2.3"));
  EXPECT_FALSE(is_decimal_text("."));
  std::string out;
  append_real(out, 0.1);
  EXPECT_EQ(out, "0.1");
  EXPECT_EQ(parse_bool("TRUE"), true);
  EXPECT_EQ(parse_bool("0"), false);
  EXPECT_FALSE(parse_bool("yes"));
}

TEST(UnixTime, EveryUnitAndTheRangeLimits) {
  EXPECT_EQ(unix_to_ticks(std::int64_t{1}, UnixUnit::seconds), 10'000'000);
  EXPECT_EQ(unix_to_ticks(std::int64_t{1}, UnixUnit::milliseconds), 10'000);
  EXPECT_EQ(unix_to_ticks(std::int64_t{1}, UnixUnit::microseconds), 10);
  EXPECT_EQ(unix_to_ticks(std::int64_t{100}, UnixUnit::nanoseconds), 1);
  EXPECT_EQ(unix_to_ticks(1.5, UnixUnit::seconds), 15'000'000);
  EXPECT_FALSE(unix_to_ticks(std::int64_t{300'000'000'000}, UnixUnit::seconds)); // year 11476
}

} // namespace
} // namespace hub2kusto::mappings::values
