#pragma once
// HTTP proxies: which one a connection to a host goes through, and what its URL says.
//
// The environment's HTTPS_PROXY (or https_proxy) is used unless NO_PROXY (or no_proxy) lists the
// host: comma-separated host names or domain suffixes (".example.com" and "example.com" both
// match sub.example.com), or "*" for every host. Loopback hosts never go through the
// environment's proxy. A proxy given in the configuration is used for every host NO_PROXY does
// not list, loopback included.
//
// Proxy URLs are http://[user[:password]@]host[:port][/]: the client speaks plain HTTP to the
// proxy and asks it for a tunnel (CONNECT); user and password, percent-decoded, go in a Basic
// Proxy-Authorization header. Errors and label() never contain the password.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "common/secret.hpp"

namespace hub2kusto {

struct ProxyUrl {
  std::string host;
  std::uint16_t port = 80;
  std::string user; // empty: no credentials
  Secret password;

  // host:port, for messages.
  std::string label() const;
};

// Errors say what is wrong with "the proxy URL" and never quote it.
Result<ProxyUrl> parse_proxy_url(std::string_view url);

// HTTPS_PROXY, then https_proxy; empty when neither is set.
std::string https_proxy_from_environment();

// Whether NO_PROXY (or no_proxy) lists `host`.
bool no_proxy_lists(std::string_view host);

// The proxy URL a connection to `host` uses: `configured` if given, else the environment's
// (see above); nullopt: connect directly.
std::optional<std::string> proxy_for(std::string_view host,
                                     const std::optional<std::string>& configured);

} // namespace hub2kusto
