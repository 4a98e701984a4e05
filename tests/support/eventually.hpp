#pragma once
// Waiting for a condition in an integration test: polls `done` until it holds or `limit`
// passes. What is waited for happens on another thread or in another process (an emulator,
// hub2kusto), so this is a deadline on a condition, not a sleep used as synchronisation.
#include <chrono>
#include <functional>
#include <thread>

namespace hub2kusto::testing {

inline bool eventually(const std::function<bool()>& done,
                       std::chrono::milliseconds limit = std::chrono::seconds(30),
                       std::chrono::milliseconds every = std::chrono::milliseconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(every);
  }
  return true;
}

} // namespace hub2kusto::testing
