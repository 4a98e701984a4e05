// The hub consumer with Microsoft Entra ID instead of a key: the Kusto emulator's token
// endpoint plays Entra ID and signs tokens with a throw-away key; the Event Hubs emulator takes
// them as put-token type "jwt" and checks signature, issuer, audience, expiry and the Data
// Receiver role as the service does. No key is in the hub's connection string.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "azure/credential.hpp"
#include "azure/token_provider.hpp"
#include "common/clock.hpp"
#include "common/hub_connection_string.hpp"
#include "common/random.hpp"
#include "hub/amqp_event_source.hpp"
#include "support/eventhubs_emulator.hpp"
#include "support/eventually.hpp"
#include "support/keys.hpp"
#include "support/kusto_emulator.hpp"
#include "support/temp_dir.hpp"

namespace hub2kusto::hub {
namespace {

using namespace std::chrono_literals;
using testing::EventHubsEmulator;
using testing::KustoEmulator;

constexpr const char* kTenant = "tenant-1";

class EntraIdHub : public ::testing::Test {
protected:
  void SetUp() override {
    key_file_ = (dir_ / "signing-key.pem").string();
    std::ofstream(key_file_) << testing::private_key_pem(testing::make_rsa_key().get());
    std::ofstream events(dir_ / "events.jsonl");
    for (int i = 0; i < 20; ++i) {
      events << R"({"line":)" << i << "}\n";
    }
  }
  void TearDown() override { ::unsetenv("AZURE_AUTHORITY_HOST"); }

  // Entra ID: applications app-1 (with the Data Receiver role) and app-2 (without), tokens
  // living `lifetime` seconds.
  std::unique_ptr<KustoEmulator> start_issuer(int lifetime) {
    auto issuer = std::make_unique<KustoEmulator>(
        std::vector<std::string>{"--signing-key", key_file_, "--app", "app-1=secret-1", "--app",
                                 "app-2=secret-2", "--token-lifetime", std::to_string(lifetime)},
        false);
    ::setenv("AZURE_AUTHORITY_HOST", issuer->url().c_str(), 1);
    return issuer;
  }
  std::unique_ptr<EventHubsEmulator> start_hub() {
    return std::make_unique<EventHubsEmulator>(std::vector<std::string>{
        "--hub", "telemetry:2", "--preload", (dir_ / "events.jsonl").string(), "--preload-events",
        "40", "--jwt-key", key_file_, "--jwt-receiver", "app-1", "--jwt-issuer",
        std::string("https://sts.windows.net/") + kTenant + "/"});
  }
  // Options without a key: the credential's tokens for `audience`.
  HubOptions options(const EventHubsEmulator& hub, const std::string& client,
                     const std::string& secret,
                     const std::string& audience = azure::kEventHubsAudience) {
    HubOptions o;
    o.connection =
        parse_hub_connection_string("Endpoint=sb://127.0.0.1:" + std::to_string(hub.port()) +
                                    ";EntityPath=telemetry;UseDevelopmentEmulator=true")
            .value();
    o.reconnect = BackoffPolicy{.initial = 50ms, .max = 1s, .multiplier = 2.0};
    azure::Credential credential;
    credential.kind = azure::CredentialKind::client_secret;
    credential.tenant_id = kTenant;
    credential.client_id = client;
    credential.client_secret = Secret(secret);
    o.tokens = azure::make_standalone_token_provider(credential, audience);
    return o;
  }

  // Every partition of the hub, read from the start.
  static std::vector<std::shared_ptr<PartitionStream>>
  open_every_partition(AmqpEventSource& source) {
    std::vector<std::shared_ptr<PartitionStream>> streams;
    auto properties = source.hub_properties(10s);
    EXPECT_TRUE(properties) << properties.error().message;
    for (const auto& id : properties ? properties->partition_ids : std::vector<PartitionId>{}) {
      streams.push_back(source.open_partition(id, StartPosition::earliest()));
    }
    return streams;
  }
  // How many events the streams held.
  static std::size_t take(const std::vector<std::shared_ptr<PartitionStream>>& streams) {
    std::size_t taken = 0;
    for (const auto& s : streams) {
      std::vector<HubEvent> batch;
      taken += s->take(batch, 64, 5ms);
    }
    return taken;
  }

  testing::TempDir dir_{"hub2kusto-entra"};
  std::string key_file_;
  SystemClock clock_;
  SystemRandom random_;
};

TEST_F(EntraIdHub, ReadsWithTokensRenewedOnTheSameConnection) {
  const auto issuer = start_issuer(5); // a renewal every ~4 s
  ASSERT_TRUE(issuer->running()) << issuer->stderr_text();
  const auto hub = start_hub();
  ASSERT_TRUE(hub->running()) << hub->stderr_text();
  AmqpEventSource source(options(*hub, "app-1", "secret-1"), clock_, random_);
  const auto streams = open_every_partition(source);
  ASSERT_EQ(streams.size(), 2U);
  std::size_t received = 0;
  // Until two renewals with fresh tokens were accepted and every event arrived: the third token
  // is put after the first one expired.
  ASSERT_TRUE(testing::eventually(
      [&] {
        received += take(streams);
        return received == 40 && hub->status()["put_tokens"]["jwt_distinct"].get<int>() >= 3;
      },
      40s))
      << "received " << received << "; " << hub->status().dump() << "\n"
      << hub->stderr_text();
  EXPECT_EQ(hub->status()["put_tokens"]["sas"], 0);
  EXPECT_EQ(hub->status()["connections"], 1);
  for (const auto* p : {"0", "1"}) {
    const auto partition = hub->partition_status("telemetry", p);
    EXPECT_EQ(partition["consumer_attaches"], 1) << partition; // renewed without a re-attach
    EXPECT_EQ(partition["blocked_receivers"], 0) << partition; // the token never lapsed
  }
  EXPECT_GE(source.metrics().token_renewals.load(), 2U);
  source.close();
}

// The connection drops while a renewal is still at the identity endpoint (a slow one): the
// source reconnects, the token that arrives late serves the connection open then, and renewals
// go on; nothing hangs waiting for a token meant for the connection that is gone.
TEST_F(EntraIdHub, AConnectionDroppedWhileItsTokenIsFetchedRecoversAndRenewalsGoOn) {
  const auto issuer = start_issuer(8); // renewed 6 s after issue
  const auto hub = start_hub();
  ASSERT_TRUE(issuer->running() && hub->running());
  AmqpEventSource source(options(*hub, "app-1", "secret-1"), clock_, random_);
  const auto streams = open_every_partition(source); // with the first token, fetched at once
  ASSERT_EQ(streams.size(), 2U);
  ASSERT_TRUE(issuer->fault("/faults/token-delay?ms=1000"));
  std::size_t received = 0;
  ASSERT_TRUE(testing::eventually(
      [&] {
        received += take(streams);
        return issuer->status().value("token_requests_waiting", 0) == 1;
      },
      20s))
      << issuer->status().dump();
  ASSERT_TRUE(hub->fault("/faults/drop-connections"));
  ASSERT_TRUE(testing::eventually(
      [&] {
        received += take(streams);
        // Both partitions attached again on the new connection, and the tokens after the
        // first: the late one and the renewal that followed it.
        const auto status = hub->status();
        return received == 40 &&
               status["hubs"]["telemetry"]["0"]["consumer_attaches"].get<int>() == 2 &&
               status["hubs"]["telemetry"]["1"]["consumer_attaches"].get<int>() == 2 &&
               status["put_tokens"]["jwt_distinct"].get<int>() >= 3;
      },
      40s))
      << "received " << received << "; " << hub->status().dump() << "\n"
      << hub->stderr_text();
  EXPECT_EQ(hub->status()["put_tokens"]["sas"], 0);
  source.close();
}

// No token ever appears in a message: JWTs begin with the base64 of '{"', "eyJ".
void expect_no_token(const std::string& message) {
  EXPECT_EQ(message.find("eyJ"), std::string::npos) << message;
  EXPECT_EQ(message.find("secret-1"), std::string::npos) << message;
}

TEST_F(EntraIdHub, ATokenForAnotherAudienceFailsFastNamingTheCredentialAndTheAudience) {
  const auto issuer = start_issuer(3600);
  const auto hub = start_hub();
  ASSERT_TRUE(issuer->running() && hub->running());
  AmqpEventSource source(options(*hub, "app-1", "secret-1", azure::kStorageAudience), clock_,
                         random_);
  const auto properties = source.hub_properties(10s);
  ASSERT_FALSE(properties);
  const auto& m = properties.error().message;
  EXPECT_NE(m.find("refused the Entra ID token of application app-1 in tenant tenant-1 (client "
                   "secret)"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("audience https://eventhubs.azure.net"), std::string::npos) << m;
  EXPECT_NE(m.find("InvalidAudience"), std::string::npos) << m;
  expect_no_token(m);
}

TEST_F(EntraIdHub, AnExpiredTokenFailsFast) {
  const auto issuer = start_issuer(0); // expired when issued
  const auto hub = start_hub();
  ASSERT_TRUE(issuer->running() && hub->running());
  AmqpEventSource source(options(*hub, "app-1", "secret-1"), clock_, random_);
  const auto properties = source.hub_properties(10s);
  ASSERT_FALSE(properties);
  EXPECT_NE(properties.error().message.find("ExpiredToken"), std::string::npos)
      << properties.error().message;
  expect_no_token(properties.error().message);
}

TEST_F(EntraIdHub, AWrongSecretNamesTheCredentialAndNeverTheSecret) {
  const auto issuer = start_issuer(3600);
  const auto hub = start_hub();
  ASSERT_TRUE(issuer->running() && hub->running());
  AmqpEventSource source(options(*hub, "app-1", "not-the-secret"), clock_, random_);
  const auto properties = source.hub_properties(10s);
  ASSERT_FALSE(properties);
  const auto& m = properties.error().message;
  EXPECT_NE(m.find("no Entra ID token for 127.0.0.1/telemetry (audience "
                   "https://eventhubs.azure.net) from application app-1 in tenant tenant-1"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("invalid_client"), std::string::npos) << m;
  EXPECT_EQ(m.find("not-the-secret"), std::string::npos) << m;
}

TEST_F(EntraIdHub, APrincipalWithoutTheRoleIsToldWhichRoleItLacks) {
  const auto issuer = start_issuer(3600);
  const auto hub = start_hub();
  ASSERT_TRUE(issuer->running() && hub->running());
  AmqpEventSource source(options(*hub, "app-2", "secret-2"), clock_, random_);
  const auto properties = source.hub_properties(10s);
  ASSERT_FALSE(properties);
  const auto& m = properties.error().message;
  EXPECT_NE(m.find("answered 401"), std::string::npos) << m;
  EXPECT_NE(m.find("application app-2 in tenant tenant-1 (client secret) needs the Azure Event "
                   "Hubs Data Receiver role"),
            std::string::npos)
      << m;
  expect_no_token(m);
  // A receiver is refused too, with the same advice.
  auto stream = source.open_partition(PartitionId("0"), StartPosition::earliest());
  ASSERT_TRUE(
      testing::eventually([&] { return stream->status().state == PartitionState::failed; }, 20s));
  EXPECT_NE(stream->status().reason.find("'Listen' claim(s) are required"), std::string::npos)
      << stream->status().reason;
  EXPECT_NE(stream->status().reason.find("Data Receiver role"), std::string::npos)
      << stream->status().reason;
}

} // namespace
} // namespace hub2kusto::hub
