#pragma once
// The emulator's fault-injection control API: HTTP on loopback (cpprestsdk listener), each
// request applied on the server's loop before the response is sent, so a test can act on
// the fault's effect right after the call returns.
//
//   POST /faults/drop-connections
//   POST /faults/detach?hub=H&partition=P[&condition=C][&description=D]
//   POST /faults/pause            POST /faults/resume
//   POST /faults/latency?ms=N     POST /faults/refuse-connections?seconds=N
//   POST /faults/reset
//   GET  /status

#include <memory>

#include "server.hpp"

namespace hub2kusto::emulator {

class ControlApi {
public:
  // Listens on host:port (0 picks a free port); `server` must outlive this object.
  ControlApi(Server& server, const std::string& host, int port);
  ~ControlApi();
  int port() const;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace hub2kusto::emulator
