#pragma once
// The data formats Kusto ingests, streaming and queued alike (docs/protocols.md, "Data formats";
// learn.microsoft.com/azure/data-explorer/ingestion-supported-formats), as one type: the
// configuration, the routing properties, the pipeline and both ingestion paths all hold an
// IngestFormat, and the name Kusto's APIs take is written in one place.
#include <cstdint>
#include <optional>
#include <string_view>

namespace hub2kusto {

enum class IngestFormat : std::uint8_t {
  csv,
  tsv,
  tsve,
  psv,
  scsv,
  sohsv,
  txt,
  raw,
  json,
  multijson,
  singlejson,
  avro,
  apacheavro,
  parquet,
  orc,
  w3clogfile,
};

// The format `name` names, in any case; nullopt when Kusto has none of that name.
std::optional<IngestFormat> parse_ingest_format(std::string_view name);

// The name Kusto's ingestion APIs take (lower case): "json", "apacheavro" ...
std::string_view ingest_format_name(IngestFormat format);

// Avro, Parquet and ORC: a body is one whole file of the format. Such files cannot be joined
// into one request or blob, and are sent without gzip around them, as the SDKs send them
// (docs/protocols.md, "Binary formats").
bool is_binary(IngestFormat format);

// The kind of ingestion mapping the format takes, as Kusto names it: Json, Csv, Avro,
// ApacheAvro, Parquet, Orc or W3CLogFile (learn.microsoft.com/azure/data-explorer/kusto/
// management/mappings).
std::string_view mapping_kind(IngestFormat format);

} // namespace hub2kusto
