#include "server_impl.hpp"

namespace hub2kusto::kusto_emulator {

void Server::Impl::on_streaming_ingest(const http_request& r, const std::vector<std::string>& path,
                                       std::string body) {
  // path: v1 rest ingest {db} {table}
  const std::string db_name = web::uri::decode(path[3]);
  const std::string table_name = web::uri::decode(path[4]);
  std::string format_text;
  std::string mapping;
  bool from_uri = false;
  for (const auto& [k, v] : web::uri::split_query(r.request_uri().query())) {
    if (iequals(k, "streamformat")) {
      format_text = web::uri::decode(v);
    } else if (iequals(k, "mappingname")) {
      mapping = web::uri::decode(v);
    } else if (iequals(k, "sourcekind")) {
      from_uri = iequals(v, "uri");
    }
  }
  std::int64_t delay = 0;
  bool over_limit = false;
  {
    std::lock_guard lock(mutex);
    std::lock_guard flight(flight_mutex);
    ++streaming_requests;
    delay = latency_ms;
    over_limit = streaming_limit > 0 && streaming_in_flight >= streaming_limit;
    if (over_limit) {
      ++streaming_throttled;
    } else {
      streaming_in_flight_peak = std::max(streaming_in_flight_peak, ++streaming_in_flight);
      counted_in_flight = true;
    }
  }
  if (over_limit) {
    // As a small cluster beyond its concurrent streaming requests (docs/protocols.md,
    // "Throttling"): at once, transient, with a hint when to come back.
    ServiceError throttled = fault_of_kind("throttled")->error;
    throttled.message = "The request was throttled: the cluster is serving " +
                        std::to_string(streaming_limit) +
                        " concurrent streaming requests (fault injection: concurrency).";
    reply_error(r, throttled, 1);
    return;
  }
  if (delay > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(delay)); // the fault itself
  }
  std::optional<StreamingFault> injected;
  bool disabled = false;
  {
    std::lock_guard lock(mutex);
    disabled = streaming_disabled;
    if (!disabled && !streaming_faults.empty()) {
      injected = streaming_faults.front();
      if (--streaming_faults.front().remaining <= 0) {
        streaming_faults.pop_front();
      }
      ++streaming_injected;
    }
  }
  if (disabled) {
    // Streaming off for the whole cluster: 404 on the ingest path (docs/protocols.md, "Errors").
    reply_error(r, {404, "StreamingIngestionFunctionalityDisabled",
                    "Kusto.Data.Exceptions.KustoBadRequestException",
                    "Streaming ingestion is disabled for the cluster "
                    "(StreamingIngestionFunctionalityDisabled).",
                    true});
    return;
  }
  if (injected) {
    reply_error(r, injected->error, injected->retry_after_seconds);
    return;
  }
  if (from_uri) {
    try {
      const auto j = nlohmann::json::parse(body);
      std::string blob;
      if (storage == nullptr || storage->download(text_of(member(j, "sourceUri")), blob)) {
        reply_error(r, {400, "BadRequest_InvalidBlob",
                        "Kusto.Data.Exceptions.KustoBadRequestException",
                        "Streaming from blob: the blob could not be read", true});
        return;
      }
      body = std::move(blob);
    } catch (const std::exception&) {
      reply_error(r, {400, "General_BadRequest", "Kusto.Data.Exceptions.KustoBadRequestException",
                      "Streaming from blob needs a JSON body with sourceUri", true});
      return;
    }
  }
  const ServiceError too_large{413, "Stream_InputStreamTooLarge",
                               "Kusto.Data.Exceptions.KustoRequestPayloadTooLargeException",
                               "Bad streaming ingestion request to " + db_name + "." + table_name +
                                   " : the input stream is larger than " +
                                   std::to_string(config.streaming_max_bytes) + " bytes",
                               true};
  // Decompress when the body is gzip, whatever Content-Encoding says (docs/protocols.md,
  // "Streaming ingestion requests").
  if (gzip::is_gzip(body)) {
    bool over = false;
    auto inflated = gzip::decompress(body, config.streaming_max_bytes, &over);
    if (!inflated) {
      if (over) {
        reply_error(r, too_large);
      } else {
        reply_error(r, {400, "BadRequest_NoRecordsOrWrongFormat",
                        "Kusto.DataNode.Exceptions.StreamingIngestionRequestException",
                        "Bad streaming ingestion request: the gzip body is corrupt", true});
      }
      return;
    }
    body = std::move(*inflated);
  }
  // The service inflates a request once; what is inside must be the format itself. Gzip
  // inside gzip (events joined with their own compression) is not JSON or CSV to any parser.
  if (gzip::is_gzip(body)) {
    reply_error(r, {400, "BadRequest_NoRecordsOrWrongFormat",
                    "Kusto.DataNode.Exceptions.StreamingIngestionRequestException",
                    "Bad streaming ingestion request: the data is not valid '" + format_text +
                        "' (it is gzip again after the request body was inflated)",
                    true});
    return;
  }
  if (body.size() > config.streaming_max_bytes) {
    reply_error(r, too_large);
    return;
  }
  // Avro: exactly one container file, its records read as JSON (the mapping engine's input).
  const bool avro = is_avro(format_text);
  if (avro) {
    std::string lines;
    if (auto wrong = avro_to_json_lines(body, lines)) {
      reply_error(r, {400, "BadRequest_NoRecordsOrWrongFormat",
                      "Kusto.DataNode.Exceptions.StreamingIngestionRequestException",
                      "Bad streaming ingestion request: the data is not valid '" + format_text +
                          "': " + *wrong,
                      true});
      return;
    }
    body = std::move(lines);
  }
  const auto format = mappings::parse_data_format(avro ? "multijson" : format_text);
  if (!format) {
    reply_error(r,
                {400, "BadRequest_FormatNotSupported",
                 "Kusto.Data.Exceptions.FormatNotSupportedException",
                 "streamFormat '" + format_text + "' is not a format the emulator ingests", true});
    return;
  }
  // The table's schema and mapping are read under the lock and the data is mapped without it,
  // so that concurrent requests map in parallel as the service's nodes would.
  const auto target = [&]() -> std::pair<Database*, Table*> {
    Database* db = catalog.database(db_name);
    if (db == nullptr) {
      reply_error(r, {400, "BadRequest_DatabaseNotExist",
                      "Kusto.Data.Exceptions.DatabaseNotFoundException",
                      "Database '" + db_name + "' was not found.", true});
      return {nullptr, nullptr};
    }
    Table* table = db->table(table_name);
    if (table == nullptr) {
      reply_error(
          r, {400, "BadRequest_TableNotExist", "Kusto.Data.Exceptions.TableNotFoundException",
              "Table '" + table_name + "' was not found in database '" + db_name + "'.", true});
      return {nullptr, nullptr};
    }
    if (!db->streaming_enabled(*table)) {
      reply_error(r, {400, "BadRequest_StreamingIngestionPolicyNotEnabled",
                      "Kusto.DataNode.Exceptions.StreamingIngestionRequestException",
                      "Bad streaming ingestion request to " + db_name + "." + table_name +
                          " : Streaming ingestion policy is not enabled for the table",
                      true});
      return {nullptr, nullptr};
    }
    return {db, table};
  };
  const auto failed = [&](const IngestFailure& failure) {
    catalog.failures.push_back({new_guid(), db_name, table_name, now_iso(), "streaming",
                                failure.error.message, failure.error.code, true});
    reply_error(r, failure.error);
  };
  IngestRequest req;
  req.body = std::move(body);
  req.format = *format;
  req.mapping_name = mapping;
  std::variant<PreparedIngest, IngestFailure> prepared;
  {
    std::lock_guard lock(mutex);
    const auto [db, table] = target();
    if (table == nullptr) {
      return;
    }
    prepared = prepare_ingest(*db, *table, req, &mappers);
    if (const auto* failure = std::get_if<IngestFailure>(&prepared)) {
      failed(*failure);
      return;
    }
  }
  auto mapped = map_ingest(std::get<PreparedIngest>(prepared), req);
  std::lock_guard lock(mutex);
  mappers.give(std::move(std::get<PreparedIngest>(prepared)));
  if (const auto* failure = std::get_if<IngestFailure>(&mapped)) {
    failed(*failure);
    return;
  }
  const auto [db, table] = target(); // dropped or altered meanwhile: as the service would say
  if (table == nullptr) {
    return;
  }
  const std::size_t rows =
      commit_locked(*db, *table, std::move(std::get<Table::Pending>(mapped)), {});
  ResultTable result{
      "Table_0",
      {{"ConsumedRecordsCount", "long"},
       {"UpdatePolicyStatus", "string"},
       {"UpdatePolicyFailureCode", "string"},
       {"UpdatePolicyFailureReason", "string"}},
      {nlohmann::json::array({static_cast<std::int64_t>(rows), "Inactive", "Unknown", nullptr})}};
  reply(r, web::http::status_codes::OK, to_v1({result}));
}

void Server::Impl::on_execute(const http_request& r, const std::string& kind,
                              const std::string& body) {
  nlohmann::json request;
  try {
    request = nlohmann::json::parse(body);
  } catch (const std::exception&) {
    reply_error(r, {400, "General_BadRequest", "Kusto.Data.Exceptions.KustoBadRequestException",
                    "The request body is not JSON", true});
    return;
  }
  const std::string db = request.contains("db") && request["db"].is_string()
                             ? request["db"].get<std::string>()
                             : std::string("NetDefaultDB");
  const std::string csl = text_of(member(request, "csl"));
  const std::string_view text = emulators::trim(csl);
  const bool is_command = !text.empty() && text.front() == '.';
  if (kind == "v2" && is_command) {
    reply_error(r, {400, "General_BadRequest", "Kusto.Data.Exceptions.KustoBadRequestException",
                    "Bad request: Control commands (starting with a dot '.') do not support "
                    "api_version=v2",
                    true});
    return;
  }
  std::variant<ResultTable, ServiceError> outcome;
  {
    std::lock_guard lock(mutex);
    if (is_command) {
      outcome = run_command(catalog, db, csl, dm);
      // Commands that change something are journaled, to be replayed at start.
      const std::string verb = lower(text.substr(0, 8));
      if (std::holds_alternative<ResultTable>(outcome) &&
          (verb.starts_with(".create") || verb.starts_with(".alter") || verb.starts_with(".drop") ||
           verb.starts_with(".delete"))) {
        record({{"db", db}, {"csl", csl}});
      }
    } else {
      Database* d = catalog.database(db);
      if (d == nullptr) {
        outcome = ServiceError{400, "BadRequest_DatabaseNotExist",
                               "Kusto.Data.Exceptions.DatabaseNotFoundException",
                               "Database '" + db + "' was not found.", true};
      } else {
        outcome = run_query(*d, csl);
      }
    }
  }
  if (const auto* e = std::get_if<ServiceError>(&outcome)) {
    reply_error(r, *e);
    return;
  }
  const auto& table = std::get<ResultTable>(outcome);
  reply(r, web::http::status_codes::OK,
        kind == "v2" ? to_v2({table}, header(r, "x-ms-client-request-id")) : to_v1({table}));
}

} // namespace hub2kusto::kusto_emulator
