#include "app/credential_config.hpp"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "app/config.hpp"

namespace hub2kusto::app {
namespace {

using azure::CredentialKind;

constexpr const char* kSharedKeyHub =
    "Endpoint=sb://myns.servicebus.windows.net/;SharedAccessKeyName=listen;"
    "SharedAccessKey=S3cr3tKeyValueZZZ=;EntityPath=telemetry";
constexpr const char* kCluster = "Data Source=https://c.westeurope.kusto.windows.net;"
                                 "Initial Catalog=Telemetry";

// A config with one connection to kCluster (plus `kusto_keywords`), `target_extra` inside its
// target and `top_extra` at the top level.
nlohmann::json config_with(const std::string& kusto_keywords, const nlohmann::json& target_extra,
                           const nlohmann::json& top_extra = nlohmann::json::object()) {
  nlohmann::json target = {{"connection_string", std::string(kCluster) + kusto_keywords},
                           {"table", "Events"}};
  if (target_extra.is_object()) {
    target.update(target_extra);
  }
  nlohmann::json root = {
      {"connections", {{{"source", {{"connection_string", kSharedKeyHub}}}, {"target", target}}}}};
  if (top_extra.is_object()) {
    root.update(top_extra);
  }
  return root;
}

Result<Config, ConfigProblems> load(const nlohmann::json& root,
                                    std::map<std::string, std::string> env = {}) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("hub2kusto_credential_config_" + std::to_string(::getpid()) + ".json");
  std::ofstream(path) << root.dump();
  auto config = load_config({path.string(), std::move(env)});
  std::filesystem::remove(path);
  return config;
}

std::string problems(const Result<Config, ConfigProblems>& config) {
  std::string out;
  for (const auto& p : config.error()) {
    out += p.setting + ": " + p.message + "\n";
  }
  return out;
}

TEST(CredentialConfig, ATargetCredentialIsTheTargetsIdentity) {
  auto config = load(config_with("", {{"credential",
                                       {{"kind", "client_certificate"},
                                        {"tenant_id", "t-1"},
                                        {"client_id", "app-1"},
                                        {"certificate_file", "/secrets/app.pem"}}}}));
  ASSERT_TRUE(config) << problems(config);
  const auto& c = config->connections[0].target.credential;
  EXPECT_EQ(c.kind, CredentialKind::client_certificate);
  EXPECT_EQ(c.tenant_id, "t-1");
  EXPECT_EQ(c.client_id, "app-1");
  EXPECT_EQ(c.certificate_file, "/secrets/app.pem");
}

TEST(CredentialConfig, TheTopLevelCredentialServesATargetThatNamesNone) {
  auto config = load(config_with("", {}, {{"credential", {{"kind", "workload_identity"}}}}));
  ASSERT_TRUE(config) << problems(config);
  EXPECT_EQ(config->credential->kind, CredentialKind::workload_identity);
  EXPECT_EQ(config->connections[0].target.credential.kind, CredentialKind::workload_identity);
}

TEST(CredentialConfig, TheConnectionStringsKeywordsMapOntoTheModel) {
  auto config = load(config_with(";AAD Federated Security=True;Managed Identity=uami-9", {},
                                 {{"credential", {{"kind", "azure_cli"}}}}));
  ASSERT_TRUE(config) << problems(config);
  const auto& c = config->connections[0].target.credential;
  EXPECT_EQ(c.kind, CredentialKind::managed_identity); // the keywords win over the shared one
  EXPECT_EQ(c.client_id, "uami-9");
}

TEST(CredentialConfig, KeywordsAndATargetCredentialTogetherAreAProblem) {
  auto config = load(config_with(";AAD Federated Security=True;Managed Identity=system",
                                 {{"credential", {{"kind", "azure_cli"}}}}));
  ASSERT_FALSE(config);
  EXPECT_NE(problems(config).find("connections[0].target.credential: the connection string "
                                  "names an identity (managed identity) and so does "
                                  "target.credential: keep one"),
            std::string::npos)
      << problems(config);
}

TEST(CredentialConfig, AnHttpsClusterWithNoIdentityAtAllIsAProblem) {
  auto config = load(config_with("", {}));
  ASSERT_FALSE(config);
  EXPECT_NE(problems(config).find("names no identity"), std::string::npos) << problems(config);
}

TEST(CredentialConfig, UnknownKindsMissingKindsAndSettingsOfAnotherKindAreProblems) {
  auto config = load(config_with("",
                                 {{"credential",
                                   {{"kind", "client_secret"},
                                    {"certificate_file", "/x.pem"},
                                    {"client_secret", "s3cret-not-shown"}}}},
                                 {{"credential", {{"client_id", "a"}}}}));
  ASSERT_FALSE(config);
  const auto text = problems(config);
  EXPECT_NE(text.find("connections[0].target.credential.certificate_file: does not apply to a "
                      "client_secret credential"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("credential.kind: required"), std::string::npos) << text;
  EXPECT_EQ(text.find("s3cret-not-shown"), std::string::npos);

  auto unknown = load(config_with("", {{"credential", {{"kind", "password"}}}}));
  ASSERT_FALSE(unknown);
  EXPECT_NE(problems(unknown).find("unknown credential 'password'"), std::string::npos);
}

TEST(CredentialConfig, TheSecretComesFromAMountedFileAndCheckConfigSaysSoWithoutIt) {
  const auto secret = std::filesystem::temp_directory_path() /
                      ("hub2kusto_client_secret_" + std::to_string(::getpid()));
  std::ofstream(secret) << "s3cret-from-file\n";
  auto config = load(config_with("", {{"credential",
                                       {{"kind", "client_secret"},
                                        {"tenant_id", "t"},
                                        {"client_id", "app"},
                                        {"client_secret_file", secret.string()}}}}));
  std::filesystem::remove(secret);
  ASSERT_TRUE(config) << problems(config);
  EXPECT_EQ(config->connections[0].target.credential.client_secret.reveal(), "s3cret-from-file");
  const auto shown = to_masked_json(*config);
  const auto& credential = shown["connections"][0]["target"]["credential"];
  EXPECT_EQ(credential["kind"], "client_secret");
  EXPECT_EQ(credential["tenant_id"], "t");
  EXPECT_EQ(credential["client_secret"],
            "set in the configuration (secret_sources says where from)");
  EXPECT_NE(shown["secret_sources"].dump().find(secret.string()), std::string::npos);
  EXPECT_EQ(shown.dump().find("s3cret-from-file"), std::string::npos);
}

TEST(CredentialConfig, CheckConfigSaysWhichEnvironmentVariablesACredentialFallsBackTo) {
  azure::AuthEnvironment env;
  env.tenant_id = "env-tenant";
  env.client_id = "env-app";
  env.federated_token_file = "/var/run/secrets/azure/tokens/azure-identity-token";
  azure::Credential workload;
  workload.kind = CredentialKind::workload_identity;
  const auto shown = credential_json(workload, env);
  EXPECT_EQ(shown["tenant_id"], "env-tenant (environment AZURE_TENANT_ID)");
  EXPECT_EQ(shown["client_id"], "env-app (environment AZURE_CLIENT_ID)");
  EXPECT_EQ(shown["federated_token_file"],
            "/var/run/secrets/azure/tokens/azure-identity-token (environment "
            "AZURE_FEDERATED_TOKEN_FILE)");

  azure::Credential chain;
  chain.kind = CredentialKind::default_chain;
  const auto order = credential_json(chain, env)["chain"];
  ASSERT_EQ(order.size(), 4U);
  EXPECT_EQ(order[0]["environment"], "not set up");
  EXPECT_EQ(order[1]["workload_identity"], "AZURE_FEDERATED_TOKEN_FILE");
  EXPECT_TRUE(order[3].contains("azure_cli"));

  azure::Credential secret;
  secret.kind = CredentialKind::client_secret;
  EXPECT_EQ(credential_json(secret, {})["client_secret"],
            "not set (here or in environment AZURE_CLIENT_SECRET)");
}

// A config whose source is `source` (a JSON object) and whose target is an emulator.
nlohmann::json source_config(const nlohmann::json& source,
                             const nlohmann::json& top_extra = nlohmann::json::object()) {
  nlohmann::json root = {
      {"connections",
       {{{"source", source},
         {"target",
          {{"connection_string", "Data Source=http://127.0.0.1:8080;Initial Catalog=db"},
           {"table", "Events"}}}}}}};
  root.update(top_extra);
  return root;
}

TEST(CredentialConfig, AHubWithoutAKeyIsReadWithTheSourceCredential) {
  auto config = load(
      source_config({{"fully_qualified_namespace", "myns.servicebus.windows.net"},
                     {"event_hub", "telemetry"},
                     {"credential", {{"kind", "managed_identity"}, {"client_id", "uami-1"}}}}));
  ASSERT_TRUE(config) << problems(config);
  const auto& source = config->connections[0].source;
  EXPECT_EQ(source.credential.kind, CredentialKind::managed_identity);
  EXPECT_EQ(std::get<EventHubsConnectionString>(source.connection).host,
            "myns.servicebus.windows.net");
  EXPECT_EQ(to_masked_json(*config)["connections"][0]["source"]["credential"]["identity"],
            "user-assigned uami-1");
}

TEST(CredentialConfig, AHubWithoutAKeyTakesTheSharedCredentialAndAKeyWinsOverIt) {
  const nlohmann::json shared = {{"credential", {{"kind", "workload_identity"}}}};
  auto keyless = load(source_config(
      {{"connection_string", "Endpoint=sb://myns.servicebus.windows.net/;EntityPath=telemetry"}},
      shared));
  ASSERT_TRUE(keyless) << problems(keyless);
  EXPECT_EQ(keyless->connections[0].source.credential.kind, CredentialKind::workload_identity);
  auto keyed = load(source_config({{"connection_string", kSharedKeyHub}}, shared));
  ASSERT_TRUE(keyed) << problems(keyed);
  EXPECT_EQ(keyed->connections[0].source.credential.kind, CredentialKind::none);
}

TEST(CredentialConfig, AHubIdentityMustBeNamedOnceAndIotHubTakesOnlyItsKey) {
  auto none = load(source_config(
      {{"connection_string", "Endpoint=sb://myns.servicebus.windows.net/;EntityPath=telemetry"}}));
  ASSERT_FALSE(none);
  EXPECT_NE(problems(none).find("connections[0].source.connection_string: no credentials"),
            std::string::npos)
      << problems(none);
  auto twice = load(source_config(
      {{"connection_string", kSharedKeyHub}, {"credential", {{"kind", "azure_cli"}}}}));
  ASSERT_FALSE(twice);
  EXPECT_NE(problems(twice).find("has a key and source.credential names an identity too"),
            std::string::npos)
      << problems(twice);
  auto iot = load(source_config(
      {{"connection_string", "HostName=h.azure-devices.net;SharedAccessKeyName=service;"
                             "SharedAccessKey=aGVsbG8="},
       {"credential", {{"kind", "azure_cli"}}}}));
  ASSERT_FALSE(iot);
  EXPECT_NE(problems(iot).find("IoT Hub's built-in endpoint is read with the service policy's key"),
            std::string::npos)
      << problems(iot);
  auto both = load(source_config({{"connection_string", kSharedKeyHub},
                                  {"fully_qualified_namespace", "myns.servicebus.windows.net"}}));
  ASSERT_FALSE(both);
  EXPECT_NE(problems(both).find("give the namespace or a connection string, not both"),
            std::string::npos);
}

// A blob store given by its endpoint is opened by its own credential, else the top-level one;
// check-config shows the endpoint and which identity it uses.
TEST(StoreCredential, ABlobEndpointTakesTheStoresCredentialElseTheSharedOne) {
  nlohmann::json root = source_config({{"connection_string", kSharedKeyHub}},
                                      {{"credential", {{"kind", "azure_cli"}}}});
  root["checkpoint"] = {{"store", "blob"},
                        {"blob_endpoint", "https://acct.blob.core.windows.net/"},
                        {"container", "checkpoints"},
                        {"credential", {{"kind", "managed_identity"}, {"client_id", "uami-2"}}}};
  root["dead_letter"] = {{"store", "blob"},
                         {"blob_endpoint", "https://acct.blob.core.windows.net"},
                         {"container", "dead-letters"}};
  auto config = load(root);
  ASSERT_TRUE(config) << problems(config);
  EXPECT_EQ(config->checkpoint.blob_storage.blob_endpoint, "https://acct.blob.core.windows.net");
  EXPECT_EQ(config->checkpoint.credential.kind, CredentialKind::managed_identity);
  EXPECT_EQ(config->dead_letter.credential.kind, CredentialKind::azure_cli);
  EXPECT_TRUE(config->dead_letter.blob_storage.account_key.empty());
  const auto shown = to_masked_json(*config);
  EXPECT_EQ(shown["checkpoint"]["blob_endpoint"], "https://acct.blob.core.windows.net");
  EXPECT_EQ(shown["checkpoint"]["credential"]["identity"], "user-assigned uami-2");
  EXPECT_EQ(shown["dead_letter"]["credential"]["kind"], "azure_cli");
  EXPECT_FALSE(shown["dead_letter"].contains("blob_connection_string"));
}

TEST(StoreCredential, AnEndpointNeedsHttpsAndAnIdentityAndAConnectionStringNoIdentity) {
  const auto store_problems = [](const nlohmann::json& checkpoint,
                                 const nlohmann::json& top = nlohmann::json::object()) {
    nlohmann::json root = source_config({{"connection_string", kSharedKeyHub}}, top);
    root["checkpoint"] = checkpoint;
    root["checkpoint"]["store"] = "blob";
    root["checkpoint"]["container"] = "checkpoints";
    auto config = load(root);
    return config ? std::string() : problems(config);
  };
  EXPECT_NE(store_problems({{"blob_endpoint", "https://acct.blob.core.windows.net"}})
                .find("checkpoint.blob_endpoint: no credentials: give a Microsoft Entra ID "
                      "credential"),
            std::string::npos)
      << store_problems({{"blob_endpoint", "https://acct.blob.core.windows.net"}});
  EXPECT_NE(store_problems({{"blob_endpoint", "http://acct.blob.core.windows.net"},
                            {"credential", {{"kind", "azure_cli"}}}})
                .find("checkpoint.blob_endpoint: 'http://acct.blob.core.windows.net' is not an "
                      "https:// URL"),
            std::string::npos);
  const std::string keyed = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;"
                            "EndpointSuffix=core.windows.net";
  EXPECT_NE(
      store_problems({{"blob_connection_string", keyed}, {"credential", {{"kind", "azure_cli"}}}})
          .find("checkpoint.credential: blob_connection_string has a key or SAS and "
                "credential names an identity too"),
      std::string::npos);
  EXPECT_NE(store_problems({{"blob_connection_string", keyed},
                            {"blob_endpoint", "https://acct.blob.core.windows.net"}})
                .find("give blob_endpoint (with a credential) or blob_connection_string, not both"),
            std::string::npos);
  EXPECT_NE(store_problems(nlohmann::json::object())
                .find("checkpoint.blob_connection_string: required with store 'blob'"),
            std::string::npos);
  // A key in the connection string wins: the top-level credential does not apply to it.
  EXPECT_EQ(store_problems({{"blob_connection_string", keyed}},
                           {{"credential", {{"kind", "azure_cli"}}}}),
            "");
}

TEST(StoreCredential, AFileStoreRefusesTheBlobIdentitySettingsByName) {
  nlohmann::json root = source_config({{"connection_string", kSharedKeyHub}});
  root["dead_letter"] = {{"store", "file"},
                         {"blob_endpoint", "https://acct.blob.core.windows.net"},
                         {"credential", {{"kind", "azure_cli"}}}};
  auto config = load(root);
  ASSERT_FALSE(config);
  EXPECT_EQ(problems(config), "dead_letter.blob_endpoint: applies only to store 'blob'\n"
                              "dead_letter.credential: applies only to store 'blob'\n");
}

} // namespace
} // namespace hub2kusto::app
