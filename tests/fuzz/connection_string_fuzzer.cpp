// libFuzzer target: connection strings (Event Hubs, IoT Hub, Kusto) and SAS tokens, the
// untrusted text an operator or a secret mount hands the connector. Parsers must never crash,
// and no error message may contain the text of a key.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/hub_connection_string.hpp"
#include "common/kusto_connection_string.hpp"
#include "common/redact.hpp"
#include "common/sas_token.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)hub2kusto::parse_hub_connection_string(text);
  (void)hub2kusto::parse_kusto_connection_string(text);
  (void)hub2kusto::parse_sas_token(text);
  (void)hub2kusto::redact_text(text);
  return 0;
}
