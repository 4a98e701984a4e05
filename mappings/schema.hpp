#pragma once
// Kusto scalar types and table schemas (docs/protocols.md, "Ingestion mappings"; docs
// scalar-data-types).
//
//   parse_schema("TimeStamp:datetime, Name:string, Metric:int, Source:string")
//   parse_schema("(TimeStamp:datetime, ['Device Id']:string)")   // the .create table form

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace hub2kusto::mappings {

enum class ColumnType {
  boolean,
  int32,
  int64,
  real,
  decimal,
  string,
  datetime,
  timespan,
  guid,
  dynamic
};

// Accepts Kusto's names and aliases: bool|boolean, int, long, real|double, decimal, string,
// datetime|date, timespan|time, guid|uuid|uniqueid, dynamic (case-insensitive).
std::optional<ColumnType> parse_column_type(std::string_view name);
// The canonical Kusto name: bool, int, long, real, decimal, string, datetime, timespan, guid,
// dynamic.
std::string_view to_string(ColumnType type);

struct Column {
  std::string name;
  ColumnType type;
};

struct TableSchema {
  std::vector<Column> columns;
  // Index of the column named `name`, or -1.
  int index_of(std::string_view name) const;
};

Result<TableSchema> parse_schema(std::string_view text);

} // namespace hub2kusto::mappings
