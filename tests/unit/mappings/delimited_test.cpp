#include "mappings/delimited.hpp"

#include <gtest/gtest.h>

namespace hub2kusto::mappings {
namespace {

struct Split {
  std::vector<std::vector<std::string>> records;
  std::optional<SplitError> error;
};

Split split_all(std::string_view body, DataFormat format) {
  Split out;
  const auto dialect = dialect_of(format);
  std::vector<std::string_view> fields;
  std::string unescaped;
  unescaped.reserve(body.size());
  std::size_t pos = 0;
  while ((pos = skip_empty_lines(body, pos)) < body.size()) {
    const auto next = split_record(body, pos, *dialect, fields, unescaped);
    if (!next) {
      out.error = next.error();
      break;
    }
    pos = next.value();
    out.records.emplace_back(fields.begin(), fields.end());
  }
  return out;
}

using Records = std::vector<std::vector<std::string>>;

TEST(Delimited, EachDelimitedFormatHasItsDialectAndTheOthersHaveNone) {
  EXPECT_EQ(dialect_of(DataFormat::csv)->delimiter, ',');
  EXPECT_EQ(dialect_of(DataFormat::tsv)->delimiter, '\t');
  EXPECT_TRUE(dialect_of(DataFormat::tsve)->escapes);
  EXPECT_FALSE(dialect_of(DataFormat::tsv)->escapes);
  EXPECT_EQ(dialect_of(DataFormat::psv)->delimiter, '|');
  EXPECT_EQ(dialect_of(DataFormat::scsv)->delimiter, ';');
  EXPECT_EQ(dialect_of(DataFormat::sohsv)->delimiter, '\x01');
  for (const auto f : {DataFormat::json, DataFormat::multijson, DataFormat::txt, DataFormat::raw}) {
    EXPECT_FALSE(dialect_of(f).has_value()) << to_string(f);
  }
}

TEST(Delimited, QuotesHoldDelimitersLineEndsAndDoubledQuotesAndEmptyLinesAreNoRecords) {
  const auto s =
      split_all("a,\"b,1\",\"say \"\"hi\"\"\"\r\n\r\n\n\"two\nlines\",,\r", DataFormat::csv);
  ASSERT_FALSE(s.error);
  EXPECT_EQ(s.records, (Records{{"a", "b,1", "say \"hi\""}, {"two\nlines", "", ""}}));
}

TEST(Delimited, TsveEscapesWithABackslashAndReadsQuotesAsText) {
  const auto s = split_all("a\\tb\t\"q\"\tc\\\\d\\n\n", DataFormat::tsve);
  ASSERT_FALSE(s.error);
  EXPECT_EQ(s.records, (Records{{"a\tb", "\"q\"", "c\\d\n"}}));
}

TEST(Delimited, SaysWhereARecordCannotBeRead) {
  auto s = split_all("1,2\n3,\"open", DataFormat::csv);
  EXPECT_EQ(s.records, (Records{{"1", "2"}}));
  ASSERT_TRUE(s.error);
  EXPECT_EQ(s.error->position, 6U);
  EXPECT_EQ(s.error->why, "has a quoted field that is never closed");

  s = split_all("\"a\"b|c", DataFormat::psv);
  ASSERT_TRUE(s.error);
  EXPECT_EQ(s.error->position, 3U);
  EXPECT_EQ(s.error->why, "has text after a closing quote");
}

} // namespace
} // namespace hub2kusto::mappings
