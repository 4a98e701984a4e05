#pragma once
// gzip compression for ingest bodies (kusto-ingest.md §1.3, §4.4), on zlib.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace hub2kusto::gzip {

// True when `data` starts with the gzip magic bytes 1f 8b.
bool is_gzip(std::string_view data);

// `data` as one gzip member.
// Level 1 (Z_BEST_SPEED) is what the ingestors use: on telemetry JSON it compresses about 2.4x
// faster than the default level 6 (370 against 155 MB/s) for about a quarter more bytes on the
// wire (9x against 12x smaller than the input); the CPU is the scarcer resource
// (bench/REPORT.md, end-to-end benchmark).
inline constexpr int kFastLevel = 1;
std::string compress(std::string_view data, int level = 6);

// The inflated bytes of a gzip stream (concatenated members allowed), or nullopt when it is
// not valid gzip or inflates beyond `max_bytes`; `too_large` tells the two apart.
std::optional<std::string> decompress(std::string_view data, std::size_t max_bytes,
                                      bool* too_large = nullptr);

} // namespace hub2kusto::gzip
