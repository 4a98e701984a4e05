// hub2kusto with Microsoft Entra ID and no key in any connection string: the Kusto emulator
// plays Entra ID (its token endpoint signs RS256 tokens with a throw-away key and takes a
// Kubernetes-style federated token), the Event Hubs emulator checks the jwt tokens put on $cbs
// with the same key, the Kusto emulator takes only the tokens it issued for its audience, and
// Azurite (over HTTPS with a throw-away certificate, --oauth basic) keeps the checkpoints and
// dead letters, opened by bearer tokens for Storage's audience.
#include "bridge_fixture.hpp"
#include "support/keys.hpp"
#include "support/kusto_emulator.hpp"

namespace hub2kusto::bridge_test {
namespace {

class Identity : public Bridge {
protected:
  void SetUp() override {
    Bridge::SetUp();
    key_file_ = (dir_ / "signing-key.pem").string();
    std::ofstream(key_file_) << testing::private_key_pem(testing::make_rsa_key().get());
    std::ofstream(dir_ / "federated-token") << "projected-service-account-token\n";
    const auto tls_key = testing::make_rsa_key();
    std::ofstream(dir_ / "azurite-key.pem") << testing::private_key_pem(tls_key.get());
    std::ofstream(dir_ / "azurite-cert.pem") << testing::certificate_pem(
        testing::make_self_signed_certificate(tls_key.get(), "127.0.0.1").get());
  }

  // Azurite as Azure Storage is with shared keys disabled: HTTPS, bearer tokens checked for
  // issuer, audience and lifetime.
  testing::Azurite start_storage() {
    return testing::Azurite({"--cert", (dir_ / "azurite-cert.pem").string(), "--key",
                             (dir_ / "azurite-key.pem").string(), "--oauth", "basic"});
  }

  // Both stores in `storage`, by its endpoint alone: the shared credential opens them.
  void keep_stores_in(const testing::Azurite& storage,
                      std::vector<std::pair<std::string, std::string>>& env) {
    std::erase_if(env, [](const auto& kv) {
      return kv.first == "HUB2KUSTO_CHECKPOINT_DIRECTORY" ||
             kv.first == "HUB2KUSTO_DEAD_LETTER_DIRECTORY";
    });
    for (const std::string store : {"CHECKPOINT", "DEAD_LETTER"}) {
      env.emplace_back("HUB2KUSTO_" + store + "_STORE", "blob");
      env.emplace_back("HUB2KUSTO_" + store + "_BLOB_ENDPOINT", storage.blob_endpoint());
    }
    env.emplace_back("HUB2KUSTO_CHECKPOINT_CONTAINER", "checkpoints");
    env.emplace_back("HUB2KUSTO_DEAD_LETTER_CONTAINER", "dead-letters");
    env.emplace_back("SSL_CERT_FILE", (dir_ / "azurite-cert.pem").string()); // OpenSSL's trust
  }

  // The checkpoints in `storage`, as the official blob checkpoint store lists them (over
  // HTTPS, with Azurite's development key: it takes that beside tokens).
  std::string checkpoints_in(const testing::Azurite& storage) {
    ChildProcess node({"node", HUB2KUSTO_SOURCE_DIR "/tests/integration/checkpoint/checkpoints.js",
                       "list", storage.blob_connection_string(), "checkpoints", "127.0.0.1",
                       "telemetry", "$Default"},
                      {{"NODE_EXTRA_CA_CERTS", (dir_ / "azurite-cert.pem").string()}});
    auto line = node.read_line(60s);
    node.wait_exit(60s);
    return line.value_or(node.stderr_text());
  }

  // The environment of a pod with workload identity: one credential for every endpoint.
  std::vector<std::pair<std::string, std::string>> keyless_environment(const EventHubsEmulator& hub,
                                                                       const KustoEmulator& kusto) {
    auto env = environment(hub, kusto);
    for (auto& [name, value] : env) {
      if (name == "HUB2KUSTO_CONNECTIONS_0_SOURCE_CONNECTION_STRING") {
        value = "Endpoint=sb://127.0.0.1:" + std::to_string(hub.port()) +
                ";EntityPath=telemetry;UseDevelopmentEmulator=true";
      }
    }
    add_workload_identity(kusto, env);
    return env;
  }
  // One workload identity for every endpoint without a key, its tokens from `kusto`.
  void add_workload_identity(const KustoEmulator& kusto,
                             std::vector<std::pair<std::string, std::string>>& env) {
    env.emplace_back("HUB2KUSTO_CREDENTIAL_KIND", "workload_identity");
    env.emplace_back("AZURE_CLIENT_ID", "app-w");
    env.emplace_back("AZURE_TENANT_ID", "tenant-w");
    env.emplace_back("AZURE_FEDERATED_TOKEN_FILE", (dir_ / "federated-token").string());
    env.emplace_back("AZURE_AUTHORITY_HOST", kusto.url());
  }

  std::string key_file_;
};

TEST_F(Identity, MovesEventsWithEntraIdTokensAndNoKeyAnywhere) {
  Services services({"--hub", "telemetry:2", "--preload", (dir_ / "events.jsonl").string(),
                     "--preload-events", "50", "--jwt-key", key_file_, "--jwt-receiver", "app-w",
                     "--jwt-issuer", "https://sts.windows.net/tenant-w/"},
                    {"--require-token", "--signing-key", key_file_, "--static-token", "admin",
                     "--federated", "app-w=projected-service-account-token", "--token-lifetime",
                     "5"},
                    false);
  ASSERT_NO_FATAL_FAILURE(start(services, false));
  auto& [hub, kusto] = services;
  const auto storage = start_storage();
  ASSERT_TRUE(storage.running()) << storage.stderr_text();
  ASSERT_FALSE(kusto
                   .mgmt(".create table T (deviceId:string, temperature:real, humidity:long, "
                         "line:long)",
                         "db", "admin")
                   .contains("error"));
  ASSERT_FALSE(
      kusto
          .mgmt(
              R"(.create table T ingestion json mapping 'm' '[{"column":"deviceId","Properties":{"Path":"$.deviceId"}},{"column":"temperature","Properties":{"Path":"$.temperature"}},{"column":"humidity","Properties":{"Path":"$.humidity"}},{"column":"line","Properties":{"Path":"$.line"}}]')",
              "db", "admin")
          .contains("error"));
  ASSERT_FALSE(kusto.mgmt(".alter table T policy streamingingestion enable", "db", "admin")
                   .contains("error"));
  auto env = keyless_environment(hub, kusto);
  keep_stores_in(storage, env);
  for (const auto& [name, value] : env) {
    EXPECT_EQ(value.find("SharedAccessKey"), std::string::npos) << name;
    EXPECT_EQ(value.find("Application Key"), std::string::npos) << name;
    EXPECT_EQ(value.find("AccountKey"), std::string::npos) << name;
  }

  // check-config says which credential each endpoint uses and where its settings come from.
  const auto shown = run_command({HUB2KUSTO_BINARY, "check-config"}, env);
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  const auto config = nlohmann::json::parse(shown.out);
  const auto& source = config["connections"][0]["source"]["credential"];
  EXPECT_EQ(source["kind"], "workload_identity");
  EXPECT_EQ(source["client_id"], "app-w (environment AZURE_CLIENT_ID)");
  EXPECT_EQ(config["connections"][0]["target"]["credential"]["kind"], "workload_identity");
  for (const auto* store : {"checkpoint", "dead_letter"}) {
    EXPECT_EQ(config[store]["blob_endpoint"], storage.blob_endpoint());
    EXPECT_EQ(config[store]["credential"]["federated_token_file"],
              (dir_ / "federated-token").string() + " (environment AZURE_FEDERATED_TOKEN_FILE)");
  }

  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, env);
  // Every event arrives, and the hub's 5-second tokens were renewed twice on one connection.
  ASSERT_TRUE(eventually(
      [&] {
        return kusto.count("T", "admin") == 50 &&
               hub.status()["put_tokens"]["jwt_distinct"].get<int>() >= 3;
      },
      90s))
      << bridge.stderr_text() << "\nrows " << kusto.count("T", "admin") << "\n"
      << hub.status().dump();
  EXPECT_EQ(hub.status()["put_tokens"]["sas"], 0);
  for (const auto* p : {"0", "1"}) {
    EXPECT_EQ(hub.partition_status("telemetry", p)["consumer_attaches"], 1)
        << hub.status().dump(); // renewed without a re-attach
  }
  stop(bridge);
  EXPECT_EQ(kusto.count("T", "admin"), 50); // nothing lost, nothing twice
  // The positions are in Azurite, where the official checkpoint store finds them: 25 events a
  // partition, the last at sequence number 24.
  const auto listed = checkpoints_in(storage);
  const auto checkpoints = nlohmann::json::parse(listed, nullptr, false);
  ASSERT_TRUE(checkpoints.is_array() && checkpoints.size() == 2) << listed;
  for (const auto& checkpoint : checkpoints) {
    EXPECT_EQ(checkpoint["sequenceNumber"], 24) << listed;
  }
  // No token and no federated assertion in anything hub2kusto wrote.
  EXPECT_EQ(bridge.stderr_text().find("eyJ"), std::string::npos);
  EXPECT_EQ(bridge.stderr_text().find("projected-service-account-token"), std::string::npos);
}

// As a bad key does: start-up stops with a message that names the identity and the role.
TEST_F(Identity, AnIdentityWithoutTheReceiverRoleStopsStartUpNamingTheRole) {
  Services services(
      {"--hub", "telemetry:2", "--jwt-key", key_file_, "--jwt-receiver", "someone-else"},
      {"--require-token", "--signing-key", key_file_, "--federated",
       "app-w=projected-service-account-token"},
      false);
  ASSERT_NO_FATAL_FAILURE(start(services, false));
  auto& [hub, kusto] = services;
  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, keyless_environment(hub, kusto));
  EXPECT_EQ(bridge.wait_exit(60s), 1);
  const std::string err = bridge.stderr_text();
  EXPECT_NE(err.find("application app-w in tenant tenant-w (workload identity) needs the Azure "
                     "Event Hubs Data Receiver role on the hub or its namespace"),
            std::string::npos)
      << err;
  EXPECT_EQ(err.find("eyJ"), std::string::npos);
  EXPECT_EQ(err.find("projected-service-account-token"), std::string::npos);
}

// Storage refuses the identity's token (here: expired when issued): start-up stops naming the
// container, the identity and the audience, and no token appears in what hub2kusto wrote.
TEST_F(Identity, ARefusedStorageTokenStopsStartUpNamingTheIdentityAndTheAudience) {
  Services services({"--hub", "telemetry:2"},
                    {"--signing-key", key_file_, "--federated",
                     "app-w=projected-service-account-token", "--token-lifetime", "0"},
                    false);
  ASSERT_NO_FATAL_FAILURE(start(services, false));
  auto& [hub, kusto] = services;
  const auto storage = start_storage();
  ASSERT_TRUE(storage.running()) << storage.stderr_text();
  auto env = environment(hub, kusto); // the hub by its key; the stores by the identity
  keep_stores_in(storage, env);
  add_workload_identity(kusto, env);
  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, env);
  EXPECT_EQ(bridge.wait_exit(60s), 1);
  const std::string err = bridge.stderr_text();
  EXPECT_NE(err.find("checkpoint container 'checkpoints' at " + storage.blob_endpoint()),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("AuthenticationFailed (the token of application app-w in tenant tenant-w "
                     "(workload identity) for audience https://storage.azure.com was refused"),
            std::string::npos)
      << err;
  EXPECT_EQ(err.find("eyJ"), std::string::npos);
}

} // namespace
} // namespace hub2kusto::bridge_test
