#include "server_impl.hpp"

namespace hub2kusto::kusto_emulator {

std::optional<std::string> Server::Impl::prepare_storage() {
  storage = std::make_unique<StorageClient>(*config.storage);
  for (const char* q : {kReadyQueue, kFailedQueue, kSucceededQueue}) {
    if (auto e = storage->create_queue(q)) {
      return e;
    }
  }
  for (const char* c : {"ingestion-temp-0", "ingestion-temp-1"}) {
    if (auto e = storage->create_container(c)) {
      return e;
    }
  }
  if (auto e = storage->create_table(kStatusTable)) {
    return e;
  }
  const auto& ep = storage->endpoints();
  const std::string sas = "?" + storage->sas();
  dm.resources = {
      {"SecuredReadyForAggregationQueue", ep.queue + "/" + kReadyQueue + sas},
      {"FailedIngestionsQueue", ep.queue + "/" + kFailedQueue + sas},
      {"SuccessfulIngestionsQueue", ep.queue + "/" + kSucceededQueue + sas},
      {"TempStorage", ep.blob + "/ingestion-temp-0" + sas},
      {"TempStorage", ep.blob + "/ingestion-temp-1" + sas},
      {"IngestionsStatusTable", ep.table + "/" + kStatusTable + sas},
  };
  return std::nullopt;
}

void Server::Impl::report(const nlohmann::json& message, bool succeeded, const std::string& status,
                          const ServiceError* error) {
  const nlohmann::json* id = member(message, "Id");
  const std::string blob = text_of(member(message, "BlobPath"));
  const std::string source = blob.substr(0, blob.find('?')); // SAS stripped
  const int level =
      enum_of(member(message, "ReportLevel"), 0,
              {{"FailuresOnly", 0}, {"None", 1}, {"DoNotReport", 1}, {"FailuresAndSuccesses", 2}});
  const int method = enum_of(member(message, "ReportMethod"), 0,
                             {{"Queue", 0}, {"Table", 1}, {"QueueAndTable", 2}});
  nlohmann::json status_message = {{"OperationId", new_guid()},
                                   {"Database", text_of(member(message, "DatabaseName"))},
                                   {"Table", text_of(member(message, "TableName"))},
                                   {"IngestionSourceId", text_of(id)},
                                   {"IngestionSourcePath", source},
                                   {"RootActivityId", new_guid()}};
  if (succeeded) {
    status_message["SucceededOn"] = now_iso();
  } else {
    status_message["FailedOn"] = now_iso();
    status_message["Details"] = error->message;
    status_message["ErrorCode"] = error->code;
    status_message["FailureStatus"] = error->permanent ? "Permanent" : "Transient";
    status_message["OriginatesFromUpdatePolicy"] = false;
    status_message["ShouldRetry"] = !error->permanent;
  }
  const bool wanted = succeeded ? level == 2 : level != 1;
  if (wanted && (method == 0 || method == 2)) {
    (void)storage->put_message(succeeded ? kSucceededQueue : kFailedQueue,
                               encoding::base64_encode(status_message.dump()));
  }
  if (method == 1 || method == 2) {
    const nlohmann::json* in_table = member(message, "IngestionStatusInTable");
    if (in_table != nullptr) {
      nlohmann::json entity = {{"Status", status},
                               {"UpdatedOn", now_iso()},
                               {"OperationId", status_message["OperationId"]},
                               {"ActivityId", status_message["RootActivityId"]}};
      if (!succeeded) {
        entity["ErrorCode"] = error->code;
        entity["FailureStatus"] = status_message["FailureStatus"];
        entity["Details"] = error->message;
      }
      (void)storage->merge_entity(text_of(member(*in_table, "TableConnectionString")),
                                  text_of(member(*in_table, "PartitionKey")),
                                  text_of(member(*in_table, "RowKey")), entity.dump());
    }
  }
}

void Server::Impl::process(const QueueMessage& qm) {
  nlohmann::json message;
  const auto decoded = encoding::base64_decode(qm.text);
  try {
    message = nlohmann::json::parse(decoded ? *decoded : qm.text);
  } catch (const std::exception&) {
    std::lock_guard lock(mutex);
    ++queued_failed;
    catalog.failures.push_back({new_guid(), "", "", now_iso(), "queue message",
                                "The queue message is not base64 JSON", "BadRequest_InvalidMessage",
                                true});
    return;
  }
  auto fail = [&](ServiceError e) {
    {
      std::lock_guard lock(mutex);
      ++queued_failed;
      const std::string blob = text_of(member(message, "BlobPath"));
      catalog.failures.push_back({new_guid(), text_of(member(message, "DatabaseName")),
                                  text_of(member(message, "TableName")), now_iso(),
                                  blob.substr(0, blob.find('?')), e.message, e.code, e.permanent});
    }
    report(message, false, "Failed", &e);
  };
  nlohmann::json props;
  if (const auto* p = member(message, "AdditionalProperties")) {
    props = *p;
    if (p->is_string()) {
      try {
        props = nlohmann::json::parse(p->get<std::string>());
      } catch (const std::exception&) {
        props = nlohmann::json::object();
      }
    }
  }
  if (text_of(member(props, "authorizationContext")) != dm.identity_token) {
    fail({401, "Unauthorized", "Kusto.Data.Exceptions.KustoRequestDeniedException",
          "AdditionalProperties.authorizationContext is not the identity token of "
          ".get kusto identity token",
          true});
    return;
  }
  const std::string format_text = text_of(member(props, "format"));
  const bool avro = is_avro(format_text);
  const auto format = mappings::parse_data_format(avro                  ? "multijson"
                                                  : format_text.empty() ? "csv"
                                                                        : format_text);
  if (!format) {
    fail({400, "BadRequest_FormatNotSupported", "Kusto.Data.Exceptions.FormatNotSupportedException",
          "format '" + format_text + "' is not a format the emulator ingests", true});
    return;
  }
  IngestRequest req;
  req.format = *format;
  for (const char* key : {"ingestionMappingReference", "jsonMappingReference",
                          "csvMappingReference", "mappingReference"}) {
    if (req.mapping_name.empty()) {
      req.mapping_name = text_of(member(props, key));
    }
  }
  for (const char* key : {"ingestionMapping", "jsonMapping", "csvMapping"}) {
    if (req.inline_mapping.empty()) {
      req.inline_mapping = text_of(member(props, key));
    }
  }
  req.ignore_first_record = flag_of(member(props, "ignoreFirstRecord"));
  std::vector<std::string> ingest_by;
  for (const auto& tag : string_list(member(props, "tags"))) {
    if (tag.rfind("ingest-by:", 0) == 0) {
      ingest_by.push_back(tag.substr(10));
    }
  }
  const auto if_not_exists = string_list(member(props, "ingestIfNotExists"));
  std::string blob;
  if (auto e = storage->download(text_of(member(message, "BlobPath")), blob)) {
    fail({400, "BadRequest_InvalidBlob", "Kusto.Data.Exceptions.KustoBadRequestException",
          "The blob could not be downloaded: " + *e, true});
    return;
  }
  if (gzip::is_gzip(blob)) {
    auto inflated = gzip::decompress(blob, std::size_t{1} << 30);
    if (!inflated) {
      fail({400, "BadRequest_NoRecordsOrWrongFormat",
            "Kusto.Data.Exceptions.KustoBadRequestException", "The blob is not valid gzip", true});
      return;
    }
    blob = std::move(*inflated);
  }
  if (gzip::is_gzip(blob)) {
    fail({400, "BadRequest_NoRecordsOrWrongFormat",
          "Kusto.Data.Exceptions.KustoBadRequestException",
          "The blob's data is not valid '" + format_text +
              "': it is gzip again after the blob was inflated",
          true});
    return;
  }
  if (avro) {
    std::string lines;
    if (auto wrong = avro_to_json_lines(blob, lines)) {
      fail({400, "BadRequest_NoRecordsOrWrongFormat",
            "Kusto.Data.Exceptions.KustoBadRequestException",
            "The blob's data is not valid '" + format_text + "': " + *wrong, true});
      return;
    }
    blob = std::move(lines);
  }
  req.body = std::move(blob);
  std::variant<std::size_t, IngestFailure> outcome;
  bool skipped = false;
  {
    std::lock_guard lock(mutex);
    const std::string db_name = text_of(member(message, "DatabaseName"));
    const std::string table_name = text_of(member(message, "TableName"));
    Database* db = catalog.database(db_name);
    Table* table = db != nullptr ? db->table(table_name) : nullptr;
    if (db == nullptr) {
      outcome = IngestFailure{{400, "BadRequest_DatabaseNotExist",
                               "Kusto.Data.Exceptions.DatabaseNotFoundException",
                               "Database '" + db_name + "' was not found.", true}};
    } else if (table == nullptr) {
      outcome = IngestFailure{
          {400, "BadRequest_TableNotExist", "Kusto.Data.Exceptions.TableNotFoundException",
           "Table '" + table_name + "' was not found in database '" + db_name + "'.", true}};
    } else {
      for (const auto& tag : if_not_exists) {
        skipped = skipped || table->ingest_by_tags.count(tag) > 0;
      }
      if (!skipped) {
        outcome = ingest_locked(*db, *table, req, ingest_by);
      }
    }
  }
  if (skipped) {
    {
      std::lock_guard lock(mutex);
      ++queued_succeeded;
    }
    report(message, true, "Skipped", nullptr);
    return;
  }
  if (const auto* failure = std::get_if<IngestFailure>(&outcome)) {
    fail(failure->error);
    return;
  }
  {
    std::lock_guard lock(mutex);
    ++queued_succeeded;
  }
  report(message, true, "Succeeded", nullptr);
}

void Server::Impl::run_worker() {
  // Messages taken but not yet due: they stay invisible on the queue while held here.
  std::deque<std::pair<std::chrono::steady_clock::time_point, QueueMessage>> held;
  const auto visibility = static_cast<int>(
      std::chrono::duration_cast<std::chrono::seconds>(config.dm_delay).count() + 60);
  std::unique_lock lock(mutex);
  while (!stopping) {
    if (queued_paused) {
      wake.wait_for(lock, std::chrono::milliseconds(200));
      continue;
    }
    lock.unlock();
    std::vector<QueueMessage> messages;
    const auto error = storage->get_messages(kReadyQueue, visibility, messages);
    if (error) {
      std::fprintf(stderr, "kusto-emulator: queued ingestion: %s\n", error->c_str());
    }
    const auto now = std::chrono::steady_clock::now();
    for (auto& m : messages) {
      {
        std::lock_guard count(mutex);
        ++queued_messages;
      }
      held.emplace_back(now + config.dm_delay, std::move(m));
    }
    bool processed = false;
    while (!held.empty() && held.front().first <= std::chrono::steady_clock::now()) {
      process(held.front().second);
      (void)storage->delete_message(kReadyQueue, held.front().second);
      held.pop_front();
      processed = true;
    }
    lock.lock();
    if (messages.empty() && !processed) {
      // Azurite has no long polling: look again shortly (well inside the second the
      // issue allows between a message and its rows).
      wake.wait_for(lock, std::chrono::milliseconds(100));
    }
  }
}

} // namespace hub2kusto::kusto_emulator
