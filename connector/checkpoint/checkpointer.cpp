#include "checkpoint/checkpointer.hpp"

#include <cassert>

namespace hub2kusto::checkpoint {

void PartitionCheckpointer::begin(const BatchRange& batch) {
  if (watermark_ && batch.last <= watermark_->sequence_number) {
    return; // already behind the stored position
  }
  assert(pending_.empty() || pending_.back().range.last < batch.first);
  pending_.push_back({batch, false});
}

void PartitionCheckpointer::complete(SequenceNumber first) {
  for (auto& p : pending_) {
    if (p.range.first == first) {
      p.done = true;
      break;
    }
  }
  while (!pending_.empty() && pending_.front().done) {
    const BatchRange& r = pending_.front().range;
    watermark_ = Checkpoint{r.last, r.last_offset};
    pending_.pop_front();
  }
}

Result<bool> PartitionCheckpointer::save_now() {
  if (!watermark_ || (saved_ && watermark_->sequence_number <= saved_->sequence_number)) {
    return false; // nothing new: forward only
  }
  auto stored = store_.save(partition_, *watermark_);
  last_save_ = clock_.steady_now();
  if (!stored) {
    return failure(std::move(stored).error());
  }
  saved_ = watermark_;
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
