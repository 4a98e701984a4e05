#include <array>
#include <utility>

#include "base/text.hpp"
#include "mappings/format.hpp"
#include "mappings/system_properties.hpp"

namespace hub2kusto::mappings {
namespace {

using text::iequals;
using text::lower;

constexpr std::array<std::pair<std::string_view, DataFormat>, 11> kFormats = {{
    {"json", DataFormat::json},
    {"multijson", DataFormat::multijson},
    {"singlejson", DataFormat::singlejson},
    {"csv", DataFormat::csv},
    {"tsv", DataFormat::tsv},
    {"tsve", DataFormat::tsve},
    {"psv", DataFormat::psv},
    {"scsv", DataFormat::scsv},
    {"sohsv", DataFormat::sohsv},
    {"txt", DataFormat::txt},
    {"raw", DataFormat::raw},
}};

constexpr std::array<SystemPropertyInfo, 21> kProperties = {{
    // Event Hubs data connection.
    {"x-opt-enqueued-time", ColumnType::datetime},
    {"x-opt-sequence-number", ColumnType::int64},
    {"x-opt-offset", ColumnType::string},
    {"x-opt-publisher", ColumnType::string},
    {"x-opt-partition-key", ColumnType::string},
    // IoT Hub data connection.
    {"message-id", ColumnType::string},
    {"sequence-number", ColumnType::int64},
    {"to", ColumnType::string},
    {"absolute-expiry-time", ColumnType::datetime},
    {"iothub-enqueuedtime", ColumnType::datetime},
    {"correlation-id", ColumnType::string},
    {"user-id", ColumnType::string},
    {"iothub-ack", ColumnType::string},
    {"iothub-connection-device-id", ColumnType::string},
    {"iothub-connection-module-id", ColumnType::string},
    {"iothub-connection-auth-generation-id", ColumnType::string},
    {"iothub-connection-auth-method", ColumnType::string},
    {"iothub-creation-time-utc", ColumnType::datetime},
    {"dt-dataschema", ColumnType::string},
    {"dt-subject", ColumnType::string},
    // hub2kusto's own, after ADX's: the partition the event was read from. With the sequence
    // number it names an event exactly, the key of exact de-duplication in the table
    // (docs/protocols.md, "De-duplicating queued batches"). ADX's data connections have no such
    // property.
    {"hub2kusto-partition-id", ColumnType::string},
}};

} // namespace

std::optional<DataFormat> parse_data_format(std::string_view name) {
  for (const auto& [n, f] : kFormats) {
    if (iequals(n, name)) {
      return f;
    }
  }
  return std::nullopt;
}

std::string_view to_string(DataFormat format) {
  for (const auto& [n, f] : kFormats) {
    if (f == format) {
      return n;
    }
  }
  return "?";
}

MappingKind mapping_kind_of(DataFormat format) {
  switch (format) {
  case DataFormat::json:
  case DataFormat::multijson:
  case DataFormat::singlejson:
    return MappingKind::json;
  default:
    return MappingKind::csv;
  }
}

std::span<const SystemPropertyInfo> known_system_properties() {
  return kProperties;
}

const SystemPropertyInfo* find_system_property(std::string_view name) {
  for (const auto& p : kProperties) {
    if (p.name == name) {
      return &p;
    }
  }
  return nullptr;
}

} // namespace hub2kusto::mappings
