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
  // The Proxy-Authorization value for the user and password: "Basic ..." (RFC 7617). A secret:
  // never log it.
  std::string basic_authorization() const;
};

// Errors say what is wrong with "the proxy URL" and never quote it.
Result<ProxyUrl> parse_proxy_url(std::string_view url);

// HTTPS_PROXY, then https_proxy; empty when neither is set.
std::string https_proxy_from_environment();
// HTTP_PROXY, then http_proxy (for plain http:// requests); empty when neither is set.
std::string http_proxy_from_environment();

// Whether NO_PROXY (or no_proxy) lists `host`.
bool no_proxy_lists(std::string_view host);

// The proxy URL a connection to `host` uses: `configured` if given, else the environment's
// (see above); nullopt: connect directly.
std::optional<std::string> proxy_for(std::string_view host,
                                     const std::optional<std::string>& configured);

// The proxy's answer to a CONNECT for a tunnel to `target` (host:port), as far as the tunnel
// depends on it (RFC 9110, section 9.3.6).
struct ConnectAnswer {
  unsigned status = 0;
  std::string_view reason;
  bool early_bytes = false; // bytes followed the answer before the tunnel was used
};
// Why the answer opened no tunnel, naming the proxy, the target and, when credentials were
// refused, the user (never the password); nullopt: the tunnel is open.
std::optional<std::string> tunnel_refusal(const ProxyUrl& proxy, std::string_view target,
                                          const ConnectAnswer& answer);
// The CONNECT got no answer; `error` says why.
std::string tunnel_unanswered(const ProxyUrl& proxy, std::string_view target,
                              std::string_view error);

} // namespace hub2kusto
