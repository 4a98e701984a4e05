#pragma once
// Partition ids as Event Hubs numbers them: "0" to "count - 1".
#include <string>
#include <vector>

#include "common/types.hpp"

namespace hub2kusto::testing {

inline std::vector<PartitionId> partition_ids(int count) {
  std::vector<PartitionId> ids;
  for (int i = 0; i < count; ++i) {
    ids.emplace_back(std::to_string(i));
  }
  return ids;
}

} // namespace hub2kusto::testing
