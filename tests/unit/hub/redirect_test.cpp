#include "hub/redirect.hpp"

#include <gtest/gtest.h>

namespace hub2kusto::hub {
namespace {

TEST(Redirect, TheEventHubNameComesFromTheAddress) {
  auto t = resolve_redirect({.hostname = "iothub-ns-myhub-123-abc.servicebus.windows.net",
                             .network_host = "",
                             .port = 5671,
                             .address = "amqps://iothub-ns-myhub-123-abc.servicebus.windows.net:"
                                        "5671/myhub-ehub/$management"});
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->event_hub, "myhub-ehub");
  EXPECT_EQ(t->hostname, "iothub-ns-myhub-123-abc.servicebus.windows.net");
  EXPECT_EQ(t->network_host, t->hostname);
  EXPECT_EQ(t->port, 5671);
  EXPECT_TRUE(t->tls);
}

TEST(Redirect, PlainAmqpAddressesAreForEmulators) {
  auto t = resolve_redirect({.hostname = "127.0.0.1",
                             .network_host = "127.0.0.1",
                             .port = 40123,
                             .address = "amqp://127.0.0.1:40123/telemetry/"});
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_FALSE(t->tls);
  EXPECT_EQ(t->event_hub, "telemetry");
  EXPECT_EQ(t->port, 40123);
}

TEST(Redirect, AMissingOrUselessAddressIsAClearError) {
  auto none = resolve_redirect({.hostname = "h", .network_host = "", .port = 5671, .address = ""});
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("'address'"), std::string::npos);
  auto no_hub = resolve_redirect(
      {.hostname = "h", .network_host = "", .port = 5671, .address = "amqps://h:5671/$management"});
  ASSERT_FALSE(no_hub.ok());
  EXPECT_NE(no_hub.error().message.find("names no Event Hub"), std::string::npos);
  auto http = resolve_redirect(
      {.hostname = "h", .network_host = "", .port = 5671, .address = "https://h/hub"});
  ASSERT_FALSE(http.ok());
  auto port = resolve_redirect(
      {.hostname = "h", .network_host = "", .port = 70000, .address = "amqps://h/hub"});
  ASSERT_FALSE(port.ok());
}

} // namespace
} // namespace hub2kusto::hub
