#include "hub/partition_channel.hpp"

#include <algorithm>
#include <cassert>

namespace hub2kusto::hub {

PartitionChannel::PartitionChannel(PartitionId partition, CreditWindow window)
    : partition_(std::move(partition)), window_(window) {
  assert(window_.high > 0 && window_.low < window_.high);
}

std::size_t PartitionChannel::take(std::vector<HubEvent>& out, std::size_t max,
                                   std::chrono::milliseconds wait) {
  bool ask_for_room = false;
  std::size_t moved = 0;
  {
    std::unique_lock lock(mutex_);
    ++waiting_readers_;
    readable_.wait_for(lock, wait, [&] { return !buffer_.empty() || status_.stopped(); });
    --waiting_readers_;
    moved = std::min(max, buffer_.size());
    for (std::size_t i = 0; i < moved; ++i) {
      out.push_back(std::move(buffer_.front()));
      buffer_.pop_front();
    }
    if (moved > 0 && !room_requested_ && !status_.stopped() &&
        buffer_.size() + credit_ <= window_.low) {
      room_requested_ = true;
      ask_for_room = true;
    }
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
  return {.buffered = buffer_.size(), .credit = credit_, .max_in_flight = max_in_flight_};
}

bool PartitionChannel::reader_waiting() const {
  std::lock_guard lock(mutex_);
  return waiting_readers_ > 0;
}

std::optional<SequenceNumber> PartitionChannel::last_received() const {
  std::lock_guard lock(mutex_);
  return last_received_;
}

std::size_t PartitionChannel::grant(GrantReason reason) {
  std::lock_guard lock(mutex_);
  room_requested_ = false;
  const std::size_t in_flight = buffer_.size() + credit_;
  if (reason == GrantReason::top_up && in_flight > window_.low) {
    return 0;
  }
  if (in_flight >= window_.high) {
    return 0;
  }
  const std::size_t add = window_.high - in_flight;
  credit_ += add;
  max_in_flight_ = std::max(max_in_flight_, buffer_.size() + credit_);
  return add;
}

bool PartitionChannel::push(HubEvent event) {
  std::lock_guard lock(mutex_);
  // The service sends only against credit; a transfer beyond it (a protocol violation) is
  // still kept, and shows up in max_in_flight.
  credit_ = credit_ > 0 ? credit_ - 1 : 0;
  last_received_ = event.sequence_number;
  const bool was_empty = buffer_.empty();
  buffer_.push_back(std::move(event));
  max_in_flight_ = std::max(max_in_flight_, buffer_.size() + credit_);
  return was_empty && waiting_readers_ > 0;
}

void PartitionChannel::wake_reader() {
  readable_.notify_all();
}

void PartitionChannel::link_lost() {
  std::lock_guard lock(mutex_);
  credit_ = 0;
  room_requested_ = false;
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
}

} // namespace hub2kusto::hub
