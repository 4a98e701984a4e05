#include "control_api.hpp"

#include <stdexcept>

#include <cpprest/http_listener.h>
#include <cpprest/uri_builder.h>

#include "shared/free_port.hpp"

namespace hub2kusto::emulator {
namespace {

using web::http::http_request;
using web::http::methods;
using web::http::status_codes;

int checked_free_port(const std::string& host) {
  const int port = emulators::free_port(host);
  if (port < 0) {
    throw std::runtime_error("cannot find a free port for the control API");
  }
  return port;
}

void reply(http_request& request, web::http::status_code code, const std::string& text) {
  web::json::value body;
  body[code == status_codes::OK ? "applied" : "error"] = web::json::value::string(text);
  request.reply(code, body).wait();
}

} // namespace

struct ControlApi::Impl {
  Server& server;
  int port;
  web::http::experimental::listener::http_listener listener;

  Impl(Server& s, const std::string& host, int requested)
      : server(s), port(requested == 0 ? checked_free_port(host) : requested),
        listener("http://" + host + ":" + std::to_string(port) + "/") {
    listener.support(methods::POST, [this](http_request r) { on_post(r); });
    listener.support(methods::GET, [this](http_request r) {
      if (r.relative_uri().path() != "/status") {
        reply(r, status_codes::NotFound, "no such endpoint");
        return;
      }
      r.reply(status_codes::OK, server.status(), "application/json").wait();
    });
    listener.open().wait();
  }

  void on_post(http_request& r) {
    const auto path = r.relative_uri().path();
    const auto query = web::uri::split_query(r.relative_uri().query());
    auto get = [&](const std::string& key) -> std::string {
      const auto it = query.find(key);
      return it == query.end() ? std::string() : web::uri::decode(it->second);
    };
    auto number = [&](const std::string& key, std::int64_t& out) {
      try {
        std::size_t used = 0;
        out = std::stoll(get(key), &used);
        return used == get(key).size() && out >= 0;
      } catch (const std::exception&) {
        return false;
      }
    };
    Fault f;
    if (path == "/faults/drop-connections") {
      f.kind = Fault::Kind::drop_connections;
    } else if (path == "/faults/detach") {
      f.kind = Fault::Kind::detach;
      f.hub = get("hub");
      f.partition = get("partition");
      if (!get("condition").empty()) {
        f.condition = get("condition");
      }
      if (!get("description").empty()) {
        f.description = get("description");
      }
    } else if (path == "/faults/pause") {
      f.kind = Fault::Kind::pause;
    } else if (path == "/faults/resume") {
      f.kind = Fault::Kind::resume;
    } else if (path == "/faults/latency") {
      f.kind = Fault::Kind::latency;
      if (!number("ms", f.number)) {
        reply(r, status_codes::BadRequest, "latency needs ms=<milliseconds>");
        return;
      }
    } else if (path == "/faults/refuse-connections") {
      f.kind = Fault::Kind::refuse_connections;
      if (!number("seconds", f.number)) {
        reply(r, status_codes::BadRequest, "refuse-connections needs seconds=<seconds>");
        return;
      }
    } else if (path == "/faults/iothub-failover") {
      f.kind = Fault::Kind::iothub_failover;
    } else if (path == "/faults/reset") {
      f.kind = Fault::Kind::reset;
    } else if (path == "/consumer-groups") {
      f.kind = Fault::Kind::create_consumer_group;
      f.hub = get("hub");
      f.name = get("name");
    } else {
      reply(r, status_codes::NotFound, "no such fault: " + path);
      return;
    }
    const std::string result = server.inject(f);
    reply(r, result.rfind("error:", 0) == 0 ? status_codes::BadRequest : status_codes::OK, result);
  }
};

ControlApi::ControlApi(Server& server, const std::string& host, int port)
    : impl_(std::make_unique<Impl>(server, host, port)) {}

ControlApi::~ControlApi() {
  impl_->listener.close().wait();
}

int ControlApi::port() const {
  return impl_->port;
}

} // namespace hub2kusto::emulator
