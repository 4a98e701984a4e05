// `hub2kusto check-config --connect` against the emulators: one line per check, each problem
// with its fix; exit 0 when nothing is an error (warnings included), 1 otherwise.
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "bridge/bridge_fixture.hpp"

namespace hub2kusto::bridge_test {
namespace {

using namespace std::chrono_literals;

// check-config --connect's output, by line.
struct Preflight : CommandRun {
  // The printed line that starts with `level` and holds `text`, or "".
  std::string line(const std::string& level, const std::string& text) const {
    std::istringstream in(out);
    for (std::string l; std::getline(in, l);) {
      if (l.rfind(level + " ", 0) == 0 && l.find(text) != std::string::npos) {
        return l;
      }
    }
    return {};
  }
  std::size_t count(const std::string& level) const {
    std::size_t n = 0;
    std::istringstream in(out);
    for (std::string l; std::getline(in, l);) {
      n += l.rfind(level + " ", 0) == 0;
    }
    return n;
  }
};

class CheckConfig : public Bridge {
protected:
  // The emulators the checks look at: a hub of two partitions (`hub_args`) and a cluster with
  // queued ingestion (Azurite); with `table`, T with its mapping 'm' and streaming enabled.
  void start(bool table = true, std::vector<std::string> hub_args = {"--hub", "telemetry:2"}) {
    hub_ = std::make_unique<EventHubsEmulator>(std::move(hub_args));
    ASSERT_TRUE(hub_->running()) << hub_->stderr_text();
    kusto_ = std::make_unique<KustoEmulator>(std::vector<std::string>{});
    ASSERT_TRUE(kusto_->running()) << kusto_->stderr_text();
    if (table) {
      create_table(*kusto_);
    }
  }
  // The fixture's environment for the emulators, plus `extra`.
  std::vector<std::pair<std::string, std::string>>
  env(std::vector<std::pair<std::string, std::string>> extra = {},
      const std::string& key = "SAS_KEY_VALUE") {
    auto e = environment(*hub_, *kusto_, key);
    e.insert(e.end(), extra.begin(), extra.end());
    return e;
  }
  Preflight check(const std::vector<std::pair<std::string, std::string>>& env) {
    return {run_command({HUB2KUSTO_BINARY, "check-config", "--connect"}, env)};
  }

  std::unique_ptr<EventHubsEmulator> hub_;
  std::unique_ptr<KustoEmulator> kusto_;
};

TEST_F(CheckConfig, EverythingFineIsAllOkAndExitsZero) {
  ASSERT_NO_FATAL_FAILURE(
      start(true, {"--hub", "telemetry:2", "--preload", (dir_ / "events.jsonl").string(),
                   "--preload-events", "50"}));
  const auto r = check(env());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.count("error"), 0U) << r.out;
  EXPECT_EQ(r.count("warning"), 0U) << r.out;
  EXPECT_NE(r.line("ok", "Event Hub 'telemetry'"), "") << r.out;
  EXPECT_NE(r.line("ok", "2 partition(s)"), "") << r.out;
  EXPECT_NE(r.line("ok", "the last event was enqueued at"), "") << r.out;
  EXPECT_NE(r.line("ok", "consumer group '$Default': a receiver attached"), "") << r.out;
  EXPECT_NE(r.line("ok", "table 'T' exists: (deviceId:string"), "") << r.out;
  EXPECT_NE(r.line("ok", "ingestion mapping 'm' (Json) exists"), "") << r.out;
  EXPECT_NE(r.line("ok", "streaming ingestion is enabled (the table's policy)"), "") << r.out;
  EXPECT_NE(r.line("ok", "lets this identity ingest"), "") << r.out;
  EXPECT_NE(r.line("ok", "checkpoint store: directory"), "") << r.out;
  EXPECT_NE(r.line("ok", "dead-letter store: directory"), "") << r.out;
}

TEST_F(CheckConfig, AMissingTableIsAnErrorWithTheCommandThatCreatesIt) {
  ASSERT_NO_FATAL_FAILURE(start(false));
  const auto r = check(env());
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const auto line = r.line("error", "table 'T' does not exist in database 'db'");
  EXPECT_NE(line, "") << r.out;
  EXPECT_NE(line.find("fix: create it: .create table T ("), std::string::npos) << line;
}

TEST_F(CheckConfig, AMissingMappingIsAnErrorNamingTheMappingAndItsKind) {
  ASSERT_NO_FATAL_FAILURE(start(false));
  ASSERT_FALSE(
      kusto_->mgmt(".create table T (deviceId:string, temperature:real, humidity:long, line:long)")
          .contains("error"));
  ASSERT_FALSE(kusto_->mgmt(".alter table T policy streamingingestion enable").contains("error"));
  const auto r = check(env());
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const auto line = r.line("error", "table 'T' has no ingestion mapping 'm'");
  EXPECT_NE(line, "") << r.out;
  EXPECT_NE(line.find(".create table T ingestion json mapping 'm'"), std::string::npos) << line;
  EXPECT_NE(r.line("ok", "table 'T' exists"), "") << r.out;
}

TEST_F(CheckConfig, StreamingOffIsAWarningWithTheCommandAndExitsZero) {
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_FALSE(kusto_->mgmt(".delete table T policy streamingingestion").contains("error"));
  const auto r = check(env());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto line = r.line("warning", "streaming ingestion is not enabled");
  EXPECT_NE(line, "") << r.out;
  EXPECT_NE(line.find("queued ingestion, with minutes of latency"), std::string::npos) << line;
  EXPECT_NE(line.find("fix: .alter table T policy streamingingestion enable"), std::string::npos)
      << line;
}

TEST_F(CheckConfig, AWrongHubKeyNamesThePolicyAndTheAudienceButNotTheKey) {
  ASSERT_NO_FATAL_FAILURE(start());
  const auto r = check(env({}, "NOT_THE_KEY_42"));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const auto line = r.line("error", "connection 'telemetry' hub:");
  EXPECT_NE(line, "") << r.out;
  EXPECT_NE(line.find("shared access policy 'RootManageSharedAccessKey'"), std::string::npos)
      << line;
  EXPECT_NE(line.find("sb://127.0.0.1/telemetry"), std::string::npos) << line;
  EXPECT_EQ(r.out.find("NOT_THE_KEY_42"), std::string::npos);
  EXPECT_EQ(r.err.find("NOT_THE_KEY_42"), std::string::npos);
  EXPECT_NE(r.line("ok", "table 'T' exists"), "") << r.out; // the other checks still ran
}

TEST_F(CheckConfig, AWrongConsumerGroupIsNamedWithTheHub) {
  ASSERT_NO_FATAL_FAILURE(start());
  const auto r = check(env({{"HUB2KUSTO_CONNECTIONS_0_SOURCE_CONSUMER_GROUP", "bridge"}}));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const auto line = r.line("error", "consumer group 'bridge' does not exist in Event Hub "
                                    "'telemetry'");
  EXPECT_NE(line, "") << r.out;
  EXPECT_NE(line.find("az eventhubs eventhub consumer-group create"), std::string::npos) << line;
}

TEST_F(CheckConfig, AnIdentityThatMayNotIngestIsAnError) {
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_TRUE(kusto_->fault("/faults/forbidden?on=true"));
  const auto r = check(env());
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const auto line = r.line("error", "this identity may not ingest into 'db'");
  EXPECT_NE(line, "") << r.out;
  EXPECT_NE(line.find(".add database db ingestors"), std::string::npos) << line;
}

TEST_F(CheckConfig, BlobStoresAreCheckedForTheirContainers) {
  ASSERT_NO_FATAL_FAILURE(start());
  const std::string storage = kusto_->azurite()->blob_connection_string();
  auto e = env();
  std::erase_if(e, [](const auto& kv) {
    return kv.first == "HUB2KUSTO_CHECKPOINT_DIRECTORY" ||
           kv.first == "HUB2KUSTO_DEAD_LETTER_DIRECTORY";
  });
  e.emplace_back("HUB2KUSTO_CHECKPOINT_STORE", "blob");
  e.emplace_back("HUB2KUSTO_CHECKPOINT_BLOB_CONNECTION_STRING", storage);
  e.emplace_back("HUB2KUSTO_CHECKPOINT_CONTAINER", "no-such-container");
  // One the Kusto emulator created at start: it exists.
  e.emplace_back("HUB2KUSTO_DEAD_LETTER_STORE", "blob");
  e.emplace_back("HUB2KUSTO_DEAD_LETTER_BLOB_CONNECTION_STRING", storage);
  e.emplace_back("HUB2KUSTO_DEAD_LETTER_CONTAINER", "ingestion-temp-0");
  const auto r = check(e);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto missing = r.line("warning", "checkpoint store: container 'no-such-container' does "
                                         "not exist");
  EXPECT_NE(missing, "") << r.out;
  EXPECT_NE(missing.find("az storage container create --name no-such-container"), std::string::npos)
      << missing;
  EXPECT_NE(r.line("ok", "dead-letter store: container 'ingestion-temp-0'"), "") << r.out;
  EXPECT_EQ(r.out.find("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq"),
            std::string::npos); // Azurite's public key stands for a secret
}

} // namespace
} // namespace hub2kusto::bridge_test
