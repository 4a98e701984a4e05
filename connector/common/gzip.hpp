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
std::string compress(std::string_view data, int level = 6);

// The inflated bytes of a gzip stream (concatenated members allowed), or nullopt when it is
// not valid gzip or inflates beyond `max_bytes`; `too_large` tells the two apart.
std::optional<std::string> decompress(std::string_view data, std::size_t max_bytes,
                                      bool* too_large = nullptr);

} // namespace hub2kusto::gzip
