#pragma once
// The checkpoint stage's seam (docs/architecture.md, "Seams", "Stores"): where a partition's
// position is kept. A checkpoint names the last event whose batch Kusto accepted (or that was
// dead-lettered); a restart resumes right after it. Implementations: a local directory
// (file_checkpoint_store.hpp), and an in-memory fake that can be told to fail (tests).
//
// Threads: any; implementations are thread-safe.
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "base/result.hpp"
#include "common/types.hpp"

namespace hub2kusto::checkpoint {

struct Checkpoint {
  SequenceNumber sequence_number;
  Offset offset;
  friend bool operator==(const Checkpoint&, const Checkpoint&) = default;
};

// Which stream the checkpoints belong to, as the Azure SDKs scope them (docs/protocols.md,
// "Checkpoint blobs").
struct Scope {
  std::string fully_qualified_namespace; // e.g. myns.servicebus.windows.net
  EventHubName event_hub;
  ConsumerGroup consumer_group;
};

using Saved = Result<std::monostate>;

class CheckpointStore {
public:
  virtual ~CheckpointStore() = default;
  // Start-up: makes sure a save can succeed (the directory can be written, the container
  // exists), or says why it cannot.
  virtual Result<std::monostate> prepare() = 0;
  // The stored checkpoint, or none when the partition has none yet.
  virtual Result<std::optional<Checkpoint>> load(const PartitionId& partition) = 0;
  // The checkpoints of `partitions`, in their order (none where nothing is stored); otherwise
  // the first failure. By default each is read on its own, several at a time (load_all.hpp); a
  // store that can list a scope's checkpoints in one request does that instead.
  virtual Result<std::vector<std::optional<Checkpoint>>>
  load_many(const std::vector<PartitionId>& partitions);
  // Replaces the partition's checkpoint; durable when it returns success.
  virtual Saved save(const PartitionId& partition, const Checkpoint& checkpoint) = 0;
};

// In memory, for `hub2kusto replay`, whose positions are not the hub's.
class MemoryCheckpointStore final : public CheckpointStore {
public:
  Result<std::monostate> prepare() override { return std::monostate{}; }
  Result<std::optional<Checkpoint>> load(const PartitionId& partition) override {
    std::lock_guard lock(mutex_);
    const auto it = stored_.find(partition.value());
    return it == stored_.end() ? std::optional<Checkpoint>() : std::optional(it->second);
  }
  Saved save(const PartitionId& partition, const Checkpoint& checkpoint) override {
    std::lock_guard lock(mutex_);
    stored_[partition.value()] = checkpoint;
    return std::monostate{};
  }

private:
  std::mutex mutex_;
  std::map<std::string, Checkpoint> stored_;
};

} // namespace hub2kusto::checkpoint
