#include "common/memory_budget.hpp"

#include <algorithm>

namespace hub2kusto {

std::shared_ptr<MemoryBudget> MemoryBudget::create(std::size_t limit) {
  return std::shared_ptr<MemoryBudget>(new MemoryBudget(limit));
}

std::shared_ptr<MemoryBudget::Account> MemoryBudget::open(std::function<void()> on_room) {
  std::shared_ptr<Account> account(new Account(shared_from_this(), std::move(on_room)));
  std::lock_guard lock(mutex_);
  accounts_.push_back(account.get());
  count_.store(accounts_.size(), std::memory_order_relaxed);
  return account;
}

void MemoryBudget::close(Account* account) {
  {
    std::lock_guard lock(mutex_);
    set_waiting(*account, false);
    reserve(*account, 0);
    std::erase(accounts_, account);
    count_.store(accounts_.size(), std::memory_order_relaxed);
  }
  // Its bytes are free, and everyone's fair share grew.
  change(-static_cast<std::ptrdiff_t>(account->total()));
}

void MemoryBudget::change(std::ptrdiff_t delta) {
  if (delta >= 0) {
    used_.fetch_add(static_cast<std::size_t>(delta), std::memory_order_relaxed);
    return;
  }
  used_.fetch_sub(static_cast<std::size_t>(-delta)); // seq_cst: see Account::room()
  // No account waits: nobody to tell. An account that starts waiting after this load counts
  // itself in before it looks at the budget (Account::room()), so it sees what was just freed.
  if (waiting_.load() == 0) {
    return;
  }
  // Room freed: the partitions refused room before may have some now. Called after the lock,
  // as a callback may take locks of its own (a channel's) that its caller may hold around
  // room() (never around this: changes are made outside the channel's lock).
  std::vector<std::function<void()>> told;
  {
    std::lock_guard lock(mutex_);
    for (Account* a : accounts_) {
      if (!a->waiting_) {
        continue;
      }
      // What it holds may have changed since it was refused (its batches were delivered): its
      // reservation follows. One refused while it held its whole share reserved nothing, and
      // once it holds nothing it must not wait behind the others' reservations.
      reserve(*a, a->unused_share());
      if ((a->total() == 0 || available(*a) >= a->wanted_) && set_waiting(*a, false)) {
        told.push_back(a->on_room_);
      }
    }
  }
  for (const auto& callback : told) {
    if (callback) {
      callback();
    }
  }
}

std::size_t MemoryBudget::available(const Account& account) const {
  if (limit_ == 0) {
    return static_cast<std::size_t>(-1);
  }
  const std::size_t used = used_.load();
  const std::size_t free = limit_ > used ? limit_ - used : 0;
  // A partition that holds a reservation (it was refused and waits) may take whatever is free:
  // reservations keep room from partitions that were not refused, not from each other. Counted
  // against each other they could add up to more than is free (credit granted while fair shares
  // were larger, to partitions that never used it, stays counted), and then every waiting
  // partition would wait for the others, and none would be told of room again.
  if (account.reservation_ > 0) {
    return free;
  }
  return free > reserved_ ? free - reserved_ : 0;
}

void MemoryBudget::reserve(Account& account, std::size_t bytes) {
  reserved_ = reserved_ - account.reservation_ + bytes;
  account.reservation_ = bytes;
}

bool MemoryBudget::set_waiting(Account& account, bool waiting) {
  if (account.waiting_ == waiting) {
    return false;
  }
  account.waiting_ = waiting;
  if (waiting) {
    waiting_.fetch_add(1); // seq_cst: see Account::room()
  } else {
    waiting_.fetch_sub(1);
  }
  return true;
}

MemoryBudget::Account::~Account() {
  budget_->close(this);
}

void MemoryBudget::Account::set(std::atomic<std::size_t>& slot, std::size_t bytes) {
  const std::size_t before = slot.exchange(bytes, std::memory_order_relaxed);
  if (bytes != before) {
    budget_->change(static_cast<std::ptrdiff_t>(bytes) - static_cast<std::ptrdiff_t>(before));
  }
}

void MemoryBudget::Account::set_received(std::size_t bytes) {
  set(received_, bytes);
}

void MemoryBudget::Account::set_held(std::size_t bytes) {
  set(held_, bytes);
}

void MemoryBudget::Account::move_to_held(std::size_t bytes) {
  // One change to the total, never down: what was received is held now (and what was not
  // counted as received yet is added).
  const std::size_t received = received_.load(std::memory_order_relaxed);
  const std::size_t moved = std::min(bytes, received);
  held_.fetch_add(bytes, std::memory_order_relaxed);
  received_.fetch_sub(moved, std::memory_order_relaxed);
  if (bytes > moved) {
    budget_->change(static_cast<std::ptrdiff_t>(bytes - moved));
  }
}

std::size_t MemoryBudget::Account::room(std::size_t at_least) {
  MemoryBudget& budget = *budget_;
  std::lock_guard lock(budget.mutex_);
  wanted_ = std::max<std::size_t>(1, at_least);
  // Waiting first, then looking (both seq_cst; change() frees, then looks for waiting
  // accounts): room freed in between is seen by one or the other.
  budget.set_waiting(*this, true);
  std::size_t room = budget.available(*this);
  if (room < at_least) {
    // Refused: what is left of this partition's fair share is kept for it, so the room the
    // others free comes to it first, and a partition that was not refused cannot take it. With
    // its reservation it may also take room the other reservations hold (available()): looked
    // at again, as no one would tell it of room that was already free.
    budget.reserve(*this, unused_share());
    room = budget.available(*this);
  }
  if (room >= at_least) {
    budget.set_waiting(*this, false);
    budget.reserve(*this, 0);
    return room;
  }
  return 0;
}

std::size_t MemoryBudget::Account::unused_share() const {
  const std::size_t fair = fair_share();
  const std::size_t own = total();
  return own < fair ? fair - own : 0;
}

std::size_t MemoryBudget::Account::fair_share() const {
  const std::size_t limit = budget_->limit_;
  if (limit == 0) {
    return static_cast<std::size_t>(-1);
  }
  return limit / std::max<std::size_t>(1, budget_->count_.load(std::memory_order_relaxed));
}

} // namespace hub2kusto
