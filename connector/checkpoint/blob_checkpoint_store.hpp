#pragma once
// BlobCheckpointStore: checkpoints in Azure Blob Storage exactly where and how the Azure SDKs'
// blob checkpoint stores keep them (eventhubs-amqp.md §9.1), so an official SDK consumer
// (EventHubConsumerClient + BlobCheckpointStore) reads our position and we read theirs:
//
//   <container>/<namespace>/<event hub>/<consumer group>/checkpoint/<partition id>
//
// an empty block blob whose metadata holds `sequencenumber` and `offset` (decimal and opaque
// strings); namespace, hub and consumer group lower-cased as the JS, .NET, Python and C++ SDKs
// do. A save sets the metadata unconditionally and uploads the empty blob with it when the blob
// does not exist yet (404), as the JS SDK does; ownership blobs are not written (hub2kusto owns
// its partitions by configuration and epoch, not by load balancing).
//
// Requests are authorised with the account key (Shared Key) or a SAS from the connection
// string. Errors name the container, the blob and the service's error code, never a key or a
// signature. Threads: any (the transport is thread-safe and nothing else is shared).
#include <chrono>
#include <string>

#include "checkpoint/checkpoint_store.hpp"
#include "common/clock.hpp"
#include "common/storage_connection_string.hpp"
#include "ingest/http_transport.hpp"

namespace hub2kusto::checkpoint {

class BlobCheckpointStore final : public CheckpointStore {
public:
  BlobCheckpointStore(StorageConnectionString storage, std::string container, Scope scope,
                      ingest::HttpTransport& transport, const Clock& clock,
                      std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // Creates the container if it does not exist (start-up). An error says why it cannot.
  Result<std::monostate> prepare();

  Result<std::optional<Checkpoint>> load(const PartitionId& partition) override;
  Saved save(const PartitionId& partition, const Checkpoint& checkpoint) override;

  // The blob name of a partition's checkpoint (for tests and the README).
  std::string blob_name(const PartitionId& partition) const;

private:
  ingest::HttpResponse send(ingest::HttpRequest request);
  std::string blob_url(const PartitionId& partition) const;

  StorageConnectionString storage_;
  std::string container_;
  Scope scope_;
  ingest::HttpTransport& transport_;
  const Clock& clock_;
  std::chrono::milliseconds timeout_;
};

// The Shared Key authorization of a Blob service request (docs "Authorize with Shared Key"):
// the string to sign from the verb, the standard headers, the x-ms-* headers and the
// canonicalized resource (account + URL path + query parameters), signed with HMAC-SHA256.
// Returns the Authorization header's value.
std::string shared_key_authorization(const std::string& account, const std::string& key_base64,
                                     const ingest::HttpRequest& request);

} // namespace hub2kusto::checkpoint
