#pragma once
// The HTTP client behind every ingest, storage and token request: a small interface so the
// ingestors and token providers are tested against a fake, and one implementation on
// Boost.Beast.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hub2kusto::azure {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";
  std::string url; // absolute: scheme://host[:port]/path?query
  Headers headers;
  std::string body;
  std::chrono::milliseconds timeout{60'000};
};

struct HttpResponse {
  int status = 0;              // 0: no response at all (see transport_error)
  std::string transport_error; // connect, TLS or timeout failure, without secrets
  Headers headers;
  std::string body;

  // The first header named `name` (case-insensitive).
  std::optional<std::string> header(std::string_view name) const;
};

class HttpTransport {
public:
  virtual ~HttpTransport() = default;
  // Any thread. Never throws: failures come back as status 0 with transport_error.
  virtual HttpResponse send(const HttpRequest& request) = 0;
};

struct HttpTransportOptions {
  std::string ca_file; // empty: the system trust store
  // A proxy for https and http URLs; empty: HTTPS_PROXY / HTTP_PROXY (either case) from the
  // environment, except for hosts listed in NO_PROXY.
  std::optional<std::string> proxy;
};

// Boost.Beast: HTTP/1.1 on the calling thread (no I/O threads of its own), connections kept
// alive per origin; TLS verified (host name included, SNI); bodies and headers passed as given,
// with Host, User-Agent and Content-Length added unless given.
std::unique_ptr<HttpTransport> make_http_transport(HttpTransportOptions options = {});

// Form encoding (application/x-www-form-urlencoded) and percent-encoding of URL parts.
std::string url_encode(std::string_view text);

} // namespace hub2kusto::azure
