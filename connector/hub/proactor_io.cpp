// AmqpIo over Proton's proactor (amqp_io.hpp): Proton owns the socket, the TLS and the
// buffers; events come in batches, one batch per connection at a time.
#include <chrono>

#include <proton/proactor.h>

#include "hub/amqp_io.hpp"

namespace hub2kusto::hub {
namespace {

class ProactorIo final : public AmqpIo {
public:
  ProactorIo(Handler& handler, std::chrono::milliseconds tick)
      : handler_(handler), tick_(tick), proactor_(pn_proactor()) {
    pn_proactor_set_timeout(proactor_, static_cast<pn_millis_t>(tick_.count()));
  }
  ~ProactorIo() override { pn_proactor_free(proactor_); } // frees the connection, if any

  void connect(pn_connection_t* connection, pn_transport_t* transport,
               const AmqpRoute& route) override {
    char address[PN_MAX_ADDR];
    pn_proactor_addr(address, sizeof address, route.network_host.c_str(),
                     std::to_string(route.port).c_str());
    pn_proactor_connect2(proactor_, connection, transport, address);
    connection_ = connection;
  }

  void interrupt(pn_connection_t* open) override {
    if (open != nullptr) {
      pn_connection_wake(open); // in the connection's batch: its output leaves when it ends
    } else {
      pn_proactor_interrupt(proactor_);
    }
  }

  void flush(pn_connection_t* connection) override { pn_connection_wake(connection); }

  void run_once() override {
    pn_event_batch_t* batch = pn_proactor_wait(proactor_);
    while (pn_event_t* e = pn_event_batch_next(batch)) {
      switch (pn_event_type(e)) {
      case PN_PROACTOR_INTERRUPT:
        handler_.run_inbox();
        if (connection_ != nullptr) {
          pn_connection_wake(connection_); // so frames the work produced are written now
        }
        break;
      case PN_CONNECTION_WAKE:
        handler_.run_inbox(); // in the connection's batch: its output is written when it ends
        break;
      case PN_PROACTOR_TIMEOUT:
        handler_.tick();
        pn_proactor_set_timeout(proactor_, static_cast<pn_millis_t>(tick_.count()));
        break;
      case PN_TRANSPORT_CLOSED:
        handler_.handle(e);
        if (pn_event_connection(e) == connection_) {
          connection_ = nullptr; // the proactor frees it after this batch
        }
        break;
      default:
        handler_.handle(e);
        break;
      }
    }
    pn_proactor_done(proactor_, batch);
  }

private:
  Handler& handler_;
  std::chrono::milliseconds tick_;
  pn_proactor_t* proactor_;
  pn_connection_t* connection_ = nullptr; // the one being carried, until its transport closed
};

} // namespace

std::unique_ptr<AmqpIo> make_proactor_io(AmqpIo::Handler& handler, std::chrono::milliseconds tick) {
  return std::make_unique<ProactorIo>(handler, tick);
}

} // namespace hub2kusto::hub
