#include "checkpoint/checkpointer.hpp"

#include <cassert>

namespace hub2kusto::checkpoint {

void PartitionCheckpointer::track(SequenceNumber sequence_number, const Offset& offset,
                                  BatchToken batch, EnqueuedTime enqueued) {
  if (watermark_ && sequence_number <= watermark_->sequence_number) {
    return; // already behind the stored position
  }
  extend(sequence_number, offset, enqueued, batch);
}

void PartitionCheckpointer::track_done(SequenceNumber sequence_number, const Offset& offset,
                                       EnqueuedTime enqueued) {
  if (watermark_ && sequence_number <= watermark_->sequence_number) {
    return;
  }
  extend(sequence_number, offset, enqueued, std::nullopt);
  advance();
}

void PartitionCheckpointer::extend(SequenceNumber sequence_number, const Offset& offset,
                                   EnqueuedTime enqueued, std::optional<BatchToken> batch) {
  assert(pending_.empty() || pending_.back().last_sequence_number < sequence_number);
  ++pending_events_;
  if (!pending_.empty() && pending_.back().batch == batch) {
    Run& run = pending_.back();
    run.last_sequence_number = sequence_number;
    run.last_offset = offset;
    run.last_enqueued = enqueued;
    ++run.events;
    return;
  }
  pending_.push_back({sequence_number, offset, enqueued, batch, 1});
  if (batch) {
    ++open_[*batch];
  }
}

void PartitionCheckpointer::complete(BatchToken batch) {
  if (open_.contains(batch)) {
    done_.insert(batch);
    advance();
  }
}

void PartitionCheckpointer::advance() {
  while (!pending_.empty()) {
    Run& front = pending_.front();
    if (front.batch) {
      if (!done_.contains(*front.batch)) {
        break;
      }
      if (--open_[*front.batch] == 0) {
        open_.erase(*front.batch);
        done_.erase(*front.batch);
      }
    }
    watermark_ = Checkpoint{front.last_sequence_number, std::move(front.last_offset)};
    watermark_enqueued_ = front.last_enqueued;
    pending_events_ -= front.events;
    pending_.pop_front();
  }
}

Result<bool> PartitionCheckpointer::save_now() {
  if (!watermark_ || (saved_ && watermark_->sequence_number <= saved_->sequence_number)) {
    return false; // nothing new: forward only
  }
  Saved stored = std::monostate{};
  const auto save = [&] { stored = store_.save(partition_, *watermark_); };
  if (!fence_) {
    save();
  } else if (!fence_->run(save)) {
    return false; // another owner has the partition now
  }
  last_save_ = clock_.steady_now();
  if (!stored) {
    return failure(std::move(stored).error());
  }
  saved_ = watermark_;
  saved_enqueued_ = watermark_enqueued_;
  return true;
}

Result<bool> PartitionCheckpointer::maybe_save() {
  if (last_save_ && clock_.steady_now() - *last_save_ < interval_) {
    return false;
  }
  return save_now();
}

Result<bool> PartitionCheckpointer::flush() {
  return save_now();
}

} // namespace hub2kusto::checkpoint
