#include "hub/conditions.hpp"

#include <array>

namespace hub2kusto::hub {

ConditionAction classify_condition(std::string_view condition) {
  static constexpr std::array<std::string_view, 11> retriable = {
      "com.microsoft:server-busy",
      "com.microsoft:timeout",
      "amqp:internal-error",
      "amqp:link:detach-forced",
      "amqp:connection:forced",
      "amqp:connection:framing-error",
      "amqp:illegal-state",
      "amqp:not-found",
      "amqp:resource-limit-exceeded",
      "amqp:link:transfer-limit-exceeded",
      "proton:io",
  };
  if (condition.empty()) {
    return ConditionAction::retry;
  }
  if (condition == "amqp:link:stolen") {
    return ConditionAction::stolen;
  }
  if (condition == "amqp:link:redirect") {
    return ConditionAction::redirect;
  }
  for (const auto& r : retriable) {
    if (condition == r) {
      return ConditionAction::retry;
    }
  }
  return ConditionAction::fatal;
}

} // namespace hub2kusto::hub
