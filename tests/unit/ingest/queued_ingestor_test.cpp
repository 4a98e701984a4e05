#include "ingest/queued_ingestor.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/encoding.hpp"
#include "common/gzip.hpp"
#include "fake_transport.hpp"

namespace hub2kusto::ingest {
namespace {

using namespace std::chrono_literals;

std::string v1(const std::vector<std::vector<std::string>>& rows) {
  nlohmann::json r = nlohmann::json::array();
  for (const auto& row : rows) {
    r.push_back(row);
  }
  return nlohmann::json{{"Tables", {{{"TableName", "Table_0"}, {"Rows", r}}}}}.dump();
}

const std::string kResources = v1({
    {"SecuredReadyForAggregationQueue", "http://q/ready?sv=1&sig=QSIG"},
    {"FailedIngestionsQueue", "http://q/failed?sv=1&sig=FSIG"},
    {"TempStorage", "http://b/c0?sv=1&sig=B0SIG"},
    {"TempStorage", "http://b/c1?sv=1&sig=B1SIG"},
});
const std::string kIdentity = v1({{"identity-token"}});

Batch batch() {
  Batch b;
  b.id = "p3-10-19";
  b.target.database = DatabaseName("db");
  b.target.table = TableName("T");
  b.target.format = "csv";
  b.target.mapping = MappingName("m");
  b.data = "a,1\nb,2\n";
  return b;
}

class Queued : public ::testing::Test {
protected:
  ManualClock clock_{std::chrono::system_clock::time_point(std::chrono::hours(500'000))};
  FakeTransport t_;
  TokenProvider tokens_{nullptr, clock_};
  QueuedIngestor queued_{options(), t_, tokens_, clock_};
  static QueuedOptions options() {
    QueuedOptions o;
    o.dm_url = "http://dm";
    return o;
  }
};

TEST_F(Queued, UploadsTheGzippedBatchThenPostsTheMessageTheSpecLists) {
  t_.then(200, kResources);
  t_.then(200, kIdentity);
  t_.then(201, "");
  t_.then(201, "");
  const auto d = queued_.ingest(batch());
  ASSERT_EQ(d.outcome, Outcome::delivered) << d.reason;
  EXPECT_EQ(d.path, IngestPath::queued);
  EXPECT_EQ(d.blob, "http://b/c0/hub2kusto__db__T__p3-10-19.csv.gz");
  ASSERT_EQ(t_.sent.size(), 4U);
  EXPECT_NE(t_.sent[0].body.find(".get ingestion resources"), std::string::npos);
  const auto& put = t_.sent[2];
  EXPECT_EQ(put.method, "PUT");
  EXPECT_EQ(put.url, "http://b/c0/hub2kusto__db__T__p3-10-19.csv.gz?sv=1&sig=B0SIG");
  EXPECT_EQ(gzip::decompress(put.body, 1 << 20, nullptr), std::optional<std::string>("a,1\nb,2\n"));
  const auto& post = t_.sent[3];
  EXPECT_EQ(post.url, "http://q/ready/messages?sv=1&sig=QSIG");
  const auto start = post.body.find("<MessageText>") + 13;
  const auto text = post.body.substr(start, post.body.find("</MessageText>") - start);
  const auto message = nlohmann::json::parse(*encoding::base64_decode(text));
  EXPECT_EQ(message["BlobPath"], put.url);
  EXPECT_EQ(message["RawDataSize"], 8);
  EXPECT_EQ(message["DatabaseName"], "db");
  EXPECT_EQ(message["TableName"], "T");
  EXPECT_EQ(message["ReportLevel"], 0);
  EXPECT_EQ(message["ReportMethod"], 0);
  EXPECT_EQ(message["AdditionalProperties"]["authorizationContext"], "identity-token");
  EXPECT_EQ(message["AdditionalProperties"]["format"], "csv");
  EXPECT_EQ(message["AdditionalProperties"]["ingestionMappingReference"], "m");
  EXPECT_EQ(message["AdditionalProperties"]["ingestionMappingType"], "Csv");
  EXPECT_EQ(message["Id"].get<std::string>().size(), 36U);
}

TEST_F(Queued, AFailingContainerIsSkippedAndTheNextUploadUsesTheOther) {
  t_.then(200, kResources);
  t_.then(200, kIdentity);
  t_.then(503, ""); // c0 fails
  t_.then(201, ""); // c1 takes it
  t_.then(201, ""); // queue
  const auto d = queued_.ingest(batch());
  ASSERT_EQ(d.outcome, Outcome::delivered) << d.reason;
  EXPECT_EQ(d.blob, "http://b/c1/hub2kusto__db__T__p3-10-19.csv.gz");
}

TEST_F(Queued, NoContainerTakingTheBlobIsRetriableAndRefreshesTheResources) {
  t_.then(200, kResources);
  t_.then(200, kIdentity);
  t_.then(403, "");
  t_.then(403, "");
  const auto d = queued_.ingest(batch());
  EXPECT_EQ(d.outcome, Outcome::retriable);
  EXPECT_NE(d.reason.find("could not be uploaded"), std::string::npos);
  EXPECT_EQ(d.reason.find("SIG"), std::string::npos); // no SAS in the reason
  t_.then(200, kResources);                           // fetched again for the next batch
  t_.then(200, kIdentity);
  t_.then(201, "");
  t_.then(201, "");
  EXPECT_EQ(queued_.ingest(batch()).outcome, Outcome::delivered);
}

TEST_F(Queued, ResourcesAreCachedForAnHour) {
  t_.then(200, kResources);
  t_.then(200, kIdentity);
  ASSERT_TRUE(queued_.resources().ok());
  ASSERT_TRUE(queued_.resources().ok());
  EXPECT_EQ(t_.sent.size(), 2U);
  clock_.advance(61min);
  t_.then(200, kResources);
  t_.then(200, kIdentity);
  ASSERT_TRUE(queued_.resources().ok());
  EXPECT_EQ(t_.sent.size(), 4U);
}

TEST(QueuedIds, UuidsAreVersionFour) {
  const std::string u = make_uuid();
  ASSERT_EQ(u.size(), 36U);
  EXPECT_EQ(u[14], '4');
  EXPECT_NE(make_uuid(), u);
}

} // namespace
} // namespace hub2kusto::ingest
