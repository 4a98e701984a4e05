#include "checkpoint/blob_checkpoint_store.hpp"

#include <fmt/format.h>

#include "base/text.hpp"
#include "common/key_value_list.hpp"

namespace hub2kusto::checkpoint {

BlobCheckpointStore::BlobCheckpointStore(azure::BlobClient& blobs, std::string container,
                                         Scope scope)
    : blobs_(blobs), container_(std::move(container)), scope_(std::move(scope)) {}

std::string blob_prefix(const Scope& scope, std::string_view kind) {
  return fmt::format("{}/{}/{}/{}/", text::lower(scope.fully_qualified_namespace),
                     text::lower(scope.event_hub.value()),
                     text::lower(scope.consumer_group.value()), kind);
}

std::string BlobCheckpointStore::blob_name(const PartitionId& partition) const {
  return blob_prefix(scope_, "checkpoint") + partition.value();
}

Result<std::monostate> BlobCheckpointStore::prepare() {
  auto ready = blobs_.ensure_container(container_);
  if (!ready) {
    return failure("checkpoint " + ready.error().message);
  }
  return std::monostate{};
}

Result<std::optional<Checkpoint>> BlobCheckpointStore::load(const PartitionId& partition) {
  auto metadata = blobs_.metadata(container_, blob_name(partition));
  if (!metadata) {
    return failure("checkpoint " + metadata.error().message);
  }
  {
    std::lock_guard lock(mutex_);
    if (!*metadata) {
      absent_.insert(partition.value());
      return std::optional<Checkpoint>();
    }
    absent_.erase(partition.value());
  }
  const auto& m = **metadata;
  const auto sequence = m.find("sequencenumber");
  if (sequence == m.end()) {
    return std::optional<Checkpoint>(); // an SDK created it without a position yet
  }
  std::int64_t n = 0;
  try {
    std::size_t used = 0;
    n = std::stoll(sequence->second, &used);
    if (used != sequence->second.size()) {
      throw std::invalid_argument("trailing text");
    }
  } catch (const std::exception&) {
    return failure(fmt::format("checkpoint blob '{}/{}': metadata sequencenumber '{}' is not a "
                               "number",
                               container_, blob_name(partition), sequence->second));
  }
  const auto offset = m.find("offset");
  return std::optional<Checkpoint>(
      Checkpoint{SequenceNumber(n), Offset(offset == m.end() ? "" : offset->second)});
}

Saved BlobCheckpointStore::save(const PartitionId& partition, const Checkpoint& checkpoint) {
  const azure::BlobMetadata metadata{
      {"sequencenumber", std::to_string(checkpoint.sequence_number.value())},
      {"offset", checkpoint.offset.value()}};
  bool absent = false;
  {
    std::lock_guard lock(mutex_);
    absent = absent_.contains(partition.value());
  }
  // Both replace what another writer may have saved meanwhile, as the SDKs' stores do.
  if (absent) {
    if (auto created = blobs_.put_block_blob(container_, blob_name(partition), "", metadata);
        !created) {
      return failure("checkpoint " + created.error().message);
    }
    std::lock_guard lock(mutex_);
    absent_.erase(partition.value());
    return std::monostate{};
  }
  if (auto saved = blobs_.set_metadata(container_, blob_name(partition), metadata); !saved) {
    return failure("checkpoint " + saved.error().message);
  }
  return std::monostate{};
}

} // namespace hub2kusto::checkpoint
