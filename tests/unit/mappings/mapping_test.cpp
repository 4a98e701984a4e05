#include "mappings/mapping.hpp"

#include <gtest/gtest.h>

namespace hub2kusto::mappings {
namespace {

TEST(JsonPath, EveryFormKustoSupports) {
  // docs query/jsonpath: $, .name, ['name'], ["name"], [n]
  auto p = parse_json_path("$.a.b['c d'][\"e\"][0]");
  ASSERT_TRUE(p) << p.error().message;
  const std::vector<PathSegment> expected = {{"a", -1}, {"b", -1}, {"c d", -1}, {"e", -1}, {"", 0}};
  EXPECT_EQ(p->segments, expected);
  EXPECT_TRUE(parse_json_path("$")->segments.empty());
  // The escaped form of the docs: $.[\'Property name\']
  auto escaped = parse_json_path("$.['Property name']");
  ASSERT_TRUE(escaped);
  EXPECT_EQ(escaped->segments, (std::vector<PathSegment>{{"Property name", -1}}));
  EXPECT_EQ(parse_json_path("$.x-opt-enqueued-time")->segments[0].key, "x-opt-enqueued-time");
}

TEST(JsonPath, UnsupportedFormsAreErrors) {
  EXPECT_EQ(parse_json_path("a.b").error().message, "must start with '$'");
  EXPECT_EQ(parse_json_path("$..a").error().message, "recursive descent '..' is not supported");
  EXPECT_EQ(parse_json_path("$.a[*]").error().message, "wildcards are not supported");
  EXPECT_EQ(parse_json_path("$.a[1:2]").error().message,
            "'[1:2]' is not an array index (a whole number from 0) or a quoted name");
  EXPECT_EQ(parse_json_path("$['a").error().message, "a quoted member name is not closed by ']");
}

TEST(MappingDefinition, CurrentJsonForm) {
  // docs management/json-mapping example.
  auto m = parse_mapping(R"([
    {"column": "event_timestamp", "datatype": "datetime", "Properties": {"Path": "$.Timestamp"}},
    {"column": "event_name", "datatype": "string", "Properties": {"Path": "$.Event.Name"}},
    {"column": "event_type", "datatype": "string", "Properties": {"Path": "$.Event.Type"}},
    {"column": "source_uri", "datatype": "string", "Properties": {"Transform": "SourceLocation"}},
    {"column": "source_line", "datatype": "long", "Properties": {"Transform": "SourceLineNumber"}},
    {"column": "event_time", "datatype": "datetime", "Properties": {"Path": "$.Timestamp", "Transform": "DateTimeFromUnixMilliseconds"}},
    {"column": "ingestion_time", "datatype": "datetime", "Properties": {"ConstValue": "2021-01-01T10:32:00"}},
    {"column": "full_record", "datatype": "dynamic", "Properties": {"Path": "$"}}
  ])",
                         MappingKind::json);
  ASSERT_TRUE(m) << m.error().message;
  ASSERT_EQ(m->columns.size(), 8u);
  EXPECT_EQ(m->columns[1].path->segments.size(), 2u);
  EXPECT_EQ(m->columns[3].transform, Transform::source_location);
  EXPECT_EQ(m->columns[5].transform, Transform::datetime_from_unix_milliseconds);
  EXPECT_EQ(m->columns[6].const_value, "2021-01-01T10:32:00");
  EXPECT_TRUE(m->columns[7].path->segments.empty());
  EXPECT_EQ(m->columns[0].datatype, ColumnType::datetime);
}

TEST(MappingDefinition, LegacyFlatForms) {
  // docs create-ingestion-mapping (legacy JSON) and show-ingestion-mapping (legacy CSV).
  auto json = parse_mapping(
      R"([{"column":"rownumber","path":"$.rownumber","datatype":"int","transform":null},
                                {"column":"rowguid","path":"$.rowguid","datatype":"","transform":null}])",
      MappingKind::json);
  ASSERT_TRUE(json) << json.error().message;
  EXPECT_EQ(json->columns[0].path->segments[0].key, "rownumber");
  EXPECT_FALSE(json->columns[1].datatype);
  auto csv = parse_mapping(
      R"([{"Name":"rownumber","DataType":"int","CsvDataType":null,"Ordinal":0,"ConstValue":null},
          {"Name":"rowguid","DataType":"","CsvDataType":null,"Ordinal":"1","ConstValue":null}])",
      MappingKind::csv);
  ASSERT_TRUE(csv) << csv.error().message;
  EXPECT_EQ(csv->columns[0].ordinal, 0u);
  EXPECT_EQ(csv->columns[1].ordinal, 1u);
}

TEST(MappingDefinition, CsvFormWithOrdinalStrings) {
  // docs management/csv-mapping example: Ordinal given as a string.
  auto m = parse_mapping(R"([{"Column":"event_time","Properties":{"Ordinal":"0"}},
                              {"Column":"source","Properties":{"ConstValue":"csv"}},
                              {"Column":"file","Properties":{"Transform":"SourceLocation"}}])",
                         MappingKind::csv);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->columns[0].ordinal, 0u);
  EXPECT_EQ(m->columns[1].const_value, "csv");
}

TEST(MappingDefinition, PathThatIsNotAJsonPathIsAConstant) {
  auto m = parse_mapping(R"([{"column":"c","Properties":{"Path":"fixed"}}])", MappingKind::json);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->columns[0].const_value, "fixed");
  EXPECT_FALSE(m->columns[0].path);
}

struct Bad {
  std::string name;
  std::string json;
  MappingKind kind;
  std::string error;
};
void PrintTo(const Bad& b, std::ostream* os) {
  *os << b.name;
}

class BadMapping : public ::testing::TestWithParam<Bad> {};

TEST_P(BadMapping, NamesTheEntryAndField) {
  auto m = parse_mapping(GetParam().json, GetParam().kind);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().message, GetParam().error);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadMapping,
    ::testing::Values(
        Bad{"NotJson", "[{", MappingKind::json, "mapping: invalid JSON at byte 3"},
        Bad{"HugeNumber", "[1E400]", MappingKind::json,
            "mapping: invalid JSON (a number out of range)"},
        Bad{"NotArray", "{}", MappingKind::json,
            "mapping: expected a JSON array of column mappings"},
        Bad{"Empty", "[]", MappingKind::json, "mapping: the array is empty"},
        Bad{"NoColumn", R"([{"Properties":{"Path":"$.a"}}])", MappingKind::json,
            "mapping entry 1: 'column' is missing or not a non-empty string"},
        Bad{"BadPath",
            R"([{"column":"a","Properties":{"Path":"$.a"}},{"column":"b","Properties":{"Path":"$.b["}}])",
            MappingKind::json,
            "mapping entry 2 ('b'): Properties.Path: '$.b[' is not a valid path: '[' at "
            "position 3 is not closed"},
        Bad{"BadTransform", R"([{"column":"a","Properties":{"Path":"$.a","Transform":"Upper"}}])",
            MappingKind::json,
            "mapping entry 1 ('a'): Properties.Transform: 'Upper' is not a Kusto mapping "
            "transform"},
        Bad{"JsonTransformOnCsv",
            R"([{"column":"a","Properties":{"Ordinal":"0","Transform":"DropMappedFields"}}])",
            MappingKind::csv,
            "mapping entry 1 ('a'): Properties.Transform: DropMappedFields does not apply to CSV "
            "mappings"},
        Bad{"OrdinalOnJson", R"([{"column":"a","Properties":{"Ordinal":"0"}}])", MappingKind::json,
            "mapping entry 1 ('a'): Properties.Ordinal applies to CSV mappings; use Path"},
        Bad{"PathOnCsv", R"([{"column":"a","Properties":{"Path":"$.a"}}])", MappingKind::csv,
            "mapping entry 1 ('a'): Properties.Path applies to JSON mappings; use Ordinal"},
        Bad{"NegativeOrdinal", R"([{"column":"a","Properties":{"Ordinal":"-1"}}])",
            MappingKind::csv,
            "mapping entry 1 ('a'): Properties.Ordinal must be a whole number from 0"},
        Bad{"Nothing", R"([{"column":"a","Properties":{}}])", MappingKind::json,
            "mapping entry 1 ('a'): needs Path, ConstValue or a SourceLocation / "
            "SourceLineNumber transform"},
        Bad{"Twice",
            R"([{"column":"a","Properties":{"Path":"$.a"}},{"column":"a","Properties":{"Path":"$.b"}}])",
            MappingKind::json, "mapping entry 2 ('a'): the column is mapped twice"},
        Bad{"Typo", R"([{"column":"a","Propertes":{"Path":"$.a"}}])", MappingKind::json,
            "mapping entry 1 ('a'): unknown field 'Propertes'"},
        Bad{"BadType", R"([{"column":"a","datatype":"integer","Properties":{"Path":"$.a"}}])",
            MappingKind::json, "mapping entry 1 ('a'): datatype: 'integer' is not a Kusto type"},
        Bad{"LocationWithPath",
            R"([{"column":"a","Properties":{"Path":"$.a","Transform":"SourceLocation"}}])",
            MappingKind::json, "mapping entry 1 ('a'): SourceLocation takes no Path or Ordinal"},
        Bad{"Field", R"([{"column":"a","Properties":{"Field":"a"}}])", MappingKind::json,
            "mapping entry 1 ('a'): Properties.Field applies to Avro, Parquet, ORC and W3C "
            "mappings; use Path for JSON or Ordinal for CSV"}),
    [](const auto& param_info) { return param_info.param.name; });

} // namespace
} // namespace hub2kusto::mappings
