#pragma once
// Checkpoints in a local directory, laid out as the Azure SDKs lay out blobs (docs/protocols.md,
// "Checkpoint blobs"): <dir>/<namespace>/<hub>/<consumer group>/checkpoint/<partition>, each a
// small JSON document {"sequencenumber": "...", "offset": "..."} (the blob store's metadata keys).
// A save writes a temporary file, fsyncs it, renames it over the old one and fsyncs the directory:
// a crash leaves the old checkpoint or the new one, never a torn one.
#include <filesystem>

#include "checkpoint/checkpoint_store.hpp"

namespace hub2kusto::checkpoint {

class FileCheckpointStore final : public CheckpointStore {
public:
  FileCheckpointStore(std::filesystem::path directory, const Scope& scope);

  // Creates the directory and writes and removes a probe file in it.
  Result<std::monostate> prepare() override;
  Result<std::optional<Checkpoint>> load(const PartitionId& partition) override;
  Saved save(const PartitionId& partition, const Checkpoint& checkpoint) override;

  std::filesystem::path path_of(const PartitionId& partition) const;

private:
  Result<std::monostate> create_directory() const;
  std::filesystem::path directory_; // .../<consumer group>/checkpoint
  std::mutex mutex_;
};

} // namespace hub2kusto::checkpoint
