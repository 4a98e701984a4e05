#include "mappings/delimited.hpp"
#include "mappings/engine_impl.hpp"

namespace hub2kusto::mappings {

Value Mapper::Impl::property_value(std::size_t index) const {
  if (index >= event->properties.size()) {
    return {};
  }
  const PropertyValue& p = event->properties[index];
  switch (p.kind) {
  case PropertyValue::Kind::text:
    return Value{Value::Kind::text, {}, p.text, 0};
  case PropertyValue::Kind::integer:
    return Value{Value::Kind::integer, {}, {}, p.number};
  case PropertyValue::Kind::datetime:
    return Value{Value::Kind::datetime, {}, {}, p.number};
  case PropertyValue::Kind::absent:
    break;
  }
  return {};
}

Value Mapper::Impl::common_source(const CompiledColumn& c) const {
  switch (c.source) {
  case CompiledColumn::Source::constant:
    return Value{Value::Kind::text, {}, c.constant, 0};
  case CompiledColumn::Source::source_location:
    return Value{Value::Kind::text, {}, event->source_location, 0};
  case CompiledColumn::Source::line_number:
    return Value{Value::Kind::integer, {}, {}, static_cast<std::int64_t>(record)};
  default:
    return {};
  }
}

void Mapper::Impl::begin_row() {
  if (output == OutputFormat::json) {
    *out += '{';
  }
}

void Mapper::Impl::begin_cell(std::size_t i) {
  if (output == OutputFormat::json) {
    if (i > 0) {
      *out += ',';
    }
    out->append(columns[i].json_key);
  } else if (i > 0) {
    *out += ',';
  }
}

void Mapper::Impl::end_row() {
  if (output == OutputFormat::json) {
    *out += '}';
  }
  *out += '\n';
  ++outcome.rows;
}

void Mapper::Impl::json_row(element record_value) {
  begin_row();
  for (std::size_t i = 0; i < columns.size(); ++i) {
    const CompiledColumn& c = columns[i];
    begin_cell(i);
    Value v;
    if (c.source == CompiledColumn::Source::json_path) {
      element cur = record_value;
      bool found = true;
      for (const auto& seg : c.path) {
        if (seg.index < 0) {
          if (cur.type() != element_type::OBJECT ||
              cur.get_object().value_unsafe().at_key(seg.key).get(cur) != simdjson::SUCCESS) {
            found = false;
            break;
          }
        } else if (cur.type() != element_type::ARRAY ||
                   cur.get_array()
                           .value_unsafe()
                           .at(static_cast<std::size_t>(seg.index))
                           .get(cur) != simdjson::SUCCESS) {
          found = false;
          break;
        }
      }
      if (found) {
        v = Value{Value::Kind::element, cur, {}, 0};
      }
    } else if (c.source == CompiledColumn::Source::property) {
      if (record == 1) { // ADX adds the properties to the first record only
        v = property_value(c.property);
      }
    } else {
      v = common_source(c);
    }
    write_value(c, apply_transform(c, v));
  }
  end_row();
}

void Mapper::Impl::tabular_row() {
  begin_row();
  const std::size_t k = properties.size();
  for (std::size_t i = 0; i < columns.size(); ++i) {
    const CompiledColumn& c = columns[i];
    begin_cell(i);
    Value v;
    if (c.source == CompiledColumn::Source::ordinal) {
      if (c.ordinal < k) {
        v = property_value(c.ordinal);
      } else if (c.ordinal - k < fields.size()) {
        v = Value{Value::Kind::text, {}, fields[c.ordinal - k], 0};
      }
    } else {
      v = common_source(c);
    }
    write_value(c, apply_transform(c, v));
  }
  end_row();
}

void Mapper::Impl::reject(std::size_t rec, std::optional<std::size_t> byte, std::string reason) {
  outcome.rejection = Rejection{rec, byte, std::move(reason)};
}

bool Mapper::Impl::inflate_body(std::string_view body) {
  if (!zs_ready) {
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
      reject(0, std::nullopt, "cannot initialise gzip decompression");
      return false;
    }
    zs_ready = true;
  } else {
    inflateReset(&zs);
  }
  inflated.clear();
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
  zs.avail_in = static_cast<uInt>(body.size());
  char buffer[16384];
  int rc = Z_OK;
  while (true) {
    if (rc == Z_STREAM_END) {
      // Gzip allows several members in a row (RFC 1952 §2.2), as `cat a.gz b.gz` makes them:
      // every one is read. Anything else after the last member is refused, not ignored.
      if (zs.avail_in == 0) {
        break;
      }
      const std::size_t at = body.size() - zs.avail_in;
      if (zs.avail_in < 2 || static_cast<unsigned char>(body[at]) != 0x1f ||
          static_cast<unsigned char>(body[at + 1]) != 0x8b) {
        reject(0, at,
               "the gzip body has " + std::to_string(zs.avail_in) +
                   " bytes after its last member that are not gzip");
        return false;
      }
      inflateReset(&zs);
      rc = Z_OK;
    }
    zs.next_out = reinterpret_cast<Bytef*>(buffer);
    zs.avail_out = sizeof buffer;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      reject(0, body.size() - zs.avail_in, "the gzip body is corrupt or truncated");
      return false;
    }
    inflated.append(buffer, sizeof buffer - zs.avail_out);
    if (inflated.size() > max_inflated) {
      reject(0, std::nullopt,
             "the gzip body inflates beyond " + std::to_string(max_inflated) + " bytes");
      return false;
    }
    if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
      reject(0, body.size(), "the gzip body is truncated");
      return false;
    }
  }
  return true;
}

std::optional<std::size_t> Mapper::Impl::json_error_offset(std::string_view text) {
  try {
    const auto parsed = nlohmann::json::parse(text);
    static_cast<void>(parsed);
  } catch (const nlohmann::json::parse_error& e) {
    return e.byte > 0 ? e.byte - 1 : 0;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt; // valid syntax that nlohmann cannot hold (a huge number)
  }
  return std::nullopt;
}

std::string Mapper::Impl::malformed_message(std::optional<std::size_t> at,
                                            simdjson::error_code err) {
  return (at ? "malformed JSON at byte " + std::to_string(*at) : std::string("malformed JSON")) +
         ": " + simdjson::error_message(err);
}

bool Mapper::Impl::json_record(element e, std::size_t offset) {
  if (e.type() != element_type::OBJECT) {
    reject(record, offset,
           "record " + std::to_string(record) + " is " + std::string(type_phrase(e.type())) +
               ", not a JSON object" +
               (format == DataFormat::json && e.type() == element_type::ARRAY
                    ? " (use format multijson for arrays of records)"
                    : ""));
    return false;
  }
  json_row(e);
  return true;
}

const char* Mapper::Impl::load_padded(std::string_view body) {
  padded.resize(body.size() + simdjson::SIMDJSON_PADDING);
  if (!body.empty()) {
    std::memcpy(padded.data(), body.data(), body.size());
  }
  return padded.data();
}

void Mapper::Impl::map_json(std::string_view body) {
  load_padded(body);
  // JSON lines with several records, and multijson, go through the document stream;
  // the common single-record body is parsed in one go.
  std::string_view trimmed = body;
  while (!trimmed.empty() && (trimmed.back() == '\n' || trimmed.back() == '\r' ||
                              trimmed.back() == ' ' || trimmed.back() == '\t')) {
    trimmed.remove_suffix(1);
  }
  const bool several = format == DataFormat::multijson ||
                       (format == DataFormat::json && trimmed.find('\n') != std::string_view::npos);
  if (!several) {
    element doc;
    const auto err = parser.parse(padded.data(), body.size(), false).get(doc);
    if (err != simdjson::SUCCESS) {
      number_error = err == simdjson::NUMBER_ERROR;
      const auto at = json_error_offset(body);
      reject(1, at, malformed_message(at, err));
      return;
    }
    record = 1;
    json_record(doc, 0);
    return;
  }
  simdjson::dom::document_stream stream;
  const std::size_t batch = std::max<std::size_t>(body.size(), 1024);
  if (parser.parse_many(padded.data(), body.size(), batch).get(stream) != simdjson::SUCCESS) {
    reject(0, std::nullopt, "malformed JSON: cannot read the body");
    return;
  }
  record = 0;
  for (auto it = stream.begin(); it != stream.end(); ++it) {
    element doc;
    const std::size_t offset = it.current_index();
    if (const auto err = (*it).get(doc); err != simdjson::SUCCESS) {
      number_error = err == simdjson::NUMBER_ERROR;
      const std::string_view rest = body.substr(std::min(offset, body.size()));
      const auto inner = json_error_offset(rest.substr(0, rest.find('\n')));
      reject(record + 1, offset + inner.value_or(0),
             "malformed JSON in record " + std::to_string(record + 1) + " at byte " +
                 std::to_string(offset + inner.value_or(0)) + ": " + simdjson::error_message(err));
      return;
    }
    if (format == DataFormat::multijson && doc.type() == element_type::ARRAY) {
      const simdjson::dom::array array = doc.get_array().value_unsafe();
      for (const element item : array) {
        ++record;
        if (!json_record(item, offset)) {
          return;
        }
      }
      continue;
    }
    ++record;
    if (!json_record(doc, offset)) {
      return;
    }
  }
  if (stream.truncated_bytes() > 0) {
    reject(record + 1, body.size() - stream.truncated_bytes(),
           "malformed JSON: the body ends inside record " + std::to_string(record + 1));
    return;
  }
  if (record == 0) {
    reject(0, std::nullopt, "the body holds no JSON record");
  }
}

void Mapper::Impl::map_tabular(std::string_view body) {
  fields_storage.clear();
  fields_storage.reserve(body.size()); // views into it must not move
  const std::size_t rows_before = outcome.rows;
  if (format == DataFormat::raw) {
    record = 1;
    fields.assign(1, body);
    tabular_row();
    return;
  }
  const auto dialect = dialect_of(format); // nullopt: txt
  std::size_t pos = 0;
  record = 0;
  while (pos < body.size()) {
    pos = skip_empty_lines(body, pos);
    if (pos == body.size()) {
      break;
    }
    ++record;
    if (record == 2 && !properties.empty()) {
      reject(2, pos,
             "event system properties need single-record events in tabular formats, "
             "and this event has more than one record");
      return;
    }
    if (format == DataFormat::txt) {
      const std::size_t eol = body.find('\n', pos);
      std::string_view line =
          body.substr(pos, eol == std::string_view::npos ? body.size() - pos : eol - pos);
      if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
      }
      fields.assign(1, line);
      pos = eol == std::string_view::npos ? body.size() : eol + 1;
    } else {
      const auto next = split_record(body, pos, *dialect, fields, fields_storage);
      if (!next) {
        reject(record, next.error().position,
               "record " + std::to_string(record) + " " + std::string(next.error().why));
        return;
      }
      pos = next.value();
    }
    tabular_row();
  }
  if (outcome.rows == rows_before) {
    reject(0, std::nullopt, "the body holds no record");
  }
}

} // namespace hub2kusto::mappings
