#include "pipeline/local_mapper.hpp"

#include <gtest/gtest.h>

namespace hub2kusto::pipeline {
namespace {

hub::AmqpValue text(const std::string& v) {
  hub::AmqpValue value;
  value.value = v;
  return value;
}

std::string text_of(const mappings::PropertyValue& v) {
  return v.kind == mappings::PropertyValue::Kind::text ? std::string(v.text) : "<not text>";
}

TEST(SystemProperties, ApplicationPropertiesCannotForgeThem) {
  hub::HubEvent e;
  for (const char* forged : {"iothub-connection-device-id", "iothub-connection-module-id",
                             "x-opt-publisher", "user-id", "message-id"}) {
    e.application_properties.push_back({forged, text("trusted-module")});
  }
  std::string storage;
  for (const char* name : {"iothub-connection-device-id", "iothub-connection-module-id",
                           "x-opt-publisher", "user-id", "message-id"}) {
    EXPECT_EQ(system_property_value(e, name, storage).kind, mappings::PropertyValue::Kind::absent)
        << name;
  }
  // What the service set is read: annotations and AMQP properties.
  e.annotations.push_back({"iothub-connection-device-id", text("dev-7")});
  e.properties.push_back({"user-id", text("service-user")});
  EXPECT_EQ(text_of(system_property_value(e, "iothub-connection-device-id", storage)), "dev-7");
  EXPECT_EQ(text_of(system_property_value(e, "user-id", storage)), "service-user");
}

TEST(SystemProperties, TheOnesIotHubCarriesInApplicationPropertiesAreRead) {
  hub::HubEvent e;
  e.application_properties.push_back({"dt-subject", text("thermostat1")});
  e.application_properties.push_back({"iothub-creation-time-utc", text("2026-12-02T10:00:00Z")});
  std::string storage;
  EXPECT_EQ(text_of(system_property_value(e, "dt-subject", storage)), "thermostat1");
  EXPECT_EQ(text_of(system_property_value(e, "iothub-creation-time-utc", storage)),
            "2026-12-02T10:00:00Z");
}

TEST(SystemProperties, ThePartitionIdIsTheOneTheEventWasReadFrom) {
  hub::HubEvent e;
  e.partition = PartitionId("7");
  e.application_properties.push_back({"hub2kusto-partition-id", text("forged")});
  std::string storage;
  EXPECT_EQ(text_of(system_property_value(e, "hub2kusto-partition-id", storage)), "7");
}

} // namespace
} // namespace hub2kusto::pipeline
