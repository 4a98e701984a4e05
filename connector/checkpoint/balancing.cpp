#include "checkpoint/balancing.hpp"

#include <algorithm>
#include <map>

namespace hub2kusto::checkpoint {
namespace {

// A uniform index below `size` (size > 0).
std::size_t pick(RandomSource& random, std::size_t size) {
  return std::min(size - 1, static_cast<std::size_t>(random.uniform() * static_cast<double>(size)));
}

} // namespace

bool is_live(const Ownership& ownership, std::chrono::milliseconds expiration) {
  return !ownership.owner.empty() && (!ownership.age || *ownership.age < expiration);
}

std::vector<Claim> choose_claims(const std::vector<PartitionId>& partitions,
                                 const std::vector<Ownership>& ownerships, const std::string& self,
                                 std::chrono::milliseconds expiration, BalancingStrategy strategy,
                                 RandomSource& random) {
  if (partitions.empty()) {
    return {};
  }
  std::map<std::string, const Ownership*> listed; // by partition id
  for (const auto& o : ownerships) {
    listed[o.partition.value()] = &o;
  }
  std::map<std::string, std::vector<const Ownership*>> owned; // live ones, by owner
  owned[self];
  std::vector<Claim> claimable;
  for (const auto& partition : partitions) {
    const auto it = listed.find(partition.value());
    if (it == listed.end()) {
      claimable.push_back({partition, std::nullopt, {}});
    } else if (!is_live(*it->second, expiration)) {
      claimable.push_back({partition, it->second->etag, {}});
    } else {
      owned[it->second->owner].push_back(it->second);
    }
  }
  const std::size_t min = partitions.size() / owned.size();
  const std::size_t extra = partitions.size() % owned.size();
  std::size_t at_max = 0;        // owners at min + 1
  std::size_t others_at_max = 0; // owners but self at min + 1 or more
  bool all_within = true;
  for (const auto& [owner, held] : owned) {
    at_max += held.size() == min + 1 ? 1 : 0;
    others_at_max += owner != self && held.size() >= min + 1 ? 1 : 0;
    all_within = all_within && (held.size() == min || held.size() == min + 1);
  }
  if (all_within && at_max == extra) {
    return {}; // balanced
  }
  std::size_t mine = owned[self].size();
  const std::size_t target = extra > 0 && others_at_max < extra ? min + 1 : min;
  if (mine >= target) {
    return {};
  }
  const std::size_t wanted =
      strategy == BalancingStrategy::balanced ? std::size_t{1} : target - mine;
  std::vector<Claim> claims;
  while (claims.size() < wanted && !claimable.empty()) {
    const auto at = pick(random, claimable.size());
    claims.push_back(std::move(claimable[at]));
    claimable.erase(claimable.begin() + static_cast<std::ptrdiff_t>(at));
    ++mine;
  }
  while (claims.size() < wanted) {
    // The victims: above min + 1 always, at min + 1 only while self is below min; most first,
    // ties at random.
    std::vector<std::vector<const Ownership*>*> victims;
    std::size_t most = 0;
    for (auto& [owner, held] : owned) {
      const bool may = held.size() > min + 1 || (held.size() == min + 1 && mine < min);
      if (owner == self || !may || held.size() < most) {
        continue;
      }
      if (held.size() > most) {
        victims.clear();
        most = held.size();
      }
      victims.push_back(&held);
    }
    if (victims.empty()) {
      break;
    }
    auto& held = *victims[pick(random, victims.size())];
    const auto at = pick(random, held.size());
    const Ownership& taken = *held[at];
    claims.push_back({taken.partition, taken.etag, taken.owner});
    held.erase(held.begin() + static_cast<std::ptrdiff_t>(at));
    ++mine;
  }
  return claims;
}

} // namespace hub2kusto::checkpoint
