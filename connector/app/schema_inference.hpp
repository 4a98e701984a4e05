#pragma once
// Schema inference for `hub2kusto infer`: sample JSON or delimited events (CSV, TSV, TSVE, PSV,
// SCSV, SOHSV: the formats a CSV mapping reads) in, a Kusto table schema and an ingestion
// mapping of the same kind out, with Kusto's types chosen the way its own ingestion would read
// the values (delimited fields are texts, read as Kusto reads them: true/false, integers,
// decimals, dates, GUIDs, JSON objects and arrays; an empty field is null):
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

#include "common/ingest_format.hpp"
#include "mappings/schema.hpp"

namespace hub2kusto::app {

// Whether infer reads events of `format`: json, or a delimited format (csv, tsv, tsve, psv,
// scsv, sohsv; fields split as the mapping engine splits them: RFC 4180 quotes, except tsve,
// which escapes with a backslash instead).
bool inferable(IngestFormat format);

struct InferredColumn {
  std::string name;        // the Kusto column name, unquoted
  std::string path;        // JSON: the mapping's path, $.field or $['field']
  std::size_t ordinal = 0; // delimited: the field's position
  mappings::ColumnType type = mappings::ColumnType::string;
  std::optional<std::string> transform; // a mapping transform (DateTimeFromUnixSeconds, ...)
  std::string hesitation;               // empty when the sample left no doubt
};

struct InferredSchema {
  IngestFormat format = IngestFormat::json;
  std::size_t events = 0; // events seen (delimited: records, a header not counted)
  // Of those, left out: not a JSON object, or a delimited record that cannot be read.
  std::size_t not_objects = 0;
  std::vector<std::string> skipped; // why, for the first few of them
  std::vector<InferredColumn> columns;

  // `Name:type, ['odd name']:type` as .create table takes it.
  std::string schema_text() const;
  // The mapping as .create table ... ingestion json|csv mapping takes it (one line of JSON).
  std::string mapping_json() const;
};

// A Kusto identifier as CSL writes it: bare when it is one, else ['...'].
std::string quote_name(std::string_view name);

class SchemaInference {
public:
  // `format`: inferable(). Delimited with `header`: the first record names the columns;
  // without, they are Column1, ...
  explicit SchemaInference(IngestFormat format = IngestFormat::json, bool header = false)
      : format_(format), header_(header) {}

  // One event's body. JSON: bodies that are not a JSON object count as events, not as
  // columns. Delimited: each record of the body (a line, unless quotes hold a line end);
  // a record that cannot be read is left out with the rest of its event, as the mapping
  // engine refuses such an event.
  void add(std::string_view body);

  // The schema from what was added, fields in the order first seen (CSV: by position), then
  // one column per system property (`x-opt-enqueued-time` and the others mappings/ knows),
  // mapped as the bridge adds them: a top-level field of that name (JSON), or leading fields
  // in ADX's order, ahead of the record's own (delimited).
  InferredSchema result(const std::vector<std::string>& system_properties = {}) const;

private:
  enum Kind { null, boolean, integer, real, datetime_text, guid_text, text, object, array, kinds };
  struct Field {
    std::size_t seen[kinds] = {};
    std::optional<long double> min_integer;
    std::optional<long double> max_integer;
    std::size_t position = 0; // delimited: where in the record
  };

  void add_json(std::string_view body);
  void add_delimited_record(const std::vector<std::string_view>& fields);
  // One value of field `name`: its kind, and an integer's value.
  void observe(const std::string& name, Kind kind, std::optional<long double> value = {});
  void skip(std::string why); // an event or record left out

  IngestFormat format_;
  bool header_;
  std::vector<std::string> header_names_; // delimited: from the header record
  std::size_t events_ = 0;
  std::size_t not_objects_ = 0;
  std::vector<std::string> skipped_;
  std::vector<std::string> order_;
  std::map<std::string, Field, std::less<>> fields_;
};

} // namespace hub2kusto::app
