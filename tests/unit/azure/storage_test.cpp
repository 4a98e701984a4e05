#include "azure/storage.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

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

TEST(StorageDate, ReadsBackWhatItWritesAndNothingElse) {
  const auto t = std::chrono::sys_days{std::chrono::February / 29 / 2028} + 23h + 59min + 58s;
  EXPECT_EQ(parse_rfc1123_date(rfc1123_date(t)), t);
  EXPECT_EQ(parse_rfc1123_date("Tue, 01 Dec 2026 10:02:03 GMT"),
            std::chrono::sys_days{std::chrono::December / 1 / 2026} + 10h + 2min + 3s);
  for (const char* bad : {"", "Tue, 01 Dec 2026 10:02:03", "Tue, 01 Dek 2026 10:02:03 GMT",
                          "Tue, 31 Feb 2026 10:02:03 GMT", "Tue, 01 Dec 2026 24:02:03 GMT",
                          "Tue, 1 Dec 2026 10:02:03 GMT", "2026-12-01T10:02:03Z"}) {
    EXPECT_FALSE(parse_rfc1123_date(bad)) << bad;
  }
}

// A listing with metadata (the shape of docs "List Blobs", include=metadata): every page, each
// blob's metadata (an empty element is an empty value), its ETag quoted as If-Match takes it
// and its Last-Modified, and the service's Date.
TEST(BlobClientListing, ReadsMetadataETagsAndDatesOfEveryPage) {
  FakeTransport t;
  ManualClock clock;
  StorageConnectionString account;
  account.blob_endpoint = "https://acct.blob.core.windows.net";
  account.shared_access_signature = Secret("sv=1&sig=S");
  BlobClient blobs(account, t, clock);
  t.then(200,
         "<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults><Blobs><Blob>"
         "<Name>ns/hub/cg/ownership/0</Name><Properties><Last-Modified>Tue, 01 Dec 2026 10:00:00 "
         "GMT</Last-Modified><Etag>0x8D1</Etag></Properties><Metadata><ownerid>pod-a</ownerid>"
         "</Metadata></Blob></Blobs><NextMarker>m2</NextMarker></EnumerationResults>",
         {{"Date", "Tue, 01 Dec 2026 10:02:00 GMT"}});
  t.then(200,
         "<EnumerationResults><Blobs><Blob><Name>ns/hub/cg/ownership/1 &amp; 2</Name>"
         "<Properties><Last-Modified>Tue, 01 Dec 2026 10:01:00 GMT</Last-Modified>"
         "<Etag>\"0x8D2\"</Etag></Properties><Metadata><OwnerId /></Metadata></Blob>"
         "</Blobs><NextMarker /></EnumerationResults>",
         {{"Date", "Tue, 01 Dec 2026 10:02:01 GMT"}});
  const auto listing = blobs.list_blob_items("c", "ns/hub/cg/ownership/");
  ASSERT_TRUE(listing) << listing.error().message;
  ASSERT_EQ(listing->blobs.size(), 2U);
  EXPECT_EQ(listing->blobs[0].name, "ns/hub/cg/ownership/0");
  EXPECT_EQ(listing->blobs[0].metadata, (std::map<std::string, std::string>{{"ownerid", "pod-a"}}));
  EXPECT_EQ(listing->blobs[0].etag, "\"0x8D1\"");
  EXPECT_EQ(listing->blobs[0].last_modified,
            std::chrono::sys_days{std::chrono::December / 1 / 2026} + 10h);
  EXPECT_EQ(listing->blobs[1].name, "ns/hub/cg/ownership/1 & 2");
  EXPECT_EQ(listing->blobs[1].metadata, (std::map<std::string, std::string>{{"ownerid", ""}}));
  EXPECT_EQ(listing->blobs[1].etag, "\"0x8D2\"");
  EXPECT_EQ(listing->service_time,
            std::chrono::sys_days{std::chrono::December / 1 / 2026} + 10h + 2min + 1s);
  ASSERT_EQ(t.sent.size(), 2U);
  EXPECT_NE(t.sent[0].url.find("include=metadata"), std::string::npos);
  EXPECT_NE(t.sent[1].url.find("marker=m2"), std::string::npos);
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

// Tokens from a list, counting what the client asks of them.
class ScriptedTokens final : public AccessTokens {
public:
  std::vector<std::string> values;
  std::string refusal; // non-empty: every access_token() fails with it
  int invalidated = 0;

  Result<AccessToken> access_token() override {
    if (!refusal.empty()) {
      return failure(refusal);
    }
    return AccessToken{Secret(values.at(next_++ % values.size())),
                       std::chrono::system_clock::now() + 1h};
  }
  void invalidate() override { ++invalidated; }
  std::string describe() const override { return "application app-s in tenant t (client secret)"; }

private:
  std::size_t next_ = 0;
};

std::string header(const HttpRequest& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) {
      return v;
    }
  }
  return "";
}

// A Storage error answer: the status and the x-ms-error-code header.
HttpResponse storage_error(int status, const char* code) {
  HttpResponse r;
  r.status = status;
  r.headers = {{"x-ms-error-code", code}};
  return r;
}

// A BlobClient for an account given by its endpoint alone, with scripted tokens.
class BlobClientTokens : public ::testing::Test {
protected:
  static StorageConnectionString endpoint_only() {
    StorageConnectionString account;
    account.blob_endpoint = "https://acct.blob.core.windows.net";
    return account;
  }
  StorageConnectionString account_ = endpoint_only();
  ManualClock clock_;
  FakeTransport t_;
  std::shared_ptr<ScriptedTokens> tokens_ = std::make_shared<ScriptedTokens>();
  BlobClient blobs_{account_, t_, clock_, 5s, tokens_};
};

// An account given by its endpoint alone is opened with bearer tokens: no Shared Key, no SAS;
// a 401 makes the next request fetch a new token.
TEST_F(BlobClientTokens, AnEndpointWithoutKeyOrSasSendsBearerTokens) {
  tokens_->values = {"token-one", "token-two"};
  t_.then(storage_error(401, "InvalidAuthenticationInfo"));
  t_.then(201, "");
  EXPECT_FALSE(blobs_.put_block_blob("c", "b", "x").ok());
  EXPECT_EQ(tokens_->invalidated, 1);
  ASSERT_TRUE(blobs_.put_block_blob("c", "b", "x").ok());
  ASSERT_EQ(t_.sent.size(), 2U);
  EXPECT_EQ(header(t_.sent[0], "Authorization"), "Bearer token-one");
  EXPECT_EQ(header(t_.sent[1], "Authorization"), "Bearer token-two");
  EXPECT_EQ(t_.sent[1].url, "https://acct.blob.core.windows.net/c/b");

  // A connection string's key is used as it is, tokens or not.
  StorageConnectionString keyed = account_;
  keyed.account_name = "acct";
  keyed.account_key = Secret("a2V5");
  BlobClient shared_key(keyed, t_, clock_, 5s, tokens_);
  t_.then(201, "");
  ASSERT_TRUE(shared_key.put_block_blob("c", "b", "x").ok());
  EXPECT_EQ(header(t_.sent[2], "Authorization").rfind("SharedKey acct:", 0), 0U);
}

TEST_F(BlobClientTokens, ARefusedOrMissingTokenNamesTheIdentityAndTheRoleNeverTheToken) {
  tokens_->values = {"token-secret-value"};
  t_.then(storage_error(403, "AuthorizationPermissionMismatch"));
  const auto refused = blobs_.ensure_container("checkpoints");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message,
            "container 'checkpoints' at https://acct.blob.core.windows.net cannot be created or "
            "used: HTTP 403 AuthorizationPermissionMismatch (application app-s in tenant t "
            "(client secret) needs the Storage Blob Data Contributor role on the container or "
            "its storage account)");
  EXPECT_EQ(tokens_->invalidated, 0); // a missing role is not an expired token
  t_.then(storage_error(403, "AuthenticationFailed"));
  const auto expired = blobs_.container_exists("checkpoints");
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(
      expired.error().message,
      "container 'checkpoints' at https://acct.blob.core.windows.net cannot be read: HTTP 403 "
      "AuthenticationFailed (the token of application app-s in tenant t (client secret) for "
      "audience https://storage.azure.com was refused: expired, or for another audience)");
  EXPECT_EQ(tokens_->invalidated, 1); // the token itself was refused: the next one is new

  tokens_->refusal = "AADSTS7000215: Invalid client secret provided";
  const auto untokened = blobs_.get_blob("checkpoints", "b");
  ASSERT_FALSE(untokened.ok());
  EXPECT_EQ(untokened.error().message,
            "blob 'checkpoints/b' cannot be read: no token for https://storage.azure.com from "
            "application app-s in tenant t (client secret): AADSTS7000215: Invalid client secret "
            "provided");
  EXPECT_EQ(t_.sent.size(), 2U); // nothing sent without a token
  EXPECT_EQ(refused.error().message.find("token-secret-value"), std::string::npos);
}

} // namespace
} // namespace hub2kusto::azure
