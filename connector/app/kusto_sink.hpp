#pragma once
// KustoSink: one connection's way into Kusto, built the same for `run` and `replay`: the HTTP
// transport, the token provider for the cluster, streaming and queued ingestion, and the
// managed ingestor that chooses between them (connector/ingest/README.md).
#include <map>
#include <memory>
#include <string>

#include "app/config.hpp"
#include "azure/http_transport.hpp"
#include "azure/token_provider.hpp"
#include "common/clock.hpp"
#include "common/random.hpp"
#include "ingest/managed_ingestor.hpp"
#include "ingest/queued_ingestor.hpp"
#include "ingest/request_limiter.hpp"
#include "ingest/streaming_ingestor.hpp"
#include "pipeline/dead_letter_store.hpp"

namespace hub2kusto::app {

struct KustoSink {
  // Declared in the order they depend on each other; destroyed the other way.
  std::unique_ptr<azure::HttpTransport> transport;
  std::unique_ptr<azure::TokenProvider> tokens;
  std::unique_ptr<ingest::StreamingIngestor> streaming;
  std::unique_ptr<ingest::QueuedIngestor> queued;
  std::shared_ptr<ingest::RequestLimiter> limiter; // the cluster's, shared with its other sinks
  std::unique_ptr<ingest::ManagedIngestor> managed;
};

// `clock`, `random` and `sleeper` must outlive the sink. `report_scope` names the connection's
// queued ingestions in the status table (see report_scope()); `deduplication_scope`, when not
// empty, the source of the events in each queued batch's de-duplication key (see
// deduplication_scope()). `limiter` takes turns for every sink that sends to the same cluster
// (see RequestLimiters).
std::unique_ptr<KustoSink> make_kusto_sink(const ConnectionConfig& c, std::string report_scope,
                                           std::string deduplication_scope,
                                           std::shared_ptr<ingest::RequestLimiter> limiter,
                                           const Clock& clock, RandomSource& random,
                                           Sleeper& sleeper);

// One RequestLimiter per cluster (by engine address), for every connection that sends to it;
// the smallest target.max_concurrent_requests of those connections holds.
class RequestLimiters {
public:
  explicit RequestLimiters(const Clock& clock) : clock_(clock) {}
  std::shared_ptr<ingest::RequestLimiter> for_target(const TargetConfig& target);
  // Each cluster's limiter's series, labelled with the cluster's address.
  void describe(MetricsSink& out) const;

private:
  const Clock& clock_;
  std::map<std::string, std::shared_ptr<ingest::RequestLimiter>> by_cluster_;
};

// The status-table PartitionKey of one connection's queued ingestions: the same after a
// restart, so reports that arrive later are still read; different for every connection, hub,
// consumer group and database, so no two connections read each other's reports.
std::string report_scope(const ConnectionConfig& c, const std::string& hub_namespace,
                         const std::string& hub);

// Where a batch's events come from, the first part of its de-duplication key: `<namespace>/<hub>`
// in lower case. Not the consumer group or the connection: every reader of the same events
// (another replica, a blue/green consumer group) computes the same key for the same batch.
std::string deduplication_scope(const std::string& hub_namespace, const std::string& hub);

// Queued batches Kusto failed after it accepted them (docs/protocols.md, "Queued ingestion and
// its status") were checkpointed as delivered: their events are not lost from the hub, but they
// are not in the table. Reads `queued`'s failure reports and writes each to `dead_letters` as a
// record naming the partition, the sequence numbers and the blob, logged at ERROR, so an
// operator can replay it (retention permitting, from the hub). The reports are acknowledged
// only once written, else they are read again next time; those recorded are counted in
// `counts` (by their error code). Returns how many were recorded.
std::size_t record_queued_failures(ingest::QueuedIngestor& queued,
                                   pipeline::DeadLetterStore& dead_letters,
                                   pipeline::DeadLetterCounts& counts,
                                   const std::string& connection);

// The Event Hubs namespace (or IoT Hub) host a connection string names.
std::string namespace_of(const HubConnectionString& c);

} // namespace hub2kusto::app
