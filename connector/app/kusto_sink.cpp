#include "app/kusto_sink.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "app/version.hpp"
#include "base/text.hpp"
#include "common/crypto.hpp"
#include "common/key_value_list.hpp"
#include "common/logging.hpp"

namespace hub2kusto::app {

std::unique_ptr<KustoSink> make_kusto_sink(const ConnectionConfig& c, std::string report_scope,
                                           std::string deduplication_scope,
                                           std::shared_ptr<ingest::RequestLimiter> limiter,
                                           const Clock& clock, RandomSource& random,
                                           Sleeper& sleeper) {
  auto sink = std::make_unique<KustoSink>();
  sink->transport = azure::make_http_transport();
  std::string token_note;
  sink->tokens = azure::make_cluster_token_provider(c.target.connection, c.target.credential,
                                                    *sink->transport, clock, &token_note);
  if (!token_note.empty()) {
    logger("app")->info("connection '{}': {}", c.name, token_note);
  }
  if (!sink->tokens->kind().empty()) { // the ids, which a refusal's reason leaves out
    logger("app")->info("connection '{}': Kusto tokens of {} for audience {}", c.name,
                        sink->tokens->describe(), sink->tokens->audience());
  }
  ingest::StreamingOptions so;
  so.engine_url = c.target.connection.engine_url();
  so.app_version = std::string(kVersion);
  sink->streaming =
      std::make_unique<ingest::StreamingIngestor>(so, *sink->transport, *sink->tokens);
  ingest::QueuedOptions qo;
  qo.dm_url = c.target.connection.data_management_url();
  qo.app_version = std::string(kVersion);
  qo.report_scope = std::move(report_scope);
  qo.deduplication_scope = std::move(deduplication_scope);
  sink->queued =
      std::make_unique<ingest::QueuedIngestor>(qo, *sink->transport, *sink->tokens, clock);
  ingest::ManagedOptions mo;
  // Streaming takes at most 4 MiB of raw data; larger batches (a larger max_bytes) go queued.
  mo.streaming_limit = std::min<std::uint64_t>(c.batching.max_bytes, 4ULL << 20);
  sink->limiter = std::move(limiter);
  sink->managed = std::make_unique<ingest::ManagedIngestor>(mo, *sink->streaming, *sink->queued,
                                                            *sink->limiter, clock, random, sleeper);
  return sink;
}

std::shared_ptr<ingest::RequestLimiter> RequestLimiters::for_target(const TargetConfig& target) {
  auto& limiter = by_cluster_[target.connection.engine_url()];
  if (!limiter) {
    limiter = std::make_shared<ingest::RequestLimiter>(
        ingest::RequestLimiter::Options{.max = target.max_concurrent_requests}, clock_);
  } else {
    limiter->cap(target.max_concurrent_requests);
  }
  return limiter;
}

void RequestLimiters::describe(MetricsSink& out) const {
  for (const auto& [cluster, limiter] : by_cluster_) {
    limiter->describe(out, {{"cluster", cluster}});
  }
}

std::string report_scope(const ConnectionConfig& c, const std::string& hub_namespace,
                         const std::string& hub) {
  const std::string identity =
      fmt::format("{}\n{}\n{}\n{}\n{}", c.name, text::lower(hub_namespace), text::lower(hub),
                  text::lower(c.source.consumer_group.value()), c.target.database.value());
  std::string scope = "hub2kusto-";
  for (const unsigned char byte :
       crypto::hmac_sha256("hub2kusto report scope", identity).substr(0, 16)) {
    scope += fmt::format("{:02x}", byte);
  }
  return scope;
}

std::string deduplication_scope(const std::string& hub_namespace, const std::string& hub) {
  return text::lower(hub_namespace) + "/" + text::lower(hub);
}

std::size_t record_queued_failures(ingest::QueuedIngestor& queued,
                                   pipeline::DeadLetterStore& dead_letters,
                                   pipeline::DeadLetterCounts& counts,
                                   const std::string& connection) {
  auto failures = queued.poll_failures();
  if (!failures) {
    logger("app")->debug("connection '{}': failed queued ingestions not read: {}", connection,
                         failures.error().message);
    return 0;
  }
  std::vector<pipeline::DeadLetter> records;
  for (const auto& f : *failures) {
    // A request that joined several partitions' batches failed for all of them: one record each.
    const std::vector<std::string> ids =
        f.parts.empty() ? std::vector<std::string>{f.batch_id} : f.parts;
    for (const auto& id : ids) {
      const auto batch = ingest::BatchId::parse(id);
      pipeline::DeadLetter d;
      d.stage = "queued-ingestion";
      d.error_code = f.error_code;
      d.reason = fmt::format(
          "{}{}: {} (blob {}){}", f.error_code, f.permanent ? "" : " (transient)", f.details,
          f.blob,
          batch ? fmt::format("; events {} to {}", batch->first.value(), batch->last.value()) : "");
      if (batch) {
        d.partition = batch->partition;
        d.sequence_number = batch->first;
      }
      d.database = f.database;
      d.table = f.table;
      d.batch_id = id;
      records.push_back(std::move(d));
    }
  }
  if (records.empty()) {
    return 0;
  }
  auto written = dead_letters.write(records);
  for (const auto& r : records) {
    const LogFields fields{{"connection", connection},
                           {"partition", r.partition.value()},
                           {"batch_id", r.batch_id},
                           {"table", r.table},
                           {"error_code", r.error_code}};
    logger("app")->error("connection '{}': queued batch {} failed in Kusto after it was accepted: "
                         "{}{}",
                         connection, r.batch_id, r.reason,
                         written ? "; recorded in the dead-letter store" : "");
  }
  if (!written) {
    logger("app")->error("connection '{}': the dead-letter store refused the failed batches: {}; "
                         "they are read again next time",
                         connection, written.error().message);
    return 0;
  }
  queued.acknowledge(*failures);
  counts.add(records);
  return records.size();
}

std::string namespace_of(const HubConnectionString& c) {
  if (const auto* eh = std::get_if<EventHubsConnectionString>(&c)) {
    return eh->host;
  }
  return std::get<IotHubConnectionString>(c).host;
}

} // namespace hub2kusto::app
