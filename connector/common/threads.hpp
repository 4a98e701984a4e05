#pragma once
// Threads of a fixed-size pool, named as `top -H` and `ps -L` show them.
#include <cstddef>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace hub2kusto {

// Starts `count` threads that each run `body`, named `name` (Linux keeps 15 characters).
std::vector<std::thread> start_named_threads(std::size_t count, const std::string& name,
                                             const std::function<void()>& body);

// Joins each of `threads`.
void join_all(std::vector<std::thread>& threads);

} // namespace hub2kusto
