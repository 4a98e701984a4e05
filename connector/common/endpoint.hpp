#pragma once
// `scheme://host[:port][/path]` as found in connection strings. Deliberately small: hosts are
// DNS names, IPv4 literals or bracketed IPv6 literals; no user-info, query or fragment.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.hpp"

namespace hub2kusto {

struct Endpoint {
  std::string scheme; // lower-cased; may be empty when parse_host_port was used
  std::string host;   // as written (IPv6 without brackets)
  std::optional<std::uint16_t> port;
  std::string path; // without the leading '/', without a trailing '/'
};

// `what` names the setting in error messages, e.g. "'Endpoint'".
Result<Endpoint> parse_endpoint_uri(std::string_view text, std::string_view what);
// `host[:port]` without a scheme.
Result<Endpoint> parse_host_port(std::string_view text, std::string_view what);

bool is_loopback_host(std::string_view host);

// `host:port`, an IPv6 literal in brackets (`[::1]:443`), as URLs and messages write it.
std::string format_host_port(std::string_view host, std::uint16_t port);

} // namespace hub2kusto
