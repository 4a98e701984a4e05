#include "common/proxy.hpp"

#include <cstdlib>

#include <gtest/gtest.h>

namespace hub2kusto {
namespace {

TEST(ProxyUrl, ReadsHostPortAndPercentEncodedCredentials) {
  auto p = parse_proxy_url("http://al%40ice:p%3Ass@proxy.corp:3128/");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->host, "proxy.corp");
  EXPECT_EQ(p->port, 3128);
  EXPECT_EQ(p->user, "al@ice");
  EXPECT_EQ(p->password.reveal(), "p:ss");
  EXPECT_EQ(p->label(), "proxy.corp:3128");
  auto bare = parse_proxy_url("10.0.0.1");
  ASSERT_TRUE(bare) << bare.error().message;
  EXPECT_EQ(bare->port, 80);
  EXPECT_TRUE(bare->user.empty());
}

TEST(ProxyUrl, ErrorsNeverQuoteTheUrl) {
  for (const char* bad : {"https://u:Pr0xyS3cret@p:1", "http://u:Pr0xyS3cret@p:1/path",
                          "http://u:Pr0xyS3cret@:1", "http://:Pr0xyS3cret@p:1"}) {
    auto p = parse_proxy_url(bad);
    ASSERT_FALSE(p) << bad;
    EXPECT_EQ(p.error().message.find("Pr0xyS3cret"), std::string::npos) << p.error().message;
    EXPECT_EQ(p.error().message.rfind("the proxy URL ", 0), 0U) << p.error().message;
  }
}

// Each case sets the environment for itself and restores it.
class ProxyFor : public ::testing::Test {
protected:
  void SetUp() override {
    for (const char* name : {"HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"}) {
      if (const char* v = std::getenv(name)) {
        saved_.emplace_back(name, v);
      }
      ::unsetenv(name);
    }
  }
  void TearDown() override {
    for (const char* name : {"HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"}) {
      ::unsetenv(name);
    }
    for (const auto& [k, v] : saved_) {
      ::setenv(k.c_str(), v.c_str(), 1);
    }
  }
  std::vector<std::pair<std::string, std::string>> saved_;
};

TEST_F(ProxyFor, TheEnvironmentsProxySkipsLoopbackAndWhatNoProxyLists) {
  EXPECT_FALSE(proxy_for("ns.servicebus.windows.net", std::nullopt));
  ::setenv("https_proxy", "http://env-proxy:8080", 1);
  EXPECT_EQ(proxy_for("ns.servicebus.windows.net", std::nullopt), "http://env-proxy:8080");
  EXPECT_FALSE(proxy_for("127.0.0.1", std::nullopt));
  EXPECT_FALSE(proxy_for("localhost", std::nullopt));
  ::setenv("NO_PROXY", "example.com, .windows.net", 1);
  EXPECT_FALSE(proxy_for("ns.servicebus.windows.net", std::nullopt));
  EXPECT_FALSE(proxy_for("example.com", std::nullopt));
  EXPECT_EQ(proxy_for("hub.azure-devices.net", std::nullopt), "http://env-proxy:8080");
}

TEST_F(ProxyFor, AConfiguredProxyWinsAndReachesLoopbackUnlessNoProxyListsIt) {
  ::setenv("HTTPS_PROXY", "http://env-proxy:8080", 1);
  EXPECT_EQ(proxy_for("127.0.0.1", std::string("http://mine:1")), "http://mine:1");
  EXPECT_EQ(proxy_for("ns.servicebus.windows.net", std::string("http://mine:1")), "http://mine:1");
  ::setenv("NO_PROXY", "*", 1);
  EXPECT_FALSE(proxy_for("ns.servicebus.windows.net", std::string("http://mine:1")));
}

TEST(ProxyUrl, BasicAuthorizationCarriesUserAndPasswordInBase64) {
  auto p = parse_proxy_url("http://Aladdin:open%20sesame@p:1"); // RFC 7617's example
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->basic_authorization(), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
}

TEST(TunnelRefusal, EachAnswerThatOpensNoTunnelIsSaidWithoutThePassword) {
  auto anonymous = parse_proxy_url("http://p.corp:3128");
  auto alice = parse_proxy_url("http://alice:Pr0xyS3cret@p.corp:3128");
  ASSERT_TRUE(anonymous && alice);
  const std::string target = "ns.servicebus.windows.net:443";
  const auto said = [&](const ProxyUrl& proxy, ConnectAnswer answer) {
    const auto why = tunnel_refusal(proxy, target, answer);
    EXPECT_TRUE(why.has_value()) << answer.status;
    EXPECT_EQ(why.value_or("").find("Pr0xyS3cret"), std::string::npos) << *why;
    return why.value_or("");
  };
  EXPECT_EQ(said(*anonymous, {.status = 407, .reason = "Proxy Authentication Required"}),
            "the proxy p.corp:3128 asks for credentials (407 Proxy Authentication Required); give "
            "them in the proxy URL as http://user:password@host:port");
  EXPECT_EQ(said(*alice, {.status = 401, .reason = "Unauthorized"}),
            "the proxy p.corp:3128 refused the credentials of user 'alice' (401 Unauthorized)");
  EXPECT_EQ(said(*alice, {.status = 403, .reason = "Forbidden"}),
            "the proxy p.corp:3128 refused a tunnel to " + target + " (403 Forbidden)");
  EXPECT_EQ(said(*alice, {.status = 502, .reason = "Bad Gateway"}),
            "the proxy p.corp:3128 could not open a tunnel to " + target + " (502 Bad Gateway)");
  EXPECT_EQ(said(*alice, {.status = 200, .reason = "OK", .early_bytes = true}),
            "the proxy p.corp:3128 sent data before the tunnel to " + target + " was used");
  EXPECT_FALSE(tunnel_refusal(*alice, target, {.status = 200, .reason = "Connection established"}));
}

} // namespace
} // namespace hub2kusto
