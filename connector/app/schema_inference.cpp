#include "app/schema_inference.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/text.hpp"
#include "mappings/delimited.hpp"
#include "mappings/system_properties.hpp"
#include "mappings/values.hpp"

namespace hub2kusto::app {
namespace {

using mappings::ColumnType;

constexpr std::size_t kSkippedKept = 5;

bool is_identifier(std::string_view name) {
  if (name.empty() || !(std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_')) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

// A JSON path to a top-level field: $.name where the engine and Kusto read it plainly.
std::string path_to(std::string_view field) {
  const bool plain = !field.empty() && std::all_of(field.begin(), field.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
  return plain ? fmt::format("$.{}", field) : fmt::format("$['{}']", field);
}

// Names that say a number is a time: ...time..., ...date..., ts, ..._ts.
bool named_like_a_time(std::string_view name) {
  const std::string n = text::lower(name);
  return n.find("time") != std::string::npos || n.find("date") != std::string::npos || n == "ts" ||
         (n.size() > 3 && n.ends_with("_ts"));
}

// Unix times whose dates fall between 2001 and 2286 in one unit: the unit's transform.
std::optional<std::string> unix_time_transform(long double low, long double high) {
  struct Unit {
    long double from;
    const char* transform;
  };
  constexpr std::array<Unit, 4> kUnits = {{{1e9L, "DateTimeFromUnixSeconds"},
                                           {1e12L, "DateTimeFromUnixMilliseconds"},
                                           {1e15L, "DateTimeFromUnixMicroseconds"},
                                           {1e18L, "DateTimeFromUnixNanoseconds"}}};
  for (const auto& u : kUnits) {
    if (low >= u.from && high < u.from * 10) {
      return u.transform;
    }
  }
  return std::nullopt;
}

bool looks_like_datetime(std::string_view s) {
  // Kusto's datetime() also reads RFC 1123 forms; a sample of those is as clear.
  return s.size() >= 8 && mappings::values::parse_datetime(s).has_value();
}

bool looks_like_guid(std::string_view s) {
  std::string ignored;
  return mappings::values::append_guid(ignored, s);
}

// "EnqueuedTime" for x-opt-enqueued-time, "IothubConnectionDeviceId" for
// iothub-connection-device-id.
std::string system_property_column(std::string_view property) {
  if (property.starts_with("x-opt-")) {
    property.remove_prefix(6);
  }
  std::string out;
  bool upper = true;
  for (const char c : property) {
    if (c == '-' || c == '_') {
      upper = true;
      continue;
    }
    out += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    upper = false;
  }
  return out;
}

// How records of `format` split, as the mapping engine splits them; nullopt unless delimited.
std::optional<mappings::Dialect> delimited_dialect(IngestFormat format) {
  const auto data_format = mappings::parse_data_format(ingest_format_name(format));
  return data_format ? mappings::dialect_of(*data_format) : std::nullopt;
}

} // namespace

bool inferable(IngestFormat format) {
  return format == IngestFormat::json || delimited_dialect(format).has_value();
}

std::string quote_name(std::string_view name) {
  return is_identifier(name) ? std::string(name) : fmt::format("['{}']", name);
}

std::string InferredSchema::schema_text() const {
  std::string out;
  for (const auto& c : columns) {
    out += fmt::format("{}{}:{}", out.empty() ? "" : ", ", quote_name(c.name),
                       mappings::to_string(c.type));
  }
  return out;
}

std::string InferredSchema::mapping_json() const {
  nlohmann::ordered_json mapping = nlohmann::ordered_json::array();
  for (const auto& c : columns) {
    nlohmann::ordered_json entry;
    entry["column"] = c.name;
    if (format == IngestFormat::json) {
      entry["Properties"]["Path"] = c.path;
    } else {
      entry["Properties"]["Ordinal"] = std::to_string(c.ordinal);
    }
    if (c.transform) {
      entry["Properties"]["Transform"] = *c.transform;
    }
    mapping.push_back(std::move(entry));
  }
  return mapping.dump();
}

void SchemaInference::add(std::string_view body) {
  if (format_ == IngestFormat::json) {
    add_json(body);
    return;
  }
  const auto dialect = delimited_dialect(format_);
  if (!dialect) {
    skip(fmt::format("event {}: format {} is neither JSON nor delimited", events_ + 1,
                     ingest_format_name(format_)));
    return;
  }
  std::vector<std::string_view> fields;
  std::string unescaped;
  unescaped.reserve(body.size());
  std::size_t pos = 0;
  while ((pos = mappings::skip_empty_lines(body, pos)) < body.size()) {
    const auto next = mappings::split_record(body, pos, *dialect, fields, unescaped);
    if (!next) {
      // The engine would refuse the whole event; the records after this one are not read.
      const bool header = header_ && header_names_.empty();
      skip(header ? fmt::format("the header record {}", next.error().why)
                  : fmt::format("record {} {}", events_ + 1, next.error().why));
      events_ += header ? 0 : 1;
      return;
    }
    pos = next.value();
    add_delimited_record(fields);
  }
}

void SchemaInference::skip(std::string why) {
  ++not_objects_;
  if (skipped_.size() < kSkippedKept) {
    skipped_.push_back(std::move(why));
  }
}

void SchemaInference::observe(const std::string& name, Kind kind,
                              std::optional<long double> value) {
  auto it = fields_.find(name);
  if (it == fields_.end()) {
    it = fields_.emplace(name, Field{}).first;
    order_.push_back(name);
  }
  Field& f = it->second;
  if (value) {
    f.min_integer = f.min_integer ? std::min(*f.min_integer, *value) : *value;
    f.max_integer = f.max_integer ? std::max(*f.max_integer, *value) : *value;
  }
  ++f.seen[kind];
}

void SchemaInference::add_json(std::string_view body) {
  ++events_;
  // Ordered: columns come in the order the fields were first seen.
  const auto doc = nlohmann::ordered_json::parse(body, nullptr, false);
  if (!doc.is_object()) {
    skip(doc.is_discarded()
             ? fmt::format("event {}: not JSON", events_)
             : fmt::format("event {}: a JSON {}, not an object", events_, doc.type_name()));
    return;
  }
  for (const auto& [name, value] : doc.items()) {
    if (value.is_boolean()) {
      observe(name, boolean);
    } else if (value.is_number_unsigned() &&
               value.get<std::uint64_t>() >
                   static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      observe(name, real); // beyond a long
    } else if (value.is_number_integer()) {
      observe(name, integer, static_cast<long double>(value.get<std::int64_t>()));
    } else if (value.is_number_float()) {
      observe(name, real);
    } else if (value.is_string()) {
      const auto& s = value.get_ref<const std::string&>();
      observe(name, looks_like_datetime(s) ? datetime_text : looks_like_guid(s) ? guid_text : text);
    } else if (value.is_object()) {
      observe(name, object);
    } else if (value.is_array()) {
      observe(name, array);
    } else {
      observe(name, null);
    }
  }
}

void SchemaInference::add_delimited_record(const std::vector<std::string_view>& fields) {
  if (header_ && header_names_.empty()) {
    header_names_.assign(fields.begin(), fields.end());
    return;
  }
  ++events_;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const std::string name = i < header_names_.size() && !header_names_[i].empty()
                                 ? header_names_[i]
                                 : fmt::format("Column{}", i + 1);
    const std::string_view v = fields[i];
    namespace values = mappings::values;
    if (v.empty()) {
      observe(name, null);
    } else if (text::iequals(v, "true") || text::iequals(v, "false")) {
      observe(name, boolean);
    } else if (const auto n = values::parse_integer(v);
               n && v.find_first_of(" \t") == std::string_view::npos) {
      observe(name, integer, static_cast<long double>(*n));
    } else if (values::is_decimal_text(v)) {
      observe(name, real);
    } else if (looks_like_datetime(v)) {
      observe(name, datetime_text);
    } else if (looks_like_guid(v)) {
      observe(name, guid_text);
    } else if ((v.front() == '{' || v.front() == '[') &&
               !nlohmann::json::parse(v, nullptr, false).is_discarded()) {
      observe(name, v.front() == '{' ? object : array);
    } else {
      observe(name, text);
    }
    fields_.find(name)->second.position = i;
  }
}

InferredSchema SchemaInference::result(const std::vector<std::string>& system_properties) const {
  static constexpr std::array<const char*, kinds> kKindNames = {
      "nulls",      "booleans",    "integers", "reals", "ISO 8601 date texts",
      "GUID texts", "other texts", "objects",  "arrays"};
  InferredSchema out;
  out.format = format_;
  out.events = events_;
  out.not_objects = not_objects_;
  out.skipped = skipped_;
  const std::size_t objects = events_ - not_objects_;
  for (const auto& name : order_) {
    const Field& f = fields_.find(name)->second;
    const auto n = [&](Kind k) { return f.seen[k]; };
    std::size_t values = 0;
    int distinct = 0;
    for (int k = 1; k < kinds; ++k) {
      values += f.seen[k];
      distinct += f.seen[k] > 0;
    }
    InferredColumn c;
    c.name = name;
    if (format_ == IngestFormat::json) {
      c.path = path_to(name);
    } else { // after the system properties, which lead
      c.ordinal = f.position + system_properties.size();
    }
    std::vector<std::string> doubts;
    const std::string seen = [&] {
      std::string s;
      for (int k = 1; k < kinds; ++k) {
        if (f.seen[k] > 0) {
          s += fmt::format("{}{} {}", s.empty() ? "" : ", ", f.seen[k], kKindNames[k]);
        }
      }
      return s;
    }();
    if (values == 0) {
      c.type = ColumnType::dynamic;
      doubts.push_back("null in every event: dynamic, until events show its type");
    } else if (n(object) + n(array) > 0) {
      c.type = ColumnType::dynamic;
      if (distinct > 1) {
        doubts.push_back(fmt::format("{}: dynamic keeps them all", seen));
      }
    } else if (n(datetime_text) + n(guid_text) + n(text) > 0) {
      const std::size_t texts = n(datetime_text) + n(guid_text) + n(text);
      if (texts == n(datetime_text) && distinct == 1) {
        c.type = ColumnType::datetime;
      } else if (texts == n(guid_text) && distinct == 1) {
        c.type = ColumnType::guid;
      } else {
        c.type = ColumnType::string;
        if (distinct > 1) {
          doubts.push_back(fmt::format("{}: string keeps their text", seen));
        }
      }
    } else if (n(real) > 0) {
      c.type = ColumnType::real;
      if (n(integer) > 0 || n(boolean) > 0) {
        doubts.push_back(fmt::format("{}: real", seen));
      }
    } else if (n(integer) > 0) {
      c.type = ColumnType::int64;
      if (n(boolean) > 0) {
        doubts.push_back(fmt::format("{}: long (booleans as 1 and 0)", seen));
      } else if (named_like_a_time(name) && f.min_integer && f.max_integer) {
        if (auto transform = unix_time_transform(*f.min_integer, *f.max_integer)) {
          c.type = ColumnType::datetime;
          c.transform = transform;
          doubts.push_back(fmt::format(
              "integers from {:.0Lf} to {:.0Lf}, named like a time: datetime with {} (long "
              "without the transform)",
              *f.min_integer, *f.max_integer, *transform));
        }
      }
    } else {
      c.type = ColumnType::boolean;
    }
    const std::size_t missing = objects - values;
    if (missing > 0 && values > 0) {
      doubts.insert(doubts.begin(),
                    fmt::format("absent or null in {} of {} events", missing, objects));
    }
    for (const auto& d : doubts) {
      c.hesitation += (c.hesitation.empty() ? "" : "; ") + d;
    }
    out.columns.push_back(std::move(c));
  }
  std::size_t leading = 0; // delimited: the properties' ordinals, in ADX's order
  for (const auto& known : mappings::known_system_properties()) {
    if (std::find(system_properties.begin(), system_properties.end(), known.name) ==
        system_properties.end()) {
      continue;
    }
    InferredColumn c;
    c.name = system_property_column(known.name);
    if (fields_.find(c.name) != fields_.end()) {
      c.name = "Event" + c.name; // the body has a field of that name already
    }
    c.path = path_to(known.name);
    c.ordinal = leading++;
    c.type = known.type;
    out.columns.push_back(std::move(c));
  }
  return out;
}

} // namespace hub2kusto::app
