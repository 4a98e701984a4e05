#include "hub/message_decoder.hpp"

#include <bit>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/encoding.hpp"
#include "common/iso8601.hpp"

namespace hub2kusto::hub {
namespace {

// AMQP 1.0 part 1 §1.6: the format codes this decoder reads.
enum Code : std::uint8_t {
  kDescribed = 0x00,
  kNull = 0x40,
  kTrue = 0x41,
  kFalse = 0x42,
  kUint0 = 0x43,
  kUlong0 = 0x44,
  kList0 = 0x45,
  kUbyte = 0x50,
  kByte = 0x51,
  kSmallUint = 0x52,
  kSmallUlong = 0x53,
  kSmallInt = 0x54,
  kSmallLong = 0x55,
  kBoolean = 0x56,
  kUshort = 0x60,
  kShort = 0x61,
  kUint = 0x70,
  kInt = 0x71,
  kFloat = 0x72,
  kChar = 0x73,
  kDecimal32 = 0x74,
  kUlong = 0x80,
  kLong = 0x81,
  kDouble = 0x82,
  kTimestamp = 0x83,
  kDecimal64 = 0x84,
  kDecimal128 = 0x94,
  kUuid = 0x98,
  kVbin8 = 0xa0,
  kStr8 = 0xa1,
  kSym8 = 0xa3,
  kVbin32 = 0xb0,
  kStr32 = 0xb1,
  kSym32 = 0xb3,
  kList8 = 0xc0,
  kMap8 = 0xc1,
  kList32 = 0xd0,
  kMap32 = 0xd1,
  kArray8 = 0xe0,
  kArray32 = 0xf0,
};

// Message sections (part 3 §3.2) by descriptor code.
enum Section : std::uint64_t {
  kHeader = 0x70,
  kDeliveryAnnotations = 0x71,
  kMessageAnnotations = 0x72,
  kProperties = 0x73,
  kApplicationProperties = 0x74,
  kData = 0x75,
  kSequence = 0x76,
  kValue = 0x77,
  kFooter = 0x78,
};

constexpr int kMaxDepth = 64; // nesting of composites: a hostile message cannot exhaust the stack

struct Malformed {
  const char* what;
};

// Reads big-endian AMQP encodings off a byte range; throws Malformed (caught below, never
// escaping) when the bytes run out or do not make sense.
class Reader {
public:
  explicit Reader(std::string_view bytes)
      : p_(reinterpret_cast<const unsigned char*>(bytes.data())), end_(p_ + bytes.size()) {}

  bool at_end() const { return p_ == end_; }
  std::size_t left() const { return static_cast<std::size_t>(end_ - p_); }

  std::uint8_t u8() {
    need(1);
    return *p_++;
  }
  std::uint16_t u16() { return static_cast<std::uint16_t>(be(2)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(be(4)); }
  std::uint64_t u64() { return be(8); }
  std::string_view bytes(std::size_t n) {
    need(n);
    std::string_view out(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return out;
  }
  void skip(std::size_t n) { (void)bytes(n); }

private:
  void need(std::size_t n) const {
    if (left() < n) {
      throw Malformed{"the message ends inside a value"};
    }
  }
  std::uint64_t be(std::size_t n) {
    need(n);
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) {
      v = (v << 8) | p_[i];
    }
    p_ += n;
    return v;
  }

  const unsigned char* p_;
  const unsigned char* end_;
};

// The size and element count of a composite whose format code was just read.
struct Composite {
  std::uint32_t count = 0;
  std::size_t size = 0; // bytes after the size field
};

Composite read_composite_header(Reader& r, std::uint8_t code) {
  Composite c;
  switch (code) {
  case kList0:
    return c;
  case kList8:
  case kMap8:
  case kArray8:
    c.size = r.u8();
    if (c.size < 1)
      throw Malformed{"a composite is shorter than its count"};
    c.count = r.u8();
    c.size -= 1;
    break;
  case kList32:
  case kMap32:
  case kArray32:
    c.size = r.u32();
    if (c.size < 4)
      throw Malformed{"a composite is shorter than its count"};
    c.count = r.u32();
    c.size -= 4;
    break;
  default:
    throw Malformed{"not a composite"};
  }
  if (c.size > r.left()) {
    throw Malformed{"a composite is longer than the message"};
  }
  // Every element takes at least one byte (array elements may take none: checked per array).
  if ((code == kList8 || code == kList32 || code == kMap8 || code == kMap32) && c.count > c.size) {
    throw Malformed{"a composite counts more elements than it has bytes"};
  }
  if ((code == kMap8 || code == kMap32) && c.count % 2 != 0) {
    throw Malformed{"a map has an odd number of elements"};
  }
  return c;
}

AmqpType type_of(std::uint8_t code) {
  switch (code) {
  case kNull:
    return AmqpType::null;
  case kTrue:
  case kFalse:
  case kBoolean:
    return AmqpType::boolean;
  case kUbyte:
    return AmqpType::ubyte;
  case kUshort:
    return AmqpType::ushort;
  case kUint:
  case kSmallUint:
  case kUint0:
    return AmqpType::uint;
  case kUlong:
  case kSmallUlong:
  case kUlong0:
    return AmqpType::ulong;
  case kByte:
    return AmqpType::byte;
  case kShort:
    return AmqpType::short_;
  case kInt:
  case kSmallInt:
    return AmqpType::int_;
  case kLong:
  case kSmallLong:
    return AmqpType::long_;
  case kFloat:
    return AmqpType::float_;
  case kDouble:
    return AmqpType::double_;
  case kDecimal32:
    return AmqpType::decimal32;
  case kDecimal64:
    return AmqpType::decimal64;
  case kDecimal128:
    return AmqpType::decimal128;
  case kChar:
    return AmqpType::char_;
  case kTimestamp:
    return AmqpType::timestamp;
  case kUuid:
    return AmqpType::uuid;
  case kVbin8:
  case kVbin32:
    return AmqpType::binary;
  case kStr8:
  case kStr32:
    return AmqpType::string;
  case kSym8:
  case kSym32:
    return AmqpType::symbol;
  case kList0:
  case kList8:
  case kList32:
    return AmqpType::list;
  case kMap8:
  case kMap32:
    return AmqpType::map;
  case kArray8:
  case kArray32:
    return AmqpType::array;
  case kDescribed:
    return AmqpType::described;
  default:
    throw Malformed{"an unknown format code"};
  }
}

std::string uuid_text(std::string_view b) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) {
      out.push_back('-');
    }
    const auto c = static_cast<unsigned char>(b[i]);
    out.push_back(hex[c >> 4]);
    out.push_back(hex[c & 0xf]);
  }
  return out;
}

std::string hex_text(std::string_view b) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "0x";
  for (const char ch : b) {
    const auto c = static_cast<unsigned char>(ch);
    out.push_back(hex[c >> 4]);
    out.push_back(hex[c & 0xf]);
  }
  return out;
}

// JSON text of a decoded value; bytes that are not UTF-8 become U+FFFD rather than an error.
std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json json_of(Reader& r, std::uint8_t code, int depth);

// A scalar with format code `code`; composites go to JSON text.
AmqpValue value_of(Reader& r, std::uint8_t code, int depth) {
  AmqpValue v{.type = type_of(code), .value = {}};
  switch (code) {
  case kNull:
    break;
  case kTrue:
    v.value = true;
    break;
  case kFalse:
    v.value = false;
    break;
  case kBoolean:
    v.value = r.u8() != 0;
    break;
  case kUint0:
  case kUlong0:
    v.value = std::uint64_t{0};
    break;
  case kUbyte:
  case kSmallUint:
  case kSmallUlong:
    v.value = std::uint64_t{r.u8()};
    break;
  case kUshort:
    v.value = std::uint64_t{r.u16()};
    break;
  case kUint:
    v.value = std::uint64_t{r.u32()};
    break;
  case kUlong:
    v.value = r.u64();
    break;
  case kByte:
  case kSmallInt:
  case kSmallLong:
    v.value = std::int64_t{static_cast<std::int8_t>(r.u8())};
    break;
  case kShort:
    v.value = std::int64_t{static_cast<std::int16_t>(r.u16())};
    break;
  case kInt:
    v.value = std::int64_t{static_cast<std::int32_t>(r.u32())};
    break;
  case kLong:
    v.value = static_cast<std::int64_t>(r.u64());
    break;
  case kFloat:
    v.value = double{std::bit_cast<float>(r.u32())};
    break;
  case kDouble:
    v.value = std::bit_cast<double>(r.u64());
    break;
  case kChar:
    v.value = std::uint64_t{r.u32()};
    break;
  case kTimestamp:
    v.value = Timestamp(std::chrono::milliseconds(static_cast<std::int64_t>(r.u64())));
    break;
  case kDecimal32:
    v.value = hex_text(r.bytes(4));
    break;
  case kDecimal64:
    v.value = hex_text(r.bytes(8));
    break;
  case kDecimal128:
    v.value = hex_text(r.bytes(16));
    break;
  case kUuid:
    v.value = uuid_text(r.bytes(16));
    break;
  case kVbin8:
  case kStr8:
  case kSym8:
    v.value = std::string(r.bytes(r.u8()));
    break;
  case kVbin32:
  case kStr32:
  case kSym32:
    v.value = std::string(r.bytes(r.u32()));
    break;
  default:
    v.value = dump(json_of(r, code, depth));
    break;
  }
  return v;
}

AmqpValue read_value(Reader& r, int depth = 0) {
  return value_of(r, r.u8(), depth);
}

nlohmann::json json_of_scalar(const AmqpValue& v) {
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
          return format_iso8601_utc(
              std::chrono::time_point_cast<std::chrono::system_clock::duration>(x));
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

std::string key_text(const nlohmann::json& key) {
  return key.is_string() ? key.get<std::string>() : dump(key);
}

// Any value with format code `code`, as JSON.
nlohmann::json json_of(Reader& r, std::uint8_t code, int depth) {
  if (depth > kMaxDepth) {
    throw Malformed{"values nest too deeply"};
  }
  switch (code) {
  case kDescribed: {
    nlohmann::json descriptor = json_of(r, r.u8(), depth + 1);
    nlohmann::json value = json_of(r, r.u8(), depth + 1);
    return {{"descriptor", std::move(descriptor)}, {"value", std::move(value)}};
  }
  case kList0:
  case kList8:
  case kList32: {
    const Composite c = read_composite_header(r, code);
    nlohmann::json out = nlohmann::json::array();
    for (std::uint32_t i = 0; i < c.count; ++i) {
      out.push_back(json_of(r, r.u8(), depth + 1));
    }
    return out;
  }
  case kMap8:
  case kMap32: {
    const Composite c = read_composite_header(r, code);
    nlohmann::json out = nlohmann::json::object();
    for (std::uint32_t i = 0; i < c.count; i += 2) {
      std::string key = key_text(json_of(r, r.u8(), depth + 1));
      out[key] = json_of(r, r.u8(), depth + 1);
    }
    return out;
  }
  case kArray8:
  case kArray32: {
    const Composite c = read_composite_header(r, code);
    std::uint8_t element = r.u8();
    if (element == kDescribed) { // a described array: one descriptor for all elements
      (void)json_of(r, r.u8(), depth + 1);
      element = r.u8();
    }
    if (element == kNull || element == kTrue || element == kFalse || element == kUint0 ||
        element == kUlong0 || element == kList0) {
      if (c.count > 1'000'000) {
        throw Malformed{"an array of empty values is implausibly long"};
      }
    } else if (c.count > c.size) {
      throw Malformed{"an array counts more elements than it has bytes"};
    }
    nlohmann::json out = nlohmann::json::array();
    for (std::uint32_t i = 0; i < c.count; ++i) {
      out.push_back(json_of(r, element, depth + 1));
    }
    return out;
  }
  default:
    return json_of_scalar(value_of(r, code, depth));
  }
}

// Skips one value (a section this decoder does not keep, such as the header).
void skip_value(Reader& r, int depth = 0) {
  (void)json_of(r, r.u8(), depth);
}

std::uint64_t section_code(Reader& r) {
  if (r.u8() != kDescribed) {
    throw Malformed{"a message section is not a described value"};
  }
  const std::uint8_t code = r.u8();
  if (code == kSmallUlong) {
    return r.u8();
  }
  if (code == kUlong) {
    return r.u64();
  }
  if (code == kSym8 || code == kSym32) {
    const std::string_view name = r.bytes(code == kSym8 ? r.u8() : r.u32());
    static constexpr std::pair<std::string_view, std::uint64_t> names[] = {
        {"amqp:header:list", kHeader},
        {"amqp:delivery-annotations:map", kDeliveryAnnotations},
        {"amqp:message-annotations:map", kMessageAnnotations},
        {"amqp:properties:list", kProperties},
        {"amqp:application-properties:map", kApplicationProperties},
        {"amqp:data:binary", kData},
        {"amqp:amqp-sequence:list", kSequence},
        {"amqp:amqp-value:*", kValue},
        {"amqp:footer:map", kFooter},
    };
    for (const auto& [n, c] : names) {
      if (n == name) {
        return c;
      }
    }
    throw Malformed{"an unknown message section"};
  }
  throw Malformed{"a message section has no section descriptor"};
}

// The name of a map key: symbols and strings as they are, integers as their digits.
std::string_view key_name(Reader& r, std::string& scratch) {
  const std::uint8_t code = r.u8();
  if (code == kSym8 || code == kStr8) {
    return r.bytes(r.u8());
  }
  if (code == kSym32 || code == kStr32) {
    return r.bytes(r.u32());
  }
  const AmqpValue key = value_of(r, code, 1);
  if (const auto* u = std::get_if<std::uint64_t>(&key.value)) {
    scratch = std::to_string(*u);
  } else if (const auto* n = std::get_if<std::int64_t>(&key.value)) {
    scratch = std::to_string(*n);
  } else {
    scratch = dump(json_of_scalar(key));
  }
  return scratch;
}

struct Positions {
  bool sequence = false;
  bool offset = false;
  bool time = false;
};

void read_message_annotations(Reader& r, HubEvent& e, Positions& found) {
  const std::uint8_t code = r.u8();
  if (code == kNull) {
    return;
  }
  const Composite c = read_composite_header(r, code);
  if (code != kMap8 && code != kMap32) {
    throw Malformed{"message annotations are not a map"};
  }
  std::string scratch;
  for (std::uint32_t i = 0; i < c.count; i += 2) {
    const std::string_view name = key_name(r, scratch);
    AmqpValue value = read_value(r, 1);
    if (name == "x-opt-sequence-number" && value.type == AmqpType::long_) {
      e.sequence_number = SequenceNumber(std::get<std::int64_t>(value.value));
      found.sequence = true;
    } else if (name == "x-opt-offset" && value.type == AmqpType::string) {
      e.offset = Offset(std::move(std::get<std::string>(value.value)));
      found.offset = true;
    } else if (name == "x-opt-offset" &&
               (value.type == AmqpType::long_ || value.type == AmqpType::ulong)) {
      e.offset = Offset(std::holds_alternative<std::int64_t>(value.value)
                            ? std::to_string(std::get<std::int64_t>(value.value))
                            : std::to_string(std::get<std::uint64_t>(value.value)));
      found.offset = true;
    } else if (name == "x-opt-enqueued-time" && value.type == AmqpType::timestamp) {
      e.enqueued_time = std::get<Timestamp>(value.value);
      found.time = true;
    } else if (name == "x-opt-partition-key" && value.type == AmqpType::string) {
      e.partition_key = std::move(std::get<std::string>(value.value));
    } else {
      e.annotations.push_back({std::string(name), std::move(value)});
    }
  }
}

void read_application_properties(Reader& r, HubEvent& e) {
  const std::uint8_t code = r.u8();
  if (code == kNull) {
    return;
  }
  const Composite c = read_composite_header(r, code);
  if (code != kMap8 && code != kMap32) {
    throw Malformed{"application properties are not a map"};
  }
  e.application_properties.reserve(c.count / 2);
  std::string scratch;
  for (std::uint32_t i = 0; i < c.count; i += 2) {
    const std::string_view name = key_name(r, scratch);
    e.application_properties.push_back({std::string(name), read_value(r, 1)});
  }
}

void read_properties(Reader& r, HubEvent& e) {
  static constexpr std::string_view names[] = {
      "message-id",        "user-id",          "to",
      "subject",           "reply-to",         "correlation-id",
      "content-type",      "content-encoding", "absolute-expiry-time",
      "creation-time",     "group-id",         "group-sequence",
      "reply-to-group-id",
  };
  const std::uint8_t code = r.u8();
  if (code == kNull) {
    return;
  }
  const Composite c = read_composite_header(r, code);
  if (code != kList0 && code != kList8 && code != kList32) {
    throw Malformed{"the properties section is not a list"};
  }
  for (std::uint32_t i = 0; i < c.count; ++i) {
    AmqpValue value = read_value(r, 1);
    if (value.type != AmqpType::null && i < std::size(names)) {
      e.properties.push_back({std::string(names[i]), std::move(value)});
    }
  }
}

// A message that failed to decode after its positions were read is still an event: its raw
// bytes are kept for the dead-letter store and the partition goes on past it. Without
// positions it cannot be skipped safely, and the failure stands.
Result<HubEvent> undecodable(std::string_view encoded, HubEvent e, const Positions& found,
                             std::string why) {
  if (!found.sequence || !found.offset || !found.time) {
    return failure(std::move(why));
  }
  HubEvent kept;
  kept.partition = std::move(e.partition);
  kept.sequence_number = e.sequence_number;
  kept.offset = std::move(e.offset);
  kept.enqueued_time = e.enqueued_time;
  kept.partition_key = std::move(e.partition_key);
  kept.body_type = BodyType::none;
  kept.body.assign(encoded);
  kept.undecodable = std::move(why);
  return kept;
}

} // namespace

Result<HubEvent> decode_event(std::string_view encoded, const PartitionId& partition) {
  HubEvent e;
  e.partition = partition;
  e.body_type = BodyType::none;
  Positions found;
  nlohmann::json sequence = nlohmann::json::array();
  try {
    Reader r(encoded);
    if (r.at_end()) {
      throw Malformed{"the message is empty"};
    }
    while (!r.at_end()) {
      switch (section_code(r)) {
      case kMessageAnnotations:
        read_message_annotations(r, e, found);
        break;
      case kProperties:
        read_properties(r, e);
        break;
      case kApplicationProperties:
        read_application_properties(r, e);
        break;
      case kData: {
        const std::uint8_t code = r.u8();
        if (code != kVbin8 && code != kVbin32) {
          throw Malformed{"a data section does not hold binary"};
        }
        const std::string_view bytes = r.bytes(code == kVbin8 ? r.u8() : r.u32());
        if (e.body_type == BodyType::none) {
          e.body.assign(bytes); // the usual single data section: one copy
        } else {
          e.body.append(bytes); // several data sections: concatenated, as .NET reads them
        }
        e.body_type = BodyType::data;
        break;
      }
      case kSequence: {
        for (auto& item : json_of(r, r.u8(), 1)) {
          sequence.push_back(std::move(item));
        }
        e.body_type = BodyType::sequence;
        break;
      }
      case kValue: {
        const std::uint8_t code = r.u8();
        e.body_type = BodyType::value;
        if (code == kVbin8 || code == kVbin32 || code == kStr8 || code == kStr32 || code == kSym8 ||
            code == kSym32) {
          e.body = std::get<std::string>(value_of(r, code, 1).value);
        } else {
          e.body = dump(json_of(r, code, 1));
        }
        break;
      }
      default:
        skip_value(r);
        break; // header, delivery annotations, footer
      }
    }
  } catch (const Malformed& m) {
    return undecodable(
        encoded, std::move(e), found,
        fmt::format("a message on partition {} is not valid AMQP: {}", partition, m.what));
  } catch (const std::exception& ex) { // nlohmann::json on invalid UTF-8, bad_alloc
    return undecodable(
        encoded, std::move(e), found,
        fmt::format("a message on partition {} could not be decoded: {}", partition, ex.what()));
  }
  if (e.body_type == BodyType::sequence) {
    e.body = dump(sequence);
  }
  if (!found.sequence) {
    return failure(fmt::format("an event on partition {} has no x-opt-sequence-number of type "
                               "long; the service always sets one",
                               partition));
  }
  if (!found.offset || !found.time) {
    return failure(
        fmt::format("event {} on partition {} lacks {}", e.sequence_number, partition,
                    !found.offset ? "x-opt-offset (string)" : "x-opt-enqueued-time (timestamp)"));
  }
  return e;
}

} // namespace hub2kusto::hub
