#include "common/proxy.hpp"

#include <cstdlib>

#include <fmt/format.h>

#include "base/text.hpp"
#include "common/encoding.hpp"
#include "common/endpoint.hpp"

namespace hub2kusto {
namespace {

std::string environment(const char* upper, const char* lower) {
  for (const char* name : {upper, lower}) {
    if (const char* v = std::getenv(name); v != nullptr && *v != '\0') {
      return v;
    }
  }
  return {};
}

} // namespace

std::string ProxyUrl::label() const {
  return format_host_port(host, port);
}

std::string ProxyUrl::basic_authorization() const {
  return "Basic " + encoding::base64_encode(fmt::format("{}:{}", user, password.reveal()));
}

Result<ProxyUrl> parse_proxy_url(std::string_view url) {
  constexpr std::string_view what = "the proxy URL";
  ProxyUrl out;
  std::string_view rest = url;
  const std::size_t scheme_end = rest.find("://");
  if (scheme_end != std::string_view::npos) {
    const std::string scheme = text::lower(rest.substr(0, scheme_end));
    if (scheme != "http") {
      return failure(fmt::format("{} has the scheme '{}'; only http:// proxies (which tunnel "
                                 "TLS with CONNECT) are supported",
                                 what, scheme));
    }
    rest.remove_prefix(scheme_end + 3);
  }
  // User information ends at the last '@' before the path: a password may contain '@' only
  // percent-encoded, but be lenient.
  const std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos && rest.substr(slash) != "/") {
    return failure(fmt::format("{} has a path (expected http://host:port)", what));
  }
  if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    const std::string_view info = authority.substr(0, at);
    authority.remove_prefix(at + 1);
    const std::size_t colon = info.find(':');
    auto user = encoding::percent_decode(info.substr(0, colon));
    auto password = encoding::percent_decode(
        colon == std::string_view::npos ? std::string_view() : info.substr(colon + 1));
    if (!user || !password || user->empty()) {
      return failure(fmt::format("{} has malformed user information (expected "
                                 "http://user:password@host:port, percent-encoded)",
                                 what));
    }
    out.user = std::move(*user);
    out.password = Secret(std::move(*password));
  }
  auto endpoint = parse_host_port(authority, what);
  if (!endpoint) {
    return failure(std::move(endpoint).error());
  }
  out.host = endpoint->host;
  out.port = endpoint->port.value_or(80);
  return out;
}

std::string https_proxy_from_environment() {
  return environment("HTTPS_PROXY", "https_proxy");
}

std::string http_proxy_from_environment() {
  return environment("HTTP_PROXY", "http_proxy");
}

bool no_proxy_lists(std::string_view host) {
  const std::string list = environment("NO_PROXY", "no_proxy");
  const std::string h = text::lower(host);
  std::string_view rest = list;
  while (!rest.empty()) {
    const std::size_t comma = rest.find(',');
    std::string entry = text::lower(text::trim(rest.substr(0, comma)));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (entry == "*") {
      return true;
    }
    if (!entry.empty() && entry.front() == '.') {
      entry.erase(0, 1);
    }
    if (!entry.empty() && (h == entry || (h.size() > entry.size() && h.ends_with("." + entry)))) {
      return true;
    }
  }
  return false;
}

std::optional<std::string> proxy_for(std::string_view host,
                                     const std::optional<std::string>& configured) {
  if (no_proxy_lists(host)) {
    return std::nullopt;
  }
  if (configured && !configured->empty()) {
    return configured;
  }
  if (is_loopback_host(host)) {
    return std::nullopt;
  }
  std::string from_environment = https_proxy_from_environment();
  if (from_environment.empty()) {
    return std::nullopt;
  }
  return from_environment;
}

std::optional<std::string> tunnel_refusal(const ProxyUrl& proxy, std::string_view target,
                                          const ConnectAnswer& answer) {
  const std::string said = fmt::format("{} {}", answer.status, answer.reason);
  // 407 is the standard answer; some proxies (tinyproxy among them) answer a CONNECT with 401.
  if (answer.status == 407 || answer.status == 401) {
    return proxy.user.empty()
               ? fmt::format("the proxy {} asks for credentials ({}); give them in the proxy URL "
                             "as http://user:password@host:port",
                             proxy.label(), said)
               : fmt::format("the proxy {} refused the credentials of user '{}' ({})",
                             proxy.label(), proxy.user, said);
  }
  if (answer.status == 403) {
    return fmt::format("the proxy {} refused a tunnel to {} ({})", proxy.label(), target, said);
  }
  if (answer.status / 100 != 2) {
    return fmt::format("the proxy {} could not open a tunnel to {} ({})", proxy.label(), target,
                       said);
  }
  if (answer.early_bytes) {
    return fmt::format("the proxy {} sent data before the tunnel to {} was used", proxy.label(),
                       target);
  }
  return std::nullopt;
}

std::string tunnel_unanswered(const ProxyUrl& proxy, std::string_view target,
                              std::string_view error) {
  return fmt::format("the proxy {} did not answer the CONNECT for {}: {}", proxy.label(), target,
                     error);
}

} // namespace hub2kusto
