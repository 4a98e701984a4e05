#pragma once
// The selector-filter expression a receiver attach carries to say where to start
// (docs/protocols.md, "Receiver links and start positions"): `amqp.annotation.<field> <op>
// '<value>'`.
#include <string>

#include "hub/event_source.hpp"

namespace hub2kusto::hub {

// earliest: x-opt-offset > '-1'; latest: x-opt-offset > '@latest'; offsets and sequence
// numbers with > or >=; enqueued time in Unix milliseconds.
std::string selector_expression(const StartPosition& start);

} // namespace hub2kusto::hub
