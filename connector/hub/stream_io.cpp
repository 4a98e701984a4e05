// AmqpIo over Boost.Asio streams and a Proton connection driver (amqp_io.hpp).
//
// One connection's life:
//   resolve -> TCP connect (to the proxy, if any)
//     -> proxy: CONNECT <host>:<port>, Basic credentials from the proxy URL; 200 opens the tunnel
//     -> TLS (OpenSSL through Asio, verified, with SNI) unless plain
//     -> WebSockets: the upgrade to `path` with the subprotocol AMQPWSB10; each binary message
//        carries AMQP bytes. AMQP: the bytes as they are
//     -> established: one read and one write in flight at a time, Proton's buffers copied
//        in and out (so Proton may grow or move them while Asio waits); on the way out, the
//        receivers' attach frames get the route's desired capabilities (attach_capabilities.hpp)
// Every failure before or after becomes the transport's error condition and closes it, so the
// connection ends the way Proton's own I/O ends one: PN_TRANSPORT_ERROR, PN_TRANSPORT_CLOSED.
#include <chrono>
#include <cstring>
#include <functional>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffered_read_stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <fmt/format.h>

#include <proton/connection_driver.h>

#include "common/endpoint.hpp"
#include "common/tls_client.hpp"
#include "hub/amqp_io.hpp"
#include "hub/attach_capabilities.hpp"

namespace hub2kusto::hub {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using Done = std::function<void(error_code, std::size_t)>;

constexpr const char* kSubprotocol = "AMQPWSB10";
constexpr std::size_t kReadSize = 64 * 1024;
// Ready handlers run after the one run_once() waited for, before events are dispatched.
constexpr int kReadyHandlers = 64;
// From the first packet to an open tunnel or WebSocket; after that, AMQP's idle timeout.
constexpr std::chrono::seconds kEstablishDeadline{30};

std::string text_of(beast::string_view s) {
  return {s.data(), s.size()};
}

// The established byte path under the AMQP transport.
class Layer {
public:
  virtual ~Layer() = default;
  virtual void read_some(asio::mutable_buffer into, Done done) = 0;
  virtual void write(asio::const_buffer bytes, Done done) = 0;
  virtual void close() = 0;
};

// ws://: a TCP socket read ahead in large pieces. Beast reads a frame's header into a small
// buffer of its own and then the payload, so a peer that sends small frames would cost two
// system calls per frame without it; TLS (wss://) reads ahead in records already.
// Closing the WebSocket closes the TCP socket under it, as for a bare socket.
class ReadAhead : public beast::buffered_read_stream<tcp::socket, beast::flat_buffer> {
public:
  using buffered_read_stream::buffered_read_stream;

  friend void teardown(beast::role_type role, ReadAhead& stream, error_code& ec) {
    websocket::teardown(role, stream.next_layer(), ec);
  }
  template <class Handler>
  friend void async_teardown(beast::role_type role, ReadAhead& stream, Handler&& handler) {
    websocket::async_teardown(role, stream.next_layer(), std::forward<Handler>(handler));
  }
};
using Tls = beast::ssl_stream<tcp::socket>;
using Opened = std::function<void(std::string)>; // empty, or why the layer could not open

// TLS as a client of `route`: SNI, and the certificate must name the host.
void tls_handshake(Tls& tls, const AmqpRoute& route, Opened done) {
  SSL_set_tlsext_host_name(tls.native_handle(), route.hostname.c_str());
  tls.set_verify_callback(asio::ssl::host_name_verification(route.hostname));
  tls.async_handshake(
      asio::ssl::stream_base::client, [route, done = std::move(done)](error_code ec) {
        done(ec ? fmt::format("the TLS handshake with {} failed: {}",
                              format_host_port(route.hostname, route.port), ec.message())
                : std::string());
      });
}

// AMQP's bytes as they are over `Stream`: a TCP socket (amqp://), or TLS over one (amqps://),
// OpenSSL through Asio under the transport, so that the frames are still the io's to see
// (attach_capabilities.hpp).
template <class Stream> class ByteLayer final : public Layer {
public:
  template <class... Args>
  explicit ByteLayer(Args&&... args) : stream_(std::forward<Args>(args)...) {}

  void open(const AmqpRoute& route, Opened done) requires std::is_same_v<Stream, Tls> {
    tls_handshake(stream_, route, std::move(done));
  }
  void read_some(asio::mutable_buffer into, Done done) override {
    stream_.async_read_some(into, std::move(done));
  }
  void write(asio::const_buffer bytes, Done done) override {
    asio::async_write(stream_, bytes, std::move(done));
  }
  void close() override {
    error_code ignored;
    beast::get_lowest_layer(stream_).close(ignored);
  }

private:
  Stream stream_;
};

// AMQP in binary WebSocket messages over `Next`: ReadAhead (ws://) or Tls (wss://).
template <class Next> class WebSocketLayer final : public Layer {
public:
  template <class... Args>
  explicit WebSocketLayer(Args&&... args) : ws_(std::forward<Args>(args)...) {
    if constexpr (std::is_same_v<Next, ReadAhead>) {
      ws_.next_layer().capacity(kReadSize);
      ws_.next_layer().buffer().reserve(kReadSize); // else each read asks for 512 bytes
    }
  }

  // TLS (wss://), then the upgrade.
  void open(const AmqpRoute& route, Opened done) {
    if constexpr (std::is_same_v<Next, ReadAhead>) {
      upgrade(route, std::move(done));
    } else {
      tls_handshake(ws_.next_layer(), route,
                    [this, route, done = std::move(done)](std::string why) mutable {
                      if (!why.empty()) {
                        done(std::move(why));
                        return;
                      }
                      upgrade(route, std::move(done));
                    });
    }
  }

  void read_some(asio::mutable_buffer into, Done done) override {
    ws_.async_read_some(into, std::move(done));
  }
  void write(asio::const_buffer bytes, Done done) override {
    ws_.async_write(bytes, std::move(done));
  }
  void close() override {
    error_code ignored;
    beast::get_lowest_layer(ws_).close(ignored);
  }

private:
  void upgrade(const AmqpRoute& route, Opened done) {
    ws_.set_option(websocket::stream_base::decorator([](websocket::request_type& request) {
      request.set(http::field::sec_websocket_protocol, kSubprotocol);
      request.set(http::field::user_agent, "hub2kusto");
    }));
    ws_.binary(true);
    const std::string url =
        fmt::format("{}://{}{}", route.tls ? "wss" : "ws",
                    format_host_port(route.hostname, route.port), *route.websocket_path);
    ws_.async_handshake(
        response_, format_host_port(route.hostname, route.port), *route.websocket_path,
        [this, url, done = std::move(done)](error_code ec) {
          if (ec == websocket::error::upgrade_declined) {
            done(fmt::format("{} refused the WebSocket upgrade: {} {}", url, response_.result_int(),
                             text_of(response_.reason())));
          } else if (ec) {
            done(fmt::format("the WebSocket upgrade at {} failed: {}", url, ec.message()));
          } else if (text_of(response_[http::field::sec_websocket_protocol]) != kSubprotocol) {
            done(
                fmt::format("{} did not agree to the WebSocket subprotocol {}", url, kSubprotocol));
          } else {
            done({});
          }
        });
  }

  websocket::stream<Next> ws_;
  websocket::response_type response_;
};

// One connection, from the first packet to its transport's end.
class Connection final : public std::enable_shared_from_this<Connection> {
public:
  Connection(asio::io_context& io, asio::ssl::context* tls, AmqpIo::Handler& handler,
             pn_connection_t* connection, pn_transport_t* transport, AmqpRoute route)
      : tls_(tls), handler_(handler), route_(std::move(route)),
        outgoing_(route_.receiver_capabilities), resolver_(io), socket_(io), deadline_(io),
        read_buffer_(kReadSize) {
    pn_connection_driver_init(&driver_, connection, transport);
    pn_connection_driver_bind(&driver_);
  }
  ~Connection() { pn_connection_driver_destroy(&driver_); } // frees connection and transport
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Connects, unless `problem` says why it cannot: then the connection ends with it.
  void start(std::string problem) {
    if (!problem.empty()) {
      asio::post(deadline_.get_executor(),
                 [self = shared_from_this(), problem] { self->fail(problem); });
      return;
    }
    deadline_.expires_after(kEstablishDeadline);
    deadline_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec && self->layer_ == nullptr && !self->ended_) {
        self->fail(fmt::format("no connection to {} within {} s", self->destination(),
                               kEstablishDeadline.count()));
      }
    });
    const std::string& host = route_.proxy ? route_.proxy->host : route_.network_host;
    const std::uint16_t port = route_.proxy ? route_.proxy->port : route_.port;
    resolver_.async_resolve(
        host, std::to_string(port),
        [self = shared_from_this()](error_code ec, const tcp::resolver::results_type& found) {
          self->on_resolved(ec, found);
        });
    pump();
  }

  bool ended() const { return ended_; }
  pn_connection_t* connection() const { return driver_.connection; }

  // Idle-timeout bookkeeping: heartbeats out, a silent peer noticed.
  void tick() {
    if (!ended_) {
      const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now().time_since_epoch());
      pn_transport_tick(driver_.transport, now.count());
    }
  }

  // Hands every pending event to the handler, writes what the transport produced, keeps a
  // read in flight, and notices the end.
  void pump() {
    if (ended_) {
      return;
    }
    while (true) {
      while (pn_event_t* e = pn_connection_driver_next_event(&driver_)) {
        handler_.handle(e);
      }
      if (layer_ == nullptr || writing_) {
        break;
      }
      const pn_bytes_t out = pn_connection_driver_write_buffer(&driver_);
      if (out.size == 0) {
        break;
      }
      write_buffer_.clear();
      outgoing_.rewrite({out.start, out.size}, write_buffer_);
      pn_connection_driver_write_done(&driver_, out.size); // may raise events: go round again
      if (write_buffer_.empty()) {
        continue; // the start of a frame, kept back until its rest is written
      }
      writing_ = true;
      layer_->write(asio::buffer(write_buffer_), [self = shared_from_this()](error_code ec,
                                                                             std::size_t) {
        self->writing_ = false;
        if (self->ended_) {
          return;
        }
        if (ec) {
          self->fail(fmt::format("writing to {} failed: {}", self->destination(), ec.message()));
          return;
        }
        self->pump();
      });
    }
    read_more();
    if (pn_connection_driver_finished(&driver_) && !writing_) {
      ended_ = true;
      deadline_.cancel();
      resolver_.cancel();
      error_code ignored;
      socket_.close(ignored);
      // Whichever holds the socket now: the established layer, or one still in its TLS or
      // WebSocket handshake (whose pending operation would otherwise wait for the peer).
      for (const auto* layer : {&layer_, &opening_}) {
        if (*layer != nullptr) {
          (*layer)->close();
        }
      }
    }
  }

private:
  // Keeps one read in flight while the transport takes input.
  void read_more() {
    if (layer_ == nullptr || reading_ || ended_ || pn_connection_driver_read_closed(&driver_)) {
      return;
    }
    reading_ = true;
    layer_->read_some(asio::buffer(read_buffer_),
                      [self = shared_from_this()](error_code ec, std::size_t n) {
                        self->reading_ = false;
                        if (!self->ended_) {
                          self->on_read(ec, n);
                        }
                      });
  }

  std::string destination() const {
    return route_.proxy ? fmt::format("{} through the proxy {}",
                                      format_host_port(route_.network_host, route_.port),
                                      route_.proxy->label())
                        : format_host_port(route_.network_host, route_.port);
  }

  // The connection cannot go on: the transport ends with `why` as its error.
  void fail(const std::string& why) {
    if (ended_) {
      return;
    }
    pn_connection_driver_errorf(&driver_, "proton:io", "%s", why.c_str());
    pn_connection_driver_close(&driver_);
    writing_ = false; // nothing more is written; a write in flight ends with the socket
    pump();
  }

  void on_resolved(error_code ec, const tcp::resolver::results_type& found) {
    if (ended_) {
      return;
    }
    if (ec) {
      fail(route_.proxy
               ? fmt::format("cannot resolve the proxy {}: {}", route_.proxy->label(), ec.message())
               : fmt::format("cannot resolve {}: {}", route_.network_host, ec.message()));
      return;
    }
    asio::async_connect(socket_, found, [self = shared_from_this()](error_code e, const auto&) {
      if (self->ended_) {
        return;
      }
      if (e) {
        self->fail(self->route_.proxy
                       ? fmt::format("cannot connect to the proxy {}: {}",
                                     self->route_.proxy->label(), e.message())
                       : fmt::format("cannot connect to {}: {}", self->destination(), e.message()));
        return;
      }
      error_code ignored;
      self->socket_.set_option(tcp::no_delay(true), ignored);
      if (self->route_.proxy) {
        self->open_tunnel();
      } else {
        self->open_layer();
      }
    });
  }

  // HTTP CONNECT: the proxy opens a TCP tunnel to the hub, or says why not.
  void open_tunnel() {
    const ProxyUrl& proxy = *route_.proxy;
    const std::string target = format_host_port(route_.network_host, route_.port);
    proxy_request_ =
        fmt::format("CONNECT {0} HTTP/1.1\r\nHost: {0}\r\nUser-Agent: hub2kusto\r\n", target);
    if (!proxy.user.empty()) {
      proxy_request_ += fmt::format("Proxy-Authorization: {}\r\n", proxy.basic_authorization());
    }
    proxy_request_ += "\r\n";
    asio::async_write(socket_, asio::buffer(proxy_request_),
                      [self = shared_from_this()](error_code ec, std::size_t) {
                        self->proxy_request_.assign(self->proxy_request_.size(), '\0');
                        if (self->ended_) {
                          return;
                        }
                        if (ec) {
                          self->fail(fmt::format("the proxy {} closed the connection: {}",
                                                 self->route_.proxy->label(), ec.message()));
                          return;
                        }
                        self->proxy_reply_.skip(true); // a CONNECT answer has no body
                        http::async_read_header(
                            self->socket_, self->proxy_buffer_, self->proxy_reply_,
                            [self](error_code e, std::size_t) { self->on_tunnel(e); });
                      });
  }

  void on_tunnel(error_code ec) {
    if (ended_) {
      return;
    }
    const ProxyUrl& proxy = *route_.proxy;
    const std::string target = format_host_port(route_.network_host, route_.port);
    if (ec) {
      fail(tunnel_unanswered(proxy, target, ec.message()));
      return;
    }
    const auto& reply = proxy_reply_.get();
    if (auto refusal = tunnel_refusal(proxy, target,
                                      {.status = reply.result_int(),
                                       .reason = text_of(reply.reason()),
                                       .early_bytes = proxy_buffer_.size() != 0})) {
      fail(*refusal);
    } else {
      open_layer();
    }
  }

  void open_layer() {
    if (route_.websocket_path && route_.tls) {
      opening(std::make_unique<WebSocketLayer<Tls>>(std::move(socket_), *tls_));
    } else if (route_.websocket_path) {
      opening(std::make_unique<WebSocketLayer<ReadAhead>>(std::move(socket_)));
    } else if (route_.tls) {
      opening(std::make_unique<ByteLayer<Tls>>(std::move(socket_), *tls_));
    } else {
      established(std::make_unique<ByteLayer<tcp::socket>>(std::move(socket_)));
    }
  }

  // `layer` does its handshakes, then carries the connection.
  template <class L> void opening(std::unique_ptr<L> layer) {
    L& ref = *layer;
    opening_ = std::move(layer);
    ref.open(route_,
             [self = shared_from_this()](std::string why) { self->on_opened(std::move(why)); });
  }

  void on_opened(std::string why) {
    if (ended_) {
      return;
    }
    if (!why.empty()) {
      fail(route_.proxy ? fmt::format("{} (through the proxy {})", why, route_.proxy->label())
                        : why);
      return;
    }
    established(std::move(opening_));
  }

  void established(std::unique_ptr<Layer> layer) {
    deadline_.cancel();
    layer_ = std::move(layer);
    pump();
  }

  void on_read(error_code ec, std::size_t n) {
    if (ec) {
      if (ec == asio::error::eof || ec == websocket::error::closed) {
        pn_connection_driver_read_close(&driver_); // the peer closed its side
        pump();
      } else {
        fail(fmt::format("reading from {} failed: {}", destination(), ec.message()));
      }
      return;
    }
    std::size_t at = 0;
    while (at < n) {
      const pn_rwbytes_t in = pn_connection_driver_read_buffer(&driver_);
      if (in.size == 0) {
        if (!pn_connection_driver_read_closed(&driver_)) {
          // Never drop bytes of a live connection: end it, and the reconnect resumes.
          fail(fmt::format("the AMQP transport for {} took no more input", destination()));
        }
        return; // closing: the rest is of no use
      }
      const std::size_t take = std::min(in.size, n - at);
      std::memcpy(in.start, read_buffer_.data() + at, take);
      pn_connection_driver_read_done(&driver_, take);
      at += take;
    }
    // The events wait for the io's pump after whatever else is ready: a peer that sends many
    // small WebSocket frames is read frame after frame, and its deliveries are handed on in one
    // go, not one wake-up of the readers per frame.
    read_more();
  }

  asio::ssl::context* tls_;
  AmqpIo::Handler& handler_;
  pn_connection_driver_t driver_{};
  AmqpRoute route_;
  AttachCapabilities outgoing_; // the receivers' attach frames, on their way out
  tcp::resolver resolver_;
  tcp::socket socket_; // until a layer takes it
  asio::steady_timer deadline_;
  std::string proxy_request_;
  beast::flat_buffer proxy_buffer_;
  http::response_parser<http::empty_body> proxy_reply_;
  std::unique_ptr<Layer> opening_; // a TLS or WebSocket layer during its handshakes
  std::unique_ptr<Layer> layer_;
  std::vector<char> read_buffer_;
  std::vector<char> write_buffer_;
  bool reading_ = false;
  bool writing_ = false;
  bool ended_ = false;
};

class StreamIo final : public AmqpIo {
public:
  StreamIo(Handler& handler, std::chrono::milliseconds tick)
      : handler_(handler), tick_(tick), timer_(io_) {
    arm();
  }
  ~StreamIo() override = default;

  void connect(pn_connection_t* connection, pn_transport_t* transport,
               const AmqpRoute& route) override {
    std::string trust_problem;
    if (route.tls && !tls_) {
      tls_ = make_tls_client_context(route.ca_file, trust_problem);
    }
    if (current_ != nullptr) {
      retired_.push_back(std::move(current_));
    }
    current_ = std::make_shared<Connection>(io_, tls_ ? &*tls_ : nullptr, handler_, connection,
                                            transport, route);
    current_->start(std::move(trust_problem));
  }

  void interrupt(pn_connection_t*) override {
    asio::post(io_, [this] {
      handler_.run_inbox();
      pump();
    });
  }

  void flush(pn_connection_t*) override {
    if (!flush_posted_) {
      flush_posted_ = true;
      asio::post(io_, [this] {
        flush_posted_ = false;
        pump();
      });
    }
  }

  void run_once() override {
    io_.run_one();
    // Whatever else is ready (the next reads, completed at once while bytes are waiting) runs
    // before the events are handed on; bounded, so a fast peer cannot hold them back.
    for (int more = 0; more < kReadyHandlers && io_.poll_one() > 0; ++more) {
    }
    pump();
    retired_.clear();
    if (current_ != nullptr && current_->ended()) {
      current_.reset(); // frees the connection: its PN_TRANSPORT_CLOSED has been handled
    }
  }

private:
  void arm() {
    timer_.expires_after(tick_);
    timer_.async_wait([this](error_code ec) {
      if (ec) {
        return;
      }
      handler_.tick();
      if (current_ != nullptr) {
        current_->tick();
      }
      pump();
      arm();
    });
  }

  void pump() {
    if (current_ != nullptr) {
      current_->pump();
    }
  }

  Handler& handler_;
  std::chrono::milliseconds tick_;
  std::optional<asio::ssl::context> tls_; // outlives every connection's TLS stream
  asio::io_context io_;
  asio::steady_timer timer_;
  std::shared_ptr<Connection> current_;
  std::vector<std::shared_ptr<Connection>> retired_;
  bool flush_posted_ = false;
};

} // namespace

std::unique_ptr<AmqpIo> make_stream_io(AmqpIo::Handler& handler, std::chrono::milliseconds tick) {
  return std::make_unique<StreamIo>(handler, tick);
}

} // namespace hub2kusto::hub
