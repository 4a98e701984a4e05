#pragma once
// OpsServer: the operator's HTTP endpoints, on their own port:
//
//   GET /healthz   200 "ok" while the threads that move data make progress, else 503 with one
//                  line per stuck thread (liveness: a restart would help)
//   GET /readyz    200 when the service says it is ready, else 503; a JSON body either way:
//                  {"ready": false, "reasons": ["partition 2 of 'telemetry': recovering", ...]}
//   GET /metrics   the Prometheus text exposition (text/plain; version=0.0.4)
//
// HEAD is answered as GET without the body; any other method gets 405, any other path 404.
//
// The port is reachable by anyone who reaches the pod, so it is bounded (OpsLimits): a request
// head larger than max_header_bytes is refused, a client that does not send its request
// within request_timeout is dropped, one request per connection, and at most threads +
// queued_connections connections are open at a time: further ones wait in the kernel's listen
// backlog, never in our file descriptors, which the data path needs. The server is civetweb
// (docs/decisions.md, "The ops server").
//
// The answers come from the handlers given at start; they run on the server's threads, so they
// must be thread-safe. The server starts before the bridge (a liveness probe must answer while
// start-up reads the hub) and stops after it.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/result.hpp"

namespace hub2kusto::ops {

struct Readiness {
  bool ready = false;
  std::vector<std::string> reasons; // why not, one line each
};

struct OpsHandlers {
  std::function<Readiness()> readiness;
  std::function<std::string()> metrics; // the exposition text
  // Why the process should be restarted (stuck threads), one line each; empty: alive. Unset:
  // always alive.
  std::function<std::vector<std::string>()> liveness;
};

struct OpsLimits {
  int threads = 4;                                  // requests answered at once
  int queued_connections = 12;                      // accepted, waiting for a thread
  int listen_backlog = 64;                          // not yet accepted (the kernel's)
  int max_header_bytes = 8 * 1024;                  // request line and headers
  std::chrono::milliseconds request_timeout{5'000}; // to receive a request, and to send the answer
};

class OpsServer {
public:
  // Listens on address:port (port 0: one the system picks, see port()). Fails with a message
  // naming the address when it cannot bind.
  static Result<std::unique_ptr<OpsServer>> start(const std::string& address, std::uint16_t port,
                                                  OpsHandlers handlers, OpsLimits limits = {});
  ~OpsServer();
  // The port it listens on.
  std::uint16_t port() const;
  OpsServer(const OpsServer&) = delete;
  OpsServer& operator=(const OpsServer&) = delete;

  struct Impl;

private:
  explicit OpsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

} // namespace hub2kusto::ops
