#include "pipeline/router.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include <fmt/format.h>

#include "common/key_value_list.hpp"

namespace hub2kusto::pipeline {
namespace {

// The formats Kusto ingests (kusto-ingest.md §7).
constexpr std::array<std::string_view, 16> kFormats = {
    "csv",  "tsv",       "tsve",       "psv",  "scsv",       "sohsv",   "txt", "raw",
    "json", "multijson", "singlejson", "avro", "apacheavro", "parquet", "orc", "w3clogfile"};

// A routing property's text; an error when it is present but not a string.
Result<std::optional<std::string>> text_property(const hub::HubEvent& e, std::string_view name) {
  const hub::AmqpValue* v = e.application_property(name);
  if (v == nullptr) {
    return std::optional<std::string>();
  }
  const auto* s = std::get_if<std::string>(&v->value);
  if (s == nullptr || (v->type != hub::AmqpType::string && v->type != hub::AmqpType::symbol)) {
    return failure(fmt::format("the routing property '{}' is a {}, not a string", name,
                               hub::amqp_type_name(v->type)));
  }
  return std::optional<std::string>(*s);
}

} // namespace

std::string Route::key() const {
  return fmt::format("{}\x1f{}\x1f{}\x1f{}\x1f{}", database.value(), table.value(), format,
                     mapping ? mapping->value() : "", gzip ? "gz" : "");
}

bool has_routing_properties(const hub::HubEvent& event) {
  for (const auto& p : event.application_properties) {
    if (p.name == "Table" || p.name == "Database" || p.name == "Format" ||
        p.name == "IngestionMappingReference" || p.name == "Compression") {
      return true;
    }
  }
  return false;
}

Result<Route> route_event(const hub::HubEvent& event, const RoutingConfig& config) {
  Route r = config.defaults;
  auto table = text_property(event, "Table");
  if (!table) {
    return failure(std::move(table).error());
  }
  if (*table) {
    if ((*table)->empty()) {
      return failure("the routing property 'Table' is empty");
    }
    r.table = TableName(**table);
  }
  auto database = text_property(event, "Database");
  if (!database) {
    return failure(std::move(database).error());
  }
  if (*database && **database != config.defaults.database.value()) {
    if (!config.allowed_databases.contains(**database)) {
      return failure(fmt::format("the routing property 'Database' names '{}', which the "
                                 "configuration does not allow",
                                 **database));
    }
    r.database = DatabaseName(**database);
  }
  auto format = text_property(event, "Format");
  if (!format) {
    return failure(std::move(format).error());
  }
  if (*format) {
    const std::string f = ascii_lower(**format);
    if (std::find(kFormats.begin(), kFormats.end(), f) == kFormats.end()) {
      return failure(fmt::format("the routing property 'Format' names '{}', which is not a "
                                 "Kusto data format",
                                 **format));
    }
    if (f != r.format) {
      r.mapping.reset(); // the configured mapping belongs to the configured format
    }
    r.format = f;
  }
  auto mapping = text_property(event, "IngestionMappingReference");
  if (!mapping) {
    return failure(std::move(mapping).error());
  }
  if (*mapping) {
    if ((*mapping)->empty()) {
      r.mapping.reset();
    } else {
      r.mapping = MappingName(**mapping);
    }
  }
  auto compression = text_property(event, "Compression");
  if (!compression) {
    return failure(std::move(compression).error());
  }
  if (*compression) {
    const std::string c = ascii_lower(**compression);
    if (c == "gzip") {
      r.gzip = true;
    } else if (c != "none") {
      return failure(fmt::format("the routing property 'Compression' is '{}'; ADX knows 'gzip' "
                                 "and 'none'",
                                 **compression));
    }
  }
  return r;
}

} // namespace hub2kusto::pipeline
