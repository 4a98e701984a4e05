#include "common/gzip.hpp"

#include <libdeflate.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <new>

namespace hub2kusto::gzip {
namespace {

struct FreeCompressor {
  void operator()(libdeflate_compressor* c) const { libdeflate_free_compressor(c); }
};
struct FreeDecompressor {
  void operator()(libdeflate_decompressor* d) const { libdeflate_free_decompressor(d); }
};

// The size the gzip trailer (RFC 1952 §2.3.1, ISIZE) gives for a single-member stream: a hint
// for the first buffer, never trusted beyond that.
std::size_t trailer_size_hint(std::string_view data) {
  if (data.size() < 18) {
    return 0;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(data.data() + data.size() - 4);
  return static_cast<std::size_t>(p[0]) | static_cast<std::size_t>(p[1]) << 8 |
         static_cast<std::size_t>(p[2]) << 16 | static_cast<std::size_t>(p[3]) << 24;
}

} // namespace

bool is_gzip(std::string_view data) {
  return data.size() >= 2 && static_cast<unsigned char>(data[0]) == 0x1f &&
         static_cast<unsigned char>(data[1]) == 0x8b;
}

std::string compress(std::string_view data, int level) {
  // A compressor holds its hash tables (a few hundred KiB at level 1); one per call keeps this
  // free of shared state, and costs little beside compressing a batch.
  const std::unique_ptr<libdeflate_compressor, FreeCompressor> compressor(
      libdeflate_alloc_compressor(std::clamp(level, 1, 12)));
  if (!compressor) {
    throw std::bad_alloc();
  }
  std::string out(libdeflate_gzip_compress_bound(compressor.get(), data.size()), '\0');
  const std::size_t n =
      libdeflate_gzip_compress(compressor.get(), data.data(), data.size(), out.data(), out.size());
  out.resize(n); // the bound always suffices: n == 0 cannot happen
  return out;
}

std::optional<std::string> decompress(std::string_view data, std::size_t max_bytes,
                                      bool* too_large) {
  if (too_large != nullptr) {
    *too_large = false;
  }
  const std::unique_ptr<libdeflate_decompressor, FreeDecompressor> decompressor(
      libdeflate_alloc_decompressor());
  if (!decompressor) {
    throw std::bad_alloc();
  }
  std::string out;
  std::size_t produced = 0;
  // One member after another (RFC 1952 §2.2); each is inflated whole into the room after what
  // the members before it produced. The room starts at the trailer's size (exact for the usual
  // single member) and doubles while a member does not fit, up to max_bytes in all.
  std::size_t room = std::max<std::size_t>(trailer_size_hint(data), 4 * data.size());
  do {
    const std::size_t budget = max_bytes - produced;
    room = std::min(std::max<std::size_t>(room, 1 << 16), budget);
    out.resize(produced + room);
    std::size_t in_used = 0;
    std::size_t out_used = 0;
    const auto rc = libdeflate_gzip_decompress_ex(decompressor.get(), data.data(), data.size(),
                                                  out.data() + produced, room, &in_used, &out_used);
    if (rc == LIBDEFLATE_INSUFFICIENT_SPACE) {
      if (room >= budget) {
        if (too_large != nullptr) {
          *too_large = true;
        }
        return std::nullopt;
      }
      room = room > budget / 2 ? budget : room * 2;
      continue;
    }
    if (rc != LIBDEFLATE_SUCCESS) {
      return std::nullopt;
    }
    produced += out_used;
    data.remove_prefix(in_used);
    room = 4 * data.size();
  } while (!data.empty());
  out.resize(produced);
  return out;
}

} // namespace hub2kusto::gzip
