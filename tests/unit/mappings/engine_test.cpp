#include "mappings/engine.hpp"

#include <zlib.h>

#include <gtest/gtest.h>

namespace hub2kusto::mappings {
namespace {

struct Run {
  std::string rows;
  EventOutcome outcome;
};

class Engine {
public:
  Engine(std::string_view schema, std::optional<std::string_view> mapping = std::nullopt,
         DataFormat format = DataFormat::json, OutputFormat output = OutputFormat::csv,
         std::vector<std::string> properties = {}) {
    MapperOptions o;
    auto s = parse_schema(schema);
    EXPECT_TRUE(s) << s.error().message;
    o.schema = std::move(s).value();
    if (mapping) {
      auto m = parse_mapping(*mapping, mapping_kind_of(format));
      EXPECT_TRUE(m) << m.error().message;
      o.mapping = std::move(m).value();
    }
    o.format = format;
    o.output = output;
    o.system_properties = std::move(properties);
    auto created = Mapper::create(std::move(o));
    EXPECT_TRUE(created) << created.error().message;
    mapper_.emplace(std::move(created).value());
  }
  Run map(std::string_view body, std::span<const PropertyValue> props = {},
          std::string_view location = "hub/0") {
    Run r;
    r.outcome = mapper_->map({body, props, location}, r.rows);
    return r;
  }
  std::string rows(std::string_view body) { return map(body).rows; }
  Mapper& mapper() { return *mapper_; }

private:
  std::optional<Mapper> mapper_;
};

// ---- paths, missing values, nested objects -------------------------------------------------

TEST(EngineJson, PathsOfEveryForm) {
  Engine e("a:string,b:string,c:string,d:long", R"([
    {"column":"a","Properties":{"Path":"$.x.y"}},
    {"column":"b","Properties":{"Path":"$['with space']"}},
    {"column":"c","Properties":{"Path":"$.arr[1]"}},
    {"column":"d","Properties":{"Path":"$.arr[0]"}}])");
  EXPECT_EQ(e.rows(R"({"x":{"y":"deep"},"with space":"s","arr":[7,"second"]})"),
            "deep,s,second,7\n");
}

TEST(EngineJson, MissingFieldsAreNullAndStringsEmpty) {
  // docs null-values: a missing value is null, except string columns.
  Engine e("s:string,i:int,d:dynamic", R"([
    {"column":"s","Properties":{"Path":"$.nope"}},
    {"column":"i","Properties":{"Path":"$.a.b.c"}},
    {"column":"d","Properties":{"Path":"$.arr[5]"}}])",
           DataFormat::json, OutputFormat::json);
  const auto r = e.map(R"({"a":1,"arr":[]})");
  EXPECT_EQ(r.rows, R"({"s":"","i":null,"d":null})"
                    "\n");
  EXPECT_TRUE(r.outcome.nulls.empty()); // missing is not a conversion failure
}

TEST(EngineJson, JsonNullIsNull) {
  Engine e("i:long,s:string");
  EXPECT_EQ(e.rows(R"({"i":null,"s":null})"), ",\n");
}

TEST(EngineJson, NestedObjectIntoDynamicAndWholeRecord) {
  Engine e("payload:dynamic,all:dynamic", R"([
    {"column":"payload","Properties":{"Path":"$.p"}},
    {"column":"all","Properties":{"Path":"$"}}])",
           DataFormat::json, OutputFormat::json);
  EXPECT_EQ(
      e.rows(R"({"p":{"t":[1,2.5,"x\"y"],"n":null,"b":true}})"),
      R"({"payload":{"t":[1,2.5,"x\"y"],"n":null,"b":true},"all":{"p":{"t":[1,2.5,"x\"y"],"n":null,"b":true}}})"
      "\n");
}

TEST(EngineJson, NumbersBeyondDoubleAndInt64AreKeptAsKustoKeepsThem) {
  // Valid JSON with numbers simdjson cannot hold: an integer beyond uint64 (a 20-digit ICCID
  // with a sign, a 25-digit one) and 1e400. Kusto ingests the event: null in a numeric column,
  // the text in a string or decimal column, the number as written in a dynamic one.
  Engine e("iccid:string,n:long,r:real,d:decimal,raw:dynamic,all:dynamic", R"([
    {"column":"iccid","Properties":{"Path":"$.iccid"}},
    {"column":"n","Properties":{"Path":"$.iccid"}},
    {"column":"r","Properties":{"Path":"$.huge"}},
    {"column":"d","Properties":{"Path":"$.iccid"}},
    {"column":"raw","Properties":{"Path":"$.huge"}},
    {"column":"all","Properties":{"Path":"$.nested"}}])",
           DataFormat::json, OutputFormat::json);
  const auto r = e.map(R"({"iccid":-89014103211118510720,"huge":1e400,)"
                       R"("nested":{"a":[1234567890123456789012345,"\u0000x"],"b":1.5},)"
                       R"("unmapped":-1E+999})");
  ASSERT_FALSE(r.outcome.rejection) << r.outcome.rejection->reason;
  EXPECT_EQ(r.rows, R"({"iccid":"-89014103211118510720","n":null,"r":null,)"
                    R"("d":"-89014103211118510720","raw":1e400,)"
                    R"("all":{"a":[1234567890123456789012345,"\u0000x"],"b":1.5}})"
                    "\n");
  EXPECT_EQ(r.outcome.nulls.size(), 2u); // long and real could not hold them, and say so
  // A string that merely looks like the marker stays a string, and a malformed number is
  // still malformed JSON.
  const auto forged = e.map("{\"iccid\":\"\\u0000bignum:1\"}");
  ASSERT_FALSE(forged.outcome.rejection);
  EXPECT_NE(forged.rows.find(R"("iccid":"\u0000bignum:1")"), std::string::npos) << forged.rows;
  EXPECT_TRUE(e.map(R"({"iccid":1e400x})").outcome.rejection);
  EXPECT_TRUE(e.map(R"({"iccid":--1})").outcome.rejection);
}

TEST(EngineJson, IdentityMappingByColumnName) {
  Engine e("Name:string,Value:real");
  EXPECT_EQ(e.rows(R"({"Value":1.5,"Name":"n","Other":1})"), "n,1.5\n");
}

// ---- CSV output quoting (RFC 4180) ---------------------------------------------------------

TEST(EngineOutput, CsvQuotesCommasQuotesAndNewlines) {
  Engine e("a:string,b:string,c:string,d:string,e:dynamic");
  EXPECT_EQ(e.rows(R"({"a":"x,y","b":"say \"hi\"","c":"line1\nline2","d":"plain","e":{"k":"v"}})"),
            "\"x,y\",\"say \"\"hi\"\"\",\"line1\nline2\",plain,\"{\"\"k\"\":\"\"v\"\"}\"\n");
}

TEST(EngineOutput, JsonLinesEscape) {
  Engine e("a:string", std::nullopt, DataFormat::json, OutputFormat::json);
  EXPECT_EQ(e.rows(R"({"a":"tab\there \u0001"})"), "{\"a\":\"tab\\there \\u0001\"}\n");
}

// ---- type conversion -----------------------------------------------------------------------

struct Conversion {
  std::string type;
  std::string json_value; // as it appears in the event
  std::string expected;   // CSV cell; "" for null
  bool counted_null;
};
void PrintTo(const Conversion& c, std::ostream* os) {
  *os << c.type << " <- " << c.json_value;
}

class EngineConversion : public ::testing::TestWithParam<Conversion> {};

TEST_P(EngineConversion, FollowsKustoRules) {
  const auto& c = GetParam();
  Engine e("v:" + c.type);
  const auto r = e.map("{\"v\":" + c.json_value + "}");
  ASSERT_FALSE(r.outcome.rejection) << r.outcome.rejection->reason;
  EXPECT_EQ(r.rows, c.expected + "\n");
  EXPECT_EQ(r.outcome.nulls.size(), c.counted_null ? 1u : 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Types, EngineConversion,
    ::testing::Values(
        // bool: true/false, numbers (non-zero is true), "true"/"false" text (docs bool, tobool)
        Conversion{"bool", "true", "true", false}, Conversion{"bool", "0", "false", false},
        Conversion{"bool", "2.5", "true", false}, Conversion{"bool", "\"FALSE\"", "false", false},
        Conversion{"bool", "\"maybe\"", "", true}, Conversion{"bool", "[1]", "", true},
        // int: 32-bit; out of range is null; reals truncate as toint() does
        Conversion{"int", "2147483647", "2147483647", false},
        Conversion{"int", "-2147483648", "-2147483648", false},
        Conversion{"int", "2147483648", "", true}, Conversion{"int", "\"42\"", "42", false},
        Conversion{"int", "2.9", "2", false}, Conversion{"int", "\"abc\"", "", true},
        Conversion{"int", "true", "1", false}, Conversion{"int", "{}", "", true},
        // long
        Conversion{"long", "9223372036854775807", "9223372036854775807", false},
        Conversion{"long", "18446744073709551615", "", true},
        Conversion{"long", "\" -7 \"", "-7", false},
        // real
        Conversion{"real", "1.25", "1.25", false}, Conversion{"real", "10", "10", false},
        Conversion{"real", "\"NaN\"", "NaN", false}, Conversion{"real", "\"1e400\"", "", true},
        Conversion{"real", "\"x\"", "", true},
        // decimal: the number's text
        Conversion{"decimal", "0.1", "0.1", false},
        Conversion{"decimal", "\"123456789012345678901234567.89\"",
                   "123456789012345678901234567.89", false},
        Conversion{"decimal", "\"1,5\"", "", true},
        // string: non-strings become their JSON text
        Conversion{"string", "12", "12", false}, Conversion{"string", "true", "true", false},
        Conversion{"string", "[1,2]", "\"[1,2]\"", false},
        // datetime: strings only; numbers need a DateTimeFromUnix* transform
        Conversion{"datetime", "\"2026-11-24T10:00:00Z\"", "2026-11-24T10:00:00.0000000Z", false},
        Conversion{"datetime", "1700000000", "", true},
        Conversion{"datetime", "\"2026-02-30\"", "", true},
        // timespan
        Conversion{"timespan", "\"1.02:03:04\"", "1.02:03:04", false},
        Conversion{"timespan", "\"soon\"", "", true},
        // guid
        Conversion{"guid", "\"74BE27DE-1E4E-49D9-B579-FE0B331D3642\"",
                   "74be27de-1e4e-49d9-b579-fe0b331d3642", false},
        Conversion{"guid", "\"not-a-guid\"", "", true},
        // dynamic: any JSON value as JSON
        Conversion{"dynamic", "\"s\"", "\"\"\"s\"\"\"", false},
        Conversion{"dynamic", "3", "3", false}),
    [](const auto& param_info) {
      std::string name = param_info.param.type + "_" + std::to_string(param_info.index);
      return name;
    });

TEST(EngineConversionReport, NamesColumnRecordAndValue) {
  Engine e("ts:datetime,n:int");
  const auto r = e.map(R"({"ts":"not a date","n":"x"})");
  ASSERT_EQ(r.outcome.nulls.size(), 2u);
  EXPECT_EQ(r.outcome.nulls[0].column, 0u);
  EXPECT_EQ(r.outcome.nulls[0].record, 1u);
  EXPECT_EQ(r.outcome.nulls[0].reason, "'not a date' is not a valid datetime");
  EXPECT_EQ(r.outcome.nulls[1].reason, "'x' is not a valid int");
  EXPECT_EQ(r.outcome.rows, 1u);
}

// ---- transforms ------------------------------------------------------------------------------

TEST(EngineTransform, DateTimeFromUnixEveryUnit) {
  // docs management/mappings: DateTimeFromUnixSeconds/Milliseconds/Microseconds/Nanoseconds.
  Engine e("s:datetime,ms:datetime,us:datetime,ns:datetime,str:datetime", R"([
    {"column":"s","Properties":{"Path":"$.t","Transform":"DateTimeFromUnixSeconds"}},
    {"column":"ms","Properties":{"Path":"$.t_ms","Transform":"DateTimeFromUnixMilliseconds"}},
    {"column":"us","Properties":{"Path":"$.t_us","Transform":"DateTimeFromUnixMicroseconds"}},
    {"column":"ns","Properties":{"Path":"$.t_ns","Transform":"DateTimeFromUnixNanoseconds"}},
    {"column":"str","Properties":{"Path":"$.t_str","Transform":"DateTimeFromUnixSeconds"}}])");
  EXPECT_EQ(e.rows(R"({"t":1700000000,"t_ms":1700000000123,"t_us":1700000000123456,)"
                   R"("t_ns":1700000000123456789,"t_str":"1700000000.5"})"),
            "2023-11-14T22:13:20.0000000Z,2023-11-14T22:13:20.1230000Z,"
            "2023-11-14T22:13:20.1234560Z,2023-11-14T22:13:20.1234567Z,"
            "2023-11-14T22:13:20.5000000Z\n");
  const auto bad = e.map(R"({"t":"soon"})");
  ASSERT_EQ(bad.outcome.nulls.size(), 1u);
  EXPECT_EQ(bad.outcome.nulls[0].reason, "'soon' is not a Unix time for DateTimeFromUnixSeconds");
}

TEST(EngineTransform, DropMappedFields) {
  // docs management/mappings: the object minus the fields other columns map.
  Engine e("Time:string,Name:string,Rest:dynamic", R"([
    {"column":"Time","Properties":{"Path":"$.t"}},
    {"column":"Name","Properties":{"Path":"$.d.name"}},
    {"column":"Rest","Properties":{"Path":"$","Transform":"DropMappedFields"}}])",
           DataFormat::json, OutputFormat::json);
  EXPECT_EQ(e.rows(R"({"t":"x","d":{"name":"n","id":3},"v":1})"),
            R"({"Time":"x","Name":"n","Rest":{"d":{"id":3},"v":1}})"
            "\n");
}

TEST(EngineTransform, PropertyBagArrayToDictionary) {
  // docs management/mappings: [{"n1":"v1"},{"n2":"v2"}] -> {"n1":"v1","n2":"v2"}
  Engine e(
      "d:dynamic",
      R"([{"column":"d","Properties":{"Path":"$.bag","Transform":"PropertyBagArrayToDictionary"}}])",
      DataFormat::json, OutputFormat::json);
  EXPECT_EQ(e.rows(R"({"bag":[{"n1":"v1"},{"n2":"v2"}]})"), R"({"d":{"n1":"v1","n2":"v2"}})"
                                                            "\n");
  const auto bad = e.map(R"({"bag":"no"})");
  EXPECT_EQ(bad.rows, R"({"d":null})"
                      "\n");
  EXPECT_EQ(bad.outcome.nulls.size(), 1u);
}

TEST(EngineTransform, BytesAsBase64) {
  Engine e("b:string",
           R"([{"column":"b","Properties":{"Path":"$.bytes","Transform":"BytesAsBase64"}}])");
  EXPECT_EQ(e.rows(R"({"bytes":[102,111,111,98]})"), "Zm9vYg==\n"); // "foob", RFC 4648
  const auto bad = e.map(R"({"bytes":[300]})");
  EXPECT_EQ(bad.rows, "\n");
  EXPECT_EQ(bad.outcome.nulls.size(), 1u);
}

TEST(EngineTransform, SourceLocationAndLineNumber) {
  Engine e("loc:string,line:long,v:long", R"([
    {"column":"loc","Properties":{"Transform":"SourceLocation"}},
    {"column":"line","Properties":{"Transform":"SourceLineNumber"}},
    {"column":"v","Properties":{"Path":"$.v"}}])",
           DataFormat::multijson);
  EXPECT_EQ(e.map(R"({"v":1} {"v":2})", {}, "hub/3").rows, "hub/3,1,1\nhub/3,2,2\n");
}

TEST(EngineTransform, ConstValue) {
  Engine e("c:int,s:string", R"([{"column":"c","Properties":{"ConstValue":"7"}},
                                  {"column":"s","Properties":{"ConstValue":"fixed"}}])");
  EXPECT_EQ(e.rows("{}"), "7,fixed\n");
}

// ---- formats ---------------------------------------------------------------------------------

TEST(EngineFormat, MultiJsonObjectsArraysAndSpanningLines) {
  // docs ingest-json-formats: whitespace-separated objects and/or arrays of objects.
  Engine e("v:long", std::nullopt, DataFormat::multijson);
  const auto r = e.map("{\"v\":1}\n[{\"v\":2},\n {\"v\":\n3}] {\"v\":4}");
  ASSERT_FALSE(r.outcome.rejection) << r.outcome.rejection->reason;
  EXPECT_EQ(r.rows, "1\n2\n3\n4\n");
  EXPECT_EQ(r.outcome.rows, 4u);
}

TEST(EngineFormat, MultiJsonErrorRejectsTheWholeEvent) {
  // docs ingest-json-formats: a parse error discards the whole multijson file.
  Engine e("v:long", std::nullopt, DataFormat::multijson);
  std::string out = "earlier\n";
  const auto& r = e.mapper().map({"{\"v\":1}\n{\"v\":oops}", {}, ""}, out);
  ASSERT_TRUE(r.rejection);
  EXPECT_EQ(r.rejection->record, 2u);
  EXPECT_EQ(r.rejection->byte_offset, 13u);
  EXPECT_EQ(out, "earlier\n"); // nothing of the event is left behind
  EXPECT_EQ(r.rows, 0u);
}

TEST(EngineFormat, JsonLinesInOneEvent) {
  Engine e("v:long");
  EXPECT_EQ(e.rows("{\"v\":1}\n{\"v\":2}\n"), "1\n2\n");
}

TEST(EngineFormat, JsonRejectsNonObjectsAndMalformedText) {
  Engine e("v:long");
  const auto array = e.map("[{\"v\":1}]");
  ASSERT_TRUE(array.outcome.rejection);
  EXPECT_EQ(array.outcome.rejection->reason,
            "record 1 is an array, not a JSON object (use format multijson for arrays of "
            "records)");
  const auto bad = e.map("{\"v\": 1,}");
  ASSERT_TRUE(bad.outcome.rejection);
  EXPECT_EQ(bad.outcome.rejection->byte_offset, 8u);
  EXPECT_EQ(bad.outcome.rejection->reason.rfind("malformed JSON at byte 8: ", 0), 0u);
  const auto empty = e.map("");
  EXPECT_TRUE(empty.outcome.rejection);
}

TEST(EngineFormat, CsvWithQuotesAndOrdinals) {
  Engine e("a:string,b:int,c:string", R"([{"column":"a","Properties":{"Ordinal":"2"}},
                                           {"column":"b","Properties":{"Ordinal":"0"}},
                                           {"column":"c","Properties":{"Ordinal":"1"}}])",
           DataFormat::csv);
  EXPECT_EQ(e.rows("5,\"x,\"\"y\"\"\",third\r\n6,plain,\"multi\nline\"\n"),
            "third,5,\"x,\"\"y\"\"\"\n\"multi\nline\",6,plain\n");
}

TEST(EngineFormat, CsvIdentityAndShortRecords) {
  Engine e("a:long,b:string,c:long", std::nullopt, DataFormat::csv);
  EXPECT_EQ(e.rows("1,x\n"), "1,x,\n");
}

TEST(EngineFormat, EmptyCsvFieldsAreNullWithoutAReport) {
  // Kusto ingests an empty field as null in every column type but string, and says nothing.
  Engine e("a:string,b:long,c:datetime,d:dynamic,e:bool", std::nullopt, DataFormat::csv,
           OutputFormat::json);
  const auto r = e.map("x,,,,");
  EXPECT_EQ(r.rows, "{\"a\":\"x\",\"b\":null,\"c\":null,\"d\":null,\"e\":null}\n");
  EXPECT_TRUE(r.outcome.nulls.empty());
}

TEST(EngineFormat, CsvUnterminatedQuoteIsRejected) {
  Engine e("a:string", std::nullopt, DataFormat::csv);
  const auto r = e.map("\"open,no close\n");
  ASSERT_TRUE(r.outcome.rejection);
  EXPECT_EQ(r.outcome.rejection->reason, "record 1 has a quoted field that is never closed");
  EXPECT_EQ(r.outcome.rejection->byte_offset, 0u);
}

TEST(EngineFormat, OtherDelimitersAndTsvEscapes) {
  EXPECT_EQ(Engine("a:long,b:string", std::nullopt, DataFormat::tsv).rows("1\tx y"), "1,x y\n");
  EXPECT_EQ(Engine("a:long,b:string", std::nullopt, DataFormat::psv).rows("1|x"), "1,x\n");
  EXPECT_EQ(Engine("a:long,b:string", std::nullopt, DataFormat::scsv).rows("1;x"), "1,x\n");
  EXPECT_EQ(Engine("a:long,b:string", std::nullopt, DataFormat::sohsv).rows("1\x01x"), "1,x\n");
  EXPECT_EQ(Engine("a:long,b:string", std::nullopt, DataFormat::tsve).rows("1\ta\\tb\\\\c"),
            "1,a\tb\\c\n");
}

TEST(EngineFormat, TxtAndRaw) {
  // docs/protocols.md, "Data formats": txt is one line per record, empty lines skipped; raw is one
  // value.
  EXPECT_EQ(Engine("line:string", std::nullopt, DataFormat::txt).rows("a,b\n\nc\n"),
            "\"a,b\"\nc\n");
  EXPECT_EQ(Engine("all:string", std::nullopt, DataFormat::raw).rows("x\ny"), "\"x\ny\"\n");
}

// One gzip member holding `plain`.
std::string gzip_member(const std::string& plain) {
  std::string gz(plain.size() + 128, '\0');
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(plain.data()));
  zs.avail_in = static_cast<uInt>(plain.size());
  zs.next_out = reinterpret_cast<Bytef*>(gz.data());
  zs.avail_out = static_cast<uInt>(gz.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  gz.resize(zs.total_out);
  deflateEnd(&zs);
  return gz;
}

TEST(EngineFormat, GzipBodiesAreInflated) {
  const std::string gz = gzip_member(R"({"v":42})");
  Engine e("v:long");
  EXPECT_EQ(e.rows(gz), "42\n");
  const auto truncated = e.map(gz.substr(0, gz.size() / 2));
  ASSERT_TRUE(truncated.outcome.rejection);
  EXPECT_EQ(truncated.outcome.rejection->reason, "the gzip body is truncated");
}

TEST(EngineFormat, EveryGzipMemberIsReadAndTrailingBytesAreRefused) {
  // `cat a.gz b.gz c.gz`: one body, three members.
  const std::string body =
      gzip_member("{\"v\":1}\n") + gzip_member("{\"v\":2}\n") + gzip_member("{\"v\":3}\n");
  Engine e("v:long", std::nullopt, DataFormat::multijson);
  EXPECT_EQ(e.rows(body), "1\n2\n3\n");
  const auto trailing = e.map(body + "garbage");
  ASSERT_TRUE(trailing.outcome.rejection);
  EXPECT_EQ(trailing.outcome.rejection->reason,
            "the gzip body has 7 bytes after its last member that are not gzip");
}

// ---- event system properties (docs/protocols.md, "Received events")
// --------------------------------------

TEST(EngineSystemProperties, JsonFieldsByExactName) {
  Engine e("Enq:datetime,Seq:long,Dev:string,v:long", R"([
    {"column":"Enq","Properties":{"Path":"$.x-opt-enqueued-time"}},
    {"column":"Seq","Properties":{"Path":"$.x-opt-sequence-number"}},
    {"column":"Dev","Properties":{"Path":"$.iothub-connection-device-id"}},
    {"column":"v","Properties":{"Path":"$.v"}}])",
           DataFormat::multijson, OutputFormat::csv,
           {"iothub-connection-device-id", "x-opt-sequence-number", "x-opt-enqueued-time"});
  // ADX order, whatever order the configuration lists them in.
  ASSERT_EQ(e.mapper().system_properties().size(), 3u);
  EXPECT_EQ(e.mapper().system_properties()[0]->name, "x-opt-enqueued-time");
  EXPECT_EQ(e.mapper().system_properties()[2]->name, "iothub-connection-device-id");
  const PropertyValue props[] = {PropertyValue::of_datetime(17'000'000'000'000'000),
                                 PropertyValue::of_integer(42), PropertyValue::of_text("device-7")};
  // Only the first record of a multi-record event gets them.
  EXPECT_EQ(e.map(R"({"v":1} {"v":2})", props).rows,
            "2023-11-14T22:13:20.0000000Z,42,device-7,1\n,,,2\n");
}

TEST(EngineSystemProperties, TabularPropertiesArePrependedColumns) {
  // ADX: the selected properties become ordinals 0..k-1, the data follows.
  Engine e("Enq:datetime,Offset:string,a:long,b:string", std::nullopt, DataFormat::csv,
           OutputFormat::csv, {"x-opt-offset", "x-opt-enqueued-time"});
  const PropertyValue props[] = {PropertyValue::of_datetime(0), PropertyValue::of_text("1024")};
  EXPECT_EQ(e.map("5,five", props).rows, "1970-01-01T00:00:00.0000000Z,1024,5,five\n");
  const auto two = e.map("5,five\n6,six", props);
  ASSERT_TRUE(two.outcome.rejection);
  EXPECT_EQ(two.outcome.rejection->reason,
            "event system properties need single-record events in tabular formats, and this "
            "event has more than one record");
}

TEST(EngineSystemProperties, UnknownPropertyIsAnError) {
  MapperOptions o;
  o.schema = *parse_schema("a:string");
  o.system_properties = {"x-opt-colour"};
  const auto m = Mapper::create(std::move(o));
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().message, "'x-opt-colour' is not an event system property ADX knows");
}

TEST(EngineCreate, MappingMustMatchTheTable) {
  MapperOptions o;
  o.schema = *parse_schema("a:string");
  o.mapping = *parse_mapping(R"([{"column":"b","Properties":{"Path":"$.b"}}])", MappingKind::json);
  const auto m = Mapper::create(std::move(o));
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().message, "mapping entry 1 ('b'): the table has no such column");
  MapperOptions csv;
  csv.schema = *parse_schema("a:string");
  csv.format = DataFormat::csv;
  csv.mapping =
      *parse_mapping(R"([{"column":"a","Properties":{"Path":"$.a"}}])", MappingKind::json);
  EXPECT_EQ(Mapper::create(std::move(csv)).error().message, "format csv needs a CSV mapping");
}

TEST(EngineReuse, BuffersAreReusedAcrossEvents) {
  Engine e("a:string,b:dynamic");
  std::string out;
  out.reserve(1 << 16);
  const char* data = out.data();
  for (int i = 0; i < 1000; ++i) {
    e.mapper().map({R"({"a":"x","b":{"c":[1,2]}})", {}, ""}, out);
  }
  EXPECT_EQ(out.data(), data); // the caller's buffer was never reallocated
  EXPECT_EQ(out.size(), 1000u * std::string("x,\"{\"\"c\"\":[1,2]}\"\n").size());
}

} // namespace
} // namespace hub2kusto::mappings
