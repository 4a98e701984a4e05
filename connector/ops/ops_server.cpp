#include "ops/ops_server.hpp"

#include <civetweb.h>

#include <mutex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/endpoint.hpp"
#include "common/logging.hpp"
#include "common/redact.hpp"

namespace hub2kusto::ops {
namespace {

struct Answer {
  int status = 200;
  std::string_view reason = "OK";
  std::string_view content_type = "text/plain; charset=utf-8";
  std::string body;
  bool allow_header = false; // 405: say what is allowed
};

// The library is initialised once per process, before the first server starts.
void init_civetweb() {
  static std::once_flag once;
  std::call_once(once, [] { mg_init_library(0); });
}

} // namespace

struct OpsServer::Impl {
  OpsHandlers handlers;
  OpsLimits limits;
  mg_context* context = nullptr;
  std::uint16_t port = 0;

  Answer answer(std::string_view method, std::string_view path) const {
    if (method != "GET" && method != "HEAD") {
      return {405, "Method Not Allowed", "text/plain; charset=utf-8",
              "only GET and HEAD are served here\n", true};
    }
    if (path == "/healthz") {
      const auto stuck = handlers.liveness ? handlers.liveness() : std::vector<std::string>{};
      if (stuck.empty()) {
        return {200, "OK", "text/plain; charset=utf-8", "ok\n"};
      }
      std::string body;
      for (const auto& line : stuck) {
        body += line + "\n";
      }
      return {503, "Service Unavailable", "text/plain; charset=utf-8", body};
    }
    if (path == "/readyz") {
      const Readiness r = handlers.readiness();
      const nlohmann::json body{{"ready", r.ready}, {"reasons", r.reasons}};
      return {r.ready ? 200 : 503, r.ready ? "OK" : "Service Unavailable", "application/json",
              body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"};
    }
    if (path == "/metrics") {
      return {200, "OK", "text/plain; version=0.0.4", handlers.metrics()};
    }
    return {404, "Not Found", "text/plain; charset=utf-8",
            "the ops endpoints are /healthz, /readyz, /metrics\n"};
  }

  // Every request, whatever its method and path: nothing is left to civetweb's own handling
  // (no document root, no files).
  static int on_request(mg_connection* conn) {
    const mg_request_info* info = mg_get_request_info(conn);
    const auto* self = static_cast<const Impl*>(info->user_data);
    const std::string_view method = info->request_method != nullptr ? info->request_method : "";
    const std::string_view path = info->local_uri != nullptr ? info->local_uri : "";
    Answer a;
    try {
      a = self->answer(method, path);
    } catch (const std::exception& e) {
      logger("ops")->warn("{} {} failed: {}", printable(method), printable(path), e.what());
      a = {500, "Internal Server Error", "text/plain; charset=utf-8", "internal error\n"};
    }
    const std::string head =
        fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n"
                    "Cache-Control: no-store\r\n{}Connection: close\r\n\r\n",
                    a.status, a.reason, a.content_type, a.body.size(),
                    a.allow_header ? "Allow: GET, HEAD\r\n" : "");
    mg_write(conn, head.data(), head.size());
    if (method != "HEAD") {
      mg_write(conn, a.body.data(), a.body.size());
    }
    return a.status;
  }

  static int on_log(const mg_connection*, const char* message) {
    logger("ops")->debug("http server: {}", printable(message));
    return 1; // logged here, not on civetweb's stderr
  }
};

OpsServer::OpsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

OpsServer::~OpsServer() {
  if (impl_ && impl_->context != nullptr) {
    mg_stop(impl_->context); // joins its threads
  }
}

std::uint16_t OpsServer::port() const {
  return impl_->port;
}

Result<std::unique_ptr<OpsServer>> OpsServer::start(const std::string& address, std::uint16_t port,
                                                    OpsHandlers handlers, OpsLimits limits) {
  init_civetweb();
  auto impl = std::make_unique<Impl>();
  impl->handlers = std::move(handlers);
  impl->limits = limits;
  // civetweb takes IP addresses only, an IPv6 one in brackets as a URL writes it.
  const std::string ip = address == "localhost" ? "127.0.0.1" : address;
  const std::string listen = format_host_port(ip, port);
  const std::string threads = std::to_string(limits.threads);
  const std::string queue = std::to_string(limits.queued_connections);
  const std::string backlog = std::to_string(limits.listen_backlog);
  const std::string header_bytes = std::to_string(limits.max_header_bytes);
  const std::string timeout = std::to_string(limits.request_timeout.count());
  // Without "document_root" civetweb serves no files; on_request answers every request.
  const char* options[] = {"listening_ports",
                           listen.c_str(),
                           "num_threads",
                           threads.c_str(),
                           "connection_queue",
                           queue.c_str(),
                           "listen_backlog",
                           backlog.c_str(),
                           "max_request_size",
                           header_bytes.c_str(),
                           "request_timeout_ms",
                           timeout.c_str(),
                           "enable_keep_alive",
                           "no",
                           nullptr};
  mg_callbacks callbacks{};
  callbacks.begin_request = &Impl::on_request;
  callbacks.log_message = &Impl::on_log;
  mg_init_data init{&callbacks, impl.get(), options};
  char error_text[256] = "";
  unsigned error_code = 0;
  mg_error_data error{&error_code, error_text, sizeof error_text};
  impl->context = mg_start2(&init, &error);
  if (impl->context == nullptr) {
    return failure(fmt::format("the ops endpoints cannot listen on {}:{} (ops.address, "
                               "ops.port): {}",
                               address, port,
                               error_text[0] != '\0' ? error_text : "unknown error"));
  }
  mg_server_port bound{};
  if (mg_get_server_ports(impl->context, 1, &bound) == 1) {
    impl->port = static_cast<std::uint16_t>(bound.port);
  }
  logger("ops")->info("ops endpoints on {}:{}: /healthz /readyz /metrics (at most {} connections "
                      "at a time, {} ms to send a request)",
                      address, impl->port, limits.threads + limits.queued_connections,
                      limits.request_timeout.count());
  return std::unique_ptr<OpsServer>(new OpsServer(std::move(impl)));
}

} // namespace hub2kusto::ops
