#pragma once
// AmqpEventSource: the EventSource over AMQP 1.0 with Qpid Proton (docs/protocols.md, "Event
// Hubs").
//
// Why Proton's C API and not its C++ messaging_handler: Proton C++ decodes every
// transfer into a proton::message before a handler sees it, and that decode alone cost more
// than everything else a receiver does; reading the transfer's bytes ourselves
// (message_decoder.hpp) more than doubled the events per core (bench/REPORT.md). It also shows
// what proton::message hides (several data sections, data vs amqp-value). Requests to $cbs and
// $management, small and rare, are still built and read with proton::message.
//
// Threading (docs/architecture.md, "Threads", the rule of Proton's cpp/docs/mt.md): the source owns
// one io (amqp_io.hpp: Asio streams under a Proton connection driver) run by
// exactly one thread, the AMQP thread. Every Proton object lives on it and nothing locks one.
// Other threads hand work in through post(): a mutex-guarded inbox, drained when the thread is
// woken (on the open connection, so the work runs in the connection's own batch and the credit it
// grants is written at once; the io itself between connections). Readers meet the AMQP thread
// only in each partition's PartitionChannel.
//
// One connection per hub, shared by every partition link, one session per link:
//
//   connect (TLS unless the emulator; over WebSockets and through an HTTP proxy if configured)
//     -> SASL ANONYMOUS -> open
//     -> $cbs put-token sb://<host>/<hub> (renewed at 3/4 of its lifetime, same connection)
//     -> <hub>/$management requests (hub and partition information)
//     -> per partition: attach <hub>/ConsumerGroups/<cg>/Partitions/<id> with the selector
//        filter and epoch, manual credit from its PartitionChannel
//   IoT Hub: first the same to the IoT Hub host with an IoT Hub token, attach under
//   messages/events, read the amqp:link:redirect (docs/protocols.md, "IoT Hub"), then the above to
//   the target.
//
// Partition loop (docs/architecture.md, "Partitions"), on the AMQP thread:
//   attach from resume position (after the last event buffered, else the configured start)
//   on attach:  grant credit up to the window
//   on event:   decode -> buffer (one credit used); never more than the window in flight
//   on room:    (reader took events down to the low watermark) grant up to the window
//   on detach:  retriable -> link lost, re-attach after backoff from the resume position
//               stolen    -> stop this partition, report it; the others go on
//               otherwise -> fail this partition with the service's reason
//   on connection loss: every live partition -> recovering; reconnect after backoff (jitter),
//               re-authorise, re-attach each from its resume position: no gap, no duplicate
//   IoT Hub: the Event Hub-compatible endpoint comes from the front end's redirect; when it
//               refuses a connection, answers not-found, or keeps failing past a bound, the
//               redirect is asked for again (after a failover the endpoint has moved) and the
//               partitions re-attach there from their resume positions
#include <memory>

#include "common/access_token.hpp"
#include "common/backoff.hpp"
#include "common/clock.hpp"
#include "common/hub_connection_string.hpp"
#include "common/liveness.hpp"
#include "common/random.hpp"
#include "hub/event_source.hpp"
#include "hub/hub_metrics.hpp"
#include "hub/partition_channel.hpp"

namespace hub2kusto::hub {

struct HubOptions {
  HubConnectionString connection;
  EventHubName event_hub; // Event Hubs: required. IoT Hub: learned from the redirect.
  ConsumerGroup consumer_group{"$Default"};
  std::optional<std::int64_t> owner_level; // com.microsoft:epoch; none: non-exclusive
  std::string receiver_name = "hub2kusto"; // com.microsoft:receiver-name, in service errors
  std::string ca_file;                     // empty: the system trust store
  // AMQP over TCP (5671) or over WebSockets (443): docs/protocols.md, "AMQP over WebSockets".
  // None: the connection string's TransportType, else TCP.
  std::optional<HubTransport> transport;
  // An HTTP proxy URL (http://[user:password@]host:port) for every host NO_PROXY does not list;
  // none: HTTPS_PROXY from the environment (common/proxy.hpp).
  std::optional<std::string> proxy;
  CreditWindow credit;
  // Shared by every partition of the process (and other sources): credit also comes from it.
  // Null: each partition is bounded by `credit` alone.
  std::shared_ptr<MemoryBudget> budget;
  std::chrono::seconds token_lifetime{3600}; // of the SAS tokens we sign
  // Event Hubs with Microsoft Entra ID: tokens for https://eventhubs.azure.net, put on $cbs as
  // type "jwt" and renewed on the same connection. Null: the connection string's SAS key.
  std::shared_ptr<AccessTokens> tokens;
  BackoffPolicy reconnect; // connections and links alike
  std::chrono::milliseconds idle_timeout{60'000};
  // IoT Hub: the redirect's endpoint is asked for again when it refuses a connection, answers
  // not-found, or keeps failing for this long (it moves after a failover).
  std::chrono::milliseconds redirect_refresh_after{30'000};
  // Where the AMQP thread shows that it goes round (common/liveness.hpp). Null: not watched.
  Liveness* liveness = nullptr;
};

class AmqpEventSource final : public EventSource {
public:
  // Starts the AMQP thread and connects at once. `clock` and `random` must outlive the source.
  AmqpEventSource(HubOptions options, const Clock& clock, RandomSource& random);
  ~AmqpEventSource() override;
  AmqpEventSource(const AmqpEventSource&) = delete;
  AmqpEventSource& operator=(const AmqpEventSource&) = delete;

  Result<HubProperties> hub_properties(std::chrono::milliseconds timeout) override;
  Result<PartitionProperties> partition_properties(const PartitionId& partition,
                                                   std::chrono::milliseconds timeout) override;
  std::shared_ptr<PartitionStream> open_partition(const PartitionId& partition,
                                                  const StartPosition& start) override;
  void close_partition(const PartitionId& partition) override;
  void close() override;

  // Any thread.
  const HubMetrics& metrics() const;
  // The first non-retriable error of the connection (a refused token, a bad redirect), if any.
  std::optional<Error> fatal_error() const;

  class Impl;

private:
  std::unique_ptr<Impl> impl_;
};

} // namespace hub2kusto::hub
