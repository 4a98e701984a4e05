#include "pipeline/delivery_queue.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "common/backoff.hpp"
#include "common/logging.hpp"
#include "common/threads.hpp"

namespace hub2kusto::pipeline {
namespace {

// Runs may share a request when everything Kusto reads besides the data is the same.
std::string target_key(const ingest::IngestTarget& t) {
  return fmt::format("{}\n{}\n{}\n{}", t.database.value(), t.table.value(),
                     ingest_format_name(t.format), t.mapping ? t.mapping->value() : "");
}

// The runs' records as one request. Its id names the first run and how many follow
// ("<partition>-<first>-<last>+<more>"); `parts` names each.
ingest::Batch join(const std::vector<std::shared_ptr<const ReadyBatch>>& runs) {
  ingest::Batch request;
  request.target = runs.front()->batch.target;
  std::size_t bytes = 0;
  for (const auto& r : runs) {
    bytes += r->batch.data.size();
  }
  request.data.reserve(bytes);
  for (const auto& r : runs) {
    request.data += r->batch.data;
    request.records += r->batch.records;
    request.parts.push_back(r->batch.id);
  }
  request.id = fmt::format("{}+{}", request.parts.front(), request.parts.size() - 1);
  return request;
}

} // namespace

DeliveryQueue::DeliveryQueue(Options options, TaskPool& pool, ingest::Ingestor& ingestor,
                             const Clock& clock, Sleeper& sleeper)
    : options_(options), pool_(pool), ingestor_(ingestor), clock_(clock), sleeper_(sleeper) {
  timer_ = std::move(start_named_threads(1, "h2k-queue", [this] { timer(); }).front());
}

DeliveryQueue::~DeliveryQueue() {
  {
    std::lock_guard lock(mutex_);
    ending_ = true;
  }
  timer_wake_.notify_all();
  timer_.join();
}

void DeliveryQueue::timer() {
  std::unique_lock lock(mutex_);
  while (!ending_) {
    if (!next_due_) {
      timer_wake_.wait(lock);
      continue;
    }
    const auto left = *next_due_ - clock_.steady_now();
    if (left <= std::chrono::steady_clock::duration::zero()) {
      dispatch(); // sends what is due, or leaves it to the next free slot; moves next_due_ on
      continue;
    }
    // Bounded, so a clock that is not the system's (tests) is looked at again.
    timer_wake_.wait_for(
        lock, std::min<std::chrono::steady_clock::duration>(left, std::chrono::seconds(1)));
  }
}

void DeliveryQueue::batching(bool open) {
  std::lock_guard lock(mutex_);
  if (open) {
    ++batching_;
    return;
  }
  if (batching_ > 0 && --batching_ == 0) {
    dispatch(); // nothing else is coming: what waits for company leaves
  }
}

void DeliveryQueue::wake() {
  std::lock_guard lock(mutex_);
  dispatch();
}

std::future<bool> DeliveryQueue::submit(std::shared_ptr<const ReadyBatch> run,
                                        DeliveryMember& member, std::function<void()> done) {
  Waiting w;
  w.joinable = options_.join && !is_binary(run->batch.target.format);
  w.key = target_key(run->batch.target);
  // A due run waits this long for company: partitions that each close a batch at the linger
  // hand them in one after another, and each would otherwise leave on its own.
  w.company_until = std::max(run->due, clock_.steady_now()) + options_.limits.linger / 10;
  w.run = std::move(run);
  w.member = &member;
  w.done = std::move(done);
  auto outcome = w.outcome.get_future();
  std::lock_guard lock(mutex_);
  ++counts_.runs;
  waiting_.push_back(std::move(w));
  dispatch();
  return outcome;
}

DeliveryQueue::Counts DeliveryQueue::counts() const {
  std::lock_guard lock(mutex_);
  return counts_;
}

void DeliveryQueue::describe(MetricsSink& out, const MetricLabels& labels) const {
  const Counts c = counts();
  out.counter("hub2kusto_delivery_requests_total",
              "Requests the connection's delivery queue sent, each carrying one or more "
              "partitions' batches (first attempts).",
              labels, c.requests);
  out.counter("hub2kusto_delivery_joined_requests_total",
              "Of those, requests that joined batches of several partitions.", labels, c.joined);
  out.histogram("hub2kusto_delivery_request_bytes",
                "Size of the requests the delivery queue sent, in uncompressed bytes.", labels,
                request_bytes_.snapshot());
  out.histogram("hub2kusto_delivery_request_events",
                "Events in each request the delivery queue sent.", labels,
                request_events_.snapshot());
}

std::size_t DeliveryQueue::max_bytes_for(const ingest::IngestTarget& target) {
  return table_limits_.max_bytes(target.database, target.table, options_.limits.max_bytes,
                                 clock_.steady_now());
}

void DeliveryQueue::dispatch() {
  // The requests the waiting runs make, in the order of their first runs: a run joins the
  // open request for its target while it fits; one that does not fit closes it (full).
  struct Request {
    std::vector<std::size_t> runs; // indexes into waiting_
    std::size_t bytes = 0;
    std::size_t events = 0;
    bool full = false;
  };
  std::vector<Request> requests;
  std::map<std::string, std::size_t> open; // target -> its open request in `requests`
  for (std::size_t i = 0; i < waiting_.size(); ++i) {
    const Waiting& w = waiting_[i];
    const std::size_t bytes = w.run->batch.data.size();
    const std::size_t events = w.run->events.size();
    if (w.joinable) {
      if (const auto it = open.find(w.key); it != open.end()) {
        Request& r = requests[it->second];
        if (r.bytes + bytes <= max_bytes_for(w.run->batch.target) &&
            r.events + events <= options_.limits.max_events) {
          r.runs.push_back(i);
          r.bytes += bytes;
          r.events += events;
          r.full = r.full || w.run->full;
          continue;
        }
        r.full = true;
        open.erase(it);
      }
      open.emplace(w.key, requests.size());
    }
    // A partition's batch that filled up by itself needs no company.
    requests.push_back({{i}, bytes, events, !w.joinable || w.run->full});
  }
  const auto now = clock_.steady_now();
  next_due_.reset();
  for (const Request& r : requests) {
    if (active_ >= options_.max_requests) {
      break; // the next delivery to end dispatches again
    }
    auto due = std::chrono::steady_clock::time_point::max();
    bool stopping = false;
    for (const std::size_t i : r.runs) {
      due = std::min(due, waiting_[i].company_until);
      stopping = stopping || waiting_[i].member->stopping();
    }
    // Nothing else can come when no partition batches and no request is out: a request's end
    // lets the partitions it carried hand in their next batches, which under load are ready
    // before their turn. Without that second condition a loaded connection whose partitions
    // all wait on their deliveries sent each run alone as it came: a self-sustaining trickle
    // of requests of two or three runs (bench/REPORT.md, "What else the 512-partition drain
    // was tried with").
    const bool nothing_can_come = batching_ == 0 && active_ == 0;
    if (!(r.full || due <= now || nothing_can_come || stopping)) {
      next_due_ = std::min(next_due_.value_or(due), due); // waits for company until then
      continue;
    }
    auto runs = std::make_shared<std::vector<Waiting>>();
    for (const std::size_t i : r.runs) {
      runs->push_back(std::move(waiting_[i]));
      waiting_[i].taken = true;
    }
    ++active_;
    ++counts_.requests;
    request_bytes_.observe(static_cast<double>(r.bytes));
    request_events_.observe(static_cast<double>(r.events));
    if (runs->size() > 1) {
      ++counts_.joined;
    }
    pool_.submit([this, runs] {
      deliver(std::move(*runs));
      std::lock_guard lock(mutex_);
      --active_;
      dispatch();
    });
  }
  std::erase_if(waiting_, [](const Waiting& w) { return w.taken; });
  if (next_due_) {
    timer_wake_.notify_one();
  }
}

void DeliveryQueue::resolve(Waiting& w, bool delivered) {
  w.outcome.set_value(delivered);
  if (w.done) {
    w.done(); // the member may be gone from here on: `done` is the queue's copy
  }
}

void DeliveryQueue::deliver(std::vector<Waiting> runs) {
  const LogFields fields{{"connection", options_.connection}};
  try {
    if (runs.size() > 1) {
      deliver_joined(runs);
    }
    while (!runs.empty()) {
      const bool delivered = runs.front().member->deliver_alone(*runs.front().run);
      Waiting w = std::move(runs.front());
      runs.erase(runs.begin());
      resolve(w, delivered);
    }
  } catch (...) {
    for (auto& w : runs) { // not resolved yet: their partitions see the failure
      w.outcome.set_exception(std::current_exception());
      if (w.done) {
        w.done();
      }
    }
  }
}

void DeliveryQueue::deliver_joined(std::vector<Waiting>& runs) {
  Backoff backoff({.initial = options_.retry_first, .max = options_.retry_max, .multiplier = 2.0});
  while (runs.size() > 1) {
    std::vector<std::shared_ptr<const ReadyBatch>> parts;
    parts.reserve(runs.size());
    for (const auto& w : runs) {
      parts.push_back(w.run);
    }
    const ingest::Batch request = join(parts);
    const LogFields request_fields{{"batch_id", request.id},
                                   {"table", request.target.table.value()}};
    const ingest::DeliveryStatus status = ingestor_.ingest(request);
    // Every member reads the answer (its metrics, its /readyz); they share one configuration,
    // so they read it alike.
    ingest::Outcome outcome = status.outcome;
    for (auto& w : runs) {
      ingest::DeliveryStatus judged = status;
      w.member->judge(request, judged, w.run->events.size());
      outcome = judged.outcome;
    }
    if (outcome == ingest::Outcome::delivered) {
      if (status.smaller_batches) {
        std::lock_guard lock(mutex_);
        const auto now = clock_.steady_now();
        table_limits_.limit(TableSizeLimits::key(request.target.database, request.target.table),
                            *status.smaller_batches, now + options_.smaller_batches_for, now);
      }
      std::vector<Waiting> delivered = std::move(runs);
      runs.clear();
      for (auto& w : delivered) {
        resolve(w, true);
      }
      return;
    }
    if (outcome == ingest::Outcome::rejected) {
      logger("pipeline")
          ->warn("request {} ({} partitions' batches) rejected ({}); sending each batch on its "
                 "own to find the events Kusto refuses",
                 request.id, runs.size(), status.reason);
      return;
    }
    const auto pause = status.retry_after.value_or(backoff.next());
    for (auto it = runs.begin(); it != runs.end();) {
      if (!it->member->stopping()) {
        ++it;
        continue;
      }
      // Stopping: the partition holds the batch for its drain, which tries it until its deadline.
      Waiting w = std::move(*it);
      it = runs.erase(it);
      resolve(w, false);
    }
    if (runs.size() < 2) {
      return;
    }
    if (status.target_problem == ingest::DeliveryStatus::TargetProblem::none) {
      logger("pipeline")
          ->warn("request {} ({} partitions' batches) not delivered ({}); trying again in {} ms",
                 request.id, runs.size(), status.reason, pause.count());
    }
    const auto end = clock_.steady_now() + pause;
    while (std::none_of(runs.begin(), runs.end(),
                        [](const Waiting& w) { return w.member->stopping(); })) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(end - clock_.steady_now());
      if (left.count() <= 0) {
        break;
      }
      sleeper_.sleep_for(std::min(left, std::chrono::milliseconds(100)));
    }
  }
}

} // namespace hub2kusto::pipeline
