#pragma once
// OpsServer: the operator's HTTP endpoints (issue 8, item 5), on their own port:
//
//   GET /healthz   200 "ok" while the process serves requests (liveness)
//   GET /readyz    200 when the service says it is ready, else 503; a JSON body either way:
//                  {"ready": false, "reasons": ["partition 2 of 'telemetry': recovering", ...]}
//   GET /metrics   the Prometheus text exposition (text/plain; version=0.0.4)
//
// The answers come from the handlers given at start; they run on cpprestsdk's listener
// threads, so they must be thread-safe. The server starts before the bridge (a liveness probe
// must answer while start-up reads the hub) and stops after it.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace hub2kusto::ops {

struct Readiness {
  bool ready = false;
  std::vector<std::string> reasons; // why not, one line each
};

struct OpsHandlers {
  std::function<Readiness()> readiness;
  std::function<std::string()> metrics; // the exposition text
};

class OpsServer {
public:
  // Listens on address:port. Fails with a message naming the address when it cannot bind.
  static Result<std::unique_ptr<OpsServer>> start(const std::string& address, std::uint16_t port,
                                                  OpsHandlers handlers);
  ~OpsServer();
  OpsServer(const OpsServer&) = delete;
  OpsServer& operator=(const OpsServer&) = delete;

  struct Impl;

private:
  explicit OpsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

} // namespace hub2kusto::ops
