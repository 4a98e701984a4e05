#include "websocket_relay.hpp"

#include <array>
#include <optional>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/stream.hpp>

namespace hub2kusto::emulator {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

constexpr const char* kSubprotocol = "AMQPWSB10";

// Whether a Sec-WebSocket-Protocol value (a comma-separated list) offers `wanted`.
bool offers(std::string_view list, std::string_view wanted) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    while (!item.empty() && item.front() == ' ') {
      item.remove_prefix(1);
    }
    while (!item.empty() && item.back() == ' ') {
      item.remove_suffix(1);
    }
    if (item == wanted) {
      return true;
    }
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }
  return false;
}

// One client's WebSocket joined to one TCP connection to the AMQP listener behind it. `Next` is
// the layer under the WebSocket: a TCP socket, or a TLS stream over one.
template <class Next> class Session : public std::enable_shared_from_this<Session<Next>> {
public:
  Session(Next next, const std::map<std::string, int>& routes, std::size_t frame_bytes)
      : client_(std::move(next)), backend_(client_.get_executor()), routes_(routes) {
    client_.auto_fragment(frame_bytes > 0);
    if (frame_bytes > 0) {
      client_.write_buffer_bytes(frame_bytes);
    }
  }

  void start() {
    if constexpr (std::is_same_v<Next, tcp::socket>) {
      read_upgrade();
    } else {
      client_.next_layer().async_handshake(asio::ssl::stream_base::server,
                                           [self = this->shared_from_this()](error_code ec) {
                                             if (!ec) {
                                               self->read_upgrade();
                                             }
                                           });
    }
  }

private:
  void read_upgrade() {
    http::async_read(client_.next_layer(), request_buffer_, upgrade_,
                     [self = this->shared_from_this()](error_code ec, std::size_t) {
                       if (!ec) {
                         self->on_upgrade();
                       }
                     });
  }

  void on_upgrade() {
    const std::string path(upgrade_.target().data(), upgrade_.target().size());
    const auto route = routes_.find(path);
    if (!websocket::is_upgrade(upgrade_)) {
      return refuse(http::status::bad_request, "expected a WebSocket upgrade");
    }
    if (route == routes_.end()) {
      return refuse(http::status::not_found, "no AMQP endpoint at " + path);
    }
    const auto offered = upgrade_[http::field::sec_websocket_protocol];
    if (!offers(std::string_view(offered.data(), offered.size()), kSubprotocol)) {
      return refuse(http::status::bad_request, "the WebSocket subprotocol must be AMQPWSB10");
    }
    backend_port_ = route->second;
    client_.set_option(websocket::stream_base::decorator([](websocket::response_type& response) {
      response.set(http::field::sec_websocket_protocol, kSubprotocol);
    }));
    client_.binary(true);
    client_.async_accept(upgrade_, [self = this->shared_from_this()](error_code ec) {
      if (!ec) {
        self->connect_backend();
      }
    });
  }

  void refuse(http::status status, std::string why) {
    auto response = std::make_shared<http::response<http::string_body>>(status, 11);
    response->body() = std::move(why);
    response->keep_alive(false);
    response->prepare_payload();
    http::async_write(
        client_.next_layer(), *response,
        [self = this->shared_from_this(), response](error_code, std::size_t) { self->close(); });
  }

  void connect_backend() {
    const tcp::endpoint backend(asio::ip::make_address("127.0.0.1"),
                                static_cast<unsigned short>(backend_port_));
    backend_.async_connect(backend, [self = this->shared_from_this()](error_code ec) {
      if (ec) {
        self->close();
        return;
      }
      self->pump_client();
      self->pump_backend();
    });
  }

  // Client -> AMQP listener: each binary message's bytes, in order.
  void pump_client() {
    client_.async_read(from_client_, [self = this->shared_from_this()](error_code ec, std::size_t) {
      if (ec) {
        self->close();
        return;
      }
      asio::async_write(self->backend_, self->from_client_.data(),
                        [self](error_code write_error, std::size_t written) {
                          if (write_error) {
                            self->close();
                            return;
                          }
                          self->from_client_.consume(written);
                          self->pump_client();
                        });
    });
  }

  // AMQP listener -> client: whatever arrived, as one binary message.
  void pump_backend() {
    backend_.async_read_some(asio::buffer(from_backend_), [self = this->shared_from_this()](
                                                              error_code ec, std::size_t n) {
      if (ec) {
        self->close(); // the AMQP side dropped the connection (a fault, or a close)
        return;
      }
      self->client_.async_write(asio::buffer(self->from_backend_.data(), n),
                                [self](error_code write_error, std::size_t) {
                                  if (write_error) {
                                    self->close();
                                    return;
                                  }
                                  self->pump_backend();
                                });
    });
  }

  // Either side ending ends both, abruptly: the AMQP peers see a dropped connection, as they
  // would on a real network.
  void close() {
    error_code ignored;
    backend_.close(ignored);
    beast::get_lowest_layer(client_).close(ignored);
  }

  websocket::stream<Next> client_;
  tcp::socket backend_;
  const std::map<std::string, int>& routes_;
  beast::flat_buffer request_buffer_;
  http::request<http::empty_body> upgrade_;
  int backend_port_ = 0;
  beast::flat_buffer from_client_;
  std::array<char, 64 * 1024> from_backend_{};
};

} // namespace

struct WebSocketRelay::Impl {
  explicit Impl(WebSocketRelayOptions o)
      : options(std::move(o)), ssl(asio::ssl::context::tls_server), acceptor(io) {
    if (!options.tls_certificate.empty()) {
      ssl.use_certificate_chain_file(options.tls_certificate);
      ssl.use_private_key_file(options.tls_key, asio::ssl::context::pem);
    }
    const tcp::endpoint endpoint(asio::ip::make_address(options.host),
                                 static_cast<unsigned short>(options.port));
    acceptor.open(endpoint.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen();
    accept();
    thread = std::thread([this] { io.run(); });
  }

  ~Impl() {
    io.stop();
    if (thread.joinable()) {
      thread.join();
    }
  }

  void accept() {
    acceptor.async_accept([this](error_code ec, tcp::socket socket) {
      if (ec) {
        return; // stopping
      }
      socket.set_option(tcp::no_delay(true));
      if (options.tls_certificate.empty()) {
        std::make_shared<Session<tcp::socket>>(std::move(socket), options.routes,
                                               options.frame_bytes)
            ->start();
      } else {
        std::make_shared<Session<beast::ssl_stream<tcp::socket>>>(
            beast::ssl_stream<tcp::socket>(std::move(socket), ssl), options.routes,
            options.frame_bytes)
            ->start();
      }
      accept();
    });
  }

  WebSocketRelayOptions options;
  asio::ssl::context ssl; // outlives every session's TLS stream
  asio::io_context io;
  tcp::acceptor acceptor;
  std::thread thread;
};

WebSocketRelay::WebSocketRelay(WebSocketRelayOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

WebSocketRelay::~WebSocketRelay() = default;

int WebSocketRelay::port() const {
  return impl_->acceptor.local_endpoint().port();
}

} // namespace hub2kusto::emulator
