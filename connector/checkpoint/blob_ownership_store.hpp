#pragma once
// BlobOwnershipStore: partition ownership in Azure Blob Storage where and how the Azure SDKs'
// blob checkpoint stores keep it (docs/protocols.md, "Ownership and load balancing"), beside
// the checkpoints, so hub2kusto replicas and SDK processors of one consumer group see each
// other's claims:
//
//   <container>/<namespace>/<event hub>/<consumer group>/ownership/<partition id>
//
// an empty block blob whose metadata `ownerid` names the owner (empty: released). Every write is
// conditional, so of two claimants exactly one wins: a first claim creates the blob with
// If-None-Match: *, later ones set the metadata with If-Match on the ETag last listed. Losing
// (412, or 409 on a create) is not an error: claim() and release() then return none.
//
// Errors name the container, the blob and the service's error code, never a key or a token.
// Threads: any.
#include <optional>
#include <string>
#include <vector>

#include "azure/blob_client.hpp"
#include "base/result.hpp"
#include "checkpoint/balancing.hpp"
#include "checkpoint/checkpoint_store.hpp"

namespace hub2kusto::checkpoint {

class BlobOwnershipStore {
public:
  BlobOwnershipStore(azure::BlobClient& blobs, std::string container, Scope scope);

  // Every ownership blob of the scope, each with its age measured on the storage service's own
  // clock (its Date against the blob's Last-Modified), so replicas whose clocks differ agree on
  // which ownerships expired.
  Result<std::vector<Ownership>> list();
  // Makes `owner` the partition's owner, or renews it (the same owner): with `etag`, only if
  // the blob is unchanged since; without, only if there is no blob yet. The new ETag, or none
  // when another claimant won.
  Result<std::optional<std::string>> claim(const PartitionId& partition, const std::string& owner,
                                           const std::optional<std::string>& etag);
  // Gives the partition up (an empty owner, claimable at once) if the blob is unchanged since
  // `etag`. The new ETag, or none when it was no longer ours.
  Result<std::optional<std::string>> release(const PartitionId& partition, const std::string& etag);

  // The blob name of a partition's ownership (for tests and the README).
  std::string blob_name(const PartitionId& partition) const;
  const Scope& scope() const { return scope_; }

private:
  azure::BlobClient& blobs_;
  std::string container_;
  Scope scope_;
};

} // namespace hub2kusto::checkpoint
