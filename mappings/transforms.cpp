#include "mappings/engine_impl.hpp"

namespace hub2kusto::mappings {

Value Mapper::Impl::apply_transform(const CompiledColumn& c, Value v) {
  switch (c.transform) {
  case Transform::none:
  case Transform::source_location:
  case Transform::source_line_number:
    return v;
  case Transform::datetime_from_unix_seconds:
    return from_unix(c, v, values::UnixUnit::seconds);
  case Transform::datetime_from_unix_milliseconds:
    return from_unix(c, v, values::UnixUnit::milliseconds);
  case Transform::datetime_from_unix_microseconds:
    return from_unix(c, v, values::UnixUnit::microseconds);
  case Transform::datetime_from_unix_nanoseconds:
    return from_unix(c, v, values::UnixUnit::nanoseconds);
  case Transform::drop_mapped_fields:
    if (v.kind == Value::Kind::element && v.json.type() == element_type::OBJECT) {
      derived.clear();
      append_json(derived, v.json, &c.drop, quoted_numbers);
      return Value{Value::Kind::json_text, {}, derived, 0};
    }
    return v;
  case Transform::bytes_as_base64:
    return bytes_as_base64(c, v);
  case Transform::property_bag_array_to_dictionary:
    return property_bag(c, v);
  }
  return v;
}

Value Mapper::Impl::from_unix(const CompiledColumn& c, const Value& v, values::UnixUnit unit) {
  std::optional<std::int64_t> ticks;
  if (v.kind == Value::Kind::missing ||
      (v.kind == Value::Kind::element && v.json.type() == element_type::NULL_VALUE)) {
    return v;
  }
  if (v.kind == Value::Kind::integer) {
    ticks = values::unix_to_ticks(v.number, unit);
  } else if (v.kind == Value::Kind::element && v.json.type() == element_type::INT64) {
    ticks = values::unix_to_ticks(v.json.get_int64().value_unsafe(), unit);
  } else if (v.kind == Value::Kind::element && v.json.is_number()) {
    ticks = values::unix_to_ticks(v.json.get_double().value_unsafe(), unit);
  } else if (const std::string_view text = text_of(v); text.data() != nullptr) {
    if (const auto i = values::parse_integer(text)) {
      ticks = values::unix_to_ticks(*i, unit);
    } else if (const auto d = values::parse_real(text)) {
      ticks = values::unix_to_ticks(*d, unit);
    }
  }
  if (!ticks) {
    null_conversion(c,
                    describe(v) + " is not a Unix time for " + std::string(to_string(c.transform)));
    return Value{Value::Kind::missing, {}, {}, 0};
  }
  return Value{Value::Kind::datetime, {}, {}, *ticks};
}

Value Mapper::Impl::bytes_as_base64(const CompiledColumn& c, const Value& v) {
  if (v.kind != Value::Kind::element || v.json.type() != element_type::ARRAY) {
    if (v.kind != Value::Kind::missing) {
      null_conversion(c, describe(v) + " is not a byte array for BytesAsBase64");
    }
    return Value{Value::Kind::missing, {}, {}, 0};
  }
  std::string bytes;
  const simdjson::dom::array array = v.json.get_array().value_unsafe();
  for (const element item : array) {
    if (item.type() != element_type::INT64 || item.get_int64().value_unsafe() < 0 ||
        item.get_int64().value_unsafe() > 255) {
      null_conversion(c, describe(v) + " is not a byte array for BytesAsBase64");
      return Value{Value::Kind::missing, {}, {}, 0};
    }
    bytes += static_cast<char>(item.get_int64().value_unsafe());
  }
  derived.clear();
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
    std::uint32_t chunk = 0;
    for (std::size_t j = 0; j < 3; ++j) {
      chunk = (chunk << 8) | (j < n ? static_cast<unsigned char>(bytes[i + j]) : 0U);
    }
    for (std::size_t j = 0; j < 4; ++j) {
      derived += j <= n ? kBase64Alphabet[(chunk >> (18 - 6 * j)) & 63] : '=';
    }
  }
  return Value{Value::Kind::text, {}, derived, 0};
}

Value Mapper::Impl::property_bag(const CompiledColumn& c, const Value& v) {
  if (v.kind != Value::Kind::element || v.json.type() != element_type::ARRAY) {
    if (v.kind != Value::Kind::missing) {
      null_conversion(c, describe(v) + " is not an array of property bags for "
                                       "PropertyBagArrayToDictionary");
    }
    return Value{Value::Kind::missing, {}, {}, 0};
  }
  // Later keys win, as in a dictionary built in order.
  std::vector<std::pair<std::string_view, element>> entries;
  const simdjson::dom::array array = v.json.get_array().value_unsafe();
  for (const element item : array) {
    if (item.type() != element_type::OBJECT) {
      null_conversion(c, describe(v) + " is not an array of property bags for "
                                       "PropertyBagArrayToDictionary");
      return Value{Value::Kind::missing, {}, {}, 0};
    }
    const simdjson::dom::object object = item.get_object().value_unsafe();
    for (const auto field : object) {
      auto it = std::find_if(entries.begin(), entries.end(),
                             [&](const auto& e) { return e.first == field.key; });
      if (it != entries.end()) {
        it->second = field.value;
      } else {
        entries.emplace_back(field.key, field.value);
      }
    }
  }
  derived.clear();
  derived += '{';
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (i > 0) {
      derived += ',';
    }
    append_json_string(derived, entries[i].first);
    derived += ':';
    append_json(derived, entries[i].second, nullptr, quoted_numbers);
  }
  derived += '}';
  return Value{Value::Kind::json_text, {}, derived, 0};
}

} // namespace hub2kusto::mappings
