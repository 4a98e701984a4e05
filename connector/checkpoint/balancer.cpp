#include "checkpoint/balancer.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "common/logging.hpp"

namespace hub2kusto::checkpoint {

void BalancerMetrics::describe(MetricsSink& out, const MetricLabels& labels) const {
  const auto relaxed = std::memory_order_relaxed;
  out.gauge("hub2kusto_ownership_partitions_owned", "Partitions this replica owns and reads.",
            labels, static_cast<double>(owned.load(relaxed)));
  out.counter("hub2kusto_ownership_cycles_total", "Load-balancing cycles run.", labels,
              cycles.load(relaxed));
  out.counter("hub2kusto_ownership_cycle_failures_total",
              "Cycles that could not list the ownership blobs.", labels,
              cycle_failures.load(relaxed));
  out.counter("hub2kusto_ownership_claims_total", "Partitions claimed (steals included).", labels,
              claims.load(relaxed));
  out.counter("hub2kusto_ownership_claims_lost_total",
              "Claims another processor won first (412, or the blob existed).", labels,
              claims_lost.load(relaxed));
  out.counter("hub2kusto_ownership_steals_total", "Partitions claimed from a live owner.", labels,
              steals.load(relaxed));
  out.counter("hub2kusto_ownership_losses_total", "Partitions another processor took from us.",
              labels, losses.load(relaxed));
  out.counter("hub2kusto_ownership_releases_total", "Partitions released on shutdown.", labels,
              releases.load(relaxed));
  out.gauge("hub2kusto_ownership_cycle_seconds", "How long the last load-balancing cycle took.",
            labels, static_cast<double>(last_cycle_us.load(relaxed)) / 1e6);
}

Balancer::Balancer(BlobOwnershipStore& store, std::vector<PartitionId> partitions,
                   BalancerOptions options, const Clock& clock, RandomSource& random, Hooks hooks)
    : store_(store), partitions_(std::move(partitions)), options_(std::move(options)),
      clock_(clock), random_(random), hooks_(std::move(hooks)) {}

Balancer::~Balancer() {
  stop();
}

void Balancer::start() {
  thread_ = std::thread([this] { run(); });
}

void Balancer::stop() {
  {
    std::lock_guard lock(wake_mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) {
    thread_.join();
  }
}

void Balancer::run() {
  while (true) {
    const bool soon = cycle();
    const auto pause = soon ? std::max<std::chrono::milliseconds>(options_.update_interval / 10,
                                                                  std::chrono::milliseconds(100))
                            : options_.update_interval;
    std::unique_lock lock(wake_mutex_);
    if (wake_.wait_for(lock, pause, [this] { return stopping_; })) {
      return;
    }
  }
}

std::vector<PartitionId> Balancer::held() const {
  std::lock_guard lock(mutex_);
  std::vector<PartitionId> out;
  for (const auto& [partition, h] : held_) {
    out.emplace_back(partition);
  }
  return out;
}

void Balancer::forget(const PartitionId& partition) {
  drop(partition.value());
}

void Balancer::hold(const PartitionId& partition, std::string etag) {
  std::lock_guard lock(mutex_);
  held_[partition.value()] = {std::move(etag), clock_.steady_now()};
  metrics_.owned.store(static_cast<std::int64_t>(held_.size()), std::memory_order_relaxed);
}

bool Balancer::drop(const std::string& partition) {
  std::lock_guard lock(mutex_);
  const bool dropped = held_.erase(partition) > 0;
  metrics_.owned.store(static_cast<std::int64_t>(held_.size()), std::memory_order_relaxed);
  return dropped;
}

std::map<std::string, Balancer::Held> Balancer::drop_all() {
  std::lock_guard lock(mutex_);
  std::map<std::string, Held> held;
  held.swap(held_);
  metrics_.owned.store(0, std::memory_order_relaxed);
  return held;
}

void Balancer::lose(const std::string& partition, const std::string& why) {
  if (!drop(partition)) {
    return;
  }
  metrics_.losses.fetch_add(1, std::memory_order_relaxed);
  logger("ownership")
      ->warn("{}: partition {} lost ({}); its reading stops", options_.owner_id, partition, why);
  hooks_.lost(PartitionId(partition));
}

bool Balancer::cycle() {
  const auto began = clock_.steady_now();
  auto log = logger("ownership");
  metrics_.cycles.fetch_add(1, std::memory_order_relaxed);
  auto listed = store_.list();
  std::map<std::string, Held> held;
  {
    std::lock_guard lock(mutex_);
    held = held_;
  }
  if (!listed) {
    metrics_.cycle_failures.fetch_add(1, std::memory_order_relaxed);
    log->warn("{}: ownership not listed: {}", options_.owner_id, listed.error().message);
    // Unrenewed for a whole expiration, a partition may be someone else's already.
    for (const auto& [partition, h] : held) {
      if (began - h.renewed_at >= options_.expiration) {
        lose(partition, "not renewed for a whole expiration: storage did not answer");
      }
    }
    return false;
  }
  std::vector<Ownership>& ownerships = *listed;
  std::vector<PartitionId> gained; // adopted, then claimed
  bool claimed = false;
  // Renew what we hold; adopt what the listing says is ours from before a restart.
  for (auto& o : ownerships) {
    const auto mine = held.find(o.partition.value());
    const bool adopt =
        mine == held.end() && o.owner == options_.owner_id &&
        std::find(partitions_.begin(), partitions_.end(), o.partition) != partitions_.end();
    if (mine == held.end() && !adopt) {
      continue;
    }
    if (mine != held.end() && o.owner != options_.owner_id) {
      lose(o.partition.value(), fmt::format("now owned by '{}'", o.owner));
      continue;
    }
    if (mine != held.end() && began - mine->second.renewed_at < options_.update_interval) {
      // Renewed once per update interval: the quick cycles after a claim only claim, or a
      // replica that owns hundreds of partitions would rewrite every one of them each time.
      o.age =
          std::chrono::duration_cast<std::chrono::milliseconds>(began - mine->second.renewed_at);
      continue;
    }
    const std::string etag = mine != held.end() ? mine->second.etag : o.etag;
    auto renewed = store_.claim(o.partition, options_.owner_id, etag);
    if (!renewed) {
      log->warn("{}: partition {} not renewed: {}", options_.owner_id, o.partition,
                renewed.error().message);
      if (mine != held.end() && began - mine->second.renewed_at >= options_.expiration) {
        lose(o.partition.value(), "not renewed for a whole expiration");
      }
      continue;
    }
    if (!*renewed) {
      if (mine != held.end()) {
        lose(o.partition.value(), "another processor claimed it");
      }
      continue;
    }
    o.etag = **renewed;
    o.age = std::chrono::milliseconds(0);
    hold(o.partition, **renewed);
    if (adopt) {
      log->info("{}: partition {} adopted (this owner's claim from before a restart)",
                options_.owner_id, o.partition);
      gained.push_back(o.partition);
    }
  }
  // Held but not listed (the blob was deleted): ours no more.
  for (const auto& entry : held) {
    const std::string& partition = entry.first;
    if (std::none_of(ownerships.begin(), ownerships.end(),
                     [&](const Ownership& o) { return o.partition.value() == partition; })) {
      lose(partition, "its ownership blob is gone");
    }
  }
  const auto claims = choose_claims(partitions_, ownerships, options_.owner_id, options_.expiration,
                                    options_.strategy, random_);
  for (const auto& c : claims) {
    auto won = store_.claim(c.partition, options_.owner_id, c.etag);
    if (!won) {
      log->warn("{}: partition {} not claimed: {}", options_.owner_id, c.partition,
                won.error().message);
      continue;
    }
    if (!*won) {
      metrics_.claims_lost.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    metrics_.claims.fetch_add(1, std::memory_order_relaxed);
    if (!c.previous_owner.empty()) {
      metrics_.steals.fetch_add(1, std::memory_order_relaxed);
    }
    hold(c.partition, **won);
    log->info("{}: partition {} claimed{}{}", options_.owner_id, c.partition,
              c.previous_owner.empty() ? "" : " from ", c.previous_owner);
    gained.push_back(c.partition);
    claimed = true;
  }
  if (!gained.empty()) {
    hooks_.gained(gained);
  }
  metrics_.last_cycle_us.store(
      std::chrono::duration_cast<std::chrono::microseconds>(clock_.steady_now() - began).count(),
      std::memory_order_relaxed);
  // The next cycle soon when this one claimed: the share may allow more.
  return claimed;
}

void Balancer::release_all() {
  const auto held = drop_all();
  for (const auto& [partition, h] : held) {
    auto released = store_.release(PartitionId(partition), h.etag);
    if (!released) {
      logger("ownership")
          ->warn("{}: partition {} not released (it expires instead): {}", options_.owner_id,
                 partition, released.error().message);
    } else if (*released) {
      metrics_.releases.fetch_add(1, std::memory_order_relaxed);
    }
  }
  if (!held.empty()) {
    logger("ownership")->info("{}: {} partition(s) released", options_.owner_id, held.size());
  }
}

} // namespace hub2kusto::checkpoint
