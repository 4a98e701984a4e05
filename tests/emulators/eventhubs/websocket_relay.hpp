#pragma once
// The emulator's WebSocket listener: AMQP 1.0 over WebSockets as Event Hubs and IoT Hub serve it
// on port 443 (docs/protocols.md, "AMQP over WebSockets"). A client upgrades
// `GET /$servicebus/websocket` (or `/$iothub/websocket` on an IoT Hub) with the subprotocol
// `AMQPWSB10`; from then on its binary messages carry the AMQP byte stream. Each accepted
// WebSocket is joined to a new TCP connection to the emulator's own AMQP listener for that path,
// so the same AMQP engine, with its faults and its strictness, answers both transports.
//
// Boost.Beast does the HTTP upgrade and the framing (docs/decisions.md, "WebSockets").
#include <map>
#include <memory>
#include <string>

namespace hub2kusto::emulator {

struct WebSocketRelayOptions {
  std::string host = "127.0.0.1";
  int port = 0; // 0 picks a free one
  // With both set, the listener speaks TLS (wss://).
  std::string tls_certificate;
  std::string tls_key;
  // Request path -> the loopback port of the AMQP listener behind it.
  std::map<std::string, int> routes;
  // What the AMQP side writes goes to the client as one binary message; with a size here, that
  // message is fragmented into frames of at most this many bytes (the service may frame either
  // way, and a client must read both).
  std::size_t frame_bytes = 0;
};

class WebSocketRelay {
public:
  // Binds and starts serving on a thread of its own; throws if it cannot bind.
  explicit WebSocketRelay(WebSocketRelayOptions options);
  ~WebSocketRelay(); // stops serving and drops every relayed connection
  WebSocketRelay(const WebSocketRelay&) = delete;
  WebSocketRelay& operator=(const WebSocketRelay&) = delete;

  int port() const;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace hub2kusto::emulator
