#pragma once
// Per-event routing as ADX's Event Hubs and IoT Hub data connections do it
// (docs/protocols.md, "Received events"): the connection's configured table, format and mapping,
// overridden per event by the application properties `Table`, `Format`,
// `IngestionMappingReference`, `Database` and `Compression` (names case-sensitive, as ADX reads
// them). `Database` is honoured only for databases the configuration lists, so a producer cannot
// write anywhere the bridge's identity can. An event whose routing properties are unusable is
// dead-lettered with the reason this returns.
#include <optional>
#include <set>
#include <string>

#include "base/result.hpp"
#include "common/ingest_format.hpp"
#include "common/types.hpp"
#include "hub/hub_event.hpp"

namespace hub2kusto::pipeline {

struct Route {
  DatabaseName database;
  TableName table;
  IngestFormat format = IngestFormat::json;
  std::optional<MappingName> mapping;
  bool gzip = false; // Compression=gzip: the body is gzip and is sent as is

  friend bool operator==(const Route&, const Route&) = default;
  // Batches are per route: the key that groups them.
  std::string key() const;
};

struct RoutingConfig {
  Route defaults;
  std::set<std::string> allowed_databases; // besides defaults.database
};

Result<Route> route_event(const hub::HubEvent& event, const RoutingConfig& config);
// Whether the event carries any of the routing properties (most events do not: then their route
// is the configured one, without building a Route per event).
bool has_routing_properties(const hub::HubEvent& event);

} // namespace hub2kusto::pipeline
