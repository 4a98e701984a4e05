// What an on-call engineer reads: the time series (latency histograms, lag in seconds) checked
// against what the test knows, and liveness that fails for a stuck thread, never for a service
// that is down.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "bridge/bridge_fixture.hpp"

namespace hub2kusto::bridge_test {
namespace {

using namespace std::chrono_literals;

double seconds_since(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::system_clock::now() - t).count();
}

// `promtool check metrics` on the exposition: its exit code and what it said.
CommandRun promtool_check(const std::filesystem::path& dir, const std::string& exposition) {
  const auto file = dir / "exposition.txt";
  std::ofstream(file) << exposition;
  return run_command({"sh", "-c", "promtool check metrics < '" + file.string() + "' 2>&1"}, {});
}

// The series names in the README's metrics table (`hub2kusto_...` and `process_...`).
std::set<std::string> readme_series() {
  std::ifstream in(HUB2KUSTO_SOURCE_DIR "/README.md");
  const std::string readme((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto start = readme.find("| question | series |");
  const std::string table = readme.substr(start, readme.find("\n\n", start) - start);
  std::set<std::string> names;
  const std::regex name("`((hub2kusto|process)_[a-z_]+)");
  for (auto it = std::sregex_iterator(table.begin(), table.end(), name);
       it != std::sregex_iterator(); ++it) {
    names.insert((*it)[1]);
  }
  return names;
}

// The families an exposition declares (its `# TYPE` lines).
std::set<std::string> families(const std::string& exposition) {
  std::set<std::string> names;
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("# TYPE ", 0) == 0) {
      names.insert(line.substr(7, line.find(' ', 7) - 7));
    }
  }
  return names;
}

// Events enqueued at known times (preloaded while the hub started) and a Kusto that answers
// every request 300 ms late: each event's end-to-end latency is at least that, and at most the
// time since the hub started; each streaming request took at least that. Then Kusto goes
// away: the checkpoint is as many seconds behind as its event is old, and the process stays
// alive (a restart would not bring Kusto back) but not ready.
TEST_F(Bridge, LatencyHistogramsAndLagInSecondsMatchWhatTheTestKnows) {
  constexpr int kEvents = 400;
  const auto preload = distinct_events(kEvents);
  const auto before_hub = std::chrono::system_clock::now();
  Services services(
      {"--hub", "telemetry:2", "--preload", preload, "--preload-events", std::to_string(kEvents)});
  ASSERT_NO_FATAL_FAILURE(start(services));
  const auto hub_started = std::chrono::system_clock::now();
  ASSERT_TRUE(services.kusto.fault("/faults/latency?ms=300"));
  auto env = environment(services.hub, services.kusto);
  env.emplace_back("HUB2KUSTO_OPS_STUCK_AFTER", "2s"); // tight: the outage below must not trip it
  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, env);
  ASSERT_TRUE(eventually([&] { return services.kusto.count("T") == kEvents; }, 120s))
      << bridge.stderr_text();

  const auto metrics = [&] { return http_get(ops_port_, "/metrics").second; };
  std::string m;
  auto before_scrape = std::chrono::system_clock::now();
  // Caught up once both partitions stored their last event's checkpoint.
  ASSERT_TRUE(eventually([&] {
    before_scrape = std::chrono::system_clock::now();
    m = metrics();
    return metric_sum(m, "hub2kusto_partition_lag_events{") == 0 &&
           metric_sum(m, "hub2kusto_partition_lag_seconds{") == 0;
  })) << m;
  const std::string conn = "{connection=\"telemetry\"";

  EXPECT_EQ(metric_sum(m, "hub2kusto_end_to_end_latency_seconds_count" + conn + "}"), kEvents);
  // None under 300 ms; the sum between 0.3 s and the time since the hub started, per event.
  EXPECT_EQ(metric_sum(m, "hub2kusto_end_to_end_latency_seconds_bucket" + conn + ",le=\"0.25\"}"),
            0)
      << m;
  const double latency_sum = metric_sum(m, "hub2kusto_end_to_end_latency_seconds_sum" + conn + "}");
  EXPECT_GE(latency_sum, 0.3 * kEvents);
  EXPECT_LE(latency_sum, seconds_since(before_hub) * kEvents);
  // Streaming requests: each took at least the injected 300 ms.
  const auto series = [&](const std::string& kind, const std::string& more = "") {
    return metric_sum(m, "hub2kusto_ingest_request_duration_seconds_" + kind + conn +
                             ",path=\"streaming\",outcome=\"delivered\"" + more + "}");
  };
  const double requests = series("count");
  EXPECT_GE(requests, 1) << m;
  EXPECT_EQ(series("bucket", ",le=\"0.25\""), 0) << m;
  EXPECT_EQ(series("bucket", ",le=\"+Inf\""), requests);
  EXPECT_GE(series("sum"), 0.3 * requests);
  // Every event went in exactly one first request.
  EXPECT_EQ(metric_sum(m, "hub2kusto_delivery_request_events_sum" + conn + "}"), kEvents);
  EXPECT_EQ(metric_sum(m, "hub2kusto_delivery_request_events_count" + conn + "}"),
            metric_sum(m, "hub2kusto_delivery_requests_total" + conn + "}"));
  EXPECT_GT(metric_sum(m, "hub2kusto_delivery_request_bytes_sum" + conn + "}"), 50.0 * kEvents);
  // Each partition's newest event is as old as the time since the hub enqueued it (two
  // partitions; the scrape came between `before` and now).
  const auto within = [](double value, double low, double high) {
    return value >= low - 0.1 && value <= high + 0.1;
  };
  const auto between = [](auto from, auto to) {
    return std::chrono::duration<double>(to - from).count();
  };
  const double age = metric_sum(m, "hub2kusto_partition_last_enqueued_age_seconds{");
  EXPECT_TRUE(within(age, 2 * between(hub_started, before_scrape), 2 * seconds_since(before_hub)))
      << age << "\n"
      << m;

  const auto checked = promtool_check(dir_.path(), m);
  EXPECT_EQ(checked.exit_code, 0) << checked.out;
  // The README's metrics table lists every family served (the alert rules and the dashboard
  // read only what it lists: tests/deploy/monitoring.test.js).
  const auto listed = readme_series();
  for (const auto& family : families(m)) {
    EXPECT_TRUE(listed.contains(family)) << family << " is served but not in the README's table";
  }

  // Kusto goes away; new events wait behind the last checkpoint, whose event was enqueued
  // while the hub started.
  ASSERT_TRUE(services.kusto.fault("/faults/unavailable?seconds=600"));
  ChildProcess producer({"node", HUB2KUSTO_SOURCE_DIR "/tests/integration/bridge/telemetry.js",
                         "produce", services.hub.connection_string(), "20", "2"});
  ASSERT_EQ(producer.wait_exit(120s), 0) << producer.stderr_text();
  double lag = 0;
  ASSERT_TRUE(eventually(
      [&] {
        before_scrape = std::chrono::system_clock::now();
        m = metrics();
        lag = metric_sum(m, "hub2kusto_partition_lag_seconds{");
        return metric_sum(m, "hub2kusto_partition_lag_events{") == 20;
      },
      60s))
      << m;
  // Two partitions, each behind by the age of its checkpoint's event, enqueued while the hub
  // started.
  EXPECT_TRUE(within(lag, 2 * between(hub_started, before_scrape), 2 * seconds_since(before_hub)))
      << lag << "\n"
      << m;
  // Down for more than ops.stuck_after: alive, not ready, and saying why.
  EXPECT_TRUE(eventually([&] { return http_get(ops_port_, "/readyz").first == 503; }));
  EXPECT_EQ(http_get(ops_port_, "/healthz").first, 200) << http_get(ops_port_, "/healthz").second;
  EXPECT_EQ(metric_sum(m, "hub2kusto_threads_stuck "), 0);
  ::kill(bridge.pid(), SIGKILL);
}

// A worker stuck in a system call that does not return (a checkpoint file that cannot be opened
// because something else holds it: here a FIFO nobody reads): /healthz fails and names the
// thread, while the data path is otherwise fine.
TEST_F(Bridge, AWorkerStuckInASystemCallFailsLiveness) {
  Services services(
      {"--hub", "telemetry:2", "--preload", distinct_events(100), "--preload-events", "100"});
  ASSERT_NO_FATAL_FAILURE(start(services));
  const auto checkpoints =
      dir_.path() / "checkpoints" / "127.0.0.1" / "telemetry" / "$default" / "checkpoint";
  std::filesystem::create_directories(checkpoints);
  for (const char* partition : {"0", "1"}) {
    ASSERT_EQ(::mkfifo((checkpoints / (std::string(partition) + ".tmp")).c_str(), 0600), 0);
  }
  auto env = environment(services.hub, services.kusto);
  env.emplace_back("HUB2KUSTO_OPS_STUCK_AFTER", "2s");
  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, env);
  ASSERT_TRUE(eventually([&] { return services.kusto.count("T") == 100; }, 120s))
      << bridge.stderr_text();
  std::pair<int, std::string> health;
  ASSERT_TRUE(eventually([&] {
    health = http_get(ops_port_, "/healthz");
    return health.first == 503;
  })) << health.second;
  EXPECT_NE(health.second.find("thread 'h2k-worker"), std::string::npos) << health.second;
  EXPECT_NE(health.second.find("without progress"), std::string::npos) << health.second;
  EXPECT_GE(metric_sum(http_get(ops_port_, "/metrics").second, "hub2kusto_threads_stuck "), 1);
  ::kill(bridge.pid(), SIGKILL); // the stuck thread would hold a graceful stop
}

} // namespace
} // namespace hub2kusto::bridge_test
