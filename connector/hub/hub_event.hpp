#pragma once
// HubEvent: one event as the hub stage hands it on, a plain value with no Proton types
// (docs/architecture.md, "Seams"). It carries everything the service sent (docs/protocols.md,
// "Received events"): the body, every message annotation with its AMQP type, the application
// properties and the AMQP properties of the bare message; the position fields are promoted for the
// pipeline.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/types.hpp"

namespace hub2kusto::hub {

// The AMQP type a value had on the wire (AMQP 1.0 part 1, docs/protocols.md, "Connection strings").
enum class AmqpType : std::uint8_t {
  null,
  boolean,
  ubyte,
  ushort,
  uint,
  ulong,
  byte,
  short_,
  int_,
  long_,
  float_,
  double_,
  decimal32,
  decimal64,
  decimal128,
  char_,
  timestamp,
  uuid,
  binary,
  string,
  symbol,
  described,
  list,
  map,
  array,
};
std::string_view amqp_type_name(AmqpType type);

using Timestamp = std::chrono::time_point<std::chrono::system_clock, std::chrono::milliseconds>;

// A value with its wire type. Integers are widened to int64/uint64 and floats to double;
// string, symbol, binary (raw bytes) and uuid (canonical text) are text; decimals, described
// and composite values are JSON text (maps keyed by their keys' text).
struct AmqpValue {
  AmqpType type = AmqpType::null;
  std::variant<std::monostate, bool, std::int64_t, std::uint64_t, double, std::string, Timestamp>
      value;

  friend bool operator==(const AmqpValue&, const AmqpValue&) = default;
};

struct NamedValue {
  std::string name;
  AmqpValue value;

  friend bool operator==(const NamedValue&, const NamedValue&) = default;
};

// How the body was encoded (docs/protocols.md, "Event bodies").
enum class BodyType : std::uint8_t {
  data,     // data section(s): `body` holds the bytes as sent
  value,    // amqp-value: a string or binary value as its bytes, anything else as JSON text
  sequence, // amqp-sequence: a JSON array of the sequence's items
  none,     // no body section
};

struct HubEvent {
  PartitionId partition;
  SequenceNumber sequence_number;           // x-opt-sequence-number
  Offset offset;                            // x-opt-offset, opaque text
  Timestamp enqueued_time;                  // x-opt-enqueued-time
  std::optional<std::string> partition_key; // x-opt-partition-key

  BodyType body_type = BodyType::data;
  std::string body;
  // Set when the message's positions were read but its properties or body could not be decoded
  // (nested too deeply, malformed, too large): why. `body` then holds the transfer's raw bytes
  // and nothing else was kept, so the event can be dead-lettered whole and its partition go on.
  std::optional<std::string> undecodable;

  // Message annotations other than the four promoted above (which annotation() also finds).
  std::vector<NamedValue> annotations;
  std::vector<NamedValue> application_properties; // as the producer set them
  std::vector<NamedValue> properties; // AMQP properties by their spec names: message-id,
                                      // user-id, to, subject, reply-to, correlation-id,
                                      // content-type, content-encoding, absolute-expiry-time,
                                      // creation-time, group-id, group-sequence,
                                      // reply-to-group-id (present ones only)

  // Any message annotation by name, the promoted ones included, with its wire type.
  std::optional<AmqpValue> annotation(std::string_view name) const;
  // The first entry named `name`, or nullptr.
  const AmqpValue* application_property(std::string_view name) const;
  const AmqpValue* property(std::string_view name) const;

  // Bytes held, for memory accounting (approximate: payloads and names).
  std::size_t approximate_size() const;
};

} // namespace hub2kusto::hub
