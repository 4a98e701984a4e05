#include "azure/storage.hpp"

#include <chrono>

#include <gtest/gtest.h>

#include "azure/blob_client.hpp"
#include "azure/queue_client.hpp"
#include "azure/table_client.hpp"
#include "support/fake_transport.hpp"
#include "support/manual_clock.hpp"

namespace hub2kusto::azure {
namespace {

using fakes::FakeTransport;
using namespace std::chrono_literals;

TEST(StorageUrl, TheSignatureIsKeptApartFromThePrintableBase) {
  const auto url = StorageUrl::parse("https://a.queue.core.windows.net/q1?sv=1&sig=SECRET");
  EXPECT_EQ(url.base, "https://a.queue.core.windows.net/q1");
  EXPECT_EQ(url.sas.reveal(), "sv=1&sig=SECRET");
  EXPECT_EQ(url.with("/messages"), "https://a.queue.core.windows.net/q1/messages?sv=1&sig=SECRET");
  EXPECT_EQ(StorageUrl::parse("http://h/t").with(""), "http://h/t");
}

TEST(StorageDate, IsRfc1123InGmt) {
  const auto t = std::chrono::sys_days{std::chrono::December / 1 / 2026} + 10h + 2min + 3s;
  EXPECT_EQ(rfc1123_date(t), "Tue, 01 Dec 2026 10:02:03 GMT");
}

TEST(SasContainer, SplitsTheAccountEndpointFromTheContainer) {
  const auto azurite =
      sas_container(StorageUrl::parse("http://127.0.0.1:10000/devstoreaccount1/temp0?sig=S"));
  EXPECT_EQ(azurite.account.blob_endpoint, "http://127.0.0.1:10000/devstoreaccount1");
  EXPECT_EQ(azurite.container, "temp0");
  EXPECT_EQ(azurite.account.shared_access_signature.reveal(), "sig=S");
  const auto cloud = sas_container(StorageUrl::parse("https://a.blob.core.windows.net/c?sig=S"));
  EXPECT_EQ(cloud.account.blob_endpoint, "https://a.blob.core.windows.net");
  EXPECT_EQ(cloud.container, "c");
}

// Every storage client names one service version and dates its requests the same way.
TEST(StorageClients, NameOneVersionPerServiceAndOneDateFormat) {
  ManualClock clock(std::chrono::sys_days{std::chrono::December / 1 / 2026});
  FakeTransport t;
  t.then(201, "");
  t.then(201, "");
  t.then(204, "");
  const auto container = sas_container(StorageUrl::parse("http://b/c0?sig=B"));
  BlobClient blobs(container.account, t, clock);
  ASSERT_TRUE(blobs.put_block_blob(container.container, "x.csv.gz", "body").ok());
  QueueClient queue(StorageUrl::parse("http://q/ready?sig=Q"), t, clock, 5s);
  ASSERT_TRUE(queue.put_message("a<b").ok());
  TableClient table(StorageUrl::parse("http://t/status?sig=T"), t, clock, 5s);
  ASSERT_TRUE(table.insert({{"PartitionKey", "p"}, {"RowKey", "r"}}).ok());
  ASSERT_EQ(t.sent.size(), 3U);
  const auto header = [](const HttpRequest& r, const std::string& name) {
    for (const auto& [k, v] : r.headers) {
      if (k == name) {
        return v;
      }
    }
    return std::string();
  };
  EXPECT_EQ(t.sent[0].url, "http://b/c0/x.csv.gz?sig=B");
  EXPECT_EQ(header(t.sent[0], "x-ms-version"), kStorageVersion);
  EXPECT_EQ(header(t.sent[1], "x-ms-version"), kStorageVersion);
  EXPECT_EQ(header(t.sent[2], "x-ms-version"), kTableVersion);
  for (const auto& sent : t.sent) {
    EXPECT_EQ(header(sent, "x-ms-date"), "Tue, 01 Dec 2026 00:00:00 GMT");
  }
  EXPECT_EQ(t.sent[1].url, "http://q/ready/messages?sig=Q");
  EXPECT_EQ(t.sent[1].body, "<QueueMessage><MessageText>a&lt;b</MessageText></QueueMessage>");
}

TEST(StorageClients, ErrorsNameTheServiceAnswerButNeverTheSignature) {
  ManualClock clock;
  FakeTransport t;
  HttpResponse refused;
  refused.status = 403;
  refused.headers = {{"x-ms-error-code", "AuthorizationFailure"}};
  t.then(refused);
  t.then(refused);
  QueueClient queue(StorageUrl::parse("http://q/ready?sig=SECRET"), t, clock, 5s);
  const auto posted = queue.put_message("m");
  ASSERT_FALSE(posted.ok());
  EXPECT_EQ(posted.error().message,
            "the queue http://q/ready answered HTTP 403 AuthorizationFailure");
  TableClient table(StorageUrl::parse("http://t/s?sig=SECRET"), t, clock, 5s);
  const auto listed = table.query("PartitionKey eq 'p'");
  ASSERT_FALSE(listed.ok());
  EXPECT_EQ(listed.error().message.find("SECRET"), std::string::npos);
  EXPECT_NE(listed.error().message.find("HTTP 403 AuthorizationFailure"), std::string::npos);
}

} // namespace
} // namespace hub2kusto::azure
