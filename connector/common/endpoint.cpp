#include "common/endpoint.hpp"

#include <charconv>

#include <fmt/format.h>

namespace hub2kusto {
namespace {

bool valid_host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

} // namespace

Result<Endpoint> parse_host_port(std::string_view text, std::string_view what) {
  Endpoint ep;
  std::string_view rest = text;
  if (rest.empty()) {
    return failure(fmt::format("{} has no host", what));
  }
  if (rest.front() == '[') {
    const std::size_t close = rest.find(']');
    if (close == std::string_view::npos) {
      return failure(fmt::format("{} has an IPv6 host without a closing ']'", what));
    }
    ep.host = std::string(rest.substr(1, close - 1));
    rest.remove_prefix(close + 1);
  } else {
    const std::size_t colon = rest.find(':');
    ep.host = std::string(rest.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon);
    for (const char c : ep.host) {
      if (!valid_host_char(c)) {
        return failure(fmt::format("{} has an invalid character in its host name", what));
      }
    }
  }
  if (ep.host.empty()) {
    return failure(fmt::format("{} has no host", what));
  }
  if (!rest.empty()) {
    if (rest.front() != ':' || rest.size() == 1) {
      return failure(fmt::format("{} has text after the host that is not ':<port>'", what));
    }
    rest.remove_prefix(1);
    unsigned port = 0;
    const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), port);
    if (ec != std::errc() || end != rest.data() + rest.size() || port == 0 || port > 65535) {
      return failure(fmt::format("{} has a port that is not a number from 1 to 65535", what));
    }
    ep.port = static_cast<std::uint16_t>(port);
  }
  return ep;
}

Result<Endpoint> parse_endpoint_uri(std::string_view text, std::string_view what) {
  const std::size_t sep = text.find("://");
  if (sep == std::string_view::npos || sep == 0) {
    return failure(fmt::format("{} must be a URI with a scheme, like sb://<host>/", what));
  }
  std::string scheme;
  for (const char c : text.substr(0, sep)) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '+' || c == '-' || c == '.')) {
      return failure(fmt::format("{} has an invalid URI scheme", what));
    }
    scheme += static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
  }
  std::string_view rest = text.substr(sep + 3);
  const std::size_t slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  std::string_view path =
      slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
  if (authority.find_first_of("@?#") != std::string_view::npos ||
      path.find_first_of("?#") != std::string_view::npos) {
    return failure(
        fmt::format("{} must not contain user information, a query or a fragment", what));
  }
  auto ep = parse_host_port(authority, what);
  if (!ep) {
    return ep;
  }
  while (!path.empty() && path.back() == '/') {
    path.remove_suffix(1);
  }
  ep->scheme = std::move(scheme);
  ep->path = std::string(path);
  return ep;
}

bool is_loopback_host(std::string_view host) {
  return host == "localhost" || host == "::1" || host.substr(0, 4) == "127.";
}

std::string format_host_port(std::string_view host, std::uint16_t port) {
  return host.find(':') != std::string_view::npos ? fmt::format("[{}]:{}", host, port)
                                                  : fmt::format("{}:{}", host, port);
}

} // namespace hub2kusto
