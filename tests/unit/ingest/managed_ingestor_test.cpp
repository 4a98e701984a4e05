#include "ingest/managed_ingestor.hpp"

#include <deque>

#include <gtest/gtest.h>

#include "support/fake_transport.hpp"
#include "support/manual_clock.hpp"
#include "support/recording_metrics.hpp"

namespace hub2kusto::ingest {
namespace {

using fakes::FakeTransport;
using fakes::one_api;

using namespace std::chrono_literals;

class FixedRandom final : public RandomSource {
public:
  double uniform() override { return 1.0; } // the full backoff, so waits are exact
};

class FakeQueued final : public Ingestor {
public:
  DeliveryStatus ingest(const Batch& batch) override {
    ids.push_back(batch.id);
    DeliveryStatus s;
    s.outcome = Outcome::delivered;
    s.path = IngestPath::queued;
    return s;
  }
  std::vector<std::string> ids;
};

Batch batch(std::string id, std::size_t bytes = 100, std::string table = "T") {
  Batch b;
  b.id = std::move(id);
  b.target.database = DatabaseName("db");
  b.target.table = TableName(std::move(table));
  b.data.assign(bytes, 'x');
  return b;
}

class Managed : public ::testing::Test {
protected:
  ManualClock clock_;
  FixedRandom random_;
  ManualSleeper sleeper_{clock_};
  FakeTransport transport_;
  azure::TokenProvider tokens_{nullptr, clock_};
  StreamingIngestor streaming_{StreamingOptions{.engine_url = "http://kusto", .app_version = ""},
                               transport_, tokens_};
  FakeQueued queued_;
  RequestLimiter limiter_{RequestLimiter::Options{}, clock_};
  ManagedIngestor managed_{ManagedOptions{}, streaming_, queued_, limiter_,
                           clock_,           random_,    sleeper_};

  static std::uint64_t fallbacks(const ManagedIngestor& m, FallbackReason why) {
    return m.metrics().fallbacks_for(why);
  }
};

TEST_F(Managed, ABatchOverTheLimitGoesQueuedWithoutAStreamingAttempt) {
  const auto d = managed_.ingest(batch("big", (4U << 20) + 1));
  EXPECT_EQ(d.path, IngestPath::queued);
  EXPECT_EQ(d.outcome, Outcome::delivered);
  EXPECT_TRUE(transport_.sent.empty());
  EXPECT_EQ(managed_.metrics().skipped_streaming.load(), 1U);
  EXPECT_EQ(fallbacks(managed_, FallbackReason::size), 1U);
}

TEST_F(Managed, AtTheLimitItStreams) {
  transport_.then(200);
  const auto d = managed_.ingest(batch("exact", 4U << 20));
  EXPECT_EQ(d.path, IngestPath::streaming);
  ASSERT_EQ(transport_.sent.size(), 1U);
  EXPECT_NE(transport_.sent[0].url.find("/v1/rest/ingest/db/T?streamFormat=json"),
            std::string::npos);
}

TEST_F(Managed, OneTooLargeAnswerSendsThatBatchQueuedAndKeepsStreamingSmallerOnes) {
  transport_.then(413, one_api("Stream_InputStreamTooLarge", "too large", true));
  const auto first = managed_.ingest(batch("big", 3000));
  EXPECT_EQ(first.path, IngestPath::queued);
  EXPECT_EQ(first.smaller_batches, std::optional<std::size_t>(1500)); // the pipeline cuts them
  EXPECT_EQ(queued_.ids, (std::vector<std::string>{"big"}));
  // Smaller batches of the same table still stream; as large ones go queued at once.
  transport_.then(200);
  EXPECT_EQ(managed_.ingest(batch("small", 1000)).path, IngestPath::streaming);
  EXPECT_EQ(managed_.ingest(batch("big-again", 3000)).path, IngestPath::queued);
  EXPECT_EQ(transport_.sent.size(), 2U);
  EXPECT_EQ(fallbacks(managed_, FallbackReason::size), 2U);
  // Once the memory lapses, the size is tried again.
  clock_.advance(16min);
  transport_.then(200);
  EXPECT_EQ(managed_.ingest(batch("big-later", 3000)).path, IngestPath::streaming);
}

TEST_F(Managed, TransientFailuresRetryWithDoublingBackoffThenFallBack) {
  transport_.then(503, "");
  transport_.then(500, one_api("General_InternalServerError", "x", false));
  transport_.then(503, "");
  const auto d = managed_.ingest(batch("b1"));
  EXPECT_EQ(d.path, IngestPath::queued);
  EXPECT_EQ(sleeper_.waits, (std::vector<std::chrono::milliseconds>{1000ms, 2000ms}));
  EXPECT_EQ(queued_.ids, (std::vector<std::string>{"b1"}));
  EXPECT_EQ(fallbacks(managed_, FallbackReason::transient), 1U);
  EXPECT_EQ(fallbacks(managed_, FallbackReason::throttling), 0U);
  // The request ids count the attempts of one batch.
  ASSERT_EQ(transport_.sent.size(), 3U);
  const auto id = [&](std::size_t i) {
    for (const auto& [k, v] : transport_.sent[i].headers) {
      if (k == "x-ms-client-request-id") {
        return v;
      }
    }
    return std::string();
  };
  // KHC.executeStreamingIngest;<fresh uuid>;<batch id>;<attempt>
  const std::string prefix = "KHC.executeStreamingIngest;";
  ASSERT_EQ(id(0).rfind(prefix, 0), 0U) << id(0);
  EXPECT_EQ(id(0).substr(prefix.size() + 36), ";b1;0");
  EXPECT_EQ(id(2).substr(prefix.size() + 36), ";b1;2");
  EXPECT_NE(id(0).substr(0, prefix.size() + 36), id(2).substr(0, prefix.size() + 36));
}

// However many attempts an operator allows, no wait between two grows past max_backoff.
TEST_F(Managed, RetryWaitsStopGrowingAtTheMaximum) {
  ManagedIngestor patient{ManagedOptions{.max_attempts = 6, .first_backoff = 1s, .max_backoff = 3s},
                          streaming_,
                          queued_,
                          limiter_,
                          clock_,
                          random_,
                          sleeper_};
  for (int i = 0; i < 6; ++i) {
    transport_.then(503, "");
  }
  EXPECT_EQ(patient.ingest(batch("b1")).path, IngestPath::queued);
  EXPECT_EQ(sleeper_.waits, (std::vector<std::chrono::milliseconds>{1s, 2s, 3s, 3s, 3s}));
}

TEST_F(Managed, ImpossibleStreamingIsRememberedPerTableForFifteenMinutes) {
  transport_.then(400, one_api("BadRequest_StreamingIngestionPolicyNotEnabled", "off", true));
  EXPECT_EQ(managed_.ingest(batch("a")).path, IngestPath::queued);
  EXPECT_EQ(transport_.sent.size(), 1U);
  EXPECT_EQ(managed_.ingest(batch("b")).path, IngestPath::queued);
  EXPECT_EQ(transport_.sent.size(), 1U); // skipped
  EXPECT_EQ(fallbacks(managed_, FallbackReason::policy), 2U);
  EXPECT_EQ(managed_.metrics().skipped_streaming.load(), 1U);
  transport_.then(200);
  EXPECT_EQ(managed_.ingest(batch("other", 100, "U")).path, IngestPath::streaming); // per table
  clock_.advance(15min);
  transport_.then(200);
  EXPECT_EQ(managed_.ingest(batch("c")).path, IngestPath::streaming); // memory lapsed
  EXPECT_TRUE(sleeper_.waits.empty());
}

TEST_F(Managed, ThrottlingHalvesTheClustersRequestsAtOnceAndRetriesAfterRetryAfter) {
  transport_.then(429, one_api("TooManyRequests", "x", false), {{"Retry-After", "3"}});
  transport_.then(200);
  EXPECT_EQ(managed_.ingest(batch("a")).path, IngestPath::streaming);
  EXPECT_EQ(sleeper_.waits, (std::vector<std::chrono::milliseconds>{3000ms}));
  EXPECT_EQ(limiter_.counts().limit, 2);
  EXPECT_EQ(limiter_.counts().throttled, 1U);
  // Fewer requests at once is the answer: the table keeps streaming.
  transport_.then(200);
  EXPECT_EQ(managed_.ingest(batch("b")).path, IngestPath::streaming);
}

// Throttled even when it sends one request at a time, the cluster is overloaded: the table's
// traffic goes queued for ten seconds, as the SDKs do on every throttling answer.
TEST_F(Managed, ThrottlingOneRequestAtATimeIsRememberedForTenSeconds) {
  RequestLimiter one{RequestLimiter::Options{.max = 1}, clock_};
  ManagedIngestor managed{ManagedOptions{}, streaming_, queued_, one, clock_, random_, sleeper_};
  transport_.then(429, one_api("TooManyRequests", "x", false), {{"Retry-After", "3"}});
  transport_.then(200);
  EXPECT_EQ(managed.ingest(batch("a")).path, IngestPath::streaming);
  EXPECT_EQ(sleeper_.waits, (std::vector<std::chrono::milliseconds>{3000ms}));
  EXPECT_EQ(managed.ingest(batch("b")).path, IngestPath::queued); // within 10 s of the 429
  EXPECT_EQ(fallbacks(managed, FallbackReason::throttling), 1U);
  clock_.advance(7s);
  transport_.then(200);
  EXPECT_EQ(managed.ingest(batch("c")).path, IngestPath::streaming);
}

TEST_F(Managed, RejectedDataIsNotRetriedOrQueued) {
  transport_.then(400, one_api("BadRequest_NoRecordsOrWrongFormat", "bad json at line 3", true));
  const auto d = managed_.ingest(batch("bad"));
  EXPECT_EQ(d.outcome, Outcome::rejected);
  EXPECT_NE(d.reason.find("bad json at line 3"), std::string::npos);
  EXPECT_TRUE(queued_.ids.empty());
  EXPECT_TRUE(sleeper_.waits.empty());
}

TEST_F(Managed, RefusedCredentialsAreRetriableAndNotQueued) {
  transport_.then(401, "");
  const auto d = managed_.ingest(batch("x"));
  EXPECT_EQ(d.outcome, Outcome::retriable);
  EXPECT_TRUE(queued_.ids.empty());
}

TEST(IngestMetrics, EveryCounterIsDescribedRequestsByPathAndOutcome) {
  IngestMetrics m;
  m.streaming_delivered = 1;
  m.queued_delivered = 2;
  m.rejected = 3;
  m.retriable = 4;
  m.count_fallback(FallbackReason::size);
  m.count_fallback(FallbackReason::throttling);
  m.count_fallback(FallbackReason::throttling);
  m.skipped_streaming = 6;
  m.streaming_attempts = 7;
  m.time_request(IngestPath::queued, IngestMetrics::RequestEnd::throttled,
                 std::chrono::milliseconds(250));
  fakes::RecordingMetrics out;
  m.describe(out, {{"connection", "c"}});
  // 4 request counters, 4 fallback reasons, 2 more counters, 8 histograms of 2 samples each.
  EXPECT_EQ(out.samples.size(), 26U);
  EXPECT_EQ(out.samples["hub2kusto_ingest_requests_total{connection=c,path=streaming,outcome="
                        "delivered}"],
            1);
  EXPECT_EQ(
      out.samples["hub2kusto_ingest_requests_total{connection=c,path=queued,outcome=delivered}"],
      2);
  EXPECT_EQ(out.samples["hub2kusto_ingest_fallbacks_total{connection=c,reason=size}"], 1);
  EXPECT_EQ(out.samples["hub2kusto_ingest_fallbacks_total{connection=c,reason=policy}"], 0);
  EXPECT_EQ(out.samples["hub2kusto_ingest_fallbacks_total{connection=c,reason=throttling}"], 2);
  EXPECT_EQ(out.samples["hub2kusto_ingest_request_duration_seconds_count{connection=c,path=queued,"
                        "outcome=throttled}"],
            1);
  EXPECT_DOUBLE_EQ(
      out.samples["hub2kusto_ingest_request_duration_seconds_sum{connection=c,path=queued,"
                  "outcome=throttled}"],
      0.25);
  EXPECT_EQ(
      out.samples["hub2kusto_ingest_request_duration_seconds_count{connection=c,path=streaming,"
                  "outcome=delivered}"],
      0);
  EXPECT_EQ(out.samples["hub2kusto_ingest_streaming_skipped_total{connection=c}"], 6);
  EXPECT_EQ(out.samples["hub2kusto_ingest_streaming_attempts_total{connection=c}"], 7);
  EXPECT_TRUE(out.every_help_given);
}

} // namespace
} // namespace hub2kusto::ingest
