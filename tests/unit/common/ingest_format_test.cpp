#include "common/ingest_format.hpp"

#include <gtest/gtest.h>

namespace hub2kusto {
namespace {

TEST(IngestFormat, EveryFormatIsReadBackFromItsNameInAnyCase) {
  for (int i = 0; i <= static_cast<int>(IngestFormat::w3clogfile); ++i) {
    const auto format = static_cast<IngestFormat>(i);
    const std::string name(ingest_format_name(format));
    EXPECT_EQ(parse_ingest_format(name), format) << name;
    std::string upper = name;
    for (auto& c : upper) {
      c = c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
    }
    EXPECT_EQ(parse_ingest_format(upper), format) << upper;
  }
}

TEST(IngestFormat, NamesThatAreNoKustoFormatAreRefused) {
  EXPECT_FALSE(parse_ingest_format("jsn"));
  EXPECT_FALSE(parse_ingest_format(""));
  EXPECT_FALSE(parse_ingest_format("json "));
}

TEST(IngestFormat, OnlyAvroParquetAndOrcAreWholeFiles) {
  EXPECT_TRUE(is_binary(IngestFormat::avro));
  EXPECT_TRUE(is_binary(IngestFormat::apacheavro));
  EXPECT_TRUE(is_binary(IngestFormat::parquet));
  EXPECT_TRUE(is_binary(IngestFormat::orc));
  EXPECT_FALSE(is_binary(IngestFormat::json));
  EXPECT_FALSE(is_binary(IngestFormat::csv));
  EXPECT_FALSE(is_binary(IngestFormat::w3clogfile));
}

TEST(IngestFormat, EachFormatNamesTheMappingKindKustoGivesIt) {
  EXPECT_EQ(mapping_kind(IngestFormat::multijson), "Json");
  EXPECT_EQ(mapping_kind(IngestFormat::psv), "Csv");
  EXPECT_EQ(mapping_kind(IngestFormat::apacheavro), "ApacheAvro");
  EXPECT_EQ(mapping_kind(IngestFormat::w3clogfile), "W3CLogFile");
}

} // namespace
} // namespace hub2kusto
