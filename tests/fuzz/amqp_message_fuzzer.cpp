// libFuzzer target: bytes a hub sends as a message, decoded into a HubEvent (the hub stage's
// parser of untrusted input). Decoding must never crash or throw; it returns an event or an
// error.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "hub/message_decoder.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  (void)hub2kusto::hub::decode_event(bytes, hub2kusto::PartitionId("0"));
  return 0;
}
