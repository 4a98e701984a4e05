#include "common/gzip.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <random>
#include <string>

namespace hub2kusto {
namespace {

// gzip as zlib writes it, with a file name in the header (RFC 1952 §2.3.1, FNAME): what other
// writers put in blobs and request bodies.
std::string zlib_gzip(const std::string& text) {
  z_stream zs{};
  deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  gz_header header{};
  std::string name = "events.json";
  header.name = reinterpret_cast<Bytef*>(name.data());
  deflateSetHeader(&zs, &header);
  std::string out(deflateBound(&zs, static_cast<uLong>(text.size())) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  zs.avail_in = static_cast<uInt>(text.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string zlib_gunzip(const std::string& packed, std::size_t size) {
  std::string out(size, '\0');
  z_stream zs{};
  inflateInit2(&zs, 16 + MAX_WBITS);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(packed.data()));
  zs.avail_in = static_cast<uInt>(packed.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  inflateEnd(&zs);
  return out;
}

std::string noise(std::size_t n) {
  std::mt19937 random(7);
  std::string s(n, '\0');
  for (auto& c : s) {
    c = static_cast<char>('a' + random() % 26);
  }
  return s;
}

TEST(Gzip, RoundTripsAndIsPlainGzipForOtherReaders) {
  const std::string text = noise(300000);
  for (int level : {1, gzip::kFastLevel, 6, 9}) {
    const std::string packed = gzip::compress(text, level);
    EXPECT_TRUE(gzip::is_gzip(packed));
    EXPECT_LT(packed.size(), text.size());
    EXPECT_EQ(gzip::decompress(packed, text.size()), text) << "level " << level;
    EXPECT_EQ(zlib_gunzip(packed, text.size()), text) << "level " << level;
  }
  EXPECT_EQ(gzip::decompress(gzip::compress(""), 10), "");
}

TEST(Gzip, InflatesWhatZlibWritesHeaderFieldsIncluded) {
  const std::string text = noise(5000);
  EXPECT_EQ(gzip::decompress(zlib_gzip(text), text.size()), text);
}

TEST(Gzip, TheLimitIsExactAndTooLargeIsToldApartFromInvalid) {
  const std::string text(100000, 'x');
  const std::string packed = gzip::compress(text);
  EXPECT_LT(packed.size(), 1000U);
  EXPECT_EQ(gzip::decompress(packed, text.size()), text);
  bool too_large = false;
  EXPECT_FALSE(gzip::decompress(packed, text.size() - 1, &too_large));
  EXPECT_TRUE(too_large);
  EXPECT_FALSE(gzip::decompress("\x1f\x8bnot gzip", 100, &too_large));
  EXPECT_FALSE(too_large);
  EXPECT_FALSE(gzip::decompress("", 100, &too_large));
  EXPECT_FALSE(too_large);
  EXPECT_FALSE(gzip::decompress(packed.substr(0, packed.size() - 6), text.size(), &too_large));
  EXPECT_FALSE(too_large);
}

TEST(Gzip, ConcatenatedMembersInflateInOrderWhateverTheTrailerSays) {
  // The last trailer gives only the last member's size: the first, far larger, must still fit.
  const std::string big = noise(1 << 20);
  const std::string packed = gzip::compress(big) + zlib_gzip("tail") + gzip::compress("yy");
  EXPECT_EQ(gzip::decompress(packed, big.size() + 6), big + "tailyy");
  bool too_large = false;
  EXPECT_FALSE(gzip::decompress(packed, big.size() + 5, &too_large));
  EXPECT_TRUE(too_large);
  EXPECT_FALSE(gzip::decompress(packed + "junk", big.size() + 100, &too_large));
  EXPECT_FALSE(too_large);
}

TEST(Gzip, ATrailerThatLiesAboutTheSizeIsRejected) {
  std::string packed = gzip::compress(noise(1000));
  packed[packed.size() - 4] ^= 0x01; // ISIZE no longer matches the data
  EXPECT_FALSE(gzip::decompress(packed, 10000));
}

} // namespace
} // namespace hub2kusto
