#pragma once
// MemoryBudget: the bytes of events the process holds, taken from the hubs and not yet
// delivered, bounded once for every partition of every connection (`limits.max_buffered_bytes`;
// docs/architecture.md, "Backpressure"). Each partition has an Account: what its receive buffer
// holds or has credit for, and what its pipeline took and has not delivered (open batches,
// batches waiting or in flight). A partition may bring more in (AMQP credit) while the budget
// has room, so a busy partition may use what quiet ones leave. A partition refused room waits:
// what is left of its fair share (the limit over the partitions) is reserved for it, so the room
// others free comes to it first and no partition that is not waiting may take it; it is told
// once enough is free, or once it holds nothing at all (a partition holding nothing may always
// take an event: its channel grants one). Its reservation follows what it holds each time room
// frees, so a partition refused while it held its whole share, which has delivered since, is
// not kept waiting behind the others' reservations. So the total stays within the limit, and no
// partition starves behind busy ones.
//
// Threads: any. The bytes used are atomics (every turn of every partition reports them); who
// waits and what is reserved for it change only when a partition is refused or room frees for
// a waiting one, under the budget's mutex.
#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace hub2kusto {

class MemoryBudget : public std::enable_shared_from_this<MemoryBudget> {
public:
  class Account;

  // A budget of `limit` bytes; 0: none (every room() is unlimited).
  static std::shared_ptr<MemoryBudget> create(std::size_t limit);
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  // A partition's account; `on_room` is called (on the thread that freed it, under no lock of
  // the budget's) when room frees after room() said there was none. Closed when destroyed.
  std::shared_ptr<Account> open(std::function<void()> on_room);

  std::size_t limit() const { return limit_; }
  std::size_t used() const { return used_.load(std::memory_order_relaxed); }
  std::size_t accounts() const { return count_.load(std::memory_order_relaxed); }

private:
  explicit MemoryBudget(std::size_t limit) : limit_(limit) {}
  void change(std::ptrdiff_t delta);
  void close(Account* account);

  // Under the lock. What `account` may take now (see Account::room()).
  std::size_t available(const Account& account) const;
  // Under the lock. Keeps `bytes` for the account (0: none).
  void reserve(Account& account, std::size_t bytes);
  // Under the lock. Marks the account waiting for room or not; false when it already was.
  bool set_waiting(Account& account, bool waiting);

  const std::size_t limit_;
  std::atomic<std::size_t> used_{0};
  std::atomic<std::size_t> count_{0};   // accounts open
  std::atomic<std::size_t> waiting_{0}; // accounts refused room: when none, a change scans none
  mutable std::mutex mutex_;
  std::vector<Account*> accounts_; // under the lock
  std::size_t reserved_ = 0;       // under the lock: the waiting accounts' reservations
};

class MemoryBudget::Account {
public:
  ~Account();
  Account(const Account&) = delete;
  Account& operator=(const Account&) = delete;

  // The receive side: bytes buffered, plus credit granted times the average event size.
  void set_received(std::size_t bytes);
  // The pipeline: bytes taken and not yet delivered.
  void set_held(std::size_t bytes);
  // The reader took `bytes` of what was received: they are held now. The total stays, so no
  // other partition sees room that is not there between the take and the reader's next count.
  void move_to_held(std::size_t bytes);
  std::size_t total() const {
    return received_.load(std::memory_order_relaxed) + held_.load(std::memory_order_relaxed);
  }
  // How many more bytes the partition may bring in now: what the budget has left, less what
  // waiting partitions have reserved (a waiting partition itself may take all that is free).
  // Zero when that is less than `at_least` (an event): the partition then waits, with what is
  // left of its fair share reserved, and on_room is called once at least `at_least` is free for
  // it or it holds nothing.
  std::size_t room(std::size_t at_least = 1);
  // The limit over the partitions.
  std::size_t fair_share() const;

private:
  friend class MemoryBudget;
  Account(std::shared_ptr<MemoryBudget> budget, std::function<void()> on_room)
      : budget_(std::move(budget)), on_room_(std::move(on_room)) {}
  void set(std::atomic<std::size_t>& slot, std::size_t bytes);
  // What is left of its fair share beyond what it holds.
  std::size_t unused_share() const;

  std::shared_ptr<MemoryBudget> budget_;
  std::function<void()> on_room_;
  std::atomic<std::size_t> received_{0};
  std::atomic<std::size_t> held_{0};
  // Under the budget's lock.
  bool waiting_ = false;        // refused room: tell it when some frees
  std::size_t wanted_ = 1;      // how much room is worth telling it about
  std::size_t reservation_ = 0; // while waiting (and once told, until it looks again)
};

} // namespace hub2kusto
