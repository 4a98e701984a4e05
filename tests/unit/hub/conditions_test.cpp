#include "hub/conditions.hpp"

#include <gtest/gtest.h>

namespace hub2kusto::hub {
namespace {

TEST(Conditions, TransientServiceConditionsAreRetried) {
  for (const char* c : {"com.microsoft:server-busy", "com.microsoft:timeout", "amqp:internal-error",
                        "amqp:link:detach-forced", "amqp:connection:forced", "amqp:not-found",
                        "amqp:resource-limit-exceeded", ""}) {
    EXPECT_EQ(classify_condition(c), ConditionAction::retry) << c;
  }
}

TEST(Conditions, AStolenLinkAndARedirectHaveTheirOwnAction) {
  EXPECT_EQ(classify_condition("amqp:link:stolen"), ConditionAction::stolen);
  EXPECT_EQ(classify_condition("amqp:link:redirect"), ConditionAction::redirect);
}

TEST(Conditions, WhatOnlyAnOperatorCanFixIsFatal) {
  for (const char* c : {"amqp:unauthorized-access", "com.microsoft:entity-disabled",
                        "com.microsoft:argument-out-of-range", "com.microsoft:argument-error",
                        "com.microsoft:georeplication:invalid-offset", "something:unknown"}) {
    EXPECT_EQ(classify_condition(c), ConditionAction::fatal) << c;
  }
}

} // namespace
} // namespace hub2kusto::hub
