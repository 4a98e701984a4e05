#include "base/text.hpp"
#include "common/key_value_list.hpp"

#include <gtest/gtest.h>

namespace hub2kusto {
namespace {

TEST(KeyValueList, SplitsOnFirstEqualsAndTrims) {
  auto kv = parse_key_value_list(" A = x=y== ; B=2;", KeyValueSyntax::hub);
  ASSERT_TRUE(kv);
  ASSERT_EQ(kv->size(), 2u);
  EXPECT_EQ((*kv)[0].key, "A");
  EXPECT_EQ((*kv)[0].value, "x=y==");
  EXPECT_EQ((*kv)[1].key, "B");
  EXPECT_EQ((*kv)[1].value, "2");
}

TEST(KeyValueList, SkipsEmptySegments) {
  auto kv = parse_key_value_list(";;A=1;;B=2;;", KeyValueSyntax::hub);
  ASSERT_TRUE(kv);
  EXPECT_EQ(kv->size(), 2u);
}

TEST(KeyValueList, KustoSyntaxTakesALeadingDataSourceAndQuotedValues) {
  auto kv = parse_key_value_list(
      R"(https://c.kusto.windows.net; Application Key="a;b""c" ;X='it''s')", KeyValueSyntax::kusto);
  ASSERT_TRUE(kv) << kv.error().message;
  ASSERT_EQ(kv->size(), 3u);
  EXPECT_EQ((*kv)[0].key, "Data Source");
  EXPECT_EQ((*kv)[0].value, "https://c.kusto.windows.net");
  EXPECT_EQ((*kv)[1].value, "a;b\"c");
  EXPECT_EQ((*kv)[2].value, "it's");
}

TEST(KeyValueList, ErrorsNameTheSegmentButNotItsText) {
  auto kv = parse_key_value_list("A=1;secretvalue;B=2", KeyValueSyntax::hub);
  ASSERT_FALSE(kv);
  EXPECT_EQ(kv.error().message, "segment 2 has no '=' (expected Key=Value pairs separated by ';')");
  EXPECT_EQ(parse_key_value_list("=value", KeyValueSyntax::hub).error().message,
            "segment 1 has a value but no key");
  EXPECT_EQ(parse_key_value_list("K=\"open", KeyValueSyntax::kusto).error().message,
            "the value of 'K' opens a quote (\") that is never closed");
}

TEST(NormalizeKeyword, LowersAndDropsSpaces) {
  EXPECT_EQ(normalize_keyword("Data Source"), "datasource");
  EXPECT_TRUE(text::iequals("EntityPath", "entitypath"));
  EXPECT_FALSE(text::iequals("EntityPath", "EntityPat"));
}

} // namespace
} // namespace hub2kusto
