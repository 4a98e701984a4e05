// The Kusto emulator's command parser, KQL subset and ingestion, without HTTP.
#include <gtest/gtest.h>

#include "catalog.hpp"
#include "commands.hpp"
#include "kql.hpp"

namespace hub2kusto::kusto_emulator {
namespace {

class KustoEmulator : public ::testing::Test {
protected:
  KustoEmulator() { catalog_.databases["db"].name = "db"; }

  ResultTable command(const std::string& text) {
    auto r = run_command(catalog_, "db", text, dm_);
    if (const auto* e = std::get_if<ServiceError>(&r)) {
      ADD_FAILURE() << text << ": " << e->code << ": " << e->message;
      return {};
    }
    return std::get<ResultTable>(r);
  }
  ServiceError refused(const std::string& text) {
    auto r = run_command(catalog_, "db", text, dm_);
    EXPECT_TRUE(std::holds_alternative<ServiceError>(r)) << text;
    return std::holds_alternative<ServiceError>(r) ? std::get<ServiceError>(r) : ServiceError{};
  }
  ResultTable query(const std::string& text) {
    auto r = run_query(*catalog_.database("db"), text);
    if (const auto* e = std::get_if<ServiceError>(&r)) {
      ADD_FAILURE() << text << ": " << e->message;
      return {};
    }
    return std::get<ResultTable>(r);
  }
  std::size_t ingest_csv(const std::string& body) {
    Database& db = *catalog_.database("db");
    auto r = ingest(db, *db.table("T"), {body, mappings::DataFormat::csv, "", "", false, "", ""});
    EXPECT_TRUE(std::holds_alternative<std::size_t>(r));
    return std::holds_alternative<std::size_t>(r) ? std::get<std::size_t>(r) : 0;
  }

  Catalog catalog_;
  DataManagementInfo dm_{{{"TempStorage", "http://blob/c?sig"}}, "identity"};
};

TEST_F(KustoEmulator, TablesSchemasAndMerge) {
  command(".create table T (Name:string, ['Value']:long)");
  command(".create table T (Other:int)"); // exists: silently kept as it was
  EXPECT_EQ(command(".show table T cslschema").rows[0][1], "Name:string,Value:long");
  command(".create-merge table T (Extra:dynamic)");
  EXPECT_EQ(command(".show table T cslschema").rows[0][1], "Name:string,Value:long,Extra:dynamic");
  EXPECT_EQ(command(".show tables").rows.size(), 1u);
  EXPECT_EQ(refused(".drop table Nope").code, "BadRequest_TableNotExist");
  command(".drop table Nope ifexists");
  EXPECT_EQ(refused(".create table X (a:colour)").code, "BadRequest_SyntaxError");
  EXPECT_EQ(refused(".frobnicate everything").code, "BadRequest_SyntaxError");
}

TEST_F(KustoEmulator, MappingsAreCheckedAgainstTheTable) {
  command(".create table T (Name:string, Value:long)");
  command(
      R"(.create table T ingestion json mapping 'm' '[{"column":"Value","Properties":{"Path":"$.v"}}]')");
  EXPECT_EQ(
      refused(
          R"(.create table T ingestion json mapping 'm' '[{"column":"Value","Properties":{"Path":"$.w"}}]')")
          .code,
      "BadRequest_DuplicateMapping");
  command(
      R"(.create-or-alter table T ingestion json mapping "m" ```[{"column":"Value","Properties":{"Path":"$.w"}}]```)");
  EXPECT_NE(
      command(".show table T ingestion json mappings").rows[0][2].get<std::string>().find("$.w"),
      std::string::npos);
  EXPECT_EQ(
      refused(
          R"(.create table T ingestion json mapping 'x' '[{"column":"Nope","Properties":{"Path":"$.v"}}]')")
          .code,
      "BadRequest_InvalidMapping");
  command(".drop table T ingestion json mapping 'm'");
  EXPECT_TRUE(command(".show table T ingestion mappings").rows.empty());
}

TEST_F(KustoEmulator, StreamingPolicyTableWinsOverDatabase) {
  command(".create table T (Name:string)");
  Database& db = *catalog_.database("db");
  EXPECT_FALSE(db.streaming_enabled(*db.table("T")));
  command(".alter database db policy streamingingestion enable");
  EXPECT_TRUE(db.streaming_enabled(*db.table("T")));
  command(
      R"(.alter table T policy streamingingestion '{"IsEnabled": false, "HintAllocatedRate": 2.5}')");
  EXPECT_FALSE(db.streaming_enabled(*db.table("T")));
  const auto shown = command(".show table T policy streamingingestion");
  EXPECT_EQ(shown.rows[0][2], R"({"HintAllocatedRate":2.5,"IsEnabled":false})");
  command(".delete table T policy streamingingestion");
  EXPECT_TRUE(command(".show table T policy streamingingestion").rows[0][2].is_null());
  EXPECT_TRUE(db.streaming_enabled(*db.table("T")));
}

TEST_F(KustoEmulator, IngestionResourcesAndIdentityToken) {
  EXPECT_EQ(command(".get ingestion resources").rows[0][0], "TempStorage");
  EXPECT_EQ(command(".show ingestion resources with (EnableBlobCors='true')").rows.size(), 1u);
  EXPECT_EQ(command(".get kusto identity token").rows[0][0], "identity");
}

TEST_F(KustoEmulator, QueriesOverTypedRows) {
  command(".create table T (Name:string, Value:long, At:datetime)");
  EXPECT_EQ(ingest_csv("b,2,2026-01-02T00:00:00Z\na,1,2026-01-01T00:00:00Z\nb,3,\n"), 3u);
  EXPECT_EQ(query("T | count").rows[0][0], 3);
  EXPECT_EQ(query("T | where Value > 1 | count").rows[0][0], 2);
  const auto ordered = query("T | order by Value asc");
  EXPECT_EQ(ordered.rows[0][0], "a");
  EXPECT_EQ(query("T | order by Value").rows[0][1], 3); // desc by default
  EXPECT_EQ(query("T | take 1").rows.size(), 1u);
  const auto grouped = query("T | summarize count() by Name");
  EXPECT_EQ(grouped.columns[1].first, "count_");
  EXPECT_EQ(grouped.rows[0], nlohmann::json::array({"b", 2}));
  EXPECT_EQ(query("T | where At < '2026-01-02' | count").rows[0][0], 1);
  EXPECT_EQ(query("T | where Name =~ 'A' | count").rows[0][0], 1);
}

TEST_F(KustoEmulator, SummarizeGroupsEqualValuesInFirstSeenOrder) {
  command(".create table T (Name:string, Value:real)");
  EXPECT_EQ(ingest_csv("a,1\nb,2.5\nc,1.0\nd,\ne,-0\nf,0\ng,2.5\nh,\n"), 8u);
  const auto byValue = query("T | summarize count() by Value");
  ASSERT_EQ(byValue.rows.size(), 4u);
  EXPECT_EQ(byValue.rows[0][1], 2); // 1 and 1.0
  EXPECT_EQ(byValue.rows[1][1], 2); // 2.5 twice
  EXPECT_TRUE(byValue.rows[2][0].is_null());
  EXPECT_EQ(byValue.rows[2][1], 2); // the two empty values
  EXPECT_EQ(byValue.rows[3][1], 2); // -0 and 0
  EXPECT_EQ(query("T | summarize count() by Name").rows.size(), 8u);
}

TEST_F(KustoEmulator, QueryErrorsNameWhatIsWrong) {
  command(".create table T (Name:string)");
  auto err = [&](const std::string& q) {
    auto r = run_query(*catalog_.database("db"), q);
    return std::holds_alternative<ServiceError>(r) ? std::get<ServiceError>(r).message : "";
  };
  EXPECT_NE(err("Nope").find("'Nope' could not be resolved"), std::string::npos);
  EXPECT_NE(err("T | where Colour == 1").find("unknown column 'Colour'"), std::string::npos);
  EXPECT_NE(err("T | project Name").find("unsupported operator"), std::string::npos);
}

TEST_F(KustoEmulator, IngestionIsAllOrNothingWithTheServiceErrors) {
  command(".create table T (Name:string, Value:long)");
  Database& db = *catalog_.database("db");
  auto r = ingest(db, *db.table("T"),
                  {"a,1\nb,\"open", mappings::DataFormat::csv, "", "", false, "", ""});
  ASSERT_TRUE(std::holds_alternative<IngestFailure>(r));
  EXPECT_EQ(std::get<IngestFailure>(r).error.code, "BadRequest_NoRecordsOrWrongFormat");
  EXPECT_TRUE(db.table("T")->rows.empty());
  r = ingest(db, *db.table("T"), {"{}", mappings::DataFormat::json, "missing", "", false, "", ""});
  EXPECT_EQ(std::get<IngestFailure>(r).error.code, "BadRequest_MappingReferenceWasNotFound");
  r = ingest(db, *db.table("T"), {"", mappings::DataFormat::csv, "", "", false, "", ""});
  EXPECT_EQ(std::get<IngestFailure>(r).error.code, "Stream_NoDataToIngest");
  EXPECT_EQ(ingest_csv("Name,Value\nx,5\n"), 2u); // no header handling without ignoreFirstRecord
  auto skipped = ingest(db, *db.table("T"),
                        {"Name,Value\ny,6\n", mappings::DataFormat::csv, "", "", true, "", ""});
  EXPECT_EQ(std::get<std::size_t>(skipped), 1u);
}

TEST_F(KustoEmulator, PooledMappersAreReusedOnlyForTheSameSchemaMappingAndFormat) {
  command(".create table T (Name:string, Value:long)");
  command(R"(.create table T ingestion json mapping 'm' '[{"column":"Name","Properties":)"
          R"({"Path":"$.n"}},{"column":"Value","Properties":{"Path":"$.v"}}]')");
  MapperPool pool;
  const auto map = [&](const std::string& body) {
    Database& db = *catalog_.database("db");
    const IngestRequest req{body, mappings::DataFormat::json, "m", "", false, "", ""};
    auto prepared = prepare_ingest(db, *db.table("T"), req, &pool);
    EXPECT_TRUE(std::holds_alternative<PreparedIngest>(prepared));
    auto mapped = map_ingest(std::get<PreparedIngest>(prepared), req);
    pool.give(std::move(std::get<PreparedIngest>(prepared)));
    EXPECT_TRUE(std::holds_alternative<Table::Pending>(mapped));
    return std::holds_alternative<Table::Pending>(mapped) ? std::get<Table::Pending>(mapped).lines
                                                          : std::string();
  };
  EXPECT_EQ(map(R"({"n":"a","v":1})"), "{\"Name\":\"a\",\"Value\":1}\n");
  EXPECT_EQ(map(R"({"n":"b","v":2})"), "{\"Name\":\"b\",\"Value\":2}\n"); // a pooled mapper
  // The mapping changes: the pooled mapper (paths $.n, $.v) must not be used.
  command(R"(.create-or-alter table T ingestion json mapping 'm' '[{"column":"Name","Properties":)"
          R"({"Path":"$.name"}},{"column":"Value","Properties":{"Path":"$.v"}}]')");
  EXPECT_EQ(map(R"({"name":"c","v":3})"), "{\"Name\":\"c\",\"Value\":3}\n");
  // So does the schema: the same table name and mapping text, Value now a string.
  command(".drop table T");
  command(".create table T (Name:string, Value:string)");
  command(R"(.create table T ingestion json mapping 'm' '[{"column":"Name","Properties":)"
          R"({"Path":"$.name"}},{"column":"Value","Properties":{"Path":"$.v"}}]')");
  EXPECT_EQ(map(R"({"name":"d","v":4})"), "{\"Name\":\"d\",\"Value\":\"4\"}\n");
}

TEST(KustoEmulatorCatalog, TheIngestionTimeColumnIsStampedOnEveryIngestedRow) {
  Catalog catalog;
  auto& db = catalog.databases["db"];
  db.name = "db";
  auto& t = db.tables["T"];
  t.name = "T";
  t.schema = mappings::parse_schema("Name:string,At:datetime").value();
  auto r = ingest(db, t,
                  {"a,2020-01-01T00:00:00Z\nb,\n", mappings::DataFormat::csv, "", "", false, "At",
                   "2026-11-25T01:00:00.0000000Z"});
  ASSERT_TRUE(std::holds_alternative<std::size_t>(r));
  EXPECT_EQ(t.row_count(), 2U);
  const auto& rows = t.all_rows(); // parsed on first use
  ASSERT_EQ(rows.size(), 2U);
  EXPECT_EQ(rows[0][1], "2026-11-25T01:00:00.0000000Z");
  EXPECT_EQ(rows[1][1], "2026-11-25T01:00:00.0000000Z");
  EXPECT_EQ(rows[0][0], "a");
  EXPECT_EQ(t.row_count(), 2U);
}

} // namespace
} // namespace hub2kusto::kusto_emulator
