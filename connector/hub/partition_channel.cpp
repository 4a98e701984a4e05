#include "hub/partition_channel.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace hub2kusto::hub {

PartitionChannel::PartitionChannel(PartitionId partition, CreditWindow window)
    : partition_(std::move(partition)), window_(window) {
  assert(window_.high > 0 && window_.low < window_.high);
}

void PartitionChannel::use_budget(const std::shared_ptr<MemoryBudget>& budget) {
  account_ = budget->open([weak = weak_from_this()] {
    if (const auto channel = weak.lock()) {
      channel->budget_room();
    }
  });
}

void PartitionChannel::report(double bytes) {
  if (account_) {
    account_->set_received(static_cast<std::size_t>(bytes));
  }
}

void PartitionChannel::holding(std::size_t bytes) {
  if (account_) {
    account_->set_held(bytes);
  }
}

bool PartitionChannel::claim_top_up() {
  if (room_requested_ || status_.stopped() || !room_for_top_up()) {
    return false;
  }
  room_requested_ = true;
  return true;
}

void PartitionChannel::budget_room() {
  bool ask_for_room = false;
  {
    std::lock_guard lock(mutex_);
    ask_for_room = claim_top_up();
  }
  if (ask_for_room && on_room_) {
    on_room_();
  }
}

std::size_t PartitionChannel::take(std::vector<HubEvent>& out, std::size_t max,
                                   std::chrono::milliseconds wait) {
  bool ask_for_room = false;
  std::size_t moved = 0;
  std::size_t moved_bytes = 0;
  double in_flight = 0;
  {
    std::unique_lock lock(mutex_);
    if (wait.count() > 0) { // a turn of a worker does not wait: no futex call for nothing
      ++waiting_readers_;
      readable_.wait_for(lock, wait, [&] { return buffered() > 0 || status_.stopped(); });
      --waiting_readers_;
    }
    moved = std::min(max, buffered());
    const std::size_t bytes_before = buffered_bytes_;
    if (moved > 0 && moved == buffer_.size() && out.empty()) {
      out.swap(buffer_); // all of it: the reader's empty vector (and its capacity) comes back
      buffer_.clear();
      head_ = 0;
      buffered_bytes_ = 0;
    } else {
      for (std::size_t i = 0; i < moved; ++i) {
        HubEvent& e = buffer_[head_ + i];
        buffered_bytes_ -= std::min(buffered_bytes_, e.approximate_size());
        out.push_back(std::move(e));
      }
      head_ += moved;
      if (head_ == buffer_.size()) {
        buffer_.clear();
        head_ = 0;
      } else if (head_ >= buffer_.size() / 2) {
        buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(head_));
        head_ = 0;
      }
    }
    ask_for_room = moved > 0 && claim_top_up();
    in_flight = bytes_in_flight();
    moved_bytes = bytes_before - buffered_bytes_;
  }
  if (moved > 0 && account_) {
    account_->move_to_held(moved_bytes); // the reader holds them now, until it counts again
    account_->set_received(static_cast<std::size_t>(in_flight));
  }
  if (ask_for_room && on_room_) {
    on_room_();
  }
  return moved;
}

PartitionStatus PartitionChannel::status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

CreditStats PartitionChannel::credit() const {
  std::lock_guard lock(mutex_);
  return {.buffered = buffered(),
          .buffered_bytes = buffered_bytes_,
          .credit = credit_,
          .max_in_flight = max_in_flight_};
}

bool PartitionChannel::reader_waiting() const {
  std::lock_guard lock(mutex_);
  return waiting_readers_ > 0;
}

std::optional<SequenceNumber> PartitionChannel::last_received() const {
  std::lock_guard lock(mutex_);
  return last_received_;
}

double PartitionChannel::bytes_in_flight() const {
  return static_cast<double>(buffered_bytes_) + static_cast<double>(credit_) * average_event_bytes_;
}

bool PartitionChannel::room_for_top_up() const {
  if (buffered() + credit_ > window_.low) {
    return false;
  }
  return window_.max_bytes == 0 || bytes_in_flight() <= static_cast<double>(window_.max_bytes) / 2;
}

std::size_t PartitionChannel::grant(GrantReason reason) {
  double in_flight = 0;
  const std::size_t added = grant_locked(reason, in_flight);
  if (added > 0) {
    report(in_flight);
  }
  return added;
}

std::size_t PartitionChannel::grant_locked(GrantReason reason, double& bytes) {
  std::lock_guard lock(mutex_);
  room_requested_ = false;
  const std::size_t in_flight = buffered() + credit_;
  if (reason == GrantReason::top_up && !room_for_top_up()) {
    return 0;
  }
  if (in_flight >= window_.high) {
    return 0;
  }
  std::size_t add = window_.high - in_flight;
  const bool bytes_bound = window_.max_bytes > 0 || account_ != nullptr;
  if (bytes_bound && average_event_bytes_ == 0) {
    // Nothing is known of the sizes yet: one event shows them, then credit follows the bytes
    // (a whole window of 1 MB events would be far past any budget).
    add = in_flight == 0 ? 1 : 0;
  } else if (window_.max_bytes > 0) {
    // Credit follows the bytes: what fits in the budget left at the average event size, at
    // least one so a partition of events larger than the budget still moves.
    const double room = static_cast<double>(window_.max_bytes) - bytes_in_flight();
    const auto fits =
        room <= 0 ? std::size_t{0} : static_cast<std::size_t>(room / average_event_bytes_);
    add = std::min(add, std::max<std::size_t>(fits, buffered() == 0 && credit_ == 0 ? 1 : 0));
  }
  if (account_ != nullptr && average_event_bytes_ > 0 && add > 0) {
    // The process's budget: what the room left (or our fair share) holds at the average size,
    // and no more credit than a fair share: credit a partition at its end never uses would
    // otherwise keep the others' room (the service holds it until events come). At least one
    // while the partition holds nothing at all (its events are larger than its share). None:
    // the budget tells us when it frees room.
    const double room = static_cast<double>(
        account_->room(static_cast<std::size_t>(std::ceil(average_event_bytes_))));
    const double credit_room = static_cast<double>(account_->fair_share()) -
                               static_cast<double>(credit_) * average_event_bytes_;
    const double usable = std::max(0.0, std::min(room, credit_room));
    const auto fits = static_cast<std::size_t>(usable / average_event_bytes_);
    add = std::min(add, std::max<std::size_t>(fits, account_->total() == 0 ? 1 : 0));
  }
  if (add == 0) {
    return 0;
  }
  credit_ += add;
  max_in_flight_ = std::max(max_in_flight_, buffered() + credit_);
  bytes = bytes_in_flight();
  return add;
}

bool PartitionChannel::push(HubEvent event) {
  std::lock_guard lock(mutex_);
  // The service sends only against credit; a transfer beyond it (a protocol violation) is
  // still kept, and shows up in max_in_flight.
  credit_ = credit_ > 0 ? credit_ - 1 : 0;
  last_received_ = event.sequence_number;
  const std::size_t size = event.approximate_size();
  buffered_bytes_ += size;
  // A running average over about the last 64 events: how much memory a credit stands for.
  average_event_bytes_ =
      average_event_bytes_ == 0
          ? static_cast<double>(size)
          : average_event_bytes_ + (static_cast<double>(size) - average_event_bytes_) / 64.0;
  const bool was_empty = buffered() == 0;
  buffer_.push_back(std::move(event));
  max_in_flight_ = std::max(max_in_flight_, buffered() + credit_);
  return was_empty && (waiting_readers_ > 0 || on_readable_ != nullptr);
}

void PartitionChannel::on_readable(std::function<void()> callback) {
  std::lock_guard lock(mutex_);
  on_readable_ = std::make_shared<const std::function<void()>>(std::move(callback));
}

void PartitionChannel::notify_readable() const {
  std::shared_ptr<const std::function<void()>> callback;
  {
    std::lock_guard lock(mutex_);
    callback = on_readable_;
  }
  if (callback != nullptr && *callback) {
    (*callback)();
  }
}

void PartitionChannel::wake_reader() {
  readable_.notify_all();
  notify_readable();
}

void PartitionChannel::link_lost() {
  double in_flight = 0;
  {
    std::lock_guard lock(mutex_);
    credit_ = 0;
    room_requested_ = false;
    in_flight = bytes_in_flight();
  }
  report(in_flight);
}

void PartitionChannel::set_status(PartitionState state, std::string reason) {
  {
    std::lock_guard lock(mutex_);
    if (status_.stopped()) {
      return; // stolen, failed and closed are final: the first reason stays
    }
    status_ = PartitionStatus{.state = state, .reason = std::move(reason)};
  }
  readable_.notify_all();
  notify_readable();
}

} // namespace hub2kusto::hub
