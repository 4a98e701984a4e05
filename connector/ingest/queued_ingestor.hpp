#pragma once
// Queued ingestion (docs/protocols.md, "Queued ingestion and its status"): upload the gzipped batch
// as a blob to one of the data management service's temporary containers, then post an ingestion
// message to its queue. "Delivered" means the queue accepted the message. What the service makes of
// it later is reported per ingestion in its status table (ReportMethod Table, docs/protocols.md,
// "Queued ingestion and its status"): before posting, we insert an entity of our own (PartitionKey:
// this client's report scope, RowKey: the message id) that the service updates to Succeeded or
// Failed. poll_failures() reads only our scope's finished entities, so another client's reports are
// never read, hidden or deleted; the temporary containers and the failed-ingestions queue are
// shared by every client of the cluster (connector/ingest/README.md, "Queued ingestion").
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "azure/http_transport.hpp"
#include "azure/storage.hpp"
#include "azure/table_client.hpp"
#include "azure/token_provider.hpp"
#include "base/result.hpp"
#include "common/clock.hpp"
#include "common/random.hpp"
#include "common/secret.hpp"
#include "ingest/ingestor.hpp"
#include "ingest/kusto_management.hpp"

namespace hub2kusto::ingest {

struct IngestionResources {
  std::vector<azure::StorageUrl> queues;        // SecuredReadyForAggregationQueue
  std::vector<azure::StorageUrl> containers;    // TempStorage
  std::vector<azure::StorageUrl> status_tables; // IngestionsStatusTable
  Secret authorization_context;                 // .get kusto identity token
  std::chrono::steady_clock::time_point fetched_at;
};

struct QueuedOptions {
  std::string dm_url; // scheme://host[:port] of the data management endpoint
  std::string app_name = "hub2kusto";
  std::string app_version;
  std::chrono::minutes refresh{60}; // the SDKs cache resources and the identity token 1 h
  std::chrono::milliseconds timeout{120'000};
  // The status-table PartitionKey of this client's ingestions: stable across restarts of the
  // same connection (so a report that arrives after a restart is still read), distinct between
  // connections. Empty: a fresh one per instance. Letters, digits, '-' and '_' only.
  std::string report_scope{};
  // An ingestion still Pending after this long is reported as a failure: the service keeps
  // retrying transient failures for up to two days, and silence beyond that means the data
  // may never arrive.
  std::chrono::hours pending_limit{50};
  // Not empty: each batch is tagged `ingest-by:<scope>/<batch id>` and sent with
  // `ingestIfNotExists` of that key, so Kusto drops a batch a table already holds (sent again
  // after a crash or a handover). The scope names where the events come from (namespace and
  // hub), so every reader of those events computes the same key (docs/protocols.md,
  // "De-duplicating queued batches").
  std::string deduplication_scope{};
};

// A failure the service reported after it took a message (docs/protocols.md, "Queued ingestion and
// its status").
struct IngestionFailure {
  std::string batch_id; // the batch the ingestion carried (kept in the status entity)
  // A request that joined several partitions' batches: the id of each (`Parts` in the entity).
  std::vector<std::string> parts;
  std::string source_id; // the ingestion's id: the status entity's RowKey
  std::string blob;      // without SAS
  std::string database;
  std::string table;
  std::string error_code;
  std::string details;
  bool permanent = true;
};

class QueuedIngestor final : public Ingestor {
public:
  QueuedIngestor(QueuedOptions options, azure::HttpTransport& transport,
                 azure::TokenProvider& tokens, const Clock& clock);

  DeliveryStatus ingest(const Batch& batch) override;

  // The failed ingestions of this client's scope that the status table holds now (up to one
  // page). Entities of ingestions that succeeded are deleted here; failed ones stay until
  // acknowledge() is called for them, after they were recorded, so a failure is never lost
  // between reading and recording it. Any thread.
  Result<std::vector<IngestionFailure>> poll_failures();
  // Deletes the status entities of failures that were recorded. Any thread.
  void acknowledge(const std::vector<IngestionFailure>& recorded);
  // Ingestions the service skipped because the table already held their de-duplication key,
  // as poll_failures() found them reported. Any thread.
  std::uint64_t duplicates_skipped() const { return duplicates_skipped_.load(); }

  // The cached resources, fetched when missing or older than the refresh period. The error
  // keeps the service's status, so a refusal of this identity is told from an outage.
  Result<IngestionResources, CommandError> resources();

private:
  Result<IngestionResources, CommandError> fetch_resources();
  Result<std::string, CommandError> management(const std::string& command);
  void forget_resources();
  Result<std::monostate> insert_status(azure::TableClient& table, const std::string& source_id,
                                       const Batch& batch, const std::string& blob);

  QueuedOptions options_;
  azure::HttpTransport& transport_;
  azure::TokenProvider& tokens_;
  const Clock& clock_;

  std::mutex mutex_;
  std::optional<IngestionResources> resources_;
  std::size_t next_container_ = 0;
  std::size_t next_queue_ = 0;
  std::string report_scope_;
  std::atomic<std::uint64_t> duplicates_skipped_{0};
};

} // namespace hub2kusto::ingest
