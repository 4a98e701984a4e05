// The hub2kusto binary as an operator runs it: a real process, real files, its exit code and
// its output streams.

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/temp_dir.hpp"

namespace {

struct Outcome {
  int code = -1;
  std::string out;
  std::string err;
};

std::string read_all(int fd) {
  std::string text;
  char buffer[4096];
  ssize_t n = 0;
  while ((n = ::read(fd, buffer, sizeof buffer)) > 0) {
    text.append(buffer, static_cast<std::size_t>(n));
  }
  return text;
}

// Runs the binary with exactly `env` as its environment; stdout and stderr go to temporary
// files so neither pipe can fill up while the other is read.
Outcome run(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
            const std::string& stdin_path = "/dev/null") {
  std::vector<std::string> argv_storage = {HUB2KUSTO_BINARY};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  std::vector<std::string> env_storage;
  for (const auto& [k, v] : env) {
    env_storage.push_back(k + "=" + v);
  }
  std::vector<char*> envp;
  for (auto& e : env_storage) {
    envp.push_back(e.data());
  }
  envp.push_back(nullptr);

  FILE* out_file = std::tmpfile();
  FILE* err_file = std::tmpfile();
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int in = ::open(stdin_path.c_str(), O_RDONLY);
    ::dup2(in, 0);
    ::dup2(::fileno(out_file), 1);
    ::dup2(::fileno(err_file), 2);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  Outcome o;
  o.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::rewind(out_file);
  std::rewind(err_file);
  o.out = read_all(::fileno(out_file));
  o.err = read_all(::fileno(err_file));
  std::fclose(out_file);
  std::fclose(err_file);
  return o;
}

class CliProcess : public ::testing::Test {
protected:
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  hub2kusto::testing::TempDir dir_{"hub2kusto-cli-process"};
};

TEST_F(CliProcess, CheckConfigWithThreeMistakesPrintsAllThreeAndExits2) {
  const auto config = write("three-mistakes.jsonc", R"({
    "connections": [{
      "source": {
        "connection_string": "Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=S3cr3tKeyValueZZZ=;EntityPath=telemetry;UseDevelopmentEmulator=true",
        "start_position": "last tuesday"          // mistake 1: not a start position
      },
      "target": {
        "connection_string": "Data Source=http://127.0.0.1:8080;Initial Catalog=db",
        "table": "Telemetry",
        "format": "jsn"                            // mistake 2: not a data format
      },
      "batching": {"linger": "1 second"}           // mistake 3: not a duration
    }]
  })");
  const auto r = run({"check-config", "--config", config}, {});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err,
            "hub2kusto: the configuration has 3 problems:\n"
            "  connections[0].source.start_position: 'last tuesday' is not earliest, latest or "
            "an ISO 8601 time with a zone such as 2026-01-31T00:00:00Z\n"
            "  connections[0].target.format: 'jsn' is not a Kusto data format (one of json, "
            "multijson, csv, tsv, psv, scsv, sohsv, txt, raw, avro, parquet, ...)\n"
            "  connections[0].batching.linger: '1 second' is not a duration: use a whole number "
            "with ms, s, m or h, for example \"500ms\" or \"15m\"\n");
  EXPECT_TRUE(r.out.empty());
  EXPECT_EQ(r.err.find("S3cr3t"), std::string::npos);
}

TEST_F(CliProcess, LocalExampleConfigIsValid) {
  const auto r = run({"check-config", "--config",
                      std::string(HUB2KUSTO_SOURCE_DIR) + "/deploy/examples/local.jsonc"},
                     {});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("\"kind\": \"event_hubs\""), std::string::npos);
  EXPECT_NE(r.out.find("\"auth\": \"none\""), std::string::npos);
}

TEST_F(CliProcess, AzureExampleConfigIsValidWithMountedSecrets) {
  // azure.jsonc names secret files under /var/run/secrets; the *_FILE variables point them at
  // files of this test instead, as a different mount path would.
  const auto hub = write("hub", "Endpoint=sb://myns.servicebus.windows.net/;"
                                "SharedAccessKeyName=listen;SharedAccessKey=S3cr3tKeyValueZZZ=;"
                                "EntityPath=telemetry\n");
  const auto kusto = write("kusto", "Data Source=https://c.westeurope.kusto.windows.net;"
                                    "AAD Federated Security=True;Workload Identity=true\n");
  const auto storage = write("storage", "DefaultEndpointsProtocol=https;AccountName=acct;"
                                        "AccountKey=S3cr3tStorageKey==;EndpointSuffix=core."
                                        "windows.net\n");
  const auto r = run({"check-config", "--config",
                      std::string(HUB2KUSTO_SOURCE_DIR) + "/deploy/examples/azure.jsonc"},
                     {{"HUB2KUSTO_CONNECTIONS_0_SOURCE_CONNECTION_STRING_FILE", hub},
                      {"HUB2KUSTO_CONNECTIONS_0_TARGET_CONNECTION_STRING_FILE", kusto},
                      {"HUB2KUSTO_CHECKPOINT_BLOB_CONNECTION_STRING_FILE", storage}});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("\"store\": \"blob\""), std::string::npos);
  EXPECT_NE(r.out.find("\"auth\": \"workload identity\""), std::string::npos);
  EXPECT_NE(r.out.find("AccountKey=***"), std::string::npos);
  EXPECT_EQ(r.out.find("S3cr3t"), std::string::npos);
  EXPECT_EQ(r.err.find("S3cr3t"), std::string::npos);
}

TEST_F(CliProcess, MapPreviewsTheExampleMappingFromStdin) {
  const std::string examples = std::string(HUB2KUSTO_SOURCE_DIR) + "/mappings/examples/";
  std::ifstream schema_file(examples + "telemetry.schema");
  std::string schema;
  std::getline(schema_file, schema);
  const auto r = run({"map", "--schema", schema, "--mapping", examples + "telemetry_mapping.json"},
                     {}, examples + "telemetry_events.jsonl");
  EXPECT_EQ(r.code, 1); // the third sample event is cut short on purpose
  EXPECT_EQ(r.out, "2026-11-24T10:00:00.1230000Z,dev-00042,21.53,45,ok,plant-3,"
                   "\"{\"\"fw\"\":\"\"1.2.3\"\",\"\"mode\"\":\"\"auto\"\"}\"\n"
                   "2026-11-24T10:00:01.4560000Z,dev-00043,,46,warning,plant-3,"
                   "\"{\"\"fw\"\":\"\"1.2.4\"\",\"\"mode\"\":\"\"eco\"\"}\"\n");
  EXPECT_EQ(r.err.rfind("line 2: column Temperature: 'n/a' is not a valid real\n"
                        "line 3: malformed JSON at byte 99: ",
                        0),
            0u)
      << r.err;
}

TEST_F(CliProcess, UnknownEnvironmentVariableIsAnError) {
  const auto r = run({"check-config"}, {{"HUB2KUSTO_LOG_LEVL", "debug"}});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("  HUB2KUSTO_LOG_LEVL: unknown environment variable: no setting has this "
                       "name\n"),
            std::string::npos);
}

} // namespace
