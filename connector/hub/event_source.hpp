#pragma once
// The hub stage's seam (docs/architecture.md, "Seams"): an EventSource reads one Event Hub (or an
// IoT Hub's built-in endpoint) and hands out one PartitionStream per partition. No Proton type
// appears here; the AMQP implementation is amqp_event_source.hpp.
//
// Threads: an EventSource may be called from any thread. A PartitionStream is read by one
// thread at a time (its partition's pipeline); its status may be read from any thread.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "common/types.hpp"
#include "hub/hub_event.hpp"

namespace hub2kusto::hub {

// Where a partition's stream starts (docs/protocols.md, "Receiver links and start positions"). A
// checkpoint resumes right after the event it names: `after(sequence_number)`.
struct StartPosition {
  enum class Kind { earliest, latest, offset, sequence_number, enqueued_time };
  Kind kind = Kind::earliest;
  bool inclusive = false; // offset, sequence_number, enqueued_time: include the event there
  Offset offset;
  SequenceNumber sequence_number;
  Timestamp enqueued_time;

  static StartPosition earliest() { return {}; }
  static StartPosition latest() { return make(Kind::latest, false); }
  static StartPosition after(SequenceNumber n) {
    auto p = make(Kind::sequence_number, false);
    p.sequence_number = n;
    return p;
  }
  static StartPosition at(SequenceNumber n) {
    auto p = after(n);
    p.inclusive = true;
    return p;
  }
  static StartPosition after(Offset o) {
    auto p = make(Kind::offset, false);
    p.offset = std::move(o);
    return p;
  }
  static StartPosition at(Offset o) {
    auto p = after(std::move(o));
    p.inclusive = true;
    return p;
  }
  // The first event enqueued at or after `t`.
  static StartPosition enqueued_since(Timestamp t) {
    auto p = make(Kind::enqueued_time, true);
    p.enqueued_time = t;
    return p;
  }

private:
  static StartPosition make(Kind kind, bool inclusive) {
    StartPosition p;
    p.kind = kind;
    p.inclusive = inclusive;
    return p;
  }
};

enum class PartitionState {
  starting,   // first attach not yet confirmed
  receiving,  // attached, events flow as credit allows
  recovering, // link or connection lost; re-attaching after a backoff, nothing lost
  stolen,     // another receiver with an equal or higher epoch took it (amqp:link:stolen)
  failed,     // a non-retriable condition; `reason` says which and what to do
  closed,     // closed by us
};
std::string_view partition_state_name(PartitionState state);

struct PartitionStatus {
  PartitionState state = PartitionState::starting;
  std::string reason; // for stolen and failed: the service's condition and description
  bool stopped() const {
    return state == PartitionState::stolen || state == PartitionState::failed ||
           state == PartitionState::closed;
  }
};

// What the partition holds in memory, for tests and the in-flight gauges: `buffered` events
// received and not yet taken, `credit` granted to the service and not yet used. Their sum is
// the in-flight count, never above the configured window; `max_in_flight` is its high mark.
struct CreditStats {
  std::size_t buffered = 0;
  std::size_t buffered_bytes = 0; // their approximate_size()
  std::size_t credit = 0;
  std::size_t max_in_flight = 0;
};

class PartitionStream {
public:
  virtual ~PartitionStream() = default;
  virtual const PartitionId& partition() const = 0;

  // One reader thread. Appends up to `max` events to `out` in partition order and returns how
  // many; waits up to `wait` for the first. Taking events frees room: once the in-flight count
  // falls to the low watermark the receiver grants credit up to the window again, so events
  // that are not taken stop the service from sending more. Returns 0 when the wait elapsed or
  // the stream is stopped with nothing left (see status()).
  virtual std::size_t take(std::vector<HubEvent>& out, std::size_t max,
                           std::chrono::milliseconds wait) = 0;

  // Any thread. `callback` is called (on the thread that receives, never under a lock of the
  // stream's) when events arrive in an empty buffer and when the status changes, so a reader
  // that does not wait in take() learns when to take again. A stream without one (a test's,
  // replay's) leaves such a reader to its timer.
  virtual void on_readable(std::function<void()> callback) { (void)callback; }
  // Whether the stream ever calls on_readable()'s callback: a reader of one that does not must
  // look again now and then, even while idle.
  virtual bool wakes_reader() const { return false; }

  // The reader holds `bytes` of what it took and has not delivered yet: they count against the
  // process's memory budget, which the stream's credit comes from (common/memory_budget.hpp).
  virtual void holding(std::size_t bytes) { (void)bytes; }

  // Any thread.
  virtual PartitionStatus status() const = 0;
  virtual CreditStats credit() const = 0;
  // The last event handed to the buffer: where a reconnect resumes (exclusive).
  virtual std::optional<SequenceNumber> last_received() const = 0;
};

struct HubProperties {
  EventHubName name;
  // The Event Hubs namespace host the hub was read from: for IoT Hub, the Event Hub-compatible
  // endpoint the redirect named, which the SDKs use to scope checkpoints.
  std::string fully_qualified_namespace;
  std::vector<PartitionId> partition_ids;
  Timestamp created_at;
};

struct PartitionProperties {
  PartitionId partition;
  SequenceNumber begin_sequence_number;
  SequenceNumber last_enqueued_sequence_number;
  Offset last_enqueued_offset;
  Timestamp last_enqueued_time;
  bool is_empty = false;
};

class EventSource {
public:
  virtual ~EventSource() = default;

  // Any thread; block up to `timeout`. Errors name the hub and say what failed, never a key.
  virtual Result<HubProperties> hub_properties(std::chrono::milliseconds timeout) = 0;
  virtual Result<PartitionProperties> partition_properties(const PartitionId& partition,
                                                           std::chrono::milliseconds timeout) = 0;

  // Any thread. Starts receiving the partition from `start`; opening one twice returns the
  // stream already open.
  virtual std::shared_ptr<PartitionStream> open_partition(const PartitionId& partition,
                                                          const StartPosition& start) = 0;

  // Any thread. Stops reading one partition (another owner takes it): its link is detached
  // and its stream reports `closed`; opening it again later starts a new stream. A partition
  // not open is no error.
  virtual void close_partition(const PartitionId& partition) = 0;

  // Any thread. Detaches every link, closes the connection and ends the AMQP thread. Streams
  // keep what they buffered and report `closed`. Idempotent; the destructor calls it.
  virtual void close() = 0;
};

} // namespace hub2kusto::hub
