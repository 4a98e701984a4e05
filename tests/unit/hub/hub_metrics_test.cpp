#include "hub/hub_metrics.hpp"

#include <set>

#include <gtest/gtest.h>

#include "support/recording_metrics.hpp"

namespace hub2kusto::hub {
namespace {

// Every counter the hub stage keeps reaches /metrics, each under its own name.
TEST(HubMetrics, EveryCounterIsDescribedWithItsLabels) {
  HubMetrics m;
  m.events_received = 1;
  m.bytes_received = 2;
  m.connections_opened = 3;
  m.connections_lost = 4;
  m.reattaches = 5;
  m.token_renewals = 6;
  m.partitions_stolen = 7;
  m.partitions_failed = 8;
  m.credit_grants = 9;
  m.management_requests = 10;
  m.redirects = 11;
  m.redirects_refreshed = 12;
  fakes::RecordingMetrics out;
  m.describe(out, {{"connection", "c"}});
  std::set<double> values;
  for (const auto& [name, value] : out.samples) {
    EXPECT_NE(name.find("{connection=c}"), std::string::npos) << name;
    values.insert(value);
  }
  EXPECT_EQ(values, (std::set<double>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}));
  EXPECT_EQ(out.samples.size(), 12U);
  EXPECT_TRUE(out.every_help_given);
  EXPECT_EQ(out.samples["hub2kusto_hub_events_received_total{connection=c}"], 1);
  EXPECT_EQ(out.samples["hub2kusto_hub_management_requests_total{connection=c}"], 10);
}

} // namespace
} // namespace hub2kusto::hub
