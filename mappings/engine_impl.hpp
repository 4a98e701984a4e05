#pragma once
// The mapping engine's inside, shared by its parts: engine.cpp (Mapper, building the columns),
// value_writer.cpp (one cell of a Kusto type from a JSON, text or property value),
// transforms.cpp (the mapping transforms) and record_readers.cpp (event bodies to records:
// JSON, CSV-like, raw and compressed). Internal to mappings/.
#include "mappings/engine.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>
#include <simdjson.h>
#include <zlib.h>

#include "mappings/values.hpp"

namespace hub2kusto::mappings {

using simdjson::dom::element;
using simdjson::dom::element_type;

constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// --- output helpers -----------------------------------------------------------------------

inline void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') {
      continue;
    }
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

// RFC 4180: quote a field that holds a comma, a quote or a line break; double inner quotes.
inline void append_csv_field(std::string& out, std::string_view s) {
  bool needs_quotes = false;
  for (const char c : s) {
    needs_quotes |= (c == ',') | (c == '"') | (c == '\n') | (c == '\r');
  }
  if (!needs_quotes) {
    out.append(s);
    return;
  }
  out += '"';
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '"') {
      out.append(s.data() + run, i + 1 - run); // through the quote, which is then doubled
      run = i;
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

// Paths other columns map, relative to a DropMappedFields column's object.
struct DropNode {
  std::string key; // the member this node stands for (empty at the root)
  bool leaf = false;
  std::vector<DropNode> children;
  const DropNode* child(std::string_view name) const {
    for (const auto& n : children) {
      if (n.key == name) {
        return &n;
      }
    }
    return nullptr;
  }
};

// --- numbers simdjson cannot hold ---------------------------------------------------------
//
// simdjson keeps a number as an int64, a uint64 or a double and refuses the whole document
// when one does not fit (an integer of 21 digits, 1e400). Kusto ingests such documents: the
// value is null in a numeric column and the text in a string or dynamic one
// (mappings/README.md, "Numbers beyond 64 bits"). The engine then parses the document again
// with each such number rewritten as the JSON string "\u0000<number>": a NUL-led string that
// the writers below turn back into the number's text, but only for a document they know was
// rewritten.

// The number grammar of RFC 8259, section 6.
inline bool is_json_number(std::string_view s) {
  std::size_t i = 0;
  const auto digits = [&] {
    const std::size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      ++i;
    }
    return i - start;
  };
  if (i < s.size() && s[i] == '-') {
    ++i;
  }
  if (i < s.size() && s[i] == '0') {
    ++i;
  } else if (digits() == 0) {
    return false;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (digits() == 0) {
      return false;
    }
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
      ++i;
    }
    if (digits() == 0) {
      return false;
    }
  }
  return i == s.size();
}

// Whether simdjson holds the valid JSON number `s`: an integer in int64 or uint64, or any
// other number that is finite as a double (underflow reads as zero).
inline bool simdjson_holds(std::string_view s) {
  if (s.find_first_of(".eE") == std::string_view::npos) {
    std::int64_t i = 0;
    std::uint64_t u = 0;
    return std::from_chars(s.data(), s.data() + s.size(), i).ec == std::errc{} ||
           std::from_chars(s.data(), s.data() + s.size(), u).ec == std::errc{};
  }
  const std::string text(s);
  return std::isfinite(std::strtod(text.c_str(), nullptr));
}

// Copies `json` into `out` with every number simdjson cannot hold written as "\u0000<number>";
// false when there was none (the document is malformed for another reason).
inline bool quote_unheld_numbers(std::string_view json, std::string& out) {
  out.clear();
  out.reserve(json.size() + 16);
  bool changed = false;
  std::size_t i = 0;
  while (i < json.size()) {
    const char c = json[i];
    if (c == '"') { // copy a string whole, escapes included
      std::size_t j = i + 1;
      while (j < json.size() && json[j] != '"') {
        j += json[j] == '\\' ? 2 : 1;
      }
      j = std::min(j + 1, json.size());
      out.append(json.substr(i, j - i));
      i = j;
      continue;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      std::size_t j = i;
      while (j < json.size() && std::strchr("+-0123456789.eE", json[j]) != nullptr &&
             json[j] != '\0') {
        ++j;
      }
      const std::string_view number = json.substr(i, j - i);
      if (is_json_number(number) && !simdjson_holds(number)) {
        out += "\"\\u0000";
        out.append(number);
        out += '"';
        changed = true;
      } else {
        out.append(number);
      }
      i = j;
      continue;
    }
    out += c;
    ++i;
  }
  return changed;
}

// The number text behind a rewritten string, or nothing.
inline std::optional<std::string_view> quoted_number(std::string_view s) {
  if (s.size() < 2 || s.front() != '\0' || !is_json_number(s.substr(1))) {
    return std::nullopt;
  }
  return s.substr(1);
}

// Writes `e` as JSON; with `quoted_numbers` (a rewritten document) its rewritten numbers as the
// numbers they were.
inline void append_json(std::string& out, element e, const DropNode* drop = nullptr,
                        bool quoted_numbers = false) {
  switch (e.type()) {
  case element_type::OBJECT: {
    out += '{';
    bool first = true;
    const simdjson::dom::object object = e.get_object().value_unsafe();
    for (const auto field : object) {
      const DropNode* sub = drop != nullptr ? drop->child(field.key) : nullptr;
      if (sub != nullptr && sub->leaf) {
        continue;
      }
      if (!first) {
        out += ',';
      }
      first = false;
      append_json_string(out, field.key);
      out += ':';
      append_json(out, field.value, sub, quoted_numbers);
    }
    out += '}';
    break;
  }
  case element_type::ARRAY: {
    out += '[';
    bool first = true;
    const simdjson::dom::array array = e.get_array().value_unsafe();
    for (const element item : array) {
      if (!first) {
        out += ',';
      }
      first = false;
      append_json(out, item, nullptr, quoted_numbers);
    }
    out += ']';
    break;
  }
  case element_type::STRING:
    if (const auto number = quoted_number(e.get_string().value_unsafe());
        number && quoted_numbers) {
      out.append(*number);
    } else {
      append_json_string(out, e.get_string().value_unsafe());
    }
    break;
  case element_type::INT64:
    values::append_int(out, e.get_int64().value_unsafe());
    break;
  case element_type::UINT64: {
    char buffer[24];
    const auto [end, ec] =
        std::to_chars(buffer, buffer + sizeof buffer, e.get_uint64().value_unsafe());
    out.append(buffer, end);
    break;
  }
  case element_type::DOUBLE:
    values::append_real(out, e.get_double().value_unsafe());
    break;
  case element_type::BOOL:
    out += e.get_bool().value_unsafe() ? "true" : "false";
    break;
  case element_type::NULL_VALUE:
    out += "null";
    break;
  }
}

inline std::string excerpt(std::string_view s) {
  constexpr std::size_t kMax = 40;
  std::string out = "'";
  out.append(s.substr(0, kMax));
  if (s.size() > kMax) {
    out += "...";
  }
  out += '\'';
  return out;
}

inline std::string_view type_phrase(element_type t) {
  switch (t) {
  case element_type::ARRAY:
    return "an array";
  case element_type::OBJECT:
    return "an object";
  case element_type::INT64:
  case element_type::UINT64:
  case element_type::DOUBLE:
    return "a number";
  case element_type::STRING:
    return "a string";
  case element_type::BOOL:
    return "a boolean";
  case element_type::NULL_VALUE:
    return "null";
  }
  return "a value";
}

// --- the compiled mapping -----------------------------------------------------------------

struct CompiledColumn {
  enum class Source { none, json_path, property, ordinal, constant, source_location, line_number };
  std::string name;
  std::string json_key; // "\"Name\":" for JSON output
  ColumnType type = ColumnType::string;
  Source source = Source::none;
  std::vector<PathSegment> path;
  std::size_t ordinal = 0;  // CSV field, after the prepended properties
  std::size_t property = 0; // index into the selected properties
  std::string constant;
  Transform transform = Transform::none;
  DropNode drop; // DropMappedFields
};

// A value on its way from the event to a column.
struct Value {
  enum class Kind { missing, element, text, integer, datetime, json_text };
  Kind kind = Kind::missing;
  element json;
  std::string_view text;
  std::int64_t number = 0;
};

struct Mapper::Impl {
  TableSchema schema;
  DataFormat format = DataFormat::json;
  OutputFormat output = OutputFormat::csv;
  std::size_t max_inflated = 0;
  std::vector<const SystemPropertyInfo*> properties;
  std::vector<CompiledColumn> columns;

  simdjson::dom::parser parser;
  std::string padded;         // body copy with simdjson's padding
  std::string inflated;       // gunzipped body
  std::string requoted;       // the body with the numbers simdjson cannot hold as strings
  std::string scratch;        // text a writer builds for one cell (dynamic JSON, numbers as text)
  std::string derived;        // a transform's result for one cell; never the same buffer as scratch
  std::string fields_storage; // unescaped CSV fields
  std::vector<std::string_view> fields;
  EventOutcome outcome;
  z_stream zs{};
  bool zs_ready = false;

  // Per event.
  const EventInput* event = nullptr;
  std::size_t record = 0;      // 1-based
  bool number_error = false;   // simdjson refused a number of the body
  bool quoted_numbers = false; // the body being mapped is `requoted`
  std::string* out = nullptr;

  ~Impl() {
    if (zs_ready) {
      inflateEnd(&zs);
    }
  }

  void null_conversion(const CompiledColumn& c, std::string reason);

  // ---- writing one cell ----

  void write_null();
  void write_text(std::string_view s);
  void write_raw(std::string_view s) { out->append(s); } // numbers, booleans
  void write_quoted_in_json(std::string_view s);
  void write_datetime(std::int64_t ticks);
  void write_dynamic_from_scratch();

  // Text of a value for messages.
  std::string describe(const Value& v);

  // The text of a number simdjson could not hold, when `v` is one.
  std::optional<std::string_view> unheld_number(const Value& v) const;

  // Such a number goes in as Kusto takes it: the text in a string or dynamic column, in a
  // decimal one when it fits decimal's 38 digits, null anywhere else.
  void write_unheld_number(const CompiledColumn& c, std::string_view number);

  void cannot(const CompiledColumn& c, const Value& v);

  // Writes `v` into a cell of type c.type with Kusto's conversion rules.
  void write_value(const CompiledColumn& c, const Value& v);

  // The text of a string-like value, or a null string_view.
  static std::string_view text_of(const Value& v);

  void write_string(const Value& v);

  void write_integer(const CompiledColumn& c, const Value& v);

  static std::optional<std::int64_t> parse_integer_text(std::string_view s);

  void write_real(const CompiledColumn& c, const Value& v);

  void write_decimal(const CompiledColumn& c, const Value& v);

  void write_bool(const CompiledColumn& c, const Value& v);

  void write_datetime_value(const CompiledColumn& c, const Value& v);

  void write_dynamic(const Value& v);

  // ---- transforms ----

  Value apply_transform(const CompiledColumn& c, Value v);

  Value from_unix(const CompiledColumn& c, const Value& v, values::UnixUnit unit);

  Value bytes_as_base64(const CompiledColumn& c, const Value& v);

  Value property_bag(const CompiledColumn& c, const Value& v);

  // ---- sources ----

  Value property_value(std::size_t index) const;

  Value common_source(const CompiledColumn& c) const;

  void begin_row();
  void begin_cell(std::size_t i);
  void end_row();

  void json_row(element record_value);

  void tabular_row();

  void reject(std::size_t rec, std::optional<std::size_t> byte, std::string reason);

  // ---- bodies ----

  bool inflate_body(std::string_view body);

  // The byte at which a malformed JSON text goes wrong, for the rejection message.
  static std::optional<std::size_t> json_error_offset(std::string_view text);

  static std::string malformed_message(std::optional<std::size_t> at, simdjson::error_code err);

  bool json_record(element e, std::size_t offset);

  // simdjson reads up to SIMDJSON_PADDING bytes past the end: parse a padded copy.
  const char* load_padded(std::string_view body);

  void map_json(std::string_view body);

  // The delimited formats (delimited.hpp), txt and raw.
  void map_tabular(std::string_view body);
};

} // namespace hub2kusto::mappings
