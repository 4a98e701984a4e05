#include "ingest/kusto_management.hpp"

#include <gtest/gtest.h>

#include "common/clock.hpp"
#include "support/fake_transport.hpp"
#include "support/manual_clock.hpp"

namespace hub2kusto::ingest {
namespace {

using fakes::FakeTransport;
using fakes::one_api;

TEST(KustoManagement, ReadsTheFirstTableOfAV1Answer) {
  const auto t = first_table(
      R"({"Tables":[{"TableName":"Table_0","Columns":[{"ColumnName":"Name","DataType":"String"},{"ColumnName":"Kind","DataType":"String"},{"ColumnName":"N","DataType":"Int64"}],"Rows":[["m","Json",3],["c",null,4]]},{"TableName":"Table_1","Columns":[],"Rows":[]}]})");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->rows.size(), 2U);
  EXPECT_EQ(t->text(0, "Name"), "m");
  EXPECT_EQ(t->text(0, "N"), "3");      // not a string: its JSON text
  EXPECT_EQ(t->text(1, "Kind"), "");    // null
  EXPECT_EQ(t->text(0, "Missing"), ""); // no such column
  EXPECT_EQ(t->text(5, "Name"), "");    // no such row
  EXPECT_FALSE(first_table("not json"));
  EXPECT_FALSE(first_table(R"({"Tables":[]})"));
}

TEST(KustoManagement, SendsTheCommandAndSaysWhatTheServiceRefused) {
  ManualClock clock;
  FakeTransport t;
  azure::TokenProvider tokens(nullptr, clock);
  KustoManagement engine("https://c.kusto.windows.net", t, tokens, "hub2kusto", "1.2.3");
  t.then(
      200,
      R"({"Tables":[{"TableName":"Table_0","Columns":[{"ColumnName":"TableName"}],"Rows":[["T"]]}]})");
  auto tables = engine.table("db", ".show tables", std::chrono::seconds(5));
  ASSERT_TRUE(tables) << tables.error().reason;
  EXPECT_EQ(tables->text(0, "TableName"), "T");
  ASSERT_EQ(t.sent.size(), 1U);
  EXPECT_EQ(t.sent[0].url, "https://c.kusto.windows.net/v1/rest/mgmt");
  EXPECT_EQ(t.sent[0].body, R"({"csl":".show tables","db":"db"})");
  EXPECT_EQ(t.sent[0].timeout, std::chrono::seconds(5));

  t.then(400, one_api("BadRequest_DatabaseNotExist", "Database 'nope' was not found", true));
  auto missing = engine.table("nope", ".show tables", std::chrono::seconds(5));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().status, 400);
  EXPECT_EQ(missing.error().code, "BadRequest_DatabaseNotExist");
  EXPECT_NE(missing.error().reason.find("Database 'nope' was not found"), std::string::npos);

  t.then(200, "not a v1 answer");
  auto odd = engine.table("db", ".show tables", std::chrono::seconds(5));
  ASSERT_FALSE(odd);
  EXPECT_EQ(odd.error().reason, "the answer to '.show tables' is not a result table");

  t.then(azure::HttpResponse{0, "connection refused", {}, ""});
  auto down = engine.execute("db", ".show version", std::chrono::seconds(5));
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().status, 0);
  EXPECT_NE(down.error().reason.find("connection refused"), std::string::npos);
}

} // namespace
} // namespace hub2kusto::ingest
