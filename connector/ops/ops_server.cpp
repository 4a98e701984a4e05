#include "ops/ops_server.hpp"

// fmt before cpprestsdk: cpprestsdk defines a macro U that breaks fmt's templates.
#include <fmt/format.h>

#include <cpprest/http_listener.h>
#include <nlohmann/json.hpp>

#include "common/logging.hpp"

namespace hub2kusto::ops {

using web::http::http_request;
using web::http::methods;
using web::http::status_codes;

struct OpsServer::Impl {
  OpsHandlers handlers;
  std::unique_ptr<web::http::experimental::listener::http_listener> listener;

  void handle(const http_request& request) {
    const std::string path = request.relative_uri().path();
    try {
      if (request.method() != methods::GET && request.method() != methods::HEAD) {
        request.reply(status_codes::MethodNotAllowed, "only GET is served here\n",
                      "text/plain; charset=utf-8");
        return;
      }
      if (path == "/healthz") {
        request.reply(status_codes::OK, "ok\n", "text/plain; charset=utf-8");
      } else if (path == "/readyz") {
        const Readiness r = handlers.readiness();
        const nlohmann::json body{{"ready", r.ready}, {"reasons", r.reasons}};
        request.reply(r.ready ? status_codes::OK : status_codes::ServiceUnavailable,
                      body.dump() + "\n", "application/json");
      } else if (path == "/metrics") {
        request.reply(status_codes::OK, handlers.metrics(), "text/plain; version=0.0.4");
      } else {
        request.reply(status_codes::NotFound, "the ops endpoints are /healthz, /readyz, /metrics\n",
                      "text/plain; charset=utf-8");
      }
    } catch (const std::exception& e) {
      logger("ops")->warn("GET {} failed: {}", path, e.what());
      try {
        request.reply(status_codes::InternalError, std::string(e.what()) + "\n",
                      "text/plain; charset=utf-8");
      } catch (const std::exception&) {
        // The client went away; nothing to answer.
      }
    }
  }
};

OpsServer::OpsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

OpsServer::~OpsServer() {
  if (impl_ && impl_->listener) {
    try {
      impl_->listener->close().wait();
    } catch (const std::exception&) {
      // Closing at exit: nothing left to tell anyone.
    }
  }
}

Result<std::unique_ptr<OpsServer>> OpsServer::start(const std::string& address, std::uint16_t port,
                                                    OpsHandlers handlers) {
  auto impl = std::make_unique<Impl>();
  impl->handlers = std::move(handlers);
  const std::string url = fmt::format("http://{}:{}/", address, port);
  try {
    impl->listener = std::make_unique<web::http::experimental::listener::http_listener>(url);
    Impl* raw = impl.get();
    impl->listener->support([raw](const http_request& r) { raw->handle(r); });
    impl->listener->open().wait();
  } catch (const std::exception& e) {
    return failure(fmt::format("the ops endpoints cannot listen on {}:{} (ops.address, "
                               "ops.port): {}",
                               address, port, e.what()));
  }
  logger("ops")->info("ops endpoints on {}:{}: /healthz /readyz /metrics", address, port);
  return std::unique_ptr<OpsServer>(new OpsServer(std::move(impl)));
}

} // namespace hub2kusto::ops
