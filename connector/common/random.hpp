#pragma once
// Randomness as an injected collaborator (docs/architecture.md, "Time and randomness"): backoff
// jitter asks a RandomSource, so tests can fix the draws and assert the exact delays.
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <random>
#include <string>

namespace hub2kusto {

class RandomSource {
public:
  virtual ~RandomSource() = default;
  // A number in [0, 1). Any thread.
  virtual double uniform() = 0;
};

// A Mersenne twister seeded from the operating system. Thread-safe.
class SystemRandom final : public RandomSource {
public:
  SystemRandom() : engine_(std::random_device{}()) {}
  double uniform() override {
    std::lock_guard lock(mutex_);
    return std::uniform_real_distribution<double>(0.0, 1.0)(engine_);
  }

private:
  std::mutex mutex_;
  std::mt19937_64 engine_;
};

// A random (version 4) UUID in its 36-character text form: ingestion source ids and request
// ids, unique across processes and restarts. Any thread.
inline std::string make_uuid() {
  thread_local std::mt19937_64 engine(std::random_device{}());
  const std::uint64_t hi = (engine() & 0xffffffffffff0fffULL) | 0x0000000000004000ULL; // version
  const std::uint64_t lo = (engine() & 0x3fffffffffffffffULL) | 0x8000000000000000ULL; // variant
  char text[37];
  std::snprintf(text, sizeof text, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xffff), static_cast<unsigned>(hi & 0xffff),
                static_cast<unsigned>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return text;
}

} // namespace hub2kusto
