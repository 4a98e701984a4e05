#pragma once
// Randomness as an injected collaborator (STYLE.md principle 11): backoff jitter asks a
// RandomSource, so tests can fix the draws and assert the exact delays.
#include <mutex>
#include <random>

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

} // namespace hub2kusto
