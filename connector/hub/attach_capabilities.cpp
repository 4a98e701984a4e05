#include "hub/attach_capabilities.hpp"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>

#include <proton/codec.h>

namespace hub2kusto::hub {
namespace {

constexpr std::size_t kHeader = 8; // a frame's fixed header, and a protocol header
constexpr char kAmqpFrame = 0x00;  // frame type; SASL frames are 0x01
constexpr std::uint8_t kDescribed = 0x00;
constexpr std::uint8_t kSmallUlong = 0x53;
constexpr std::uint8_t kUlong = 0x80;
constexpr std::uint8_t kAttach = 0x12; // the attach performative's descriptor code
constexpr std::uint8_t kList0 = 0x45;
constexpr std::uint8_t kList8 = 0xc0;
constexpr std::uint8_t kList32 = 0xd0;
constexpr char kNull = 0x40;
// The attach's fields, counted from 0 (AMQP 1.0 §2.7.3).
constexpr std::size_t kRole = 2;
constexpr std::size_t kSource = 5;
constexpr std::size_t kDesiredCapabilities = 12;

std::uint8_t byte_at(std::string_view s, std::size_t at) {
  return static_cast<std::uint8_t>(s[at]);
}

std::uint32_t be32(std::string_view s, std::size_t at) {
  return (std::uint32_t{byte_at(s, at)} << 24) | (std::uint32_t{byte_at(s, at + 1)} << 16) |
         (std::uint32_t{byte_at(s, at + 2)} << 8) | std::uint32_t{byte_at(s, at + 3)};
}

void append_be32(std::string& out, std::size_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

using Data = std::unique_ptr<pn_data_t, void (*)(pn_data_t*)>;

Data make_data() {
  return {pn_data(4), pn_data_free};
}

// Reads the one value at the start of `bytes` into `into`, positioned before it; its encoded
// length, 0 when the bytes do not start with a value.
std::size_t decode_one(pn_data_t* into, std::string_view bytes) {
  pn_data_clear(into);
  const ssize_t n = pn_data_decode(into, bytes.data(), bytes.size());
  pn_data_rewind(into);
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

// How long the attach descriptor at the start of a performative is; 0: not an attach. Proton
// writes descriptors as ulongs, mostly small ones.
std::size_t attach_descriptor(std::string_view performative) {
  if (performative.size() >= 3 && byte_at(performative, 0) == kDescribed &&
      byte_at(performative, 1) == kSmallUlong && byte_at(performative, 2) == kAttach) {
    return 3;
  }
  if (performative.size() >= 10 && byte_at(performative, 0) == kDescribed &&
      byte_at(performative, 1) == kUlong &&
      std::all_of(performative.begin() + 2, performative.begin() + 9,
                  [](char c) { return c == 0; }) &&
      byte_at(performative, 9) == kAttach) {
    return 10;
  }
  return 0;
}

// A list's encoding: where its items start and end, and how many there are.
struct ListBytes {
  std::size_t items = 0;
  std::size_t end = 0;
  std::size_t count = 0;
};

std::optional<ListBytes> list_at(std::string_view s, std::size_t at) {
  if (at >= s.size()) {
    return std::nullopt;
  }
  ListBytes list;
  switch (byte_at(s, at)) {
  case kList0:
    list = {at + 1, at + 1, 0};
    break;
  case kList8:
    if (at + 3 > s.size()) {
      return std::nullopt;
    }
    list = {at + 3, at + 2 + byte_at(s, at + 1), byte_at(s, at + 2)};
    break;
  case kList32:
    if (at + 9 > s.size()) {
      return std::nullopt;
    }
    list = {at + 9, at + 5 + std::size_t{be32(s, at + 1)}, be32(s, at + 5)};
    break;
  default:
    return std::nullopt;
  }
  if (list.end < list.items || list.end > s.size()) {
    return std::nullopt;
  }
  return list;
}

// A receiving link's attach: is it one of the request-response replies of $cbs or $management,
// whose sources are those nodes' addresses?
bool reply_link(pn_data_t* data, std::string_view source) {
  if (decode_one(data, source) == 0 || !pn_data_next(data) || pn_data_type(data) != PN_DESCRIBED) {
    return false;
  }
  pn_data_enter(data);
  if (!pn_data_next(data) || !pn_data_next(data) || pn_data_type(data) != PN_LIST) {
    return false;
  }
  pn_data_enter(data);
  if (!pn_data_next(data) || pn_data_type(data) != PN_STRING) {
    return false;
  }
  const pn_bytes_t a = pn_data_get_string(data);
  const std::string_view address(a.start, a.size);
  return address == "$cbs" || address.ends_with("$management");
}

// The capabilities a desired-capabilities field holds (a symbol, or an array of them); none
// when it is not one of those.
std::optional<std::vector<std::string>> symbols_of(pn_data_t* data, std::string_view field) {
  std::vector<std::string> symbols;
  if (decode_one(data, field) == 0 || !pn_data_next(data)) {
    return std::nullopt;
  }
  const auto add = [&] {
    const pn_bytes_t s = pn_data_get_symbol(data);
    symbols.emplace_back(s.start, s.size);
  };
  switch (pn_data_type(data)) {
  case PN_NULL:
    break;
  case PN_SYMBOL:
    add();
    break;
  case PN_ARRAY:
    if (pn_data_get_array_type(data) != PN_SYMBOL) {
      return std::nullopt;
    }
    pn_data_enter(data);
    while (pn_data_next(data)) {
      add();
    }
    break;
  default:
    return std::nullopt;
  }
  return symbols;
}

std::string encode_symbols(pn_data_t* data, const std::vector<std::string>& symbols) {
  pn_data_clear(data);
  pn_data_put_array(data, false, PN_SYMBOL);
  pn_data_enter(data);
  for (const std::string& s : symbols) {
    pn_data_put_symbol(data, pn_bytes(s.size(), s.data()));
  }
  pn_data_exit(data);
  std::string bytes(static_cast<std::size_t>(pn_data_encoded_size(data)), '\0');
  pn_data_encode(data, bytes.data(), bytes.size());
  return bytes;
}

// `body` (an attach performative whose descriptor takes its first `descriptor` bytes, and
// whatever follows it in the frame) with `wanted` among its desired capabilities; none when it
// stays as it is: not a receiver's, a reply link, every capability there already, or not
// encoded as expected.
std::optional<std::string> with_capabilities(std::string_view body, std::size_t descriptor,
                                             const std::vector<std::string>& wanted) {
  const auto list = list_at(body, descriptor);
  if (!list) {
    return std::nullopt;
  }
  Data data = make_data();
  std::vector<std::string_view> fields;
  for (std::size_t at = list->items; fields.size() < list->count;) {
    const std::size_t n = decode_one(data.get(), body.substr(at, list->end - at));
    if (n == 0) {
      return std::nullopt;
    }
    fields.push_back(body.substr(at, n));
    at += n;
  }
  if (fields.size() <= kRole || decode_one(data.get(), fields[kRole]) == 0 ||
      !pn_data_next(data.get()) || pn_data_type(data.get()) != PN_BOOL ||
      !pn_data_get_bool(data.get())) {
    return std::nullopt; // a sender's attach
  }
  if (fields.size() > kSource && reply_link(data.get(), fields[kSource])) {
    return std::nullopt;
  }
  std::vector<std::string> desired;
  if (fields.size() > kDesiredCapabilities) {
    auto had = symbols_of(data.get(), fields[kDesiredCapabilities]);
    if (!had) {
      return std::nullopt;
    }
    desired = std::move(*had);
  }
  const std::size_t had = desired.size();
  for (const std::string& w : wanted) {
    if (std::find(desired.begin(), desired.end(), w) == desired.end()) {
      desired.push_back(w);
    }
  }
  if (desired.size() == had) {
    return std::nullopt;
  }
  const std::string capabilities = encode_symbols(data.get(), desired);
  const std::size_t count = std::max(fields.size(), kDesiredCapabilities + 1);
  std::string items;
  for (std::size_t i = 0; i < count; ++i) {
    if (i == kDesiredCapabilities) {
      items += capabilities;
    } else if (i < fields.size()) {
      items += fields[i];
    } else {
      items += kNull;
    }
  }
  std::string rewritten(body.substr(0, descriptor));
  rewritten += static_cast<char>(kList32);
  append_be32(rewritten, items.size() + 4); // the size counts the count's four bytes
  append_be32(rewritten, count);
  rewritten += items;
  rewritten += body.substr(list->end); // a payload, were there one
  return rewritten;
}

// `frame` (whole) rewritten, or none when it goes as it is.
std::optional<std::string> rewritten_frame(std::string_view frame,
                                           const std::vector<std::string>& wanted) {
  const std::size_t body_at = std::size_t{byte_at(frame, 4)} * 4;
  if (frame[5] != kAmqpFrame || body_at < kHeader || body_at > frame.size()) {
    return std::nullopt;
  }
  const std::size_t descriptor = attach_descriptor(frame.substr(body_at));
  if (descriptor == 0) {
    return std::nullopt;
  }
  const auto body = with_capabilities(frame.substr(body_at), descriptor, wanted);
  if (!body) {
    return std::nullopt;
  }
  std::string out;
  append_be32(out, body_at + body->size());
  out += frame.substr(4, body_at - 4); // data offset, type, channel, extended header
  out += *body;
  return out;
}

} // namespace

AttachCapabilities::AttachCapabilities(std::vector<std::string> receiver_capabilities)
    : capabilities_(std::move(receiver_capabilities)) {}

void AttachCapabilities::rewrite(std::string_view bytes, std::vector<char>& out) {
  if (passthrough_ || capabilities_.empty()) {
    out.insert(out.end(), bytes.begin(), bytes.end());
    return;
  }
  if (partial_.empty()) {
    const std::size_t done = frames(bytes, out);
    partial_.assign(bytes.begin() + static_cast<std::ptrdiff_t>(done), bytes.end());
    return;
  }
  std::vector<char> pending;
  pending.swap(partial_);
  pending.insert(pending.end(), bytes.begin(), bytes.end());
  const std::size_t done = frames({pending.data(), pending.size()}, out);
  partial_.assign(pending.begin() + static_cast<std::ptrdiff_t>(done), pending.end());
}

std::size_t AttachCapabilities::frames(std::string_view bytes, std::vector<char>& out) {
  std::size_t at = 0;
  std::size_t copied = 0; // bytes before it are in `out`
  const auto copy_to = [&](std::size_t end) {
    out.insert(out.end(), bytes.begin() + static_cast<std::ptrdiff_t>(copied),
               bytes.begin() + static_cast<std::ptrdiff_t>(end));
    copied = end;
  };
  while (bytes.size() - at >= kHeader) {
    if (bytes.substr(at, 4) == "AMQP") { // a protocol header: AMQP, SASL or TLS
      at += kHeader;
      continue;
    }
    const std::size_t size = be32(bytes, at);
    if (size < kHeader) { // not a frame: stop looking
      passthrough_ = true;
      at = bytes.size();
      break;
    }
    if (bytes.size() - at < size) {
      break;
    }
    if (auto rewritten = rewritten_frame(bytes.substr(at, size), capabilities_)) {
      copy_to(at);
      out.insert(out.end(), rewritten->begin(), rewritten->end());
      copied = at + size;
      ++rewritten_;
    }
    at += size;
  }
  copy_to(at);
  return at;
}

} // namespace hub2kusto::hub
