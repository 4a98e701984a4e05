#include "azure/http_transport.hpp"

#include <cctype>
#include <cstdlib>
#include <map>
#include <mutex>
#include <tuple>

// fmt before cpprestsdk: cpprestsdk defines a macro `U`, which breaks fmt's templates.
#include <fmt/format.h>

#include <cpprest/http_client.h>
#include <pplx/threadpool.h>

#include "base/text.hpp"
#include "common/endpoint.hpp"
#include "common/key_value_list.hpp"
#include "common/liveness.hpp"
#include "common/proxy.hpp"
#include "common/redact.hpp"

namespace hub2kusto::azure {

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      return v;
    }
  }
  return std::nullopt;
}

std::string url_encode(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3);
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 0xf]);
    }
  }
  return out;
}

namespace {

std::string env(const char* upper, const char* lower_name) {
  if (const char* v = std::getenv(upper); v != nullptr && *v != '\0') {
    return v;
  }
  if (const char* v = std::getenv(lower_name); v != nullptr && *v != '\0') {
    return v;
  }
  return {};
}

// Loopback is never proxied; NO_PROXY lists the rest (common/proxy.hpp).
bool bypasses_proxy(const std::string& host) {
  return is_loopback_host(host) || host == "[::1]" || no_proxy_lists(host);
}

// The URL as it may appear in an error: no query (a SAS lives there).
std::string printable(const std::string& url) {
  return url.substr(0, url.find('?'));
}

} // namespace

void set_http_io_threads(std::size_t threads) {
  try {
    crossplat::threadpool::initialize_with_threads(threads);
  } catch (const std::exception&) {
    // Already running: the threads it has stay.
  }
}

namespace {

class CppRestTransport final : public HttpTransport {
public:
  explicit CppRestTransport(HttpTransportOptions options) : options_(std::move(options)) {}

  HttpResponse send(const HttpRequest& request) override {
    Liveness::beat(); // a bounded wait (request.timeout): the calling thread goes on
    HttpResponse out;
    try {
      const web::uri uri(utility::conversions::to_string_t(request.url));
      auto& client = client_for(uri, request.timeout);
      web::http::http_request r(utility::conversions::to_string_t(request.method));
      r.set_request_uri(uri.resource());
      if (!request.body.empty() || request.method == "POST" || request.method == "PUT") {
        r.set_body(std::vector<unsigned char>(request.body.begin(), request.body.end()));
      }
      for (const auto& [k, v] : request.headers) {
        r.headers().remove(k); // ours replace cpprestsdk's defaults (Content-Type)
        r.headers().add(k, v);
      }
      auto response = client.request(r).get();
      out.status = response.status_code();
      for (const auto& [k, v] : response.headers()) {
        out.headers.emplace_back(k, v);
      }
      const auto bytes = response.extract_vector().get();
      out.body.assign(bytes.begin(), bytes.end());
    } catch (const std::exception& e) {
      out.status = 0;
      out.body.clear();
      out.transport_error =
          redact_text(fmt::format("{} {}: {}", request.method, printable(request.url), e.what()));
    }
    return out;
  }

private:
  web::http::client::http_client& client_for(const web::uri& uri,
                                             std::chrono::milliseconds timeout) {
    const int port = uri.port() > 0 ? uri.port() : (uri.scheme() == "https" ? 443 : 80);
    const std::string origin = fmt::format("{}://{}:{}", uri.scheme(), uri.host(), port);
    std::lock_guard lock(mutex_);
    const auto key = std::make_pair(origin, timeout.count());
    if (auto it = clients_.find(key); it != clients_.end()) {
      return *it->second;
    }
    web::http::client::http_client_config config;
    config.set_timeout(std::chrono::duration_cast<std::chrono::microseconds>(timeout));
    config.set_validate_certificates(true);
    if (!options_.ca_file.empty()) {
      const std::string ca = options_.ca_file;
      config.set_ssl_context_callback(
          [ca](boost::asio::ssl::context& context) { context.load_verify_file(ca); });
    }
    std::string proxy =
        options_.proxy.value_or(uri.scheme() == "https" ? env("HTTPS_PROXY", "https_proxy")
                                                        : env("HTTP_PROXY", "http_proxy"));
    if (!proxy.empty() && !bypasses_proxy(uri.host())) {
      config.set_proxy(web::web_proxy(utility::conversions::to_string_t(proxy)));
    }
    auto client = std::make_unique<web::http::client::http_client>(
        web::uri_builder().set_scheme(uri.scheme()).set_host(uri.host()).set_port(port).to_uri(),
        config);
    auto& ref = *client;
    clients_.emplace(key, std::move(client));
    return ref;
  }

  HttpTransportOptions options_;
  std::mutex mutex_;
  std::map<std::pair<std::string, std::int64_t>, std::unique_ptr<web::http::client::http_client>>
      clients_;
};

} // namespace

std::unique_ptr<HttpTransport> make_cpprest_transport(HttpTransportOptions options) {
  return std::make_unique<CppRestTransport>(std::move(options));
}

} // namespace hub2kusto::azure
