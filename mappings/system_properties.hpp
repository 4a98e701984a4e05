#pragma once
// Event system properties that ADX data connections can ingest as columns
// (docs/protocols.md, "Received events"), in the order ADX prepends them to tabular
// records. JSON records address them as top-level fields by these exact names.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "mappings/schema.hpp"

namespace hub2kusto::mappings {

struct SystemPropertyInfo {
  std::string_view name;
  ColumnType type; // string, long or datetime
};

// Event Hubs properties first, then IoT Hub's, each in ADX's documented order; then
// hub2kusto-partition-id, which only hub2kusto knows.
std::span<const SystemPropertyInfo> known_system_properties();
const SystemPropertyInfo* find_system_property(std::string_view name);

// One property's value for one event. Absent when the event does not carry it.
struct PropertyValue {
  enum class Kind { absent, text, integer, datetime };
  Kind kind = Kind::absent;
  std::string_view text;   // Kind::text
  std::int64_t number = 0; // Kind::integer, or ticks since the Unix epoch for Kind::datetime

  static PropertyValue of_text(std::string_view t) { return {Kind::text, t, 0}; }
  static PropertyValue of_integer(std::int64_t v) { return {Kind::integer, {}, v}; }
  static PropertyValue of_datetime(std::int64_t ticks) { return {Kind::datetime, {}, ticks}; }
};

} // namespace hub2kusto::mappings
