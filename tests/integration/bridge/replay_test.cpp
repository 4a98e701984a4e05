// `hub2kusto replay`: dead letters from a run whose mapping settings were wrong are sent again
// once they are fixed. Every event arrives once; those still refused land in a new file with
// their new reasons and original positions; the input file is never changed.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bridge/bridge_fixture.hpp"

namespace hub2kusto::bridge_test {
namespace {

using namespace std::chrono_literals;

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

CommandRun replay(const std::vector<std::string>& args,
                  const std::vector<std::pair<std::string, std::string>>& env) {
  std::vector<std::string> argv = {HUB2KUSTO_BINARY, "replay"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, env);
}

// Per 6 events: 4 objects, 1 array of two records (the devices of a newer firmware), and 1
// that is not JSON at all.
void write_mixed_events(const std::filesystem::path& file) {
  std::ofstream lines(file);
  for (int i = 0; i < 4; ++i) {
    lines << telemetry_line(i, i) << "\n";
  }
  lines << "[" << telemetry_line(4, 4) << "," << telemetry_line(5, 5) << "]\n";
  lines << R"({"deviceId":"dev-9","temperature":)"
        << "\n";
}

TEST_F(Bridge, ReplaySendsDeadLettersAgainAfterTheFixAndKeepsTheStillBadOnes) {
  write_mixed_events(dir_ / "mixed.jsonl");
  Services services({"--hub", "telemetry:2", "--preload", (dir_ / "mixed.jsonl").string(),
                     "--preload-events", "60"},
                    {}, false);
  ASSERT_NO_FATAL_FAILURE(start(services));
  auto& [hub, kusto] = services;
  auto env = environment(hub, kusto);
  std::erase_if(
      env, [](const auto& kv) { return kv.first == "HUB2KUSTO_CONNECTIONS_0_TARGET_MAPPING"; });
  env.emplace_back("HUB2KUSTO_CONNECTIONS_0_TARGET_SCHEMA",
                   "deviceId:string,temperature:real,humidity:long,line:long");

  // The mistake: format json, which takes one record per event, so the arrays are refused.
  const auto dead_letters = dir_ / "dead-letter" / "telemetry.jsonl";
  {
    ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, env);
    ASSERT_TRUE(eventually([&] { return kusto.count("T") == 40; })) << bridge.stderr_text();
    ASSERT_TRUE(eventually([&] { return json_lines(dead_letters).size() == 20; }))
        << bridge.stderr_text();
    stop(bridge);
  }
  const std::string before = read_file(dead_letters);

  // The fix: multijson takes an object or an array of them per event.
  env.emplace_back("HUB2KUSTO_CONNECTIONS_0_TARGET_FORMAT", "multijson");
  const auto out = dir_ / "replayed.jsonl";
  const auto dry = replay({"--dry-run", dead_letters.string()}, env);
  EXPECT_EQ(dry.exit_code, 1) << dry.out << dry.err;
  EXPECT_NE(dry.out.find("20 event(s) replayed (dry run: nothing sent): 10 delivered, 10 refused "
                         "again"),
            std::string::npos)
      << dry.out;
  EXPECT_EQ(kusto.count("T"), 40);

  const auto r = replay({"--out", out.string(), dead_letters.string()}, env);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err; // some are still refused
  EXPECT_NE(r.out.find("20 record(s) read from 1 file(s)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("20 event(s) replayed: 10 delivered, 10 refused again, 0 not delivered"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(out.string()), std::string::npos) << r.out;
  // 40 objects from the run, 20 records from the 10 arrays now: each once.
  EXPECT_EQ(kusto.count("T"), 60);
  for (const int line : {4, 5}) { // the records of the arrays
    const auto rows = kusto.query("T | where line == " + std::to_string(line) + " | count");
    EXPECT_EQ(rows["Tables"][0]["Rows"][0][0], 10) << rows.dump();
  }

  const auto still_bad = json_lines(out);
  ASSERT_EQ(still_bad.size(), 10U);
  const auto originals = json_lines(dead_letters);
  for (const auto& d : still_bad) {
    EXPECT_EQ(d["stage"], "mapping") << d;
    EXPECT_EQ(d["body"], R"({"deviceId":"dev-9","temperature":)") << d;
    EXPECT_NE(d["reason"].get<std::string>().find("malformed JSON"), std::string::npos) << d;
    // The original position, so the record can be traced to the hub.
    EXPECT_TRUE(std::any_of(originals.begin(), originals.end(), [&](const nlohmann::json& o) {
      return o["partition"] == d["partition"] && o["sequence_number"] == d["sequence_number"];
    })) << d;
  }
  EXPECT_EQ(read_file(dead_letters), before); // the input is never changed

  // Replaying the still-bad ones again changes nothing and says so.
  const auto again = replay({"--out", (dir_ / "again.jsonl").string(), out.string()}, env);
  EXPECT_EQ(again.exit_code, 1) << again.out << again.err;
  EXPECT_NE(again.out.find("0 delivered, 10 refused again"), std::string::npos) << again.out;
  EXPECT_EQ(kusto.count("T"), 60);
}

TEST_F(Bridge, ReplayRefusesToWriteIntoItsInputAndNamesABadLine) {
  Services services({"--hub", "telemetry:2"}, {}, false);
  ASSERT_NO_FATAL_FAILURE(start(services, false));
  auto& [hub, kusto] = services;
  const auto input = dir_ / "in.jsonl";
  std::ofstream(input) << R"({"stage":"ingest","partition":"0","sequence_number":1,"body":"{}"})"
                       << "\nnot json\n";
  const auto env = environment(hub, kusto);
  const auto bad_line = replay({input.string()}, env);
  EXPECT_EQ(bad_line.exit_code, 2);
  EXPECT_NE(bad_line.err.find(input.string() + ":2: not a dead-letter record"), std::string::npos)
      << bad_line.err;
  const auto into_input = replay({"--out", input.string(), input.string()}, env);
  EXPECT_EQ(into_input.exit_code, 2);
  EXPECT_NE(into_input.err.find("is one of the inputs"), std::string::npos) << into_input.err;
}

// Three partitions: 0 and 1 hold the good events and the arrays, 2 only the broken ones.
void write_events_across_three_partitions(const std::filesystem::path& file) {
  std::ofstream lines(file);
  const std::string broken = R"({"deviceId":"dev-9","temperature":)";
  lines << telemetry_line(0, 0) << "\n"
        << telemetry_line(1, 1) << "\n"
        << broken << "\n"
        << "[" << telemetry_line(3, 3) << "," << telemetry_line(4, 4) << "]\n"
        << "[" << telemetry_line(5, 5) << "," << telemetry_line(6, 6) << "]\n"
        << broken << "\n";
}

// The same from the blob dead-letter store; and a replay that meets a target problem (a table
// that does not exist) holds until --wait, then writes the held events out, losing nothing.
// The partitions are replayed side by side: a held one does not use up another's time.
TEST_F(Bridge, ReplayReadsTheBlobStoreAndWritesOutWhatATargetProblemHeld) {
  write_events_across_three_partitions(dir_ / "mixed.jsonl");
  Services services({"--hub", "telemetry:3", "--preload", (dir_ / "mixed.jsonl").string(),
                     "--preload-events", "60"});
  ASSERT_NO_FATAL_FAILURE(start(services));
  auto& [hub, kusto] = services;
  auto env = environment(hub, kusto);
  std::erase_if(env, [](const auto& kv) {
    return kv.first == "HUB2KUSTO_CONNECTIONS_0_TARGET_MAPPING" ||
           kv.first == "HUB2KUSTO_DEAD_LETTER_DIRECTORY";
  });
  env.emplace_back("HUB2KUSTO_CONNECTIONS_0_TARGET_SCHEMA",
                   "deviceId:string,temperature:real,humidity:long,line:long");
  env.emplace_back("HUB2KUSTO_DEAD_LETTER_STORE", "blob");
  env.emplace_back("HUB2KUSTO_DEAD_LETTER_BLOB_CONNECTION_STRING",
                   kusto.azurite()->blob_connection_string());
  env.emplace_back("HUB2KUSTO_DEAD_LETTER_CONTAINER", "dead-letters");
  {
    ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, env);
    ASSERT_TRUE(eventually([&] {
      return metric_sum(http_get(ops_port_, "/metrics").second,
                        "hub2kusto_events_dead_lettered_total{") == 40;
    })) << bridge.stderr_text();
    ASSERT_TRUE(eventually([&] { return kusto.count("T") == 20; })) << bridge.stderr_text();
    stop(bridge);
  }
  env.emplace_back("HUB2KUSTO_CONNECTIONS_0_TARGET_FORMAT", "multijson");

  // The table named wrongly this time: the 20 arrays of partitions 0 and 1 are held, then
  // written out; partition 2's broken events are refused again all the same.
  auto wrong = env;
  wrong.emplace_back("HUB2KUSTO_CONNECTIONS_0_TARGET_TABLE", "Tx");
  const auto held_file = dir_ / "held.jsonl";
  const auto held = replay({"--from-blob", "--wait", "2", "--out", held_file.string()}, wrong);
  EXPECT_EQ(held.exit_code, 1) << held.out << held.err;
  EXPECT_NE(held.out.find("40 record(s) read from"), std::string::npos) << held.out;
  EXPECT_NE(held.out.find("0 delivered, 20 refused again, 20 not delivered"), std::string::npos)
      << held.out;
  EXPECT_NE(held.out.find("partition 0: Kusto target db.Tx"), std::string::npos) << held.out;
  EXPECT_NE(held.out.find("partition 1: Kusto target db.Tx"), std::string::npos) << held.out;
  EXPECT_NE(held.out.find("BadRequest_TableNotExist"), std::string::npos) << held.out;
  const auto written = json_lines(held_file);
  EXPECT_EQ(written.size(), 40U);
  EXPECT_EQ(std::count_if(written.begin(), written.end(),
                          [](const nlohmann::json& d) {
                            return d["reason"].get<std::string>().find(
                                       "not delivered before the replay's deadline") !=
                                   std::string::npos;
                          }),
            20);
  EXPECT_EQ(kusto.count("T"), 20);

  // Right this time, from the store again: every array's records arrive, once.
  const auto r = replay({"--from-blob", "--out", (dir_ / "again.jsonl").string()}, env);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("20 delivered, 20 refused again, 0 not delivered"), std::string::npos)
      << r.out;
  EXPECT_EQ(kusto.count("T"), 60);
}

} // namespace
} // namespace hub2kusto::bridge_test
