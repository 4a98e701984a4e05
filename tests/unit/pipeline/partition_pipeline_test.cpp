#include "pipeline/partition_pipeline.hpp"
#include "support/fake_checkpoint_store.hpp"
#include "support/manual_clock.hpp"

#include <pthread.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace hub2kusto::pipeline {
namespace {

using namespace std::chrono_literals;

class FakeStream final : public hub::PartitionStream {
public:
  const PartitionId& partition() const override { return id_; }
  std::size_t take(std::vector<hub::HubEvent>& out, std::size_t max,
                   std::chrono::milliseconds) override {
    std::size_t n = 0;
    while (n < max && !events.empty()) {
      out.push_back(std::move(events.front()));
      events.pop_front();
      ++n;
    }
    return n;
  }
  hub::PartitionStatus status() const override { return status_; }
  hub::CreditStats credit() const override { return {}; }
  std::optional<SequenceNumber> last_received() const override { return std::nullopt; }
  bool wakes_reader() const override { return wakes; }
  void end() { status_.state = hub::PartitionState::closed; }
  void steal() { status_.state = hub::PartitionState::stolen; }

  bool wakes = false; // whether it claims to call on_readable()'s callback

  std::deque<hub::HubEvent> events;

private:
  PartitionId id_{"0"};
  hub::PartitionStatus status_{hub::PartitionState::receiving, ""};
};

class FakeIngestor final : public ingest::Ingestor {
public:
  ingest::DeliveryStatus ingest(const ingest::Batch& batch) override {
    batches.push_back(batch);
    ingest::DeliveryStatus s;
    s.outcome = ingest::Outcome::delivered;
    if (!script.empty()) {
      s.outcome = script.front();
      script.pop_front();
    } else if (batch.data.find("poison") != std::string::npos) {
      s.outcome = ingest::Outcome::rejected; // Kusto refuses the whole request
    }
    s.reason = s.outcome == ingest::Outcome::delivered ? "" : "BadRequest_NoRecords: bad json";
    if (missing_table && batch.target.table.value() == *missing_table) {
      s.outcome = ingest::Outcome::retriable;
      s.target_problem = ingest::DeliveryStatus::TargetProblem::missing_entity;
      s.reason = "HTTP 400 BadRequest_TableNotExist: Table '" + *missing_table + "' was not found";
    }
    return s;
  }
  std::optional<std::string> missing_table; // answered BadRequest_TableNotExist
  std::deque<ingest::Outcome> script;
  std::vector<ingest::Batch> batches;
};

// fail_writes(n) makes the next n writes fail.
class MemoryDeadLetters final : public DeadLetterStore {
public:
  Written prepare() override { return std::monostate{}; }
  Written write(const std::vector<DeadLetter>& r) override {
    ++attempts;
    if (failures > 0) {
      --failures;
      return failure("the dead-letter disk is full (test)");
    }
    records.insert(records.end(), r.begin(), r.end());
    return std::monostate{};
  }
  void fail_writes(int n) { failures = n; }
  std::vector<DeadLetter> records;
  int attempts = 0;
  int failures = 0;
};

hub::HubEvent event(std::int64_t n, std::vector<std::pair<std::string, std::string>> props = {}) {
  hub::HubEvent e;
  e.partition = PartitionId("0");
  e.sequence_number = SequenceNumber(n);
  e.offset = Offset(std::to_string(n * 10));
  e.body = R"({"n":)" + std::to_string(n) + "}";
  for (auto& [k, v] : props) {
    e.application_properties.push_back({k, {hub::AmqpType::string, v}});
  }
  return e;
}

class Pipeline : public ::testing::Test {
protected:
  PipelineOptions options() {
    PipelineOptions o;
    o.routing.defaults.database = DatabaseName("db");
    o.routing.defaults.table = TableName("T");
    o.routing.defaults.format = IngestFormat::json;
    o.limits = BatchLimits{.max_bytes = 1 << 20, .max_events = 5, .linger = 1s};
    // These tests follow one batch's outcome step by step; concurrent delivery has its own.
    o.concurrent_delivery = false;
    return o;
  }
  std::optional<std::int64_t> stored() {
    auto c = store_.load(PartitionId("0")).value();
    return c ? std::optional(c->sequence_number.value()) : std::nullopt;
  }

  ManualClock clock_;
  ManualSleeper sleeper_{clock_};
  std::shared_ptr<FakeStream> stream_ = std::make_shared<FakeStream>();
  FakeIngestor ingestor_;
  MemoryDeadLetters dead_;
  fakes::FakeCheckpointStore store_;
  checkpoint::PartitionCheckpointer checkpointer_{PartitionId("0"), store_, clock_, 5s};
  std::unique_ptr<PartitionPipeline> pipeline_ = std::make_unique<PartitionPipeline>(
      options(), stream_, ingestor_, dead_, checkpointer_, clock_, sleeper_);
};

TEST_F(Pipeline, DeliveredBatchesMoveTheCheckpoint) {
  for (int n = 0; n < 10; ++n) {
    stream_->events.push_back(event(n));
  }
  pipeline_->step();
  ASSERT_EQ(ingestor_.batches.size(), 2U);
  EXPECT_EQ(ingestor_.batches[0].id, "0-0-4");
  EXPECT_EQ(ingestor_.batches[0].data, "{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n{\"n\":4}\n");
  EXPECT_EQ(stored(), 9);
  EXPECT_EQ(pipeline_->metrics().events_ingested.load(), 10U);
}

TEST_F(Pipeline, ARejectedBatchIsSplitSoOnlyThePoisonEventIsDeadLettered) {
  for (int n = 0; n < 5; ++n) {
    auto e = event(n);
    if (n == 3) {
      e.body = "{poison";
    }
    stream_->events.push_back(e);
  }
  pipeline_->step();
  ASSERT_EQ(dead_.records.size(), 1U);
  EXPECT_EQ(dead_.records[0].stage, "ingest");
  EXPECT_EQ(dead_.records[0].reason, "BadRequest_NoRecords: bad json");
  EXPECT_EQ(dead_.records[0].sequence_number.value(), 3);
  EXPECT_EQ(dead_.records[0].batch_id, "0-0-4");
  EXPECT_EQ(dead_.records[0].body, "{poison");
  // Every other event was delivered in some half.
  std::string delivered;
  for (const auto& b : ingestor_.batches) {
    if (b.data.find("poison") == std::string::npos) {
      delivered += b.data;
    }
  }
  for (int n : {0, 1, 2, 4}) {
    EXPECT_NE(delivered.find("{\"n\":" + std::to_string(n) + "}\n"), std::string::npos) << n;
  }
  EXPECT_EQ(pipeline_->metrics().events_ingested.load(), 4U);
  EXPECT_EQ(stored(), 4); // the checkpoint passes the dead-lettered event
}

TEST_F(Pipeline, AWhollyRejectedBatchDeadLettersEveryEvent) {
  ingestor_.script = std::deque<ingest::Outcome>(9, ingest::Outcome::rejected);
  for (int n = 0; n < 5; ++n) {
    stream_->events.push_back(event(n));
  }
  pipeline_->step();
  ASSERT_EQ(dead_.records.size(), 5U);
  EXPECT_EQ(dead_.records[2].sequence_number.value(), 2);
  EXPECT_EQ(dead_.records[2].body, R"({"n":2})");
  EXPECT_EQ(stored(), 4);
}

TEST_F(Pipeline, ARetriableBatchIsHeldAndRetriedWithBackoffNotDropped) {
  ingestor_.script = {ingest::Outcome::retriable, ingest::Outcome::retriable};
  for (int n = 0; n < 5; ++n) {
    stream_->events.push_back(event(n));
  }
  pipeline_->step();
  EXPECT_EQ(sleeper_.waits, (std::vector<std::chrono::milliseconds>{1000ms, 2000ms}));
  ASSERT_EQ(ingestor_.batches.size(), 3U); // the same batch three times
  EXPECT_EQ(ingestor_.batches[2].id, "0-0-4");
  EXPECT_TRUE(dead_.records.empty());
  EXPECT_EQ(stored(), 4);
}

TEST_F(Pipeline, UnusableRoutingIsDeadLetteredAndTheRestFlows) {
  stream_->events.push_back(event(0));
  stream_->events.push_back(event(1, {{"Database", "not_allowed"}}));
  stream_->events.push_back(event(2));
  pipeline_->step();
  ASSERT_EQ(dead_.records.size(), 1U);
  EXPECT_EQ(dead_.records[0].stage, "routing");
  EXPECT_EQ(dead_.records[0].sequence_number.value(), 1);
  clock_.advance(1s); // linger
  pipeline_->step();
  ASSERT_EQ(ingestor_.batches.size(), 1U);
  EXPECT_EQ(ingestor_.batches[0].data, "{\"n\":0}\n{\"n\":2}\n");
  EXPECT_EQ(stored(), 2);
}

TEST_F(Pipeline, RoutesByTableGoToTheirOwnBatches) {
  for (int n = 0; n < 6; ++n) {
    stream_->events.push_back(event(n, {{"Table", n % 2 == 0 ? "Even" : "Odd"}}));
  }
  pipeline_->step();
  EXPECT_TRUE(ingestor_.batches.empty()); // neither is full yet
  EXPECT_TRUE(pipeline_->drain(clock_.steady_now() + 10s));
  ASSERT_EQ(ingestor_.batches.size(), 2U);
  EXPECT_EQ(ingestor_.batches[0].target.table.value(), "Even");
  EXPECT_EQ(ingestor_.batches[0].id, "0-0-4");
  EXPECT_EQ(ingestor_.batches[1].target.table.value(), "Odd");
  EXPECT_EQ(ingestor_.batches[1].id, "0-1-5");
  EXPECT_EQ(stored(), 5);
}

TEST_F(Pipeline, DrainGivesUpAtTheDeadlineWithoutMovingTheCheckpointPastTheBatch) {
  ingestor_.script = std::deque<ingest::Outcome>(10, ingest::Outcome::retriable);
  stream_->events.push_back(event(0));
  stream_->events.push_back(event(1));
  pipeline_->step();
  EXPECT_FALSE(pipeline_->drain(clock_.steady_now() + 5s));
  EXPECT_EQ(stored(), std::nullopt);
  EXPECT_TRUE(dead_.records.empty());
}

// Moves the manual clock like ManualSleeper, and runs `on_sleep` after each wait.
class HookedSleeper final : public Sleeper {
public:
  explicit HookedSleeper(ManualClock& clock) : clock_(clock) {}
  void sleep_for(std::chrono::milliseconds d) override {
    slept += d;
    clock_.advance(d);
    if (on_sleep) {
      on_sleep();
    }
  }
  std::function<void()> on_sleep;
  std::chrono::milliseconds slept{0};

private:
  ManualClock& clock_;
};

TEST_F(Pipeline, AFailingDeadLetterStoreIsRetriedAndShownUntilItTakesTheRecord) {
  HookedSleeper sleeper(clock_);
  PartitionPipeline pipeline(options(), stream_, ingestor_, dead_, checkpointer_, clock_, sleeper);
  std::vector<std::vector<std::string>> seen; // the problems /readyz shows, at each wait
  sleeper.on_sleep = [&] { seen.push_back(pipeline.problems()); };
  dead_.fail_writes(2);
  stream_->events.push_back(event(0, {{"Database", "not_allowed"}}));
  stream_->events.push_back(event(1));
  pipeline.step();
  ASSERT_EQ(dead_.records.size(), 1U); // the third attempt took it
  EXPECT_EQ(dead_.attempts, 3);
  EXPECT_EQ(sleeper.slept, 3000ms); // 1 s, then 2 s
  ASSERT_FALSE(seen.empty());
  ASSERT_EQ(seen.front().size(), 1U);
  EXPECT_EQ(seen.front()[0],
            "the dead-letter store refuses records: the dead-letter disk is full (test)");
  EXPECT_TRUE(pipeline.problems().empty()); // it takes records again
}

TEST_F(Pipeline, StoppingEndsTheDeadLetterRetriesAndLeavesTheEventBehindTheCheckpoint) {
  HookedSleeper sleeper(clock_);
  PartitionPipeline pipeline(options(), stream_, ingestor_, dead_, checkpointer_, clock_, sleeper);
  sleeper.on_sleep = [&] { pipeline.stop(); }; // SIGTERM arrives during the first wait
  dead_.fail_writes(1'000'000);
  stream_->events.push_back(event(0));
  stream_->events.push_back(event(1, {{"Database", "not_allowed"}}));
  stream_->events.push_back(event(2));
  pipeline.step();
  EXPECT_LT(sleeper.slept, 1000ms); // the 1 s wait was cut short by stop()
  EXPECT_TRUE(pipeline.drain(clock_.steady_now() + 5s));
  ASSERT_EQ(ingestor_.batches.size(), 1U);
  EXPECT_EQ(ingestor_.batches[0].data, "{\"n\":0}\n"); // event 2 was not taken past event 1
  EXPECT_EQ(stored(), 0);                              // not past the unwritten dead letter
  EXPECT_TRUE(dead_.records.empty());
  ASSERT_EQ(pipeline.problems().size(), 1U);
}

TEST_F(Pipeline, DrainStopsRetryingADeadLetterAtTheDeadline) {
  HookedSleeper sleeper(clock_);
  PartitionPipeline pipeline(options(), stream_, ingestor_, dead_, checkpointer_, clock_, sleeper);
  ingestor_.script = std::deque<ingest::Outcome>(9, ingest::Outcome::rejected);
  dead_.fail_writes(1'000'000);
  stream_->events.push_back(event(0));
  pipeline.step(); // the batch is open until the linger
  pipeline.stop();
  EXPECT_FALSE(pipeline.drain(clock_.steady_now() + 5s));
  EXPECT_LE(sleeper.slept, 5000ms);
  EXPECT_EQ(stored(), std::nullopt);
}

TEST_F(Pipeline, AMissingConfiguredTableHoldsThePartitionAndSaysSoUntilItIsCreated) {
  HookedSleeper sleeper(clock_);
  PartitionPipeline pipeline(options(), stream_, ingestor_, dead_, checkpointer_, clock_, sleeper);
  ingestor_.missing_table = "T";
  std::vector<std::string> seen;
  int waits = 0;
  sleeper.on_sleep = [&] {
    if (++waits == 3) { // the operator creates the table during the third wait
      const auto problems = pipeline.problems();
      seen = problems;
      ingestor_.missing_table.reset();
    }
  };
  for (int n = 0; n < 5; ++n) {
    stream_->events.push_back(event(n));
  }
  pipeline.step();
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0].rfind("Kusto target db.T: HTTP 400 BadRequest_TableNotExist", 0), 0U)
      << seen[0];
  EXPECT_EQ(ingestor_.batches.size(), 4U); // three refusals, then delivered
  EXPECT_TRUE(dead_.records.empty());
  EXPECT_EQ(pipeline.metrics().target_problem_retries.load(), 3U);
  EXPECT_TRUE(pipeline.problems().empty());
  EXPECT_EQ(stored(), 4);
}

TEST_F(Pipeline, AMissingTableThatAnEventsRoutingNamedIsThatEventsFault) {
  ingestor_.missing_table = "Typo";
  stream_->events.push_back(event(0));
  stream_->events.push_back(event(1, {{"Table", "Typo"}}));
  stream_->events.push_back(event(2));
  pipeline_->step();
  EXPECT_TRUE(pipeline_->drain(clock_.steady_now() + 10s));
  ASSERT_EQ(dead_.records.size(), 1U);
  EXPECT_EQ(dead_.records[0].sequence_number.value(), 1);
  EXPECT_NE(dead_.records[0].reason.find("BadRequest_TableNotExist"), std::string::npos);
  EXPECT_TRUE(pipeline_->problems().empty());
  EXPECT_EQ(stored(), 2);
}

TEST_F(Pipeline, AFailingCheckpointStoreIsShownUntilASaveSucceeds) {
  store_.fail_saves(1);
  for (int n = 0; n < 5; ++n) {
    stream_->events.push_back(event(n));
  }
  pipeline_->step();
  ASSERT_EQ(pipeline_->problems().size(), 1U);
  EXPECT_EQ(pipeline_->problems()[0],
            "the checkpoint store refuses saves: the checkpoint store is failing (test)");
  clock_.advance(5s); // the checkpoint interval
  stream_->events.push_back(event(5));
  pipeline_->step();
  EXPECT_TRUE(pipeline_->problems().empty());
  EXPECT_EQ(stored(), 4);
}

TEST_F(Pipeline, AnEndedStreamEndsTheLoopOnceDrained) {
  stream_->events.push_back(event(0));
  stream_->end();
  EXPECT_TRUE(pipeline_->step()); // a batch is still open
  clock_.advance(1s);
  EXPECT_FALSE(pipeline_->step());
  EXPECT_EQ(stored(), 0);
}

// Another owner's receiver took the link: it reads from our checkpoint, so the events still
// buffered here are its to deliver, and delivering them too would only repeat them.
TEST_F(Pipeline, AStolenStreamEndsTheLoopWithoutTakingWhatIsStillBuffered) {
  stream_->events.push_back(event(0));
  EXPECT_TRUE(pipeline_->step());
  stream_->events.push_back(event(1));
  stream_->steal();
  EXPECT_FALSE(pipeline_->step());
  EXPECT_EQ(stream_->events.size(), 1U); // left for the new owner
}

TEST_F(Pipeline, ALocalMappingSendsCsvRowsWithSystemPropertiesAndDeadLettersUnmappableEvents) {
  mappings::MapperOptions m;
  m.schema = mappings::parse_schema("Seq:long,N:long,Enqueued:datetime").value();
  m.mapping = mappings::parse_mapping(
                  R"([{"column":"Seq","Properties":{"Path":"$['x-opt-sequence-number']"}},)"
                  R"({"column":"N","Properties":{"Path":"$.n"}},)"
                  R"({"column":"Enqueued","Properties":{"Path":"$['x-opt-enqueued-time']"}}])",
                  mappings::MappingKind::json)
                  .value();
  m.system_properties = {"x-opt-sequence-number", "x-opt-enqueued-time"};
  auto mapper = LocalMapper::create(m);
  ASSERT_TRUE(mapper) << mapper.error().message;
  pipeline_ =
      std::make_unique<PartitionPipeline>(options(), stream_, ingestor_, dead_, checkpointer_,
                                          clock_, sleeper_, std::move(mapper).value());
  for (int n = 0; n < 5; ++n) {
    auto e = event(n);
    e.enqueued_time = hub::Timestamp(std::chrono::milliseconds(1'790'000'000'000 + n));
    if (n == 2) {
      e.body = "{\"n\":"; // not JSON
    }
    stream_->events.push_back(e);
  }
  auto routed = event(5, {{"Table", "Other"}}); // routed elsewhere: forwarded as it came
  stream_->events.push_back(routed);
  pipeline_->step();
  pipeline_->drain(clock_.steady_now() + 10s);
  ASSERT_EQ(ingestor_.batches.size(), 2U);
  const auto& mapped = ingestor_.batches[0];
  EXPECT_EQ(mapped.target.format, IngestFormat::csv);
  EXPECT_FALSE(mapped.target.mapping);
  EXPECT_EQ(mapped.data, "0,0,2026-09-21T14:13:20.0000000Z\n"
                         "1,1,2026-09-21T14:13:20.0010000Z\n"
                         "3,3,2026-09-21T14:13:20.0030000Z\n"
                         "4,4,2026-09-21T14:13:20.0040000Z\n");
  EXPECT_EQ(ingestor_.batches[1].target.table.value(), "Other");
  EXPECT_EQ(ingestor_.batches[1].data, "{\"n\":5}\n");
  ASSERT_EQ(dead_.records.size(), 1U);
  EXPECT_EQ(dead_.records[0].stage, "mapping");
  EXPECT_EQ(dead_.records[0].sequence_number.value(), 2);
  EXPECT_EQ(dead_.records[0].body, "{\"n\":");
  EXPECT_FALSE(dead_.records[0].reason.empty());
  EXPECT_EQ(stored(), 5);
}

// Blocks every ingest until opened.
class GatedIngestor final : public ingest::Ingestor {
public:
  ingest::DeliveryStatus ingest(const ingest::Batch& batch) override {
    std::unique_lock lock(mutex_);
    ids_.push_back(batch.id);
    changed_.notify_all();
    changed_.wait(lock, [&] { return open_; });
    ingest::DeliveryStatus delivered;
    delivered.outcome = ingest::Outcome::delivered;
    return delivered;
  }
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }
  void wait_for_calls(std::size_t n) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return ids_.size() >= n; });
  }
  std::vector<std::string> ids() {
    std::lock_guard lock(mutex_);
    return ids_;
  }

private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool open_ = false;
  std::vector<std::string> ids_;
};

TEST_F(Pipeline, ReceivingGoesOnWhileABatchIsInFlightAndTheCheckpointWaitsForIt) {
  GatedIngestor gated;
  auto o = options();
  o.concurrent_delivery = true;
  PartitionPipeline p(o, stream_, gated, dead_, checkpointer_, clock_, sleeper_);
  for (int n = 0; n < 5; ++n) {
    stream_->events.push_back(event(n));
  }
  p.step(); // batch 0-4 is full: it goes in flight
  gated.wait_for_calls(1);
  for (int n = 5; n < 8; ++n) {
    stream_->events.push_back(event(n));
  }
  p.step(); // taken and batched while 0-4 is still being ingested
  EXPECT_TRUE(stream_->events.empty());
  EXPECT_EQ(gated.ids(), std::vector<std::string>{"0-0-4"});
  EXPECT_EQ(stored(), std::nullopt); // nothing is checkpointed before Kusto answers
  gated.open();
  EXPECT_TRUE(p.drain(clock_.steady_now() + 10s)); // settles 0-4, then delivers 5-7
  EXPECT_EQ(gated.ids(), (std::vector<std::string>{"0-0-4", "0-5-7"}));
  EXPECT_EQ(stored(), 7);
}

// The connection's queue runs the batches on its pool: on its threads, in order, one in flight.
TEST_F(Pipeline, BatchesAreDeliveredOnTheConnectionsPoolInOrder) {
  class NamingIngestor final : public ingest::Ingestor {
  public:
    ingest::DeliveryStatus ingest(const ingest::Batch& batch) override {
      char name[16] = {};
      pthread_getname_np(pthread_self(), name, sizeof name);
      std::lock_guard lock(mutex);
      calls.emplace_back(batch.id, name);
      ingest::DeliveryStatus s;
      s.outcome = ingest::Outcome::delivered;
      return s;
    }
    std::mutex mutex;
    std::vector<std::pair<std::string, std::string>> calls;
  } naming;
  std::optional<DeliveryQueue> queue; // outlives the pool's threads, which end first
  TaskPool pool(2, "test-delivery");
  queue.emplace(DeliveryQueue::Options{}, pool, naming, clock_, sleeper_);
  auto o = options();
  o.concurrent_delivery = true;
  o.queue = &*queue;
  PartitionPipeline p(o, stream_, naming, dead_, checkpointer_, clock_, sleeper_);
  for (int n = 0; n < 12; ++n) {
    stream_->events.push_back(event(n));
  }
  p.step(); // 0-4 and 5-9 are full: the first goes in flight, the second waits for it
  EXPECT_TRUE(p.drain(clock_.steady_now() + 10s)); // then 10-11, on the draining thread
  std::lock_guard lock(naming.mutex);
  ASSERT_EQ(naming.calls.size(), 3U);
  EXPECT_EQ(naming.calls[0], (std::pair<std::string, std::string>{"0-0-4", "test-delivery"}));
  EXPECT_EQ(naming.calls[1], (std::pair<std::string, std::string>{"0-5-9", "test-delivery"}));
  EXPECT_EQ(naming.calls[2].first, "0-10-11");
  EXPECT_EQ(stored(), 11);
}

// A turn on the workers never waits: with a batch in flight, the next full batch waits in the
// pipeline, and no more events are taken until the first has its outcome (backpressure).
TEST_F(Pipeline, ATurnThatDoesNotBlockLeavesTheNextBatchAndTheStreamWaitingForTheOneInFlight) {
  GatedIngestor gated;
  // Before the pool: a delivery's end is told on its threads, which end first.
  std::mutex mutex;
  std::condition_variable ended;
  int deliveries_ended = 0;
  std::optional<DeliveryQueue> queue; // outlives the pool's threads, which end first
  TaskPool pool(2, "test-delivery");
  queue.emplace(DeliveryQueue::Options{}, pool, gated, clock_, sleeper_);
  auto o = options();
  o.concurrent_delivery = true;
  o.queue = &*queue;
  PartitionPipeline p(o, stream_, gated, dead_, checkpointer_, clock_, sleeper_);
  p.on_delivery_end([&] {
    std::lock_guard lock(mutex);
    ++deliveries_ended;
    ended.notify_all();
  });
  for (int n = 0; n < 12; ++n) {
    stream_->events.push_back(event(n));
  }
  EXPECT_TRUE(p.step(false)); // 0-4 in flight, 5-9 waits, 10-11 open
  gated.wait_for_calls(1);
  stream_->events.push_back(event(12));
  EXPECT_TRUE(p.step(false)); // returns at once; takes nothing
  EXPECT_EQ(stream_->events.size(), 1U);
  EXPECT_EQ(gated.ids(), std::vector<std::string>{"0-0-4"});
  EXPECT_LE(p.next_turn(), clock_.steady_now() + 100ms);
  gated.open();
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(ended.wait_for(lock, 10s, [&] { return deliveries_ended == 1; }));
  }
  EXPECT_TRUE(p.step(false)); // 0-4 completes and 5-9 goes
  EXPECT_EQ(stream_->events.size(), 1U);
  EXPECT_TRUE(p.step(false)); // nothing waits: event 12 is taken
  EXPECT_TRUE(stream_->events.empty());
  EXPECT_TRUE(p.drain(clock_.steady_now() + 10s));
  EXPECT_EQ(gated.ids(), (std::vector<std::string>{"0-0-4", "0-5-9", "0-10-12"}));
  EXPECT_EQ(stored(), 12);
}

// Nothing pending: a stream that wakes its reader leaves an idle partition without turns (but
// a backstop a minute later); one that cannot is looked at every second. Something pending
// (here an open batch) brings the turn back to its linger.
TEST_F(Pipeline, AnIdlePartitionWhoseStreamWakesItTakesNoTurnsUntilThen) {
  PartitionPipeline p(options(), stream_, ingestor_, dead_, checkpointer_, clock_, sleeper_);
  EXPECT_TRUE(p.step(false));
  EXPECT_EQ(p.next_turn(), clock_.steady_now() + 1s);
  stream_->wakes = true;
  EXPECT_EQ(p.next_turn(), clock_.steady_now() + 1min);
  stream_->events.push_back(event(0));
  EXPECT_TRUE(p.step(false));
  EXPECT_LE(p.next_turn(), clock_.steady_now() + 100ms);
}

TEST_F(Pipeline, InFlightBytesCountTheBatchBeingDelivered) {
  GatedIngestor gated;
  auto o = options();
  o.concurrent_delivery = true;
  PartitionPipeline p(o, stream_, gated, dead_, checkpointer_, clock_, sleeper_);
  for (int n = 0; n < 7; ++n) {
    stream_->events.push_back(event(n)); // 0-4 fill a batch; 5-6 stay open
  }
  p.step();
  gated.wait_for_calls(1);
  p.step(); // the metrics are refreshed at the end of each step
  const std::uint64_t batch = 5 * std::string("{\"n\":0}\n").size();
  const std::uint64_t open = 2 * std::string("{\"n\":5}\n").size();
  EXPECT_EQ(p.metrics().delivering_bytes.load(), batch);
  EXPECT_EQ(p.metrics().in_flight_bytes.load(), batch + open);
  gated.open();
  EXPECT_TRUE(p.drain(clock_.steady_now() + 10s));
}

TEST_F(Pipeline, AQuietPartitionFlushesItsOpenBatchWithoutWaitingForTheLinger) {
  for (int n = 0; n < 3; ++n) {
    stream_->events.push_back(event(n));
  }
  pipeline_->step(); // 3 events, a batch of 5 not full, the linger (1 s) not reached
  EXPECT_TRUE(ingestor_.batches.empty());
  clock_.advance(50ms);
  pipeline_->step(); // quiet for 50 ms: not yet
  EXPECT_TRUE(ingestor_.batches.empty());
  clock_.advance(50ms);
  pipeline_->step(); // quiet for 100 ms (idle_flush): flushed
  ASSERT_EQ(ingestor_.batches.size(), 1U);
  EXPECT_EQ(ingestor_.batches[0].id, "0-0-2");
  EXPECT_EQ(stored(), 2);
}

TEST_F(Pipeline, WithIdleFlushOffTheLingerDecides) {
  auto o = options();
  o.idle_flush = 0ms;
  pipeline_ = std::make_unique<PartitionPipeline>(o, stream_, ingestor_, dead_, checkpointer_,
                                                  clock_, sleeper_);
  stream_->events.push_back(event(0));
  pipeline_->step();
  clock_.advance(500ms);
  pipeline_->step();
  EXPECT_TRUE(ingestor_.batches.empty());
  clock_.advance(500ms);
  pipeline_->step(); // the linger (1 s)
  EXPECT_EQ(ingestor_.batches.size(), 1U);
}

} // namespace
} // namespace hub2kusto::pipeline
