#pragma once
// The `Key=Value;Key=Value` grammar shared by Event Hubs, IoT Hub and Kusto connection strings.
// The two families differ in small ways, chosen by KeyValueSyntax:
//   hub:   pairs split on ';', key and value split on the FIRST '=', whitespace trimmed, empty
//          segments skipped (.NET and Rust; docs/protocols.md, "Connection strings");
//   kusto: the same, plus values may be enclosed in double or single quotes (a doubled quote
//          inside stands for one), and a first segment without '=' is the Data Source
//          (docs/protocols.md, "Authentication and connection strings"; docs "Kusto connection
//          strings").
// Errors name the segment by position and never echo its text: it may hold a key.

#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace hub2kusto {

enum class KeyValueSyntax { hub, kusto };

struct KeyValue {
  std::string key;   // as written, trimmed
  std::string value; // trimmed, unquoted
};

Result<std::vector<KeyValue>> parse_key_value_list(std::string_view text, KeyValueSyntax syntax);

// ASCII lower-case with spaces removed: how Kusto compares keywords ("Data Source" ==
// "datasource"). Event Hubs keys are compared with ASCII case folding only (base/text.hpp).
std::string normalize_keyword(std::string_view key);

} // namespace hub2kusto
