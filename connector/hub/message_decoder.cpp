#include "hub/message_decoder.hpp"

#include <proton/annotation_key.hpp>
#include <proton/binary.hpp>
#include <proton/codec/decoder.hpp>
#include <proton/error.hpp>
#include <proton/map.hpp>
#include <proton/message.hpp>
#include <proton/message_id.hpp>
#include <proton/scalar.hpp>
#include <proton/symbol.hpp>
#include <proton/timestamp.hpp>
#include <proton/uuid.hpp>
#include <proton/value.hpp>

#include <exception>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/encoding.hpp"
#include "common/iso8601.hpp"

namespace hub2kusto::hub {
namespace {

using proton::codec::decoder;

AmqpType amqp_type(proton::type_id t) {
  switch (t) {
  case proton::NULL_TYPE: return AmqpType::null;
  case proton::BOOLEAN: return AmqpType::boolean;
  case proton::UBYTE: return AmqpType::ubyte;
  case proton::USHORT: return AmqpType::ushort;
  case proton::UINT: return AmqpType::uint;
  case proton::ULONG: return AmqpType::ulong;
  case proton::BYTE: return AmqpType::byte;
  case proton::SHORT: return AmqpType::short_;
  case proton::INT: return AmqpType::int_;
  case proton::LONG: return AmqpType::long_;
  case proton::FLOAT: return AmqpType::float_;
  case proton::DOUBLE: return AmqpType::double_;
  case proton::DECIMAL32: return AmqpType::decimal32;
  case proton::DECIMAL64: return AmqpType::decimal64;
  case proton::DECIMAL128: return AmqpType::decimal128;
  case proton::CHAR: return AmqpType::char_;
  case proton::TIMESTAMP: return AmqpType::timestamp;
  case proton::UUID: return AmqpType::uuid;
  case proton::BINARY: return AmqpType::binary;
  case proton::STRING: return AmqpType::string;
  case proton::SYMBOL: return AmqpType::symbol;
  case proton::DESCRIBED: return AmqpType::described;
  case proton::LIST: return AmqpType::list;
  case proton::MAP: return AmqpType::map;
  case proton::ARRAY: return AmqpType::array;
  }
  return AmqpType::null;
}

bool is_composite(proton::type_id t) {
  return t == proton::LIST || t == proton::MAP || t == proton::ARRAY || t == proton::DESCRIBED;
}

std::string bytes_of(const proton::binary& b) {
  return std::string(b.begin(), b.end());
}

// A scalar with its type; text for the kinds that have no native C++ value here.
AmqpValue from_scalar(const proton::scalar& s) {
  AmqpValue v{.type = amqp_type(s.type()), .value = {}};
  switch (s.type()) {
  case proton::NULL_TYPE: break;
  case proton::BOOLEAN: v.value = proton::get<bool>(s); break;
  case proton::UBYTE: case proton::USHORT: case proton::UINT: case proton::ULONG:
    v.value = proton::coerce<std::uint64_t>(s);
    break;
  case proton::BYTE: case proton::SHORT: case proton::INT: case proton::LONG:
    v.value = proton::coerce<std::int64_t>(s);
    break;
  case proton::CHAR: v.value = static_cast<std::uint64_t>(proton::get<wchar_t>(s)); break;
  case proton::FLOAT: case proton::DOUBLE: v.value = proton::coerce<double>(s); break;
  case proton::TIMESTAMP:
    v.value = Timestamp(std::chrono::milliseconds(proton::get<proton::timestamp>(s).milliseconds()));
    break;
  case proton::UUID: v.value = proton::get<proton::uuid>(s).str(); break;
  case proton::BINARY: v.value = bytes_of(proton::get<proton::binary>(s)); break;
  case proton::STRING: v.value = proton::get<std::string>(s); break;
  case proton::SYMBOL: v.value = std::string(proton::get<proton::symbol>(s)); break;
  default: v.value = proton::to_string(s); break; // decimals: Proton's text form
  }
  return v;
}

nlohmann::json scalar_json(const proton::scalar& s) {
  const AmqpValue v = from_scalar(s);
  return std::visit(
      [&](const auto& x) -> nlohmann::json {
        using X = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<X, std::monostate>) {
          return nullptr;
        } else if constexpr (std::is_same_v<X, Timestamp>) {
          // The system clock counts nanoseconds in 64 bits (years 1678-2262); a timestamp
          // outside stays its Unix milliseconds rather than overflowing (found by fuzzing).
          constexpr std::int64_t kLimitMs = 9'000'000'000'000;
          const std::int64_t ms = x.time_since_epoch().count();
          if (ms > kLimitMs || ms < -kLimitMs) {
            return ms;
          }
          return format_iso8601_utc(std::chrono::time_point_cast<std::chrono::system_clock::duration>(x));
        } else if constexpr (std::is_same_v<X, std::string>) {
          if (v.type == AmqpType::binary) {
            return encoding::base64_encode(x);
          }
          return x;
        } else {
          return x;
        }
      },
      v.value);
}

nlohmann::json read_json(decoder& d);

// The elements of a composite the decoder has just started.
nlohmann::json read_composite(decoder& d, const proton::codec::start& s) {
  nlohmann::json out;
  if (s.type == proton::MAP) {
    out = nlohmann::json::object();
    for (std::size_t i = 0; i < s.size; i += 2) {
      nlohmann::json key = read_json(d);
      nlohmann::json value = read_json(d);
      out[key.is_string() ? key.get<std::string>() : key.dump()] = std::move(value);
    }
  } else if (s.type == proton::DESCRIBED) {
    nlohmann::json descriptor = read_json(d);
    nlohmann::json value = read_json(d);
    out = {{"descriptor", std::move(descriptor)}, {"value", std::move(value)}};
  } else {
    out = nlohmann::json::array();
    for (std::size_t i = 0; i < s.size; ++i) {
      out.push_back(read_json(d));
    }
  }
  d >> proton::codec::finish();
  return out;
}

nlohmann::json read_json(decoder& d) {
  const proton::type_id t = d.next_type();
  if (is_composite(t)) {
    proton::codec::start s;
    d >> s;
    return read_composite(d, s);
  }
  proton::scalar sc;
  d >> sc;
  return scalar_json(sc);
}

AmqpValue read_value(decoder& d) {
  const proton::type_id t = d.next_type();
  if (is_composite(t)) {
    proton::codec::start s;
    d >> s;
    return AmqpValue{.type = amqp_type(t), .value = read_composite(d, s).dump()};
  }
  proton::scalar sc;
  d >> sc;
  return from_scalar(sc);
}

// A map section (annotations or application properties) to named values; keys are symbols,
// strings or ulongs (annotation keys may be numeric).
std::vector<NamedValue> read_map(const proton::value& map) {
  std::vector<NamedValue> out;
  if (map.empty() || map.type() != proton::MAP) {
    return out;
  }
  decoder d(map);
  proton::codec::start s;
  d >> s;
  out.reserve(s.size / 2);
  for (std::size_t i = 0; i < s.size; i += 2) {
    const AmqpValue key = read_value(d);
    NamedValue nv;
    if (const auto* text = std::get_if<std::string>(&key.value)) {
      nv.name = *text;
    } else if (const auto* u = std::get_if<std::uint64_t>(&key.value)) {
      nv.name = std::to_string(*u);
    } else if (const auto* n = std::get_if<std::int64_t>(&key.value)) {
      nv.name = std::to_string(*n);
    }
    nv.value = read_value(d);
    out.push_back(std::move(nv));
  }
  d >> proton::codec::finish();
  return out;
}

void add_text(std::vector<NamedValue>& out, const char* name, std::string text,
              AmqpType type = AmqpType::string) {
  if (!text.empty()) {
    out.push_back({name, AmqpValue{.type = type, .value = std::move(text)}});
  }
}

void add_id(std::vector<NamedValue>& out, const char* name, const proton::message_id& id) {
  if (!id.empty()) {
    proton::value v;
    v = id;
    out.push_back({name, to_amqp_value(v)});
  }
}

void add_time(std::vector<NamedValue>& out, const char* name, proton::timestamp t) {
  if (t.milliseconds() != 0) {
    out.push_back({name, AmqpValue{.type = AmqpType::timestamp,
                                   .value = Timestamp(std::chrono::milliseconds(t.milliseconds()))}});
  }
}

std::vector<NamedValue> read_properties(const proton::message& m) {
  std::vector<NamedValue> out;
  add_id(out, "message-id", m.id());
  add_text(out, "user-id", m.user(), AmqpType::binary);
  add_text(out, "to", m.to());
  add_text(out, "subject", m.subject());
  add_text(out, "reply-to", m.reply_to());
  add_id(out, "correlation-id", m.correlation_id());
  add_text(out, "content-type", m.content_type(), AmqpType::symbol);
  add_text(out, "content-encoding", m.content_encoding(), AmqpType::symbol);
  add_time(out, "absolute-expiry-time", m.expiry_time());
  add_time(out, "creation-time", m.creation_time());
  add_text(out, "group-id", m.group_id());
  if (m.group_sequence() != 0) {
    out.push_back({"group-sequence", AmqpValue{.type = AmqpType::uint,
                                               .value = static_cast<std::uint64_t>(
                                                   static_cast<std::uint32_t>(m.group_sequence()))}});
  }
  add_text(out, "reply-to-group-id", m.reply_to_group_id());
  return out;
}

void read_body(const proton::message& m, HubEvent& e) {
  const proton::value& body = m.body();
  if (body.empty()) {
    e.body_type = BodyType::none;
    return;
  }
  const proton::type_id t = body.type();
  if (t == proton::BINARY) {
    // A data section. (Proton C++ 0.37 decodes an amqp-value binary to the same value and does
    // not say which it was; both are the bytes the producer sent.) The bytes pass through one
    // buffer per thread that keeps its capacity, so the body costs one allocation, its own.
    thread_local proton::binary buffer;
    decoder d(body);
    d >> buffer;
    e.body_type = BodyType::data;
    e.body.assign(buffer.begin(), buffer.end());
    return;
  }
  if (t == proton::STRING) {
    e.body_type = BodyType::value;
    e.body = proton::get<std::string>(body);
    return;
  }
  e.body_type = (t == proton::LIST && m.inferred()) ? BodyType::sequence : BodyType::value;
  decoder d(body);
  e.body = read_json(d).dump();
}

} // namespace

AmqpValue to_amqp_value(const proton::value& value) {
  if (value.empty()) {
    return {};
  }
  decoder d(value);
  return read_value(d);
}

namespace {

// Reads the message annotations straight off the decoder: the four the service promotes
// (eventhubs-amqp.md §6.1) into their fields with their expected types, any other into the
// list. This is the hot path of every received event, so it allocates as little as it can.
void read_annotations(const proton::message& m, HubEvent& e, bool& have_sequence,
                      bool& have_offset, bool& have_time) {
  const proton::value& map = m.message_annotations().value();
  if (map.empty() || map.type() != proton::MAP) {
    return;
  }
  decoder d(map);
  proton::codec::start s;
  d >> s;
  // Keys are read into one buffer per thread, which keeps its capacity: the promoted keys
  // (up to 21 characters, past the small-string size) then cost no allocation.
  thread_local proton::symbol key;
  for (std::size_t i = 0; i < s.size; i += 2) {
    std::string_view name_view;
    std::string name;
    if (d.next_type() == proton::SYMBOL) {
      d >> key;
      name_view = key;
    } else {
      const AmqpValue numeric = read_value(d);
      if (const auto* text = std::get_if<std::string>(&numeric.value)) {
        name = *text;
      } else if (const auto* u = std::get_if<std::uint64_t>(&numeric.value)) {
        name = std::to_string(*u);
      }
      name_view = name;
    }
    const proton::type_id type = d.next_type();
    if (name_view == "x-opt-sequence-number" && type == proton::LONG) {
      std::int64_t n = 0;
      d >> n;
      e.sequence_number = SequenceNumber(n);
      have_sequence = true;
    } else if (name_view == "x-opt-offset" && type == proton::STRING) {
      std::string offset;
      d >> offset;
      e.offset = Offset(std::move(offset));
      have_offset = true;
    } else if (name_view == "x-opt-offset" && (type == proton::LONG || type == proton::ULONG)) {
      // Older services sent a number; keep it as the text it denotes.
      const AmqpValue v = read_value(d);
      e.offset = Offset(std::holds_alternative<std::int64_t>(v.value)
                            ? std::to_string(std::get<std::int64_t>(v.value))
                            : std::to_string(std::get<std::uint64_t>(v.value)));
      have_offset = true;
    } else if (name_view == "x-opt-enqueued-time" && type == proton::TIMESTAMP) {
      proton::timestamp t;
      d >> t;
      e.enqueued_time = Timestamp(std::chrono::milliseconds(t.milliseconds()));
      have_time = true;
    } else if (name_view == "x-opt-partition-key" && type == proton::STRING) {
      std::string partition_key;
      d >> partition_key;
      e.partition_key = std::move(partition_key);
    } else {
      e.annotations.push_back({std::string(name_view), read_value(d)});
    }
  }
  d >> proton::codec::finish();
}

} // namespace

Result<HubEvent> decode_event(const proton::message& m, const PartitionId& partition) {
  try {
    HubEvent e;
    e.partition = partition;
    bool have_sequence = false;
    bool have_offset = false;
    bool have_time = false;
    read_annotations(m, e, have_sequence, have_offset, have_time);
    if (!have_sequence) {
      return failure(fmt::format("an event on partition {} has no x-opt-sequence-number of "
                                 "type long; the service always sets one",
                                 partition));
    }
    if (!have_offset || !have_time) {
      return failure(fmt::format("event {} on partition {} lacks {}", e.sequence_number,
                                 partition,
                                 !have_offset ? "x-opt-offset (string)"
                                              : "x-opt-enqueued-time (timestamp)"));
    }
    if (!m.properties().empty()) {
      e.application_properties = read_map(m.properties().value());
    }
    e.properties = read_properties(m);
    read_body(m, e);
    return e;
  } catch (const std::exception& ex) {
    return failure(fmt::format("an event on partition {} could not be decoded: {}", partition,
                               ex.what()));
  }
}

Result<HubEvent> decode_event(std::string_view encoded, const PartitionId& partition) {
  try {
    proton::message m;
    m.decode(std::vector<char>(encoded.begin(), encoded.end()));
    return decode_event(m, partition);
  } catch (const std::exception& ex) {
    return failure(fmt::format("a message on partition {} is not valid AMQP: {}", partition,
                               ex.what()));
  }
}

} // namespace hub2kusto::hub
