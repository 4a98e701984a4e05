#pragma once
// An encoded AMQP message, as a transfer carries it, to a HubEvent (docs/protocols.md, "Received
// events", "Event bodies"). A decoder of its own rather than proton::message: it reads the sections
// in place, promotes the service's position annotations straight into their fields, and copies the
// body once, which the receive benchmark shows is most of a receiver's work (bench/REPORT.md). It
// also sees what proton::message hides: several data sections (concatenated, as .NET does) and
// whether a binary body was a data section or an amqp-value.
//
// The body: data sections are the bytes as sent; an amqp-value string or binary is its bytes,
// any other amqp-value JSON text; an amqp-sequence a JSON array of its items. Composite
// property values are JSON text; binary inside JSON is base64; timestamps inside JSON are
// ISO 8601 (or Unix milliseconds past the year 2262).
#include <string_view>

#include "base/result.hpp"
#include "hub/hub_event.hpp"

namespace hub2kusto::hub {

// Fails, never throws, on bytes that are not an AMQP message, and when a position annotation
// is missing or mistyped: x-opt-sequence-number (long), x-opt-offset (string; an integer, which
// older services sent, is taken as its text), x-opt-enqueued-time (timestamp). Errors name the
// partition and, when known, the sequence number. A message whose positions were read but whose
// properties or body cannot be decoded is an event with `undecodable` set and its raw bytes as
// the body, so that one hostile message is dead-lettered instead of stopping its partition.
Result<HubEvent> decode_event(std::string_view encoded, const PartitionId& partition);

} // namespace hub2kusto::hub
