#include "ingest/queued_ingestor.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "azure/blob_client.hpp"
#include "azure/queue_client.hpp"
#include "azure/table_client.hpp"
#include "common/encoding.hpp"
#include "common/gzip.hpp"
#include "common/iso8601.hpp"
#include "common/random.hpp"
#include "ingest/kusto_management.hpp"
#include "ingest/streaming_ingestor.hpp"

namespace hub2kusto::ingest {

QueuedIngestor::QueuedIngestor(QueuedOptions options, azure::HttpTransport& transport,
                               azure::TokenProvider& tokens, const Clock& clock)
    : options_(std::move(options)), transport_(transport), tokens_(tokens), clock_(clock),
      report_scope_(options_.report_scope.empty() ? "hub2kusto-" + make_uuid()
                                                  : options_.report_scope) {}

Result<std::string, CommandError> QueuedIngestor::management(const std::string& command) {
  KustoManagement dm(options_.dm_url, transport_, tokens_, options_.app_name, options_.app_version);
  auto answer = dm.execute("NetDefaultDB", command, options_.timeout);
  if (!answer) {
    CommandError e = std::move(answer).error();
    e.reason = fmt::format("the data management service did not run '{}': {}", command, e.reason);
    return failure(std::move(e));
  }
  return std::move(answer).value();
}

Result<IngestionResources, CommandError> QueuedIngestor::fetch_resources() {
  auto resources_body = management(".get ingestion resources");
  if (!resources_body) {
    return failure(std::move(resources_body).error());
  }
  auto identity_body = management(".get kusto identity token");
  if (!identity_body) {
    return failure(std::move(identity_body).error());
  }
  IngestionResources r;
  const auto rows = [](const std::string& body) {
    auto table = first_table(body);
    return table ? std::move(table->rows) : std::vector<nlohmann::json>();
  };
  for (const auto& row : rows(*resources_body)) {
    if (!row.is_array() || row.size() < 2 || !row[0].is_string() || !row[1].is_string()) {
      continue;
    }
    const std::string type = row[0].get<std::string>();
    azure::StorageUrl url = azure::StorageUrl::parse(row[1].get<std::string>());
    if (type == "SecuredReadyForAggregationQueue") {
      r.queues.push_back(std::move(url));
    } else if (type == "TempStorage") {
      r.containers.push_back(std::move(url));
    } else if (type == "IngestionsStatusTable") {
      r.status_tables.push_back(std::move(url));
    }
  }
  const auto identity = rows(*identity_body);
  if (!identity.empty() && identity[0].is_array() && !identity[0].empty() &&
      identity[0][0].is_string()) {
    r.authorization_context = Secret(identity[0][0].get<std::string>());
  }
  if (r.queues.empty() || r.containers.empty() || r.status_tables.empty() ||
      r.authorization_context.empty()) {
    return failure(CommandError{200,
                                {},
                                "the data management service's ingestion resources lack a "
                                "SecuredReadyForAggregationQueue, a TempStorage container, an "
                                "IngestionsStatusTable or the identity token"});
  }
  r.fetched_at = clock_.steady_now();
  return r;
}

Result<IngestionResources, CommandError> QueuedIngestor::resources() {
  {
    std::lock_guard lock(mutex_);
    if (resources_ && clock_.steady_now() - resources_->fetched_at < options_.refresh) {
      return *resources_;
    }
  }
  auto fresh = fetch_resources();
  if (!fresh) {
    return fresh;
  }
  std::lock_guard lock(mutex_);
  resources_ = *fresh;
  return fresh;
}

void QueuedIngestor::forget_resources() {
  std::lock_guard lock(mutex_);
  resources_.reset();
}

DeliveryStatus QueuedIngestor::ingest(const Batch& batch) {
  DeliveryStatus status;
  status.path = IngestPath::queued;
  auto res = resources();
  if (!res) {
    status.outcome = Outcome::retriable;
    status.reason = res.error().reason;
    // Refused for this identity (no Ingestor role), or no data-management service there: the
    // same for every batch, so the pipeline holds and says so (response_classifier.hpp).
    if (res.error().status == 401 || res.error().status == 403) {
      status.target_problem = DeliveryStatus::TargetProblem::credentials;
    } else if (res.error().status == 404) {
      status.target_problem = DeliveryStatus::TargetProblem::missing_entity;
    }
    return status;
  }
  const bool binary = is_binary(batch.target.format);
  const std::string body = binary ? batch.data : gzip::compress(batch.data, gzip::kFastLevel);
  // The temporary containers are the cluster's, shared by every client, and the service reads
  // a blob only when its batching fires, minutes later: the ingestion's own id makes the name
  // unique, so two writers of the same table, partition and sequence range (two hubs, two
  // replicas, two consumer groups) never overwrite each other. The batch id stays readable.
  const std::string source_id = make_uuid();
  const std::string blob_name = fmt::format(
      "hub2kusto__{}__{}__{}__{}.{}{}", batch.target.database.value(), batch.target.table.value(),
      batch.id, source_id, ingest_format_name(batch.target.format), binary ? "" : ".gz");
  // Spread uploads over the containers; on a failure move on to the next one (docs/protocols.md,
  // "Queued ingestion and its status").
  std::size_t first = 0;
  {
    std::lock_guard lock(mutex_);
    first = next_container_++;
  }
  const std::size_t tries = std::min<std::size_t>(3, res->containers.size());
  std::string uploaded_url;
  std::string blob_printable;
  std::string last_error;
  for (std::size_t i = 0; i < tries; ++i) {
    const azure::StorageUrl& container = res->containers[(first + i) % res->containers.size()];
    const azure::SasContainer target = azure::sas_container(container);
    azure::BlobClient blobs(target.account, transport_, clock_, options_.timeout);
    auto put = blobs.put_block_blob(target.container, blob_name, body);
    if (!put) {
      last_error = put.error().message;
      continue;
    }
    uploaded_url = put->with("");
    blob_printable = put->base;
    break;
  }
  if (uploaded_url.empty()) {
    forget_resources(); // the SAS may have expired: fetch fresh resources next time
    status.outcome = Outcome::retriable;
    status.reason = "the batch could not be uploaded to the temporary storage: " + last_error;
    return status;
  }

  // The status entity comes first: once the message is posted the service may update it.
  azure::TableClient status_table(res->status_tables.front(), transport_, clock_, options_.timeout);
  if (auto inserted = insert_status(status_table, source_id, batch, blob_printable); !inserted) {
    forget_resources();
    status.outcome = Outcome::retriable;
    status.reason = inserted.error().message;
    return status;
  }
  nlohmann::json additional = {{"authorizationContext", res->authorization_context.reveal()},
                               {"format", ingest_format_name(batch.target.format)}};
  if (batch.target.mapping) {
    additional["ingestionMappingReference"] = batch.target.mapping->value();
    additional["ingestionMappingType"] = mapping_kind(batch.target.format);
  }
  if (!options_.deduplication_scope.empty()) {
    // Both are JSON arrays written as strings, as the SDKs send them.
    const std::string key = options_.deduplication_scope + "/" + batch.id;
    additional["tags"] = nlohmann::json::array({"ingest-by:" + key}).dump();
    additional["ingestIfNotExists"] = nlohmann::json::array({key}).dump();
  }
  const std::string version = options_.app_version.empty() ? "0" : options_.app_version;
  const nlohmann::json message = {
      {"Id", source_id},
      {"BlobPath", uploaded_url},
      {"RawDataSize", batch.data.size()},
      {"DatabaseName", batch.target.database.value()},
      {"TableName", batch.target.table.value()},
      {"RetainBlobOnSuccess", true},
      {"FlushImmediately", false},
      {"IgnoreSizeLimit", false},
      {"ReportLevel", 2},  // failures and successes: a finished entity is never left Pending
      {"ReportMethod", 1}, // to the status table, in the entity inserted above
      {"IngestionStatusInTable",
       {{"TableConnectionString", res->status_tables.front().with("")},
        {"PartitionKey", report_scope_},
        {"RowKey", source_id}}},
      {"SourceMessageCreationTime", format_iso8601_utc(clock_.system_now())},
      {"ApplicationForTracing", fmt::format("Kusto.{}:{{{}}}", options_.app_name, version)},
      {"ClientVersionForTracing", fmt::format("Kusto.{}:{{{}}}", options_.app_name, version)},
      {"AdditionalProperties", additional},
  };
  std::size_t queue_index = 0;
  {
    std::lock_guard lock(mutex_);
    queue_index = next_queue_++ % res->queues.size();
  }
  azure::QueueClient queue(res->queues[queue_index], transport_, clock_, options_.timeout);
  if (auto posted = queue.put_message(encoding::base64_encode(message.dump())); !posted) {
    // No message, no ingestion: its entity would stay Pending and, days later, be reported as
    // a failure of a batch that this retry delivers under another id.
    (void)status_table.remove(report_scope_, source_id); // best effort
    forget_resources();
    status.outcome = Outcome::retriable;
    status.reason = "the ingestion queue took no message: " + posted.error().message;
    return status;
  }
  status.outcome = Outcome::delivered;
  status.blob = blob_printable;
  return status;
}

Result<std::monostate> QueuedIngestor::insert_status(azure::TableClient& table,
                                                     const std::string& source_id,
                                                     const Batch& batch, const std::string& blob) {
  // The shape the SDKs insert (docs/protocols.md, "Queued ingestion and its status"), plus the
  // batch id, so a failure read after a restart still names its partition and sequence numbers.
  nlohmann::json entity = {{"PartitionKey", report_scope_},
                           {"RowKey", source_id},
                           {"Status", "Pending"},
                           {"IngestionSourceId", source_id},
                           {"IngestionSourcePath", blob},
                           {"Database", batch.target.database.value()},
                           {"Table", batch.target.table.value()},
                           {"UpdatedOn", format_iso8601_utc(clock_.system_now())},
                           {"BatchId", batch.id}};
  if (!batch.parts.empty()) {
    std::string parts;
    for (const auto& p : batch.parts) {
      parts += (parts.empty() ? "" : " ") + p;
    }
    entity["Parts"] = parts; // the ids have no space
  }
  if (auto inserted = table.insert(entity); !inserted) {
    return failure("the ingestion status table took no entity: " + inserted.error().message);
  }
  return std::monostate{};
}

Result<std::vector<IngestionFailure>> QueuedIngestor::poll_failures() {
  auto res = resources();
  if (!res) {
    return failure(std::move(res).error().reason);
  }
  azure::TableClient table(res->status_tables.front(), transport_, clock_, options_.timeout);
  // Our scope only: finished entities, and those Pending for longer than the limit. The
  // service's Timestamp is the entity's last write, so for a Pending one, when we inserted it.
  const std::string filter =
      fmt::format("PartitionKey eq '{}' and (Status ne 'Pending' or Timestamp lt datetime'{}')",
                  report_scope_, format_iso8601_utc(clock_.system_now() - options_.pending_limit));
  auto entities = table.query(filter);
  if (!entities) {
    return failure("the ingestion status table could not be read: " + entities.error().message);
  }
  const auto text = [](const nlohmann::json& e, const char* key) {
    const auto it = e.find(key);
    return it != e.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  std::vector<IngestionFailure> out;
  std::vector<IngestionFailure> succeeded;
  for (const auto& e : *entities) {
    IngestionFailure f;
    f.source_id = text(e, "RowKey");
    f.batch_id = text(e, "BatchId");
    const std::string parts = text(e, "Parts");
    for (std::size_t at = 0; at < parts.size();) {
      const std::size_t space = std::min(parts.find(' ', at), parts.size());
      if (space > at) {
        f.parts.push_back(parts.substr(at, space - at));
      }
      at = space + 1;
    }
    f.blob = text(e, "IngestionSourcePath");
    f.blob = f.blob.substr(0, f.blob.find('?'));
    f.database = text(e, "Database");
    f.table = text(e, "Table");
    const std::string state = text(e, "Status");
    if (state == "Succeeded" || state == "Skipped") {
      if (state == "Skipped") {
        duplicates_skipped_.fetch_add(1, std::memory_order_relaxed);
      }
      succeeded.push_back(std::move(f));
      continue;
    }
    if (state == "Pending") {
      f.error_code = "NoStatusReported";
      f.details = fmt::format("the service reported no outcome within {} hours",
                              options_.pending_limit.count());
      f.permanent = false;
    } else if (state == "Failed" || state == "PartiallySucceeded") {
      f.error_code = text(e, "ErrorCode");
      f.details = text(e, "Details");
      if (state == "PartiallySucceeded") {
        f.details = "only part of the batch was ingested: " + f.details;
      }
      f.permanent = text(e, "FailureStatus") != "Transient";
    } else {
      continue; // a state the service may add later: look again next time
    }
    out.push_back(std::move(f));
  }
  acknowledge(succeeded);
  return out;
}

void QueuedIngestor::acknowledge(const std::vector<IngestionFailure>& recorded) {
  if (recorded.empty()) {
    return;
  }
  auto res = resources();
  if (!res) {
    return; // they stay, and are read again next time
  }
  azure::TableClient table(res->status_tables.front(), transport_, clock_, options_.timeout);
  for (const auto& f : recorded) {
    (void)table.remove(report_scope_, f.source_id); // one that stays is read again
  }
}

} // namespace hub2kusto::ingest
