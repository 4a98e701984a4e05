#include "common/threads.hpp"

#include <pthread.h>

namespace hub2kusto {

std::vector<std::thread> start_named_threads(std::size_t count, const std::string& name,
                                             const std::function<void()>& body) {
  std::vector<std::thread> threads;
  threads.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    threads.emplace_back(body);
    // A longer name is refused, not cut: cut it here.
    (void)pthread_setname_np(threads.back().native_handle(), name.substr(0, 15).c_str());
  }
  return threads;
}

void join_all(std::vector<std::thread>& threads) {
  for (auto& t : threads) {
    if (t.joinable()) {
      t.join();
    }
  }
}

} // namespace hub2kusto
