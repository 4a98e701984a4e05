#pragma once
// A received AMQP message to a HubEvent (eventhubs-amqp.md §6-7). The only place that reads a
// proton::message; what it returns has no Proton types.
//
// The body: one data section is the bytes as sent; an amqp-value string or binary is its
// bytes, any other amqp-value JSON text; an amqp-sequence a JSON array. (Proton C++ keeps only
// the last of several data sections, so a message built of several arrives as its last one;
// the Azure SDKs send one.)
#include <string_view>

#include "common/result.hpp"
#include "hub/hub_event.hpp"

namespace proton {
class message;
class value;
} // namespace proton

namespace hub2kusto::hub {

// Fails when a position annotation is missing or has the wrong type: x-opt-sequence-number
// (long), x-opt-offset (string, or an integer, which older services sent), x-opt-enqueued-time
// (timestamp). Never throws.
Result<HubEvent> decode_event(const proton::message& message, const PartitionId& partition);

// The same, from an encoded message (the fuzz target's entry point).
Result<HubEvent> decode_event(std::string_view encoded, const PartitionId& partition);

// Any AMQP value with its type (composites as JSON text). Throws proton::conversion_error on a
// malformed value; decode_event catches it.
AmqpValue to_amqp_value(const proton::value& value);

} // namespace hub2kusto::hub
