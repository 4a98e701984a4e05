#include "hub/hub_event.hpp"

#include <array>

namespace hub2kusto::hub {

std::string_view amqp_type_name(AmqpType type) {
  static constexpr std::array<std::string_view, 25> names = {
      "null",       "boolean", "ubyte",     "ushort", "uint",   "ulong",     "byte",
      "short",      "int",     "long",      "float",  "double", "decimal32", "decimal64",
      "decimal128", "char",    "timestamp", "uuid",   "binary", "string",    "symbol",
      "described",  "list",    "map",       "array",
  };
  const auto index = static_cast<std::size_t>(type);
  return index < names.size() ? names[index] : "unknown";
}

namespace {
const AmqpValue* find(const std::vector<NamedValue>& values, std::string_view name) {
  for (const auto& v : values) {
    if (v.name == name) {
      return &v.value;
    }
  }
  return nullptr;
}

std::size_t size_of(const std::vector<NamedValue>& values) {
  std::size_t n = 0;
  for (const auto& v : values) {
    n += v.name.size() + sizeof(NamedValue);
    if (const auto* s = std::get_if<std::string>(&v.value.value)) {
      n += s->size();
    }
  }
  return n;
}
} // namespace

std::optional<AmqpValue> HubEvent::annotation(std::string_view name) const {
  // Built in place: GCC 12 with the sanitizers warns (wrongly) that a variant moved into an
  // optional may be uninitialised.
  std::optional<AmqpValue> out;
  if (name == "x-opt-sequence-number") {
    out.emplace().type = AmqpType::long_;
    out->value.emplace<std::int64_t>(sequence_number.value());
  } else if (name == "x-opt-offset") {
    out.emplace().type = AmqpType::string;
    out->value.emplace<std::string>(offset.value());
  } else if (name == "x-opt-enqueued-time") {
    out.emplace().type = AmqpType::timestamp;
    out->value.emplace<Timestamp>(enqueued_time);
  } else if (name == "x-opt-partition-key") {
    if (partition_key) {
      out.emplace().type = AmqpType::string;
      out->value.emplace<std::string>(*partition_key);
    }
  } else if (const AmqpValue* v = find(annotations, name)) {
    out.emplace(*v);
  }
  return out;
}

const AmqpValue* HubEvent::application_property(std::string_view name) const {
  return find(application_properties, name);
}
const AmqpValue* HubEvent::property(std::string_view name) const {
  return find(properties, name);
}

std::size_t HubEvent::approximate_size() const {
  return sizeof(HubEvent) + body.size() + offset.value().size() + size_of(annotations) +
         size_of(application_properties) + size_of(properties);
}

} // namespace hub2kusto::hub
