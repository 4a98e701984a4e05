#include "pipeline/partition_pipeline.hpp"

namespace hub2kusto::pipeline {

void PipelineMetrics::describe(MetricsSink& out, const MetricLabels& labels) const {
  const auto relaxed = std::memory_order_relaxed;
  out.counter("hub2kusto_events_received_total", "Events taken from the partition.", labels,
              events_received.load(relaxed));
  out.counter("hub2kusto_events_ingested_total", "Events in batches Kusto accepted.", labels,
              events_ingested.load(relaxed));
  events_dead_lettered.describe(
      out, labels, "hub2kusto_events_dead_lettered_total",
      "Events written to the dead-letter store with their reason, by stage (decode, "
      "decompression, routing, mapping, ingest) and the service's error code (stage ingest).");
  out.counter("hub2kusto_batches_delivered_total",
              "The partition's batches Kusto accepted, in a request of their own or shared "
              "with other partitions' batches.",
              labels, batches_delivered.load(relaxed));
  out.counter("hub2kusto_batches_rejected_total",
              "Ingest requests Kusto rejected as bad data (then split to find the bad events).",
              labels, batches_rejected.load(relaxed));
  out.counter("hub2kusto_batch_retries_total",
              "Ingest attempts that failed retriably and were tried again.", labels,
              batch_retries.load(relaxed));
  out.counter("hub2kusto_checkpoint_failures_total", "Checkpoint saves that failed.", labels,
              checkpoint_failures.load(relaxed));
  out.counter("hub2kusto_target_problem_retries_total",
              "Delivery attempts the Kusto target refused for a reason of its own (a missing "
              "table, database or mapping, refused credentials): the partition holds.",
              labels, target_problem_retries.load(relaxed));
  out.counter("hub2kusto_mapping_values_nulled_total",
              "Values the local mapping could not convert to their column's type (ingested "
              "as null, as Kusto does).",
              labels, values_nulled.load(relaxed));
  out.gauge("hub2kusto_in_flight_bytes",
            "Bytes taken from the hub and not yet delivered: open batches and batches being "
            "delivered.",
            labels, static_cast<double>(in_flight_bytes.load(relaxed)));
  out.gauge("hub2kusto_delivering_bytes",
            "Bytes of batches handed to delivery: in flight to Kusto or held for a retry.", labels,
            static_cast<double>(delivering_bytes.load(relaxed)));
  if (const std::int64_t stored = checkpoint_sequence_number.load(relaxed); stored >= 0) {
    out.gauge("hub2kusto_checkpoint_sequence_number", "Sequence number of the stored checkpoint.",
              labels, static_cast<double>(stored));
  }
}

} // namespace hub2kusto::pipeline
