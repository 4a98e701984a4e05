// Mistakes in what the bridge reads from: a consumer group or an Event Hub that does not exist
// is named, with the hub, once a minute and on /readyz, and the partitions resume by
// themselves once an operator creates what is missing.
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "bridge/bridge_fixture.hpp"
#include "support/tinyproxy.hpp"

namespace hub2kusto::bridge_test {
namespace {

using namespace std::chrono_literals;

// The environment of a bridge that reads the hub over WebSockets at `host`.
std::vector<std::pair<std::string, std::string>>
over_websockets(std::vector<std::pair<std::string, std::string>> env, const EventHubsEmulator& hub,
                const std::string& host = "127.0.0.1") {
  for (auto& [name, value] : env) {
    if (name == "HUB2KUSTO_CONNECTIONS_0_SOURCE_CONNECTION_STRING") {
      value = "Endpoint=sb://" + host + ":" + std::to_string(hub.websocket_port()) +
              ";SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;"
              "EntityPath=telemetry;UseDevelopmentEmulator=true;TransportType=AmqpWebSockets";
    }
  }
  return env;
}

std::size_t error_lines_with(const std::string& log, const std::string& text) {
  std::size_t n = 0;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    n += line.find(" error ") != std::string::npos && line.find(text) != std::string::npos;
  }
  return n;
}

TEST_F(Bridge, AMissingConsumerGroupIsNamedOnceWithTheHubAndReadingStartsWhenItIsCreated) {
  Services services({"--hub", "telemetry:2", "--preload", (dir_ / "events.jsonl").string(),
                     "--preload-events", "50"},
                    {}, false);
  ASSERT_NO_FATAL_FAILURE(start(services));
  auto& [hub, kusto] = services;
  auto env = environment(hub, kusto);
  env.emplace_back("HUB2KUSTO_CONNECTIONS_0_SOURCE_CONSUMER_GROUP", "bridge");
  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, env);

  const std::string missing = "consumer group 'bridge' does not exist in Event Hub";
  // Both partitions were refused and explained.
  ASSERT_TRUE(eventually([&] {
    const auto ready = http_get(ops_port_, "/readyz");
    const auto first = ready.second.find(missing);
    return ready.first == 503 && first != std::string::npos &&
           ready.second.find(missing, first + 1) != std::string::npos;
  })) << http_get(ops_port_, "/readyz").second;
  const std::string hub_name = "127.0.0.1/telemetry";
  EXPECT_NE(http_get(ops_port_, "/readyz").second.find(missing + " " + hub_name), std::string::npos)
      << http_get(ops_port_, "/readyz").second;
  EXPECT_EQ(error_lines_with(bridge.stderr_text(), missing), 1U) << bridge.stderr_text();
  EXPECT_NE(bridge.stderr_text().find("consumer-group create"), std::string::npos);

  ASSERT_TRUE(hub.create_consumer_group("telemetry", "bridge"));
  ASSERT_TRUE(eventually([&] { return kusto.count("T") == 50; }, 90s))
      << bridge.stderr_text() << " rows: " << kusto.count("T");
  ASSERT_TRUE(eventually([&] { return http_get(ops_port_, "/readyz").first == 200; }))
      << http_get(ops_port_, "/readyz").second;
  stop(bridge);
  EXPECT_EQ(kusto.count("T"), 50);
}

// A network that lets only an authenticating HTTP proxy out: the hub is read over WebSockets
// through its CONNECT tunnel, and every event arrives once.
TEST_F(Bridge, MovesEveryEventOverWebSocketsThroughAProxyThatAsksForCredentials) {
  Services services({"--hub", "telemetry:4", "--websocket-port", "0", "--preload",
                     distinct_events(2000), "--preload-events", "2000"});
  ASSERT_NO_FATAL_FAILURE(start(services));
  auto& [hub, kusto] = services;
  testing::Tinyproxy::Options auth;
  auth.basic_auth = std::pair<std::string, std::string>("bridge", "pr0xy-pa55");
  testing::Tinyproxy proxy(auth);
  ASSERT_TRUE(proxy.running()) << "tinyproxy did not start";
  auto env = over_websockets(environment(hub, kusto), hub);
  env.emplace_back("HUB2KUSTO_CONNECTIONS_0_SOURCE_TRANSPORT", "websockets");
  env.emplace_back("HUB2KUSTO_CONNECTIONS_0_SOURCE_PROXY", proxy.url("bridge", "pr0xy-pa55"));
  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, env);
  ASSERT_TRUE(eventually([&] { return kusto.count("T") >= 2000; }, 90s))
      << bridge.stderr_text() << " rows: " << kusto.count("T");
  stop(bridge);
  EXPECT_EQ(lines_and_rows(kusto), std::make_pair(2000LL, 2000LL));
  EXPECT_NE(proxy.log().find("CONNECT 127.0.0.1:" + std::to_string(hub.websocket_port())),
            std::string::npos)
      << proxy.log();
  EXPECT_EQ(bridge.stderr_text().find("pr0xy-pa55"), std::string::npos);
}

// HTTPS_PROXY from the environment tunnels the hub connection too, while the Kusto target on
// loopback goes direct. The hub is named 0.0.0.0 (Linux connects that to the local listener), a
// host the environment's proxy is not bypassed for, as it is for loopback names.
TEST_F(Bridge, HttpsProxyFromTheEnvironmentCarriesTheHubConnection) {
  Services services({"--host", "0.0.0.0", "--hub", "telemetry:2", "--websocket-port", "0",
                     "--preload", distinct_events(200), "--preload-events", "200"});
  ASSERT_NO_FATAL_FAILURE(start(services));
  auto& [hub, kusto] = services;
  testing::Tinyproxy proxy;
  ASSERT_TRUE(proxy.running()) << "tinyproxy did not start";
  auto env = over_websockets(environment(hub, kusto), hub, "0.0.0.0");
  env.emplace_back("HTTPS_PROXY", proxy.url());
  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, env);
  ASSERT_TRUE(eventually([&] { return kusto.count("T") >= 200; }, 90s))
      << bridge.stderr_text() << " rows: " << kusto.count("T");
  stop(bridge);
  EXPECT_EQ(lines_and_rows(kusto), std::make_pair(200LL, 200LL));
  EXPECT_NE(proxy.log().find("CONNECT 0.0.0.0:" + std::to_string(hub.websocket_port())),
            std::string::npos)
      << proxy.log();
}

// A wrong proxy password holds the data and says why on /readyz and in the log, naming the proxy
// and the user, never the password; the events arrive once the password is fixed.
TEST_F(Bridge, AWrongProxyPasswordIsNamedOnReadyzWithoutThePassword) {
  Services services({"--hub", "telemetry:2", "--websocket-port", "0", "--preload",
                     distinct_events(100), "--preload-events", "100"});
  ASSERT_NO_FATAL_FAILURE(start(services));
  auto& [hub, kusto] = services;
  testing::Tinyproxy::Options auth;
  auth.basic_auth = std::pair<std::string, std::string>("bridge", "pr0xy-pa55");
  testing::Tinyproxy proxy(auth);
  ASSERT_TRUE(proxy.running()) << "tinyproxy did not start";
  const auto with_password = [&](const std::string& password) {
    auto env = over_websockets(environment(hub, kusto), hub);
    // Partitions named, so the bridge starts without reading the hub and its partitions say
    // what they meet.
    env.emplace_back("HUB2KUSTO_CONNECTIONS_0_SOURCE_PARTITIONS", "0,1");
    env.emplace_back("HUB2KUSTO_CONNECTIONS_0_SOURCE_PROXY", proxy.url("bridge", password));
    return env;
  };
  const std::string refused = "the proxy 127.0.0.1:" + std::to_string(proxy.port()) +
                              " refused the credentials of user 'bridge'";
  {
    ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, with_password("not-the-pa55word"));
    ASSERT_TRUE(eventually([&] {
      const auto ready = http_get(ops_port_, "/readyz");
      return ready.first == 503 && ready.second.find(refused) != std::string::npos;
    })) << http_get(ops_port_, "/readyz").second
        << bridge.stderr_text();
    EXPECT_EQ(http_get(ops_port_, "/readyz").second.find("not-the-pa55word"), std::string::npos);
    stop(bridge);
    EXPECT_NE(bridge.stderr_text().find(refused), std::string::npos) << bridge.stderr_text();
    EXPECT_EQ(bridge.stderr_text().find("not-the-pa55word"), std::string::npos);
    EXPECT_EQ(kusto.count("T"), 0);
  }
  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, with_password("pr0xy-pa55"));
  ASSERT_TRUE(eventually([&] { return kusto.count("T") >= 100; }, 90s))
      << bridge.stderr_text() << " rows: " << kusto.count("T");
  stop(bridge);
  EXPECT_EQ(lines_and_rows(kusto), std::make_pair(100LL, 100LL));
}

} // namespace
} // namespace hub2kusto::bridge_test
