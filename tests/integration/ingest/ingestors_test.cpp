// The ingest client against tests/emulators/kusto (streaming, management, token endpoints)
// and Azurite (queued ingestion), over real HTTP on loopback: each branch of the managed
// rule ends with the rows in the table. Waits are for conditions with deadlines; the
// ingestors' own waits (backoff, Retry-After) go through a Sleeper on a ManualClock, so the
// tests see them and do not sleep them.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "azure/token_provider.hpp"
#include "common/clock.hpp"
#include "common/kusto_connection_string.hpp"
#include "common/logging.hpp"
#include "common/random.hpp"
#include "ingest/managed_ingestor.hpp"
#include "ingest/queued_ingestor.hpp"
#include "ingest/streaming_ingestor.hpp"
#include "support/eventually.hpp"
#include "support/kusto_emulator.hpp"
#include "support/manual_clock.hpp"

namespace hub2kusto::ingest {
namespace {

using namespace std::chrono_literals;
using testing::KustoEmulator;

using testing::eventually;

// `n` JSON lines for the table T, numbered from `first`.
Batch batch(const std::string& id, int n, int first = 0, const std::string& mapping = "m") {
  Batch b;
  b.id = id;
  b.target.database = DatabaseName("db");
  b.target.table = TableName("T");
  b.target.format = IngestFormat::json;
  b.target.mapping = MappingName(mapping);
  for (int i = first; i < first + n; ++i) {
    b.data += R"({"deviceId":"device-)" + std::to_string(i % 7) +
              R"(","temperature":21.5,"line":)" + std::to_string(i) + "}\n";
  }
  b.records = static_cast<std::size_t>(n);
  return b;
}

// Batches the managed ingestor sent queued instead of streaming, for every reason.
std::uint64_t fallbacks(const IngestMetrics& m) {
  std::uint64_t n = 0;
  for (const auto& f : m.fallbacks) {
    n += f.load();
  }
  return n;
}

// Table T with a JSON mapping 'm'; the streaming policy as asked.
void create_table(KustoEmulator& kusto, bool streaming, const std::string& token = "") {
  ASSERT_FALSE(
      kusto.mgmt(".create table T (deviceId:string, temperature:real, line:long)", "db", token)
          .contains("error"));
  ASSERT_FALSE(
      kusto
          .mgmt(
              R"(.create table T ingestion json mapping 'm' '[{"column":"deviceId","Properties":{"Path":"$.deviceId"}},{"column":"temperature","Properties":{"Path":"$.temperature"}},{"column":"line","Properties":{"Path":"$.line"}}]')",
              "db", token)
          .contains("error"));
  ASSERT_FALSE(kusto
                   .mgmt(std::string(".alter table T policy streamingingestion ") +
                             (streaming ? "enable" : "disable"),
                         "db", token)
                   .contains("error"));
}

// The three ingestors for one emulator and one connection string.
struct Stack {
  Stack(const std::string& connection_string, const std::string& url, ManualClock& clock,
        RandomSource& random, Sleeper& sleeper, ManagedOptions options = {},
        azure::AuthEnvironment environment = {}, int max_concurrent_requests = 4)
      : transport(azure::make_http_transport()),
        connection(parse_kusto_connection_string(connection_string).value()),
        tokens(azure::make_token_provider(connection, environment, *transport, clock)),
        streaming(StreamingOptions{.engine_url = url, .app_version = "test"}, *transport, *tokens),
        queued(QueuedOptions{.dm_url = url, .app_version = "test"}, *transport, *tokens, clock),
        limiter(RequestLimiter::Options{.max = max_concurrent_requests}, clock),
        managed(options, streaming, queued, limiter, clock, random, sleeper) {}

  std::unique_ptr<azure::HttpTransport> transport;
  KustoConnectionString connection;
  std::unique_ptr<azure::TokenProvider> tokens;
  StreamingIngestor streaming;
  QueuedIngestor queued;
  RequestLimiter limiter;
  ManagedIngestor managed;
};

class Ingest : public ::testing::Test {
protected:
  std::string plain(const KustoEmulator& k) const {
    return "Data Source=" + k.url() + ";Initial Catalog=db";
  }
  ManualClock clock_{std::chrono::system_clock::now()};
  SystemRandom random_;
  ManualSleeper sleeper_{clock_};
};

TEST_F(Ingest, UnderTheLimitWithThePolicyOnGoesStreaming) {
  KustoEmulator kusto({});
  ASSERT_TRUE(kusto.running()) << kusto.stderr_text();
  create_table(kusto, true);
  Stack s(plain(kusto), kusto.url(), clock_, random_, sleeper_);
  const DeliveryStatus d = s.managed.ingest(batch("p0-0-99", 100));
  EXPECT_EQ(d.outcome, Outcome::delivered) << d.reason;
  EXPECT_EQ(d.path, IngestPath::streaming);
  EXPECT_EQ(kusto.count("T"), 100); // streaming is synchronous: the rows are there now
  EXPECT_EQ(s.managed.metrics().streaming_delivered.load(), 1U);
  EXPECT_EQ(kusto.status().at("queued_messages"), 0);
}

TEST_F(Ingest, OverTheLimitGoesQueued) {
  KustoEmulator kusto({});
  ASSERT_TRUE(kusto.running()) << kusto.stderr_text();
  create_table(kusto, true);
  Stack s(plain(kusto), kusto.url(), clock_, random_, sleeper_);
  const Batch big = batch("p0-0-79999", 80'000); // about 4.5 MB of JSON, over 4 MB
  ASSERT_GT(big.data.size(), 4U << 20);
  const DeliveryStatus d = s.managed.ingest(big);
  EXPECT_EQ(d.outcome, Outcome::delivered) << d.reason;
  EXPECT_EQ(d.path, IngestPath::queued);
  EXPECT_NE(d.blob.find("p0-0-79999"), std::string::npos) << d.blob;
  EXPECT_EQ(d.blob.find('?'), std::string::npos);        // no SAS in what is reported
  EXPECT_EQ(kusto.status().at("streaming_requests"), 0); // not even tried
  EXPECT_TRUE(eventually([&] { return kusto.count("T") == 80'000; }, 60s));
}

TEST_F(Ingest, PolicyOffGoesQueuedAndTheTableSkipsStreamingWhileRemembered) {
  KustoEmulator kusto({});
  ASSERT_TRUE(kusto.running()) << kusto.stderr_text();
  create_table(kusto, false);
  Stack s(plain(kusto), kusto.url(), clock_, random_, sleeper_);
  const auto streaming_requests = [&] {
    return kusto.status().at("streaming_requests").get<int>();
  };

  DeliveryStatus d = s.managed.ingest(batch("a", 10, 0));
  EXPECT_EQ(d.outcome, Outcome::delivered) << d.reason;
  EXPECT_EQ(d.path, IngestPath::queued);
  EXPECT_EQ(streaming_requests(), 1); // tried once, refused with the policy error
  EXPECT_EQ(s.managed.metrics().fallbacks_for(FallbackReason::policy), 1U);

  d = s.managed.ingest(batch("b", 10, 10));
  EXPECT_EQ(d.path, IngestPath::queued);
  EXPECT_EQ(streaming_requests(), 1); // remembered: no doomed attempt
  EXPECT_EQ(s.managed.metrics().skipped_streaming.load(), 1U);

  clock_.advance(15min + 1s); // the memory lapses
  d = s.managed.ingest(batch("c", 10, 20));
  EXPECT_EQ(d.path, IngestPath::queued);
  EXPECT_EQ(streaming_requests(), 2); // tried again
  EXPECT_TRUE(sleeper_.waits.empty());
  EXPECT_TRUE(eventually([&] { return kusto.count("T") == 30; }));
}

TEST_F(Ingest, TwoUnavailableAnswersThenSuccessStayOnStreaming) {
  KustoEmulator kusto({});
  ASSERT_TRUE(kusto.running()) << kusto.stderr_text();
  create_table(kusto, true);
  ASSERT_TRUE(kusto.fault("/faults/streaming?kind=unavailable&count=2"));
  Stack s(plain(kusto), kusto.url(), clock_, random_, sleeper_);
  const DeliveryStatus d = s.managed.ingest(batch("p1-0-49", 50));
  EXPECT_EQ(d.outcome, Outcome::delivered) << d.reason;
  EXPECT_EQ(d.path, IngestPath::streaming);
  ASSERT_EQ(sleeper_.waits.size(), 2U); // backoff before each retry, doubling, with jitter
  EXPECT_GE(sleeper_.waits[0], 500ms);
  EXPECT_LE(sleeper_.waits[0], 1000ms);
  EXPECT_GE(sleeper_.waits[1], 1000ms);
  EXPECT_LE(sleeper_.waits[1], 2000ms);
  EXPECT_EQ(fallbacks(s.managed.metrics()), 0U);
  EXPECT_EQ(kusto.count("T"), 50);
}

TEST_F(Ingest, UnavailablePastTheBoundFallsBackToQueued) {
  KustoEmulator kusto({});
  ASSERT_TRUE(kusto.running()) << kusto.stderr_text();
  create_table(kusto, true);
  ASSERT_TRUE(kusto.fault("/faults/streaming?kind=unavailable&count=3"));
  Stack s(plain(kusto), kusto.url(), clock_, random_, sleeper_);
  const DeliveryStatus d = s.managed.ingest(batch("p1-0-49", 50));
  EXPECT_EQ(d.outcome, Outcome::delivered) << d.reason;
  EXPECT_EQ(d.path, IngestPath::queued);
  EXPECT_EQ(kusto.status().at("streaming_requests"), 3);
  EXPECT_EQ(s.managed.metrics().fallbacks_for(FallbackReason::transient), 1U);
  EXPECT_TRUE(eventually([&] { return kusto.count("T") == 50; }));
}

TEST_F(Ingest, ThrottlingHonoursRetryAfterOnTheInjectedClock) {
  KustoEmulator kusto({});
  ASSERT_TRUE(kusto.running()) << kusto.stderr_text();
  create_table(kusto, true);
  ASSERT_TRUE(kusto.fault("/faults/streaming?kind=throttled&count=1&retry_after=7"));
  // One request at a time: a throttling answer cannot be met with fewer, so it is remembered.
  Stack s(plain(kusto), kusto.url(), clock_, random_, sleeper_, {}, {}, 1);
  const DeliveryStatus d = s.managed.ingest(batch("p2-0-9", 10));
  EXPECT_EQ(d.outcome, Outcome::delivered) << d.reason;
  EXPECT_EQ(d.path, IngestPath::streaming);
  ASSERT_EQ(sleeper_.waits.size(), 1U);
  EXPECT_EQ(sleeper_.waits[0], 7000ms); // the service's Retry-After, not the backoff
  EXPECT_EQ(kusto.count("T"), 10);
  // Throttling is remembered for 10 s from the 429 (7 s ago on the clock): the next batch
  // goes queued at once; after the 10 s, streaming again.
  EXPECT_EQ(s.managed.ingest(batch("p2-10-19", 10, 10)).path, IngestPath::queued);
  clock_.advance(4s);
  EXPECT_EQ(s.managed.ingest(batch("p2-20-29", 10, 20)).path, IngestPath::streaming);
  EXPECT_TRUE(eventually([&] { return kusto.count("T") == 30; }));
}

TEST_F(Ingest, AMissingMappingIsATargetProblemWithTheServiceMessageNotRetriedOrQueued) {
  KustoEmulator kusto({});
  ASSERT_TRUE(kusto.running()) << kusto.stderr_text();
  create_table(kusto, true);
  Stack s(plain(kusto), kusto.url(), clock_, random_, sleeper_);
  const DeliveryStatus d = s.managed.ingest(batch("p3-0-9", 10, 0, "no_such_mapping"));
  // Not the data's fault: the pipeline holds (or, for a routed target, dead-letters).
  EXPECT_EQ(d.outcome, Outcome::retriable);
  EXPECT_EQ(d.target_problem, DeliveryStatus::TargetProblem::missing_entity);
  EXPECT_NE(d.reason.find("BadRequest_MappingReferenceWasNotFound"), std::string::npos) << d.reason;
  EXPECT_NE(d.reason.find("no_such_mapping"), std::string::npos) << d.reason;
  EXPECT_TRUE(sleeper_.waits.empty());                // not retried
  EXPECT_EQ(kusto.status().at("queued_messages"), 0); // and not sent queued
  EXPECT_EQ(kusto.count("T"), 0);
}

TEST_F(Ingest, AFailureReportedAfterQueuingReachesPollFailuresWithTheBlob) {
  KustoEmulator kusto({});
  ASSERT_TRUE(kusto.running()) << kusto.stderr_text();
  create_table(kusto, false);
  Stack s(plain(kusto), kusto.url(), clock_, random_, sleeper_);
  // Queued ingestion cannot check the mapping up front: the service fails it later.
  const DeliveryStatus d = s.queued.ingest(batch("p4-0-9", 10, 0, "no_such_mapping"));
  ASSERT_EQ(d.outcome, Outcome::delivered) << d.reason;
  std::vector<IngestionFailure> failures;
  ASSERT_TRUE(eventually([&] {
    auto polled = s.queued.poll_failures();
    if (polled) {
      failures.insert(failures.end(), polled->begin(), polled->end());
    }
    return !failures.empty();
  }));
  ASSERT_EQ(failures.size(), 1U);
  EXPECT_EQ(failures[0].batch_id, "p4-0-9");
  EXPECT_EQ(failures[0].blob, d.blob);
  EXPECT_EQ(failures[0].table, "T");
  EXPECT_FALSE(failures[0].error_code.empty());
  EXPECT_TRUE(failures[0].permanent);
}

// ---- authentication against the emulator's token endpoints ----

class IngestAuth : public Ingest {
protected:
  static std::vector<std::string> auth_flags() {
    return {"--require-token",
            "--app",
            "app-1=secret-1",
            "--federated",
            "app-2=federated-assertion-2",
            "--identity-header",
            "id-header-3",
            "--token-lifetime",
            "2"};
  }
  // Streams one batch with the given connection string and environment; the table exists.
  DeliveryStatus stream_one(KustoEmulator& kusto, Stack& s, const std::string& id) {
    (void)kusto;
    return s.managed.ingest(batch(id, 5));
  }
  azure::AuthEnvironment environment(const KustoEmulator& kusto) const {
    azure::AuthEnvironment e;
    e.authority_host = kusto.url();
    e.imds_endpoint = kusto.url();
    return e;
  }
  std::string admin_token(KustoEmulator&) const { return kusto_static_token_; }
  const std::string kusto_static_token_ = "admin-static-token";
};

TEST_F(IngestAuth, ApplicationKeyTokensAreCachedAndRefreshedBeforeExpiry) {
  auto flags = auth_flags();
  flags.insert(flags.end(), {"--static-token", kusto_static_token_});
  KustoEmulator kusto(flags);
  ASSERT_TRUE(kusto.running()) << kusto.stderr_text();
  create_table(kusto, true, admin_token(kusto));
  Stack s(plain(kusto) +
              ";AAD Federated Security=True;Application Client Id=app-1;Application Key=secret-1;"
              "Authority Id=tenant-1",
          kusto.url(), clock_, random_, sleeper_, {}, environment(kusto));
  EXPECT_EQ(stream_one(kusto, s, "a").outcome, Outcome::delivered);
  EXPECT_EQ(stream_one(kusto, s, "b").outcome, Outcome::delivered);
  EXPECT_EQ(s.tokens->fetches(), 1U); // cached
  clock_.advance(1600ms);             // past three quarters of the 2 s lifetime
  EXPECT_EQ(stream_one(kusto, s, "c").outcome, Outcome::delivered);
  EXPECT_EQ(s.tokens->fetches(), 2U); // refreshed before it expired
  EXPECT_EQ(kusto.count("T", admin_token(kusto)), 15);
}

TEST_F(IngestAuth, ManagedIdentityThroughImdsAndTheAppServiceEndpoint) {
  auto flags = auth_flags();
  flags.insert(flags.end(), {"--static-token", kusto_static_token_});
  KustoEmulator kusto(flags);
  ASSERT_TRUE(kusto.running()) << kusto.stderr_text();
  create_table(kusto, true, admin_token(kusto));
  {
    Stack s(plain(kusto) + ";AAD Federated Security=True;Managed Identity=system", kusto.url(),
            clock_, random_, sleeper_, {}, environment(kusto));
    const auto d = stream_one(kusto, s, "imds");
    EXPECT_EQ(d.outcome, Outcome::delivered) << d.reason;
    EXPECT_NE(s.tokens->describe().find("IMDS"), std::string::npos);
  }
  {
    azure::AuthEnvironment e = environment(kusto);
    e.identity_endpoint = kusto.url() + "/msi/token";
    e.identity_header = Secret("id-header-3");
    Stack s(plain(kusto) + ";AAD Federated Security=True;Managed Identity=system", kusto.url(),
            clock_, random_, sleeper_, {}, e);
    const auto d = stream_one(kusto, s, "app-service");
    EXPECT_EQ(d.outcome, Outcome::delivered) << d.reason;
    EXPECT_NE(s.tokens->describe().find("App Service"), std::string::npos);
  }
  EXPECT_EQ(kusto.count("T", admin_token(kusto)), 10);
}

TEST_F(IngestAuth, WorkloadIdentityExchangesTheFederatedTokenFile) {
  auto flags = auth_flags();
  flags.insert(flags.end(), {"--static-token", kusto_static_token_});
  KustoEmulator kusto(flags);
  ASSERT_TRUE(kusto.running()) << kusto.stderr_text();
  create_table(kusto, true, admin_token(kusto));
  const auto file = std::filesystem::temp_directory_path() /
                    ("hub2kusto-federated-" + std::to_string(::getpid()));
  std::ofstream(file) << "federated-assertion-2\n";
  azure::AuthEnvironment e = environment(kusto);
  e.client_id = "app-2";
  e.tenant_id = "tenant-2";
  e.federated_token_file = file.string();
  Stack s(plain(kusto) + ";AAD Federated Security=True;Workload Identity=true", kusto.url(), clock_,
          random_, sleeper_, {}, e);
  const auto d = stream_one(kusto, s, "wi");
  EXPECT_EQ(d.outcome, Outcome::delivered) << d.reason;
  EXPECT_EQ(kusto.count("T", admin_token(kusto)), 5);
  std::filesystem::remove(file);
}

TEST_F(IngestAuth, RefusedCredentialsAreAClearRetriableErrorWithoutTheSecret) {
  auto flags = auth_flags();
  flags.insert(flags.end(), {"--static-token", kusto_static_token_});
  KustoEmulator kusto(flags);
  ASSERT_TRUE(kusto.running()) << kusto.stderr_text();
  create_table(kusto, true, admin_token(kusto));
  {
    // A wrong application key: the token endpoint refuses it.
    Stack s(plain(kusto) + ";AAD Federated Security=True;Application Client Id=app-1;Application "
                           "Key=wrong-secret-xyz;Authority Id=tenant-1",
            kusto.url(), clock_, random_, sleeper_, {}, environment(kusto));
    const auto d = stream_one(kusto, s, "bad-key");
    EXPECT_EQ(d.outcome, Outcome::retriable); // data is fine: nothing dead-lettered for this
    // The reason reaches /readyz: the kind of credential, never its ids (those are logged).
    EXPECT_NE(d.reason.find("the Entra application (client secret)"), std::string::npos)
        << d.reason;
    EXPECT_EQ(d.reason.find("app-1"), std::string::npos) << d.reason;
    EXPECT_EQ(d.reason.find("tenant-1"), std::string::npos) << d.reason;
    EXPECT_NE(d.reason.find("401"), std::string::npos) << d.reason;
    EXPECT_EQ(d.reason.find("wrong-secret-xyz"), std::string::npos);
  }
  {
    // A token Kusto does not accept: 401 from the ingest endpoint.
    Stack s(plain(kusto) + ";AAD Federated Security=True;Application Token=not-a-valid-token",
            kusto.url(), clock_, random_, sleeper_, {}, environment(kusto));
    const auto d = stream_one(kusto, s, "bad-token");
    EXPECT_EQ(d.outcome, Outcome::retriable);
    EXPECT_NE(d.reason.find("HTTP 401"), std::string::npos) << d.reason;
    EXPECT_NE(d.reason.find("refused the credentials"), std::string::npos) << d.reason;
    EXPECT_EQ(d.reason.find("not-a-valid-token"), std::string::npos);
    EXPECT_EQ(fallbacks(s.managed.metrics()), 0U); // queued would be refused too
  }
  EXPECT_EQ(kusto.count("T", admin_token(kusto)), 0);
}

// A token the cluster refuses (here: asked for another cluster's audience) and an identity
// without a role on the database both hold the data; the reason says which kind of credential,
// for which audience, and which role, and keeps the application and tenant ids (logged) and
// the secret out of /readyz.
TEST_F(IngestAuth, ARefusedTokenAndAMissingRoleNameTheCredentialTheAudienceAndTheRole) {
  auto flags = auth_flags();
  flags.insert(flags.end(), {"--static-token", kusto_static_token_});
  KustoEmulator kusto(flags);
  ASSERT_TRUE(kusto.running()) << kusto.stderr_text();
  create_table(kusto, true, admin_token(kusto));
  const std::string credentials =
      ";AAD Federated Security=True;Application Client Id=app-1;Application "
      "Key=secret-1;Authority Id=tenant-1";
  const auto names_only_the_kind = [](const std::string& reason) {
    EXPECT_NE(reason.find("the Entra application (client secret)"), std::string::npos) << reason;
    EXPECT_EQ(reason.find("app-1"), std::string::npos) << reason;
    EXPECT_EQ(reason.find("tenant-1"), std::string::npos) << reason;
    EXPECT_EQ(reason.find("secret-1"), std::string::npos) << reason;
  };
  {
    auto e = environment(kusto);
    e.resource = "https://another-cluster.kusto.example.net";
    Stack s(plain(kusto) + credentials, kusto.url(), clock_, random_, sleeper_, {}, e);
    const auto d = stream_one(kusto, s, "wrong-audience");
    EXPECT_EQ(d.outcome, Outcome::retriable);
    EXPECT_NE(d.reason.find("HTTP 401"), std::string::npos) << d.reason;
    EXPECT_NE(d.reason.find("for audience https://another-cluster.kusto.example.net"),
              std::string::npos)
        << d.reason;
    names_only_the_kind(d.reason);
  }
  {
    ASSERT_TRUE(kusto.fault("/faults/forbidden?on=true"));
    Stack s(plain(kusto) + credentials, kusto.url(), clock_, random_, sleeper_, {},
            environment(kusto));
    const auto d = stream_one(kusto, s, "no-role");
    EXPECT_EQ(d.outcome, Outcome::retriable);
    EXPECT_NE(d.reason.find("HTTP 403"), std::string::npos) << d.reason;
    EXPECT_NE(d.reason.find("Ingestor role"), std::string::npos) << d.reason;
    names_only_the_kind(d.reason);
  }
  EXPECT_EQ(kusto.count("T", admin_token(kusto)), 0);
}

} // namespace
} // namespace hub2kusto::ingest
