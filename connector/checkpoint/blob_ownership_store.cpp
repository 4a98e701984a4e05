#include "checkpoint/blob_ownership_store.hpp"

#include <fmt/format.h>

#include "checkpoint/blob_checkpoint_store.hpp"

namespace hub2kusto::checkpoint {

BlobOwnershipStore::BlobOwnershipStore(azure::BlobClient& blobs, std::string container, Scope scope)
    : blobs_(blobs), container_(std::move(container)), scope_(std::move(scope)) {}

std::string BlobOwnershipStore::blob_name(const PartitionId& partition) const {
  return blob_prefix(scope_, "ownership") + partition.value();
}

Result<std::vector<Ownership>> BlobOwnershipStore::list() {
  const std::string prefix = blob_prefix(scope_, "ownership");
  auto listing = blobs_.list_blob_items(container_, prefix);
  if (!listing) {
    return failure("ownership " + listing.error().message);
  }
  std::vector<Ownership> out;
  for (auto& blob : listing->blobs) {
    // The partition id is the name after the prefix (the SDKs take the text after the last
    // '/'); anything deeper is not an ownership.
    const std::string partition = blob.name.substr(prefix.size());
    if (partition.empty() || partition.find('/') != std::string::npos) {
      continue;
    }
    Ownership o{PartitionId(partition), {}, std::move(blob.etag), std::nullopt};
    if (const auto owner = blob.metadata.find("ownerid"); owner != blob.metadata.end()) {
      o.owner = owner->second;
    }
    if (blob.last_modified && listing->service_time) {
      o.age = std::max(std::chrono::milliseconds(0),
                       std::chrono::duration_cast<std::chrono::milliseconds>(
                           *listing->service_time - *blob.last_modified));
    }
    out.push_back(std::move(o));
  }
  return out;
}

Result<std::optional<std::string>>
BlobOwnershipStore::claim(const PartitionId& partition, const std::string& owner,
                          const std::optional<std::string>& etag) {
  const azure::BlobMetadata metadata{{"ownerid", owner}};
  auto written =
      etag ? blobs_.set_metadata_if_match(container_, blob_name(partition), metadata, *etag)
           : blobs_.create_if_absent(container_, blob_name(partition), metadata);
  if (!written) {
    return failure("ownership " + written.error().message);
  }
  return written;
}

Result<std::optional<std::string>> BlobOwnershipStore::release(const PartitionId& partition,
                                                               const std::string& etag) {
  return claim(partition, std::string(), etag);
}

} // namespace hub2kusto::checkpoint
