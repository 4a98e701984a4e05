#pragma once
// PartitionChannel: the hand-off between a partition's AMQP link (on the connection thread) and
// its reader (the partition's pipeline thread), and the credit bookkeeping that bounds it
// (docs/architecture.md, "Backpressure", Proton's examples/cpp/flow_control.cpp).
//
// In flight = events buffered here + credit granted to the service and not yet used. The
// channel grants credit only up to the high watermark of in-flight events (and, with a byte
// budget, only as much as fits in the bytes left), and only again once the reader has taken
// enough for in flight to fall to the low watermark, so:
//   - memory per partition is at most `high` events, and about `max_bytes` with a byte budget
//     (exceeded by at most the events of credit granted at the average size before a burst of
//     larger ones), whatever the service or reader does;
//   - a stalled reader stops the service from sending (no credit left), nothing is dropped;
//   - credit goes out in batches of at least high - low, not one flow frame per event.
//
// Threads: the `AMQP thread` methods are called by the connection's thread only; take() by one
// reader thread; status(), credit() and last_received() by any thread. A mutex guards the
// buffer; it never guards a Proton object (there are none here).
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "common/memory_budget.hpp"
#include "hub/event_source.hpp"

namespace hub2kusto::hub {

struct CreditWindow {
  std::size_t high =
      300; // the SDKs' default prefetch (docs/protocols.md, "Receiver links and start positions")
  std::size_t low = 150; // top up at half the window, as Proton's own credit_window does
  // Bytes in flight (buffered events' approximate_size() + credit x the running average event
  // size) the channel aims to stay under; 0 = count only. Credit granted is what fits in the
  // room left at the average size, so a partition of 1 MB events gets a few credits and one of
  // 200-byte events the whole window; top-ups wait until half of the byte budget is free.
  std::size_t max_bytes = 0;
};

class PartitionChannel final : public PartitionStream,
                               public std::enable_shared_from_this<PartitionChannel> {
public:
  PartitionChannel(PartitionId partition, CreditWindow window);
  // Once, before the stream is handed out: its credit also comes from `budget`, shared with
  // every other partition of the process, and what its reader holds counts against it.
  void use_budget(const std::shared_ptr<MemoryBudget>& budget);

  // Reader side (PartitionStream).
  const PartitionId& partition() const override { return partition_; }
  std::size_t take(std::vector<HubEvent>& out, std::size_t max,
                   std::chrono::milliseconds wait) override;
  PartitionStatus status() const override;
  CreditStats credit() const override;
  void on_readable(std::function<void()> callback) override;
  bool wakes_reader() const override { return true; }
  void holding(std::size_t bytes) override;
  std::optional<SequenceNumber> last_received() const override;
  // Any thread. Whether a reader is blocked in take() now.
  bool reader_waiting() const;

  // Set once by the AMQP side before the stream is handed out: called on the reader thread
  // (outside the lock) when taking events brought in flight down to the low watermark; it must
  // only post work to the AMQP thread, which then calls grant(kind::top_up).
  void on_room(std::function<void()> callback) { on_room_ = std::move(callback); }

  // AMQP thread. The credit to add to the link now, already counted as granted:
  //   attach:  a new link has no credit; fill the window (less what is still buffered);
  //   top_up:  only when in flight is at or below the low watermark, then fill the window.
  enum class GrantReason { attach, top_up };
  std::size_t grant(GrantReason reason);
  // AMQP thread. One event received: it used one credit. Returns true when a reader is waiting
  // for an event (in take(), or by on_readable()); the caller wakes it with wake_reader() once
  // it has pushed the rest of what arrived together, so a reader wakes once per burst rather
  // than once per event (on a busy core each wake-up can cost two context switches).
  [[nodiscard]] bool push(HubEvent event);
  // Any thread. Wakes a reader waiting in take(), and calls the on_readable() callback.
  void wake_reader();
  // AMQP thread. The link is gone and its credit with it; buffered events stay.
  void link_lost();
  // AMQP thread (and close()). Wakes the reader when the stream stops.
  void set_status(PartitionState state, std::string reason = {});

private:
  // grant() under the lock; `bytes`: in flight after it, for report().
  std::size_t grant_locked(GrantReason reason, double& bytes);
  // Under the lock. Bytes in flight as estimated for the byte budget.
  double bytes_in_flight() const;
  // Calls the on_readable() callback, if any. Not under the lock.
  void notify_readable() const;
  // Under the lock. Whether the reader freed enough that a top-up is due.
  bool room_for_top_up() const;
  // Under the lock. Whether to ask for a top-up now (one request at a time, none once stopped).
  bool claim_top_up();
  // The budget freed room after refusing us some: ask for a top-up, as take() does.
  void budget_room();
  // Not under the lock: tells the budget what the buffer and its credit stand for now.
  void report(double bytes);

  const PartitionId partition_;
  const CreditWindow window_;
  std::function<void()> on_room_;
  std::shared_ptr<MemoryBudget::Account> account_;           // none: no process budget
  std::shared_ptr<const std::function<void()>> on_readable_; // under the lock; called outside

  mutable std::mutex mutex_;
  std::condition_variable readable_;
  // Pushed at the back; taken from head_ on. A reader that takes everything swaps the whole
  // vector with its own (empty) one: no per-event moves or allocations between the threads.
  std::vector<HubEvent> buffer_;
  std::size_t head_ = 0;
  std::size_t buffered() const { return buffer_.size() - head_; }
  std::size_t buffered_bytes_ = 0;
  double average_event_bytes_ = 0; // running average of received events' sizes
  std::size_t credit_ = 0;
  std::size_t max_in_flight_ = 0;
  bool room_requested_ = false;
  std::size_t waiting_readers_ = 0;
  std::optional<SequenceNumber> last_received_;
  PartitionStatus status_;
};

} // namespace hub2kusto::hub
