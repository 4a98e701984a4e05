#pragma once
// The hub stage's counters, declared in one place (docs/architecture.md, "Metrics and logs").
// Written on the AMQP thread, read from any thread (the ops endpoint). Log levels used by the
// stage:
//   ERROR  a partition stopped for good (refused token, non-retriable condition, undecodable
//          event): operator action needed;
//   WARN   a lost connection or a detached link that is being recovered, a stolen partition;
//   INFO   connected, redirected, partition attached;
//   DEBUG  token renewals, credit grants; per-event logging is TRACE only.
#include <atomic>
#include <cstdint>

#include "common/metrics.hpp"

namespace hub2kusto::hub {

struct HubMetrics {
  std::atomic<std::uint64_t> events_received{0};     // events handed to partition buffers
  std::atomic<std::uint64_t> bytes_received{0};      // their body bytes
  std::atomic<std::uint64_t> connections_opened{0};  // AMQP connections opened (and authorised)
  std::atomic<std::uint64_t> connections_lost{0};    // transport losses recovered by reconnecting
  std::atomic<std::uint64_t> reattaches{0};          // partition links re-attached after a detach
  std::atomic<std::uint64_t> token_renewals{0};      // CBS put-token renewals accepted
  std::atomic<std::uint64_t> partitions_stolen{0};   // amqp:link:stolen
  std::atomic<std::uint64_t> partitions_failed{0};   // non-retriable conditions
  std::atomic<std::uint64_t> credit_grants{0};       // flow frames sent for credit
  std::atomic<std::uint64_t> management_requests{0}; // $management READs sent
  std::atomic<std::uint64_t> redirects{0};           // IoT Hub redirects followed
  // IoT Hub: the redirect asked for again because its endpoint failed (a failover)
  std::atomic<std::uint64_t> redirects_refreshed{0};

  // Every counter above as a hub2kusto_hub_* series with `labels` (the connection).
  void describe(MetricsSink& out, const MetricLabels& labels) const;
};

class PartitionStream;
// A partition stream's buffer and credit as gauges with `labels` (connection and partition).
void describe_stream(const PartitionStream& stream, MetricsSink& out, const MetricLabels& labels);

} // namespace hub2kusto::hub
