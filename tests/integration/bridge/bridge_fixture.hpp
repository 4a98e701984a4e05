#pragma once
// What the end-to-end tests of hub2kusto share: the Bridge fixture (a scratch directory, the
// environment that points hub2kusto at the emulators), HTTP and Prometheus helpers. Each test
// runs hub2kusto as an operator runs it, on loopback: eventhubs-emulator -> hub2kusto ->
// kusto-emulator (Azurite behind it). Waits are for conditions with deadlines.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "shared/free_port.hpp"
#include "support/child_process.hpp"
#include "support/eventhubs_emulator.hpp"
#include "support/eventually.hpp"
#include "support/http.hpp"
#include "support/kusto_emulator.hpp"
#include "support/temp_dir.hpp"

namespace hub2kusto::bridge_test {

using namespace std::chrono_literals;

// The hub2kusto the tests run: the one this build made, or the one TEST_HUB2KUSTO_BINARY names
// (scripts/test runs these tests against its ThreadSanitizer build of hub2kusto that way, with
// the emulators of the plain build around it).
inline std::string hub2kusto_binary() {
  return testing::built_or_named("TEST_HUB2KUSTO_BINARY", HUB2KUSTO_BUILT_BINARY);
}
#define HUB2KUSTO_BINARY ::hub2kusto::bridge_test::hub2kusto_binary()
using testing::ChildProcess;
using testing::EventHubsEmulator;
using testing::KustoEmulator;

// Other processes, at their pace.
inline bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 60s) {
  return testing::eventually(done, limit, 50ms);
}

// GET http://127.0.0.1:<port><path> -> {status, body}; status 0 when nothing answered.
inline std::pair<int, std::string> http_get(int port, const std::string& path) {
  return testing::http_request("http://127.0.0.1:" + std::to_string(port), "GET", path, "", {},
                               10s);
}

// The value of one Prometheus sample line `name{labels} value`, summed over every line whose
// name and labels start with `prefix`; -1 when there is none.
inline double metric_sum(const std::string& exposition, const std::string& prefix) {
  double sum = -1;
  std::istringstream in(exposition);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0 && line[0] != '#') {
      sum = (sum < 0 ? 0 : sum) + std::stod(line.substr(line.rfind(' ') + 1));
    }
  }
  return sum;
}

// The JSON lines of a file (a dead-letter file), parsed.
inline std::vector<nlohmann::json> json_lines(const std::filesystem::path& file) {
  std::vector<nlohmann::json> out;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

// Regular files below `dir` (none when it does not exist).
inline std::size_t files_below(const std::filesystem::path& dir) {
  std::size_t n = 0;
  if (std::filesystem::exists(dir)) {
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
      n += e.is_regular_file() ? 1 : 0;
    }
  }
  return n;
}

// Each regular file below `dir` with what it holds, for a failure message.
inline std::string files_and_contents(const std::filesystem::path& dir) {
  std::string out;
  if (std::filesystem::exists(dir)) {
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
      if (e.is_regular_file()) {
        std::ifstream in(e.path());
        out += e.path().string() + ": " +
               std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()) +
               "\n";
      }
    }
  }
  return out;
}

// A command of hub2kusto that ends by itself (check-config, replay): what it printed and how it
// exited.
struct CommandRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};
inline CommandRun run_command(const std::vector<std::string>& argv,
                              const std::vector<std::pair<std::string, std::string>>& env,
                              std::chrono::seconds limit = 120s) {
  ChildProcess p(argv, env);
  CommandRun r;
  while (const auto line = p.read_line(limit)) {
    r.out += *line + "\n";
  }
  r.exit_code = p.wait_exit(10s);
  r.err = p.stderr_text();
  return r;
}

// One line of the tests' telemetry: {"deviceId":"dev-<device>","temperature":21.5,
// "humidity":40,"line":<line>...}, `more` being further members (with their leading comma).
// Rows per `line` value: {distinct lines, total rows}.
inline std::pair<long long, long long> lines_and_rows(KustoEmulator& kusto) {
  // 100,000 groups take a while under the sanitizers: a generous timeout.
  const auto r = kusto.query("T | summarize count() by line", "", std::chrono::seconds(600));
  long long groups = 0;
  long long rows = 0;
  try {
    for (const auto& row : r.at("Tables").at(0).at("Rows")) {
      ++groups;
      rows += row.at(1).get<long long>();
    }
  } catch (const std::exception&) {
    return {-1, -1};
  }
  return {groups, rows};
}

inline std::string telemetry_line(int line, int device, const std::string& more = "") {
  return R"({"deviceId":"dev-)" + std::to_string(device) +
         R"(","temperature":21.5,"humidity":40,"line":)" + std::to_string(line) + more + "}";
}

// The two services a bridge test runs hub2kusto between: the Event Hubs emulator with
// `hub_args` (--hub, --preload ...), and the Kusto emulator with `kusto_args`, with Azurite
// behind it for queued ingestion when `queued`. Bridge::start checks that both run.
struct Services {
  explicit Services(const std::vector<std::string>& hub_args,
                    const std::vector<std::string>& kusto_args = {}, bool queued = true)
      : hub(hub_args), kusto(kusto_args, queued) {}
  EventHubsEmulator hub;
  KustoEmulator kusto;
};

class Bridge : public ::testing::Test {
protected:
  void SetUp() override {
    std::ofstream lines(dir_ / "events.jsonl");
    for (int i = 0; i < 50; ++i) {
      lines << telemetry_line(i, i) << "\n";
    }
  }

  // A preload file of `count` telemetry lines with distinct `line` values (lines_and_rows()
  // then counts what arrived and what arrived twice).
  std::string distinct_events(int count) {
    const auto file = dir_ / "distinct.jsonl";
    std::ofstream lines(file);
    for (int i = 0; i < count; ++i) {
      lines << telemetry_line(i, i % 100) << "\n";
    }
    return file.string();
  }

  // SIGTERM, as an orchestrator stops it: hub2kusto delivers what it took and exits 0.
  static void stop(ChildProcess& bridge, std::chrono::seconds limit = 30s) {
    ::kill(bridge.pid(), SIGTERM);
    EXPECT_EQ(bridge.wait_exit(limit), 0) << bridge.stderr_text();
  }

  void create_table(KustoEmulator& kusto) {
    ASSERT_FALSE(kusto
                     .mgmt(".create table T (deviceId:string, temperature:real, humidity:long, "
                           "line:long)")
                     .contains("error"));
    ASSERT_FALSE(
        kusto
            .mgmt(
                R"(.create table T ingestion json mapping 'm' '[{"column":"deviceId","Properties":{"Path":"$.deviceId"}},{"column":"temperature","Properties":{"Path":"$.temperature"}},{"column":"humidity","Properties":{"Path":"$.humidity"}},{"column":"line","Properties":{"Path":"$.line"}}]')")
            .contains("error"));
    ASSERT_FALSE(kusto.mgmt(".alter table T policy streamingingestion enable").contains("error"));
  }

  // Fails the test when a service did not start; then creates the tests' table T (mapping m,
  // streaming on) unless told not to.
  void start(Services& services, bool table = true) {
    ASSERT_TRUE(services.hub.running()) << services.hub.stderr_text();
    ASSERT_TRUE(services.kusto.running()) << services.kusto.stderr_text();
    if (table) {
      create_table(services.kusto);
    }
  }

  std::vector<std::pair<std::string, std::string>>
  environment(const EventHubsEmulator& hub, const KustoEmulator& kusto,
              const std::string& key = "SAS_KEY_VALUE") {
    return environment(hub, kusto.url(), key);
  }
  std::vector<std::pair<std::string, std::string>>
  environment(const EventHubsEmulator& hub, const std::string& kusto_url,
              const std::string& key = "SAS_KEY_VALUE") {
    // Picked here, just before hub2kusto starts, not in SetUp: the emulators and Azurite a test
    // starts in between bind ports of their own, and one of them took a port picked earlier.
    ops_port_ = emulators::free_port("127.0.0.1");
    return {{"HUB2KUSTO_CONNECTIONS_0_NAME", "telemetry"},
            {"HUB2KUSTO_CONNECTIONS_0_SOURCE_CONNECTION_STRING",
             hub.connection_string("telemetry", key)},
            {"HUB2KUSTO_CONNECTIONS_0_TARGET_CONNECTION_STRING",
             "Data Source=" + kusto_url + ";Initial Catalog=db"},
            {"HUB2KUSTO_CONNECTIONS_0_TARGET_TABLE", "T"},
            {"HUB2KUSTO_CONNECTIONS_0_TARGET_MAPPING", "m"},
            {"HUB2KUSTO_CONNECTIONS_0_BATCHING_LINGER", "200ms"},
            {"HUB2KUSTO_CHECKPOINT_DIRECTORY", (dir_ / "checkpoints").string()},
            {"HUB2KUSTO_DEAD_LETTER_DIRECTORY", (dir_ / "dead-letter").string()},
            {"HUB2KUSTO_SHUTDOWN_DRAIN_DEADLINE", "20s"},
            {"HUB2KUSTO_OPS_ADDRESS", "127.0.0.1"},
            {"HUB2KUSTO_OPS_PORT", std::to_string(ops_port_)},
            {"HUB2KUSTO_OPS_REFRESH_INTERVAL", "300ms"}};
  }

  testing::TempDir dir_{"hub2kusto-bridge"};
  // The checkpoint files hub2kusto saved, in the store's layout <namespace>/<hub>/<group>/...:
  // the directory itself also sees the start-up checks' write probe come and go.
  std::size_t saved_checkpoints() const { return files_below(dir_ / "checkpoints" / "127.0.0.1"); }

  int ops_port_ = 0;
};

} // namespace hub2kusto::bridge_test
