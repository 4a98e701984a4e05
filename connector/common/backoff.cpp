#include "common/backoff.hpp"

#include <algorithm>
#include <cmath>

namespace hub2kusto {

std::chrono::milliseconds Backoff::next() {
  const double initial = static_cast<double>(policy_.initial.count());
  const double cap = static_cast<double>(policy_.max.count());
  // pow grows past the cap quickly; clamp the exponent so it never overflows.
  const double grown =
      initial * std::pow(policy_.multiplier, static_cast<double>(std::min(attempts_, 64U)));
  const double base = std::min(grown, cap);
  ++attempts_;
  if (random_ == nullptr) {
    return std::chrono::milliseconds(static_cast<std::int64_t>(base));
  }
  const double jittered = base / 2.0 + (base / 2.0) * random_->uniform();
  return std::chrono::milliseconds(static_cast<std::int64_t>(jittered));
}

} // namespace hub2kusto
