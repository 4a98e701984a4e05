#pragma once
// One HTTP request from a test to a local service (an emulator's control API, hub2kusto's ops
// server). cpprestsdk stays inside http.cpp: its headers are heavy and define a macro `U` that
// breaks gtest's templates.
#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace hub2kusto::testing {

using Headers = std::vector<std::pair<std::string, std::string>>;

// {status, body}; status 0 when nothing answered, the body then says why.
std::pair<int, std::string> http_request(const std::string& base_url, const std::string& method,
                                         const std::string& path, const std::string& body = "",
                                         const Headers& headers = {},
                                         std::chrono::seconds timeout = std::chrono::seconds(60));

} // namespace hub2kusto::testing
