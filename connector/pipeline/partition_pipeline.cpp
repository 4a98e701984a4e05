#include "pipeline/partition_pipeline.hpp"

#include <algorithm>
#include <future>

#include <fmt/format.h>

#include "common/backoff.hpp"
#include "common/gzip.hpp"
#include "common/iso8601.hpp"
#include "common/logging.hpp"
#include "common/redact.hpp"

namespace hub2kusto::pipeline {
namespace {

// A held batch and a refusing dead-letter store are retried at exact, doubling intervals.
BackoffPolicy retry_policy(const PipelineOptions& o) {
  return {.initial = o.retry_first, .max = o.retry_max, .multiplier = 2.0};
}

// ISO 8601 where the system clock can hold the time (years 1678 to 2262); beyond that, as a
// sender can stamp any AMQP timestamp, the Unix milliseconds as text, as the decoder writes them.
std::string iso(hub::Timestamp t) {
  constexpr auto limit = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::duration::max());
  const auto ms = t.time_since_epoch();
  if (ms >= limit || ms <= -limit) {
    return std::to_string(ms.count());
  }
  return format_iso8601_utc(std::chrono::time_point_cast<std::chrono::system_clock::duration>(t));
}

DeadLetter letter(const std::string& stage, const std::string& reason, const PartitionId& p,
                  const BatchedEvent& e, std::string body, const ingest::IngestTarget& target,
                  const std::string& batch_id, bool routed = false) {
  DeadLetter d;
  d.stage = stage;
  d.reason = reason;
  d.partition = p;
  d.sequence_number = e.sequence_number;
  d.offset = e.offset;
  d.enqueued_time = iso(e.enqueued_time);
  d.database = target.database.value();
  d.table = target.table.value();
  d.format = ingest_format_name(target.format);
  d.mapping = target.mapping ? target.mapping->value() : std::string();
  d.batch_id = batch_id;
  d.routed = routed;
  d.body = std::move(body);
  return d;
}

} // namespace

PartitionPipeline::PartitionPipeline(PipelineOptions options,
                                     std::shared_ptr<hub::PartitionStream> stream,
                                     ingest::Ingestor& ingestor, DeadLetterStore& dead_letters,
                                     checkpoint::PartitionCheckpointer& checkpointer,
                                     const Clock& clock, Sleeper& sleeper,
                                     std::optional<LocalMapper> mapper)
    : options_(std::move(options)), stream_(std::move(stream)), ingestor_(ingestor),
      dead_letters_(dead_letters), checkpointer_(checkpointer), clock_(clock), sleeper_(sleeper),
      batcher_(stream_->partition(), options_.limits, clock), mapper_(std::move(mapper)),
      default_key_(options_.routing.defaults.key()) {
  mapped_route_ = options_.routing.defaults;
  mapped_route_.format = IngestFormat::csv;
  mapped_route_.mapping.reset();
  mapped_key_ = mapped_route_.key();
}

std::vector<std::string> PartitionPipeline::problems() const {
  std::lock_guard lock(problems_mutex_);
  std::vector<std::string> problems;
  for (const std::string* p : {&target_problem_, &dead_letter_problem_, &checkpoint_problem_}) {
    if (!p->empty()) {
      problems.push_back(*p);
    }
  }
  return problems;
}

void PartitionPipeline::set_problem(std::string& slot, std::string problem) {
  std::lock_guard lock(problems_mutex_);
  slot = std::move(problem);
}

bool PartitionPipeline::give_up(std::optional<std::chrono::steady_clock::time_point> deadline,
                                std::chrono::milliseconds wait) const {
  return deadline ? clock_.steady_now() + wait > *deadline : stopping_.load();
}

void PartitionPipeline::pause_unless_stopped(std::chrono::milliseconds wait) {
  constexpr std::chrono::milliseconds kSlice{100};
  const auto end = clock_.steady_now() + wait;
  while (!stopping_) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(end - clock_.steady_now());
    if (left.count() <= 0) {
      return;
    }
    sleeper_.sleep_for(std::min(left, kSlice));
  }
}

bool PartitionPipeline::dead_letter(std::vector<DeadLetter> records,
                                    std::optional<std::chrono::steady_clock::time_point> deadline) {
  // Nothing may pass the checkpoint before its record is durable: retry until it is, or until
  // the drain deadline (then the events stay behind the checkpoint and come again).
  Backoff backoff(retry_policy(options_));
  while (true) {
    auto written = dead_letters_.write(records);
    if (written) {
      set_problem(dead_letter_problem_, {});
      break;
    }
    set_problem(dead_letter_problem_,
                "the dead-letter store refuses records: " + written.error().message);
    const auto wait = backoff.next();
    if (give_up(deadline, wait)) {
      logger("pipeline")
          ->error("partition {}: {} records not dead-lettered before the deadline ({}); their "
                  "events stay behind the checkpoint and are read again at restart",
                  stream_->partition(), records.size(), written.error().message);
      return false;
    }
    logger("pipeline")
        ->error("partition {}: the dead-letter store refused {} records ({}); "
                "retrying in {} ms",
                stream_->partition(), records.size(), written.error().message, wait.count());
    if (deadline) {
      sleeper_.sleep_for(wait); // draining: stop() was called, the deadline bounds the wait
    } else {
      pause_unless_stopped(wait);
    }
  }
  metrics_.events_dead_lettered.add(records);
  for (const auto& r : records) {
    // ERROR: data did not reach Kusto. No body content in the log (it is in the store).
    const LogFields fields{{"partition", r.partition.value()},
                           {"table", r.table},
                           {"stage", r.stage},
                           {"error_code", r.error_code}};
    logger("pipeline")
        ->error("event {} of partition {} dead-lettered ({}): {}", r.sequence_number, r.partition,
                r.stage, r.reason);
  }
  return true;
}

bool PartitionPipeline::accept(const hub::HubEvent& event) {
  metrics_.events_received.fetch_add(1, std::memory_order_relaxed);
  if (event.undecodable) {
    // Its positions are known, nothing else: the raw message goes to the dead-letter store
    // (base64 there, as it is not text) and the partition goes on.
    BatchedEvent e{event.sequence_number, event.offset, event.enqueued_time, {}};
    const Route& d = options_.routing.defaults;
    ingest::IngestTarget target{d.database, d.table, d.format, d.mapping};
    if (!dead_letter({letter("decode", *event.undecodable, stream_->partition(), e, event.body,
                             target, "")})) {
      return false;
    }
    checkpointer_.track_done(event.sequence_number, event.offset, event.enqueued_time);
    return true;
  }
  // Most events carry no routing property: their route (and its key) is the configured one.
  std::optional<Route> routed;
  if (has_routing_properties(event)) {
    auto r = route_event(event, options_.routing);
    if (!r) {
      BatchedEvent e{event.sequence_number, event.offset, event.enqueued_time, {}};
      const Route& d = options_.routing.defaults;
      ingest::IngestTarget target{d.database, d.table, d.format, d.mapping};
      if (!dead_letter({letter("routing", r.error().message, stream_->partition(), e, event.body,
                               target, "")})) {
        return false;
      }
      checkpointer_.track_done(event.sequence_number, event.offset, event.enqueued_time);
      return true;
    }
    routed = std::move(r).value();
  }
  const bool configured = !routed || *routed == options_.routing.defaults;
  const Route& route = configured ? options_.routing.defaults : *routed;
  if (mapper_ && configured) {
    mapped_.clear();
    const MappedEvent m = mapper_->map(event, mapped_);
    metrics_.values_nulled.fetch_add(m.nulls, std::memory_order_relaxed);
    if (m.rejection || m.rows == 0) {
      if (m.rejection) {
        BatchedEvent e{event.sequence_number, event.offset, event.enqueued_time, {}};
        ingest::IngestTarget target{route.database, route.table, route.format, route.mapping};
        if (!dead_letter({letter("mapping", *m.rejection, stream_->partition(), e, event.body,
                                 target, "")})) {
          return false;
        }
      }
      checkpointer_.track_done(event.sequence_number, event.offset,
                               event.enqueued_time); // nothing to ingest
      return true;
    }
    // The engine wrote the table's columns in order: CSV, no mapping reference.
    const auto token =
        batcher_.add(event, mapped_route_, mapped_key_, {mapped_, false, false}, ready_);
    checkpointer_.track(event.sequence_number, event.offset, token, event.enqueued_time);
    return true;
  }
  std::string_view body = event.body;
  if (route.gzip) {
    // ADX's data connection inflates each `Compression=gzip` event on its own: joined as they
    // came, the batch would reach Kusto as gzip inside gzip (docs/protocols.md, "Routing").
    bool too_large = false;
    auto inflated = gzip::decompress(event.body, options_.max_inflated_event_bytes, &too_large);
    if (!inflated) {
      BatchedEvent e{event.sequence_number, event.offset, event.enqueued_time, {}};
      ingest::IngestTarget target{route.database, route.table, route.format, route.mapping};
      const std::string reason =
          too_large ? fmt::format("the event carries Compression=gzip and inflates to more than "
                                  "{} bytes",
                                  options_.max_inflated_event_bytes)
                    : "the event carries Compression=gzip but its body is not valid gzip";
      if (!dead_letter({letter("decompression", reason, stream_->partition(), e, event.body, target,
                               "", !configured)})) {
        return false;
      }
      checkpointer_.track_done(event.sequence_number, event.offset, event.enqueued_time);
      return true;
    }
    inflated_ = std::move(*inflated);
    body = inflated_;
  }
  const bool newline =
      !is_binary(route.format) && (body.empty() || body.back() != '\n'); // one record per line
  // An inflated body is not the event's: the batcher keeps the original for dead letters.
  const auto token = batcher_.add(event, route, configured ? default_key_ : route.key(),
                                  {body, newline, !route.gzip}, ready_);
  checkpointer_.track(event.sequence_number, event.offset, token, event.enqueued_time);
  return true;
}

bool PartitionPipeline::deliver(ReadyBatch& batch,
                                std::optional<std::chrono::steady_clock::time_point> deadline) {
  if (!deliver_range(batch, 0, batch.events.size(), deadline)) {
    return false;
  }
  finished(batch);
  return true;
}

void PartitionPipeline::finished(const ReadyBatch& batch) {
  checkpointer_.complete(batch.token);
  if (options_.latency == nullptr) {
    return;
  }
  // In doubles: an event may claim any enqueued time, and int64 arithmetic could overflow.
  const auto now_ms = static_cast<double>(
      std::chrono::time_point_cast<std::chrono::milliseconds>(clock_.system_now())
          .time_since_epoch()
          .count());
  Histogram::Tally tally(*options_.latency);
  for (const BatchedEvent& e : batch.events) {
    tally.observe((now_ms - static_cast<double>(e.enqueued_time.time_since_epoch().count())) /
                  1000.0);
  }
}

bool PartitionPipeline::configured(const ingest::IngestTarget& target) const {
  const Route& d = options_.routing.defaults;
  return target.database == d.database && target.table == d.table &&
         (!target.mapping || target.mapping == d.mapping);
}

bool PartitionPipeline::deliver_range(
    const ReadyBatch& batch, std::size_t begin, std::size_t end,
    std::optional<std::chrono::steady_clock::time_point> deadline) {
  ingest::Batch part;
  const ingest::Batch* request = &batch.batch;
  if (begin != 0 || end != batch.events.size()) {
    part.target = batch.batch.target;
    part.id = ingest::BatchId{stream_->partition(), batch.events[begin].sequence_number,
                              batch.events[end - 1].sequence_number}
                  .text();
    for (std::size_t i = begin; i < end; ++i) {
      const BatchedEvent& e = batch.events[i];
      part.data.append(batch.batch.data, e.payload_begin, e.payload_size);
    }
    part.records = end - begin;
    request = &part;
  }
  using TargetProblem = ingest::DeliveryStatus::TargetProblem;
  const LogFields fields{{"partition", stream_->partition().value()},
                         {"batch_id", request->id},
                         {"table", request->target.table.value()}};
  Backoff backoff(retry_policy(options_));
  while (true) {
    ingest::DeliveryStatus status = ingestor_.ingest(*request);
    judge(*request, status, end - begin);
    switch (status.outcome) {
    case ingest::Outcome::delivered:
      return true;
    case ingest::Outcome::rejected: {
      metrics_.batches_rejected.fetch_add(1, std::memory_order_relaxed);
      if (end - begin > 1) {
        // Kusto refuses a whole request for one bad record: find the bad ones by halving.
        logger("pipeline")
            ->warn("batch {} rejected ({}); splitting it to find the events "
                   "Kusto refuses",
                   request->id, status.reason);
        const std::size_t mid = begin + (end - begin) / 2;
        return deliver_range(batch, begin, mid, deadline) &&
               deliver_range(batch, mid, end, deadline);
      }
      DeadLetter d =
          letter("ingest", status.reason, stream_->partition(), batch.events[begin],
                 original_body(batch, batch.events[begin]), batch.batch.target, batch.batch.id,
                 !configured(batch.batch.target) ||
                     batch.batch.target.format != options_.routing.defaults.format);
      d.error_code = status.error_code;
      return dead_letter({std::move(d)}, deadline);
    }
    case ingest::Outcome::retriable:
      break;
    }
    const auto pause = status.retry_after.value_or(backoff.next());
    if (give_up(deadline, pause)) {
      logger("pipeline")
          ->error("batch {} not delivered before the deadline ({}); its events "
                  "stay behind the checkpoint and are read again at restart",
                  request->id, status.reason);
      return false;
    }
    if (status.target_problem == TargetProblem::none) {
      logger("pipeline")
          ->warn("batch {} not delivered ({}); trying again in {} ms", request->id, status.reason,
                 pause.count());
    }
    sleeper_.sleep_for(pause);
  }
}

bool PartitionPipeline::deliver_alone(const ReadyBatch& run) {
  return deliver_range(run, 0, run.events.size(), std::nullopt);
}

void PartitionPipeline::judge(const ingest::Batch& request, ingest::DeliveryStatus& status,
                              std::size_t events) {
  using TargetProblem = ingest::DeliveryStatus::TargetProblem;
  if (status.target_problem == TargetProblem::missing_entity && !configured(request.target)) {
    // A table, database or mapping that an event's routing properties named: the events'
    // fault, not the configuration's. Dead-lettered as Kusto refused them.
    status.outcome = ingest::Outcome::rejected;
    status.target_problem = TargetProblem::none;
  }
  if (status.outcome != ingest::Outcome::retriable ||
      status.target_problem == TargetProblem::none) {
    set_problem(target_problem_, {});
  }
  if (status.outcome == ingest::Outcome::delivered) {
    if (status.smaller_batches) {
      std::lock_guard lock(size_limits_mutex_);
      size_limits_.emplace_back(TableSizeLimits::key(request.target.database, request.target.table),
                                *status.smaller_batches);
    }
    metrics_.batches_delivered.fetch_add(1, std::memory_order_relaxed);
    metrics_.events_ingested.fetch_add(events, std::memory_order_relaxed);
    return;
  }
  if (status.outcome != ingest::Outcome::retriable) {
    return;
  }
  metrics_.batch_retries.fetch_add(1, std::memory_order_relaxed);
  if (status.target_problem != TargetProblem::none) {
    // The target is wrong for every event alike: hold here (credit runs out behind us) and
    // go on by ourselves once it is fixed; nothing is dead-lettered for it.
    metrics_.target_problem_retries.fetch_add(1, std::memory_order_relaxed);
    set_problem(target_problem_,
                fmt::format("Kusto target {}.{}: {}; holding the partition until it is fixed",
                            printable(request.target.database.value(), 100),
                            printable(request.target.table.value(), 100), status.reason));
    const auto now = clock_.steady_now();
    if (!last_target_log_ || now - *last_target_log_ >= std::chrono::minutes(1)) {
      last_target_log_ = now;
      logger("pipeline")
          ->error("partition {}: the Kusto target {}.{} refuses every batch ({}); holding the "
                  "partition, nothing is dead-lettered or skipped, delivery resumes once it is "
                  "fixed",
                  stream_->partition(), printable(request.target.database.value(), 100),
                  printable(request.target.table.value(), 100), status.reason);
    }
  }
}

void PartitionPipeline::save_checkpoint(bool now) {
  auto saved = now ? checkpointer_.flush() : checkpointer_.maybe_save();
  if (const auto& stored = checkpointer_.saved()) {
    metrics_.checkpoint_sequence_number.store(stored->sequence_number.value(),
                                              std::memory_order_relaxed);
    if (const auto enqueued = checkpointer_.saved_enqueued_time()) {
      metrics_.checkpoint_enqueued_unix_ms.store(
          std::chrono::duration_cast<std::chrono::milliseconds>(enqueued->time_since_epoch())
              .count(),
          std::memory_order_relaxed);
    }
  }
  std::size_t delivering = in_flight_ ? in_flight_->batch->batch.data.size() : 0;
  for (const auto& b : held_) {
    delivering += b.batch.data.size();
  }
  for (const auto& b : ready_) { // waiting for the batch in flight
    delivering += b.batch.data.size();
  }
  metrics_.delivering_bytes.store(delivering, std::memory_order_relaxed);
  metrics_.in_flight_bytes.store(batcher_.open_bytes() + delivering, std::memory_order_relaxed);
  stream_->holding(batcher_.open_bytes() + delivering);
  if (saved && *saved) {
    set_problem(checkpoint_problem_, {});
  }
  if (!saved) {
    set_problem(checkpoint_problem_,
                "the checkpoint store refuses saves: " + saved.error().message);
    metrics_.checkpoint_failures.fetch_add(1, std::memory_order_relaxed);
    logger("pipeline")
        ->warn("partition {}: checkpoint not saved ({}); it stays behind, "
               "nothing is skipped",
               stream_->partition(), saved.error().message);
  }
}

PartitionPipeline::~PartitionPipeline() {
  if (in_flight_) {
    in_flight_->done.wait();
  }
  if (reported_batching_) {
    options_.queue->batching(false);
  }
}

void PartitionPipeline::stop() {
  stopping_ = true;
  if (options_.queue != nullptr) {
    options_.queue->wake(); // a batch of ours waiting for company leaves now
  }
}

void PartitionPipeline::report_batching() {
  const bool open = batcher_.open_batches() > 0;
  if (options_.queue != nullptr && open != reported_batching_) {
    reported_batching_ = open;
    options_.queue->batching(open);
  }
}

void PartitionPipeline::launch(ReadyBatch batch) {
  auto shared = std::make_shared<ReadyBatch>(std::move(batch));
  if (options_.queue != nullptr) {
    // settle() waits for the outcome before the pipeline ends, so this member outlives it.
    auto done = options_.queue->submit(shared, *this, on_delivery_end_);
    in_flight_.emplace(InFlight{std::move(shared), std::move(done)});
    return;
  }
  auto delivery = [this, shared] {
    return deliver_range(*shared, 0, shared->events.size(), std::nullopt);
  };
  // settle() waits for it before the pipeline ends, so `this` outlives the thread.
  in_flight_.emplace(
      InFlight{std::move(shared), std::async(std::launch::async, std::move(delivery))});
}

bool PartitionPipeline::settle(bool block) {
  if (!in_flight_) {
    return true;
  }
  if (!block && in_flight_->done.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    return true;
  }
  const bool delivered = in_flight_->done.get();
  if (delivered) {
    finished(*in_flight_->batch);
  } else {
    held_.push_back(std::move(*in_flight_->batch)); // stopping while Kusto refuses: for drain()
  }
  in_flight_.reset();
  return delivered;
}

bool PartitionPipeline::step(bool block) {
  // Read once, before taking: a stream that had stopped then has nothing more to give than what
  // this step takes, so an empty take below means it is drained.
  const auto status = stream_->status();
  if (status.state == hub::PartitionState::stolen) {
    // Another owner's receiver took the link and reads from our checkpoint: the events still
    // buffered here are its to deliver; taking them would only deliver them twice.
    return false;
  }
  {
    std::lock_guard lock(size_limits_mutex_);
    for (const auto& [table, bytes] : size_limits_) {
      batcher_.limit_table(table, bytes, clock_.steady_now() + options_.smaller_batches_for);
      logger("pipeline")
          ->info("partition {}: batches for {} close at {} bytes for {} s, after the service "
                 "refused a larger one",
                 stream_->partition(), table, bytes,
                 std::chrono::duration_cast<std::chrono::seconds>(options_.smaller_batches_for)
                     .count());
    }
    size_limits_.clear();
  }
  std::chrono::milliseconds wait{0};
  if (block) {
    wait = std::chrono::milliseconds(100);
    if (const auto due = batcher_.next_due()) {
      wait = std::clamp(
          std::chrono::duration_cast<std::chrono::milliseconds>(*due - clock_.steady_now()),
          std::chrono::milliseconds(0), wait);
    }
    if (in_flight_) {
      wait = std::min(wait, std::chrono::milliseconds(10)); // notice its end soon
    }
    if (options_.idle_flush.count() > 0 && batcher_.open_batches() > 0) {
      wait = std::min(wait, options_.idle_flush);
    }
  }
  // A turn that does not block takes nothing while batches wait for the one in flight: the
  // events stay in the stream, and its credit runs out behind them (backpressure).
  // The worker's, not the partition's: a take of all a stream holds swaps vectors with it, so
  // each partition keeps one vector of events instead of two. At 512 partitions that is about
  // 40 MiB less at the peak (bench/REPORT.md, "What else the 512-partition drain was tried with").
  thread_local std::vector<hub::HubEvent> taken;
  if (block || ready_.empty()) {
    stream_->take(taken, options_.take_max, wait); // empty: cleared at the end of every step
  }
  took_all_ = taken.size() < options_.take_max;
  for (const auto& e : taken) {
    if (!accept(e)) {
      break; // stopping with a dead letter unwritten: this event and the rest stay behind
    }
  }
  const bool took = !taken.empty();
  taken.clear(); // their bytes are in the batches now: do not hold them while delivering
  const auto now = clock_.steady_now();
  if (took) {
    last_event_ = now;
  }
  if (options_.idle_flush.count() > 0 && !took && batcher_.open_batches() > 0 &&
      now - last_event_ >= options_.idle_flush) {
    batcher_.take_all(ready_); // the partition went quiet: no reason to wait for the linger
  } else {
    batcher_.take_due(ready_);
  }
  bool delivering = true;
  std::size_t handed = 0; // batches of ready_ delivered, launched or held
  for (; handed < ready_.size(); ++handed) {
    ReadyBatch& b = ready_[handed];
    if (!delivering) {
      held_.push_back(std::move(b));
      continue;
    }
    if (!options_.concurrent_delivery) {
      if (!deliver(b, std::nullopt)) {
        held_.push_back(std::move(b));
        delivering = false;
      }
      continue;
    }
    // One batch in flight per partition, in order: the next waits for the previous; a turn
    // that does not block leaves it in ready_ for a later turn.
    if (!block && in_flight_ &&
        in_flight_->done.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
      break;
    }
    if (!settle(true)) {
      held_.push_back(std::move(b));
      delivering = false;
      continue;
    }
    launch(std::move(b));
  }
  ready_.erase(ready_.begin(), ready_.begin() + static_cast<std::ptrdiff_t>(handed));
  if (delivering && !settle(false)) {
    delivering = false;
  }
  report_batching();
  save_checkpoint(false);
  if (!delivering) {
    return false; // stopping while Kusto refuses: drain() tries the held batches until its deadline
  }
  return !(!took && status.stopped() && batcher_.open_batches() == 0 && !in_flight_ &&
           ready_.empty());
}

std::chrono::steady_clock::time_point PartitionPipeline::next_turn() const {
  const auto now = clock_.steady_now();
  if (!took_all_) {
    return now; // the stream may hold more than one take
  }
  // Events, a delivery's end and stop() wake the loop; the timer covers the batches' linger,
  // the idle flush, a checkpoint interval and a stream that cannot wake anyone (often while
  // something is pending, every second for an idle partition). An idle partition whose stream
  // wakes it needs no turn until then: with hundreds of partitions, a turn a second each was
  // about 1 % of a core spent on nothing. Its turn a minute is only a backstop.
  const auto& watermark = checkpointer_.watermark();
  const auto& saved = checkpointer_.saved();
  const bool unsaved = watermark && (!saved || saved->sequence_number < watermark->sequence_number);
  const bool pending = in_flight_ || !ready_.empty() || !held_.empty() ||
                       batcher_.open_batches() > 0 || checkpointer_.pending() > 0 || unsaved;
  const std::chrono::milliseconds idle =
      stream_->wakes_reader() ? std::chrono::minutes(1) : std::chrono::seconds(1);
  auto next = now + (pending ? std::chrono::milliseconds(100) : idle);
  if (const auto due = batcher_.next_due()) {
    next = std::min(next, *due);
  }
  if (options_.idle_flush.count() > 0 && batcher_.open_batches() > 0) {
    next = std::min(next, last_event_ + options_.idle_flush);
  }
  return next;
}

void PartitionPipeline::run() {
  while (!stopping_ && step()) {
  }
}

bool PartitionPipeline::drain(std::chrono::steady_clock::time_point deadline) {
  settle(true);
  std::vector<ReadyBatch> batches = std::move(held_);
  held_.clear();
  for (auto& b : ready_) { // a turn that did not block left them for the batch in flight
    batches.push_back(std::move(b));
  }
  ready_.clear();
  batcher_.take_all(batches);
  report_batching();
  bool all = true;
  for (auto& b : batches) {
    if (all && !deliver(b, deadline)) {
      all = false; // later batches are not tried: the checkpoint cannot pass this one anyway
    }
  }
  save_checkpoint(true);
  return all;
}

void PartitionPipeline::abandon() {
  settle(true);
  held_.clear();
  ready_.clear();
  std::vector<ReadyBatch> dropped;
  batcher_.take_all(dropped);
  report_batching();
  metrics_.in_flight_bytes.store(0, std::memory_order_relaxed);
  metrics_.delivering_bytes.store(0, std::memory_order_relaxed);
  stream_->holding(0);
}

} // namespace hub2kusto::pipeline
