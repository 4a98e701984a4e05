// `hub2kusto infer` against the emulators: it samples the hub without a trace (no checkpoint,
// no ownership), proposes the table, the mapping and the streaming policy, and with --apply
// creates them, after which `hub2kusto run` fills the table it made.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "bridge/bridge_fixture.hpp"

namespace hub2kusto::bridge_test {
namespace {

using namespace std::chrono_literals;

class Infer : public Bridge {
protected:
  // `count` events of several shapes: an integer or a real temperature, Unix times in
  // milliseconds and in seconds, a nested object, an array, a code that is a number or a text,
  // and a status in every other event only.
  std::string sample_events(int count) {
    const auto file = dir_ / "infer.jsonl";
    std::ofstream lines(file);
    for (int i = 0; i < count; ++i) {
      lines << R"({"deviceId":"dev-)" << i % 10 << R"(","temperature":)"
            << (i % 2 == 0 ? "21" : "21.5") << R"(,"line":)" << i << R"(,"sentTime":)"
            << 1764583200000LL + i << R"(,"ts":)" << 1764583200 + i << R"(,"reading":{"v":)" << i
            << R"(,"unit":"C"},"tags":["a","b"],"code":)" << (i % 3 == 0 ? "7" : R"("A7")")
            << (i % 2 == 0 ? R"(,"status":"ok")" : "") << "}\n";
    }
    return file.string();
  }

  // Table T as the Kusto emulator holds it: {"Columns": [...], "Rows": [...]}, or null (the
  // failure said why) when the query did not answer a table.
  static nlohmann::json table_t(KustoEmulator& kusto) {
    const auto all = kusto.query("T | take 1000");
    EXPECT_TRUE(all.contains("Tables")) << all.dump();
    return all.contains("Tables") ? all["Tables"][0] : nlohmann::json();
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
                              "partition(s), from the start): 9 column(s)"),
            std::string::npos)
      << proposed.out;
  EXPECT_NE(proposed.out.find(".create-merge table T (deviceId:string, temperature:real, "
                              "line:long, sentTime:datetime, ts:datetime, reading:dynamic, "
                              "tags:dynamic, code:string, status:string)"),
            std::string::npos)
      << proposed.out;
  EXPECT_NE(proposed.out.find("// temperature: 200 integers, 200 reals: real"), std::string::npos)
      << proposed.out;
  EXPECT_NE(proposed.out.find("// status: absent or null in 200 of 400 events"), std::string::npos)
      << proposed.out;
  EXPECT_NE(proposed.out.find("// code: 134 integers, 266 other texts: string keeps their text"),
            std::string::npos)
      << proposed.out;
  EXPECT_NE(proposed.out.find("DateTimeFromUnixMilliseconds"), std::string::npos) << proposed.out;
  EXPECT_NE(proposed.out.find("DateTimeFromUnixSeconds"), std::string::npos) << proposed.out;
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
  const auto table_before = kusto.mgmt(".show table T cslschema");
  const auto mappings_before = kusto.mgmt(".show table T ingestion json mappings");
  EXPECT_EQ(run_command({HUB2KUSTO_BINARY, "infer", "--wait", "5", "--apply"}, env).exit_code, 0);
  EXPECT_EQ(kusto.mgmt(".show table T cslschema"), table_before);
  EXPECT_EQ(kusto.mgmt(".show table T ingestion json mappings"), mappings_before);

  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, env);
  ASSERT_TRUE(eventually([&] { return kusto.count("T") >= 400; }, 90s))
      << bridge.stderr_text() << " rows: " << kusto.count("T");
  stop(bridge);
  EXPECT_EQ(kusto.count("T"), 400);
  // Every event became a row with every value, except the status where the event had none,
  // and nothing was dead-lettered.
  for (const auto& f : std::filesystem::recursive_directory_iterator(dir_ / "dead-letter")) {
    EXPECT_EQ(f.file_size(), 0U) << "dead letter " << f.path() << ": "
                                 << std::ifstream(f.path()).rdbuf();
  }
  auto result = table_t(kusto); // not const: a missing key reads as null
  ASSERT_EQ(result["Rows"].size(), 400U);
  std::vector<std::string> columns;
  for (const auto& c : result["Columns"]) {
    columns.push_back(c["ColumnName"]);
  }
  ASSERT_EQ(columns.size(), 9U) << result["Columns"].dump();
  for (const auto& row : result["Rows"]) {
    const long long line = row[2];
    for (std::size_t i = 0; i < columns.size(); ++i) {
      if (columns[i] == "status" && line % 2 == 1) {
        EXPECT_EQ(row[i], "") << row.dump(); // Kusto's strings are empty, never null
      } else {
        EXPECT_FALSE(row[i].is_null() || row[i] == "") << columns[i] << " in " << row.dump();
      }
    }
    if (line == 0) {
      EXPECT_EQ(row[3], "2025-12-01T10:00:00.0000000Z") << row.dump(); // sentTime
      EXPECT_EQ(row[4], "2025-12-01T10:00:00.0000000Z") << row.dump(); // ts
      EXPECT_EQ(row[7], "7") << row.dump();                            // code
    }
  }
}

// IoT Hub device messages: the device id and the enqueued time are system properties, columns
// only the bridge can fill. infer proposes them with the body's fields and prints the settings
// that make the bridge map events itself; with those, every message becomes a row with its
// device's id.
TEST_F(Infer, IotHubDeviceMessagesGetTheirSystemPropertiesAsColumns) {
  const std::string key = "aW90aHViLXRlc3Qta2V5LWZvci1odWIya3VzdG8tdGVzdHM="; // base64
  Services services(
      {"--hub", "iot-ehub:2", "--iothub", "myhub", "--iothub-policy", "service=" + key});
  ASSERT_NO_FATAL_FAILURE(start(services, false));
  auto& [hub, kusto] = services;
  for (const char* device : {"dev-1", "dev-2", "dev-3"}) {
    ChildProcess send({"node", HUB2KUSTO_SOURCE_DIR "/tests/integration/hub/device_telemetry.js",
                       std::to_string(hub.iothub_port()), "service", key, device});
    ASSERT_EQ(send.wait_exit(60s), 0) << send.stderr_text();
  }
  auto env = environment(hub, kusto);
  std::erase_if(env, [](const auto& kv) {
    return kv.first == "HUB2KUSTO_CONNECTIONS_0_SOURCE_CONNECTION_STRING" ||
           kv.first == "HUB2KUSTO_CONNECTIONS_0_TARGET_MAPPING";
  });
  env.emplace_back("HUB2KUSTO_CONNECTIONS_0_SOURCE_CONNECTION_STRING",
                   "HostName=127.0.0.1:" + std::to_string(hub.iothub_port()) +
                       ";SharedAccessKeyName=service;SharedAccessKey=" + key +
                       ";UseDevelopmentEmulator=true");
  const std::string properties = "iothub-connection-device-id,x-opt-enqueued-time";
  const auto r = run_command(
      {HUB2KUSTO_BINARY, "infer", "--wait", "5", "--system-properties", properties, "--apply"},
      env);
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_NE(r.out.find(".create-merge table T (temp:real, EnqueuedTime:datetime, "
                       "IothubConnectionDeviceId:string)"),
            std::string::npos)
      << r.out;
  // The printed target settings and mapping file, as an operator would save them.
  const auto target_at = r.out.find("\"target\": {");
  const std::string mapping_intro = "the mapping above, beside the configuration:\n";
  const auto mapping_at = r.out.find(mapping_intro);
  ASSERT_NE(target_at, std::string::npos) << r.out;
  ASSERT_NE(mapping_at, std::string::npos) << r.out;
  const auto target = nlohmann::json::parse(
      r.out.substr(target_at + 10, r.out.find("\n}\n", target_at) + 2 - (target_at + 10)));
  EXPECT_EQ(target["system_properties"],
            nlohmann::json::array({"iothub-connection-device-id", "x-opt-enqueued-time"}));
  const auto mapping_file = dir_ / target["mapping_file"].get<std::string>();
  std::ofstream(mapping_file) << r.out.substr(mapping_at + mapping_intro.size());
  env.emplace_back("HUB2KUSTO_CONNECTIONS_0_TARGET_SCHEMA", target["schema"]);
  env.emplace_back("HUB2KUSTO_CONNECTIONS_0_TARGET_MAPPING_FILE", mapping_file.string());
  env.emplace_back("HUB2KUSTO_CONNECTIONS_0_TARGET_SYSTEM_PROPERTIES", properties);

  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, env);
  ASSERT_TRUE(eventually([&] { return kusto.count("T") >= 3; }, 90s))
      << bridge.stderr_text() << " rows: " << kusto.count("T");
  stop(bridge);
  const auto rows = kusto.query("T | order by IothubConnectionDeviceId asc");
  ASSERT_TRUE(rows.contains("Tables")) << rows.dump();
  const auto& t = rows["Tables"][0]["Rows"];
  ASSERT_EQ(t.size(), 3U) << rows.dump();
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(t[i][0], 22.5) << t[i].dump();
    EXPECT_TRUE(t[i][1].is_string() && t[i][1] != "") << t[i].dump();
    EXPECT_EQ(t[i][2], "dev-" + std::to_string(i + 1)) << t[i].dump();
  }
}

// CSV: a sample file with a header names the columns; the hub's events are records without
// one. The CSV mapping by position then ingests every record with every value.
TEST_F(Infer, ProposesACsvTableFromASampleFileWithAHeader) {
  const auto sample = dir_ / "sample.csv";
  const auto records = dir_ / "records.csv";
  {
    std::ofstream head(sample);
    std::ofstream body(records);
    head << "device,reading,ok,at,note\n";
    for (int i = 0; i < 100; ++i) {
      const std::string line = "dev-" + std::to_string(i % 7) + "," + std::to_string(i) +
                               (i % 2 ? ".5" : "") + "," + (i % 3 ? "true" : "false") +
                               ",2026-11-24T10:00:" + (i % 60 < 10 ? "0" : "") +
                               std::to_string(i % 60) + "Z,\"a, \"\"quoted\"\" note\"\n";
      head << line;
      body << line;
    }
  }
  Services services(
      {"--hub", "telemetry:2", "--preload", records.string(), "--preload-events", "100"});
  ASSERT_NO_FATAL_FAILURE(start(services, false));
  auto& [hub, kusto] = services;
  auto env = environment(hub, kusto);
  env.emplace_back("HUB2KUSTO_CONNECTIONS_0_TARGET_FORMAT", "csv");
  const auto r = run_command(
      {HUB2KUSTO_BINARY, "infer", "--from-file", sample.string(), "--header", "--apply"}, env);
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("// 100 event(s) from the file "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(".create-merge table T (device:string, reading:real, ok:bool, "
                       "at:datetime, note:string)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(".create-or-alter table T ingestion csv mapping 'm' "
                       "'[{\"column\":\"device\",\"Properties\":{\"Ordinal\":\"0\"}}"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(R"("format": "csv")"), std::string::npos) << r.out;

  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, env);
  ASSERT_TRUE(eventually([&] { return kusto.count("T") >= 100; }, 90s))
      << bridge.stderr_text() << " rows: " << kusto.count("T");
  stop(bridge);
  auto rows = table_t(kusto)["Rows"];
  ASSERT_EQ(rows.size(), 100U);
  for (const auto& row : rows) {
    ASSERT_EQ(row.size(), 5U) << row.dump();
    for (const auto& v : row) {
      EXPECT_FALSE(v.is_null() || v == "") << row.dump();
    }
    EXPECT_EQ(row[4], R"(a, "quoted" note)") << row.dump();
  }
}

// TSV from the hub, the format named only by target.format: infer splits the records at tabs
// (a quoted field keeps its tab), proposes a CSV mapping and keeps "format": "tsv", and the
// bridge then ingests every record with every value.
TEST_F(Infer, ProposesATableForTabSeparatedEventsFromTheTargetsFormat) {
  const auto records = dir_ / "records.tsv";
  {
    std::ofstream body(records);
    for (int i = 0; i < 60; ++i) {
      body << "dev-" << i % 5 << '\t' << i << '\t' << (i % 2 ? "true" : "false")
           << "\t\"a\ttabbed note\"\n";
    }
  }
  Services services(
      {"--hub", "telemetry:2", "--preload", records.string(), "--preload-events", "60"});
  ASSERT_NO_FATAL_FAILURE(start(services, false));
  auto& [hub, kusto] = services;
  auto env = environment(hub, kusto);
  env.emplace_back("HUB2KUSTO_CONNECTIONS_0_TARGET_FORMAT", "tsv");
  const auto r = run_command({HUB2KUSTO_BINARY, "infer", "--wait", "5", "--apply"}, env);
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("// 60 event(s) from Event Hub 'telemetry'"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(".create-merge table T (Column1:string, Column2:long, Column3:bool, "
                       "Column4:string)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(".create-or-alter table T ingestion csv mapping 'm' "), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(R"("format": "tsv")"), std::string::npos) << r.out;

  ChildProcess bridge({HUB2KUSTO_BINARY, "run"}, env);
  ASSERT_TRUE(eventually([&] { return kusto.count("T") >= 60; }, 90s))
      << bridge.stderr_text() << " rows: " << kusto.count("T");
  stop(bridge);
  auto rows = table_t(kusto)["Rows"];
  ASSERT_EQ(rows.size(), 60U);
  for (const auto& row : rows) {
    ASSERT_EQ(row.size(), 4U) << row.dump();
    for (const auto& v : row) {
      EXPECT_FALSE(v.is_null() || v == "") << row.dump();
    }
    EXPECT_EQ(row[3], "a\ttabbed note") << row.dump();
  }
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
