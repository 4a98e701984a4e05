#include "pipeline/router.hpp"

#include <gtest/gtest.h>

namespace hub2kusto::pipeline {
namespace {

RoutingConfig config() {
  RoutingConfig c;
  c.defaults.database = DatabaseName("db");
  c.defaults.table = TableName("Telemetry");
  c.defaults.format = IngestFormat::json;
  c.defaults.mapping = MappingName("telemetry_json");
  c.allowed_databases = {"archive"};
  return c;
}

hub::HubEvent event(std::vector<std::pair<std::string, std::string>> properties) {
  hub::HubEvent e;
  for (auto& [k, v] : properties) {
    e.application_properties.push_back({k, {hub::AmqpType::string, v}});
  }
  return e;
}

TEST(Router, WithoutPropertiesTheConfiguredRouteApplies) {
  const auto r = route_event(event({}), config());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, config().defaults);
}

TEST(Router, TableFormatAndMappingComeFromTheEvent) {
  const auto r = route_event(
      event({{"Table", "Alerts"}, {"Format", "CSV"}, {"IngestionMappingReference", "alerts_csv"}}),
      config());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->table.value(), "Alerts");
  EXPECT_EQ(r->format, IngestFormat::csv);
  EXPECT_EQ(r->mapping->value(), "alerts_csv");
  EXPECT_EQ(r->database.value(), "db");
}

TEST(Router, ADifferentFormatDropsTheConfiguredMapping) {
  const auto r = route_event(event({{"Format", "multijson"}}), config());
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->mapping.has_value());
}

TEST(Router, OnlyListedDatabasesMayBeChosen) {
  EXPECT_EQ(route_event(event({{"Database", "archive"}}), config())->database.value(), "archive");
  const auto refused = route_event(event({{"Database", "other"}}), config());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("'other'"), std::string::npos);
}

TEST(Router, PropertyNamesAreCaseSensitiveAsInAdx) {
  EXPECT_EQ(route_event(event({{"table", "Alerts"}}), config())->table.value(), "Telemetry");
}

TEST(Router, CompressionGzipIsCarriedAndUnknownValuesAreRefused) {
  EXPECT_TRUE(route_event(event({{"Compression", "GZip"}}), config())->gzip);
  EXPECT_FALSE(route_event(event({{"Compression", "none"}}), config())->gzip);
  EXPECT_FALSE(route_event(event({{"Compression", "zstd"}}), config()).ok());
}

TEST(Router, UnusablePropertiesAreReasonsToDeadLetter) {
  EXPECT_FALSE(route_event(event({{"Format", "xml"}}), config()).ok());
  EXPECT_FALSE(route_event(event({{"Table", ""}}), config()).ok());
  hub::HubEvent numeric;
  numeric.application_properties.push_back({"Table", {hub::AmqpType::long_, std::int64_t{5}}});
  const auto r = route_event(numeric, config());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("is a long"), std::string::npos);
}

TEST(Router, RoutesGroupByTheirKey) {
  const auto a = route_event(event({{"Table", "A"}}), config());
  const auto b = route_event(event({{"Table", "B"}}), config());
  EXPECT_NE(a->key(), b->key());
  EXPECT_EQ(a->key(), route_event(event({{"Table", "A"}}), config())->key());
}

TEST(Router, NamesThatAreNoKustoNamesAreRefusedAndNeverEchoedRaw) {
  // A newline would forge a log line; 100 kB would make a 100 kB one.
  const auto forged = route_event(event({{"Table", "T\n2026-12-02 error [app] fake"}}), config());
  ASSERT_FALSE(forged.ok());
  EXPECT_EQ(forged.error().message.find('\n'), std::string::npos) << forged.error().message;
  EXPECT_NE(forged.error().message.find("T\\n2026"), std::string::npos) << forged.error().message;
  const auto huge =
      route_event(event({{"IngestionMappingReference", std::string(100'000, 'm')}}), config());
  ASSERT_FALSE(huge.ok());
  EXPECT_LT(huge.error().message.size(), 300U);
  EXPECT_NE(huge.error().message.find("(100000 bytes)"), std::string::npos);
  std::string long_format(5000, 'f');
  long_format.push_back('\r');
  const auto format = route_event(event({{"Format", long_format}}), config());
  ASSERT_FALSE(format.ok());
  EXPECT_LT(format.error().message.size(), 300U);
}

} // namespace
} // namespace hub2kusto::pipeline
