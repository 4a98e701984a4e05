#include "hub/selector.hpp"

#include <fmt/format.h>

namespace hub2kusto::hub {

std::string selector_expression(const StartPosition& start) {
  const char* op = start.inclusive ? ">=" : ">";
  switch (start.kind) {
  case StartPosition::Kind::earliest:
    return "amqp.annotation.x-opt-offset > '-1'";
  case StartPosition::Kind::latest:
    return "amqp.annotation.x-opt-offset > '@latest'";
  case StartPosition::Kind::offset:
    return fmt::format("amqp.annotation.x-opt-offset {} '{}'", op, start.offset.value());
  case StartPosition::Kind::sequence_number:
    return fmt::format("amqp.annotation.x-opt-sequence-number {} '{}'", op,
                       start.sequence_number.value());
  case StartPosition::Kind::enqueued_time:
    return fmt::format("amqp.annotation.x-opt-enqueued-time {} '{}'", op,
                       start.enqueued_time.time_since_epoch().count());
  }
  return "amqp.annotation.x-opt-offset > '-1'";
}

} // namespace hub2kusto::hub
