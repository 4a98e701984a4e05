#pragma once
// The start-position filter of a receiver attach (docs/protocols.md, "Receiver links and start
// positions"):
//   amqp.annotation.x-opt-offset > '-1'          start of stream
//   amqp.annotation.x-opt-offset > '@latest'     only new events
//   amqp.annotation.x-opt-offset >= '1234'       at / after an offset
//   amqp.annotation.x-opt-sequence-number > '42'
//   amqp.annotation.x-opt-enqueued-time > '1700000000000'   (ms; legacy x-opt-enqueuedtimeutc)
// Tolerant as the spec's [TS] note asks: spaces and quotes are optional.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hub2kusto::emulator {

struct StartSelector {
  enum class Field { offset, sequence_number, enqueued_time };
  Field field = Field::offset;
  bool inclusive = false;
  bool latest = false;     // offset @latest
  std::int64_t value = -1; // offset, sequence number or ms since the epoch
};

// nullopt when the expression is not one of the forms above.
std::optional<StartSelector> parse_start_selector(std::string_view expression);

} // namespace hub2kusto::emulator
