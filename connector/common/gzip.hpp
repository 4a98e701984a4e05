#pragma once
// gzip for ingest bodies (docs/protocols.md, "Streaming ingestion requests", "Queued ingestion and
// its status"), whole buffers at a time, on libdeflate.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace hub2kusto::gzip {

// True when `data` starts with the gzip magic bytes 1f 8b.
bool is_gzip(std::string_view data);

// `data` as one gzip member.
// Level 1 is what the ingestors use: on the 200-byte telemetry JSON it compresses at about
// 700 MB/s against 165 MB/s at level 6 (zlib: 330 and 113), for about a third more bytes on
// the wire (7.4x against 10.9x smaller than the input); the CPU is the scarcer resource
// (bench/REPORT.md, end-to-end benchmark).
inline constexpr int kFastLevel = 1;
std::string compress(std::string_view data, int level = 6);

// The inflated bytes of a gzip stream (concatenated members allowed), or nullopt when it is
// not valid gzip or inflates beyond `max_bytes`; `too_large` tells the two apart.
std::optional<std::string> decompress(std::string_view data, std::size_t max_bytes,
                                      bool* too_large = nullptr);

} // namespace hub2kusto::gzip
