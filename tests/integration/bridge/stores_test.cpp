// The dead-letter and checkpoint stores as an operator meets them: one that cannot be written
// stops the start with the reason; one that fails while running holds the data, says so on
// /readyz, and lets go once it takes writes again.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bridge/bridge_fixture.hpp"

namespace hub2kusto::bridge_test {
namespace {

using namespace std::chrono_literals;

TEST_F(Bridge, AnUnusableDeadLetterDirectoryStopsTheStartWithTheReason) {
  Services services({"--hub", "telemetry:1"}, {}, false);
  ASSERT_NO_FATAL_FAILURE(start(services));
  auto& [hub, kusto] = services;
  std::ofstream(dir_ / "a-file") << "not a directory";
  auto env = environment(hub, kusto);
  for (auto& [name, value] : env) {
    if (name == "HUB2KUSTO_DEAD_LETTER_DIRECTORY") {
      value = (dir_ / "a-file" / "dead-letter").string(); // below a file: not even root can
    }
  }
  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, env);
  EXPECT_NE(bridge.wait_exit(60s), 0);
  const std::string err = bridge.stderr_text();
  EXPECT_NE(err.find("cannot create the directory of the dead-letter file '" +
                     (dir_ / "a-file" / "dead-letter" / "telemetry.jsonl").string()),
            std::string::npos)
      << err;
}

TEST_F(Bridge, AFailingDeadLetterStoreHoldsThePartitionOnReadyzUntilItWritesAgain) {
  Services services({"--hub", "telemetry:1"}, {}, false);
  ASSERT_NO_FATAL_FAILURE(start(services));
  auto& [hub, kusto] = services;
  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, environment(hub, kusto));
  ASSERT_TRUE(eventually([&] { return http_get(ops_port_, "/readyz").first == 200; }))
      << bridge.stderr_text();
  // The start made the file; a directory in its place makes every append fail (EISDIR).
  const auto file = dir_ / "dead-letter" / "telemetry.jsonl";
  ASSERT_TRUE(std::filesystem::exists(file));
  std::filesystem::remove(file);
  std::filesystem::create_directory(file);

  // Lines 0-9, an event no AMQP decoder takes, lines 10-19.
  ChildProcess producer({"node", HUB2KUSTO_SOURCE_DIR "/tests/integration/bridge/produce_poison.js",
                         hub.connection_string()});
  ASSERT_EQ(producer.wait_exit(60s), 0) << producer.stderr_text();
  std::pair<int, std::string> ready;
  ASSERT_TRUE(eventually([&] {
    ready = http_get(ops_port_, "/readyz");
    return ready.first == 503 &&
           ready.second.find("the dead-letter store refuses records") != std::string::npos;
  })) << bridge.stderr_text()
      << ready.second;
  EXPECT_NE(ready.second.find("partition 0"), std::string::npos) << ready.second;
  EXPECT_EQ(http_get(ops_port_, "/healthz").first, 200); // alive: a restart would not help
  // Held: the events behind the poison one wait for its dead letter.
  EXPECT_LE(kusto.count("T"), 10);

  std::filesystem::remove(file); // the operator frees the place
  ASSERT_TRUE(eventually([&] { return kusto.count("T") == 20; }, 90s)) << bridge.stderr_text();
  ASSERT_TRUE(eventually([&] { return http_get(ops_port_, "/readyz").first == 200; }))
      << http_get(ops_port_, "/readyz").second;
  const auto letters = json_lines(file);
  ASSERT_EQ(letters.size(), 1U);
  EXPECT_EQ(letters[0]["stage"], "decode");
  EXPECT_EQ(letters[0]["sequence_number"], 10);
  stop(bridge);
}

} // namespace
} // namespace hub2kusto::bridge_test
