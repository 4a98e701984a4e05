#pragma once
// Queued ingestion (kusto-ingest.md §4): upload the gzipped batch as a blob to one of the data
// management service's temporary containers, then post an ingestion message to its queue.
// "Delivered" means the queue accepted the message; a later failure on the service's side is
// reported on the failed-ingestions queue, which poll_failures() reads so the pipeline can
// dead-letter the batch with its blob.
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "common/secret.hpp"
#include "ingest/http_transport.hpp"
#include "ingest/ingestor.hpp"
#include "ingest/token_provider.hpp"

namespace hub2kusto::ingest {

// One storage URL with its SAS: the query stays secret.
struct StorageUrl {
  std::string base;                                // scheme://host[:port]/path, printable
  Secret sas;                                      // the query string without '?'
  std::string with(std::string_view suffix) const; // base + suffix + '?' + sas (secret!)
};

struct IngestionResources {
  std::vector<StorageUrl> queues;         // SecuredReadyForAggregationQueue
  std::vector<StorageUrl> containers;     // TempStorage
  std::vector<StorageUrl> failure_queues; // FailedIngestionsQueue
  Secret authorization_context;           // .get kusto identity token
  std::chrono::steady_clock::time_point fetched_at;
};

struct QueuedOptions {
  std::string dm_url; // scheme://host[:port] of the data management endpoint
  std::string app_name = "hub2kusto";
  std::string app_version;
  std::chrono::minutes refresh{60}; // the SDKs cache resources and the identity token 1 h
  std::chrono::milliseconds timeout{120'000};
};

// A failure the service reported after it took a message (§4.6).
struct IngestionFailure {
  std::string batch_id; // empty when the message was not ours (another client's)
  std::string blob;     // without SAS
  std::string database;
  std::string table;
  std::string error_code;
  std::string details;
  bool permanent = true;
};

class QueuedIngestor final : public Ingestor {
public:
  QueuedIngestor(QueuedOptions options, HttpTransport& transport, TokenProvider& tokens,
                 const Clock& clock);

  DeliveryStatus ingest(const Batch& batch) override;

  // Reads (and deletes) what the failed-ingestions queues hold now. Any thread.
  Result<std::vector<IngestionFailure>> poll_failures();

  // The cached resources, fetched when missing or older than the refresh period.
  Result<IngestionResources> resources();

private:
  Result<IngestionResources> fetch_resources();
  Result<std::string> management(const std::string& command);
  void forget_resources();

  QueuedOptions options_;
  HttpTransport& transport_;
  TokenProvider& tokens_;
  const Clock& clock_;

  std::mutex mutex_;
  std::optional<IngestionResources> resources_;
  std::size_t next_container_ = 0;
  std::size_t next_queue_ = 0;
  std::map<std::string, std::string> sent_; // message id -> batch id, newest kept
  std::deque<std::string> sent_order_;
};

std::string make_uuid();
std::string rfc1123_date(std::chrono::system_clock::time_point t);

} // namespace hub2kusto::ingest
