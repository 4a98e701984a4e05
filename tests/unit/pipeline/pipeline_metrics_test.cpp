#include <set>

#include <gtest/gtest.h>

#include "pipeline/partition_pipeline.hpp"
#include "support/recording_metrics.hpp"

namespace hub2kusto::pipeline {
namespace {

TEST(PipelineMetrics, EveryFieldIsDescribedAndTheCheckpointOnlyOnceStored) {
  PipelineMetrics m;
  fakes::RecordingMetrics before;
  m.describe(before, {{"partition", "0"}});
  EXPECT_EQ(before.samples.count("hub2kusto_checkpoint_sequence_number{partition=0}"), 0U);

  m.events_received = 1;
  m.events_ingested = 2;
  DeadLetter rejected;
  rejected.stage = "ingest";
  rejected.error_code = "BadRequest_NoRecordsOrWrongFormat";
  m.events_dead_lettered.add({rejected, rejected, rejected});
  m.batches_delivered = 4;
  m.batches_rejected = 5;
  m.batch_retries = 6;
  m.checkpoint_failures = 7;
  m.target_problem_retries = 8;
  m.values_nulled = 9;
  m.checkpoint_sequence_number = 10;
  m.in_flight_bytes = 11;
  m.delivering_bytes = 12;
  fakes::RecordingMetrics out;
  m.describe(out, {{"partition", "0"}});
  std::set<double> values;
  for (const auto& [name, value] : out.samples) {
    values.insert(value);
  }
  EXPECT_EQ(values, (std::set<double>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}));
  EXPECT_EQ(out.samples.size(), 12U);
  EXPECT_EQ(out.samples["hub2kusto_events_dead_lettered_total{partition=0,stage=ingest,error_code="
                        "BadRequest_NoRecordsOrWrongFormat}"],
            3);
  EXPECT_TRUE(out.every_help_given);
}

} // namespace
} // namespace hub2kusto::pipeline
