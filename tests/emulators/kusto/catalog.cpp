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

std::variant<std::size_t, IngestFailure> ingest(Database& db, Table& table,
                                                const IngestRequest& request) {
  const std::string where = db.name + "." + table.name;
  mappings::MapperOptions options;
  options.schema = table.schema;
  options.format = request.format;
  options.output = mappings::OutputFormat::json;
  const auto kind = mappings::mapping_kind_of(request.format);
  if (!request.inline_mapping.empty()) {
    auto parsed = mappings::parse_mapping(request.inline_mapping, kind);
    if (!parsed) {
      ServiceError e = data_error("BadRequest_InvalidMapping",
                                  "Mapping is not valid: " + parsed.error().message);
      e.type = "Kusto.Data.Exceptions.MappingNotValidException";
      return IngestFailure{e};
    }
    options.mapping = std::move(parsed.value());
  } else if (!request.mapping_name.empty()) {
    const StoredMapping* stored = table.mapping(request.mapping_name, kind);
    if (stored == nullptr) {
      ServiceError e =
          data_error("BadRequest_MappingReferenceWasNotFound",
                     "Entity ID '" + request.mapping_name +
                         "' of kind 'MappingPersistent' was not found. (" + where + ")");
      e.type = "Kusto.Data.Exceptions.MappingNotFoundException";
      return IngestFailure{e};
    }
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
  const auto& outcome = mapper->map({body, {}, "stream"}, out);
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
  table.pending.push_back(
      {std::move(out), outcome.rows, request.ingestion_time_column, request.ingestion_time});
  table.pending_rows += outcome.rows;
  return outcome.rows;
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
