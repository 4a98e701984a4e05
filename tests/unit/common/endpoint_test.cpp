#include "common/endpoint.hpp"

#include <gtest/gtest.h>

namespace hub2kusto {
namespace {

TEST(ParseEndpointUri, SplitsSchemeHostPortAndPath) {
  auto ep = parse_endpoint_uri("SB://ns.servicebus.windows.net:5671/some/path/", "'Endpoint'");
  ASSERT_TRUE(ep) << ep.error().message;
  EXPECT_EQ(ep->scheme, "sb");
  EXPECT_EQ(ep->host, "ns.servicebus.windows.net");
  EXPECT_EQ(ep->port, 5671);
  EXPECT_EQ(ep->path, "some/path");
}

TEST(ParseEndpointUri, AcceptsBracketedIpv6) {
  auto ep = parse_endpoint_uri("http://[::1]:8080", "'Data Source'");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->host, "::1");
  EXPECT_EQ(ep->port, 8080);
}

TEST(ParseEndpointUri, RejectsWithMessagesNamingTheSetting) {
  EXPECT_EQ(parse_endpoint_uri("ns.servicebus.windows.net", "'Endpoint'").error().message,
            "'Endpoint' must be a URI with a scheme, like sb://<host>/");
  EXPECT_EQ(parse_endpoint_uri("sb://", "'Endpoint'").error().message, "'Endpoint' has no host");
  EXPECT_EQ(parse_endpoint_uri("sb://host:99999/", "'Endpoint'").error().message,
            "'Endpoint' has a port that is not a number from 1 to 65535");
  EXPECT_EQ(parse_endpoint_uri("sb://user@host/", "'Endpoint'").error().message,
            "'Endpoint' must not contain user information, a query or a fragment");
  EXPECT_EQ(parse_endpoint_uri("sb://ho st/", "'Endpoint'").error().message,
            "'Endpoint' has an invalid character in its host name");
}

TEST(IsLoopbackHost, KnowsTheLoopbackNames) {
  EXPECT_TRUE(is_loopback_host("localhost"));
  EXPECT_TRUE(is_loopback_host("127.0.0.1"));
  EXPECT_TRUE(is_loopback_host("::1"));
  EXPECT_FALSE(is_loopback_host("kusto.example.com"));
}

TEST(FormatHostPort, BracketsIpv6LiteralsOnly) {
  EXPECT_EQ(format_host_port("example.servicebus.windows.net", 443),
            "example.servicebus.windows.net:443");
  EXPECT_EQ(format_host_port("127.0.0.1", 5672), "127.0.0.1:5672");
  EXPECT_EQ(format_host_port("::1", 8080), "[::1]:8080");
}

} // namespace
} // namespace hub2kusto
