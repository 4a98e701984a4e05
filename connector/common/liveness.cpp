#include "common/liveness.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace hub2kusto {

namespace {
thread_local Liveness::Heart* current = nullptr;
} // namespace

std::chrono::nanoseconds
Liveness::Heart::busy_for(std::chrono::steady_clock::time_point now) const {
  const std::int64_t since = busy_since_.load(std::memory_order_relaxed);
  if (since == kIdle) {
    return std::chrono::nanoseconds(0);
  }
  return std::max(std::chrono::nanoseconds(0),
                  now.time_since_epoch() - std::chrono::nanoseconds(since));
}

std::shared_ptr<Liveness::Heart> Liveness::watch(std::string name) {
  auto heart = std::make_shared<Heart>(std::move(name));
  std::lock_guard lock(mutex_);
  std::erase_if(hearts_, [](const std::weak_ptr<Heart>& h) { return h.expired(); });
  hearts_.push_back(heart);
  return heart;
}

std::vector<std::string> Liveness::stuck(std::chrono::milliseconds bound,
                                         std::chrono::steady_clock::time_point now) const {
  std::vector<std::string> lines;
  std::lock_guard lock(mutex_);
  for (const auto& weak : hearts_) {
    const auto heart = weak.lock();
    if (!heart) {
      continue;
    }
    const auto busy = heart->busy_for(now);
    if (busy > bound) {
      lines.push_back(fmt::format("thread '{}' busy on one piece of work for {} s without progress",
                                  heart->name(),
                                  std::chrono::duration_cast<std::chrono::seconds>(busy).count()));
    }
  }
  return lines;
}

Liveness::Scope::Scope(Heart* heart) : previous_(current) {
  current = heart;
}

Liveness::Scope::~Scope() {
  current = previous_;
}

void Liveness::beat() {
  if (current != nullptr && current->busy_since_.load(std::memory_order_relaxed) != Heart::kIdle) {
    current->busy();
  }
}

Liveness::Sleeping::Sleeping() : heart_(current) {
  if (heart_ != nullptr) {
    was_busy_ = heart_->busy_since_.load(std::memory_order_relaxed) != Heart::kIdle;
    heart_->idle();
  }
}

Liveness::Sleeping::~Sleeping() {
  if (heart_ != nullptr && was_busy_) {
    heart_->busy();
  }
}

} // namespace hub2kusto
