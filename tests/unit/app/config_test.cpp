#include "app/config.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "support/temp_dir.hpp"

namespace hub2kusto::app {
namespace {

constexpr const char* kHub =
    "Endpoint=sb://myns.servicebus.windows.net/;SharedAccessKeyName=listen;"
    "SharedAccessKey=S3cr3tKeyValueZZZ=;EntityPath=telemetry";
constexpr const char* kKusto =
    "Data Source=https://c.westeurope.kusto.windows.net;Initial Catalog=Telemetry;"
    "AAD Federated Security=True;Application Client Id=app;Application Key=S3cr3tAppKeyZZZ;"
    "Authority Id=tenant";

class ConfigTest : public ::testing::Test {
protected:
  std::string write(const std::string& name, const std::string& content) {
    const auto path = dir_ / name;
    std::ofstream(path) << content;
    return path.string();
  }
  testing::TempDir dir_{"hub2kusto-config-test"};
};

TEST_F(ConfigTest, MinimalFileGetsTheDocumentedDefaults) {
  const auto path = write("c.json", std::string(R"({
    // comments are allowed
    "connections": [{
      "source": {"connection_string": ")") +
                                        kHub + R"("},
      "target": {"connection_string": ")" +
                                        kKusto + R"(", "table": "Events"}
    }]
  })");
  auto config = load_config({path, {}});
  ASSERT_TRUE(config) << config.error().front().setting << ": " << config.error().front().message;
  ASSERT_EQ(config->connections.size(), 1u);
  const auto& c = config->connections[0];
  EXPECT_EQ(c.name, "connection-0");
  EXPECT_EQ(c.source.event_hub.value(), "telemetry");
  EXPECT_EQ(c.source.consumer_group.value(), "$Default");
  EXPECT_EQ(c.source.start_position.kind, StartPosition::Kind::earliest);
  EXPECT_EQ(c.target.database.value(), "Telemetry"); // from Initial Catalog
  EXPECT_EQ(c.target.table.value(), "Events");
  EXPECT_EQ(c.target.format, IngestFormat::json);
  EXPECT_EQ(c.target.connection.auth, KustoAuth::application_key);
  EXPECT_EQ(c.batching.max_bytes, 3584u << 10);
  EXPECT_FALSE(c.delivery.deduplicate);
  EXPECT_EQ(config->workers, 0U); // the cores
  EXPECT_EQ(config->checkpoint.store, CheckpointConfig::Store::file);
  EXPECT_EQ(config->ops.port, 8080);
  EXPECT_EQ(config->drain_deadline, std::chrono::seconds(30));
}

TEST_F(ConfigTest, EnvironmentAloneIsAConfiguration) {
  auto config =
      load_config({std::nullopt,
                   {{"HUB2KUSTO_CONNECTIONS_0_SOURCE_CONNECTION_STRING", kHub},
                    {"HUB2KUSTO_CONNECTIONS_0_TARGET_CONNECTION_STRING", kKusto},
                    {"HUB2KUSTO_CONNECTIONS_0_TARGET_TABLE", "Events"},
                    {"HUB2KUSTO_CONNECTIONS_0_SOURCE_START_POSITION", "2026-01-01T00:00:00Z"},
                    {"HUB2KUSTO_CONNECTIONS_0_BATCHING_LINGER", "200ms"},
                    {"HUB2KUSTO_CONNECTIONS_0_DELIVERY_DEDUPLICATE", "true"},
                    {"HUB2KUSTO_WORKERS", "3"},
                    {"HUB2KUSTO_LOG_FORMAT", "json"},
                    {"HUB2KUSTO_OPS_PORT", "9090"}}});
  ASSERT_TRUE(config) << config.error().front().setting << ": " << config.error().front().message;
  const auto& c = config->connections[0];
  EXPECT_EQ(c.source.start_position.kind, StartPosition::Kind::enqueued_time);
  EXPECT_EQ(c.batching.linger, std::chrono::milliseconds(200));
  EXPECT_TRUE(c.delivery.deduplicate);
  EXPECT_EQ(config->workers, 3U);
  EXPECT_EQ(config->log.format, LogFormat::json);
  EXPECT_EQ(config->ops.port, 9090);
}

// The hub over WebSockets through a proxy: source.transport agrees with the connection string's
// TransportType, the proxy URL is checked at start-up, and its password is never shown.
TEST_F(ConfigTest, TransportAndProxyAreCheckedAndThePasswordIsNeverShown) {
  const std::map<std::string, std::string> base = {
      {"HUB2KUSTO_CONNECTIONS_0_SOURCE_CONNECTION_STRING", kHub},
      {"HUB2KUSTO_CONNECTIONS_0_TARGET_CONNECTION_STRING", kKusto},
      {"HUB2KUSTO_CONNECTIONS_0_TARGET_TABLE", "Events"}};
  const auto with = [&](std::map<std::string, std::string> more) {
    more.insert(base.begin(), base.end());
    return load_config({std::nullopt, {more.begin(), more.end()}});
  };
  auto chosen =
      with({{"HUB2KUSTO_CONNECTIONS_0_SOURCE_TRANSPORT", "websockets"},
            {"HUB2KUSTO_CONNECTIONS_0_SOURCE_PROXY", "http://alice:Pr0xyS3cret@proxy.corp:3128"}});
  ASSERT_TRUE(chosen) << chosen.error().front().message;
  EXPECT_EQ(chosen->connections[0].source.transport, HubTransport::websockets);
  EXPECT_EQ(chosen->connections[0].source.proxy, "http://alice:Pr0xyS3cret@proxy.corp:3128");
  const std::string shown = to_masked_json(*chosen).dump();
  EXPECT_NE(shown.find("http://alice:***@proxy.corp:3128"), std::string::npos) << shown;
  EXPECT_EQ(shown.find("Pr0xyS3cret"), std::string::npos);

  auto from_string = load_config({std::nullopt,
                                  {{"HUB2KUSTO_CONNECTIONS_0_SOURCE_CONNECTION_STRING",
                                    std::string(kHub) + ";TransportType=AmqpWebSockets"},
                                   {"HUB2KUSTO_CONNECTIONS_0_TARGET_CONNECTION_STRING", kKusto},
                                   {"HUB2KUSTO_CONNECTIONS_0_TARGET_TABLE", "Events"}}});
  ASSERT_TRUE(from_string) << from_string.error().front().message;
  EXPECT_EQ(from_string->connections[0].source.transport, HubTransport::websockets);
  auto defaults = with({});
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->connections[0].source.transport, HubTransport::amqp);
  EXPECT_FALSE(defaults->connections[0].source.proxy.has_value());

  auto wrong = with({{"HUB2KUSTO_CONNECTIONS_0_SOURCE_TRANSPORT", "mqtt"},
                     {"HUB2KUSTO_CONNECTIONS_0_SOURCE_PROXY", "https://bob:Pr0xyS3cret@p:3128"}});
  ASSERT_FALSE(wrong);
  std::set<std::string> problems;
  for (const auto& p : wrong.error()) {
    problems.insert(p.setting + ": " + p.message);
    EXPECT_EQ(p.message.find("Pr0xyS3cret"), std::string::npos) << p.message;
  }
  EXPECT_TRUE(problems.count("connections[0].source.transport: 'mqtt' is not amqp or websockets"))
      << *problems.begin();
  EXPECT_TRUE(problems.count("connections[0].source.proxy: the proxy URL has the scheme 'https'; "
                             "only http:// proxies (which tunnel TLS with CONNECT) are supported"))
      << *problems.rbegin();
}

// The checkpoint and dead-letter stores are read by the same rules: each names its own
// settings, blob settings without store 'blob' are refused, and file is the default.
TEST_F(ConfigTest, BothStoresRefuseSettingsOfTheOtherKindByName) {
  const std::string blob = "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=a2V5;"
                           "EndpointSuffix=core.windows.net";
  auto config = load_config({std::nullopt,
                             {{"HUB2KUSTO_CONNECTIONS_0_SOURCE_CONNECTION_STRING", kHub},
                              {"HUB2KUSTO_CONNECTIONS_0_TARGET_CONNECTION_STRING", kKusto},
                              {"HUB2KUSTO_CONNECTIONS_0_TARGET_TABLE", "Events"},
                              {"HUB2KUSTO_CHECKPOINT_STORE", "blob"},
                              {"HUB2KUSTO_CHECKPOINT_DIRECTORY", "/var/lib/checkpoints"},
                              {"HUB2KUSTO_CHECKPOINT_BLOB_CONNECTION_STRING", blob},
                              {"HUB2KUSTO_CHECKPOINT_CONTAINER", "Bad_Name"},
                              {"HUB2KUSTO_DEAD_LETTER_STORE", "file"},
                              {"HUB2KUSTO_DEAD_LETTER_CONTAINER", "dead-letters"}}});
  ASSERT_FALSE(config);
  const std::vector<ConfigProblem> expected = {
      {"checkpoint.directory", "applies only to store 'file'"},
      {"checkpoint.container",
       "'Bad_Name' may contain only lower-case letters, digits and single hyphens inside the "
       "name"},
      {"dead_letter.container", "applies only to store 'blob'"},
  };
  EXPECT_EQ(config.error(), expected);

  auto defaults = load_config({std::nullopt,
                               {{"HUB2KUSTO_CONNECTIONS_0_SOURCE_CONNECTION_STRING", kHub},
                                {"HUB2KUSTO_CONNECTIONS_0_TARGET_CONNECTION_STRING", kKusto},
                                {"HUB2KUSTO_CONNECTIONS_0_TARGET_TABLE", "Events"},
                                {"HUB2KUSTO_DEAD_LETTER_CONTAINER", "dead-letters"}}});
  ASSERT_FALSE(defaults);
  ASSERT_EQ(defaults.error().size(), 1U);
  EXPECT_EQ(defaults.error()[0].message,
            "blob settings are given but the store is 'file' (the default); set store to 'blob'");
}

// What the kubelet injects for the Service hub2kusto-ops (every pod of the namespace gets it
// unless enableServiceLinks is false) is not a setting; a misspelt setting still is an error.
TEST_F(ConfigTest, KubernetesServiceLinkVariablesAreNotSettings) {
  const std::map<std::string, std::string> links = {
      {"HUB2KUSTO_OPS_SERVICE_HOST", "10.0.12.7"},
      {"HUB2KUSTO_OPS_SERVICE_PORT", "8080"},
      {"HUB2KUSTO_OPS_SERVICE_PORT_OPS", "8080"},
      {"HUB2KUSTO_OPS_PORT", "tcp://10.0.12.7:8080"},
      {"HUB2KUSTO_OPS_PORT_8080_TCP", "tcp://10.0.12.7:8080"},
      {"HUB2KUSTO_OPS_PORT_8080_TCP_PROTO", "tcp"},
      {"HUB2KUSTO_OPS_PORT_8080_TCP_PORT", "8080"},
      {"HUB2KUSTO_OPS_PORT_8080_TCP_ADDR", "10.0.12.7"}};
  auto env = links;
  env.emplace("HUB2KUSTO_CONNECTIONS_0_SOURCE_CONNECTION_STRING", kHub);
  env.emplace("HUB2KUSTO_CONNECTIONS_0_TARGET_CONNECTION_STRING", kKusto);
  env.emplace("HUB2KUSTO_CONNECTIONS_0_TARGET_TABLE", "Events");
  auto config = load_config({std::nullopt, env});
  ASSERT_TRUE(config) << config.error().front().setting << ": " << config.error().front().message;
  EXPECT_EQ(config->ops.port, 8080); // the default: HUB2KUSTO_OPS_PORT=tcp://... was not read
  // A real value of the same name is the setting; near misses are refused.
  env["HUB2KUSTO_OPS_PORT"] = "9090";
  env["HUB2KUSTO_OPS_PROT"] = "9090";
  env["HUB2KUSTO_OPS_PORT_8080_TCP_PORT"] = "tcp"; // a port detail that is no port
  auto refused = load_config({std::nullopt, env});
  ASSERT_FALSE(refused);
  std::set<std::string> named;
  for (const auto& p : refused.error()) {
    named.insert(p.setting);
  }
  EXPECT_EQ(named,
            (std::set<std::string>{"HUB2KUSTO_OPS_PROT", "HUB2KUSTO_OPS_PORT_8080_TCP_PORT"}));
}

TEST_F(ConfigTest, EmptyNegativeAndRepeatedValuesAreErrorsNotSurprisesAtRunTime) {
  auto config = load_config({std::nullopt,
                             {{"HUB2KUSTO_CONNECTIONS_0_SOURCE_CONNECTION_STRING", kHub},
                              {"HUB2KUSTO_CONNECTIONS_0_TARGET_CONNECTION_STRING", kKusto},
                              {"HUB2KUSTO_CONNECTIONS_0_TARGET_TABLE", "Events"},
                              {"HUB2KUSTO_CONNECTIONS_0_TARGET_DATABASE", ""},
                              {"HUB2KUSTO_CONNECTIONS_0_SOURCE_PARTITIONS", "0,0,-1"},
                              {"HUB2KUSTO_CHECKPOINT_DIRECTORY", ""},
                              {"HUB2KUSTO_OPS_ADDRESS", "not an address"}}});
  ASSERT_FALSE(config);
  std::multiset<std::string> named;
  for (const auto& p : config.error()) {
    named.insert(p.setting);
  }
  EXPECT_EQ(named.count("connections[0].target.database"), 1U);
  EXPECT_EQ(named.count("connections[0].source.partitions"), 2U); // the repeated 0, and -1
  EXPECT_EQ(named.count("checkpoint.directory"), 1U);
  EXPECT_EQ(named.count("ops.address"), 1U);
}

TEST_F(ConfigTest, TheMemoryBudgetDefaultsToHalfTheContainersLimitOrOneGibibyte) {
  EXPECT_EQ(parse_memory_limit("536870912\n"), 536870912U); // cgroup v2 memory.max
  EXPECT_EQ(parse_memory_limit("max\n"), std::nullopt);
  EXPECT_EQ(parse_memory_limit("9223372036854771712"), std::nullopt); // v1: no limit
  EXPECT_EQ(parse_memory_limit(""), std::nullopt);
  const std::map<std::string, std::string> env{
      {"HUB2KUSTO_CONNECTIONS_0_SOURCE_CONNECTION_STRING", kHub},
      {"HUB2KUSTO_CONNECTIONS_0_TARGET_CONNECTION_STRING", kKusto},
      {"HUB2KUSTO_CONNECTIONS_0_TARGET_TABLE", "Events"}};
  auto unlimited = load_config({std::nullopt, env});
  ASSERT_TRUE(unlimited);
  EXPECT_EQ(unlimited->max_buffered_bytes, 1ULL << 30);
  auto limited = load_config({std::nullopt, env, 512ULL << 20});
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->max_buffered_bytes, 256ULL << 20);
  auto set = env;
  set["HUB2KUSTO_LIMITS_MAX_BUFFERED_BYTES"] = "64MiB";
  auto chosen = load_config({std::nullopt, set, 512ULL << 20});
  ASSERT_TRUE(chosen);
  EXPECT_EQ(chosen->max_buffered_bytes, 64ULL << 20);
  EXPECT_EQ(to_masked_json(*chosen)["limits"]["max_buffered_bytes"], 64ULL << 20);
  set["HUB2KUSTO_LIMITS_MAX_BUFFERED_BYTES"] = "1MiB";
  auto refused = load_config({std::nullopt, set});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().front().setting, "limits.max_buffered_bytes");
  EXPECT_NE(refused.error().front().message.find("16MiB"), std::string::npos);
}

TEST_F(ConfigTest, ARepeatedJsonKeyIsAnError) {
  const auto path =
      write("dup.json", R"({"connections":[{"source":{"connection_string":")" + std::string(kHub) +
                            R"("},"target":{"table":"A","table":"B"}}]})");
  auto config = load_config({path, {}});
  ASSERT_FALSE(config);
  EXPECT_NE(config.error().front().message.find("the key 'table' appears twice"), std::string::npos)
      << config.error().front().message;
}

TEST_F(ConfigTest, SecretsFromMountedFiles) {
  const auto hub = write("hub", std::string(kHub) + "\n");
  const auto kusto = write("kusto", kKusto);
  const auto path = write("c.json", R"({"connections":[{"source":{"connection_string_file":")" +
                                        hub + R"("},"target":{"table":"T"}}]})");
  auto config =
      load_config({path, {{"HUB2KUSTO_CONNECTIONS_0_TARGET_CONNECTION_STRING_FILE", kusto}}});
  ASSERT_TRUE(config) << config.error().front().setting << ": " << config.error().front().message;
  EXPECT_EQ(config->connections[0].source.connection_string.reveal(), kHub);
  EXPECT_EQ(config->connections[0].target.connection_string.reveal(), kKusto);
  ASSERT_EQ(config->secret_origins.size(), 2u);
}

TEST_F(ConfigTest, ReportsEveryProblemAtOnce) {
  const auto path = write("c.json", std::string(R"({
    "connections": [{
      "source": {"connection_string": "Endpoint=sb://myns.servicebus.windows.net/;SharedAccessKeyName=r",
                 "consumer_group": "bad group!", "start_position": "yesterday"},
      "target": {"connection_string": ")") +
                                        kKusto + R"(", "format": "xml",
                 "batching": {}},
      "batchng": {}
    }],
    "log": {"level": "loud"},
    "checkpoint": {"store": "blob"}
  })");
  auto config = load_config({path, {{"HUB2KUSTO_OPS_PROT", "1"}}});
  ASSERT_FALSE(config);
  const std::vector<ConfigProblem> expected = {
      {"connections[0].source.connection_string",
       "Event Hubs connection string: 'SharedAccessKey' is missing ('SharedAccessKeyName' is "
       "set)"},
      {"connections[0].source.consumer_group",
       "'bad group!' may contain only letters, digits, '.', '-' and '_'"},
      {"connections[0].source.start_position",
       "'yesterday' is not earliest, latest or an ISO 8601 time with a zone such as "
       "2026-01-31T00:00:00Z"},
      {"connections[0].target.batching", "unknown setting"},
      {"connections[0].target.table", "required: the default table events are ingested into"},
      {"connections[0].target.format",
       "'xml' is not a Kusto data format (one of json, multijson, csv, tsv, psv, scsv, sohsv, "
       "txt, raw, avro, parquet, ...)"},
      {"connections[0].batchng", "unknown setting (did you mean 'batching'?)"},
      {"checkpoint.blob_connection_string",
       "required with store 'blob': the Azure Storage connection string, or blob_endpoint with a "
       "Microsoft Entra ID credential"},
      {"checkpoint.container", "required with store 'blob'"},
      {"log.level", "'loud' is not a log level: trace, debug, info, warn, error, critical or off"},
      {"HUB2KUSTO_OPS_PROT", "unknown environment variable: no setting has this name"},
  };
  EXPECT_EQ(config.error(), expected);
}

TEST_F(ConfigTest, NoProblemMessageContainsASecret) {
  const auto path = write("c.json", R"({"connections":[{
      "source": {"connection_string": "Endpoint=sb://h/;SharedAccessKey=S3cr3tKeyValueZZZ="},
      "target": {"connection_string": "Data Source=https://c;AppKey=S3cr3tAppKeyZZZ", "table": "T"}}]})");
  auto config = load_config({path, {}});
  ASSERT_FALSE(config);
  ASSERT_EQ(config.error().size(), 2u);
  for (const auto& p : config.error()) {
    EXPECT_EQ(p.message.find("S3cr3t"), std::string::npos) << p.setting;
  }
}

TEST_F(ConfigTest, InvalidJsonNamesLineAndColumn) {
  const auto path = write("c.json", "{\n  \"connections\": [\n    {,}\n  ]\n}\n");
  auto config = load_config({path, {}});
  ASSERT_FALSE(config);
  ASSERT_EQ(config.error().size(), 1u);
  EXPECT_EQ(config.error()[0].setting, path + ":3:6");
  EXPECT_EQ(config.error()[0].message, "invalid JSON");
}

TEST_F(ConfigTest, HugeNumberIsAProblemNotACrash) {
  const auto path = write("c.json", R"({"ops": {"port": 1E400}})");
  auto config = load_config({path, {}});
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error()[0].message, "invalid JSON: a number is out of range");
}

TEST_F(ConfigTest, MissingFileAndNoConnections) {
  auto missing = load_config({(dir_ / "nope.json").string(), {}});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error()[0].message, "cannot read the config file");
  auto empty = load_config({std::nullopt, {}});
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error()[0],
            (ConfigProblem{"connections", "at least one connection (a source hub and a Kusto "
                                          "target) is required"}));
}

TEST_F(ConfigTest, EventHubNameRules) {
  const std::string no_entity = "Endpoint=sb://myns.servicebus.windows.net/;"
                                "SharedAccessKeyName=r;SharedAccessKey=k";
  auto missing = load_config({std::nullopt,
                              {{"HUB2KUSTO_CONNECTIONS_0_SOURCE_CONNECTION_STRING", no_entity},
                               {"HUB2KUSTO_CONNECTIONS_0_TARGET_CONNECTION_STRING", kKusto},
                               {"HUB2KUSTO_CONNECTIONS_0_TARGET_TABLE", "T"}}});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error()[0],
            (ConfigProblem{"connections[0].source.event_hub",
                           "required: the connection string has no EntityPath, so name the "
                           "Event Hub here"}));
  auto conflict = load_config({std::nullopt,
                               {{"HUB2KUSTO_CONNECTIONS_0_SOURCE_CONNECTION_STRING", kHub},
                                {"HUB2KUSTO_CONNECTIONS_0_SOURCE_EVENT_HUB", "other"},
                                {"HUB2KUSTO_CONNECTIONS_0_TARGET_CONNECTION_STRING", kKusto},
                                {"HUB2KUSTO_CONNECTIONS_0_TARGET_TABLE", "T"}}});
  ASSERT_FALSE(conflict);
  EXPECT_EQ(conflict.error()[0].message,
            "'other' differs from the connection string's EntityPath 'telemetry'");
}

TEST_F(ConfigTest, MaskedJsonHasNoSecret) {
  auto config = load_config({std::nullopt,
                             {{"HUB2KUSTO_CONNECTIONS_0_SOURCE_CONNECTION_STRING", kHub},
                              {"HUB2KUSTO_CONNECTIONS_0_TARGET_CONNECTION_STRING", kKusto},
                              {"HUB2KUSTO_CONNECTIONS_0_TARGET_TABLE", "T"}}});
  ASSERT_TRUE(config);
  const std::string dumped = to_masked_json(*config).dump();
  EXPECT_EQ(dumped.find("S3cr3t"), std::string::npos);
  EXPECT_NE(dumped.find("SharedAccessKey=***"), std::string::npos);
  EXPECT_NE(dumped.find("Application Key=***"), std::string::npos);
  EXPECT_NE(dumped.find("\"auth\":\"application key\""), std::string::npos);
}

// Ownership follows the checkpoint store: on with blob checkpoints, off (one replica only, as
// check-config says) with files; its settings are checked together.
TEST_F(ConfigTest, OwnershipIsOnWithBlobCheckpointsAndCheckConfigSaysWhenOnlyOneReplicaMayRun) {
  const auto load = [](std::map<std::string, std::string> extra) {
    std::map<std::string, std::string> env = {
        {"HUB2KUSTO_CONNECTIONS_0_SOURCE_CONNECTION_STRING", kHub},
        {"HUB2KUSTO_CONNECTIONS_0_TARGET_CONNECTION_STRING", kKusto},
        {"HUB2KUSTO_CONNECTIONS_0_TARGET_TABLE", "T"}};
    env.merge(extra);
    return load_config({std::nullopt, env});
  };
  const auto files = load({});
  ASSERT_TRUE(files);
  EXPECT_FALSE(files->ownership_on());
  const auto off = to_masked_json(*files)["ownership"];
  EXPECT_EQ(off["enabled"], false);
  EXPECT_NE(off["note"].get<std::string>().find("only one replica"), std::string::npos);

  const std::map<std::string, std::string> blob = {
      {"HUB2KUSTO_CHECKPOINT_STORE", "blob"},
      {"HUB2KUSTO_CHECKPOINT_BLOB_CONNECTION_STRING", "UseDevelopmentStorage=true"},
      {"HUB2KUSTO_CHECKPOINT_CONTAINER", "checkpoints"}};
  const auto shared = load(blob);
  ASSERT_TRUE(shared) << shared.error().front().message;
  EXPECT_TRUE(shared->ownership_on());
  EXPECT_FALSE(shared->ownership.owner_id.empty()); // host name and process id
  const auto on = to_masked_json(*shared)["ownership"];
  EXPECT_EQ(on["enabled"], true);
  EXPECT_EQ(on["update_interval"], "10000ms");
  EXPECT_EQ(on["expiration"], "120000ms");
  EXPECT_EQ(on["strategy"], "balanced");

  auto tuned = blob;
  tuned.insert({{"HUB2KUSTO_OWNERSHIP_OWNER_ID", "pod-7"},
                {"HUB2KUSTO_OWNERSHIP_UPDATE_INTERVAL", "5s"},
                {"HUB2KUSTO_OWNERSHIP_EXPIRATION", "30s"},
                {"HUB2KUSTO_OWNERSHIP_STRATEGY", "greedy"}});
  const auto t = load(tuned);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->ownership.owner_id, "pod-7");
  EXPECT_EQ(t->ownership.update_interval, std::chrono::seconds(5));
  EXPECT_EQ(t->ownership.expiration, std::chrono::seconds(30));
  EXPECT_TRUE(t->ownership.greedy);

  auto disabled = blob;
  disabled.insert({"HUB2KUSTO_OWNERSHIP_ENABLED", "false"});
  EXPECT_FALSE(load(disabled)->ownership_on());

  const auto wrong = load({{"HUB2KUSTO_OWNERSHIP_ENABLED", "true"},
                           {"HUB2KUSTO_OWNERSHIP_EXPIRATION", "20s"},
                           {"HUB2KUSTO_OWNERSHIP_STRATEGY", "fair"}});
  ASSERT_FALSE(wrong);
  std::set<std::string> settings;
  for (const auto& p : wrong.error()) {
    settings.insert(p.setting);
  }
  EXPECT_EQ(settings, (std::set<std::string>{"ownership.enabled", "ownership.expiration",
                                             "ownership.strategy"}));
}

TEST_F(ConfigTest, AnHttpsClusterWithoutAnIdentityIsAProblemUnlessSaidOnPurpose) {
  const auto load = [](const std::string& kusto) {
    return load_config({std::nullopt,
                        {{"HUB2KUSTO_CONNECTIONS_0_SOURCE_CONNECTION_STRING", kHub},
                         {"HUB2KUSTO_CONNECTIONS_0_TARGET_CONNECTION_STRING", kusto},
                         {"HUB2KUSTO_CONNECTIONS_0_TARGET_TABLE", "Events"}}});
  };
  const auto silent = load("Data Source=https://c.westeurope.kusto.windows.net;Initial Catalog=db");
  ASSERT_FALSE(silent);
  EXPECT_EQ(silent.error().front().setting, "connections[0].target.connection_string");
  EXPECT_NE(silent.error().front().message.find("is https but names no identity"),
            std::string::npos)
      << silent.error().front().message;
  EXPECT_NE(silent.error().front().message.find("AAD Federated Security=False"), std::string::npos);
  // Said on purpose (a proxy that adds its own credentials), or a local emulator over http.
  EXPECT_TRUE(load("Data Source=https://c.westeurope.kusto.windows.net;Initial Catalog=db;"
                   "AAD Federated Security=False"));
  EXPECT_TRUE(load("Data Source=http://127.0.0.1:8080;Initial Catalog=db"));
}

TEST_F(ConfigTest, TheIngestEndpointAsDataSourceIsAWarningNamingBothEndpoints) {
  auto config =
      load_config({std::nullopt,
                   {{"HUB2KUSTO_CONNECTIONS_0_SOURCE_CONNECTION_STRING", kHub},
                    {"HUB2KUSTO_CONNECTIONS_0_TARGET_CONNECTION_STRING",
                     "Data Source=https://ingest-c.westeurope.kusto.windows.net;Initial Catalog=db;"
                     "AAD Federated Security=True;Managed Identity=system"},
                    {"HUB2KUSTO_CONNECTIONS_0_TARGET_TABLE", "Events"}}});
  ASSERT_TRUE(config) << config.error().front().message;
  ASSERT_EQ(config->warnings.size(), 1U);
  const auto& w = config->warnings.front();
  EXPECT_NE(w.find("data-management (ingest-) endpoint"), std::string::npos) << w;
  EXPECT_NE(w.find("https://c.westeurope.kusto.windows.net and queued ingestion to "
                   "https://ingest-c.westeurope.kusto.windows.net"),
            std::string::npos)
      << w;
}

TEST_F(ConfigTest, IgnoredConnectionStringKeysBecomeWarnings) {
  auto config = load_config(
      {std::nullopt,
       {{"HUB2KUSTO_CONNECTIONS_0_SOURCE_CONNECTION_STRING", std::string(kHub) + ";Foo=bar"},
        {"HUB2KUSTO_CONNECTIONS_0_TARGET_CONNECTION_STRING", kKusto},
        {"HUB2KUSTO_CONNECTIONS_0_TARGET_TABLE", "T"}}});
  ASSERT_TRUE(config);
  ASSERT_EQ(config->warnings.size(), 1u);
  EXPECT_EQ(config->warnings[0],
            "connections[0].source.connection_string: ignored unknown key 'Foo'");
}

TEST_F(ConfigTest, ALocalMappingIsCheckedAtStartUp) {
  const auto mapping =
      write("m.json", R"([{"column":"Ts","Properties":{"Path":"$.ts"}},)"
                      R"({"column":"Seq","Properties":{"Path":"$['x-opt-sequence-number']"}}])");
  const auto good = write("good.json", std::string(R"({"connections":[{
      "source": {"connection_string": ")") +
                                           kHub + R"("},
      "target": {"connection_string": ")" + kKusto +
                                           R"(", "table": "T",
                 "schema": "Ts:datetime,Seq:long", "mapping_file": ")" +
                                           mapping + R"(",
                 "system_properties": ["x-opt-sequence-number"]}}]})");
  auto config = load_config({good, {}});
  ASSERT_TRUE(config) << config.error()[0].message;
  const auto& t = config->connections[0].target;
  ASSERT_TRUE(t.local_mapping);
  EXPECT_EQ(t.local_mapping->schema.columns.size(), 2U);
  EXPECT_EQ(t.local_mapping->system_properties, std::vector<std::string>{"x-opt-sequence-number"});

  const auto bad = write("bad.json", std::string(R"({"connections":[{
      "source": {"connection_string": ")") +
                                         kHub + R"("},
      "target": {"connection_string": ")" +
                                         kKusto + R"(", "table": "T", "mapping": "m",
                 "schema": "Ts:datetime", "system_properties": ["x-opt-nonsense"]}}]})");
  auto problems = load_config({bad, {}});
  ASSERT_FALSE(problems);
  ASSERT_EQ(problems.error().size(), 2U);
  EXPECT_EQ(problems.error()[0].setting, "connections[0].target.mapping");
  EXPECT_NE(problems.error()[0].message.find("mapping_file"), std::string::npos);
  EXPECT_EQ(problems.error()[1].setting, "connections[0].target.system_properties");
  EXPECT_NE(problems.error()[1].message.find("'x-opt-nonsense'"), std::string::npos);

  const auto no_schema = write("ns.json", std::string(R"({"connections":[{
      "source": {"connection_string": ")") + kHub +
                                              R"("},
      "target": {"connection_string": ")" + kKusto +
                                              R"(", "table": "T",
                 "system_properties": ["x-opt-offset"]}}]})");
  auto needs = load_config({no_schema, {}});
  ASSERT_FALSE(needs);
  EXPECT_EQ(needs.error()[0].setting, "connections[0].target.system_properties");
  EXPECT_NE(needs.error()[0].message.find("needs target.schema"), std::string::npos);
}

} // namespace
} // namespace hub2kusto::app
