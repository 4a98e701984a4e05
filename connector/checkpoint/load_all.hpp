#pragma once
// Reads the stored checkpoints of many partitions at start-up, several at a time: with blob
// storage each read is a round trip, and a hub may have 32 partitions or more, so reading them
// one after another would hold every partition back by the sum of the round trips.
#include <cstddef>
#include <optional>
#include <vector>

#include "checkpoint/checkpoint_store.hpp"

namespace hub2kusto::checkpoint {

// The checkpoint of each of `partitions`, in the same order (none where nothing is stored),
// at most `parallel` reads in flight; otherwise the first failure, as the store gave it.
Result<std::vector<std::optional<Checkpoint>>> load_all(CheckpointStore& store,
                                                        const std::vector<PartitionId>& partitions,
                                                        std::size_t parallel = 16);

} // namespace hub2kusto::checkpoint
