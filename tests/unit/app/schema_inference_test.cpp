#include "app/schema_inference.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace hub2kusto::app {
namespace {

using mappings::ColumnType;

InferredSchema infer_from(const std::vector<std::string>& events,
                          const std::vector<std::string>& system_properties = {},
                          IngestFormat format = IngestFormat::json, bool header = false) {
  SchemaInference inference(format, header);
  for (const auto& e : events) {
    inference.add(e);
  }
  return inference.result(system_properties);
}

const InferredColumn& column(const InferredSchema& s, const std::string& name) {
  for (const auto& c : s.columns) {
    if (c.name == name) {
      return c;
    }
  }
  static const InferredColumn none;
  ADD_FAILURE() << "no column " << name;
  return none;
}

TEST(SchemaInference, ChoosesKustoTypesFromUniformValuesWithoutHesitating) {
  const auto s = infer_from({
      R"({"device":"d1","count":3,"ratio":0.5,"ok":true,"at":"2026-11-24T10:00:00Z","id":"0f8fad5b-d9cb-469f-a165-70867728950e","tags":{"a":1},"list":[1,2]})",
      R"({"device":"d2","count":-4,"ratio":1.25,"ok":false,"at":"2026-11-24 10:00:01","id":"{7c9e6679-7425-40de-944b-e07fc1f90ae7}","tags":{},"list":[]})",
  });
  ASSERT_EQ(s.columns.size(), 8U);
  EXPECT_EQ(s.schema_text(), "device:string, count:long, ratio:real, ok:bool, at:datetime, "
                             "id:guid, tags:dynamic, list:dynamic");
  for (const auto& c : s.columns) {
    EXPECT_EQ(c.hesitation, "") << c.name;
    EXPECT_FALSE(c.transform) << c.name;
  }
  EXPECT_EQ(s.events, 2U);
  EXPECT_EQ(s.not_objects, 0U);
}

TEST(SchemaInference, KeepsTheOrderFieldsWereFirstSeenIn) {
  const auto s = infer_from({R"({"z":1,"a":2})", R"({"m":3,"a":4})"});
  ASSERT_EQ(s.columns.size(), 3U);
  EXPECT_EQ(s.columns[0].name, "z");
  EXPECT_EQ(s.columns[1].name, "a");
  EXPECT_EQ(s.columns[2].name, "m");
}

TEST(SchemaInference, NamesEveryMixedOrMissingColumnWithWhatWasSeenAndChosen) {
  const auto s = infer_from({R"({"t":21,"code":"A1","v":{"x":1},"opt":1})",
                             R"({"t":21.5,"code":7,"v":3,"opt":null})", R"({"t":22,"code":"B"})"});
  EXPECT_EQ(column(s, "t").type, ColumnType::real);
  EXPECT_EQ(column(s, "t").hesitation, "2 integers, 1 reals: real");
  EXPECT_EQ(column(s, "code").type, ColumnType::string);
  EXPECT_EQ(column(s, "code").hesitation, "1 integers, 2 other texts: string keeps their text");
  EXPECT_EQ(column(s, "v").type, ColumnType::dynamic);
  EXPECT_EQ(column(s, "v").hesitation,
            "absent or null in 1 of 3 events; 1 integers, 1 objects: dynamic keeps them all");
  EXPECT_EQ(column(s, "opt").type, ColumnType::int64);
  EXPECT_EQ(column(s, "opt").hesitation, "absent or null in 2 of 3 events");
}

TEST(SchemaInference, DatesAmongOtherTextsAreStrings) {
  const auto s = infer_from({R"({"when":"2026-11-24T10:00:00Z"})", R"({"when":"soon"})"});
  EXPECT_EQ(column(s, "when").type, ColumnType::string);
  EXPECT_EQ(column(s, "when").hesitation,
            "1 ISO 8601 date texts, 1 other texts: string keeps their text");
}

TEST(SchemaInference, TakesIntegersNamedLikeATimeInOneUnitsRangeForUnixTimes) {
  const auto s = infer_from({
      R"({"ts":1764583200,"sentTime":1764583200123,"eventDate":1764583200123456,"line":1764583200,"readingTime":42})",
      R"({"ts":1764583260,"sentTime":1764583260123,"eventDate":1764583260123456,"line":1764583260,"readingTime":43})",
  });
  EXPECT_EQ(column(s, "ts").type, ColumnType::datetime);
  EXPECT_EQ(column(s, "ts").transform, "DateTimeFromUnixSeconds");
  EXPECT_EQ(column(s, "sentTime").transform, "DateTimeFromUnixMilliseconds");
  EXPECT_EQ(column(s, "eventDate").transform, "DateTimeFromUnixMicroseconds");
  EXPECT_NE(column(s, "ts").hesitation.find("named like a time"), std::string::npos);
  // Not named like a time, or not within a unit's range of plausible dates: numbers.
  EXPECT_EQ(column(s, "line").type, ColumnType::int64);
  EXPECT_FALSE(column(s, "line").transform);
  EXPECT_EQ(column(s, "readingTime").type, ColumnType::int64);
  EXPECT_FALSE(column(s, "readingTime").transform);
}

TEST(SchemaInference, UnixTimesSpanningTwoUnitsStayNumbers) {
  const auto s = infer_from({R"({"ts":1764583200})", R"({"ts":1764583200123})"});
  EXPECT_EQ(column(s, "ts").type, ColumnType::int64);
  EXPECT_FALSE(column(s, "ts").transform);
}

TEST(SchemaInference, AColumnNullInEveryEventIsDynamicAndSaysSo) {
  const auto s = infer_from({R"({"x":null,"y":1})", R"({"y":2})"});
  EXPECT_EQ(column(s, "x").type, ColumnType::dynamic);
  EXPECT_NE(column(s, "x").hesitation.find("null in every event"), std::string::npos);
}

TEST(SchemaInference, IntegersBeyondALongAreReal) {
  const auto s = infer_from({R"({"big":18446744073709551615})"});
  EXPECT_EQ(column(s, "big").type, ColumnType::real);
}

TEST(SchemaInference, CountsEventsThatAreNotObjectsAndSaysWhy) {
  const auto s = infer_from({R"({"a":1})", "not json", "[1,2]", R"("text")"});
  EXPECT_EQ(s.events, 4U);
  EXPECT_EQ(s.not_objects, 3U);
  ASSERT_EQ(s.skipped.size(), 3U);
  EXPECT_EQ(s.skipped[0], "event 2: not JSON");
  EXPECT_EQ(s.skipped[1], "event 3: a JSON array, not an object");
  EXPECT_EQ(column(s, "a").hesitation, ""); // judged over the objects only
}

TEST(SchemaInference, QuotesNamesKustoCannotTakeBareAndPathsJsonCannotEither) {
  const auto s = infer_from({R"({"device id":"d","x-y":1,"ok_1":true})"});
  EXPECT_EQ(s.schema_text(), "['device id']:string, ['x-y']:long, ok_1:bool");
  EXPECT_EQ(column(s, "device id").path, "$['device id']");
  EXPECT_EQ(column(s, "x-y").path, "$.x-y");
  EXPECT_EQ(quote_name("Telemetry"), "Telemetry");
  EXPECT_EQ(quote_name("2fast"), "['2fast']");
}

TEST(SchemaInference, AddsSystemPropertiesAsColumnsOfTheirKnownTypes) {
  const auto s =
      infer_from({R"({"EnqueuedTime":"x"})"},
                 {"x-opt-enqueued-time", "x-opt-sequence-number", "iothub-connection-device-id"});
  ASSERT_EQ(s.columns.size(), 4U);
  EXPECT_EQ(s.columns[1].name, "EventEnqueuedTime"); // the body has EnqueuedTime already
  EXPECT_EQ(s.columns[1].type, ColumnType::datetime);
  EXPECT_EQ(s.columns[1].path, "$.x-opt-enqueued-time");
  EXPECT_EQ(s.columns[2].name, "SequenceNumber");
  EXPECT_EQ(s.columns[2].type, ColumnType::int64);
  EXPECT_EQ(s.columns[3].name, "IothubConnectionDeviceId");
  EXPECT_EQ(s.columns[3].type, ColumnType::string);
}

TEST(SchemaInference, WritesTheMappingKustoTakes) {
  const auto s = infer_from({R"({"d":"x","ts":1764583200})"});
  EXPECT_EQ(
      s.mapping_json(),
      R"([{"column":"d","Properties":{"Path":"$.d"}},)"
      R"({"column":"ts","Properties":{"Path":"$.ts","Transform":"DateTimeFromUnixSeconds"}}])");
}

TEST(SchemaInference, ReadsCsvFieldsAsKustoReadsTextsWithTheHeadersNames) {
  const auto s = infer_from({"device,temp,ok,at,id,tags,note\n"
                             "d1,21,true,2026-11-24T10:00:00Z,0f8fad5b-d9cb-469f-a165-70867728950e,"
                             "\"{\"\"a\"\":1}\",\"x, y\"\n",
                             "d2,21.5,false,2026-11-24T10:00:01Z,"
                             "7c9e6679-7425-40de-944b-e07fc1f90ae7,[1],\"say \"\"hi\"\"\""},
                            {}, IngestFormat::csv, true);
  EXPECT_EQ(s.events, 2U); // the header is no event
  EXPECT_EQ(s.schema_text(),
            "device:string, temp:real, ok:bool, at:datetime, id:guid, tags:dynamic, note:string");
  EXPECT_EQ(column(s, "temp").hesitation, "1 integers, 1 reals: real");
  EXPECT_EQ(column(s, "note").hesitation, "");
  EXPECT_EQ(column(s, "tags").hesitation, "1 objects, 1 arrays: dynamic keeps them all");
  EXPECT_EQ(column(s, "device").ordinal, 0U);
  EXPECT_EQ(column(s, "note").ordinal, 6U);
  const std::string first_two = R"([{"column":"device","Properties":{"Ordinal":"0"}},)"
                                R"({"column":"temp","Properties":{"Ordinal":"1"}},)";
  EXPECT_EQ(s.mapping_json().substr(0, first_two.size()), first_two);
}

TEST(SchemaInference, NamesCsvColumnsByPositionWithoutAHeaderAndSaysWhatItCouldNotRead) {
  const auto s = infer_from({"1,,x", "2,3,y", "3,4,\"never closed"}, {}, IngestFormat::csv);
  EXPECT_EQ(s.events, 3U);
  EXPECT_EQ(s.not_objects, 1U);
  ASSERT_EQ(s.skipped.size(), 1U);
  EXPECT_EQ(s.skipped[0], "record 3 has a quoted field that is never closed");
  EXPECT_EQ(s.schema_text(), "Column1:long, Column2:long, Column3:string");
  EXPECT_EQ(column(s, "Column2").hesitation, "absent or null in 1 of 2 events");
}

// Inference reads records with the mapping engine's reader: what the engine refuses (text after
// a closing quote) is left out, and a quoted line end keeps a record whole.
TEST(SchemaInference, ReadsDelimitedRecordsAsTheMappingEngineReadsThem) {
  const auto s = infer_from({"1,\"two\nlines\"\r\n2,x", "3,\"a\"b"}, {}, IngestFormat::csv);
  EXPECT_EQ(s.events, 3U);
  EXPECT_EQ(s.not_objects, 1U);
  ASSERT_EQ(s.skipped.size(), 1U);
  EXPECT_EQ(s.skipped[0], "record 3 has text after a closing quote");
  EXPECT_EQ(s.schema_text(), "Column1:long, Column2:string");
}

// The other formats a CSV mapping reads split as Kusto splits them: TSV, PSV, SCSV and SOHSV at
// their delimiter, a quoted field keeping it; TSVE escapes with a backslash, and a quote there is
// a character like any other.
TEST(SchemaInference, ReadsEveryDelimitedFormatAtItsDelimiter) {
  struct Case {
    IngestFormat format;
    std::string record;
  };
  const std::vector<Case> cases = {
      {IngestFormat::tsv, "d1\t21\t\"a\tb\""},
      {IngestFormat::psv, "d1|21|\"a|b\""},
      {IngestFormat::scsv, "d1;21;\"a;b\""},
      {IngestFormat::sohsv, "d1\x01"
                            "21\x01\"a\x01"
                            "b\""},
      {IngestFormat::tsve, "d1\t21\t\"a\\tb"},
  };
  for (const auto& [format, record] : cases) {
    const auto s = infer_from({record, record}, {}, format);
    EXPECT_EQ(s.not_objects, 0U) << ingest_format_name(format);
    EXPECT_EQ(s.schema_text(), "Column1:string, Column2:long, Column3:string")
        << ingest_format_name(format);
    EXPECT_EQ(s.format, format);
    EXPECT_EQ(s.mapping_json().find("Path"), std::string::npos) << s.mapping_json();
  }
  // The same record read as CSV is one field with commas nowhere: a single column.
  EXPECT_EQ(infer_from({"d1|21|x"}, {}, IngestFormat::csv).schema_text(), "Column1:string");
}

TEST(SchemaInference, PutsCsvSystemPropertiesFirstInAdxsOrder) {
  const auto s =
      infer_from({"a,1"}, {"x-opt-sequence-number", "x-opt-enqueued-time"}, IngestFormat::csv);
  ASSERT_EQ(s.columns.size(), 4U);
  EXPECT_EQ(column(s, "EnqueuedTime").ordinal, 0U);
  EXPECT_EQ(column(s, "SequenceNumber").ordinal, 1U);
  EXPECT_EQ(column(s, "Column1").ordinal, 2U);
  EXPECT_EQ(column(s, "Column2").ordinal, 3U);
}

} // namespace
} // namespace hub2kusto::app
