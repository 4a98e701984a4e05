// The HTTP transport against a local HTTP/1.1 server (plain or TLS, with a throw-away
// certificate) and a real CONNECT proxy (tinyproxy): TLS trust and host names, keep-alive and
// connections the server closed, timeouts, and proxies for https:// and http://.
#include "azure/http_transport.hpp"

#include <atomic>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include "support/keys.hpp"
#include "support/temp_dir.hpp"
#include "support/tinyproxy.hpp"

namespace hub2kusto::azure {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// One connection at a time, on a thread of its own: every request is answered 200 with
// "<method> <target>" as the body, unless the server is told to stay silent; with
// close_after_answer it closes each connection after one answer without saying so first.
class TestServer {
public:
  struct Options {
    bool tls = false;
    const char* certificate_ip = "127.0.0.1";
    bool close_after_answer = false;
    bool silent = false;
  };

  explicit TestServer(Options options)
      : options_(options), dir_("h2k-http-" + std::to_string(next_id_++)),
        tls_(asio::ssl::context::tls_server) {
    const auto key = testing::make_rsa_key();
    const auto cert = testing::make_self_signed_certificate(key.get(), options_.certificate_ip);
    const std::string cert_pem = testing::certificate_pem(cert.get());
    const std::string key_pem = testing::private_key_pem(key.get());
    std::ofstream(ca_file()) << cert_pem;
    tls_.use_certificate(asio::buffer(cert_pem), asio::ssl::context::pem);
    tls_.use_private_key(asio::buffer(key_pem), asio::ssl::context::pem);
    acceptor_.open(tcp::v4());
    acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    thread_ = std::thread([this] { serve(); });
  }

  ~TestServer() {
    stopping_ = true;
    {
      std::lock_guard lock(mutex_);
      if (current_ >= 0) {
        ::shutdown(current_, SHUT_RDWR);
      }
    }
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR); // wakes the accept (close would not)
    thread_.join();
  }

  int port() const { return acceptor_.local_endpoint().port(); }
  std::string ca_file() const { return (dir_ / "ca.pem").string(); }
  int connections() const { return connections_; }
  std::vector<std::string> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

private:
  void serve() {
    while (!stopping_) {
      boost::system::error_code ec;
      tcp::socket socket(io_);
      acceptor_.accept(socket, ec);
      if (ec) {
        return;
      }
      ++connections_;
      {
        std::lock_guard lock(mutex_);
        current_ = socket.native_handle();
      }
      if (options_.tls) {
        beast::ssl_stream<tcp::socket> stream(std::move(socket), tls_);
        stream.handshake(asio::ssl::stream_base::server, ec);
        if (!ec) {
          converse(stream);
        }
      } else {
        converse(socket);
      }
      std::lock_guard lock(mutex_);
      current_ = -1;
    }
  }

  template <class Stream> void converse(Stream& stream) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> request;
      boost::system::error_code ec;
      http::read(stream, buffer, request, ec);
      if (ec) {
        return;
      }
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(std::string(request.method_string()) + " " +
                            std::string(request.target()) + " " + request.body());
      }
      if (options_.silent) {
        continue; // the client gives up and closes
      }
      http::response<http::string_body> response(http::status::ok, 11);
      response.body() = std::string(request.method_string()) + " " + std::string(request.target());
      response.prepare_payload();
      http::write(stream, response, ec);
      if (ec || options_.close_after_answer) {
        return;
      }
    }
  }

  static inline std::atomic<int> next_id_{0}; // a directory of its own for each server

  Options options_;
  testing::TempDir dir_;
  asio::ssl::context tls_;
  asio::io_context io_;
  tcp::acceptor acceptor_{io_};
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  mutable std::mutex mutex_;
  int current_ = -1;
  std::vector<std::string> requests_;
};

HttpRequest get(const std::string& url) {
  HttpRequest r;
  r.url = url;
  return r;
}

TEST(HttpTransport, HttpsWithTheGivenCaServesManyRequestsOnOneConnection) {
  TestServer server({.tls = true});
  auto transport = make_http_transport({.ca_file = server.ca_file(), .proxy = std::nullopt});
  const std::string base = "https://127.0.0.1:" + std::to_string(server.port());
  for (int i = 0; i < 3; ++i) {
    const auto r = transport->send(get(base + "/a/b?n=" + std::to_string(i)));
    ASSERT_EQ(r.status, 200) << r.transport_error;
    EXPECT_EQ(r.body, "GET /a/b?n=" + std::to_string(i));
    EXPECT_EQ(r.header("content-length"), std::to_string(r.body.size()));
  }
  EXPECT_EQ(server.connections(), 1);
}

TEST(HttpTransport, AServerTheTrustedCasDoNotVouchForIsRefusedAndTheQueryIsNotSaid) {
  TestServer server({.tls = true});
  auto transport = make_http_transport(); // the system's CAs: the test certificate is not one
  const auto r =
      transport->send(get("https://127.0.0.1:" + std::to_string(server.port()) + "/c?sig=s3cret"));
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.transport_error.find("TLS handshake"), std::string::npos) << r.transport_error;
  EXPECT_EQ(r.transport_error.find("s3cret"), std::string::npos) << r.transport_error;
  EXPECT_TRUE(server.requests().empty());
}

TEST(HttpTransport, ACertificateForAnotherHostIsRefused) {
  TestServer server({.tls = true, .certificate_ip = "10.9.8.7"});
  auto transport = make_http_transport({.ca_file = server.ca_file(), .proxy = std::nullopt});
  const auto r = transport->send(get("https://127.0.0.1:" + std::to_string(server.port()) + "/"));
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.transport_error.find("TLS handshake"), std::string::npos) << r.transport_error;
  EXPECT_TRUE(server.requests().empty());
}

TEST(HttpTransport, AnUnreadableCaFileIsSaidOnEveryHttpsRequest) {
  auto transport = make_http_transport({.ca_file = "/nonexistent/ca.pem", .proxy = std::nullopt});
  const auto r = transport->send(get("https://127.0.0.1:1/"));
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.transport_error.find("cannot load the CA file '/nonexistent/ca.pem'"),
            std::string::npos)
      << r.transport_error;
}

// A server may close a kept-alive connection at any time; the request that finds it closed is
// sent once more on a new connection, and reaches the server once.
TEST(HttpTransport, AConnectionTheServerClosedIsReplacedAndEachRequestArrivesOnce) {
  TestServer server({.close_after_answer = true});
  auto transport = make_http_transport();
  const std::string base = "http://127.0.0.1:" + std::to_string(server.port());
  for (int i = 0; i < 3; ++i) {
    HttpRequest post = get(base + "/ingest");
    post.method = "POST";
    post.body = "row " + std::to_string(i);
    const auto r = transport->send(post);
    ASSERT_EQ(r.status, 200) << r.transport_error;
  }
  EXPECT_EQ(server.connections(), 3);
  EXPECT_EQ(server.requests(), (std::vector<std::string>{"POST /ingest row 0", "POST /ingest row 1",
                                                         "POST /ingest row 2"}));
}

TEST(HttpTransport, NoAnswerWithinTheTimeoutIsAnError) {
  TestServer server({.silent = true});
  auto transport = make_http_transport();
  HttpRequest r = get("http://127.0.0.1:" + std::to_string(server.port()) + "/slow");
  r.timeout = std::chrono::milliseconds(300);
  const auto answer = transport->send(r);
  EXPECT_EQ(answer.status, 0);
  EXPECT_NE(answer.transport_error.find("no answer within 300 ms"), std::string::npos)
      << answer.transport_error;
  EXPECT_EQ(server.requests().size(), 1U);
}

// A TLS and a plain server behind tinyproxy, which asks for user "user", password "pr0xy-pa55".
// The servers are addressed as 0.0.0.0: it reaches this machine without being a loopback name,
// which is never proxied.
struct BehindAProxy {
  static testing::Tinyproxy::Options with_credentials() {
    testing::Tinyproxy::Options options;
    options.basic_auth = {"user", "pr0xy-pa55"};
    return options;
  }
  std::string url(const TestServer& server, const char* path) const {
    return fmt::format("{}://0.0.0.0:{}{}", &server == &secure ? "https" : "http", server.port(),
                       path);
  }

  TestServer secure{{.tls = true, .certificate_ip = "0.0.0.0"}};
  TestServer plain{{}};
  testing::Tinyproxy proxy{with_credentials()};
};

TEST(HttpTransport, HttpsGoesThroughTheProxysTunnelAndHttpThroughTheProxyItself) {
  BehindAProxy net;
  ASSERT_TRUE(net.proxy.running()) << "tinyproxy did not start";
  auto transport = make_http_transport(
      {.ca_file = net.secure.ca_file(), .proxy = net.proxy.url("user", "pr0xy-pa55")});
  const auto tls = transport->send(get(net.url(net.secure, "/t")));
  ASSERT_EQ(tls.status, 200) << tls.transport_error;
  EXPECT_EQ(tls.body, "GET /t");
  const auto clear = transport->send(get(net.url(net.plain, "/p")));
  ASSERT_EQ(clear.status, 200) << clear.transport_error;
  EXPECT_EQ(clear.body, "GET /p");
  EXPECT_NE(net.proxy.log().find("CONNECT 0.0.0.0:" + std::to_string(net.secure.port())),
            std::string::npos)
      << net.proxy.log();
  EXPECT_NE(net.proxy.log().find("GET " + net.url(net.plain, "/p")), std::string::npos)
      << net.proxy.log();
}

TEST(HttpTransport, AProxyRefusingTheCredentialsIsSaidWithoutThePassword) {
  BehindAProxy net;
  ASSERT_TRUE(net.proxy.running()) << "tinyproxy did not start";
  auto transport = make_http_transport(
      {.ca_file = net.secure.ca_file(), .proxy = net.proxy.url("user", "wr0ng-pa55")});
  const auto r = transport->send(get(net.url(net.secure, "/t")));
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.transport_error.find("refused the credentials of user 'user'"), std::string::npos)
      << r.transport_error;
  EXPECT_EQ(r.transport_error.find("wr0ng-pa55"), std::string::npos) << r.transport_error;
  EXPECT_TRUE(net.secure.requests().empty());
}

TEST(HttpTransport, AUrlThatIsNotAbsoluteHttpOrHasABadPortIsRefusedSayingWhy) {
  auto transport = make_http_transport();
  const auto ftp = transport->send(get("ftp://127.0.0.1/file"));
  EXPECT_EQ(ftp.status, 0);
  EXPECT_NE(ftp.transport_error.find("not an absolute http:// or https:// URL"), std::string::npos)
      << ftp.transport_error;
  const auto port = transport->send(get("http://127.0.0.1:99999/x?sig=s3cret"));
  EXPECT_EQ(port.status, 0);
  EXPECT_NE(port.transport_error.find("the URL has a port that is not a number from 1 to 65535"),
            std::string::npos)
      << port.transport_error;
  EXPECT_EQ(port.transport_error.find("s3cret"), std::string::npos) << port.transport_error;
  const auto host = transport->send(get("https://[::1/x"));
  EXPECT_NE(host.transport_error.find("without a closing ']'"), std::string::npos)
      << host.transport_error;
}

} // namespace
} // namespace hub2kusto::azure
