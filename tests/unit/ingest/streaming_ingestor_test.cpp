#include "ingest/streaming_ingestor.hpp"

#include <gtest/gtest.h>

#include "common/gzip.hpp"
#include "support/fake_transport.hpp"
#include "support/manual_clock.hpp"

namespace hub2kusto::ingest {
namespace {

using fakes::FakeTransport;

TEST(StreamingIngestor, PostsTheGzippedBatchWithFormatMappingAndHeaders) {
  ManualClock clock;
  FakeTransport t;
  t.then(200, R"({"Tables":[]})");
  azure::TokenProvider tokens(nullptr, clock);
  StreamingIngestor s({.engine_url = "https://c.kusto.windows.net", .app_version = "1.2"}, t,
                      tokens);
  Batch b;
  b.id = "p0-5-9";
  b.target.database = DatabaseName("my db");
  b.target.table = TableName("T");
  b.target.format = IngestFormat::multijson;
  b.target.mapping = MappingName("map 1");
  b.data = R"({"a":1})";
  const auto d = s.ingest(b);
  EXPECT_EQ(d.outcome, Outcome::delivered);
  ASSERT_EQ(t.sent.size(), 1U);
  const auto& r = t.sent[0];
  EXPECT_EQ(r.url, "https://c.kusto.windows.net/v1/rest/ingest/my%20db/T?streamFormat=multijson"
                   "&mappingName=map%201");
  EXPECT_EQ(gzip::decompress(r.body, 1024, nullptr), std::optional<std::string>(b.data));
  const auto header = [&](const char* name) {
    azure::HttpResponse h;
    h.headers = r.headers;
    return h.header(name).value_or("");
  };
  EXPECT_EQ(header("Content-Encoding"), "gzip");
  const std::string id = header("x-ms-client-request-id");
  ASSERT_EQ(id.size(), std::string("KHC.executeStreamingIngest;").size() + 36 + 9) << id;
  EXPECT_EQ(id.rfind("KHC.executeStreamingIngest;", 0), 0U) << id;
  EXPECT_EQ(id.substr(id.size() - 9), ";p0-5-9;0");
  EXPECT_EQ(header("x-ms-app"), "Kusto.hub2kusto:{1.2}");
  EXPECT_EQ(header("Authorization"), ""); // no authentication configured
}

TEST(StreamingIngestor, A401InvalidatesTheCachedToken) {
  ManualClock clock;
  FakeTransport t;
  t.then(200, R"({"access_token":"t1","expires_in":3600})");
  t.then(401, "");
  t.then(200, R"({"access_token":"t2","expires_in":3600})");
  t.then(200, "{}");
  auto cs = parse_kusto_connection_string(
                "Data Source=https://c.kusto.windows.net;AAD Federated Security=True;"
                "Application Client Id=a;Application Key=k;Authority Id=t")
                .value();
  auto tokens = azure::make_token_provider(cs, azure::AuthEnvironment{}, t, clock);
  StreamingIngestor s({.engine_url = "https://c.kusto.windows.net", .app_version = ""}, t, *tokens);
  Batch b;
  b.id = "x";
  b.target.database = DatabaseName("db");
  b.target.table = TableName("T");
  EXPECT_EQ(s.ingest(b).outcome, Outcome::retriable);
  EXPECT_EQ(s.ingest(b).outcome, Outcome::delivered);
  EXPECT_EQ(tokens->fetches(), 2U);
  azure::HttpResponse h;
  h.headers = t.sent[3].headers;
  EXPECT_EQ(h.header("Authorization"), std::optional<std::string>("Bearer t2"));
}

TEST(StreamingIngestor, ProbeAsksTheEngineForItsVersionOnTheDatabase) {
  ManualClock clock;
  FakeTransport t;
  t.then(200, R"({"Tables":[]})");
  azure::TokenProvider tokens(nullptr, clock);
  StreamingIngestor s({.engine_url = "https://c.kusto.windows.net", .app_version = "1"}, t, tokens);
  EXPECT_TRUE(s.probe(DatabaseName("db"), std::chrono::seconds(3)));
  ASSERT_EQ(t.sent.size(), 1U);
  EXPECT_EQ(t.sent[0].url, "https://c.kusto.windows.net/v1/rest/mgmt");
  EXPECT_EQ(t.sent[0].timeout, std::chrono::seconds(3));
  EXPECT_NE(t.sent[0].body.find(R"("csl":".show version")"), std::string::npos) << t.sent[0].body;
  EXPECT_NE(t.sent[0].body.find(R"("db":"db")"), std::string::npos) << t.sent[0].body;
}

TEST(StreamingIngestor, ProbeFailureNamesTheEngineAndTheServiceAnswer) {
  ManualClock clock;
  FakeTransport t;
  t.then(403, R"({"error":{"code":"Forbidden","@message":"principal has no access"}})");
  azure::TokenProvider tokens(nullptr, clock);
  StreamingIngestor s({.engine_url = "https://c.kusto.windows.net", .app_version = "1"}, t, tokens);
  const auto probed = s.probe(DatabaseName("db"), std::chrono::seconds(3));
  ASSERT_FALSE(probed);
  EXPECT_NE(probed.error().message.find("https://c.kusto.windows.net"), std::string::npos)
      << probed.error().message;
  EXPECT_NE(probed.error().message.find("principal has no access"), std::string::npos)
      << probed.error().message;
}

} // namespace
} // namespace hub2kusto::ingest
