#include "azure/storage_connection_string.hpp"

#include <gtest/gtest.h>

namespace hub2kusto::azure {
namespace {

TEST(StorageConnectionString, AccountKeyFormBuildsTheBlobEndpointFromTheSuffix) {
  const auto c = parse_storage_connection_string(
      "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;"
      "EndpointSuffix=core.chinacloudapi.cn");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->blob_endpoint, "https://acct.blob.core.chinacloudapi.cn");
  EXPECT_EQ(c->account_name, "acct");
  EXPECT_EQ(c->account_key.reveal(), "a2V5");
}

TEST(StorageConnectionString, ExplicitBlobEndpointAndSas) {
  const auto c = parse_storage_connection_string(
      "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1/;SharedAccessSignature=?sv=1&sig=x");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->blob_endpoint, "http://127.0.0.1:10000/devstoreaccount1");
  EXPECT_EQ(c->shared_access_signature.reveal(), "sv=1&sig=x");
}

TEST(StorageConnectionString, DevelopmentStorageIsAzuriteOnItsDefaultPort) {
  const auto c = parse_storage_connection_string("UseDevelopmentStorage=true");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->blob_endpoint, "http://127.0.0.1:10000/devstoreaccount1");
  EXPECT_EQ(c->account_name, "devstoreaccount1");
}

TEST(StorageConnectionString, ErrorsNameTheMissingKeyAndNeverAValue) {
  const auto no_credential = parse_storage_connection_string("AccountName=acct");
  ASSERT_FALSE(no_credential);
  EXPECT_NE(no_credential.error().message.find("'AccountKey' or 'SharedAccessSignature'"),
            std::string::npos);
  const auto bad_endpoint =
      parse_storage_connection_string("BlobEndpoint=ftp://x;AccountName=a;AccountKey=S3cr3t");
  ASSERT_FALSE(bad_endpoint);
  EXPECT_NE(bad_endpoint.error().message.find("'BlobEndpoint'"), std::string::npos);
  EXPECT_EQ(bad_endpoint.error().message.find("S3cr3t"), std::string::npos);
}

} // namespace
} // namespace hub2kusto::azure
