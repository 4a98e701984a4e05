#include "hub/hub_event.hpp"

#include <gtest/gtest.h>

namespace hub2kusto::hub {
namespace {

TEST(HubEvent, LooksUpTheFirstValueByName) {
  HubEvent e;
  e.application_properties = {{"Table", {AmqpType::string, std::string("A")}},
                              {"Table", {AmqpType::string, std::string("B")}}};
  ASSERT_NE(e.application_property("Table"), nullptr);
  EXPECT_EQ(std::get<std::string>(e.application_property("Table")->value), "A");
  EXPECT_EQ(e.application_property("table"), nullptr); // names are case-sensitive (ADX rule)
  EXPECT_FALSE(e.annotation("x").has_value());
}

TEST(HubEvent, ItsSizeGrowsWithItsPayload) {
  HubEvent small;
  HubEvent large;
  large.body.assign(10'000, 'x');
  EXPECT_GE(large.approximate_size(), small.approximate_size() + 10'000);
}

TEST(HubEvent, TypeNamesAreTheAmqpOnes) {
  EXPECT_EQ(amqp_type_name(AmqpType::long_), "long");
  EXPECT_EQ(amqp_type_name(AmqpType::timestamp), "timestamp");
  EXPECT_EQ(amqp_type_name(AmqpType::array), "array");
}

} // namespace
} // namespace hub2kusto::hub
