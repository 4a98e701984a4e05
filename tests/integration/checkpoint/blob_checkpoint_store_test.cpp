// BlobCheckpointStore against Azurite (the real Azure Storage emulator), checked with the
// official blob checkpoint store of the Azure SDK for JavaScript: what we write it reads, and
// what it writes we read.
#include "checkpoint/blob_checkpoint_store.hpp"

#include <algorithm>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "checkpoint/official_store.hpp"
#include "checkpoint/scope.hpp"
#include "pipeline/dead_letter_store.hpp"
#include "support/kusto_emulator.hpp"

namespace hub2kusto::checkpoint {
namespace {

using namespace std::chrono_literals;
using testing::Azurite;
using testing::ChildProcess;

// Counts the requests a store sends through it.
class CountingTransport final : public azure::HttpTransport {
public:
  explicit CountingTransport(azure::HttpTransport& inner) : inner_(inner) {}
  azure::HttpResponse send(const azure::HttpRequest& request) override {
    methods.push_back(request.method);
    return inner_.send(request);
  }
  std::vector<std::string> methods;

private:
  azure::HttpTransport& inner_;
};

class BlobStore : public ::testing::Test {
protected:
  // A store on its own client; the requests it sends are counted in counting_.
  BlobCheckpointStore store(const std::string& key = Azurite::kDevKey) {
    blobs_ = std::make_unique<azure::BlobClient>(
        azure::parse_storage_connection_string(azurite_.blob_connection_string(key)).value(),
        counting_, clock_);
    return BlobCheckpointStore(*blobs_, "checkpoints", kScope);
  }
  Azurite azurite_;
  SystemClock clock_;
  std::unique_ptr<azure::HttpTransport> transport_ = azure::make_http_transport();
  CountingTransport counting_{*transport_};
  std::unique_ptr<azure::BlobClient> blobs_;
};

TEST_F(BlobStore, SavesWhereTheOfficialBlobCheckpointStoreReadsThem) {
  ASSERT_TRUE(azurite_.running()) << azurite_.stderr_text();
  auto s = store();
  const auto prepared = s.prepare();
  ASSERT_TRUE(prepared) << prepared.error().message;
  ASSERT_TRUE(s.prepare()); // the container exists now: still fine
  EXPECT_EQ(s.blob_name(PartitionId("0")),
            "myns.servicebus.windows.net/telemetry/$default/checkpoint/0");
  ASSERT_TRUE(s.save(PartitionId("0"), {SequenceNumber(42), Offset("4200")}));
  ASSERT_TRUE(s.save(PartitionId("1"), {SequenceNumber(7), Offset("70")}));
  ASSERT_TRUE(s.save(PartitionId("0"), {SequenceNumber(43), Offset("4300")})); // metadata only
  const auto listed = nlohmann::json::parse(
      official_store({"list", azurite_.blob_connection_string(), "checkpoints",
                      "MyNS.servicebus.windows.net", "Telemetry", "$Default"}));
  EXPECT_EQ(listed,
            nlohmann::json::parse(R"([{"partitionId":"0","sequenceNumber":43,"offset":"4300"},
                                              {"partitionId":"1","sequenceNumber":7,"offset":"70"}])"));
}

TEST_F(BlobStore, AFirstSaveAfterALoadThatFoundNoCheckpointIsOneRequest) {
  ASSERT_TRUE(azurite_.running()) << azurite_.stderr_text();
  auto s = store();
  ASSERT_TRUE(s.prepare());
  const auto none = s.load(PartitionId("5"));
  ASSERT_TRUE(none);
  ASSERT_FALSE(*none);
  counting_.methods.clear();
  ASSERT_TRUE(s.save(PartitionId("5"), {SequenceNumber(9), Offset("90")}));
  EXPECT_EQ(counting_.methods, std::vector<std::string>{"PUT"}); // not a refused metadata write
  counting_.methods.clear();
  ASSERT_TRUE(s.save(PartitionId("5"), {SequenceNumber(10), Offset("100")}));
  EXPECT_EQ(counting_.methods, std::vector<std::string>{"PUT"});
  const auto listed = nlohmann::json::parse(
      official_store({"list", azurite_.blob_connection_string(), "checkpoints",
                      "MyNS.servicebus.windows.net", "Telemetry", "$Default"}));
  EXPECT_EQ(listed,
            nlohmann::json::parse(R"([{"partitionId":"5","sequenceNumber":10,"offset":"100"}])"));
}

TEST_F(BlobStore, ManyPartitionsAreReadInOneListingThatAgreesWithTheirOwnReads) {
  ASSERT_TRUE(azurite_.running()) << azurite_.stderr_text();
  auto s = store();
  ASSERT_TRUE(s.prepare());
  ASSERT_TRUE(s.save(PartitionId("1"), {SequenceNumber(11), Offset("110")}));
  ASSERT_TRUE(s.save(PartitionId("10"), {SequenceNumber(100), Offset("1000")}));
  EXPECT_EQ(
      official_store({"update", azurite_.blob_connection_string(), "checkpoints",
                      "MyNS.servicebus.windows.net", "Telemetry", "$Default", "4", "44", "440"}),
      "updated");
  const std::vector<PartitionId> partitions{PartitionId("0"), PartitionId("1"), PartitionId("4"),
                                            PartitionId("10"), PartitionId("12")};
  counting_.methods.clear();
  const auto listed = s.load_many(partitions);
  ASSERT_TRUE(listed) << listed.error().message;
  EXPECT_EQ(counting_.methods, std::vector<std::string>{"GET"}); // one List Blobs, one page
  std::vector<std::optional<Checkpoint>> one_by_one;
  for (const auto& p : partitions) {
    one_by_one.push_back(s.load(p).value());
  }
  EXPECT_EQ(*listed, one_by_one);
  EXPECT_EQ(*listed, (std::vector<std::optional<Checkpoint>>{
                         std::nullopt, Checkpoint{SequenceNumber(11), Offset("110")},
                         Checkpoint{SequenceNumber(44), Offset("440")},
                         Checkpoint{SequenceNumber(100), Offset("1000")}, std::nullopt}));
  // Found absent by the listing: the first save creates the blob in one request.
  ASSERT_TRUE(s.load_many(partitions));
  counting_.methods.clear();
  ASSERT_TRUE(s.save(PartitionId("12"), {SequenceNumber(1), Offset("10")}));
  EXPECT_EQ(counting_.methods, std::vector<std::string>{"PUT"});
}

TEST_F(BlobStore, LoadsWhatTheOfficialBlobCheckpointStoreWrote) {
  ASSERT_TRUE(azurite_.running()) << azurite_.stderr_text();
  auto s = store();
  ASSERT_TRUE(s.prepare());
  EXPECT_EQ(
      official_store({"update", azurite_.blob_connection_string(), "checkpoints",
                      "MyNS.servicebus.windows.net", "Telemetry", "$Default", "2", "99", "990"}),
      "updated");
  const auto loaded = s.load(PartitionId("2"));
  ASSERT_TRUE(loaded) << loaded.error().message;
  ASSERT_TRUE(*loaded);
  EXPECT_EQ((*loaded)->sequence_number.value(), 99);
  EXPECT_EQ((*loaded)->offset.value(), "990");
  const auto none = s.load(PartitionId("3"));
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
}

TEST_F(BlobStore, AWrongAccountKeyIsRefusedAndTheErrorCarriesNoKey) {
  ASSERT_TRUE(azurite_.running()) << azurite_.stderr_text();
  const std::string wrong = "V3JvbmdLZXlWYWx1ZVdyb25nS2V5VmFsdWVXcm9uZ0tleVZhbHVl";
  auto s = store(wrong);
  const auto prepared = s.prepare();
  ASSERT_FALSE(prepared);
  EXPECT_NE(prepared.error().message.find("HTTP 403"), std::string::npos)
      << prepared.error().message;
  EXPECT_NE(prepared.error().message.find("'checkpoints'"), std::string::npos);
  EXPECT_EQ(prepared.error().message.find(wrong), std::string::npos);
}

} // namespace
} // namespace hub2kusto::checkpoint

namespace hub2kusto::pipeline {
namespace {

TEST(BlobDeadLetters, EachWriteIsABlobOfJsonLinesTheSdkReads) {
  testing::Azurite azurite;
  ASSERT_TRUE(azurite.running()) << azurite.stderr_text();
  SystemClock clock;
  auto transport = azure::make_http_transport();
  azure::BlobClient blobs(
      azure::parse_storage_connection_string(azurite.blob_connection_string()).value(), *transport,
      clock);
  BlobDeadLetterStore store(blobs, "dead-letters", "telemetry", clock);
  ASSERT_TRUE(store.prepare());
  DeadLetter d;
  d.stage = "mapping";
  d.reason = "record 1, byte 7: malformed JSON";
  d.partition = PartitionId("3");
  d.sequence_number = SequenceNumber(41);
  d.offset = Offset("4100");
  d.body = "{\"n\":";
  ASSERT_TRUE(store.write({d}));
  d.sequence_number = SequenceNumber(42);
  ASSERT_TRUE(store.write({d}));

  testing::ChildProcess node({"node",
                              HUB2KUSTO_SOURCE_DIR "/tests/integration/checkpoint/checkpoints.js",
                              "blobs", azurite.blob_connection_string(), "dead-letters"});
  const auto line = node.read_line(std::chrono::seconds(60));
  ASSERT_EQ(node.wait_exit(std::chrono::seconds(60)), 0) << node.stderr_text();
  ASSERT_TRUE(line);
  const auto blobs_seen = nlohmann::json::parse(*line);
  ASSERT_EQ(blobs_seen.size(), 2U) << *line;
  std::vector<std::int64_t> sequence_numbers;
  for (const auto& [name, content] : blobs_seen.items()) {
    EXPECT_EQ(name.rfind("telemetry/3/", 0), 0U) << name;
    const auto record = nlohmann::json::parse(content.get<std::string>());
    EXPECT_EQ(record["stage"], "mapping");
    EXPECT_EQ(record["body"], "{\"n\":");
    EXPECT_EQ(record["reason"], "record 1, byte 7: malformed JSON");
    sequence_numbers.push_back(record["sequence_number"].get<std::int64_t>());
  }
  std::sort(sequence_numbers.begin(), sequence_numbers.end());
  EXPECT_EQ(sequence_numbers, (std::vector<std::int64_t>{41, 42}));
}

} // namespace
} // namespace hub2kusto::pipeline
