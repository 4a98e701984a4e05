#pragma once
// Avro object container files, as Kusto ingests them with the formats `avro` and `apacheavro`:
// one whole file per request or blob. Its records become JSON lines for the mapping engine.
// All or nothing: a body that is not exactly one well-formed container file (two files joined
// back to back, a truncated one) is refused, never ingested in part.
#include <optional>
#include <string>
#include <string_view>

namespace hub2kusto::kusto_emulator {

// The file's records as one JSON object per line (Avro's JSON encoding), or why it is not one
// container file. Codecs: null and deflate (those Avro C reads).
std::optional<std::string> avro_to_json_lines(std::string_view file, std::string& out);

} // namespace hub2kusto::kusto_emulator
