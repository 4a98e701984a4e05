#include "ingest/queued_ingestor.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/encoding.hpp"
#include "common/gzip.hpp"
#include "support/fake_transport.hpp"
#include "support/manual_clock.hpp"

namespace hub2kusto::ingest {
namespace {

using fakes::FakeTransport;
using fakes::one_api;

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
    {"IngestionsStatusTable", "http://t/ingestionsstatus?sv=1&sig=TSIG"},
    {"TempStorage", "http://b/c0?sv=1&sig=B0SIG"},
    {"TempStorage", "http://b/c1?sv=1&sig=B1SIG"},
});
const std::string kIdentity = v1({{"identity-token"}});

Batch batch() {
  Batch b;
  b.id = "p3-10-19";
  b.target.database = DatabaseName("db");
  b.target.table = TableName("T");
  b.target.format = IngestFormat::csv;
  b.target.mapping = MappingName("m");
  b.data = "a,1\nb,2\n";
  return b;
}

class Queued : public ::testing::Test {
protected:
  ManualClock clock_{std::chrono::system_clock::time_point(std::chrono::hours(500'000))};
  FakeTransport t_;
  azure::TokenProvider tokens_{nullptr, clock_};
  QueuedIngestor queued_{options(), t_, tokens_, clock_};
  static QueuedOptions options() {
    QueuedOptions o;
    o.dm_url = "http://dm";
    o.report_scope = "scope-1";
    return o;
  }
  // The queue message the last ingest posted, decoded.
  nlohmann::json posted_message() const {
    const auto& post = t_.sent.back();
    const auto start = post.body.find("<MessageText>") + 13;
    const auto text = post.body.substr(start, post.body.find("</MessageText>") - start);
    return nlohmann::json::parse(*encoding::base64_decode(text));
  }
  // Resources, identity, upload, status entity, queue message: all accepted.
  void accept_one_ingestion() {
    t_.then(200, kResources);
    t_.then(200, kIdentity);
    t_.then(201, "");
    t_.then(204, "");
    t_.then(201, "");
  }
};

// The blob name's unique part, between the batch id and the format.
std::string unique_part(const std::string& blob) {
  const auto start = blob.find("p3-10-19__") + 10;
  return blob.substr(start, blob.find(".csv.gz") - start);
}

TEST_F(Queued, UploadsTheGzippedBatchThenPostsTheMessageTheSpecLists) {
  accept_one_ingestion();
  const auto d = queued_.ingest(batch());
  ASSERT_EQ(d.outcome, Outcome::delivered) << d.reason;
  EXPECT_EQ(d.path, IngestPath::queued);
  ASSERT_EQ(t_.sent.size(), 5U);
  EXPECT_NE(t_.sent[0].body.find(".get ingestion resources"), std::string::npos);
  const auto& put = t_.sent[2];
  EXPECT_EQ(put.method, "PUT");
  EXPECT_EQ(put.url.rfind("http://b/c0/hub2kusto__db__T__p3-10-19__", 0), 0U) << put.url;
  EXPECT_EQ(d.blob + "?sv=1&sig=B0SIG", put.url);
  EXPECT_EQ(gzip::decompress(put.body, 1 << 20, nullptr), std::optional<std::string>("a,1\nb,2\n"));
  EXPECT_EQ(t_.sent[4].url, "http://q/ready/messages?sv=1&sig=QSIG");
  const auto message = posted_message();
  EXPECT_EQ(message["BlobPath"], put.url);
  EXPECT_EQ(message["RawDataSize"], 8);
  EXPECT_EQ(message["DatabaseName"], "db");
  EXPECT_EQ(message["TableName"], "T");
  EXPECT_EQ(message["AdditionalProperties"]["authorizationContext"], "identity-token");
  EXPECT_EQ(message["AdditionalProperties"]["format"], "csv");
  EXPECT_EQ(message["AdditionalProperties"]["ingestionMappingReference"], "m");
  EXPECT_EQ(message["AdditionalProperties"]["ingestionMappingType"], "Csv");
  EXPECT_EQ(message["Id"].get<std::string>().size(), 36U);
  // The blob name carries the ingestion's id: unique on the cluster's shared containers.
  EXPECT_EQ(unique_part(d.blob), message["Id"]);
}

TEST_F(Queued, WithoutADeduplicationScopeNoTagsAreSent) {
  accept_one_ingestion();
  ASSERT_EQ(queued_.ingest(batch()).outcome, Outcome::delivered);
  const auto additional = posted_message()["AdditionalProperties"];
  EXPECT_FALSE(additional.contains("tags")) << additional;
  EXPECT_FALSE(additional.contains("ingestIfNotExists")) << additional;
}

TEST_F(Queued, ADeduplicationScopeTagsTheBatchAndAsksKustoToIngestItOnlyIfNotThere) {
  QueuedOptions o = options();
  o.deduplication_scope = "ns.servicebus.windows.net/telemetry";
  QueuedIngestor queued(o, t_, tokens_, clock_);
  accept_one_ingestion();
  ASSERT_EQ(queued.ingest(batch()).outcome, Outcome::delivered);
  const auto additional = posted_message()["AdditionalProperties"];
  // JSON arrays inside strings, as the SDKs write them.
  EXPECT_EQ(additional["tags"], R"(["ingest-by:ns.servicebus.windows.net/telemetry/p3-10-19"])");
  EXPECT_EQ(additional["ingestIfNotExists"], R"(["ns.servicebus.windows.net/telemetry/p3-10-19"])");
}

TEST_F(Queued, SkippedIngestionsAreCountedAsDuplicatesAndForgotten) {
  t_.then(200, kResources);
  t_.then(200, kIdentity);
  t_.then(200, R"({"value":[
      {"PartitionKey":"scope-1","RowKey":"id-1","Status":"Skipped","BatchId":"0-0-9"},
      {"PartitionKey":"scope-1","RowKey":"id-2","Status":"Succeeded","BatchId":"0-10-19"}]})");
  const auto polled = queued_.poll_failures();
  ASSERT_TRUE(polled.ok()) << polled.error().message;
  EXPECT_TRUE(polled->empty());
  EXPECT_EQ(queued_.duplicates_skipped(), 1U);
  ASSERT_EQ(t_.sent.size(), 5U); // both entities deleted
  EXPECT_EQ(t_.sent[3].method, "DELETE");
  EXPECT_EQ(t_.sent[4].method, "DELETE");
}

TEST_F(Queued, TheOutcomeIsReportedToAStatusEntityOfOurOwnInsertedBeforeTheMessage) {
  accept_one_ingestion();
  ASSERT_EQ(queued_.ingest(batch()).outcome, Outcome::delivered);
  const auto& insert = t_.sent[3];
  EXPECT_EQ(insert.method, "POST");
  EXPECT_EQ(insert.url, "http://t/ingestionsstatus?sv=1&sig=TSIG");
  const auto entity = nlohmann::json::parse(insert.body);
  const auto message = posted_message();
  EXPECT_EQ(entity["PartitionKey"], "scope-1");
  EXPECT_EQ(entity["RowKey"], message["Id"]);
  EXPECT_EQ(entity["Status"], "Pending");
  EXPECT_EQ(entity["BatchId"], "p3-10-19");
  EXPECT_EQ(entity["IngestionSourcePath"].get<std::string>().find("SIG"), std::string::npos);
  // FailuresAndSuccesses to the table: the SDKs refuse FailuresOnly with a table.
  EXPECT_EQ(message["ReportLevel"], 2);
  EXPECT_EQ(message["ReportMethod"], 1);
  EXPECT_EQ(message["IngestionStatusInTable"]["PartitionKey"], "scope-1");
  EXPECT_EQ(message["IngestionStatusInTable"]["RowKey"], message["Id"]);
  EXPECT_EQ(message["IngestionStatusInTable"]["TableConnectionString"],
            "http://t/ingestionsstatus?sv=1&sig=TSIG");
}

TEST_F(Queued, AJoinedRequestKeepsEveryPartsIdInItsStatusEntityAndItsFailureNamesThem) {
  accept_one_ingestion();
  Batch joined = batch();
  joined.parts = {"p3-10-19", "p4-0-7"};
  joined.id = "p3-10-19+1";
  ASSERT_EQ(queued_.ingest(joined).outcome, Outcome::delivered);
  const auto entity = nlohmann::json::parse(t_.sent[3].body);
  EXPECT_EQ(entity["BatchId"], "p3-10-19+1");
  EXPECT_EQ(entity["Parts"], "p3-10-19 p4-0-7");

  t_.then(200, R"({"value":[{"PartitionKey":"scope-1","RowKey":"id-bad","Status":"Failed",
       "BatchId":"p3-10-19+1","Parts":"p3-10-19 p4-0-7","ErrorCode":"BadRequest_NoRecords"}]})");
  const auto polled = queued_.poll_failures();
  ASSERT_TRUE(polled.ok()) << polled.error().message;
  ASSERT_EQ(polled->size(), 1U);
  EXPECT_EQ((*polled)[0].batch_id, "p3-10-19+1");
  EXPECT_EQ((*polled)[0].parts, (std::vector<std::string>{"p3-10-19", "p4-0-7"}));
}

TEST_F(Queued, TheSameBatchTwiceGetsTwoBlobNames) {
  accept_one_ingestion();
  t_.then(201, "");
  t_.then(204, "");
  t_.then(201, "");
  const auto a = queued_.ingest(batch());
  const auto b = queued_.ingest(batch());
  ASSERT_EQ(b.outcome, Outcome::delivered) << b.reason;
  EXPECT_NE(unique_part(a.blob), unique_part(b.blob));
}

TEST_F(Queued, AStatusTableThatRefusesTheEntityMakesTheBatchRetriableWithNoMessagePosted) {
  t_.then(200, kResources);
  t_.then(200, kIdentity);
  t_.then(201, "");
  t_.then(403, "");
  const auto d = queued_.ingest(batch());
  EXPECT_EQ(d.outcome, Outcome::retriable);
  EXPECT_NE(d.reason.find("status table"), std::string::npos) << d.reason;
  EXPECT_EQ(d.reason.find("SIG"), std::string::npos);
  EXPECT_EQ(t_.sent.size(), 4U);
}

TEST_F(Queued, AMessageTheQueueRefusedLeavesNoPendingEntityBehind) {
  t_.then(200, kResources);
  t_.then(200, kIdentity);
  t_.then(201, ""); // blob
  t_.then(204, ""); // status entity
  t_.then(503, ""); // queue message refused
  const auto d = queued_.ingest(batch());
  EXPECT_EQ(d.outcome, Outcome::retriable);
  ASSERT_EQ(t_.sent.size(), 6U);
  const auto entity = nlohmann::json::parse(t_.sent[3].body);
  EXPECT_EQ(t_.sent[5].method, "DELETE"); // else reported as never finished, days later
  EXPECT_EQ(t_.sent[5].url, "http://t/ingestionsstatus(PartitionKey='scope-1',RowKey='" +
                                entity["RowKey"].get<std::string>() + "')?sv=1&sig=TSIG");
}

TEST_F(Queued, PollReadsOnlyOurScopeReportsFailuresAndForgetsSuccesses) {
  t_.then(200, kResources);
  t_.then(200, kIdentity);
  t_.then(200, R"({"value":[
      {"PartitionKey":"scope-1","RowKey":"id-ok","Status":"Succeeded","BatchId":"0-0-9"},
      {"PartitionKey":"scope-1","RowKey":"id-bad","Status":"Failed","BatchId":"1-10-19",
       "IngestionSourcePath":"http://b/c0/x.csv.gz","Database":"db","Table":"T",
       "ErrorCode":"BadRequest_MappingReferenceWasNotFound","FailureStatus":"Permanent",
       "Details":"mapping 'm' not found"},
      {"PartitionKey":"scope-1","RowKey":"id-old","Status":"Pending","BatchId":"1-20-29"}]})");
  const auto polled = queued_.poll_failures();
  ASSERT_TRUE(polled.ok()) << polled.error().message;
  ASSERT_EQ(polled->size(), 2U);
  EXPECT_EQ((*polled)[0].batch_id, "1-10-19");
  EXPECT_EQ((*polled)[0].source_id, "id-bad");
  EXPECT_EQ((*polled)[0].error_code, "BadRequest_MappingReferenceWasNotFound");
  EXPECT_EQ((*polled)[0].blob, "http://b/c0/x.csv.gz");
  EXPECT_TRUE((*polled)[0].permanent);
  EXPECT_EQ((*polled)[1].batch_id, "1-20-29");
  EXPECT_EQ((*polled)[1].error_code, "NoStatusReported");
  // The query names our scope; the succeeded entity is deleted at once, the failed ones not.
  const auto& query = t_.sent[2];
  EXPECT_EQ(query.method, "GET");
  EXPECT_EQ(query.url.rfind("http://t/ingestionsstatus()?sv=1&sig=TSIG&", 0), 0U) << query.url;
  EXPECT_NE(query.url.find("PartitionKey%20eq%20%27scope-1%27"), std::string::npos) << query.url;
  ASSERT_EQ(t_.sent.size(), 4U);
  EXPECT_EQ(t_.sent[3].method, "DELETE");
  EXPECT_EQ(t_.sent[3].url,
            "http://t/ingestionsstatus(PartitionKey='scope-1',RowKey='id-ok')?sv=1&sig=TSIG");
  queued_.acknowledge(*polled);
  ASSERT_EQ(t_.sent.size(), 6U);
  EXPECT_NE(t_.sent[4].url.find("RowKey='id-bad'"), std::string::npos);
  EXPECT_NE(t_.sent[5].url.find("RowKey='id-old'"), std::string::npos);
}

TEST_F(Queued, AnIdentityTheDataManagementServiceRefusesIsATargetProblem) {
  t_.then(403, one_api("Forbidden", "Principal is not authorized", true));
  const auto forbidden = queued_.ingest(batch());
  EXPECT_EQ(forbidden.outcome, Outcome::retriable);
  EXPECT_EQ(forbidden.target_problem, DeliveryStatus::TargetProblem::credentials);
  EXPECT_NE(forbidden.reason.find("'.get ingestion resources'"), std::string::npos)
      << forbidden.reason;
  t_.then(404, "");
  EXPECT_EQ(queued_.ingest(batch()).target_problem, DeliveryStatus::TargetProblem::missing_entity);
  t_.then(503, one_api("General_ServiceUnavailable", "busy", false));
  const auto busy = queued_.ingest(batch());
  EXPECT_EQ(busy.outcome, Outcome::retriable);
  EXPECT_EQ(busy.target_problem, DeliveryStatus::TargetProblem::none); // an outage passes
}

TEST_F(Queued, ResourcesWithoutAStatusTableAreRefused) {
  t_.then(200, v1({{"SecuredReadyForAggregationQueue", "http://q/ready?sig=Q"},
                   {"TempStorage", "http://b/c0?sig=B"}}));
  t_.then(200, kIdentity);
  const auto r = queued_.resources();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().reason.find("IngestionsStatusTable"), std::string::npos);
}

TEST_F(Queued, AFailingContainerIsSkippedAndTheNextUploadUsesTheOther) {
  t_.then(200, kResources);
  t_.then(200, kIdentity);
  t_.then(503, ""); // c0 fails
  t_.then(201, ""); // c1 takes it
  t_.then(204, ""); // status entity
  t_.then(201, ""); // queue
  const auto d = queued_.ingest(batch());
  ASSERT_EQ(d.outcome, Outcome::delivered) << d.reason;
  EXPECT_EQ(d.blob.rfind("http://b/c1/hub2kusto__db__T__p3-10-19__", 0), 0U) << d.blob;
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
  accept_one_ingestion();                             // resources fetched again for the next batch
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
