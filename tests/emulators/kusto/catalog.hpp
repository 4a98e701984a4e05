#pragma once
// The emulator's databases: tables with their schemas, typed rows, ingestion mappings and
// streaming ingestion policies, and the ingestion of a data body into a table through the
// mapping engine (mappings/), so the emulator applies mappings as hub2kusto would locally.
//
// Not thread-safe: the server holds one mutex around every use, except around map_ingest,
// which touches no catalog state.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "mappings/engine.hpp"
#include "mappings/format.hpp"
#include "mappings/mapping.hpp"
#include "mappings/schema.hpp"
#include "results.hpp"

namespace hub2kusto::kusto_emulator {

struct StoredMapping {
  std::string name;
  mappings::MappingKind kind = mappings::MappingKind::json;
  std::string text; // the mapping JSON as given
};

// The streaming ingestion policy (docs/protocols.md, "Management commands and results"): absent, or
// set with IsEnabled.
struct StreamingPolicy {
  bool enabled = false;
  std::optional<double> hint_allocated_rate;
  std::string to_json() const;
};

struct Table {
  std::string name;
  mappings::TableSchema schema;
  // Rows as JSON arrays in column order. An ingestion only maps its data (the engine's JSON
  // lines go to `pending`); the lines are parsed into `rows` when a query first needs the rows
  // themselves, so ingesting costs about what mapping costs and `T | count` stays cheap.
  // Mutable: a query (const) may do that parsing; the server's lock is held throughout.
  struct Pending {
    std::string lines;
    std::size_t rows = 0;
    std::string ingestion_time_column; // with its value, as IngestRequest says
    std::string ingestion_time;
  };
  mutable std::vector<nlohmann::json> rows;
  mutable std::vector<Pending> pending;
  mutable std::size_t pending_rows = 0;
  std::size_t row_count() const { return rows.size() + pending_rows; }
  // Every row, parsing what is pending first.
  const std::vector<nlohmann::json>& all_rows() const;
  std::vector<StoredMapping> mappings;
  std::optional<StreamingPolicy> streaming;
  std::string folder;
  std::string docstring;
  std::set<std::string>
      ingest_by_tags; // "ingest-by:" tags of what was ingested (ingestIfNotExists)

  const StoredMapping* mapping(const std::string& name, mappings::MappingKind kind) const;
};

struct Database {
  std::string name;
  std::map<std::string, Table> tables; // by exact name
  std::optional<StreamingPolicy> streaming;

  Table* table(const std::string& name);
  // The policy in force for a table: the table's if set, else the database's.
  bool streaming_enabled(const Table& t) const;
};

struct IngestRequest {
  std::string body; // already inflated
  mappings::DataFormat format = mappings::DataFormat::csv;
  std::string mapping_name;   // empty: identity mapping
  std::string inline_mapping; // an ingestionMapping JSON text, when given instead of a name
  bool ignore_first_record = false;
  // When set: the column of this name gets `ingestion_time` (ISO 8601) in every row.
  std::string ingestion_time_column;
  std::string ingestion_time;
};

struct IngestFailure {
  ServiceError error;
};

// Appends the body's rows to `table`, all or nothing: returns the number of rows, or the
// error the service reports (missing mapping, unreadable data).
std::variant<std::size_t, IngestFailure> ingest(Database& db, Table& table,
                                                const IngestRequest& request);

// The same in three steps, so that a server maps data without holding its catalog: prepare
// reads the table (schema, mapping), map reads only the data, and commit appends the rows.
struct PreparedIngest {
  std::string where; // "db.table", for messages
  std::string key;   // what the mapper was built from (MapperPool)
  std::optional<mappings::Mapper> mapper;
};

// Mappers kept between ingestions into the same table with the same mapping and format. A
// mapper keeps its JSON parser's buffers (several times the body's size), which a fresh one
// would allocate and fault in again for every request. Keyed by everything a mapper is built
// from, so an altered schema or mapping never meets an old mapper.
class MapperPool {
public:
  std::optional<mappings::Mapper> take(const std::string& key);
  void give(PreparedIngest prepared);

private:
  static constexpr std::size_t kMaxIdle = 32;
  std::map<std::string, std::vector<mappings::Mapper>> idle_;
  std::size_t count_ = 0;
};

std::variant<PreparedIngest, IngestFailure> prepare_ingest(const Database& db, const Table& table,
                                                           const IngestRequest& request,
                                                           MapperPool* pool = nullptr);
std::variant<Table::Pending, IngestFailure> map_ingest(PreparedIngest& prepared,
                                                       const IngestRequest& request);
std::size_t commit_ingest(Table& table, Table::Pending rows);

// One record of `.show ingestion failures`.
struct IngestionFailure {
  std::string operation_id;
  std::string database;
  std::string table;
  std::string failed_on; // ISO time
  std::string source;    // blob path (SAS removed) or "streaming"
  std::string details;
  std::string error_code;
  bool permanent = true;
};

struct Catalog {
  std::map<std::string, Database> databases;
  std::vector<IngestionFailure> failures;

  Database* database(const std::string& name);
};

} // namespace hub2kusto::kusto_emulator
