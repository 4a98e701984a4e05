#include "catalog.hpp"

#include <sstream>

#include "mappings/engine.hpp"

namespace hub2kusto::kusto_emulator {

std::string StreamingPolicy::to_json() const {
  nlohmann::json j;
  j["IsEnabled"] = enabled;
  j["HintAllocatedRate"] =
      hint_allocated_rate ? nlohmann::json(*hint_allocated_rate) : nlohmann::json(nullptr);
  return j.dump();
}

const StoredMapping* Table::mapping(const std::string& wanted, mappings::MappingKind kind) const {
  for (const auto& m : mappings) {
    if (m.name == wanted && m.kind == kind) {
      return &m;
    }
  }
  return nullptr;
}

Table* Database::table(const std::string& wanted) {
  const auto it = tables.find(wanted);
  return it == tables.end() ? nullptr : &it->second;
}

bool Database::streaming_enabled(const Table& t) const {
  if (t.streaming) {
    return t.streaming->enabled;
  }
  return streaming && streaming->enabled;
}

Database* Catalog::database(const std::string& wanted) {
  const auto it = databases.find(wanted);
  return it == databases.end() ? nullptr : &it->second;
}

namespace {

ServiceError data_error(const std::string& code, const std::string& message) {
  ServiceError e;
  e.status = 400;
  e.code = code;
  e.type = "Kusto.DataNode.Exceptions.StreamingIngestionRequestException";
  e.message = message;
  e.permanent = true;
  return e;
}

} // namespace

std::optional<mappings::Mapper> MapperPool::take(const std::string& key) {
  const auto it = idle_.find(key);
  if (it == idle_.end() || it->second.empty()) {
    return std::nullopt;
  }
  mappings::Mapper m = std::move(it->second.back());
  it->second.pop_back();
  --count_;
  return m;
}

void MapperPool::give(PreparedIngest prepared) {
  if (!prepared.mapper) {
    return;
  }
  if (count_ >= kMaxIdle) {
    idle_.clear(); // tables or mappings changed often: start over
    count_ = 0;
  }
  idle_[std::move(prepared.key)].push_back(std::move(*prepared.mapper));
  ++count_;
}

std::variant<PreparedIngest, IngestFailure> prepare_ingest(const Database& db, const Table& table,
                                                           const IngestRequest& request,
                                                           MapperPool* pool) {
  const std::string where = db.name + "." + table.name;
  const auto kind = mappings::mapping_kind_of(request.format);
  const StoredMapping* stored = nullptr;
  if (request.inline_mapping.empty() && !request.mapping_name.empty()) {
    stored = table.mapping(request.mapping_name, kind);
    if (stored == nullptr) {
      ServiceError e =
          data_error("BadRequest_MappingReferenceWasNotFound",
                     "Entity ID '" + request.mapping_name +
                         "' of kind 'MappingPersistent' was not found. (" + where + ")");
      e.type = "Kusto.Data.Exceptions.MappingNotFoundException";
      return IngestFailure{e};
    }
  }
  std::string key = std::to_string(static_cast<int>(request.format)) + '\n';
  key += !request.inline_mapping.empty() ? request.inline_mapping
         : stored != nullptr             ? stored->text
                                         : std::string();
  for (const auto& column : table.schema.columns) {
    key.append("\n").append(column.name).append(":").append(mappings::to_string(column.type));
  }
  if (pool != nullptr) {
    if (auto reused = pool->take(key)) {
      return PreparedIngest{where, std::move(key), std::move(reused)};
    }
  }
  mappings::MapperOptions options;
  options.schema = table.schema;
  options.format = request.format;
  options.output = mappings::OutputFormat::json;
  if (!request.inline_mapping.empty()) {
    auto parsed = mappings::parse_mapping(request.inline_mapping, kind);
    if (!parsed) {
      ServiceError e = data_error("BadRequest_InvalidMapping",
                                  "Mapping is not valid: " + parsed.error().message);
      e.type = "Kusto.Data.Exceptions.MappingNotValidException";
      return IngestFailure{e};
    }
    options.mapping = std::move(parsed.value());
  } else if (stored != nullptr) {
    auto parsed = mappings::parse_mapping(stored->text, kind);
    if (!parsed) {
      return IngestFailure{data_error("BadRequest_InvalidMapping", parsed.error().message)};
    }
    options.mapping = std::move(parsed.value());
  }
  auto mapper = mappings::Mapper::create(std::move(options));
  if (!mapper) {
    ServiceError e = data_error("BadRequest_InvalidMapping", mapper.error().message);
    e.type = "Kusto.Data.Exceptions.MappingNotValidException";
    return IngestFailure{e};
  }
  return PreparedIngest{where, std::move(key), std::move(mapper.value())};
}

std::variant<Table::Pending, IngestFailure> map_ingest(PreparedIngest& prepared,
                                                       const IngestRequest& request) {
  const std::string& where = prepared.where;
  std::string_view body = request.body;
  if (request.ignore_first_record) {
    const std::size_t nl = body.find('\n');
    body = nl == std::string_view::npos ? std::string_view() : body.substr(nl + 1);
  }
  const auto empty_stream = [&] {
    return IngestFailure{data_error("Stream_NoDataToIngest",
                                    "Bad streaming ingestion request to " + where +
                                        " : The input stream is empty after processing, tip:check "
                                        "stream validity")};
  };
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return empty_stream();
  }
  std::string out;
  const auto& outcome = prepared.mapper->map({body, {}, "stream"}, out);
  if (outcome.rejection) {
    return IngestFailure{
        data_error("BadRequest_NoRecordsOrWrongFormat",
                   "Bad streaming ingestion request to " + where + " : record " +
                       std::to_string(outcome.rejection->record) +
                       (outcome.rejection->byte_offset
                            ? " at byte " + std::to_string(*outcome.rejection->byte_offset)
                            : std::string()) +
                       ": " + outcome.rejection->reason)};
  }
  if (outcome.rows == 0) {
    return empty_stream();
  }
  return Table::Pending{std::move(out), outcome.rows, request.ingestion_time_column,
                        request.ingestion_time};
}

std::size_t commit_ingest(Table& table, Table::Pending rows) {
  const std::size_t n = rows.rows;
  table.pending.push_back(std::move(rows));
  table.pending_rows += n;
  return n;
}

std::variant<std::size_t, IngestFailure> ingest(Database& db, Table& table,
                                                const IngestRequest& request) {
  auto prepared = prepare_ingest(db, table, request);
  if (auto* failure = std::get_if<IngestFailure>(&prepared)) {
    return std::move(*failure);
  }
  auto mapped = map_ingest(std::get<PreparedIngest>(prepared), request);
  if (auto* failure = std::get_if<IngestFailure>(&mapped)) {
    return std::move(*failure);
  }
  return commit_ingest(table, std::move(std::get<Table::Pending>(mapped)));
}

const std::vector<nlohmann::json>& Table::all_rows() const {
  for (const auto& p : pending) {
    std::istringstream lines(p.lines);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.empty()) {
        continue;
      }
      const auto object = nlohmann::json::parse(line);
      nlohmann::json row = nlohmann::json::array();
      for (const auto& column : schema.columns) {
        if (!p.ingestion_time_column.empty() && column.name == p.ingestion_time_column) {
          row.push_back(p.ingestion_time);
          continue;
        }
        const auto it = object.find(column.name);
        row.push_back(it != object.end() ? *it : nlohmann::json());
      }
      rows.push_back(std::move(row));
    }
  }
  pending.clear();
  pending_rows = 0;
  return rows;
}

} // namespace hub2kusto::kusto_emulator
