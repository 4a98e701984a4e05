#pragma once
// Managed ingestion: streaming first, queued when streaming cannot or will not take the batch
// (the SDKs disagree on the details; docs/protocols.md, "Streaming with fallback"):
//
//   raw batch > streaming_limit (4 MB)               -> queued
//   table remembered as "no streaming" (still fresh) -> queued
//   streaming attempt:
//     delivered                                      -> delivered (streaming)
//     streaming impossible (policy off, disabled)    -> queued; remember the table for
//                                                       impossible_memory (15 min)
//     too large (413, Stream_InputStreamTooLarge)    -> this batch queued; for the table, batches
//                                                       at least as large go queued for
//                                                       impossible_memory, smaller ones stream
//     throttled (429)                                -> the cluster's RequestLimiter halves
//                                                       the requests it runs at once; wait
//                                                       Retry-After (or the backoff) and try
//                                                       again. At one request at a time
//                                                       already: also remember the table for
//                                                       throttle_memory (10 s), as the SDKs do
//     other transient (5xx, no answer)               -> wait the backoff and try again
//     after max_attempts transient failures          -> queued
//     credentials refused (401/403)                  -> retriable, no fallback: queued would be
//                                                       refused too, and the data is fine
//     rejected (bad data, missing mapping or table)  -> rejected with the service's reason
//
// Every streaming request takes a turn of the cluster's RequestLimiter first, so however many
// partitions deliver at once the cluster sees at most its limit. Waits go through an injected
// Sleeper on the injected clock, so tests see every wait.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/metrics.hpp"
#include "common/random.hpp"
#include "ingest/ingestor.hpp"
#include "ingest/queued_ingestor.hpp"
#include "ingest/request_limiter.hpp"
#include "ingest/streaming_ingestor.hpp"

namespace hub2kusto::ingest {

struct ManagedOptions {
  std::size_t streaming_limit = 4U << 20;         // raw (uncompressed) bytes
  int max_attempts = 3;                           // streaming attempts against transient failures
  std::chrono::milliseconds first_backoff{1'000}; // then doubled, with jitter (x0.5-1.0)
  std::chrono::milliseconds max_backoff{30'000};  // ... up to this, however many attempts
  std::chrono::milliseconds impossible_memory{15 * 60 * 1'000};
  std::chrono::milliseconds throttle_memory{10'000};
};

// Why a batch went queued instead of streaming: its size (over the streaming limit, or refused
// as too large by the service), the table's or database's streaming policy, a cluster that
// throttled even one request at a time, or streaming attempts that kept failing.
enum class FallbackReason { size, policy, throttling, transient };
inline constexpr std::size_t kFallbackReasons = 4;

struct IngestMetrics {
  std::atomic<std::uint64_t> streaming_delivered{0};
  std::atomic<std::uint64_t> queued_delivered{0};
  std::atomic<std::uint64_t> rejected{0};
  std::atomic<std::uint64_t> retriable{0};
  // Batches sent queued instead of streaming, by FallbackReason: at once or after trying.
  std::array<std::atomic<std::uint64_t>, kFallbackReasons> fallbacks{};
  std::atomic<std::uint64_t> skipped_streaming{0}; // of those, sent queued without trying
  std::atomic<std::uint64_t> streaming_attempts{0};
  // How long each request took (seconds), by path (streaming, queued) and by how it ended:
  // delivered, rejected as bad data, throttled, or failed otherwise (retriable).
  enum class RequestEnd { delivered, rejected, throttled, failed };
  std::array<std::array<Histogram, 4>, 2> request_seconds;
  std::uint64_t fallbacks_for(FallbackReason why) const {
    return fallbacks[static_cast<std::size_t>(why)].load(std::memory_order_relaxed);
  }
  void count_fallback(FallbackReason why) {
    fallbacks[static_cast<std::size_t>(why)].fetch_add(1, std::memory_order_relaxed);
  }
  void time_request(IngestPath path, RequestEnd end, std::chrono::steady_clock::duration took) {
    request_seconds[path == IngestPath::queued ? 1 : 0][static_cast<std::size_t>(end)].observe(
        std::chrono::duration<double>(took).count());
  }

  // Every counter above as a series with `labels` (the connection).
  void describe(MetricsSink& out, const MetricLabels& labels) const;
};

class ManagedIngestor final : public Ingestor {
public:
  ManagedIngestor(ManagedOptions options, StreamingIngestor& streaming, Ingestor& queued,
                  RequestLimiter& limiter, const Clock& clock, RandomSource& random,
                  Sleeper& sleeper)
      : options_(options), streaming_(streaming), queued_(queued), limiter_(limiter), clock_(clock),
        random_(random), sleeper_(sleeper) {}

  DeliveryStatus ingest(const Batch& batch) override;
  const IngestMetrics& metrics() const { return metrics_; }

private:
  DeliveryStatus queued(const Batch& batch, FallbackReason why, bool tried_streaming);
  // Why the table's batches of this size go queued without trying streaming, if they do.
  std::optional<FallbackReason> streaming_skipped(const std::string& table_key, std::size_t bytes);
  void remember(const std::string& table_key, std::chrono::milliseconds for_how_long,
                FallbackReason why);
  void remember_too_large(const std::string& table_key, std::size_t bytes);

  ManagedOptions options_;
  StreamingIngestor& streaming_;
  Ingestor& queued_;
  RequestLimiter& limiter_;
  const Clock& clock_;
  RandomSource& random_;
  Sleeper& sleeper_;
  IngestMetrics metrics_;
  std::mutex mutex_;
  struct NoStreaming {
    std::chrono::steady_clock::time_point until;
    FallbackReason why;
  };
  std::map<std::string, NoStreaming> no_streaming_;
  struct SizeCeiling {
    std::size_t bytes; // batches of this size or more go queued
    std::chrono::steady_clock::time_point until;
  };
  std::map<std::string, SizeCeiling> too_large_;
};

} // namespace hub2kusto::ingest
