#pragma once
// LocalMapper: the mappings/ engine applied inside the bridge (docs/architecture.md, "Data flow").
// When a connection gives the table's schema (and optionally the mapping's JSON), events on its
// configured route are turned into CSV rows here, with the chosen event system properties as
// columns by ADX's rules (docs/protocols.md, "Received events"), and sent without a mapping
// reference. An event the engine cannot read is dead-lettered with the engine's reason (record and
// byte); the other events of its batch go on.
//
// Threads: one LocalMapper per partition pipeline (the engine keeps scratch buffers).
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "hub/hub_event.hpp"
#include "mappings/engine.hpp"

namespace hub2kusto::pipeline {

struct MappedEvent {
  std::size_t rows = 0;
  std::size_t nulls = 0;                // values that did not convert and became null
  std::optional<std::string> rejection; // why the event cannot be mapped; `out` unchanged
};

class LocalMapper {
public:
  static Result<LocalMapper> create(const mappings::MapperOptions& options);

  // Appends the event's rows (CSV, table column order) to `out`.
  MappedEvent map(const hub::HubEvent& event, std::string& out);

private:
  explicit LocalMapper(mappings::Mapper mapper) : mapper_(std::move(mapper)) {}

  mappings::Mapper mapper_;
  std::vector<mappings::PropertyValue> values_;
  std::vector<std::string> texts_; // backing storage for text values of one event
};

// The value of event system property `name` for `event` (absent when it does not carry it):
// the promoted positions, then the AMQP properties, then message annotations, as ADX reads
// them; application properties only for iothub-creation-time-utc, dt-dataschema and
// dt-subject, which IoT Hub carries there. Anything else a sender put in its application
// properties never becomes a system property.
// `storage` keeps the text a value points into.
mappings::PropertyValue system_property_value(const hub::HubEvent& event, std::string_view name,
                                              std::string& storage);

} // namespace hub2kusto::pipeline
