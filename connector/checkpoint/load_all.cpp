#include "checkpoint/load_all.hpp"

#include <algorithm>
#include <future>

namespace hub2kusto::checkpoint {

Result<std::vector<std::optional<Checkpoint>>>
load_all(CheckpointStore& store, const std::vector<PartitionId>& partitions, std::size_t parallel) {
  std::vector<std::optional<Checkpoint>> loaded(partitions.size());
  if (partitions.size() == 1) { // no thread for one read (a partition claimed on its own)
    auto read = store.load(partitions.front());
    if (!read) {
      return failure(std::move(read).error());
    }
    loaded.front() = std::move(read).value();
    return loaded;
  }
  const std::size_t wave = std::max<std::size_t>(parallel, 1);
  for (std::size_t first = 0; first < partitions.size(); first += wave) {
    const std::size_t end = std::min(partitions.size(), first + wave);
    std::vector<std::future<Result<std::optional<Checkpoint>>>> reads;
    for (std::size_t i = first; i < end; ++i) {
      reads.push_back(
          std::async(std::launch::async, [&store, &id = partitions[i]] { return store.load(id); }));
    }
    // Every read of the wave is collected (a future's destructor would wait anyway) before
    // the first failure is reported.
    std::optional<Error> failed;
    for (std::size_t i = first; i < end; ++i) {
      auto read = reads[i - first].get();
      if (!read) {
        if (!failed) {
          failed = std::move(read).error(); // the store's message names the file or blob
        }
        continue;
      }
      loaded[i] = std::move(read).value();
    }
    if (failed) {
      return failure(std::move(*failed));
    }
  }
  return loaded;
}

Result<std::vector<std::optional<Checkpoint>>>
CheckpointStore::load_many(const std::vector<PartitionId>& partitions) {
  return load_all(*this, partitions);
}

} // namespace hub2kusto::checkpoint
