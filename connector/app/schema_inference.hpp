#pragma once
// Schema inference for `hub2kusto infer`: sample JSON events in, a Kusto table schema and a
// JSON ingestion mapping out, with Kusto's types chosen the way its own ingestion would read
// the values:
//
//   booleans                      bool
//   integers                      long; real when any value has a fraction or exponent
//   integers named like a time    datetime with DateTimeFromUnixSeconds/Milli/Micro/Nanoseconds
//     (…time, …date, ts) whose values all fall in one unit's range of plausible dates
//   strings                       datetime when every one is an ISO 8601 date or time; guid
//                                 when every one is a GUID; else string
//   objects and arrays            dynamic
//   values of mixed kinds         dynamic when an object or array is among them; string when
//                                 strings are; real for integers with reals
//
// Every column where the sample left room for doubt (mixed kinds, absent or null in some
// events, always null, a name Kusto needs quoted) carries a hesitation: one line saying what
// was seen and what was chosen.
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mappings/schema.hpp"

namespace hub2kusto::app {

struct InferredColumn {
  std::string name; // the Kusto column name, unquoted
  std::string path; // the mapping's JSON path: $.field or $['field']
  mappings::ColumnType type = mappings::ColumnType::string;
  std::optional<std::string> transform; // a mapping transform (DateTimeFromUnixSeconds, ...)
  std::string hesitation;               // empty when the sample left no doubt
};

struct InferredSchema {
  std::size_t events = 0;           // events seen
  std::size_t not_objects = 0;      // of those, not a JSON object (left out of the inference)
  std::vector<std::string> skipped; // why, for the first few of them
  std::vector<InferredColumn> columns;

  // `Name:type, ['odd name']:type` as .create table takes it.
  std::string schema_text() const;
  // The JSON mapping as .create table ... ingestion json mapping takes it (one line).
  std::string mapping_json() const;
};

// A Kusto identifier as CSL writes it: bare when it is one, else ['...'].
std::string quote_name(std::string_view name);

class SchemaInference {
public:
  // One event's body. Bodies that are not a JSON object count as events, not as columns.
  void add(std::string_view body);

  // The schema from what was added, top-level fields in the order first seen, then one column
  // per system property (`x-opt-enqueued-time` and the others mappings/ knows), mapped from the
  // top-level field of that name as the bridge adds it.
  InferredSchema result(const std::vector<std::string>& system_properties = {}) const;

private:
  enum Kind { null, boolean, integer, real, datetime_text, guid_text, text, object, array, kinds };
  struct Field {
    std::size_t seen[kinds] = {};
    std::optional<long double> min_integer;
    std::optional<long double> max_integer;
  };

  std::size_t events_ = 0;
  std::size_t not_objects_ = 0;
  std::vector<std::string> skipped_;
  std::vector<std::string> order_;
  std::map<std::string, Field, std::less<>> fields_;
};

} // namespace hub2kusto::app
