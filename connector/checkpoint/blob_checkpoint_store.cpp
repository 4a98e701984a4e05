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
  found(partition, metadata->has_value());
  if (!*metadata) {
    return std::optional<Checkpoint>();
  }
  return parse(partition, **metadata);
}

Result<std::vector<std::optional<Checkpoint>>>
BlobCheckpointStore::load_many(const std::vector<PartitionId>& partitions) {
  // A listing returns every checkpoint of the scope (a hub may have a thousand partitions):
  // for a few partitions their own reads cost less.
  constexpr std::size_t kListFrom = 4;
  if (partitions.size() < kListFrom) {
    return CheckpointStore::load_many(partitions);
  }
  const std::string prefix = blob_prefix(scope_, "checkpoint");
  auto listing = blobs_.list_blob_items(container_, prefix);
  if (!listing) {
    return failure("checkpoint " + listing.error().message);
  }
  std::map<std::string_view, const azure::BlobItem*> by_partition;
  for (const auto& blob : listing->blobs) {
    by_partition.emplace(std::string_view(blob.name).substr(prefix.size()), &blob);
  }
  std::vector<std::optional<Checkpoint>> loaded(partitions.size());
  for (std::size_t i = 0; i < partitions.size(); ++i) {
    const auto blob = by_partition.find(partitions[i].value());
    found(partitions[i], blob != by_partition.end());
    if (blob == by_partition.end()) {
      continue;
    }
    auto checkpoint = parse(partitions[i], blob->second->metadata);
    if (!checkpoint) {
      return failure(std::move(checkpoint).error());
    }
    loaded[i] = std::move(checkpoint).value();
  }
  return loaded;
}

void BlobCheckpointStore::found(const PartitionId& partition, bool exists) {
  std::lock_guard lock(mutex_);
  if (exists) {
    absent_.erase(partition.value());
  } else {
    absent_.insert(partition.value());
  }
}

Result<std::optional<Checkpoint>>
BlobCheckpointStore::parse(const PartitionId& partition,
                           const std::map<std::string, std::string>& metadata) const {
  const auto sequence = metadata.find("sequencenumber");
  if (sequence == metadata.end()) {
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
  const auto offset = metadata.find("offset");
  return std::optional<Checkpoint>(
      Checkpoint{SequenceNumber(n), Offset(offset == metadata.end() ? "" : offset->second)});
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
