#include "pipeline/delivery_queue.hpp"
#include "support/manual_clock.hpp"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <vector>

#include <gtest/gtest.h>

namespace hub2kusto::pipeline {
namespace {

using namespace std::chrono_literals;

// Holds the first request until released, so the runs submitted meanwhile wait; then answers
// from its script (delivered once it is empty). Thread-safe.
class HeldIngestor final : public ingest::Ingestor {
public:
  ingest::DeliveryStatus ingest(const ingest::Batch& batch) override {
    std::unique_lock lock(mutex_);
    requests.push_back(batch);
    if (requests.size() == 1) {
      released_.wait(lock, [&] { return open_; });
    }
    ingest::DeliveryStatus s;
    s.outcome = ingest::Outcome::delivered;
    if (!script.empty()) {
      s = script.front();
      script.pop_front();
    }
    return s;
  }
  void release() {
    std::lock_guard lock(mutex_);
    open_ = true;
    released_.notify_all();
  }
  std::vector<ingest::Batch> sent() {
    std::lock_guard lock(mutex_);
    return requests;
  }
  std::deque<ingest::DeliveryStatus> script; // set before the first request
  std::vector<ingest::Batch> requests;

private:
  std::mutex mutex_;
  std::condition_variable released_;
  bool open_ = false;
};

// A partition as the queue sees it: sends a run alone through the same ingestor.
class QueueMember final : public DeliveryMember {
public:
  explicit QueueMember(ingest::Ingestor& ingestor) : ingestor_(ingestor) {}
  bool deliver_alone(const ReadyBatch& run) override {
    alone.push_back(run.batch.id);
    return ingestor_.ingest(run.batch).outcome == ingest::Outcome::delivered;
  }
  void judge(const ingest::Batch&, ingest::DeliveryStatus& status, std::size_t events) override {
    judged.push_back({status.outcome, events});
  }
  bool stopping() const override { return stop; }

  std::vector<std::string> alone;
  std::vector<std::pair<ingest::Outcome, std::size_t>> judged;
  std::atomic<bool> stop{false};

private:
  ingest::Ingestor& ingestor_;
};

std::shared_ptr<const ReadyBatch> run(const std::string& partition, int events,
                                      const std::string& table = "T",
                                      IngestFormat format = IngestFormat::json) {
  auto r = std::make_shared<ReadyBatch>();
  r->batch.target = {DatabaseName("db"), TableName(table), format, std::nullopt};
  for (int i = 0; i < events; ++i) {
    r->events.push_back({SequenceNumber(i), Offset(std::to_string(i)), {}, {}});
    r->batch.data += "{\"p\":\"" + partition + "\",\"n\":" + std::to_string(i) + "}\n";
  }
  r->batch.records = static_cast<std::size_t>(events);
  r->batch.id =
      ingest::BatchId{PartitionId(partition), SequenceNumber(0), SequenceNumber(events - 1)}.text();
  return r;
}

class Queue : public ::testing::Test {
protected:
  // One request out at a time, on one thread: everything submitted while the first request is
  // held waits, and joins what it can.
  DeliveryQueue& queue(DeliveryQueue::Options options = {}) {
    options.max_requests = 1;
    if (options.limits.max_events == BatchLimits{}.max_events) {
      options.limits.max_events = 100;
    }
    queue_.emplace(options, pool_, ingestor_, clock_, sleeper_);
    return *queue_;
  }
  // Submits the runs behind a first one that is held, then releases it; true when every
  // run was delivered.
  std::vector<bool>
  deliver(std::vector<std::pair<std::shared_ptr<const ReadyBatch>, QueueMember*>> runs) {
    std::vector<std::future<bool>> done;
    done.push_back(queue_->submit(run("first", 1), first_, nullptr));
    for (auto& [r, m] : runs) {
      done.push_back(queue_->submit(r, *m, nullptr));
    }
    ingestor_.release();
    std::vector<bool> out;
    for (auto& d : done) {
      out.push_back(d.get());
    }
    out.erase(out.begin());
    return out;
  }

  ManualClock clock_;
  ManualSleeper sleeper_{clock_};
  HeldIngestor ingestor_;
  QueueMember first_{ingestor_};
  QueueMember a_{ingestor_};
  QueueMember b_{ingestor_};
  QueueMember c_{ingestor_};
  // Declared after what the deliveries use and before the queue: it ends first.
  std::optional<DeliveryQueue> queue_;
  TaskPool pool_{1, "test-delivery"};
};

TEST_F(Queue, RunsThatWaitWhileARequestIsOutJoinTheNextRequest) {
  queue();
  const auto delivered = deliver({{run("1", 2), &a_}, {run("2", 3), &b_}});
  EXPECT_EQ(delivered, (std::vector<bool>{true, true}));
  const auto sent = ingestor_.sent();
  ASSERT_EQ(sent.size(), 2U);
  EXPECT_EQ(sent[1].id, "1-0-1+1");
  EXPECT_EQ(sent[1].parts, (std::vector<std::string>{"1-0-1", "2-0-2"}));
  EXPECT_EQ(sent[1].records, 5U);
  EXPECT_EQ(sent[1].data, run("1", 2)->batch.data + run("2", 3)->batch.data);
  // Each member counts its own events of the request.
  EXPECT_EQ(a_.judged, (std::vector<std::pair<ingest::Outcome, std::size_t>>{
                           {ingest::Outcome::delivered, 2}}));
  EXPECT_EQ(b_.judged, (std::vector<std::pair<ingest::Outcome, std::size_t>>{
                           {ingest::Outcome::delivered, 3}}));
  EXPECT_TRUE(a_.alone.empty());
  const auto counts = queue_->counts();
  EXPECT_EQ(counts.requests, 2U);
  EXPECT_EQ(counts.joined, 1U);
  EXPECT_EQ(counts.runs, 3U);
}

TEST_F(Queue, AJoinedRequestStaysWithinTheEventLimit) {
  DeliveryQueue::Options o;
  o.limits.max_events = 5;
  queue(o);
  const auto delivered = deliver({{run("1", 2), &a_}, {run("2", 2), &b_}, {run("3", 2), &c_}});
  EXPECT_EQ(delivered, (std::vector<bool>{true, true, true}));
  auto sent = ingestor_.sent();
  ASSERT_EQ(sent.size(), 3U);
  EXPECT_EQ(sent[1].parts, (std::vector<std::string>{"1-0-1", "2-0-1"}));
  EXPECT_EQ(sent[2].id, "3-0-1"); // alone: not joined, so no parts
  EXPECT_TRUE(sent[2].parts.empty());
}

TEST_F(Queue, AJoinedRequestStaysWithinTheByteLimit) {
  const std::size_t two_runs = run("1", 2)->batch.data.size() + run("2", 2)->batch.data.size();
  DeliveryQueue::Options o;
  o.limits.max_bytes = two_runs;
  queue(o);
  deliver({{run("1", 2), &a_}, {run("2", 2), &b_}, {run("3", 2), &c_}});
  const auto sent = ingestor_.sent();
  ASSERT_EQ(sent.size(), 3U);
  EXPECT_EQ(sent[1].data.size(), two_runs);
}

TEST_F(Queue, RunsForAnotherTableOrOfABinaryFormatDoNotJoin) {
  queue();
  deliver({{run("1", 2), &a_},
           {run("2", 2, "Other"), &b_},
           {run("3", 1, "T", IngestFormat::avro), &c_},
           {run("4", 2), &a_}});
  const auto sent = ingestor_.sent();
  ASSERT_EQ(sent.size(), 4U);
  EXPECT_EQ(sent[1].parts, (std::vector<std::string>{"1-0-1", "4-0-1"}));
  EXPECT_EQ(sent[2].id, "2-0-1");
  EXPECT_EQ(sent[3].id, "3-0-0");
}

TEST_F(Queue, WithoutJoiningEveryRunIsARequestOfItsOwn) {
  DeliveryQueue::Options o;
  o.join = false;
  queue(o);
  deliver({{run("1", 2), &a_}, {run("2", 2), &b_}});
  const auto sent = ingestor_.sent();
  ASSERT_EQ(sent.size(), 3U);
  EXPECT_EQ(sent[1].id, "1-0-1");
  EXPECT_EQ(sent[2].id, "2-0-1");
  EXPECT_EQ(queue_->counts().joined, 0U);
}

TEST_F(Queue, ARejectedJoinedRequestSendsEachRunAloneThroughItsPartition) {
  ingest::DeliveryStatus delivered;
  delivered.outcome = ingest::Outcome::delivered;
  ingest::DeliveryStatus rejected;
  rejected.outcome = ingest::Outcome::rejected;
  rejected.reason = "BadRequest_NoRecords";
  ingestor_.script = {delivered, rejected};
  queue();
  EXPECT_EQ(deliver({{run("1", 2), &a_}, {run("2", 2), &b_}}), (std::vector<bool>{true, true}));
  EXPECT_EQ(a_.alone, (std::vector<std::string>{"1-0-1"}));
  EXPECT_EQ(b_.alone, (std::vector<std::string>{"2-0-1"}));
  const auto sent = ingestor_.sent();
  ASSERT_EQ(sent.size(), 4U);
  EXPECT_EQ(sent[1].id, "1-0-1+1");
  EXPECT_EQ(sent[2].id, "1-0-1");
  EXPECT_EQ(sent[3].id, "2-0-1");
}

TEST_F(Queue, ARetriableJoinedRequestIsSentAgainJoinedAfterThePause) {
  ingest::DeliveryStatus delivered;
  delivered.outcome = ingest::Outcome::delivered;
  ingest::DeliveryStatus throttled;
  throttled.outcome = ingest::Outcome::retriable;
  throttled.reason = "HTTP 429";
  throttled.retry_after = 3s;
  ingestor_.script = {delivered, throttled, throttled};
  queue();
  EXPECT_EQ(deliver({{run("1", 2), &a_}, {run("2", 2), &b_}}), (std::vector<bool>{true, true}));
  const auto sent = ingestor_.sent();
  ASSERT_EQ(sent.size(), 4U);
  for (std::size_t i = 1; i < sent.size(); ++i) {
    EXPECT_EQ(sent[i].id, "1-0-1+1");
  }
  EXPECT_TRUE(a_.alone.empty());
  EXPECT_EQ(a_.judged.size(), 3U);
  // The service's Retry-After, twice (slept in slices, to notice a stopping partition).
  std::chrono::milliseconds slept{0};
  for (const auto w : sleeper_.waits) {
    slept += w;
  }
  EXPECT_EQ(slept, 6s);
}

TEST_F(Queue, APartitionThatStopsLeavesARetriedRequestUndeliveredTheOthersGoOn) {
  ingest::DeliveryStatus delivered;
  delivered.outcome = ingest::Outcome::delivered;
  ingest::DeliveryStatus unavailable;
  unavailable.outcome = ingest::Outcome::retriable;
  unavailable.reason = "HTTP 503";
  ingestor_.script = {delivered, unavailable, unavailable};
  queue();
  b_.stop = true;
  EXPECT_EQ(deliver({{run("1", 2), &a_}, {run("2", 2), &b_}, {run("3", 2), &c_}}),
            (std::vector<bool>{true, false, true}));
  const auto sent = ingestor_.sent();
  ASSERT_EQ(sent.size(), 4U);
  EXPECT_EQ(sent[1].parts, (std::vector<std::string>{"1-0-1", "2-0-1", "3-0-1"}));
  EXPECT_EQ(sent[2].parts, (std::vector<std::string>{"1-0-1", "3-0-1"}));
  EXPECT_EQ(sent[3].parts, (std::vector<std::string>{"1-0-1", "3-0-1"}));
  EXPECT_TRUE(b_.alone.empty());
}

// Partitions that trickle each close a batch at the linger, one after another: a due run
// waits a tenth of the linger more for company while other partitions are still batching.
TEST_F(Queue, ARunThatComesDueWaitsATenthOfTheLingerForCompanyWhileOthersBatch) {
  DeliveryQueue::Options o;
  o.limits.linger = 1s;
  auto& q = queue(o);
  q.batching(true); // another partition has an open batch
  auto due_now = std::make_shared<ReadyBatch>(*run("1", 2));
  due_now->due = clock_.steady_now();
  auto later = std::make_shared<ReadyBatch>(*run("2", 3));
  later->due = clock_.steady_now() + 500ms;
  auto first = q.submit(due_now, a_, nullptr);
  EXPECT_EQ(q.counts().requests, 0U); // due, but others may come within 100 ms
  clock_.advance(60ms);
  auto second = q.submit(later, b_, nullptr);
  q.wake();
  EXPECT_EQ(q.counts().requests, 0U);
  clock_.advance(40ms); // the tenth is over: it leaves, with what came meanwhile
  q.wake();
  EXPECT_EQ(q.counts().requests, 1U);
  q.batching(false); // whatever still waits leaves now
  ingestor_.release();
  EXPECT_TRUE(first.get());
  EXPECT_TRUE(second.get());
  const auto sent = ingestor_.sent();
  ASSERT_EQ(sent.size(), 1U);
  EXPECT_EQ(sent[0].parts, (std::vector<std::string>{"1-0-1", "2-0-2"}));
}

// Under load a partition hands in its next run only when its last request ended, long after
// the run came due, together with the other partitions that request carried: the first of them
// still waits a tenth of the linger for the rest, instead of leaving alone at once.
TEST_F(Queue, ARunHandedInAfterItCameDueStillWaitsATenthOfTheLingerForCompany) {
  DeliveryQueue::Options o;
  o.limits.linger = 1s;
  auto& q = queue(o);
  q.batching(true); // other partitions have open batches
  auto late = std::make_shared<ReadyBatch>(*run("1", 2));
  late->due = clock_.steady_now() - 500ms;
  auto first = q.submit(late, a_, nullptr);
  EXPECT_EQ(q.counts().requests, 0U); // due long ago, but only just handed in
  clock_.advance(30ms);
  auto also_late = std::make_shared<ReadyBatch>(*run("2", 3));
  also_late->due = clock_.steady_now() - 400ms;
  auto second = q.submit(also_late, b_, nullptr);
  q.wake();
  EXPECT_EQ(q.counts().requests, 0U);
  clock_.advance(70ms); // a tenth of the linger since the first was handed in
  q.wake();
  EXPECT_EQ(q.counts().requests, 1U);
  q.batching(false);
  ingestor_.release();
  EXPECT_TRUE(first.get());
  EXPECT_TRUE(second.get());
  const auto sent = ingestor_.sent();
  ASSERT_EQ(sent.size(), 1U);
  EXPECT_EQ(sent[0].parts, (std::vector<std::string>{"1-0-1", "2-0-2"}));
}

// Under load every partition may wait on its delivery with its next batch ready and none
// open, so none is batching; the request that is out still brings company: when it ends, the
// partitions it carried hand in their next runs. A run handed in meanwhile waits for them (a
// tenth of the linger at most) instead of leaving alone through a free slot.
TEST_F(Queue, WhileARequestIsOutARunWaitsForCompanyEvenWithNoPartitionBatching) {
  DeliveryQueue::Options o;
  o.limits.linger = 1s;
  queue_.emplace(o, pool_, ingestor_, clock_, sleeper_); // four requests out at most (the default)
  auto& q = *queue_;
  ASSERT_GE(o.max_requests, 2U);
  auto out = q.submit(run("first", 1), first_, nullptr);
  EXPECT_EQ(q.counts().requests, 1U); // nothing else could come: it left at once, and is held
  auto late = std::make_shared<ReadyBatch>(*run("1", 2));
  late->due = clock_.steady_now() - 500ms;
  auto first = q.submit(late, a_, nullptr);
  EXPECT_EQ(q.counts().requests, 1U); // a slot is free, but the request out brings company
  clock_.advance(30ms);
  auto also_late = std::make_shared<ReadyBatch>(*run("2", 3));
  also_late->due = clock_.steady_now() - 400ms;
  auto second = q.submit(also_late, b_, nullptr);
  EXPECT_EQ(q.counts().requests, 1U);
  clock_.advance(70ms); // a tenth of the linger since the first was handed in
  q.wake();
  EXPECT_EQ(q.counts().requests, 2U);
  ingestor_.release();
  EXPECT_TRUE(out.get());
  EXPECT_TRUE(first.get());
  EXPECT_TRUE(second.get());
  const auto sent = ingestor_.sent();
  ASSERT_EQ(sent.size(), 2U);
  EXPECT_EQ(sent[1].parts, (std::vector<std::string>{"1-0-1", "2-0-2"}));
}

TEST_F(Queue, NoMoreRequestsAreOutThanTheLimit) {
  // Two at a time: the third run waits for a slot even though it cannot join (another table).
  DeliveryQueue::Options o;
  o.max_requests = 2;
  queue_.emplace(o, pool_, ingestor_, clock_, sleeper_);
  std::vector<std::future<bool>> done;
  done.push_back(queue_->submit(run("1", 1, "A"), a_, nullptr));
  done.push_back(queue_->submit(run("2", 1, "B"), b_, nullptr));
  done.push_back(queue_->submit(run("3", 1, "C"), c_, nullptr));
  clock_.advance(o.limits.linger / 10); // the first is out; the others waited for company
  queue_->wake();
  // The pool has one thread, the first request is held: the queue counted two out and kept
  // the third waiting (it would have been submitted to the pool and counted).
  EXPECT_EQ(queue_->counts().requests, 2U);
  ingestor_.release();
  for (auto& d : done) {
    EXPECT_TRUE(d.get());
  }
  EXPECT_EQ(queue_->counts().requests, 3U);
}

} // namespace
} // namespace hub2kusto::pipeline
