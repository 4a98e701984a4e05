#include "mappings/engine_impl.hpp"

namespace hub2kusto::mappings {

void Mapper::Impl::write_null() {
  if (output == OutputFormat::json) {
    *out += "null";
  }
}

void Mapper::Impl::write_text(std::string_view s) {
  if (output == OutputFormat::json) {
    append_json_string(*out, s);
  } else {
    append_csv_field(*out, s);
  }
}

void Mapper::Impl::write_quoted_in_json(std::string_view s) {
  if (output == OutputFormat::json) {
    *out += '"';
    out->append(s);
    *out += '"';
  } else {
    out->append(s);
  }
}

void Mapper::Impl::write_datetime(std::int64_t ticks) {
  if (output == OutputFormat::json) {
    *out += '"';
  }
  values::append_datetime(*out, ticks);
  if (output == OutputFormat::json) {
    *out += '"';
  }
}

void Mapper::Impl::write_dynamic_from_scratch() {
  if (output == OutputFormat::json) {
    out->append(scratch);
  } else {
    append_csv_field(*out, scratch);
  }
}

std::string Mapper::Impl::describe(const Value& v) {
  switch (v.kind) {
  case Value::Kind::element:
    if (const auto number = unheld_number(v)) {
      return excerpt(*number);
    } else if (v.json.type() == element_type::STRING) {
      return excerpt(v.json.get_string().value_unsafe());
    } else {
      std::string text;
      append_json(text, v.json, nullptr, quoted_numbers);
      return excerpt(text);
    }
  case Value::Kind::text:
  case Value::Kind::json_text:
    return excerpt(v.text);
  case Value::Kind::integer:
    return std::to_string(v.number);
  case Value::Kind::datetime: {
    std::string text;
    values::append_datetime(text, v.number);
    return text;
  }
  case Value::Kind::missing:
    break;
  }
  return "nothing";
}

std::optional<std::string_view> Mapper::Impl::unheld_number(const Value& v) const {
  if (!quoted_numbers || v.kind != Value::Kind::element || v.json.type() != element_type::STRING) {
    return std::nullopt;
  }
  return quoted_number(v.json.get_string().value_unsafe());
}

void Mapper::Impl::write_unheld_number(const CompiledColumn& c, std::string_view number) {
  switch (c.type) {
  case ColumnType::string:
    write_text(number);
    return;
  case ColumnType::dynamic:
    if (output == OutputFormat::json) {
      write_raw(number);
    } else {
      append_csv_field(*out, number);
    }
    return;
  case ColumnType::decimal:
    if (number.find_first_of("eE") == std::string_view::npos &&
        std::count_if(number.begin(), number.end(), [](char d) { return d >= '0' && d <= '9'; }) <=
            38) {
      write_quoted_in_json(number);
      return;
    }
    break;
  default:
    break;
  }
  null_conversion(c, excerpt(number) + " is beyond the range of " + std::string(to_string(c.type)));
  write_null();
}

void Mapper::Impl::cannot(const CompiledColumn& c, const Value& v) {
  null_conversion(c, describe(v) + " is not a valid " + std::string(to_string(c.type)));
  write_null();
}

void Mapper::Impl::write_value(const CompiledColumn& c, const Value& v) {
  // An empty CSV field is null in every column but a string one, silently, as Kusto ingests it.
  if (v.kind == Value::Kind::missing ||
      (v.kind == Value::Kind::element && v.json.type() == element_type::NULL_VALUE) ||
      (v.kind == Value::Kind::text && v.text.empty())) {
    if (c.type == ColumnType::string) {
      write_text(""); // string columns are never null (docs null-values)
    } else {
      write_null();
    }
    return;
  }
  if (const auto number = unheld_number(v)) {
    write_unheld_number(c, *number);
    return;
  }
  switch (c.type) {
  case ColumnType::string:
    write_string(v);
    return;
  case ColumnType::int32:
  case ColumnType::int64:
    write_integer(c, v);
    return;
  case ColumnType::real:
    write_real(c, v);
    return;
  case ColumnType::decimal:
    write_decimal(c, v);
    return;
  case ColumnType::boolean:
    write_bool(c, v);
    return;
  case ColumnType::datetime:
    write_datetime_value(c, v);
    return;
  case ColumnType::timespan: {
    const std::string_view text = text_of(v);
    const auto ticks = text.data() != nullptr ? values::parse_timespan(text) : std::nullopt;
    if (!ticks) {
      cannot(c, v);
      return;
    }
    std::size_t start = out->size();
    values::append_timespan(*out, *ticks);
    if (output == OutputFormat::json) {
      out->insert(start, 1, '"');
      *out += '"';
    }
    return;
  }
  case ColumnType::guid: {
    const std::string_view text = text_of(v);
    if (output == OutputFormat::json) {
      *out += '"';
    }
    if (text.data() == nullptr || !values::append_guid(*out, text)) {
      if (output == OutputFormat::json) {
        out->pop_back();
      }
      cannot(c, v);
      return;
    }
    if (output == OutputFormat::json) {
      *out += '"';
    }
    return;
  }
  case ColumnType::dynamic:
    write_dynamic(v);
    return;
  }
}

std::string_view Mapper::Impl::text_of(const Value& v) {
  if (v.kind == Value::Kind::text) {
    return v.text;
  }
  if (v.kind == Value::Kind::element && v.json.type() == element_type::STRING) {
    return v.json.get_string().value_unsafe();
  }
  return {};
}

void Mapper::Impl::write_string(const Value& v) {
  switch (v.kind) {
  case Value::Kind::element:
    if (v.json.type() == element_type::STRING) {
      write_text(v.json.get_string().value_unsafe());
    } else {
      scratch.clear();
      append_json(scratch, v.json, nullptr, quoted_numbers);
      write_text(scratch);
    }
    return;
  case Value::Kind::text:
  case Value::Kind::json_text:
    write_text(v.text);
    return;
  case Value::Kind::integer:
    scratch.clear();
    values::append_int(scratch, v.number);
    write_text(scratch);
    return;
  case Value::Kind::datetime:
    scratch.clear();
    values::append_datetime(scratch, v.number);
    write_text(scratch);
    return;
  case Value::Kind::missing:
    write_text("");
    return;
  }
}

void Mapper::Impl::write_integer(const CompiledColumn& c, const Value& v) {
  std::optional<std::int64_t> n;
  if (v.kind == Value::Kind::integer) {
    n = v.number;
  } else if (v.kind == Value::Kind::element) {
    switch (v.json.type()) {
    case element_type::INT64:
      n = v.json.get_int64().value_unsafe();
      break;
    case element_type::UINT64:
      break; // beyond long
    case element_type::DOUBLE: {
      const double d = v.json.get_double().value_unsafe();
      if (std::isfinite(d) && d > -9.2233720368547758e18 && d < 9.2233720368547758e18) {
        n = static_cast<std::int64_t>(d); // toint()/tolong() truncate toward zero
      }
      break;
    }
    case element_type::BOOL:
      n = v.json.get_bool().value_unsafe() ? 1 : 0;
      break;
    case element_type::STRING:
      n = parse_integer_text(v.json.get_string().value_unsafe());
      break;
    default:
      break;
    }
  } else if (v.kind == Value::Kind::text) {
    n = parse_integer_text(v.text);
  }
  if (n && c.type == ColumnType::int32 &&
      (*n < std::numeric_limits<std::int32_t>::min() ||
       *n > std::numeric_limits<std::int32_t>::max())) {
    n.reset();
  }
  if (!n) {
    cannot(c, v);
    return;
  }
  values::append_int(*out, *n);
}

std::optional<std::int64_t> Mapper::Impl::parse_integer_text(std::string_view s) {
  if (auto n = values::parse_integer(s)) {
    return n;
  }
  if (const auto d = values::parse_real(s);
      d && std::isfinite(*d) && *d > -9.2233720368547758e18 && *d < 9.2233720368547758e18) {
    return static_cast<std::int64_t>(*d);
  }
  return std::nullopt;
}

void Mapper::Impl::write_real(const CompiledColumn& c, const Value& v) {
  std::optional<double> d;
  if (v.kind == Value::Kind::integer) {
    d = static_cast<double>(v.number);
  } else if (v.kind == Value::Kind::element) {
    switch (v.json.type()) {
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE:
      d = v.json.get_double().value_unsafe();
      break;
    case element_type::BOOL:
      d = v.json.get_bool().value_unsafe() ? 1.0 : 0.0;
      break;
    case element_type::STRING:
      d = values::parse_real(v.json.get_string().value_unsafe());
      break;
    default:
      break;
    }
  } else if (v.kind == Value::Kind::text) {
    d = values::parse_real(v.text);
  }
  if (!d) {
    cannot(c, v);
    return;
  }
  if (!std::isfinite(*d) && output == OutputFormat::json) {
    *out += '"'; // JSON has no NaN or Infinity; Kusto reads the words from a string
    values::append_real(*out, *d);
    *out += '"';
    return;
  }
  values::append_real(*out, *d);
}

void Mapper::Impl::write_decimal(const CompiledColumn& c, const Value& v) {
  if (v.kind == Value::Kind::integer) {
    values::append_int(*out, v.number);
    return;
  }
  if (v.kind == Value::Kind::element) {
    switch (v.json.type()) {
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE:
      scratch.clear();
      append_json(scratch, v.json, nullptr, quoted_numbers);
      write_quoted_in_json(scratch);
      return;
    default:
      break;
    }
  }
  const std::string_view text = text_of(v);
  if (text.data() == nullptr || !values::is_decimal_text(text)) {
    cannot(c, v);
    return;
  }
  std::string_view t = text;
  while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) {
    t.remove_prefix(1);
  }
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) {
    t.remove_suffix(1);
  }
  write_quoted_in_json(t);
}

void Mapper::Impl::write_bool(const CompiledColumn& c, const Value& v) {
  std::optional<bool> b;
  if (v.kind == Value::Kind::integer) {
    b = v.number != 0;
  } else if (v.kind == Value::Kind::element) {
    switch (v.json.type()) {
    case element_type::BOOL:
      b = v.json.get_bool().value_unsafe();
      break;
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE:
      b = v.json.get_double().value_unsafe() != 0.0;
      break;
    case element_type::STRING:
      b = values::parse_bool(v.json.get_string().value_unsafe());
      break;
    default:
      break;
    }
  } else if (v.kind == Value::Kind::text) {
    b = values::parse_bool(v.text);
  }
  if (!b) {
    cannot(c, v);
    return;
  }
  write_raw(*b ? "true" : "false");
}

void Mapper::Impl::write_datetime_value(const CompiledColumn& c, const Value& v) {
  if (v.kind == Value::Kind::datetime) {
    write_datetime(v.number);
    return;
  }
  const std::string_view text = text_of(v);
  const auto ticks = text.data() != nullptr ? values::parse_datetime(text) : std::nullopt;
  if (!ticks) {
    if (v.kind == Value::Kind::element && v.json.is_number()) {
      null_conversion(c, describe(v) +
                             " is a number, not a datetime (map it with a "
                             "DateTimeFromUnixSeconds/Milliseconds/Microseconds/Nanoseconds "
                             "transform)");
      write_null();
      return;
    }
    cannot(c, v);
    return;
  }
  write_datetime(*ticks);
}

void Mapper::Impl::write_dynamic(const Value& v) {
  scratch.clear();
  switch (v.kind) {
  case Value::Kind::element:
    append_json(scratch, v.json, nullptr, quoted_numbers);
    break;
  case Value::Kind::json_text:
    scratch.assign(v.text);
    break;
  case Value::Kind::text:
    // Text that is JSON is that JSON; anything else is a JSON string (as Kusto ingests CSV
    // fields into dynamic columns).
    if (nlohmann::json::accept(v.text)) {
      scratch.assign(v.text);
    } else {
      append_json_string(scratch, v.text);
    }
    break;
  case Value::Kind::integer:
    values::append_int(scratch, v.number);
    break;
  case Value::Kind::datetime:
    scratch += '"';
    values::append_datetime(scratch, v.number);
    scratch += '"';
    break;
  case Value::Kind::missing:
    write_null();
    return;
  }
  write_dynamic_from_scratch();
}

} // namespace hub2kusto::mappings
