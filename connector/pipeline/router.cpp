#include "pipeline/router.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include <fmt/format.h>

#include "base/text.hpp"
#include "common/key_value_list.hpp"
#include "common/redact.hpp"

namespace hub2kusto::pipeline {
namespace {

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
  return fmt::format("{}\x1f{}\x1f{}\x1f{}\x1f{}", database.value(), table.value(),
                     ingest_format_name(format), mapping ? mapping->value() : "", gzip ? "gz" : "");
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

// A name a sender gave (table, mapping): Kusto names are at most 1,024 characters and hold no
// control characters. Anything else is refused here, so it never reaches a log line or a
// request as it came (a newline in it could forge a log line).
static std::optional<std::string> bad_name(std::string_view property, std::string_view value) {
  const bool control = std::any_of(value.begin(), value.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
  if (value.size() > 1024 || control) {
    return fmt::format("the routing property '{}' is not a Kusto name: '{}'", property,
                       printable(value, 100));
  }
  return std::nullopt;
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
    if (auto why = bad_name("Table", **table)) {
      return failure(std::move(*why));
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
                                 printable(**database, 100)));
    }
    r.database = DatabaseName(**database);
  }
  auto format = text_property(event, "Format");
  if (!format) {
    return failure(std::move(format).error());
  }
  if (*format) {
    const auto f = parse_ingest_format(**format);
    if (!f) {
      return failure(fmt::format("the routing property 'Format' names '{}', which is not a "
                                 "Kusto data format",
                                 printable(**format, 100)));
    }
    if (*f != r.format) {
      r.mapping.reset(); // the configured mapping belongs to the configured format
    }
    r.format = *f;
  }
  auto mapping = text_property(event, "IngestionMappingReference");
  if (!mapping) {
    return failure(std::move(mapping).error());
  }
  if (*mapping) {
    if ((*mapping)->empty()) {
      r.mapping.reset();
    } else if (auto why = bad_name("IngestionMappingReference", **mapping)) {
      return failure(std::move(*why));
    } else {
      r.mapping = MappingName(**mapping);
    }
  }
  auto compression = text_property(event, "Compression");
  if (!compression) {
    return failure(std::move(compression).error());
  }
  if (*compression) {
    const std::string c = text::lower(**compression);
    if (c == "gzip") {
      r.gzip = true;
    } else if (c != "none") {
      return failure(fmt::format("the routing property 'Compression' is '{}'; ADX knows 'gzip' "
                                 "and 'none'",
                                 printable(**compression, 100)));
    }
  }
  return r;
}

} // namespace hub2kusto::pipeline
