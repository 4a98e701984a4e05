#pragma once
// Exponential backoff with full jitter for reconnects and re-attaches: attempt n waits a
// uniformly random time in [base/2, base] where base = min(initial * multiplier^n, max), so
// many clients that lost the same service do not return in step. The random draw comes from an
// injected RandomSource (docs/architecture.md, "Time and randomness").
#include <chrono>
#include <cstdint>

#include "common/random.hpp"

namespace hub2kusto::hub {

struct BackoffPolicy {
  std::chrono::milliseconds initial{200};
  std::chrono::milliseconds max{30'000};
  double multiplier = 2.0;
};

class Backoff {
public:
  Backoff(BackoffPolicy policy, RandomSource& random) : policy_(policy), random_(&random) {}

  // The delay before the next attempt; each call counts one more failure.
  std::chrono::milliseconds next();
  // After a success: the next failure starts from `initial` again.
  void reset() { attempts_ = 0; }
  std::uint32_t attempts() const { return attempts_; }

private:
  BackoffPolicy policy_;
  RandomSource* random_;
  std::uint32_t attempts_ = 0;
};

} // namespace hub2kusto::hub
