#pragma once
// The hub and consumer group whose checkpoints and ownerships the blob store tests write.
#include "checkpoint/checkpoint_store.hpp"

namespace hub2kusto::checkpoint {

inline const Scope kScope{"MyNS.servicebus.windows.net", EventHubName("Telemetry"),
                          ConsumerGroup("$Default")};

} // namespace hub2kusto::checkpoint
