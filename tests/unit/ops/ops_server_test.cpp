// The ops endpoints as a hostile or careless client meets them, over real loopback sockets.
#include "ops/ops_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace hub2kusto::ops {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<OpsServer> start(OpsLimits limits = {}) {
  OpsHandlers handlers;
  handlers.readiness = [] { return Readiness{false, {"partition 0: recovering"}}; };
  handlers.metrics = [] { return std::string("hub2kusto_up 1\n"); };
  auto server = OpsServer::start("127.0.0.1", 0, handlers, limits);
  EXPECT_TRUE(server) << server.error().message;
  return std::move(server).value();
}

int connect_to(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  return fd;
}

// Reads until the server closes the connection (or 10 s pass: then "timeout").
std::string read_all(int fd) {
  std::string out;
  char buffer[4096];
  while (true) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10'000) != 1) {
      return out + "timeout";
    }
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) {
      return out;
    }
    out.append(buffer, static_cast<std::size_t>(n));
  }
}

std::string exchange(std::uint16_t port, const std::string& request) {
  const int fd = connect_to(port);
  EXPECT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  std::string answer = read_all(fd);
  ::close(fd);
  return answer;
}

std::size_t open_descriptors() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    ++n;
  }
  return n;
}

TEST(OpsServer, HealthzFailsWithTheStuckThreadsWhileThereAreAny) {
  auto stuck = std::make_shared<std::vector<std::string>>();
  OpsHandlers handlers;
  handlers.readiness = [] { return Readiness{true, {}}; };
  handlers.metrics = [] { return std::string(); };
  handlers.liveness = [stuck] { return *stuck; };
  auto server = OpsServer::start("127.0.0.1", 0, handlers);
  ASSERT_TRUE(server) << server.error().message;
  const std::uint16_t port = (*server)->port();
  EXPECT_EQ(exchange(port, "GET /healthz HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 200 OK\r\n", 0), 0U);
  *stuck = {"thread 'h2k-worker 1' busy on one piece of work for 130 s without progress"};
  const auto health = exchange(port, "GET /healthz HTTP/1.1\r\n\r\n");
  EXPECT_EQ(health.rfind("HTTP/1.1 503 ", 0), 0U) << health;
  EXPECT_NE(health.find("\r\n\r\nthread 'h2k-worker 1' busy"), std::string::npos) << health;
}

TEST(OpsServer, PortZeroListensOnAPickedPortAndServesTheThreePaths) {
  auto server = start();
  ASSERT_NE(server->port(), 0);
  const auto health = exchange(server->port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(health.rfind("HTTP/1.1 200 OK\r\n", 0), 0U) << health;
  EXPECT_EQ(health.substr(health.size() - 7), "\r\n\r\nok\n") << health;
  const auto ready = exchange(server->port(), "GET /readyz HTTP/1.1\r\n\r\n");
  EXPECT_EQ(ready.rfind("HTTP/1.1 503 ", 0), 0U) << ready;
  EXPECT_NE(ready.find(R"({"ready":false,"reasons":["partition 0: recovering"]})"),
            std::string::npos)
      << ready;
  const auto metrics = exchange(server->port(), "GET /metrics?x=1 HTTP/1.1\r\n\r\n");
  EXPECT_NE(metrics.find("text/plain; version=0.0.4"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("\r\n\r\nhub2kusto_up 1\n"), std::string::npos) << metrics;
  EXPECT_EQ(exchange(server->port(), "GET /etc/passwd HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 404 ", 0),
            0U);
}

TEST(OpsServer, OnlyGetAndHeadAreServed) {
  auto server = start();
  const auto post =
      exchange(server->port(), "POST /healthz HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(post.rfind("HTTP/1.1 405 ", 0), 0U) << post;
  EXPECT_NE(post.find("Allow: GET, HEAD\r\n"), std::string::npos) << post;
  for (const char* method : {"PUT", "DELETE", "OPTIONS"}) {
    const auto answer =
        exchange(server->port(), std::string(method) + " /metrics HTTP/1.1\r\n\r\n");
    EXPECT_EQ(answer.rfind("HTTP/1.1 405 ", 0), 0U) << method << ": " << answer;
  }
  // civetweb refuses these before any handler runs.
  for (const char* method : {"TRACE", "CONNECT"}) {
    const auto answer =
        exchange(server->port(), std::string(method) + " /metrics HTTP/1.1\r\n\r\n");
    EXPECT_EQ(answer.find(" 200 "), std::string::npos) << method << ": " << answer;
    EXPECT_EQ(answer.find("hub2kusto_up"), std::string::npos) << method << ": " << answer;
  }
  const auto head = exchange(server->port(), "HEAD /readyz HTTP/1.1\r\n\r\n");
  EXPECT_EQ(head.rfind("HTTP/1.1 503 ", 0), 0U) << head;
  EXPECT_EQ(head.substr(head.size() - 4), "\r\n\r\n") << head; // the head, no body
}

TEST(OpsServer, AnOversizedRequestHeadIsRefusedNotBuffered) {
  auto server = start(OpsLimits{.max_header_bytes = 8 * 1024});
  const int fd = connect_to(server->port());
  const std::string start_line = "GET /healthz HTTP/1.1\r\nX-Filler: ";
  ASSERT_GT(::send(fd, start_line.data(), start_line.size(), MSG_NOSIGNAL), 0);
  // Keep sending one header line without end: the server must give up long before 64 MiB.
  const std::string chunk(64 * 1024, 'a');
  std::size_t sent = 0;
  while (sent < 64U * 1024 * 1024) {
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, 10'000) != 1) {
      break; // the server stopped reading: it holds at most its buffer
    }
    const ssize_t n = ::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
    if (n <= 0) {
      break; // the server closed the connection
    }
    sent += static_cast<std::size_t>(n);
  }
  EXPECT_LT(sent, 64U * 1024 * 1024);
  const std::string answer = read_all(fd);
  ::close(fd);
  // Refused (civetweb answers 400 in HTTP/1.0), or simply closed.
  EXPECT_TRUE(answer.empty() || answer.rfind("HTTP/1.0 400 ", 0) == 0 ||
              answer.rfind("HTTP/1.1 4", 0) == 0)
      << answer.substr(0, 200);
  // And it goes on serving others.
  EXPECT_EQ(exchange(server->port(), "GET /healthz HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 200 ", 0),
            0U);
}

TEST(OpsServer, IdleConnectionsAreDroppedAndNeverHoldMoreThanTheCap) {
  const OpsLimits limits{
      .threads = 2, .queued_connections = 2, .listen_backlog = 128, .request_timeout = 300ms};
  auto server = start(limits);
  const std::size_t before = open_descriptors();
  std::vector<int> idle;
  for (int i = 0; i < 60; ++i) {
    idle.push_back(connect_to(server->port())); // connected, never sending a byte
  }
  // Wait until the server has dropped some of them for sending nothing: by then it has had
  // every chance to accept more than its cap.
  std::size_t dropped = 0;
  std::size_t most_held = 0;
  for (int round = 0; round < 200 && dropped < 6; ++round) {
    most_held = std::max(most_held, open_descriptors() - before - idle.size());
    std::vector<pollfd> polls;
    for (int fd : idle) {
      polls.push_back({fd, POLLIN, 0});
    }
    ASSERT_GE(::poll(polls.data(), polls.size(), 5'000), 0);
    for (auto& p : polls) {
      char c;
      if ((p.revents & (POLLIN | POLLHUP)) != 0 && p.fd >= 0 && ::recv(p.fd, &c, 1, 0) == 0) {
        ::close(p.fd);
        std::erase(idle, p.fd);
        ++dropped;
      }
    }
  }
  EXPECT_GE(dropped, 6U) << "the server never dropped an idle connection";
  // The server's own descriptors: at most a connection per thread and per queue place, and the
  // one its listener accepted and waits to queue.
  EXPECT_LE(most_held, static_cast<std::size_t>(limits.threads + limits.queued_connections + 1));
  for (int fd : idle) {
    ::close(fd);
  }
  EXPECT_EQ(exchange(server->port(), "GET /healthz HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 200 ", 0),
            0U);
}

TEST(OpsServer, LocalhostListensOnTheLoopbackAddress) {
  OpsHandlers handlers;
  handlers.readiness = [] { return Readiness{true, {}}; };
  handlers.metrics = [] { return std::string(); };
  auto server = OpsServer::start("localhost", 0, handlers);
  ASSERT_TRUE(server) << server.error().message;
  EXPECT_EQ(exchange((*server)->port(), "GET /healthz HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 200 ", 0),
            0U);
}

TEST(OpsServer, APortInUseIsAClearError) {
  auto first = start();
  OpsHandlers handlers;
  handlers.readiness = [] { return Readiness{true, {}}; };
  handlers.metrics = [] { return std::string(); };
  auto second = OpsServer::start("127.0.0.1", first->port(), handlers);
  ASSERT_FALSE(second);
  EXPECT_NE(
      second.error().message.find("cannot listen on 127.0.0.1:" + std::to_string(first->port())),
      std::string::npos)
      << second.error().message;
}

} // namespace
} // namespace hub2kusto::ops
