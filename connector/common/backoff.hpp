#pragma once
// Exponential backoff, the one rule every retry in the service follows: attempt n waits
// base = min(initial * multiplier^n, max). With a RandomSource the wait is jittered, a uniformly
// random time in [base/2, base], so many clients that lost the same service do not return in
// step (reconnects, re-attaches, streaming retries); without one it is exactly base (a held
// batch or a refusing store, where the waits are part of what the operator sees). The random
// draw is injected (docs/architecture.md, "Time and randomness").
#include <chrono>
#include <cstdint>

#include "common/random.hpp"

namespace hub2kusto {

struct BackoffPolicy {
  std::chrono::milliseconds initial{200};
  std::chrono::milliseconds max{30'000};
  double multiplier = 2.0;
};

class Backoff {
public:
  // Jittered.
  Backoff(BackoffPolicy policy, RandomSource& random) : policy_(policy), random_(&random) {}
  // Exact: initial, then multiplied up to max.
  explicit Backoff(BackoffPolicy policy) : policy_(policy), random_(nullptr) {}

  // The delay before the next attempt; each call counts one more failure.
  std::chrono::milliseconds next();
  // After a success: the next failure starts from `initial` again.
  void reset() { attempts_ = 0; }
  std::uint32_t attempts() const { return attempts_; }

private:
  BackoffPolicy policy_;
  RandomSource* random_; // null: no jitter
  std::uint32_t attempts_ = 0;
};

} // namespace hub2kusto
