#include "mappings/mapping.hpp"
#include "base/text.hpp"

#include <array>
#include <charconv>
#include <utility>

#include <nlohmann/json.hpp>

namespace hub2kusto::mappings {
namespace {

using text::iequals;
using text::lower;

} // namespace

Result<JsonPath> parse_json_path(std::string_view text) {
  JsonPath path;
  path.text = std::string(text);
  if (text.empty() || text[0] != '$') {
    return failure("must start with '$'");
  }
  std::size_t pos = 1;
  while (pos < text.size()) {
    if (text[pos] == '.') {
      ++pos;
      if (pos < text.size() && text[pos] == '[') {
        continue; // "$.['name']" is accepted (docs: escaping in a KQL string)
      }
      if (pos < text.size() && text[pos] == '.') {
        return failure("recursive descent '..' is not supported");
      }
      const std::size_t start = pos;
      while (pos < text.size() && text[pos] != '.' && text[pos] != '[') {
        if (text[pos] == '*') {
          return failure("wildcards are not supported");
        }
        ++pos;
      }
      if (pos == start) {
        return failure("empty member name at position " + std::to_string(start));
      }
      path.segments.push_back({std::string(text.substr(start, pos - start)), -1});
    } else if (text[pos] == '[') {
      ++pos;
      if (pos < text.size() && (text[pos] == '\'' || text[pos] == '"')) {
        const char quote = text[pos++];
        std::string key;
        bool closed = false;
        while (pos < text.size()) {
          if (text[pos] == '\\' && pos + 1 < text.size()) {
            key += text[pos + 1];
            pos += 2;
            continue;
          }
          if (text[pos] == quote) {
            closed = true;
            ++pos;
            break;
          }
          key += text[pos++];
        }
        if (!closed || pos >= text.size() || text[pos] != ']') {
          return failure("a quoted member name is not closed by " + std::string(1, quote) + "]");
        }
        ++pos;
        path.segments.push_back({std::move(key), -1});
      } else {
        const std::size_t close = text.find(']', pos);
        if (close == std::string_view::npos) {
          return failure("'[' at position " + std::to_string(pos - 1) + " is not closed");
        }
        const std::string_view inside = text.substr(pos, close - pos);
        std::int64_t index = 0;
        const auto [end, ec] = std::from_chars(inside.data(), inside.data() + inside.size(), index);
        if (inside == "*") {
          return failure("wildcards are not supported");
        }
        if (ec != std::errc() || end != inside.data() + inside.size() || index < 0) {
          return failure("'[" + std::string(inside) +
                         "]' is not an array index (a whole number from 0) or a quoted name");
        }
        path.segments.push_back({{}, index});
        pos = close + 1;
      }
    } else {
      return failure("unexpected '" + std::string(1, text[pos]) + "' at position " +
                     std::to_string(pos));
    }
  }
  return path;
}

std::optional<Transform> parse_transform(std::string_view name) {
  static constexpr std::array<std::pair<std::string_view, Transform>, 11> kNames = {{
      {"None", Transform::none},
      {"DateTimeFromUnixSeconds", Transform::datetime_from_unix_seconds},
      {"DateTimeFromUnixMilliseconds", Transform::datetime_from_unix_milliseconds},
      {"DateTimeFromUnixMicroseconds", Transform::datetime_from_unix_microseconds},
      {"DateTimeFromUnixNanoseconds", Transform::datetime_from_unix_nanoseconds},
      {"DropMappedFields", Transform::drop_mapped_fields},
      {"BytesAsBase64", Transform::bytes_as_base64},
      {"PropertyBagArrayToDictionary", Transform::property_bag_array_to_dictionary},
      {"SourceLocation", Transform::source_location},
      {"SourceLineNumber", Transform::source_line_number},
      {"", Transform::none},
  }};
  for (const auto& [n, t] : kNames) {
    if (iequals(n, name)) {
      return t;
    }
  }
  return std::nullopt;
}

std::string_view to_string(Transform transform) {
  switch (transform) {
  case Transform::none:
    return "None";
  case Transform::datetime_from_unix_seconds:
    return "DateTimeFromUnixSeconds";
  case Transform::datetime_from_unix_milliseconds:
    return "DateTimeFromUnixMilliseconds";
  case Transform::datetime_from_unix_microseconds:
    return "DateTimeFromUnixMicroseconds";
  case Transform::datetime_from_unix_nanoseconds:
    return "DateTimeFromUnixNanoseconds";
  case Transform::drop_mapped_fields:
    return "DropMappedFields";
  case Transform::bytes_as_base64:
    return "BytesAsBase64";
  case Transform::property_bag_array_to_dictionary:
    return "PropertyBagArrayToDictionary";
  case Transform::source_location:
    return "SourceLocation";
  case Transform::source_line_number:
    return "SourceLineNumber";
  }
  return "?";
}

namespace {

using nlohmann::json;

// A member of `object` by any of `names`, case-insensitively; nullptr when absent or null.
const json* find(const json& object, std::initializer_list<std::string_view> names,
                 std::string* found_as = nullptr) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    for (const auto name : names) {
      if (iequals(it.key(), name)) {
        if (found_as != nullptr) {
          *found_as = it.key();
        }
        return it->is_null() ? nullptr : &*it;
      }
    }
  }
  return nullptr;
}

// Strings and numbers both appear in the wild ("Ordinal":"0" and "Ordinal":0).
std::optional<std::string> scalar_text(const json& v) {
  if (v.is_string()) {
    return v.get<std::string>();
  }
  if (v.is_number_integer()) {
    return std::to_string(v.get<std::int64_t>());
  }
  return std::nullopt;
}

bool applies_to(Transform t, MappingKind kind) {
  switch (t) {
  case Transform::none:
  case Transform::datetime_from_unix_seconds:
  case Transform::datetime_from_unix_milliseconds:
  case Transform::datetime_from_unix_microseconds:
  case Transform::datetime_from_unix_nanoseconds:
  case Transform::source_location:
  case Transform::source_line_number:
    return true;
  case Transform::drop_mapped_fields:
  case Transform::bytes_as_base64:
  case Transform::property_bag_array_to_dictionary:
    return kind == MappingKind::json;
  }
  return false;
}

} // namespace

Result<MappingDefinition> parse_mapping(std::string_view json_text, MappingKind kind) {
  json doc;
  try {
    doc = json::parse(json_text);
  } catch (const json::parse_error& e) {
    return failure("mapping: invalid JSON at byte " + std::to_string(e.byte));
  } catch (const json::exception&) {
    return failure("mapping: invalid JSON (a number out of range)"); // out_of_range.406
  }
  if (!doc.is_array()) {
    return failure("mapping: expected a JSON array of column mappings");
  }
  if (doc.empty()) {
    return failure("mapping: the array is empty");
  }
  MappingDefinition def;
  def.kind = kind;
  std::size_t n = 0;
  for (const auto& entry : doc) {
    ++n;
    std::string where = "mapping entry " + std::to_string(n);
    if (!entry.is_object()) {
      return failure(where + ": expected an object");
    }
    ColumnMapping cm;
    const json* column = find(entry, {"column", "columnname", "name"});
    if (column == nullptr || !column->is_string() || column->get<std::string>().empty()) {
      return failure(where + ": 'column' is missing or not a non-empty string");
    }
    cm.column = column->get<std::string>();
    where += " ('" + cm.column + "')";
    for (const auto& other : def.columns) {
      if (other.column == cm.column) {
        return failure(where + ": the column is mapped twice");
      }
    }
    if (const json* dt = find(entry, {"datatype", "columntype"})) {
      if (!dt->is_string()) {
        return failure(where + ": 'datatype' must be a string");
      }
      const std::string text = dt->get<std::string>();
      if (!text.empty()) {
        cm.datatype = parse_column_type(text);
        if (!cm.datatype) {
          return failure(where + ": datatype: '" + text + "' is not a Kusto type");
        }
      }
    }
    // Unknown keys are an error: a misspelt "Propertes" must not silently map nothing.
    for (auto it = entry.begin(); it != entry.end(); ++it) {
      static constexpr std::string_view kKnown[] = {
          "column", "columnname", "name",       "datatype",  "columntype", "properties",
          "path",   "ordinal",    "constvalue", "transform", "csvdatatype"};
      bool known = false;
      for (const auto k : kKnown) {
        known = known || iequals(it.key(), k);
      }
      if (!known) {
        return failure(where + ": unknown field '" + it.key() + "'");
      }
    }

    // Properties: nested (current form) or flat (legacy form), not both.
    const json* props = find(entry, {"properties"});
    const json& source = props != nullptr ? *props : entry;
    const std::string prefix = props != nullptr ? "Properties." : "";
    if (props != nullptr) {
      if (!props->is_object()) {
        return failure(where + ": 'Properties' must be an object");
      }
      for (auto it = props->begin(); it != props->end(); ++it) {
        static constexpr std::string_view kKnown[] = {"path", "ordinal", "constvalue", "transform",
                                                      "field"};
        bool known = false;
        for (const auto k : kKnown) {
          known = known || iequals(it.key(), k);
        }
        if (!known) {
          return failure(where + ": unknown property '" + it.key() + "'");
        }
      }
      if (find(entry, {"path", "ordinal", "constvalue", "transform"}) != nullptr) {
        return failure(where + ": give properties either inside 'Properties' or at the top "
                               "level, not both");
      }
      if (find(*props, {"field"}) != nullptr) {
        return failure(where + ": Properties.Field applies to Avro, Parquet, ORC and W3C "
                               "mappings; use Path for JSON or Ordinal for CSV");
      }
    }
    if (const json* t = find(source, {"transform"})) {
      const auto name = t->is_string() ? parse_transform(t->get<std::string>()) : std::nullopt;
      if (!name) {
        return failure(where + ": " + prefix + "Transform: '" +
                       (t->is_string() ? t->get<std::string>() : t->dump()) +
                       "' is not a Kusto mapping transform");
      }
      if (!applies_to(*name, kind)) {
        return failure(where + ": " + prefix + "Transform: " + std::string(to_string(*name)) +
                       " does not apply to " + (kind == MappingKind::csv ? "CSV" : "JSON") +
                       " mappings");
      }
      cm.transform = *name;
    }
    if (const json* c = find(source, {"constvalue"})) {
      const auto text = c->is_string() ? std::optional(c->get<std::string>()) : std::nullopt;
      if (!text) {
        return failure(where + ": " + prefix + "ConstValue must be a string");
      }
      cm.const_value = *text;
    }
    const json* path = find(source, {"path"});
    const json* ordinal = find(source, {"ordinal"});
    if (kind == MappingKind::json) {
      if (ordinal != nullptr) {
        return failure(where + ": " + prefix + "Ordinal applies to CSV mappings; use Path");
      }
      if (path != nullptr) {
        if (!path->is_string()) {
          return failure(where + ": " + prefix + "Path must be a string");
        }
        const std::string p = path->get<std::string>();
        if (!p.empty() && p[0] != '$') {
          // A Path that is not a JSONPath is a constant (docs/protocols.md, "Ingestion mappings").
          if (!cm.const_value) {
            cm.const_value = p;
          }
        } else if (!p.empty()) {
          auto parsed = parse_json_path(p);
          if (!parsed) {
            return failure(where + ": " + prefix + "Path: '" + p +
                           "' is not a valid path: " + parsed.error().message);
          }
          cm.path = std::move(parsed).value();
        }
      }
    } else {
      if (path != nullptr) {
        return failure(where + ": " + prefix + "Path applies to JSON mappings; use Ordinal");
      }
      if (ordinal != nullptr) {
        const auto text = scalar_text(*ordinal);
        std::size_t value = 0;
        const auto [end, ec] =
            text ? std::from_chars(text->data(), text->data() + text->size(), value)
                 : std::from_chars_result{nullptr, std::errc::invalid_argument};
        if (!text || ec != std::errc() || end != text->data() + text->size()) {
          return failure(where + ": " + prefix + "Ordinal must be a whole number from 0");
        }
        cm.ordinal = value;
      }
    }
    const bool positional =
        cm.transform == Transform::source_location || cm.transform == Transform::source_line_number;
    if (positional && (cm.path || cm.ordinal)) {
      return failure(where + ": " + std::string(to_string(cm.transform)) +
                     " takes no Path or Ordinal");
    }
    if (!positional && !cm.path && !cm.ordinal && !cm.const_value) {
      return failure(where + ": needs " +
                     std::string(kind == MappingKind::json ? "Path" : "Ordinal") +
                     ", ConstValue or a SourceLocation / SourceLineNumber transform");
    }
    def.columns.push_back(std::move(cm));
  }
  return def;
}

} // namespace hub2kusto::mappings
