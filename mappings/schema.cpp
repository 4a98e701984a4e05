#include "mappings/schema.hpp"
#include "base/text.hpp"

#include <array>
#include <utility>

namespace hub2kusto::mappings {
namespace {

using text::iequals;
using text::is_space;
using text::lower;
using text::trim;

} // namespace

std::optional<ColumnType> parse_column_type(std::string_view name) {
  static constexpr std::array<std::pair<std::string_view, ColumnType>, 16> kNames = {{
      {"bool", ColumnType::boolean},
      {"boolean", ColumnType::boolean},
      {"int", ColumnType::int32},
      {"long", ColumnType::int64},
      {"real", ColumnType::real},
      {"double", ColumnType::real},
      {"decimal", ColumnType::decimal},
      {"string", ColumnType::string},
      {"datetime", ColumnType::datetime},
      {"date", ColumnType::datetime},
      {"timespan", ColumnType::timespan},
      {"time", ColumnType::timespan},
      {"guid", ColumnType::guid},
      {"uuid", ColumnType::guid},
      {"uniqueid", ColumnType::guid},
      {"dynamic", ColumnType::dynamic},
  }};
  for (const auto& [n, t] : kNames) {
    if (iequals(n, name)) {
      return t;
    }
  }
  return std::nullopt;
}

std::string_view to_string(ColumnType type) {
  switch (type) {
  case ColumnType::boolean:
    return "bool";
  case ColumnType::int32:
    return "int";
  case ColumnType::int64:
    return "long";
  case ColumnType::real:
    return "real";
  case ColumnType::decimal:
    return "decimal";
  case ColumnType::string:
    return "string";
  case ColumnType::datetime:
    return "datetime";
  case ColumnType::timespan:
    return "timespan";
  case ColumnType::guid:
    return "guid";
  case ColumnType::dynamic:
    return "dynamic";
  }
  return "?";
}

int TableSchema::index_of(std::string_view name) const {
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].name == name) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

Result<TableSchema> parse_schema(std::string_view text) {
  text = trim(text);
  if (!text.empty() && text.front() == '(') {
    if (text.back() != ')') {
      return failure("schema: '(' is not closed by ')'");
    }
    text = trim(text.substr(1, text.size() - 2));
  }
  TableSchema schema;
  std::size_t pos = 0;
  std::size_t index = 0;
  while (pos < text.size()) {
    ++index;
    // Column name: plain, or bracketed ['name'] / ["name"].
    std::string name;
    while (pos < text.size() && is_space(text[pos])) {
      ++pos;
    }
    if (text.substr(pos, 2) == "['" || text.substr(pos, 2) == "[\"") {
      const char quote = text[pos + 1];
      const std::size_t close = text.find(std::string{quote, ']'}, pos + 2);
      if (close == std::string_view::npos) {
        return failure("schema column " + std::to_string(index) + ": bracketed name is not closed");
      }
      name = std::string(text.substr(pos + 2, close - pos - 2));
      pos = close + 2;
    } else {
      const std::size_t colon = text.find(':', pos);
      const std::size_t comma = text.find(',', pos);
      if (colon == std::string_view::npos || (comma != std::string_view::npos && comma < colon)) {
        return failure("schema column " + std::to_string(index) +
                       ": expected Name:type, found no ':'");
      }
      name = std::string(trim(text.substr(pos, colon - pos)));
      pos = colon;
    }
    while (pos < text.size() && is_space(text[pos])) {
      ++pos;
    }
    if (pos >= text.size() || text[pos] != ':') {
      return failure("schema column " + std::to_string(index) + " ('" + name +
                     "'): expected ':' and a type after the name");
    }
    ++pos;
    const std::size_t comma = text.find(',', pos);
    const std::string_view type_text = trim(
        text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos));
    pos = comma == std::string_view::npos ? text.size() : comma + 1;
    if (name.empty()) {
      return failure("schema column " + std::to_string(index) + ": the name is empty");
    }
    const auto type = parse_column_type(type_text);
    if (!type) {
      return failure("schema column " + std::to_string(index) + " ('" + name + "'): '" +
                     std::string(type_text) +
                     "' is not a Kusto type (bool, int, long, real, decimal, string, datetime, "
                     "timespan, guid, dynamic)");
    }
    if (schema.index_of(name) >= 0) {
      return failure("schema column " + std::to_string(index) + ": '" + name +
                     "' is declared twice");
    }
    schema.columns.push_back({std::move(name), *type});
  }
  if (schema.columns.empty()) {
    return failure("schema: no columns");
  }
  return schema;
}

} // namespace hub2kusto::mappings
