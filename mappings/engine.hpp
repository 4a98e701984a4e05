#pragma once
// The mapping engine: turns one event body into rows of a Kusto table, in table column order,
// as Kusto-valid CSV or JSON lines, applying an ingestion mapping the way Kusto does.
//
//   auto mapper = Mapper::create({schema, mapping, DataFormat::json, OutputFormat::csv, {}});
//   std::string out;                     // reused: clear() between batches, never shrink
//   const EventOutcome& r = mapper->map({body, properties, "source"}, out);
//   if (r.rejection) dead_letter(body, r.rejection->reason);   // `out` is left unchanged
//
// Rules (docs/protocols.md, "Ingestion mappings", "Received events"):
//  * A value that does not convert to its column's type becomes null and is reported in
//    EventOutcome::nulls, as Kusto counts it; a missing value is null (empty for strings).
//  * An event whose body cannot be read at all (malformed JSON, a record that is not an object,
//    an unterminated CSV quote, a bad gzip stream) is rejected whole, with a reason that names
//    the record and the byte, so that exactly that event is dead-lettered.
//  * Selected event system properties are top-level fields of a JSON record (the first record
//    only, for several records per event) and leading columns of a tabular record (which must
//    then be the only record of its event).
//  * Bodies starting with the gzip magic bytes are inflated first.
//
// Thread safety: a Mapper is used by one thread at a time (one per partition pipeline); it
// keeps its parser and scratch buffers between events so that the hot path does not allocate.

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "mappings/format.hpp"
#include "mappings/mapping.hpp"
#include "mappings/schema.hpp"
#include "mappings/system_properties.hpp"

namespace hub2kusto::mappings {

struct MapperOptions {
  TableSchema schema;
  std::optional<MappingDefinition> mapping; // none: by column name (JSON) or position (CSV)
  DataFormat format = DataFormat::json;
  OutputFormat output = OutputFormat::csv;
  std::vector<std::string> system_properties; // names from known_system_properties()
  std::size_t max_inflated_bytes = 64u << 20; // a gzip body may not inflate beyond this
};

struct EventInput {
  std::string_view body;
  // One value per Mapper::system_properties() entry, in that order.
  std::span<const PropertyValue> properties;
  std::string_view source_location; // for the SourceLocation transform
};

struct NullConversion {
  std::size_t record; // 1-based record of the event
  std::size_t column; // index into the table schema
  std::string reason;
};

struct Rejection {
  std::size_t record;                     // 1-based; 0 when the body as a whole is unreadable
  std::optional<std::size_t> byte_offset; // 0-based offset in the (inflated) body, when known
  std::string reason;
};

struct EventOutcome {
  std::size_t rows = 0;
  std::optional<Rejection> rejection;
  std::vector<NullConversion> nulls;
};

class Mapper {
public:
  static Result<Mapper> create(MapperOptions options);
  Mapper(Mapper&&) noexcept;
  Mapper& operator=(Mapper&&) noexcept;
  ~Mapper();

  // Appends the event's rows to `out`. The outcome stays valid until the next call.
  const EventOutcome& map(const EventInput& event, std::string& out);

  const TableSchema& schema() const;
  // The selected system properties in the order EventInput::properties must follow (ADX's).
  std::span<const SystemPropertyInfo* const> system_properties() const;

private:
  struct Impl;
  explicit Mapper(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

} // namespace hub2kusto::mappings
