#pragma once
// BlobClient: the few Azure Blob Storage operations hub2kusto needs (the blob checkpoint store,
// the blob dead-letter store, queued ingestion's uploads), authorised from an Azure Storage
// connection string (Shared Key with the account key, or the SAS appended to the URL) or, for
// an account given by its endpoint alone, by Microsoft Entra ID bearer tokens for
// https://storage.azure.com (docs "Authorize access to blobs using Microsoft Entra ID").
// Errors name the container and blob and the service's error code, never a key, signature or
// token.
//
// Threads: any (the transport is thread-safe; nothing else is mutable).
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "azure/http_transport.hpp"
#include "azure/storage.hpp"
#include "azure/storage_connection_string.hpp"
#include "base/result.hpp"
#include "common/access_token.hpp"
#include "common/clock.hpp"

namespace hub2kusto::azure {

using BlobMetadata = std::vector<std::pair<std::string, std::string>>; // x-ms-meta-<name>

// One blob of a listing, with what optimistic concurrency needs.
struct BlobItem {
  std::string name;
  std::map<std::string, std::string> metadata; // names lower-case
  std::string etag;                            // quoted, as If-Match takes it
  std::optional<std::chrono::system_clock::time_point> last_modified;
};

struct BlobListing {
  std::vector<BlobItem> blobs;
  // The service's clock when it answered the last page (its Date header). Compared with
  // last_modified, it tells a blob's age on one clock, whatever the local clock says.
  std::optional<std::chrono::system_clock::time_point> service_time;
};

class BlobClient {
public:
  // `tokens` (Storage's audience) authorise the requests when `storage` has neither a key nor
  // a SAS; a connection string's key or SAS is used as it is.
  BlobClient(StorageConnectionString storage, HttpTransport& transport, const Clock& clock,
             std::chrono::milliseconds timeout = std::chrono::seconds(30),
             std::shared_ptr<AccessTokens> tokens = nullptr);

  // Creates the container unless it exists.
  Result<std::monostate> ensure_container(const std::string& container);
  // The names of the container's blobs that start with `prefix`, every page (List Blobs).
  Result<std::vector<std::string>> list_blobs(const std::string& container,
                                              const std::string& prefix);
  // The same with each blob's metadata, ETag and Last-Modified.
  Result<BlobListing> list_blob_items(const std::string& container, const std::string& prefix);
  // The blob's content (Get Blob).
  Result<std::string> get_blob(const std::string& container, const std::string& blob);
  // Whether the container exists (Get Container Properties); creates nothing.
  Result<bool> container_exists(const std::string& container);
  // Deletes the blob; one that is not there is no error.
  Result<std::monostate> delete_blob(const std::string& container, const std::string& blob);
  // The blob's metadata (names lower-case); none when the blob does not exist.
  Result<std::optional<std::map<std::string, std::string>>> metadata(const std::string& container,
                                                                     const std::string& blob);
  // Replaces the blob's metadata; creates an empty block blob with it when the blob does not
  // exist yet (as the SDKs' checkpoint stores do).
  Result<std::monostate> set_metadata(const std::string& container, const std::string& blob,
                                      const BlobMetadata& metadata);
  // Conditional writes (docs "Specifying conditional headers for Blob service operations"):
  // each happens only when the blob is as the caller last saw it, so of two writers racing for
  // it exactly one wins. Each returns the blob's new ETag, or none when the condition failed.
  //
  // Replaces the metadata of the blob whose ETag is still `etag` (412 ConditionNotMet, or a
  // blob deleted since: none).
  Result<std::optional<std::string>> set_metadata_if_match(const std::string& container,
                                                           const std::string& blob,
                                                           const BlobMetadata& metadata,
                                                           const std::string& etag);
  // Creates the empty block blob with `metadata` unless a blob of that name exists (Put Blob
  // with If-None-Match: *; 409 BlobAlreadyExists: none).
  Result<std::optional<std::string>> create_if_absent(const std::string& container,
                                                      const std::string& blob,
                                                      const BlobMetadata& metadata);
  // Uploads a block blob in one request, replacing any blob of that name. Returns the blob's
  // URL, with the connection string's SAS (if any) beside it for whoever reads the blob next.
  Result<StorageUrl> put_block_blob(const std::string& container, const std::string& blob,
                                    std::string body, const BlobMetadata& metadata = {});

  const std::string& endpoint() const { return storage_.blob_endpoint; }

private:
  bool uses_tokens() const {
    return tokens_ && storage_.account_key.empty() && storage_.shared_access_signature.empty();
  }
  HttpResponse send(HttpRequest request);
  // The service's answer for an error message; a refused token names the role it lacks.
  std::string refusal(const HttpResponse& response) const;
  std::string url(const std::string& container, const std::string& blob) const;

  StorageConnectionString storage_;
  std::shared_ptr<AccessTokens> tokens_;
  HttpTransport& transport_;
  const Clock& clock_;
  std::chrono::milliseconds timeout_;
};

// A container named by a SAS URL (`https://<account>.blob.core.windows.net/<container>?<sas>`),
// as the data-management service hands out its temporary storage: the account to build a
// BlobClient on, and the container's name.
struct SasContainer {
  StorageConnectionString account;
  std::string container;
};
SasContainer sas_container(const StorageUrl& url);

} // namespace hub2kusto::azure
