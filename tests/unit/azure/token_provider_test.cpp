#include "azure/token_provider.hpp"

#include <gtest/gtest.h>

#include "support/fake_transport.hpp"
#include "support/manual_clock.hpp"

namespace hub2kusto::azure {
namespace {

using fakes::FakeTransport;

using namespace std::chrono_literals;

KustoConnectionString app_key() {
  return parse_kusto_connection_string(
             "Data Source=https://c.kusto.windows.net;AAD Federated Security=True;"
             "Application Client Id=app;Application Key=s3cret-value;Authority Id=tenant")
      .value();
}

TEST(TokenProvider, ClientCredentialsPostTheFormAndCacheTheToken) {
  ManualClock clock(std::chrono::system_clock::time_point(std::chrono::hours(500'000)));
  FakeTransport t;
  t.then(200, R"({"access_token":"tok-1","expires_in":3600})");
  AuthEnvironment env;
  env.authority_host = "https://login.example/";
  auto p = make_token_provider(app_key(), env, t, clock);
  ASSERT_EQ(p->token().value().reveal(), "tok-1");
  ASSERT_EQ(p->token().value().reveal(), "tok-1");
  EXPECT_EQ(p->fetches(), 1U);
  ASSERT_EQ(t.sent.size(), 1U);
  EXPECT_EQ(t.sent[0].url, "https://login.example/tenant/oauth2/v2.0/token");
  EXPECT_NE(t.sent[0].body.find("grant_type=client_credentials"), std::string::npos);
  EXPECT_NE(t.sent[0].body.find("client_secret=s3cret-value"), std::string::npos);
  EXPECT_NE(t.sent[0].body.find("scope=https%3A%2F%2Fkusto.kusto.windows.net%2F.default"),
            std::string::npos);
}

TEST(TokenProvider, RefreshesFiveMinutesBeforeExpiryOrAtThreeQuartersOfAShortLifetime) {
  ManualClock clock(std::chrono::system_clock::time_point(std::chrono::hours(500'000)));
  FakeTransport t;
  t.then(200, R"({"access_token":"a","expires_in":"3600"})");
  t.then(200, R"({"access_token":"b","expires_in":8})");
  t.then(200, R"({"access_token":"c","expires_in":8})");
  auto p = make_token_provider(app_key(), AuthEnvironment{}, t, clock);
  EXPECT_EQ(p->token().value().reveal(), "a");
  clock.advance(54min);
  EXPECT_EQ(p->token().value().reveal(), "a");
  clock.advance(1min + 1s); // less than five minutes left
  EXPECT_EQ(p->token().value().reveal(), "b");
  clock.advance(5s);
  EXPECT_EQ(p->token().value().reveal(), "b");
  clock.advance(1s); // 6 s of 8: a quarter left
  EXPECT_EQ(p->token().value().reveal(), "c");
}

TEST(TokenProvider, ARefusalSaysWhatRefusedWithoutIdsDescriptionOrSecret) {
  ManualClock clock;
  FakeTransport t;
  t.then(
      401,
      R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret"})");
  auto p = make_token_provider(app_key(), AuthEnvironment{}, t, clock);
  const auto r = p->token();
  ASSERT_FALSE(r.ok());
  // The error reaches /readyz: the kind of credential, the status and the OAuth code; the ids
  // and the endpoint's description go to the log only.
  EXPECT_NE(r.error().message.find("the Entra application (client secret)"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("HTTP 401: invalid_client"), std::string::npos);
  EXPECT_EQ(r.error().message.find("tenant"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find("AADSTS"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find("s3cret-value"), std::string::npos);
}

TEST(TokenProvider, InvalidateForcesAFreshToken) {
  ManualClock clock;
  FakeTransport t;
  t.then(200, R"({"access_token":"a","expires_in":3600})");
  t.then(200, R"({"access_token":"b","expires_in":3600})");
  auto p = make_token_provider(app_key(), AuthEnvironment{}, t, clock);
  EXPECT_EQ(p->token().value().reveal(), "a");
  p->invalidate();
  EXPECT_EQ(p->token().value().reveal(), "b");
}

TEST(TokenProvider, ManagedIdentityAsksImdsWithTheMetadataHeader) {
  ManualClock clock;
  FakeTransport t;
  t.then(200, R"({"access_token":"mi","expires_on":"4102444800"})");
  auto cs = parse_kusto_connection_string(
                "Data Source=https://c.kusto.windows.net;AAD Federated Security=True;"
                "Managed Identity=system")
                .value();
  auto p = make_token_provider(cs, AuthEnvironment{}, t, clock);
  EXPECT_EQ(p->token().value().reveal(), "mi");
  ASSERT_EQ(t.sent.size(), 1U);
  EXPECT_EQ(t.sent[0].url.rfind("http://169.254.169.254/metadata/identity/oauth2/token?", 0), 0U);
  EXPECT_EQ(t.sent[0].headers, (Headers{{"Metadata", "true"}}));
}

TEST(TokenProvider, NoAuthenticationMeansNoHeader) {
  ManualClock clock;
  FakeTransport t;
  auto cs = parse_kusto_connection_string("Data Source=http://127.0.0.1:8080").value();
  auto p = make_token_provider(cs, AuthEnvironment{}, t, clock);
  EXPECT_TRUE(p->token().value().empty());
  EXPECT_TRUE(t.sent.empty());
}

} // namespace
} // namespace hub2kusto::azure
