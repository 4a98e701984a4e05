#include "pipeline/local_mapper.hpp"

#include <limits>
#include <optional>

#include <fmt/format.h>

#include "mappings/values.hpp"

namespace hub2kusto::pipeline {
namespace {

// Ticks (100 ns) since the Unix epoch; none for a time too far out to count in ticks (a sender
// can stamp any AMQP timestamp).
std::optional<std::int64_t> ticks(hub::Timestamp t) {
  constexpr std::int64_t per_ms = mappings::values::kTicksPerSecond / 1000;
  const std::int64_t ms = t.time_since_epoch().count();
  if (ms > std::numeric_limits<std::int64_t>::max() / per_ms ||
      ms < std::numeric_limits<std::int64_t>::min() / per_ms) {
    return std::nullopt;
  }
  return ms * per_ms;
}

mappings::PropertyValue datetime(hub::Timestamp t) {
  const auto v = ticks(t);
  return v ? mappings::PropertyValue::of_datetime(*v) : mappings::PropertyValue{};
}

mappings::PropertyValue from_amqp(const hub::AmqpValue& v, std::string& storage) {
  using mappings::PropertyValue;
  if (const auto* s = std::get_if<std::string>(&v.value)) {
    storage = *s;
    return PropertyValue::of_text(storage);
  }
  if (const auto* i = std::get_if<std::int64_t>(&v.value)) {
    return PropertyValue::of_integer(*i);
  }
  if (const auto* u = std::get_if<std::uint64_t>(&v.value)) {
    storage = std::to_string(*u);
    return PropertyValue::of_text(storage);
  }
  if (const auto* t = std::get_if<hub::Timestamp>(&v.value)) {
    return datetime(*t);
  }
  if (const auto* d = std::get_if<double>(&v.value)) {
    storage = fmt::format("{}", *d);
    return PropertyValue::of_text(storage);
  }
  if (const auto* b = std::get_if<bool>(&v.value)) {
    storage = *b ? "true" : "false";
    return PropertyValue::of_text(storage);
  }
  return {};
}

} // namespace

mappings::PropertyValue system_property_value(const hub::HubEvent& event, std::string_view name,
                                              std::string& storage) {
  using mappings::PropertyValue;
  if (name == "x-opt-enqueued-time") {
    return datetime(event.enqueued_time);
  }
  if (name == "x-opt-sequence-number" || name == "sequence-number") {
    return PropertyValue::of_integer(event.sequence_number.value());
  }
  if (name == "x-opt-offset") {
    storage = event.offset.value();
    return PropertyValue::of_text(storage);
  }
  if (name == "hub2kusto-partition-id") {
    storage = event.partition.value();
    return PropertyValue::of_text(storage);
  }
  if (name == "x-opt-partition-key") {
    if (!event.partition_key) {
      return {};
    }
    storage = *event.partition_key;
    return PropertyValue::of_text(storage);
  }
  if (const hub::AmqpValue* p = event.property(name)) {
    return from_amqp(*p, storage);
  }
  if (const auto a = event.annotation(name)) {
    return from_amqp(*a, storage);
  }
  // Application properties are the sender's: a device could name one
  // iothub-connection-device-id or x-opt-publisher and forge the column. Only the few that IoT
  // Hub itself carries there are read from them.
  if (name == "iothub-creation-time-utc" || name == "dt-dataschema" || name == "dt-subject") {
    if (const hub::AmqpValue* p = event.application_property(name)) {
      return from_amqp(*p, storage);
    }
  }
  return {};
}

Result<LocalMapper> LocalMapper::create(const mappings::MapperOptions& options) {
  auto mapper = mappings::Mapper::create(options);
  if (!mapper) {
    return failure(mapper.error().message);
  }
  return LocalMapper(std::move(mapper).value());
}

MappedEvent LocalMapper::map(const hub::HubEvent& event, std::string& out) {
  const auto properties = mapper_.system_properties();
  texts_.resize(properties.size());
  values_.clear();
  for (std::size_t i = 0; i < properties.size(); ++i) {
    values_.push_back(system_property_value(event, properties[i]->name, texts_[i]));
  }
  const std::string location = fmt::format("partition {} sequence number {}",
                                           event.partition.value(), event.sequence_number.value());
  const mappings::EventOutcome& r = mapper_.map({event.body, values_, location}, out);
  MappedEvent m;
  m.rows = r.rows;
  m.nulls = r.nulls.size();
  if (r.rejection) {
    // The engine's reason names the byte where it knows it.
    m.rejection = r.rejection->record == 0
                      ? r.rejection->reason
                      : fmt::format("record {}: {}", r.rejection->record, r.rejection->reason);
  }
  return m;
}

} // namespace hub2kusto::pipeline
