#include "azure/storage_connection_string.hpp"

#include <map>

#include <fmt/format.h>

#include "base/text.hpp"
#include "common/key_value_list.hpp"

namespace hub2kusto::azure {
namespace {

// Azurite's well-known development account (public, documented; not a secret).
constexpr std::string_view kDevAccount = "devstoreaccount1";
constexpr std::string_view kDevKey =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

} // namespace

Result<StorageConnectionString> parse_storage_connection_string(std::string_view text) {
  auto pairs = parse_key_value_list(text, KeyValueSyntax::hub);
  if (!pairs) {
    return failure("Azure Storage connection string: " + pairs.error().message);
  }
  std::map<std::string, std::string> by_key; // lower-case keys
  for (auto& kv : *pairs) {
    std::string key;
    for (const char c : kv.key) {
      key.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    by_key[key] = kv.value;
  }
  const auto get = [&](const char* key) {
    const auto it = by_key.find(key);
    return it == by_key.end() ? std::string() : it->second;
  };
  StorageConnectionString out;
  if (text::iequals(get("usedevelopmentstorage"), "true")) {
    out.blob_endpoint = fmt::format("http://127.0.0.1:10000/{}", kDevAccount);
    out.account_name = kDevAccount;
    out.account_key = Secret(std::string(kDevKey));
    return out;
  }
  out.account_name = get("accountname");
  out.account_key = Secret(get("accountkey"));
  std::string sas = get("sharedaccesssignature");
  if (!sas.empty() && sas.front() == '?') {
    sas.erase(0, 1);
  }
  out.shared_access_signature = Secret(sas);
  out.blob_endpoint = get("blobendpoint");
  if (out.blob_endpoint.empty()) {
    if (out.account_name.empty()) {
      return failure("Azure Storage connection string: 'AccountName' or 'BlobEndpoint' is "
                     "required");
    }
    std::string protocol = get("defaultendpointsprotocol");
    if (protocol.empty()) {
      protocol = "https";
    }
    std::string suffix = get("endpointsuffix");
    if (suffix.empty()) {
      suffix = "core.windows.net";
    }
    out.blob_endpoint = fmt::format("{}://{}.blob.{}", protocol, out.account_name, suffix);
  }
  while (!out.blob_endpoint.empty() && out.blob_endpoint.back() == '/') {
    out.blob_endpoint.pop_back();
  }
  if (out.blob_endpoint.rfind("http://", 0) != 0 && out.blob_endpoint.rfind("https://", 0) != 0) {
    return failure("Azure Storage connection string: 'BlobEndpoint' must be an http:// or "
                   "https:// URL");
  }
  if (out.account_key.empty() && out.shared_access_signature.empty()) {
    return failure("Azure Storage connection string: 'AccountKey' or 'SharedAccessSignature' is "
                   "required");
  }
  if (!out.account_key.empty() && out.account_name.empty()) {
    return failure("Azure Storage connection string: 'AccountName' is required with "
                   "'AccountKey'");
  }
  return out;
}

} // namespace hub2kusto::azure
