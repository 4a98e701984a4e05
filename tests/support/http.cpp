#include "support/http.hpp"

#include <exception>

#include <cpprest/http_client.h>

namespace hub2kusto::testing {

std::pair<int, std::string> http_request(const std::string& base_url, const std::string& method,
                                         const std::string& path, const std::string& body,
                                         const Headers& headers, std::chrono::seconds timeout) {
  try {
    web::http::client::http_client_config config;
    config.set_timeout(timeout);
    web::http::client::http_client client(base_url, config);
    web::http::http_request r(method);
    r.set_request_uri(path);
    if (!body.empty()) {
      r.set_body(body, "application/json");
    }
    for (const auto& [name, value] : headers) {
      r.headers().add(name, value);
    }
    auto response = client.request(r).get();
    return {response.status_code(), response.extract_utf8string(true).get()};
  } catch (const std::exception& e) {
    return {0, e.what()};
  }
}

} // namespace hub2kusto::testing
