// `hub2kusto infer` against the emulators: it samples the hub without a trace (no checkpoint,
// no ownership), proposes the table, the mapping and the streaming policy, and with --apply
// creates them, after which `hub2kusto run` fills the table it made.
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "bridge/bridge_fixture.hpp"

namespace hub2kusto::bridge_test {
namespace {

using namespace std::chrono_literals;

class Infer : public Bridge {
protected:
  // `count` events: an integer or real temperature, a Unix time in milliseconds, and a status
  // in every other event.
  std::string sample_events(int count) {
    const auto file = dir_ / "infer.jsonl";
    std::ofstream lines(file);
    for (int i = 0; i < count; ++i) {
      lines << R"({"deviceId":"dev-)" << i % 10 << R"(","temperature":)"
            << (i % 2 == 0 ? "21" : "21.5") << R"(,"line":)" << i << R"(,"sentTime":)"
            << 1764583200000LL + i << (i % 2 == 0 ? R"(,"status":"ok")" : "") << "}\n";
    }
    return file.string();
  }
};

TEST_F(Infer, ProposesTheTableFromTheHubAndApplyingItLetsTheBridgeFillIt) {
  Services services(
      {"--hub", "telemetry:2", "--preload", sample_events(400), "--preload-events", "400"});
  ASSERT_NO_FATAL_FAILURE(start(services, false)); // no table T yet
  auto& [hub, kusto] = services;
  const auto env = environment(hub, kusto); // table T, mapping m

  const auto proposed = run_command({HUB2KUSTO_BINARY, "infer", "--wait", "5"}, env);
  ASSERT_EQ(proposed.exit_code, 0) << proposed.err << proposed.out;
  EXPECT_NE(proposed.out.find("// 400 event(s) from Event Hub 'telemetry' of 127.0.0.1 (2 "
                              "partition(s), from the start): 5 column(s)"),
            std::string::npos)
      << proposed.out;
  EXPECT_NE(proposed.out.find(".create-merge table T (deviceId:string, temperature:real, "
                              "line:long, sentTime:datetime, status:string)"),
            std::string::npos)
      << proposed.out;
  EXPECT_NE(proposed.out.find("// temperature: 200 integers, 200 reals: real"), std::string::npos)
      << proposed.out;
  EXPECT_NE(proposed.out.find("// status: absent or null in 200 of 400 events"), std::string::npos)
      << proposed.out;
  EXPECT_NE(proposed.out.find("DateTimeFromUnixMilliseconds"), std::string::npos) << proposed.out;
  EXPECT_NE(proposed.out.find(".create-or-alter table T ingestion json mapping 'm' '[{"),
            std::string::npos)
      << proposed.out;
  EXPECT_NE(proposed.out.find(".alter table T policy streamingingestion enable"), std::string::npos)
      << proposed.out;
  EXPECT_NE(proposed.out.find(R"("mapping": "m")"), std::string::npos) << proposed.out;
  // Without --apply nothing changed in Kusto, and sampling left nothing behind.
  EXPECT_EQ(kusto.count("T"), -1);
  EXPECT_EQ(saved_checkpoints(), 0U);

  const auto applied = run_command({HUB2KUSTO_BINARY, "infer", "--wait", "5", "--apply"}, env);
  ASSERT_EQ(applied.exit_code, 0) << applied.err << applied.out;
  EXPECT_NE(applied.err.find("applied: the table T"), std::string::npos) << applied.err;
  EXPECT_NE(applied.err.find("applied: the mapping 'm'"), std::string::npos) << applied.err;
  EXPECT_NE(applied.err.find("applied: streaming ingestion on T"), std::string::npos)
      << applied.err;
  EXPECT_NE(applied.err.find("ok      connection 'telemetry' Kusto db.T"), std::string::npos)
      << applied.err;
  EXPECT_EQ(applied.err.find("error "), std::string::npos) << applied.err;
  // Applying again changes nothing: every command is idempotent.
  EXPECT_EQ(run_command({HUB2KUSTO_BINARY, "infer", "--wait", "5", "--apply"}, env).exit_code, 0);

  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, env);
  ASSERT_TRUE(eventually([&] { return kusto.count("T") >= 400; }, 90s))
      << bridge.stderr_text() << " rows: " << kusto.count("T");
  stop(bridge);
  EXPECT_EQ(kusto.count("T"), 400);
  // The milliseconds became datetimes through the mapping's transform.
  const auto first = kusto.query("T | where line == 0");
  ASSERT_TRUE(first.contains("Tables")) << first.dump();
  const auto& result = first["Tables"][0];
  ASSERT_EQ(result["Columns"][3]["ColumnName"], "sentTime") << first.dump();
  EXPECT_EQ(result["Rows"][0][3], "2025-12-01T10:00:00.0000000Z") << first.dump();
}

TEST_F(Infer, SaysWhatItCouldNotUse) {
  const auto events = dir_ / "bad.jsonl";
  std::ofstream(events) << "not json\n[1]\n";
  Services services({"--hub", "telemetry:1"});
  ASSERT_NO_FATAL_FAILURE(start(services, false));
  const auto env = environment(services.hub, services.kusto);
  const auto r = run_command({HUB2KUSTO_BINARY, "infer", "--from-file", events.string()}, env);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("none of the 2 event(s) is a JSON object with fields"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("event 1: not JSON"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("event 2: a JSON array, not an object"), std::string::npos) << r.err;

  const auto empty = run_command({HUB2KUSTO_BINARY, "infer", "--wait", "1"}, env);
  EXPECT_EQ(empty.exit_code, 1);
  EXPECT_NE(empty.err.find("no events in Event Hub 'telemetry'"), std::string::npos) << empty.err;

  const auto unknown = run_command(
      {HUB2KUSTO_BINARY, "infer", "--system-properties", "x-opt-enqueued-time,x-opt-nope"}, env);
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("'x-opt-nope' is not an event system property"), std::string::npos)
      << unknown.err;
}

} // namespace
} // namespace hub2kusto::bridge_test
