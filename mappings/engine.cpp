#include "mappings/engine_impl.hpp"

namespace hub2kusto::mappings {

void Mapper::Impl::null_conversion(const CompiledColumn& c, std::string reason) {
  outcome.nulls.push_back(
      {record, static_cast<std::size_t>(&c - columns.data()), std::move(reason)});
}

Mapper::Mapper(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Mapper::Mapper(Mapper&&) noexcept = default;
Mapper& Mapper::operator=(Mapper&&) noexcept = default;
Mapper::~Mapper() = default;

const TableSchema& Mapper::schema() const {
  return impl_->schema;
}

std::span<const SystemPropertyInfo* const> Mapper::system_properties() const {
  return impl_->properties;
}

Result<Mapper> Mapper::create(MapperOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->schema = std::move(options.schema);
  impl->format = options.format;
  impl->output = options.output;
  impl->max_inflated = options.max_inflated_bytes;
  if (impl->schema.columns.empty()) {
    return failure("the table schema has no columns");
  }
  const MappingKind kind = mapping_kind_of(options.format);
  if (options.mapping && options.mapping->kind != kind) {
    return failure(std::string("format ") + std::string(to_string(options.format)) + " needs a " +
                   (kind == MappingKind::json ? "JSON" : "CSV") + " mapping");
  }
  // System properties, in ADX's order whatever the order asked for.
  for (const auto& name : options.system_properties) {
    if (find_system_property(name) == nullptr) {
      return failure("'" + name + "' is not an event system property ADX knows");
    }
  }
  for (const auto& info : known_system_properties()) {
    if (std::find(options.system_properties.begin(), options.system_properties.end(), info.name) !=
        options.system_properties.end()) {
      impl->properties.push_back(&info);
    }
  }

  // The mapping: given, or by name (JSON) / by position (CSV).
  MappingDefinition mapping;
  if (options.mapping) {
    mapping = std::move(*options.mapping);
  } else {
    mapping.kind = kind;
    for (std::size_t i = 0; i < impl->schema.columns.size(); ++i) {
      ColumnMapping cm;
      cm.column = impl->schema.columns[i].name;
      if (kind == MappingKind::json) {
        cm.path = JsonPath{{PathSegment{cm.column, -1}}, "$['" + cm.column + "']"};
      } else {
        cm.ordinal = i;
      }
      mapping.columns.push_back(std::move(cm));
    }
  }
  impl->columns.resize(impl->schema.columns.size());
  for (std::size_t i = 0; i < impl->schema.columns.size(); ++i) {
    auto& c = impl->columns[i];
    c.name = impl->schema.columns[i].name;
    c.type = impl->schema.columns[i].type;
    c.json_key.clear();
    append_json_string(c.json_key, c.name);
    c.json_key += ':';
  }
  std::size_t entry = 0;
  for (const auto& cm : mapping.columns) {
    ++entry;
    const int index = impl->schema.index_of(cm.column);
    if (index < 0) {
      return failure("mapping entry " + std::to_string(entry) + " ('" + cm.column +
                     "'): the table has no such column");
    }
    auto& c = impl->columns[static_cast<std::size_t>(index)];
    c.transform = cm.transform;
    if (cm.transform == Transform::source_location) {
      c.source = CompiledColumn::Source::source_location;
    } else if (cm.transform == Transform::source_line_number) {
      c.source = CompiledColumn::Source::line_number;
    } else if (cm.const_value) {
      c.source = CompiledColumn::Source::constant;
      c.constant = *cm.const_value;
    } else if (cm.path) {
      c.source = CompiledColumn::Source::json_path;
      c.path = cm.path->segments;
      // `$.<system property>` reads the property (docs/protocols.md, "Received events").
      if (c.path.size() == 1 && c.path[0].index < 0) {
        for (std::size_t p = 0; p < impl->properties.size(); ++p) {
          if (impl->properties[p]->name == c.path[0].key) {
            c.source = CompiledColumn::Source::property;
            c.property = p;
          }
        }
      }
    } else if (cm.ordinal) {
      c.source = CompiledColumn::Source::ordinal;
      c.ordinal = *cm.ordinal;
    }
  }
  // DropMappedFields: the paths of every other column below this column's object.
  for (auto& c : impl->columns) {
    if (c.transform != Transform::drop_mapped_fields) {
      continue;
    }
    for (const auto& other : impl->columns) {
      if (&other == &c || other.source != CompiledColumn::Source::json_path ||
          other.path.size() <= c.path.size() ||
          !std::equal(c.path.begin(), c.path.end(), other.path.begin())) {
        continue;
      }
      DropNode* node = &c.drop;
      for (std::size_t s = c.path.size(); s < other.path.size() && other.path[s].index < 0; ++s) {
        DropNode* next = nullptr;
        for (auto& n : node->children) {
          if (n.key == other.path[s].key) {
            next = &n;
          }
        }
        if (next == nullptr) {
          node->children.push_back(DropNode{other.path[s].key, false, {}});
          next = &node->children.back();
        }
        node = next;
        if (s + 1 == other.path.size()) {
          node->leaf = true;
        }
      }
    }
  }
  if (auto e = impl->parser.allocate(1 << 16); e != simdjson::SUCCESS) {
    return failure(std::string("cannot allocate the JSON parser: ") + simdjson::error_message(e));
  }
  return Mapper(std::move(impl));
}

const EventOutcome& Mapper::map(const EventInput& event, std::string& out) {
  Impl& m = *impl_;
  m.outcome.rows = 0;
  m.outcome.rejection.reset();
  m.outcome.nulls.clear();
  m.event = &event;
  m.out = &out;
  const std::size_t rollback = out.size();

  std::string_view body = event.body;
  if (body.size() >= 2 && static_cast<unsigned char>(body[0]) == 0x1f &&
      static_cast<unsigned char>(body[1]) == 0x8b) {
    if (!m.inflate_body(body)) {
      out.resize(rollback);
      return m.outcome;
    }
    body = m.inflated;
  }
  if (mapping_kind_of(m.format) == MappingKind::json) {
    m.number_error = false;
    m.quoted_numbers = false;
    m.map_json(body); // singlejson is always one document
    if (m.outcome.rejection && m.number_error && quote_unheld_numbers(body, m.requoted)) {
      out.resize(rollback);
      m.outcome.rows = 0;
      m.outcome.rejection.reset();
      m.outcome.nulls.clear();
      m.quoted_numbers = true;
      m.map_json(m.requoted);
    }
  } else {
    m.map_tabular(body);
  }
  if (m.outcome.rejection) {
    out.resize(rollback);
    m.outcome.rows = 0;
    m.outcome.nulls.clear();
  }
  return m.outcome;
}

} // namespace hub2kusto::mappings
