// What gzip costs on a corpus, the way the ingestors compress (common/gzip.hpp): the file's
// lines (JSON lines) repeated into batches of `--batch-bytes`, each compressed at
// gzip::kFastLevel and inflated back. scripts/bench uses it for the floor that compression
// alone puts under an end-to-end drain (bench/REPORT.md).
//   hub2kusto_gzip_bench --file F [--batch-bytes B] [--megabytes M]
// Prints one JSON line: compress and inflate MB/s (of uncompressed bytes, 10^6) and the
// compression ratio. A run that does not round-trip exits 1.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>

#include "common/gzip.hpp"

namespace {

using Clock = std::chrono::steady_clock;

} // namespace

int main(int argc, char** argv) {
  std::string file;
  std::size_t batch_bytes = 4U << 20;
  double megabytes = 200;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--file") {
      file = argv[i + 1];
    } else if (a == "--batch-bytes") {
      batch_bytes = std::stoul(argv[i + 1]);
    } else if (a == "--megabytes") {
      megabytes = std::stod(argv[i + 1]);
    } else {
      std::fprintf(stderr, "hub2kusto_gzip_bench: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  std::ifstream in(file, std::ios::binary);
  const std::string lines((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (file.empty() || lines.empty()) {
    std::fprintf(stderr, "hub2kusto_gzip_bench: --file names no readable, non-empty file\n");
    return 2;
  }
  std::string batch;
  while (batch.size() < batch_bytes) {
    batch += lines;
  }
  batch.resize(batch_bytes);
  const auto rounds = static_cast<int>(megabytes * 1e6 / static_cast<double>(batch_bytes)) + 1;
  std::string packed;
  const auto t0 = Clock::now();
  for (int r = 0; r < rounds; ++r) {
    packed = hub2kusto::gzip::compress(batch, hub2kusto::gzip::kFastLevel);
  }
  const auto t1 = Clock::now();
  std::optional<std::string> back;
  for (int r = 0; r < rounds; ++r) {
    back = hub2kusto::gzip::decompress(packed, batch.size());
  }
  const auto t2 = Clock::now();
  if (!back || *back != batch) {
    std::fprintf(stderr, "hub2kusto_gzip_bench: the batch did not round-trip\n");
    return 1;
  }
  const double bytes = static_cast<double>(batch.size()) * rounds;
  std::printf("{\"compress_mb_per_s\":%.1f,\"inflate_mb_per_s\":%.1f,\"ratio\":%.2f,"
              "\"batch_bytes\":%zu,\"rounds\":%d}\n",
              bytes / std::chrono::duration<double>(t1 - t0).count() / 1e6,
              bytes / std::chrono::duration<double>(t2 - t1).count() / 1e6,
              static_cast<double>(batch.size()) / static_cast<double>(packed.size()), batch.size(),
              rounds);
  return 0;
}
