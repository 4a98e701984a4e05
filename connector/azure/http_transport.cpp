#include "azure/http_transport.hpp"

#include <algorithm>
#include <cctype>
#include <mutex>
#include <optional>
#include <unordered_map>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <fmt/format.h>

#include "base/text.hpp"
#include "common/endpoint.hpp"
#include "common/liveness.hpp"
#include "common/proxy.hpp"
#include "common/redact.hpp"
#include "common/tls_client.hpp"

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

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using Steady = std::chrono::steady_clock;

// The URL as it may appear in an error: no query (a SAS lives there).
std::string printable(const std::string& url) {
  return url.substr(0, url.find('?'));
}

// What a request needs of its absolute URL: scheme://host[:port][/path][?query].
struct Target {
  bool tls = false;
  std::string host; // an IPv6 literal without its brackets
  std::uint16_t port = 0;
  std::string resource; // /path?query, "/" at least

  std::string authority() const { return format_host_port(host, port); }
  // The Host header: the port only when it is not the scheme's.
  std::string host_header() const {
    const std::string a = authority();
    return port == (tls ? 443 : 80) ? a.substr(0, a.rfind(':')) : a;
  }
};

Result<Target> split_url(const std::string& url) {
  const auto scheme_end = url.find("://");
  const std::string scheme =
      scheme_end == std::string::npos ? std::string() : text::lower(url.substr(0, scheme_end));
  if (scheme != "http" && scheme != "https") {
    return failure(std::string("not an absolute http:// or https:// URL"));
  }
  const auto authority_start = scheme_end + 3;
  const auto authority_end = url.find_first_of("/?#", authority_start);
  const auto authority = std::string_view(url).substr(
      authority_start,
      authority_end == std::string::npos ? std::string::npos : authority_end - authority_start);
  auto endpoint = parse_host_port(authority, "the URL");
  if (!endpoint) {
    return failure(endpoint.error());
  }
  Target t;
  t.tls = scheme == "https";
  t.host = std::move(endpoint->host);
  t.port = endpoint->port.value_or(t.tls ? 443 : 80);
  t.resource = authority_end == std::string::npos ? "/" : url.substr(authority_end);
  if (t.resource.starts_with('#')) {
    t.resource = "/";
  } else if (t.resource.starts_with('?')) {
    t.resource.insert(0, "/");
  }
  if (const auto fragment = t.resource.find('#'); fragment != std::string::npos) {
    t.resource.resize(fragment);
  }
  return t;
}

// One kept-alive connection to an origin (or to a proxy for it). Its I/O runs on its own
// io_context, on the thread that sends the request: no hand-off to another thread, and each
// step bounded by the request's deadline.
struct Connection {
  asio::io_context io{1};
  beast::tcp_stream tcp{io};
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  Steady::time_point idle_since;

  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : tcp; }

  // Starts `start(handler)`, runs it to its end on this thread and returns its error.
  template <class Start> error_code run(Start start) {
    error_code result = asio::error::would_block;
    start([&result](error_code ec, auto&&...) { result = ec; });
    io.restart();
    io.run();
    return result;
  }

  template <class Message> error_code write(Message& message) {
    return tls ? run([&](auto h) { http::async_write(*tls, message, std::move(h)); })
               : run([&](auto h) { http::async_write(tcp, message, std::move(h)); });
  }

  template <class Parser> error_code read(Parser& parser) {
    return tls ? run([&](auto h) { http::async_read(*tls, buffer, parser, std::move(h)); })
               : run([&](auto h) { http::async_read(tcp, buffer, parser, std::move(h)); });
  }
};

std::string describe(const error_code& ec) {
  return ec == beast::error::timeout ? std::string("timed out") : ec.message();
}

// Idle connections older than this are closed rather than reused: servers end idle keep-alive
// connections after a while (Node's default, Azurite's, is 5 s), and a request written into one
// they are closing would have to be sent again.
constexpr auto max_idle = std::chrono::seconds(4);

// Boost.Beast over Boost.Asio and OpenSSL: HTTP/1.1 with keep-alive, connections pooled per
// origin and proxy, TLS verified against the system's (or the given) CAs and the host name, with
// SNI. A request whose kept-alive connection turns out closed before any answer is sent once
// more on a new connection, as browsers and cpprestsdk do.
class BeastTransport final : public HttpTransport {
public:
  explicit BeastTransport(HttpTransportOptions options) : options_(std::move(options)) {}

  HttpResponse send(const HttpRequest& request) override {
    Liveness::beat(); // a bounded wait (request.timeout): the calling thread goes on
    const auto deadline = Steady::now() + request.timeout;
    const auto target = split_url(request.url);
    if (!target) {
      return failed(request, target.error().message);
    }
    asio::ssl::context* tls = nullptr;
    if (target->tls) {
      std::string trust_problem;
      tls = tls_context(trust_problem);
      if (tls == nullptr) {
        return failed(request, trust_problem);
      }
    }
    const auto& route = route_for(*target);
    if (!route) {
      return failed(request, route.error().message);
    }
    const std::string& key = route->pool_key;
    const std::optional<ProxyUrl>& proxy = route->proxy;
    const auto message = request_message(request, *target, proxy);

    for (int attempt = 0;; ++attempt) {
      std::unique_ptr<Connection> c = attempt == 0 ? take_idle(key) : nullptr;
      const bool reused = c != nullptr;
      if (!c) {
        std::string why;
        c = open(*target, proxy, tls, deadline, why);
        if (!c) {
          return failed(request, why);
        }
      }
      c->lowest().expires_at(deadline);
      http::response_parser<http::string_body> parser;
      // Kusto's answers to queries may be large. (A number: Boost 1.74's parser takes
      // `boost::none` for a length above every limit.)
      parser.body_limit(std::uint64_t{1} << 30);
      parser.header_limit(64 * 1024);
      if (message.method() == http::verb::head) {
        parser.skip(true);
      }
      error_code ec = c->write(message);
      if (!ec) {
        ec = c->read(parser);
      }
      if (ec) {
        if (reused && attempt == 0 && !parser.got_some() && ec != beast::error::timeout) {
          continue; // the server had closed the kept-alive connection: once more, on a new one
        }
        return failed(request, ec == beast::error::timeout
                                   ? fmt::format("no answer within {} ms", request.timeout.count())
                                   : "the connection failed: " + ec.message());
      }
      auto response = parser.release();
      HttpResponse out;
      out.status = static_cast<int>(response.result_int());
      for (const auto& field : response) {
        const auto name = field.name_string();
        const auto value = field.value();
        out.headers.emplace_back(std::string(name.data(), name.size()),
                                 std::string(value.data(), value.size()));
      }
      const bool keep = response.keep_alive() && !response.need_eof();
      out.body = std::move(response.body());
      if (keep) {
        give_back(key, std::move(c));
      }
      return out;
    }
  }

private:
  using Message = http::request<http::span_body<const char>>;

  // How requests to one origin go, decided at its first request: the environment is read and
  // the proxy URL parsed once, not on every request.
  struct Route {
    std::optional<ProxyUrl> proxy; // the configured one or the environment's; never for
                                   // loopback or NO_PROXY hosts (common/proxy.hpp)
    std::string pool_key;          // origin and proxy: connections are kept per key
  };

  const Result<Route>& route_for(const Target& target) {
    std::string origin = fmt::format("{}://{}", target.tls ? "https" : "http", target.authority());
    std::lock_guard lock(mutex_);
    if (const auto it = routes_.find(origin); it != routes_.end()) {
      return it->second;
    }
    auto route = [&]() -> Result<Route> {
      const std::string url = options_.proxy.value_or(target.tls ? https_proxy_from_environment()
                                                                 : http_proxy_from_environment());
      if (url.empty() || is_loopback_host(target.host) || no_proxy_lists(target.host)) {
        return Route{.proxy = std::nullopt, .pool_key = origin};
      }
      auto proxy = parse_proxy_url(url);
      if (!proxy) {
        return failure(proxy.error());
      }
      std::string key = fmt::format("{} via {}", origin, proxy->label());
      return Route{.proxy = std::move(*proxy), .pool_key = std::move(key)};
    }();
    return routes_.emplace(std::move(origin), std::move(route)).first->second;
  }

  // The request as written on the wire; its body is a view of `request`'s.
  static Message request_message(const HttpRequest& request, const Target& target,
                                 const std::optional<ProxyUrl>& proxy) {
    // Absolute-form through a proxy for http://; https:// goes through a CONNECT tunnel.
    const bool absolute_form = proxy && !target.tls;
    Message message;
    if (const auto verb = http::string_to_verb(request.method); verb != http::verb::unknown) {
      message.method(verb);
    } else {
      message.method_string(request.method);
    }
    message.target(absolute_form ? request.url.substr(0, request.url.find('#')) : target.resource);
    message.version(11);
    message.set(http::field::host, target.host_header());
    message.set(http::field::user_agent, "hub2kusto");
    if (absolute_form && !proxy->user.empty()) {
      message.set(http::field::proxy_authorization, proxy->basic_authorization());
    }
    for (const auto& [name, value] : request.headers) {
      message.set(name, value); // ours replace the defaults above
    }
    message.body() = beast::span<const char>(request.body.data(), request.body.size());
    if (!request.body.empty() || message.method() == http::verb::post ||
        message.method() == http::verb::put) {
      message.prepare_payload();
    }
    return message;
  }

  static HttpResponse failed(const HttpRequest& request, const std::string& why) {
    HttpResponse out;
    out.transport_error =
        redact_text(fmt::format("{} {}: {}", request.method, printable(request.url), why));
    return out;
  }

  // The most recently used idle connection to `key` that is young enough to reuse.
  std::unique_ptr<Connection> take_idle(const std::string& key) {
    std::lock_guard lock(mutex_);
    const auto it = idle_.find(key);
    if (it == idle_.end()) {
      return nullptr;
    }
    close_stale(it->second);
    if (it->second.empty()) {
      return nullptr;
    }
    auto c = std::move(it->second.back());
    it->second.pop_back();
    return c;
  }

  void give_back(const std::string& key, std::unique_ptr<Connection> c) {
    c->idle_since = Steady::now();
    std::lock_guard lock(mutex_);
    auto& list = idle_[key];
    close_stale(list);
    list.push_back(std::move(c));
  }

  // Under the lock. Closes the connections idle for max_idle or longer: they are the oldest,
  // at the front, since connections are given back in the order they are last used.
  static void close_stale(std::vector<std::unique_ptr<Connection>>& list) {
    const auto now = Steady::now();
    const auto fresh = std::find_if(list.begin(), list.end(),
                                    [&](const auto& c) { return now - c->idle_since < max_idle; });
    list.erase(list.begin(), fresh);
  }

  // A new connection to the target, through the proxy if there is one, TLS done; nullptr with
  // `why` when it cannot be had before the deadline.
  std::unique_ptr<Connection> open(const Target& target, const std::optional<ProxyUrl>& proxy,
                                   asio::ssl::context* tls, Steady::time_point deadline,
                                   std::string& why) {
    auto c = std::make_unique<Connection>();
    const std::string& host = proxy ? proxy->host : target.host;
    const std::uint16_t port = proxy ? proxy->port : target.port;
    const std::string where = proxy ? fmt::format("the proxy {}", proxy->label())
                                    : format_host_port(target.host, target.port);
    error_code ec;
    // getaddrinfo on this thread: Asio's asynchronous resolver would start a thread per
    // io_context, and a request that waits for its answer waits either way.
    const auto endpoints = tcp::resolver(c->io).resolve(host, std::to_string(port), ec);
    if (ec) {
      why = fmt::format("cannot resolve {}: {}", where, ec.message());
      return nullptr;
    }
    c->tcp.expires_at(deadline);
    ec = c->run([&](auto h) { c->tcp.async_connect(endpoints, std::move(h)); });
    if (ec) {
      why = fmt::format("cannot connect to {}: {}", where, describe(ec));
      return nullptr;
    }
    error_code ignored;
    c->tcp.socket().set_option(tcp::no_delay(true), ignored);
    if (proxy && target.tls && !tunnel(*c, target, *proxy, why)) {
      return nullptr;
    }
    if (target.tls) {
      c->tls.emplace(std::move(c->tcp), *tls);
      SSL_set_tlsext_host_name(c->tls->native_handle(), target.host.c_str());
      c->tls->set_verify_callback(asio::ssl::host_name_verification(target.host));
      ec = c->run([&](auto h) { c->tls->async_handshake(asio::ssl::stream_base::client, h); });
      if (ec) {
        why = fmt::format("the TLS handshake with {} failed: {}", target.authority(), describe(ec));
        return nullptr;
      }
    }
    return c;
  }

  // HTTP CONNECT: the proxy opens a TCP tunnel to the target, or says why not.
  static bool tunnel(Connection& c, const Target& target, const ProxyUrl& proxy, std::string& why) {
    http::request<http::empty_body> connect(http::verb::connect, target.authority(), 11);
    connect.set(http::field::host, target.authority());
    connect.set(http::field::user_agent, "hub2kusto");
    if (!proxy.user.empty()) {
      connect.set(http::field::proxy_authorization, proxy.basic_authorization());
    }
    http::response_parser<http::empty_body> reply;
    reply.skip(true); // a CONNECT answer has no body
    error_code ec = c.run([&](auto h) { http::async_write(c.tcp, connect, std::move(h)); });
    if (!ec) {
      ec = c.run([&](auto h) { http::async_read_header(c.tcp, c.buffer, reply, std::move(h)); });
    }
    if (ec) {
      why = tunnel_unanswered(proxy, target.authority(), describe(ec));
      return false;
    }
    const auto reason = reply.get().reason();
    if (auto refusal = tunnel_refusal(proxy, target.authority(),
                                      {.status = reply.get().result_int(),
                                       .reason = std::string_view(reason.data(), reason.size()),
                                       .early_bytes = c.buffer.size() != 0})) {
      why = std::move(*refusal);
      return false;
    }
    return true;
  }

  // The TLS settings, made at the first https:// request: loading the trusted CAs reads the
  // whole system bundle (tens of milliseconds), which a transport for http:// only never needs.
  // nullptr, with the reason, when the CAs cannot be loaded.
  asio::ssl::context* tls_context(std::string& problem) {
    std::lock_guard lock(mutex_);
    if (!tls_context_ && trust_problem_.empty()) {
      tls_context_ = make_tls_client_context(options_.ca_file, trust_problem_);
    }
    problem = trust_problem_;
    return tls_context_ ? &*tls_context_ : nullptr;
  }

  HttpTransportOptions options_;
  std::mutex mutex_;                              // guards what follows
  std::optional<asio::ssl::context> tls_context_; // outlives every connection's TLS stream
  std::string trust_problem_;
  std::unordered_map<std::string, Result<Route>> routes_; // by origin; never erased
  std::unordered_map<std::string, std::vector<std::unique_ptr<Connection>>> idle_;
};

} // namespace

std::unique_ptr<HttpTransport> make_http_transport(HttpTransportOptions options) {
  return std::make_unique<BeastTransport>(std::move(options));
}

} // namespace hub2kusto::azure
