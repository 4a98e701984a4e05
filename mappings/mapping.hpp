#pragma once
// Ingestion mapping definitions, parsed from exactly the JSON that
// `.create table T ingestion json|csv mapping 'name' '[...]'` takes (docs/protocols.md, "Ingestion
// mappings"; docs management/mappings, json-mapping, csv-mapping).
//
// Current form: [{"column":"C","datatype":"int","Properties":{"Path":"$.a"}}]
// Legacy forms:  [{"column":"C","path":"$.a","datatype":"","transform":null}]           (JSON)
//                [{"Name":"C","DataType":"int","CsvDataType":null,"Ordinal":0,"ConstValue":null}]
// Keys are case-insensitive; Column|ColumnName|Name and DataType|ColumnType are aliases.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "mappings/schema.hpp"

namespace hub2kusto::mappings {

// The JSONPath subset Kusto supports (docs query/jsonpath): $, .name, ['name'] / ["name"],
// [n]. No wildcards, recursion, unions, slices or filters.
struct PathSegment {
  std::string key;         // object member, when index < 0
  std::int64_t index = -1; // array element
  friend bool operator==(const PathSegment&, const PathSegment&) = default;
};
struct JsonPath {
  std::vector<PathSegment> segments; // empty: the whole record ($)
  std::string text;                  // as written
};
Result<JsonPath> parse_json_path(std::string_view text);

enum class Transform {
  none,
  datetime_from_unix_seconds,
  datetime_from_unix_milliseconds,
  datetime_from_unix_microseconds,
  datetime_from_unix_nanoseconds,
  drop_mapped_fields,
  bytes_as_base64,
  property_bag_array_to_dictionary,
  source_location,
  source_line_number,
};
std::optional<Transform> parse_transform(std::string_view name);
std::string_view to_string(Transform transform);

enum class MappingKind { json, csv };

struct ColumnMapping {
  std::string column;
  std::optional<ColumnType> datatype; // only informative: the table's schema decides
  std::optional<JsonPath> path;       // JSON
  std::optional<std::size_t> ordinal; // CSV
  std::optional<std::string> const_value;
  Transform transform = Transform::none;
};

struct MappingDefinition {
  MappingKind kind = MappingKind::json;
  std::vector<ColumnMapping> columns;
};

// Errors name the entry (1-based) and its column and field, for example
// "mapping entry 2 ('Metric'): Properties.Path: '$.a[' is not a valid path: ...".
Result<MappingDefinition> parse_mapping(std::string_view json_text, MappingKind kind);

} // namespace hub2kusto::mappings
