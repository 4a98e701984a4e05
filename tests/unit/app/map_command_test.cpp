#include "app/map_command.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "app/cli.hpp"

#include "support/temp_dir.hpp"

namespace hub2kusto::app {
namespace {

struct Outcome {
  int code;
  std::string out;
  std::string err;
};

class MapCommand : public ::testing::Test {
protected:
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  Outcome run(std::vector<std::string> args, const std::string& input) {
    args.insert(args.begin(), "map");
    std::istringstream in(input);
    std::ostringstream out;
    std::ostringstream err;
    const int code = run_map_command(args, in, out, err);
    return {code, out.str(), err.str()};
  }
  testing::TempDir dir_{"hub2kusto-map-test"};
};

constexpr const char* kSchema = "TimeStamp:datetime,Name:string,Metric:int,Source:string";

TEST_F(MapCommand, EveryEventMappedExits0) {
  const auto mapping = write("m.json", R"([
    {"column":"TimeStamp","Properties":{"Path":"$.ts"}},
    {"column":"Name","Properties":{"Path":"$.name"}},
    {"column":"Metric","Properties":{"Path":"$.metric"}},
    {"column":"Source","Properties":{"ConstValue":"sensor"}}])");
  const auto r = run({"--schema", kSchema, "--mapping", mapping},
                     "{\"ts\":\"2026-11-24T10:00:00Z\",\"name\":\"a\",\"metric\":1}\n\n"
                     "{\"ts\":\"2026-11-24T10:00:01Z\",\"name\":\"b\",\"metric\":2}\n");
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_EQ(r.out, "2026-11-24T10:00:00.0000000Z,a,1,sensor\n"
                   "2026-11-24T10:00:01.0000000Z,b,2,sensor\n");
  EXPECT_EQ(r.err, "");
}

TEST_F(MapCommand, RejectedEventsAndNullsGoToStderrAndExit1) {
  const auto r =
      run({"--schema", kSchema}, "{\"TimeStamp\":\"never\",\"Name\":\"a\",\"Metric\":\"many\"}\n"
                                 "{\"Name\": broken}\n"
                                 "{\"Name\":\"ok\",\"Metric\":3}\n");
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_EQ(r.out, ",a,,\n,ok,3,\n");
  // The text after the position is simdjson's own description of the error.
  EXPECT_EQ(r.err.rfind("line 1: column TimeStamp: 'never' is not a valid datetime\n"
                        "line 1: column Metric: 'many' is not a valid int\n"
                        "line 2: malformed JSON at byte 9: ",
                        0),
            0u)
      << r.err;
}

TEST_F(MapCommand, NullsAloneStillExit0) {
  const auto r = run({"--schema", "n:int"}, "{\"n\":\"x\"}\n");
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_EQ(r.err, "line 1: column n: 'x' is not a valid int\n");
}

TEST_F(MapCommand, MultiJsonReadsTheWholeInputAndReportsLines) {
  const auto r = run({"--schema", "v:long", "--format", "multijson", "--output", "json"},
                     "[{\"v\":1},\n{\"v\":2}]\n{\"v\":3}\n");
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_EQ(r.out, "{\"v\":1}\n{\"v\":2}\n{\"v\":3}\n");
  const auto bad = run({"--schema", "v:long", "--format", "multijson"}, "{\"v\":1}\n\n{\"v\":}\n");
  EXPECT_EQ(bad.code, kExitFailure);
  EXPECT_EQ(bad.out, "");
  EXPECT_EQ(bad.err.rfind("line 3: malformed JSON in record 2", 0), 0u) << bad.err;
}

TEST_F(MapCommand, SystemPropertiesFromAFile) {
  const auto props = write("p.json", R"({"x-opt-enqueued-time":"2026-11-24T10:00:00Z",
                                         "x-opt-sequence-number":42})");
  const auto mapping = write("m.json", R"([
    {"column":"Enq","Properties":{"Path":"$.x-opt-enqueued-time"}},
    {"column":"Seq","Properties":{"Path":"$.x-opt-sequence-number"}},
    {"column":"v","Properties":{"Path":"$.v"}}])");
  const auto r = run({"--schema", "Enq:datetime,Seq:long,v:long", "--mapping", mapping,
                      "--system-properties", props},
                     "{\"v\":7}\n");
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, "2026-11-24T10:00:00.0000000Z,42,7\n");
}

TEST_F(MapCommand, CsvFormatWithCsvMapping) {
  const auto mapping = write("m.json", R"([{"column":"a","Properties":{"Ordinal":"1"}},
                                           {"column":"b","Properties":{"Ordinal":"0"}}])");
  const auto r = run({"--schema", "a:string,b:long", "--mapping", mapping, "--format", "csv"},
                     "1,\"x,y\"\n2,z\n");
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_EQ(r.out, "\"x,y\",1\nz,2\n");
}

TEST_F(MapCommand, BadArgumentsSchemaOrMappingExit2) {
  EXPECT_EQ(run({}, "").err, "hub2kusto map: --schema is required (see 'hub2kusto map --help')\n");
  EXPECT_EQ(run({"--schema", "a:int", "--format", "xml"}, "").code, kExitUsage);
  EXPECT_EQ(run({"--schema", "a:int", "--output", "yaml"}, "").err,
            "hub2kusto map: --output: 'yaml' is not csv or json\n");
  EXPECT_EQ(run({"--schema", "a:integer"}, "").err,
            "hub2kusto map: --schema: schema column 1 ('a'): 'integer' is not a Kusto type "
            "(bool, int, long, real, decimal, string, datetime, timespan, guid, dynamic)\n");
  const auto bad_mapping = write("bad.json", R"([{"column":"a","Properties":{"Path":"$.a["}}])");
  const auto r = run({"--schema", "a:int", "--mapping", bad_mapping}, "");
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err, "hub2kusto map: " + bad_mapping +
                       ": mapping entry 1 ('a'): Properties.Path: '$.a[' is not a valid path: "
                       "'[' at position 3 is not closed\n");
  EXPECT_EQ(run({"--schema", "a:int", "--mapping", (dir_ / "none.json").string()}, "").code,
            kExitUsage);
  EXPECT_EQ(run({"--schema", "a:int", "--frobnicate"}, "").code, kExitUsage);
  const auto props = write("p.json", R"({"x-opt-colour":"red"})");
  EXPECT_EQ(run({"--schema", "a:int", "--system-properties", props}, "").err,
            "hub2kusto map: " + props +
                ": 'x-opt-colour' is not an event system property ADX knows\n");
}

TEST_F(MapCommand, HelpExits0) {
  const auto r = run({"--help"}, "");
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_NE(r.out.find("Usage: hub2kusto map --schema SCHEMA"), std::string::npos);
}

} // namespace
} // namespace hub2kusto::app
