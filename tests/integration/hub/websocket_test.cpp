// The hub consumer over AMQP over WebSockets, and through a real HTTP proxy (tinyproxy), against
// tests/emulators/eventhubs on loopback (docs/protocols.md, "AMQP over WebSockets"). Waits are
// for conditions, each with a deadline; nothing sleeps to synchronise.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "hub/amqp_event_source.hpp"
#include "hub_consumer_fixture.hpp"
#include "support/eventhubs_emulator.hpp"
#include "support/tinyproxy.hpp"

namespace hub2kusto::hub {
namespace {

using namespace std::chrono_literals;
using testing::EventHubsEmulator;

// The emulator's WebSocket listener: wss:// checked against the test CA under the name
// localhost, or plain ws:// (UseDevelopmentEmulator) on 127.0.0.1.
std::string websocket_connection_string(int port, bool tls, const std::string& hub = "telemetry") {
  return std::string("Endpoint=sb://") + (tls ? "localhost" : "127.0.0.1") + ":" +
         std::to_string(port) +
         ";SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;"
         "EntityPath=" +
         hub + ";TransportType=AmqpWebSockets" + (tls ? "" : ";UseDevelopmentEmulator=true");
}

std::vector<std::shared_ptr<PartitionStream>> open_all(AmqpEventSource& source, int partitions) {
  std::vector<std::shared_ptr<PartitionStream>> streams;
  for (int p = 0; p < partitions; ++p) {
    streams.push_back(
        source.open_partition(PartitionId(std::to_string(p)), StartPosition::earliest()));
  }
  return streams;
}

TEST_F(HubConsumer, ReadsOverWebSocketsWithTlsAndVerifiesTheCertificate) {
  const std::string certs = make_certificates();
  ASSERT_FALSE(certs.empty()) << "openssl could not make the test certificates";
  EventHubsEmulator em(
      serving_tls(certs, {"--hub", "telemetry:4", "--websocket-tls-port", "0", "--preload",
                          preload_file("wss"), "--preload-events", "2000"}));
  ASSERT_TRUE(em.running() && em.websocket_tls_port() > 0) << em.stderr_text();
  const std::string cs = websocket_connection_string(em.websocket_tls_port(), true);
  {
    HubOptions o = options_for(cs);
    o.ca_file = certs + "ca.pem";
    AmqpEventSource source(o, clock_, random_);
    auto got = read_all(open_all(source, 4), 2000);
    for (const char* p : {"0", "1", "2", "3"}) {
      EXPECT_EQ(got[p].size(), 500U) << p;
      expect_contiguous(got[p], 0, p);
    }
    EXPECT_EQ(source.metrics().connections_opened.load(), 1U);
  }
  expect_untrusted(cs);
}

// The service may fragment what it sends into many small frames of one message: each frame's
// bytes join the AMQP stream in order, over ws:// (read ahead) and wss:// alike.
TEST_F(HubConsumer, ReadsWebSocketMessagesFragmentedIntoFramesOfAHundredBytes) {
  const std::string certs = make_certificates();
  ASSERT_FALSE(certs.empty()) << "openssl could not make the test certificates";
  EventHubsEmulator em(
      serving_tls(certs, {"--hub", "telemetry:2", "--websocket-port", "0", "--websocket-tls-port",
                          "0", "--websocket-frame-bytes", "100", "--preload",
                          preload_file("ws-fragments"), "--preload-events", "2000"}));
  ASSERT_TRUE(em.running() && em.websocket_port() > 0 && em.websocket_tls_port() > 0)
      << em.stderr_text();
  for (const bool tls : {false, true}) {
    HubOptions o = options_for(
        websocket_connection_string(tls ? em.websocket_tls_port() : em.websocket_port(), tls));
    o.ca_file = certs + "ca.pem";
    AmqpEventSource source(o, clock_, random_);
    auto got = read_all(open_all(source, 2), 2000);
    for (const char* p : {"0", "1"}) {
      EXPECT_EQ(got[p].size(), 1000U) << (tls ? "wss " : "ws ") << p;
      expect_contiguous(got[p], 0, p);
    }
  }
}

TEST_F(HubConsumer,
       DeliversExactlyTwentyThousandEventsOverWebSocketsAcrossThreeDroppedConnections) {
  EventHubsEmulator em({"--hub", "telemetry:4", "--websocket-port", "0", "--preload",
                        preload_file("ws-drops"), "--preload-events", "20000"});
  ASSERT_TRUE(em.running() && em.websocket_port() > 0) << em.stderr_text();
  AmqpEventSource source(options_for(websocket_connection_string(em.websocket_port(), false)),
                         clock_, random_);
  std::size_t drops = 0;
  auto got = read_all(open_all(source, 4), 20000, [&](std::size_t count) {
    if (drops < 3 && count >= (drops + 1) * 5000) {
      ASSERT_TRUE(em.fault("/faults/drop-connections"));
      ++drops;
      ASSERT_TRUE(eventually([&] { return source.metrics().connections_lost.load() == drops; }));
    }
  });
  for (const char* p : {"0", "1", "2", "3"}) {
    EXPECT_EQ(got[p].size(), 5000U) << p;
    expect_contiguous(got[p], 0, p);
  }
  EXPECT_EQ(drops, 3U);
  EXPECT_EQ(source.metrics().connections_opened.load(), 4U);
}

TEST_F(HubConsumer, FollowsTheIotHubRedirectOverWebSockets) {
  auto args = iot_hub_emulator("iot-ws", 60);
  args.insert(args.end(), {"--websocket-port", "0"});
  EventHubsEmulator em(args);
  ASSERT_TRUE(em.running() && em.websocket_port() > 0) << em.stderr_text();
  // The front end at $iothub/websocket, then the Event Hub-compatible endpoint at
  // $servicebus/websocket, both on the WebSocket port.
  AmqpEventSource source(options_for("HostName=127.0.0.1:" + std::to_string(em.websocket_port()) +
                                     ";SharedAccessKeyName=service;SharedAccessKey=" + kIotHubKey +
                                     ";UseDevelopmentEmulator=true;TransportType=AmqpWebSockets"),
                         clock_, random_);
  auto hub = source.hub_properties(10s);
  ASSERT_TRUE(hub.ok()) << hub.error().message;
  EXPECT_EQ(hub->name.value(), "iot-ehub");
  EXPECT_EQ(source.metrics().redirects.load(), 1U);
  auto got = read_all(open_all(source, 2), 60);
  EXPECT_EQ(got["0"].size() + got["1"].size(), 60U);
  expect_contiguous(got["0"], 0, "0");
  expect_contiguous(got["1"], 0, "1");
}

TEST_F(HubConsumer, ReadsThroughAnHttpProxyOverWebSocketsWithTlsAndOverAmqp) {
  const std::string certs = make_certificates();
  ASSERT_FALSE(certs.empty()) << "openssl could not make the test certificates";
  testing::Tinyproxy proxy;
  ASSERT_TRUE(proxy.running()) << "tinyproxy did not start";
  EventHubsEmulator em(
      serving_tls(certs, {"--hub", "telemetry:2", "--websocket-tls-port", "0", "--preload",
                          preload_file("proxy"), "--preload-events", "400"}));
  ASSERT_TRUE(em.running()) << em.stderr_text();
  {
    HubOptions o = options_for(websocket_connection_string(em.websocket_tls_port(), true));
    o.ca_file = certs + "ca.pem";
    o.proxy = proxy.url();
    AmqpEventSource source(o, clock_, random_);
    auto got = read_all(open_all(source, 2), 400);
    EXPECT_EQ(got["0"].size() + got["1"].size(), 400U);
  }
  {
    HubOptions o = options_for(em.connection_string());
    o.proxy = proxy.url();
    AmqpEventSource source(o, clock_, random_);
    auto got = read_all(open_all(source, 2), 400);
    EXPECT_EQ(got["0"].size() + got["1"].size(), 400U);
  }
  // Both went through the proxy's tunnel, TLS and WebSocket inside it.
  const std::string log = proxy.log();
  EXPECT_NE(log.find("CONNECT localhost:" + std::to_string(em.websocket_tls_port())),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("CONNECT 127.0.0.1:" + std::to_string(em.port())), std::string::npos) << log;
}

TEST_F(HubConsumer, AProxyWithBasicAuthTakesTheRightPasswordAndNamesAWrongOneWithoutIt) {
  testing::Tinyproxy::Options with_auth;
  with_auth.basic_auth = std::pair<std::string, std::string>("alice", "s3cret");
  testing::Tinyproxy proxy(with_auth);
  ASSERT_TRUE(proxy.running()) << "tinyproxy did not start";
  EventHubsEmulator em({"--hub", "telemetry:1", "--websocket-port", "0", "--preload",
                        preload_file("proxy-auth"), "--preload-events", "100"});
  ASSERT_TRUE(em.running()) << em.stderr_text();
  const std::string cs = websocket_connection_string(em.websocket_port(), false);
  {
    HubOptions o = options_for(cs);
    o.proxy = proxy.url("alice", "s3cret");
    AmqpEventSource source(o, clock_, random_);
    EXPECT_EQ(read_all(open_all(source, 1), 100)["0"].size(), 100U);
  }
  const std::string label = "the proxy 127.0.0.1:" + std::to_string(proxy.port());
  {
    HubOptions o = options_for(cs);
    o.proxy = proxy.url("alice", "not-the-password");
    AmqpEventSource source(o, clock_, random_);
    auto hub = source.hub_properties(3s);
    ASSERT_FALSE(hub.ok());
    EXPECT_NE(hub.error().message.find(label + " refused the credentials of user 'alice' (4"),
              std::string::npos)
        << hub.error().message;
    EXPECT_EQ(hub.error().message.find("not-the-password"), std::string::npos);
  }
  {
    HubOptions o = options_for(cs);
    o.proxy = proxy.url();
    AmqpEventSource source(o, clock_, random_);
    auto hub = source.hub_properties(3s);
    ASSERT_FALSE(hub.ok());
    EXPECT_NE(hub.error().message.find(label + " asks for credentials (4"), std::string::npos)
        << hub.error().message;
  }
}

TEST_F(HubConsumer, AProxyThatRefusesTheTunnelIsNamedInTheError) {
  testing::Tinyproxy::Options only_443;
  only_443.connect_ports = {443}; // CONNECT to 443 only, as many corporate proxies allow
  testing::Tinyproxy proxy(only_443);
  ASSERT_TRUE(proxy.running()) << "tinyproxy did not start";
  EventHubsEmulator em({"--hub", "telemetry:1", "--websocket-port", "0"});
  ASSERT_TRUE(em.running()) << em.stderr_text();
  HubOptions o = options_for(websocket_connection_string(em.websocket_port(), false));
  o.proxy = proxy.url();
  AmqpEventSource source(o, clock_, random_);
  auto hub = source.hub_properties(3s);
  ASSERT_FALSE(hub.ok());
  EXPECT_NE(hub.error().message.find(
                "the proxy 127.0.0.1:" + std::to_string(proxy.port()) +
                " refused a tunnel to 127.0.0.1:" + std::to_string(em.websocket_port()) + " (403"),
            std::string::npos)
      << hub.error().message;
  EXPECT_EQ(source.metrics().connections_opened.load(), 0U);
}

} // namespace
} // namespace hub2kusto::hub
