#include "mappings/schema.hpp"

#include <gtest/gtest.h>

namespace hub2kusto::mappings {
namespace {

TEST(Schema, ParsesTheCreateTableColumnList) {
  // docs management/create-table-command: .create table T (TimeStamp:datetime, ...)
  auto s = parse_schema("(TimeStamp:datetime, Name:string, Metric:int, Source:string)");
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_EQ(s->columns.size(), 4u);
  EXPECT_EQ(s->columns[0].name, "TimeStamp");
  EXPECT_EQ(s->columns[0].type, ColumnType::datetime);
  EXPECT_EQ(s->columns[2].type, ColumnType::int32);
  EXPECT_EQ(s->index_of("Source"), 3);
  EXPECT_EQ(s->index_of("Nope"), -1);
}

TEST(Schema, EveryScalarTypeAndAlias) {
  auto s = parse_schema("a:bool,b:boolean,c:int,d:long,e:real,f:double,g:decimal,h:string,"
                        "i:datetime,j:date,k:timespan,l:time,m:guid,n:uuid,o:uniqueid,p:dynamic");
  ASSERT_TRUE(s) << s.error().message;
  const ColumnType expected[] = {
      ColumnType::boolean,  ColumnType::boolean,  ColumnType::int32,    ColumnType::int64,
      ColumnType::real,     ColumnType::real,     ColumnType::decimal,  ColumnType::string,
      ColumnType::datetime, ColumnType::datetime, ColumnType::timespan, ColumnType::timespan,
      ColumnType::guid,     ColumnType::guid,     ColumnType::guid,     ColumnType::dynamic};
  ASSERT_EQ(s->columns.size(), std::size(expected));
  for (std::size_t i = 0; i < std::size(expected); ++i) {
    EXPECT_EQ(s->columns[i].type, expected[i]) << s->columns[i].name;
  }
}

TEST(Schema, BracketedNames) {
  auto s = parse_schema("['Device Id']:string, [\"a,b\"]:long");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->columns[0].name, "Device Id");
  EXPECT_EQ(s->columns[1].name, "a,b");
}

TEST(Schema, ErrorsNameTheColumn) {
  EXPECT_EQ(parse_schema("a:int,b:integer").error().message,
            "schema column 2 ('b'): 'integer' is not a Kusto type (bool, int, long, real, "
            "decimal, string, datetime, timespan, guid, dynamic)");
  EXPECT_EQ(parse_schema("a:int,b").error().message,
            "schema column 2: expected Name:type, found no ':'");
  EXPECT_EQ(parse_schema("a:int,a:long").error().message, "schema column 2: 'a' is declared twice");
  EXPECT_EQ(parse_schema("").error().message, "schema: no columns");
  EXPECT_EQ(parse_schema("(a:int").error().message, "schema: '(' is not closed by ')'");
}

} // namespace
} // namespace hub2kusto::mappings
