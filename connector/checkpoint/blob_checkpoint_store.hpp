#pragma once
// BlobCheckpointStore: checkpoints in Azure Blob Storage exactly where and how the Azure SDKs'
// blob checkpoint stores keep them (docs/protocols.md, "Checkpoint blobs"), so an official SDK
// consumer (EventHubConsumerClient + BlobCheckpointStore) reads our position and we read theirs:
//
//   <container>/<namespace>/<event hub>/<consumer group>/checkpoint/<partition id>
//
// an empty block blob whose metadata holds `sequencenumber` and `offset` (decimal and opaque
// strings); namespace, hub and consumer group lower-cased as the JS, .NET, Python and C++ SDKs
// do. A save sets the metadata unconditionally and uploads the empty blob with it when the blob
// does not exist yet (404), as the JS SDK does. Ownership blobs: blob_ownership_store.hpp.
//
// Errors name the container, the blob and the service's error code, never a key or a
// signature (ingest/blob_client.hpp). Threads: any.
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include "azure/blob_client.hpp"
#include "checkpoint/checkpoint_store.hpp"

namespace hub2kusto::checkpoint {

// "<namespace>/<event hub>/<consumer group>/<kind>/", lower-cased: where the blobs of `kind`
// ("checkpoint", "ownership") of a scope are kept.
std::string blob_prefix(const Scope& scope, std::string_view kind);

class BlobCheckpointStore final : public CheckpointStore {
public:
  BlobCheckpointStore(azure::BlobClient& blobs, std::string container, Scope scope);

  // Creates the container if it does not exist. An error says why it cannot.
  Result<std::monostate> prepare() override;

  Result<std::optional<Checkpoint>> load(const PartitionId& partition) override;
  // More than a few partitions: one listing of the scope's checkpoint blobs with their metadata
  // (List Blobs, every page), as the SDKs' listCheckpoints does, not a request per partition.
  Result<std::vector<std::optional<Checkpoint>>>
  load_many(const std::vector<PartitionId>& partitions) override;
  Saved save(const PartitionId& partition, const Checkpoint& checkpoint) override;

  // The blob name of a partition's checkpoint (for tests and the README).
  std::string blob_name(const PartitionId& partition) const;

private:
  // The position a checkpoint blob's metadata holds (none: an SDK created it without one yet).
  Result<std::optional<Checkpoint>> parse(const PartitionId& partition,
                                          const std::map<std::string, std::string>& metadata) const;
  // Records whether a partition's checkpoint blob exists (see absent_).
  void found(const PartitionId& partition, bool exists);

  azure::BlobClient& blobs_;
  std::string container_;
  Scope scope_;
  // Partitions whose checkpoint blob load() found absent: their first save creates it in one
  // request, not a metadata write the service refuses (404) and then the upload.
  std::mutex mutex_;
  std::set<std::string> absent_;
};

} // namespace hub2kusto::checkpoint
