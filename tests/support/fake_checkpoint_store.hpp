#pragma once
// A checkpoint store in memory that tests can tell to fail: fail_saves(n) makes the next n saves
// fail; save_attempts() counts every save asked for.
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "checkpoint/checkpoint_store.hpp"

namespace hub2kusto::fakes {

class FakeCheckpointStore final : public checkpoint::CheckpointStore {
public:
  Result<std::monostate> prepare() override { return std::monostate{}; }
  Result<std::optional<checkpoint::Checkpoint>> load(const PartitionId& partition) override {
    std::lock_guard lock(mutex_);
    const auto it = stored_.find(partition.value());
    return it == stored_.end() ? std::optional<checkpoint::Checkpoint>()
                               : std::optional(it->second);
  }
  checkpoint::Saved save(const PartitionId& partition,
                         const checkpoint::Checkpoint& checkpoint) override {
    std::lock_guard lock(mutex_);
    ++attempts_;
    if (failures_ > 0) {
      --failures_;
      return failure("the checkpoint store is failing (test)");
    }
    stored_[partition.value()] = checkpoint;
    return std::monostate{};
  }
  void fail_saves(int n) {
    std::lock_guard lock(mutex_);
    failures_ = n;
  }
  int save_attempts() const {
    std::lock_guard lock(mutex_);
    return attempts_;
  }

private:
  mutable std::mutex mutex_;
  std::map<std::string, checkpoint::Checkpoint> stored_;
  int failures_ = 0;
  int attempts_ = 0;
};

} // namespace hub2kusto::fakes
