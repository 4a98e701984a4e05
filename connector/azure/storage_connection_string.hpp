#pragma once
// Azure Storage connection strings, as the Azure SDKs read them (docs "Configure Azure Storage
// connection strings"):
//   DefaultEndpointsProtocol=https;AccountName=a;AccountKey=k;EndpointSuffix=core.windows.net
//   BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;AccountName=..;AccountKey=..
//   BlobEndpoint=https://a.blob.core.windows.net;SharedAccessSignature=sv=...&sig=...
//   UseDevelopmentStorage=true          (Azurite on its default ports, its public dev key)
// Errors name the key that is wrong or missing, never a value.
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "common/secret.hpp"

namespace hub2kusto::azure {

struct StorageConnectionString {
  std::string blob_endpoint; // scheme://host[:port][/account], no trailing '/'
  std::string account_name;
  Secret account_key;             // base64; empty with a SAS
  Secret shared_access_signature; // without a leading '?'; empty with a key
};

Result<StorageConnectionString> parse_storage_connection_string(std::string_view text);

} // namespace hub2kusto::azure
