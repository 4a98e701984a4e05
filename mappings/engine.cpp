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
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// --- output helpers -----------------------------------------------------------------------

void append_json_string(std::string& out, std::string_view s) {
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
void append_csv_field(std::string& out, std::string_view s) {
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
bool is_json_number(std::string_view s) {
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
bool simdjson_holds(std::string_view s) {
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
bool quote_unheld_numbers(std::string_view json, std::string& out) {
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
std::optional<std::string_view> quoted_number(std::string_view s) {
  if (s.size() < 2 || s.front() != '\0' || !is_json_number(s.substr(1))) {
    return std::nullopt;
  }
  return s.substr(1);
}

// Writes `e` as JSON; with `quoted_numbers` (a rewritten document) its rewritten numbers as the
// numbers they were.
void append_json(std::string& out, element e, const DropNode* drop = nullptr,
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

std::string excerpt(std::string_view s) {
  constexpr std::size_t kMax = 40;
  std::string out = "'";
  out.append(s.substr(0, kMax));
  if (s.size() > kMax) {
    out += "...";
  }
  out += '\'';
  return out;
}

std::string_view type_phrase(element_type t) {
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

} // namespace

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

  void null_conversion(const CompiledColumn& c, std::string reason) {
    outcome.nulls.push_back(
        {record, static_cast<std::size_t>(&c - columns.data()), std::move(reason)});
  }

  // ---- writing one cell ----

  void write_null() {
    if (output == OutputFormat::json) {
      *out += "null";
    }
  }
  void write_text(std::string_view s) {
    if (output == OutputFormat::json) {
      append_json_string(*out, s);
    } else {
      append_csv_field(*out, s);
    }
  }
  void write_raw(std::string_view s) { out->append(s); } // numbers, booleans
  void write_quoted_in_json(std::string_view s) {
    if (output == OutputFormat::json) {
      *out += '"';
      out->append(s);
      *out += '"';
    } else {
      out->append(s);
    }
  }
  void write_datetime(std::int64_t ticks) {
    if (output == OutputFormat::json) {
      *out += '"';
    }
    values::append_datetime(*out, ticks);
    if (output == OutputFormat::json) {
      *out += '"';
    }
  }
  void write_dynamic_from_scratch() {
    if (output == OutputFormat::json) {
      out->append(scratch);
    } else {
      append_csv_field(*out, scratch);
    }
  }

  // Text of a value for messages.
  std::string describe(const Value& v) {
    switch (v.kind) {
    case Value::Kind::element:
      if (const auto number = unheld_number(v)) {
        return excerpt(*number);
      } else if (v.json.type() == element_type::STRING) {
        return excerpt(v.json.get_string().value_unsafe());
      } else {
        std::string text;
        append_json(text, v.json, nullptr, quoted_numbers);
        return excerpt(text);
      }
    case Value::Kind::text:
    case Value::Kind::json_text:
      return excerpt(v.text);
    case Value::Kind::integer:
      return std::to_string(v.number);
    case Value::Kind::datetime: {
      std::string text;
      values::append_datetime(text, v.number);
      return text;
    }
    case Value::Kind::missing:
      break;
    }
    return "nothing";
  }

  // The text of a number simdjson could not hold, when `v` is one.
  std::optional<std::string_view> unheld_number(const Value& v) const {
    if (!quoted_numbers || v.kind != Value::Kind::element ||
        v.json.type() != element_type::STRING) {
      return std::nullopt;
    }
    return quoted_number(v.json.get_string().value_unsafe());
  }

  // Such a number goes in as Kusto takes it: the text in a string or dynamic column, in a
  // decimal one when it fits decimal's 38 digits, null anywhere else.
  void write_unheld_number(const CompiledColumn& c, std::string_view number) {
    switch (c.type) {
    case ColumnType::string:
      write_text(number);
      return;
    case ColumnType::dynamic:
      if (output == OutputFormat::json) {
        write_raw(number);
      } else {
        append_csv_field(*out, number);
      }
      return;
    case ColumnType::decimal:
      if (number.find_first_of("eE") == std::string_view::npos &&
          std::count_if(number.begin(), number.end(),
                        [](char d) { return d >= '0' && d <= '9'; }) <= 38) {
        write_quoted_in_json(number);
        return;
      }
      break;
    default:
      break;
    }
    null_conversion(c,
                    excerpt(number) + " is beyond the range of " + std::string(to_string(c.type)));
    write_null();
  }

  void cannot(const CompiledColumn& c, const Value& v) {
    null_conversion(c, describe(v) + " is not a valid " + std::string(to_string(c.type)));
    write_null();
  }

  // Writes `v` into a cell of type c.type with Kusto's conversion rules.
  void write_value(const CompiledColumn& c, const Value& v) {
    // An empty CSV field is null in every column but a string one, silently, as Kusto ingests it.
    if (v.kind == Value::Kind::missing ||
        (v.kind == Value::Kind::element && v.json.type() == element_type::NULL_VALUE) ||
        (v.kind == Value::Kind::text && v.text.empty())) {
      if (c.type == ColumnType::string) {
        write_text(""); // string columns are never null (docs null-values)
      } else {
        write_null();
      }
      return;
    }
    if (const auto number = unheld_number(v)) {
      write_unheld_number(c, *number);
      return;
    }
    switch (c.type) {
    case ColumnType::string:
      write_string(v);
      return;
    case ColumnType::int32:
    case ColumnType::int64:
      write_integer(c, v);
      return;
    case ColumnType::real:
      write_real(c, v);
      return;
    case ColumnType::decimal:
      write_decimal(c, v);
      return;
    case ColumnType::boolean:
      write_bool(c, v);
      return;
    case ColumnType::datetime:
      write_datetime_value(c, v);
      return;
    case ColumnType::timespan: {
      const std::string_view text = text_of(v);
      const auto ticks = text.data() != nullptr ? values::parse_timespan(text) : std::nullopt;
      if (!ticks) {
        cannot(c, v);
        return;
      }
      std::size_t start = out->size();
      values::append_timespan(*out, *ticks);
      if (output == OutputFormat::json) {
        out->insert(start, 1, '"');
        *out += '"';
      }
      return;
    }
    case ColumnType::guid: {
      const std::string_view text = text_of(v);
      if (output == OutputFormat::json) {
        *out += '"';
      }
      if (text.data() == nullptr || !values::append_guid(*out, text)) {
        if (output == OutputFormat::json) {
          out->pop_back();
        }
        cannot(c, v);
        return;
      }
      if (output == OutputFormat::json) {
        *out += '"';
      }
      return;
    }
    case ColumnType::dynamic:
      write_dynamic(v);
      return;
    }
  }

  // The text of a string-like value, or a null string_view.
  static std::string_view text_of(const Value& v) {
    if (v.kind == Value::Kind::text) {
      return v.text;
    }
    if (v.kind == Value::Kind::element && v.json.type() == element_type::STRING) {
      return v.json.get_string().value_unsafe();
    }
    return {};
  }

  void write_string(const Value& v) {
    switch (v.kind) {
    case Value::Kind::element:
      if (v.json.type() == element_type::STRING) {
        write_text(v.json.get_string().value_unsafe());
      } else {
        scratch.clear();
        append_json(scratch, v.json, nullptr, quoted_numbers);
        write_text(scratch);
      }
      return;
    case Value::Kind::text:
    case Value::Kind::json_text:
      write_text(v.text);
      return;
    case Value::Kind::integer:
      scratch.clear();
      values::append_int(scratch, v.number);
      write_text(scratch);
      return;
    case Value::Kind::datetime:
      scratch.clear();
      values::append_datetime(scratch, v.number);
      write_text(scratch);
      return;
    case Value::Kind::missing:
      write_text("");
      return;
    }
  }

  void write_integer(const CompiledColumn& c, const Value& v) {
    std::optional<std::int64_t> n;
    if (v.kind == Value::Kind::integer) {
      n = v.number;
    } else if (v.kind == Value::Kind::element) {
      switch (v.json.type()) {
      case element_type::INT64:
        n = v.json.get_int64().value_unsafe();
        break;
      case element_type::UINT64:
        break; // beyond long
      case element_type::DOUBLE: {
        const double d = v.json.get_double().value_unsafe();
        if (std::isfinite(d) && d > -9.2233720368547758e18 && d < 9.2233720368547758e18) {
          n = static_cast<std::int64_t>(d); // toint()/tolong() truncate toward zero
        }
        break;
      }
      case element_type::BOOL:
        n = v.json.get_bool().value_unsafe() ? 1 : 0;
        break;
      case element_type::STRING:
        n = parse_integer_text(v.json.get_string().value_unsafe());
        break;
      default:
        break;
      }
    } else if (v.kind == Value::Kind::text) {
      n = parse_integer_text(v.text);
    }
    if (n && c.type == ColumnType::int32 &&
        (*n < std::numeric_limits<std::int32_t>::min() ||
         *n > std::numeric_limits<std::int32_t>::max())) {
      n.reset();
    }
    if (!n) {
      cannot(c, v);
      return;
    }
    values::append_int(*out, *n);
  }

  static std::optional<std::int64_t> parse_integer_text(std::string_view s) {
    if (auto n = values::parse_integer(s)) {
      return n;
    }
    if (const auto d = values::parse_real(s);
        d && std::isfinite(*d) && *d > -9.2233720368547758e18 && *d < 9.2233720368547758e18) {
      return static_cast<std::int64_t>(*d);
    }
    return std::nullopt;
  }

  void write_real(const CompiledColumn& c, const Value& v) {
    std::optional<double> d;
    if (v.kind == Value::Kind::integer) {
      d = static_cast<double>(v.number);
    } else if (v.kind == Value::Kind::element) {
      switch (v.json.type()) {
      case element_type::INT64:
      case element_type::UINT64:
      case element_type::DOUBLE:
        d = v.json.get_double().value_unsafe();
        break;
      case element_type::BOOL:
        d = v.json.get_bool().value_unsafe() ? 1.0 : 0.0;
        break;
      case element_type::STRING:
        d = values::parse_real(v.json.get_string().value_unsafe());
        break;
      default:
        break;
      }
    } else if (v.kind == Value::Kind::text) {
      d = values::parse_real(v.text);
    }
    if (!d) {
      cannot(c, v);
      return;
    }
    if (!std::isfinite(*d) && output == OutputFormat::json) {
      *out += '"'; // JSON has no NaN or Infinity; Kusto reads the words from a string
      values::append_real(*out, *d);
      *out += '"';
      return;
    }
    values::append_real(*out, *d);
  }

  void write_decimal(const CompiledColumn& c, const Value& v) {
    if (v.kind == Value::Kind::integer) {
      values::append_int(*out, v.number);
      return;
    }
    if (v.kind == Value::Kind::element) {
      switch (v.json.type()) {
      case element_type::INT64:
      case element_type::UINT64:
      case element_type::DOUBLE:
        scratch.clear();
        append_json(scratch, v.json, nullptr, quoted_numbers);
        write_quoted_in_json(scratch);
        return;
      default:
        break;
      }
    }
    const std::string_view text = text_of(v);
    if (text.data() == nullptr || !values::is_decimal_text(text)) {
      cannot(c, v);
      return;
    }
    std::string_view t = text;
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) {
      t.remove_prefix(1);
    }
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) {
      t.remove_suffix(1);
    }
    write_quoted_in_json(t);
  }

  void write_bool(const CompiledColumn& c, const Value& v) {
    std::optional<bool> b;
    if (v.kind == Value::Kind::integer) {
      b = v.number != 0;
    } else if (v.kind == Value::Kind::element) {
      switch (v.json.type()) {
      case element_type::BOOL:
        b = v.json.get_bool().value_unsafe();
        break;
      case element_type::INT64:
      case element_type::UINT64:
      case element_type::DOUBLE:
        b = v.json.get_double().value_unsafe() != 0.0;
        break;
      case element_type::STRING:
        b = values::parse_bool(v.json.get_string().value_unsafe());
        break;
      default:
        break;
      }
    } else if (v.kind == Value::Kind::text) {
      b = values::parse_bool(v.text);
    }
    if (!b) {
      cannot(c, v);
      return;
    }
    write_raw(*b ? "true" : "false");
  }

  void write_datetime_value(const CompiledColumn& c, const Value& v) {
    if (v.kind == Value::Kind::datetime) {
      write_datetime(v.number);
      return;
    }
    const std::string_view text = text_of(v);
    const auto ticks = text.data() != nullptr ? values::parse_datetime(text) : std::nullopt;
    if (!ticks) {
      if (v.kind == Value::Kind::element && v.json.is_number()) {
        null_conversion(c, describe(v) +
                               " is a number, not a datetime (map it with a "
                               "DateTimeFromUnixSeconds/Milliseconds/Microseconds/Nanoseconds "
                               "transform)");
        write_null();
        return;
      }
      cannot(c, v);
      return;
    }
    write_datetime(*ticks);
  }

  void write_dynamic(const Value& v) {
    scratch.clear();
    switch (v.kind) {
    case Value::Kind::element:
      append_json(scratch, v.json, nullptr, quoted_numbers);
      break;
    case Value::Kind::json_text:
      scratch.assign(v.text);
      break;
    case Value::Kind::text:
      // Text that is JSON is that JSON; anything else is a JSON string (as Kusto ingests CSV
      // fields into dynamic columns).
      if (nlohmann::json::accept(v.text)) {
        scratch.assign(v.text);
      } else {
        append_json_string(scratch, v.text);
      }
      break;
    case Value::Kind::integer:
      values::append_int(scratch, v.number);
      break;
    case Value::Kind::datetime:
      scratch += '"';
      values::append_datetime(scratch, v.number);
      scratch += '"';
      break;
    case Value::Kind::missing:
      write_null();
      return;
    }
    write_dynamic_from_scratch();
  }

  // ---- transforms ----

  Value apply_transform(const CompiledColumn& c, Value v) {
    switch (c.transform) {
    case Transform::none:
    case Transform::source_location:
    case Transform::source_line_number:
      return v;
    case Transform::datetime_from_unix_seconds:
      return from_unix(c, v, values::UnixUnit::seconds);
    case Transform::datetime_from_unix_milliseconds:
      return from_unix(c, v, values::UnixUnit::milliseconds);
    case Transform::datetime_from_unix_microseconds:
      return from_unix(c, v, values::UnixUnit::microseconds);
    case Transform::datetime_from_unix_nanoseconds:
      return from_unix(c, v, values::UnixUnit::nanoseconds);
    case Transform::drop_mapped_fields:
      if (v.kind == Value::Kind::element && v.json.type() == element_type::OBJECT) {
        derived.clear();
        append_json(derived, v.json, &c.drop, quoted_numbers);
        return Value{Value::Kind::json_text, {}, derived, 0};
      }
      return v;
    case Transform::bytes_as_base64:
      return bytes_as_base64(c, v);
    case Transform::property_bag_array_to_dictionary:
      return property_bag(c, v);
    }
    return v;
  }

  Value from_unix(const CompiledColumn& c, const Value& v, values::UnixUnit unit) {
    std::optional<std::int64_t> ticks;
    if (v.kind == Value::Kind::missing ||
        (v.kind == Value::Kind::element && v.json.type() == element_type::NULL_VALUE)) {
      return v;
    }
    if (v.kind == Value::Kind::integer) {
      ticks = values::unix_to_ticks(v.number, unit);
    } else if (v.kind == Value::Kind::element && v.json.type() == element_type::INT64) {
      ticks = values::unix_to_ticks(v.json.get_int64().value_unsafe(), unit);
    } else if (v.kind == Value::Kind::element && v.json.is_number()) {
      ticks = values::unix_to_ticks(v.json.get_double().value_unsafe(), unit);
    } else if (const std::string_view text = text_of(v); text.data() != nullptr) {
      if (const auto i = values::parse_integer(text)) {
        ticks = values::unix_to_ticks(*i, unit);
      } else if (const auto d = values::parse_real(text)) {
        ticks = values::unix_to_ticks(*d, unit);
      }
    }
    if (!ticks) {
      null_conversion(c, describe(v) + " is not a Unix time for " +
                             std::string(to_string(c.transform)));
      return Value{Value::Kind::missing, {}, {}, 0};
    }
    return Value{Value::Kind::datetime, {}, {}, *ticks};
  }

  Value bytes_as_base64(const CompiledColumn& c, const Value& v) {
    if (v.kind != Value::Kind::element || v.json.type() != element_type::ARRAY) {
      if (v.kind != Value::Kind::missing) {
        null_conversion(c, describe(v) + " is not a byte array for BytesAsBase64");
      }
      return Value{Value::Kind::missing, {}, {}, 0};
    }
    std::string bytes;
    const simdjson::dom::array array = v.json.get_array().value_unsafe();
    for (const element item : array) {
      if (item.type() != element_type::INT64 || item.get_int64().value_unsafe() < 0 ||
          item.get_int64().value_unsafe() > 255) {
        null_conversion(c, describe(v) + " is not a byte array for BytesAsBase64");
        return Value{Value::Kind::missing, {}, {}, 0};
      }
      bytes += static_cast<char>(item.get_int64().value_unsafe());
    }
    derived.clear();
    for (std::size_t i = 0; i < bytes.size(); i += 3) {
      const std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
      std::uint32_t chunk = 0;
      for (std::size_t j = 0; j < 3; ++j) {
        chunk = (chunk << 8) | (j < n ? static_cast<unsigned char>(bytes[i + j]) : 0U);
      }
      for (std::size_t j = 0; j < 4; ++j) {
        derived += j <= n ? kBase64Alphabet[(chunk >> (18 - 6 * j)) & 63] : '=';
      }
    }
    return Value{Value::Kind::text, {}, derived, 0};
  }

  Value property_bag(const CompiledColumn& c, const Value& v) {
    if (v.kind != Value::Kind::element || v.json.type() != element_type::ARRAY) {
      if (v.kind != Value::Kind::missing) {
        null_conversion(c, describe(v) + " is not an array of property bags for "
                                         "PropertyBagArrayToDictionary");
      }
      return Value{Value::Kind::missing, {}, {}, 0};
    }
    // Later keys win, as in a dictionary built in order.
    std::vector<std::pair<std::string_view, element>> entries;
    const simdjson::dom::array array = v.json.get_array().value_unsafe();
    for (const element item : array) {
      if (item.type() != element_type::OBJECT) {
        null_conversion(c, describe(v) + " is not an array of property bags for "
                                         "PropertyBagArrayToDictionary");
        return Value{Value::Kind::missing, {}, {}, 0};
      }
      const simdjson::dom::object object = item.get_object().value_unsafe();
      for (const auto field : object) {
        auto it = std::find_if(entries.begin(), entries.end(),
                               [&](const auto& e) { return e.first == field.key; });
        if (it != entries.end()) {
          it->second = field.value;
        } else {
          entries.emplace_back(field.key, field.value);
        }
      }
    }
    derived.clear();
    derived += '{';
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (i > 0) {
        derived += ',';
      }
      append_json_string(derived, entries[i].first);
      derived += ':';
      append_json(derived, entries[i].second, nullptr, quoted_numbers);
    }
    derived += '}';
    return Value{Value::Kind::json_text, {}, derived, 0};
  }

  // ---- sources ----

  Value property_value(std::size_t index) const {
    if (index >= event->properties.size()) {
      return {};
    }
    const PropertyValue& p = event->properties[index];
    switch (p.kind) {
    case PropertyValue::Kind::text:
      return Value{Value::Kind::text, {}, p.text, 0};
    case PropertyValue::Kind::integer:
      return Value{Value::Kind::integer, {}, {}, p.number};
    case PropertyValue::Kind::datetime:
      return Value{Value::Kind::datetime, {}, {}, p.number};
    case PropertyValue::Kind::absent:
      break;
    }
    return {};
  }

  Value common_source(const CompiledColumn& c) const {
    switch (c.source) {
    case CompiledColumn::Source::constant:
      return Value{Value::Kind::text, {}, c.constant, 0};
    case CompiledColumn::Source::source_location:
      return Value{Value::Kind::text, {}, event->source_location, 0};
    case CompiledColumn::Source::line_number:
      return Value{Value::Kind::integer, {}, {}, static_cast<std::int64_t>(record)};
    default:
      return {};
    }
  }

  void begin_row() {
    if (output == OutputFormat::json) {
      *out += '{';
    }
  }
  void begin_cell(std::size_t i) {
    if (output == OutputFormat::json) {
      if (i > 0) {
        *out += ',';
      }
      out->append(columns[i].json_key);
    } else if (i > 0) {
      *out += ',';
    }
  }
  void end_row() {
    if (output == OutputFormat::json) {
      *out += '}';
    }
    *out += '\n';
    ++outcome.rows;
  }

  void json_row(element record_value) {
    begin_row();
    for (std::size_t i = 0; i < columns.size(); ++i) {
      const CompiledColumn& c = columns[i];
      begin_cell(i);
      Value v;
      if (c.source == CompiledColumn::Source::json_path) {
        element cur = record_value;
        bool found = true;
        for (const auto& seg : c.path) {
          if (seg.index < 0) {
            if (cur.type() != element_type::OBJECT ||
                cur.get_object().value_unsafe().at_key(seg.key).get(cur) != simdjson::SUCCESS) {
              found = false;
              break;
            }
          } else if (cur.type() != element_type::ARRAY ||
                     cur.get_array()
                             .value_unsafe()
                             .at(static_cast<std::size_t>(seg.index))
                             .get(cur) != simdjson::SUCCESS) {
            found = false;
            break;
          }
        }
        if (found) {
          v = Value{Value::Kind::element, cur, {}, 0};
        }
      } else if (c.source == CompiledColumn::Source::property) {
        if (record == 1) { // ADX adds the properties to the first record only
          v = property_value(c.property);
        }
      } else {
        v = common_source(c);
      }
      write_value(c, apply_transform(c, v));
    }
    end_row();
  }

  void tabular_row() {
    begin_row();
    const std::size_t k = properties.size();
    for (std::size_t i = 0; i < columns.size(); ++i) {
      const CompiledColumn& c = columns[i];
      begin_cell(i);
      Value v;
      if (c.source == CompiledColumn::Source::ordinal) {
        if (c.ordinal < k) {
          v = property_value(c.ordinal);
        } else if (c.ordinal - k < fields.size()) {
          v = Value{Value::Kind::text, {}, fields[c.ordinal - k], 0};
        }
      } else {
        v = common_source(c);
      }
      write_value(c, apply_transform(c, v));
    }
    end_row();
  }

  void reject(std::size_t rec, std::optional<std::size_t> byte, std::string reason) {
    outcome.rejection = Rejection{rec, byte, std::move(reason)};
  }

  // ---- bodies ----

  bool inflate_body(std::string_view body) {
    if (!zs_ready) {
      if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        reject(0, std::nullopt, "cannot initialise gzip decompression");
        return false;
      }
      zs_ready = true;
    } else {
      inflateReset(&zs);
    }
    inflated.clear();
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
    zs.avail_in = static_cast<uInt>(body.size());
    char buffer[16384];
    int rc = Z_OK;
    while (true) {
      if (rc == Z_STREAM_END) {
        // Gzip allows several members in a row (RFC 1952 §2.2), as `cat a.gz b.gz` makes them:
        // every one is read. Anything else after the last member is refused, not ignored.
        if (zs.avail_in == 0) {
          break;
        }
        const std::size_t at = body.size() - zs.avail_in;
        if (zs.avail_in < 2 || static_cast<unsigned char>(body[at]) != 0x1f ||
            static_cast<unsigned char>(body[at + 1]) != 0x8b) {
          reject(0, at,
                 "the gzip body has " + std::to_string(zs.avail_in) +
                     " bytes after its last member that are not gzip");
          return false;
        }
        inflateReset(&zs);
        rc = Z_OK;
      }
      zs.next_out = reinterpret_cast<Bytef*>(buffer);
      zs.avail_out = sizeof buffer;
      rc = inflate(&zs, Z_NO_FLUSH);
      if (rc != Z_OK && rc != Z_STREAM_END) {
        reject(0, body.size() - zs.avail_in, "the gzip body is corrupt or truncated");
        return false;
      }
      inflated.append(buffer, sizeof buffer - zs.avail_out);
      if (inflated.size() > max_inflated) {
        reject(0, std::nullopt,
               "the gzip body inflates beyond " + std::to_string(max_inflated) + " bytes");
        return false;
      }
      if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
        reject(0, body.size(), "the gzip body is truncated");
        return false;
      }
    }
    return true;
  }

  // The byte at which a malformed JSON text goes wrong, for the rejection message.
  static std::optional<std::size_t> json_error_offset(std::string_view text) {
    try {
      const auto parsed = nlohmann::json::parse(text);
      static_cast<void>(parsed);
    } catch (const nlohmann::json::parse_error& e) {
      return e.byte > 0 ? e.byte - 1 : 0;
    } catch (const nlohmann::json::exception&) {
      return std::nullopt; // valid syntax that nlohmann cannot hold (a huge number)
    }
    return std::nullopt;
  }

  static std::string malformed_message(std::optional<std::size_t> at, simdjson::error_code err) {
    return (at ? "malformed JSON at byte " + std::to_string(*at) : std::string("malformed JSON")) +
           ": " + simdjson::error_message(err);
  }

  bool json_record(element e, std::size_t offset) {
    if (e.type() != element_type::OBJECT) {
      reject(record, offset,
             "record " + std::to_string(record) + " is " + std::string(type_phrase(e.type())) +
                 ", not a JSON object" +
                 (format == DataFormat::json && e.type() == element_type::ARRAY
                      ? " (use format multijson for arrays of records)"
                      : ""));
      return false;
    }
    json_row(e);
    return true;
  }

  // simdjson reads up to SIMDJSON_PADDING bytes past the end: parse a padded copy.
  const char* load_padded(std::string_view body) {
    padded.resize(body.size() + simdjson::SIMDJSON_PADDING);
    if (!body.empty()) {
      std::memcpy(padded.data(), body.data(), body.size());
    }
    return padded.data();
  }

  void map_json(std::string_view body) {
    load_padded(body);
    // JSON lines with several records, and multijson, go through the document stream;
    // the common single-record body is parsed in one go.
    std::string_view trimmed = body;
    while (!trimmed.empty() && (trimmed.back() == '\n' || trimmed.back() == '\r' ||
                                trimmed.back() == ' ' || trimmed.back() == '\t')) {
      trimmed.remove_suffix(1);
    }
    const bool several =
        format == DataFormat::multijson ||
        (format == DataFormat::json && trimmed.find('\n') != std::string_view::npos);
    if (!several) {
      element doc;
      const auto err = parser.parse(padded.data(), body.size(), false).get(doc);
      if (err != simdjson::SUCCESS) {
        number_error = err == simdjson::NUMBER_ERROR;
        const auto at = json_error_offset(body);
        reject(1, at, malformed_message(at, err));
        return;
      }
      record = 1;
      json_record(doc, 0);
      return;
    }
    simdjson::dom::document_stream stream;
    const std::size_t batch = std::max<std::size_t>(body.size(), 1024);
    if (parser.parse_many(padded.data(), body.size(), batch).get(stream) != simdjson::SUCCESS) {
      reject(0, std::nullopt, "malformed JSON: cannot read the body");
      return;
    }
    record = 0;
    for (auto it = stream.begin(); it != stream.end(); ++it) {
      element doc;
      const std::size_t offset = it.current_index();
      if (const auto err = (*it).get(doc); err != simdjson::SUCCESS) {
        number_error = err == simdjson::NUMBER_ERROR;
        const std::string_view rest = body.substr(std::min(offset, body.size()));
        const auto inner = json_error_offset(rest.substr(0, rest.find('\n')));
        reject(record + 1, offset + inner.value_or(0),
               "malformed JSON in record " + std::to_string(record + 1) + " at byte " +
                   std::to_string(offset + inner.value_or(0)) + ": " +
                   simdjson::error_message(err));
        return;
      }
      if (format == DataFormat::multijson && doc.type() == element_type::ARRAY) {
        const simdjson::dom::array array = doc.get_array().value_unsafe();
        for (const element item : array) {
          ++record;
          if (!json_record(item, offset)) {
            return;
          }
        }
        continue;
      }
      ++record;
      if (!json_record(doc, offset)) {
        return;
      }
    }
    if (stream.truncated_bytes() > 0) {
      reject(record + 1, body.size() - stream.truncated_bytes(),
             "malformed JSON: the body ends inside record " + std::to_string(record + 1));
      return;
    }
    if (record == 0) {
      reject(0, std::nullopt, "the body holds no JSON record");
    }
  }

  // Splits one tabular record at `pos` into `fields`; returns the position after it.
  // CSV-family formats quote with '"' (RFC 4180); tsve escapes with '\'.
  std::optional<std::size_t> split_record(std::string_view body, std::size_t pos, char delimiter) {
    fields.clear();
    const bool escapes = format == DataFormat::tsve;
    while (true) {
      if (!escapes && pos < body.size() && body[pos] == '"') {
        const std::size_t start = fields_storage.size();
        std::size_t i = pos + 1;
        bool closed = false;
        while (i < body.size()) {
          if (body[i] == '"') {
            if (i + 1 < body.size() && body[i + 1] == '"') {
              fields_storage += '"';
              i += 2;
              continue;
            }
            closed = true;
            ++i;
            break;
          }
          fields_storage += body[i++];
        }
        if (!closed) {
          reject(record, pos,
                 "record " + std::to_string(record) + " has a quoted field that is never closed");
          return std::nullopt;
        }
        fields.emplace_back(fields_storage.data() + start, fields_storage.size() - start);
        pos = i;
      } else {
        const std::size_t start = pos;
        bool copied = false;
        std::size_t storage_start = fields_storage.size();
        while (pos < body.size() && body[pos] != delimiter && body[pos] != '\n' &&
               !(body[pos] == '\r' && pos + 1 < body.size() && body[pos + 1] == '\n')) {
          if (escapes && body[pos] == '\\' && pos + 1 < body.size()) {
            if (!copied) {
              fields_storage.append(body.substr(start, pos - start));
              copied = true;
            }
            const char e = body[pos + 1];
            fields_storage += e == 't'   ? '\t'
                              : e == 'n' ? '\n'
                              : e == 'r' ? '\r'
                              : e == '0' ? '\0'
                                         : e;
            pos += 2;
            continue;
          }
          if (copied) {
            fields_storage += body[pos];
          }
          ++pos;
        }
        if (copied) {
          fields.emplace_back(fields_storage.data() + storage_start,
                              fields_storage.size() - storage_start);
        } else {
          std::size_t end = pos;
          if (end == body.size() && end > start && body[end - 1] == '\r') {
            --end;
          }
          fields.push_back(body.substr(start, end - start));
        }
      }
      if (pos < body.size() && body[pos] == delimiter) {
        ++pos;
        continue;
      }
      if (pos < body.size() && body[pos] == '\r') {
        ++pos;
      }
      if (pos < body.size() && body[pos] == '\n') {
        ++pos;
      } else if (pos < body.size()) {
        reject(record, pos, "record " + std::to_string(record) + " has text after a closing quote");
        return std::nullopt;
      }
      return pos;
    }
  }

  void map_tabular(std::string_view body) {
    fields_storage.clear();
    fields_storage.reserve(body.size()); // views into it must not move
    const std::size_t rows_before = outcome.rows;
    if (format == DataFormat::raw) {
      record = 1;
      fields.assign(1, body);
      tabular_row();
      return;
    }
    char delimiter = ',';
    switch (format) {
    case DataFormat::tsv:
    case DataFormat::tsve:
      delimiter = '\t';
      break;
    case DataFormat::psv:
      delimiter = '|';
      break;
    case DataFormat::scsv:
      delimiter = ';';
      break;
    case DataFormat::sohsv:
      delimiter = '\x01';
      break;
    default:
      break;
    }
    std::size_t pos = 0;
    record = 0;
    while (pos < body.size()) {
      // Empty lines are not records.
      if (body[pos] == '\n' ||
          (body[pos] == '\r' && pos + 1 < body.size() && body[pos + 1] == '\n')) {
        pos += body[pos] == '\n' ? 1 : 2;
        continue;
      }
      ++record;
      if (record == 2 && !properties.empty()) {
        reject(2, pos,
               "event system properties need single-record events in tabular formats, "
               "and this event has more than one record");
        return;
      }
      if (format == DataFormat::txt) {
        const std::size_t eol = body.find('\n', pos);
        std::string_view line =
            body.substr(pos, eol == std::string_view::npos ? body.size() - pos : eol - pos);
        if (!line.empty() && line.back() == '\r') {
          line.remove_suffix(1);
        }
        fields.assign(1, line);
        pos = eol == std::string_view::npos ? body.size() : eol + 1;
      } else {
        const auto next = split_record(body, pos, delimiter);
        if (!next) {
          return;
        }
        pos = *next;
      }
      tabular_row();
    }
    if (outcome.rows == rows_before) {
      reject(0, std::nullopt, "the body holds no record");
    }
  }
};

Mapper::Mapper(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Mapper::Mapper(Mapper&&) noexcept = default;
Mapper& Mapper::operator=(Mapper&&) noexcept = default;
Mapper::~Mapper() = default;

const TableSchema& Mapper::schema() const {
  return impl_->schema;
}

std::span<const SystemPropertyInfo* const> Mapper::system_properties() const {
  return impl_->properties;
}

Result<Mapper> Mapper::create(MapperOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->schema = std::move(options.schema);
  impl->format = options.format;
  impl->output = options.output;
  impl->max_inflated = options.max_inflated_bytes;
  if (impl->schema.columns.empty()) {
    return Error{"the table schema has no columns"};
  }
  const MappingKind kind = mapping_kind_of(options.format);
  if (options.mapping && options.mapping->kind != kind) {
    return Error{std::string("format ") + std::string(to_string(options.format)) + " needs a " +
                 (kind == MappingKind::json ? "JSON" : "CSV") + " mapping"};
  }
  // System properties, in ADX's order whatever the order asked for.
  for (const auto& name : options.system_properties) {
    if (find_system_property(name) == nullptr) {
      return Error{"'" + name + "' is not an event system property ADX knows"};
    }
  }
  for (const auto& info : known_system_properties()) {
    if (std::find(options.system_properties.begin(), options.system_properties.end(), info.name) !=
        options.system_properties.end()) {
      impl->properties.push_back(&info);
    }
  }

  // The mapping: given, or by name (JSON) / by position (CSV).
  MappingDefinition mapping;
  if (options.mapping) {
    mapping = std::move(*options.mapping);
  } else {
    mapping.kind = kind;
    for (std::size_t i = 0; i < impl->schema.columns.size(); ++i) {
      ColumnMapping cm;
      cm.column = impl->schema.columns[i].name;
      if (kind == MappingKind::json) {
        cm.path = JsonPath{{PathSegment{cm.column, -1}}, "$['" + cm.column + "']"};
      } else {
        cm.ordinal = i;
      }
      mapping.columns.push_back(std::move(cm));
    }
  }
  impl->columns.resize(impl->schema.columns.size());
  for (std::size_t i = 0; i < impl->schema.columns.size(); ++i) {
    auto& c = impl->columns[i];
    c.name = impl->schema.columns[i].name;
    c.type = impl->schema.columns[i].type;
    c.json_key.clear();
    append_json_string(c.json_key, c.name);
    c.json_key += ':';
  }
  std::size_t entry = 0;
  for (const auto& cm : mapping.columns) {
    ++entry;
    const int index = impl->schema.index_of(cm.column);
    if (index < 0) {
      return Error{"mapping entry " + std::to_string(entry) + " ('" + cm.column +
                   "'): the table has no such column"};
    }
    auto& c = impl->columns[static_cast<std::size_t>(index)];
    c.transform = cm.transform;
    if (cm.transform == Transform::source_location) {
      c.source = CompiledColumn::Source::source_location;
    } else if (cm.transform == Transform::source_line_number) {
      c.source = CompiledColumn::Source::line_number;
    } else if (cm.const_value) {
      c.source = CompiledColumn::Source::constant;
      c.constant = *cm.const_value;
    } else if (cm.path) {
      c.source = CompiledColumn::Source::json_path;
      c.path = cm.path->segments;
      // `$.<system property>` reads the property (docs/protocols.md, "Received events").
      if (c.path.size() == 1 && c.path[0].index < 0) {
        for (std::size_t p = 0; p < impl->properties.size(); ++p) {
          if (impl->properties[p]->name == c.path[0].key) {
            c.source = CompiledColumn::Source::property;
            c.property = p;
          }
        }
      }
    } else if (cm.ordinal) {
      c.source = CompiledColumn::Source::ordinal;
      c.ordinal = *cm.ordinal;
    }
  }
  // DropMappedFields: the paths of every other column below this column's object.
  for (auto& c : impl->columns) {
    if (c.transform != Transform::drop_mapped_fields) {
      continue;
    }
    for (const auto& other : impl->columns) {
      if (&other == &c || other.source != CompiledColumn::Source::json_path ||
          other.path.size() <= c.path.size() ||
          !std::equal(c.path.begin(), c.path.end(), other.path.begin())) {
        continue;
      }
      DropNode* node = &c.drop;
      for (std::size_t s = c.path.size(); s < other.path.size() && other.path[s].index < 0; ++s) {
        DropNode* next = nullptr;
        for (auto& n : node->children) {
          if (n.key == other.path[s].key) {
            next = &n;
          }
        }
        if (next == nullptr) {
          node->children.push_back(DropNode{other.path[s].key, false, {}});
          next = &node->children.back();
        }
        node = next;
        if (s + 1 == other.path.size()) {
          node->leaf = true;
        }
      }
    }
  }
  if (auto e = impl->parser.allocate(1 << 16); e != simdjson::SUCCESS) {
    return Error{std::string("cannot allocate the JSON parser: ") + simdjson::error_message(e)};
  }
  return Mapper(std::move(impl));
}

const EventOutcome& Mapper::map(const EventInput& event, std::string& out) {
  Impl& m = *impl_;
  m.outcome.rows = 0;
  m.outcome.rejection.reset();
  m.outcome.nulls.clear();
  m.event = &event;
  m.out = &out;
  const std::size_t rollback = out.size();

  std::string_view body = event.body;
  if (body.size() >= 2 && static_cast<unsigned char>(body[0]) == 0x1f &&
      static_cast<unsigned char>(body[1]) == 0x8b) {
    if (!m.inflate_body(body)) {
      out.resize(rollback);
      return m.outcome;
    }
    body = m.inflated;
  }
  if (mapping_kind_of(m.format) == MappingKind::json) {
    m.number_error = false;
    m.quoted_numbers = false;
    m.map_json(body); // singlejson is always one document
    if (m.outcome.rejection && m.number_error && quote_unheld_numbers(body, m.requoted)) {
      out.resize(rollback);
      m.outcome.rows = 0;
      m.outcome.rejection.reset();
      m.outcome.nulls.clear();
      m.quoted_numbers = true;
      m.map_json(m.requoted);
    }
  } else {
    m.map_tabular(body);
  }
  if (m.outcome.rejection) {
    out.resize(rollback);
    m.outcome.rows = 0;
    m.outcome.nulls.clear();
  }
  return m.outcome;
}

} // namespace hub2kusto::mappings
