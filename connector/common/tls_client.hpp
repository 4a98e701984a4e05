#pragma once
// The trust of every TLS client connection (the hub's amqps:// and wss://, HTTPS requests): the
// peer's certificate chain verified against a CA file, or the system's store. Header-only, for
// the .cpp files that already use Boost.Asio's SSL streams; the host name check and SNI are
// set per connection.

#include <optional>
#include <string>

#include <boost/asio/ssl/context.hpp>
#include <fmt/format.h>

namespace hub2kusto {

// A client context trusting `ca_file` (empty: the system's CAs); nullopt, with the reason in
// `problem`, when they cannot be loaded.
inline std::optional<boost::asio::ssl::context> make_tls_client_context(const std::string& ca_file,
                                                                        std::string& problem) {
  boost::asio::ssl::context context(boost::asio::ssl::context::tls_client);
  context.set_verify_mode(boost::asio::ssl::verify_peer);
  boost::system::error_code ec;
  if (ca_file.empty()) {
    context.set_default_verify_paths(ec);
  } else {
    context.load_verify_file(ca_file, ec);
  }
  if (ec) {
    problem = ca_file.empty()
                  ? fmt::format("cannot load the system's trusted CAs: {}", ec.message())
                  : fmt::format("cannot load the CA file '{}': {}", ca_file, ec.message());
    return std::nullopt;
  }
  return context;
}

} // namespace hub2kusto
