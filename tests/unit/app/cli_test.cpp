#include "app/cli.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace hub2kusto::app {
namespace {

struct Outcome {
  int code;
  std::string out;
  std::string err;
};

Outcome run(const std::vector<std::string>& args, std::map<std::string, std::string> env = {}) {
  std::ostringstream out;
  std::ostringstream err;
  const int code = run_cli(args, std::move(env), out, err);
  return {code, out.str(), err.str()};
}

const std::map<std::string, std::string> kValidEnv = {
    {"HUB2KUSTO_CONNECTIONS_0_SOURCE_CONNECTION_STRING",
     "Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=RootManageSharedAccessKey;"
     "SharedAccessKey=S3cr3tKeyValueZZZ=;EntityPath=hub;UseDevelopmentEmulator=true"},
    {"HUB2KUSTO_CONNECTIONS_0_TARGET_CONNECTION_STRING",
     "Data Source=http://127.0.0.1:8080;Initial Catalog=db"},
    {"HUB2KUSTO_CONNECTIONS_0_TARGET_TABLE", "T"},
};

TEST(Cli, NoCommandPrintsHelpAndExits2) {
  const auto r = run({});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_NE(r.err.find("Usage: hub2kusto <command>"), std::string::npos);
}

TEST(Cli, EveryCommandHasHelp) {
  for (const std::string command : {"run", "check-config", "version"}) {
    const auto r = run({command, "--help"});
    EXPECT_EQ(r.code, kExitOk) << command;
    EXPECT_NE(r.out.find("Usage: hub2kusto " + command), std::string::npos) << command;
  }
  EXPECT_EQ(run({"help"}).code, kExitOk);
  EXPECT_EQ(run({"--help"}).code, kExitOk);
}

TEST(Cli, UnknownCommandAndArgumentAreUsageErrors) {
  const auto r = run({"frobnicate"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err, "hub2kusto: unknown command 'frobnicate' (see 'hub2kusto help')\n");
  const auto a = run({"check-config", "--confg", "x"});
  EXPECT_EQ(a.code, kExitUsage);
  EXPECT_EQ(a.err, "hub2kusto check-config: unknown argument '--confg' (see 'hub2kusto "
                   "check-config --help')\n");
  EXPECT_EQ(run({"run", "--config"}).code, kExitUsage);
}

TEST(Cli, InferReadsJsonAndTheDelimitedFormatsOnly) {
  const auto r = run({"infer", "--format", "avro"}, kValidEnv);
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err, "hub2kusto infer: --format 'avro': infer reads json, csv, tsv, tsve, psv, "
                   "scsv or sohsv\n");
  EXPECT_EQ(run({"infer", "--format", "xml"}, kValidEnv).code, kExitUsage);
  const auto help = run({"infer", "--help"});
  EXPECT_NE(help.out.find("[--format json|csv|tsv|tsve|psv|scsv|sohsv]"), std::string::npos);
}

TEST(Cli, VersionNamesTheLibraries) {
  const auto r = run({"version"});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_EQ(r.out.rfind("hub2kusto 0.", 0), 0u);
  EXPECT_NE(r.out.find("qpid-proton"), std::string::npos);
  EXPECT_NE(r.out.find("boost"), std::string::npos);
}

TEST(Cli, CheckConfigPrintsEffectiveConfigMasked) {
  const auto r = run({"check-config"}, kValidEnv);
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_NE(r.out.find("\"table\": \"T\""), std::string::npos);
  EXPECT_NE(r.out.find("SharedAccessKey=***"), std::string::npos);
  EXPECT_EQ(r.out.find("S3cr3t"), std::string::npos);
  EXPECT_EQ(r.err.find("S3cr3t"), std::string::npos);
}

TEST(Cli, ConfigPathFromEnvironmentIsNotASetting) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("hub2kusto_cli_test_" + std::to_string(::getpid()) + ".json");
  std::ofstream(path) << R"({"log": {"level": "debug"}})";
  auto env = kValidEnv;
  env["HUB2KUSTO_CONFIG"] = path.string();
  const auto r = run({"check-config"}, env);
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_NE(r.out.find("\"level\": \"debug\""), std::string::npos);
  std::filesystem::remove(path);
}

TEST(Cli, CheckConfigWithProblemsListsThemAndExits2) {
  auto env = kValidEnv;
  env["HUB2KUSTO_CONNECTIONS_0_TARGET_TABLE"] = "bad/table";
  env["HUB2KUSTO_LOG_LEVEL"] = "chatty";
  const auto r = run({"check-config"}, env);
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err, "hub2kusto: the configuration has 2 problems:\n"
                   "  connections[0].target.table: 'bad/table' may contain only letters, "
                   "digits, '_', ' ', '.' and '-'\n"
                   "  log.level: 'chatty' is not a log level: trace, debug, info, warn, error, "
                   "critical or off\n");
  EXPECT_TRUE(r.out.empty());
}

TEST(Cli, RunRefusesABadConfigurationWithExit2) {
  const auto r = run({"run"}, {});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_NE(r.err.find("connections: at least one connection"), std::string::npos);
}

} // namespace
} // namespace hub2kusto::app
