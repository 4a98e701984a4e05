#pragma once
// How the AMQP thread's connection reaches the hub. Internal to hub/.
//
// The contract between the connection's logic (amqp_connection.cpp) and what carries its
// frames: Boost.Asio sockets feeding a pn_connection_driver (make_stream_io). They carry AMQP
// over TCP, TLS by OpenSSL through Asio, an HTTP CONNECT tunnel through a proxy, and AMQP over
// WebSockets (Boost.Beast; docs/protocols.md, "AMQP over WebSockets"). Not Proton's proactor:
// it keeps the frames out of reach, and they must be seen to ask for a receiver's desired
// capabilities (attach_capabilities.hpp; docs/decisions.md).
//
// Threading: one thread (the AMQP thread) calls run_once() in a loop; everything the io calls
// back runs on it, inside run_once(). interrupt() is the only call other threads make.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <proton/connection.h>
#include <proton/event.h>
#include <proton/transport.h>

#include "common/proxy.hpp"

namespace hub2kusto::hub {

// Where one connection goes.
struct AmqpRoute {
  std::string network_host; // what is connected to (or asked of the proxy)
  std::uint16_t port = 5671;
  std::string hostname; // the TLS server name and the WebSocket Host
  bool tls = true;      // amqps:// or wss://, the io's (the transport has no TLS layer)
  std::optional<std::string> websocket_path; // set: AMQP over WebSockets at this path
  std::optional<ProxyUrl> proxy;             // set: through this proxy's CONNECT tunnel
  std::string ca_file;                       // TLS trust; empty: the system store
  // Desired capabilities written into every receiver's attach but the $cbs and $management
  // replies' (attach_capabilities.hpp).
  std::vector<std::string> receiver_capabilities;
};

class AmqpIo {
public:
  // The connection's side, called on the AMQP thread from inside run_once().
  class Handler {
  public:
    virtual void handle(pn_event_t* event) = 0; // a Proton event of the connection
    virtual void run_inbox() = 0;               // interrupt() was called
    virtual void tick() = 0;                    // every `tick` given to the factory
  protected:
    ~Handler() = default;
  };

  virtual ~AmqpIo() = default;

  // AMQP thread. Starts carrying `connection` (bound to nothing yet, with `transport` set up)
  // to `route`; the io owns both from now and frees them once PN_TRANSPORT_CLOSED was
  // handled. One connection at a time: the previous one has ended. A failure to connect ends
  // the connection the usual way: PN_TRANSPORT_ERROR naming what failed, PN_TRANSPORT_CLOSED.
  virtual void connect(pn_connection_t* connection, pn_transport_t* transport,
                       const AmqpRoute& route) = 0;
  // Any thread: run_inbox() runs soon. `open` is the connection to wake (its output is
  // written right after), or null between connections. Its caller keeps `open` alive (it is
  // cleared on the AMQP thread before the connection can be freed).
  virtual void interrupt(pn_connection_t* open) = 0;
  // AMQP thread: write what `connection` has to send without waiting for other events.
  virtual void flush(pn_connection_t* connection) = 0;
  // AMQP thread: waits for the next events and hands them to the handler.
  virtual void run_once() = 0;
};

// Asio streams with a connection driver: any route.
std::unique_ptr<AmqpIo> make_stream_io(AmqpIo::Handler& handler, std::chrono::milliseconds tick);

} // namespace hub2kusto::hub
