#include "hub/hub_metrics.hpp"

#include "hub/event_source.hpp"

namespace hub2kusto::hub {

void HubMetrics::describe(MetricsSink& out, const MetricLabels& labels) const {
  const auto relaxed = std::memory_order_relaxed;
  out.counter("hub2kusto_hub_events_received_total",
              "Events received from the hub and handed to partition buffers.", labels,
              events_received.load(relaxed));
  out.counter("hub2kusto_hub_bytes_received_total", "Event body bytes received.", labels,
              bytes_received.load(relaxed));
  out.counter("hub2kusto_hub_connections_opened_total", "AMQP connections opened and authorised.",
              labels, connections_opened.load(relaxed));
  out.counter("hub2kusto_hub_connections_lost_total",
              "AMQP connections lost and recovered by reconnecting.", labels,
              connections_lost.load(relaxed));
  out.counter("hub2kusto_hub_reattaches_total", "Partition links re-attached after a detach.",
              labels, reattaches.load(relaxed));
  out.counter("hub2kusto_hub_token_renewals_total", "CBS token renewals accepted.", labels,
              token_renewals.load(relaxed));
  out.counter("hub2kusto_hub_partitions_stolen_total",
              "Partitions taken by a receiver with a higher epoch.", labels,
              partitions_stolen.load(relaxed));
  out.counter("hub2kusto_hub_partitions_failed_total",
              "Partitions stopped by a non-retriable condition.", labels,
              partitions_failed.load(relaxed));
  out.counter("hub2kusto_hub_credit_grants_total", "AMQP flow frames sent to grant credit.", labels,
              credit_grants.load(relaxed));
  out.counter("hub2kusto_hub_management_requests_total",
              "Requests sent to the hub's management node (hub and partition properties).", labels,
              management_requests.load(relaxed));
  out.counter("hub2kusto_hub_redirects_total", "IoT Hub link redirects followed.", labels,
              redirects.load(relaxed));
  out.counter("hub2kusto_hub_redirects_refreshed_total",
              "IoT Hub redirects asked for again because the endpoint failed (a failover).", labels,
              redirects_refreshed.load(relaxed));
}

void describe_stream(const PartitionStream& stream, MetricsSink& out, const MetricLabels& labels) {
  const auto credit = stream.credit();
  out.gauge("hub2kusto_buffered_events", "Events received and not yet taken by the pipeline.",
            labels, static_cast<double>(credit.buffered));
  out.gauge("hub2kusto_buffered_bytes",
            "Bytes of events received and not yet taken by the pipeline.", labels,
            static_cast<double>(credit.buffered_bytes));
  out.gauge("hub2kusto_link_credit", "AMQP credit granted and not yet used.", labels,
            static_cast<double>(credit.credit));
  out.gauge("hub2kusto_partition_receiving",
            "1 when the partition's receiver is attached and receiving.", labels,
            stream.status().state == PartitionState::receiving ? 1 : 0);
}

} // namespace hub2kusto::hub
