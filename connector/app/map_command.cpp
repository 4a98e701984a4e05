#include "app/map_command.hpp"

#include <fstream>
#include <istream>
#include <optional>
#include <ostream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/cli.hpp"
#include "base/files.hpp"
#include "mappings/engine.hpp"
#include "mappings/values.hpp"

namespace hub2kusto::app {
namespace {

constexpr std::string_view kMapHelp =
    R"(Usage: hub2kusto map --schema SCHEMA [--mapping FILE] [--format FORMAT]
                     [--system-properties FILE] [--output csv|json] < events

Shows what a Kusto ingestion mapping makes of sample events, exactly as hub2kusto will map
them before ingestion.

Options:
  --schema SCHEMA            the table's columns, as in .create table:
                             'TimeStamp:datetime,Name:string,Metric:int,Source:string'
  --mapping FILE             the mapping JSON, as given to .create table T ingestion json|csv
                             mapping; without it, columns map by name (JSON) or position (CSV)
  --format FORMAT            json (default), multijson, singlejson, csv, tsv, tsve, psv, scsv,
                             sohsv, txt, raw
  --system-properties FILE   a JSON object of event system properties and their values, e.g.
                             {"x-opt-enqueued-time": "2026-11-24T10:00:00Z",
                              "x-opt-sequence-number": 42}; they apply to every event
  --output csv|json          the row format (default csv)
  --help                     print this help

Input: one event per line; for multijson, singlejson and raw the whole input is one event.
Output: rows on stdout; on stderr one line per rejected event ("line N: why") and per value
that did not convert and became null ("line N: column C: why").
Exit codes: 0 every event mapped, 1 some events were rejected, 2 bad arguments, schema or
mapping.
)";

struct Properties {
  std::vector<std::string> names;
  std::vector<std::string> texts; // backing storage for text values
  std::vector<mappings::PropertyValue> values;
};

// Reads {"name": value, ...}; values are typed by the property (datetime, long or string).
std::optional<Properties> read_properties(const std::string& path, std::ostream& err) {
  const auto text = read_whole_file(path);
  if (!text) {
    err << fmt::format("hub2kusto map: cannot read the file '{}'\n", path);
    return std::nullopt;
  }
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(*text);
  } catch (const nlohmann::json::parse_error& e) {
    err << fmt::format("hub2kusto map: {}: invalid JSON at byte {}\n", path, e.byte);
    return std::nullopt;
  } catch (const nlohmann::json::exception&) {
    err << fmt::format("hub2kusto map: {}: invalid JSON (a number out of range)\n", path);
    return std::nullopt;
  }
  if (!doc.is_object()) {
    err << fmt::format("hub2kusto map: {}: expected a JSON object of property values\n", path);
    return std::nullopt;
  }
  Properties props;
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    if (mappings::find_system_property(it.key()) == nullptr) {
      err << fmt::format("hub2kusto map: {}: '{}' is not an event system property ADX knows\n",
                         path, it.key());
      return std::nullopt;
    }
    props.names.push_back(it.key());
  }
  return props;
}

// Aligns the file's values with the mapper's property order.
bool resolve_property_values(const std::string& path, Properties& props,
                             const mappings::Mapper& mapper, std::ostream& err) {
  const auto doc = nlohmann::json::parse(*read_whole_file(path));
  props.texts.reserve(mapper.system_properties().size());
  for (const auto* info : mapper.system_properties()) {
    const auto& v = doc.at(std::string(info->name));
    mappings::PropertyValue pv;
    if (info->type == mappings::ColumnType::int64 && v.is_number_integer()) {
      pv = mappings::PropertyValue::of_integer(v.get<std::int64_t>());
    } else if (info->type == mappings::ColumnType::datetime && v.is_string()) {
      const auto ticks = mappings::values::parse_datetime(v.get<std::string>());
      if (!ticks) {
        err << fmt::format("hub2kusto map: {}: '{}' is not a datetime\n", path, info->name);
        return false;
      }
      pv = mappings::PropertyValue::of_datetime(*ticks);
    } else if (info->type == mappings::ColumnType::string && v.is_string()) {
      props.texts.push_back(v.get<std::string>());
      pv = mappings::PropertyValue::of_text(props.texts.back());
    } else {
      err << fmt::format("hub2kusto map: {}: '{}' must be {}\n", path, info->name,
                         info->type == mappings::ColumnType::int64      ? "an integer"
                         : info->type == mappings::ColumnType::datetime ? "a datetime string"
                                                                        : "a string");
      return false;
    }
    props.values.push_back(pv);
  }
  return true;
}

std::size_t line_of_offset(std::string_view text, std::size_t offset) {
  std::size_t line = 1;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    line += text[i] == '\n' ? 1 : 0;
  }
  return line;
}

} // namespace

int run_map_command(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
                    std::ostream& err) {
  std::optional<std::string> schema_text;
  std::optional<std::string> mapping_path;
  std::optional<std::string> properties_path;
  std::string format_name = "json";
  std::string output_name = "csv";
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      out << kMapHelp;
      return kExitOk;
    }
    const bool takes_value = a == "--schema" || a == "--mapping" || a == "--format" ||
                             a == "--system-properties" || a == "--output";
    if (!takes_value) {
      err << fmt::format("hub2kusto map: unknown argument '{}' (see 'hub2kusto map --help')\n", a);
      return kExitUsage;
    }
    if (i + 1 >= args.size()) {
      err << fmt::format("hub2kusto map: {} needs a value\n", a);
      return kExitUsage;
    }
    const std::string& v = args[++i];
    if (a == "--schema") {
      schema_text = v;
    } else if (a == "--mapping") {
      mapping_path = v;
    } else if (a == "--format") {
      format_name = v;
    } else if (a == "--system-properties") {
      properties_path = v;
    } else {
      output_name = v;
    }
  }
  if (!schema_text) {
    err << "hub2kusto map: --schema is required (see 'hub2kusto map --help')\n";
    return kExitUsage;
  }
  const auto format = mappings::parse_data_format(format_name);
  if (!format) {
    err << fmt::format("hub2kusto map: --format: '{}' is not a format the engine reads (json, "
                       "multijson, singlejson, csv, tsv, tsve, psv, scsv, sohsv, txt, raw)\n",
                       format_name);
    return kExitUsage;
  }
  if (output_name != "csv" && output_name != "json") {
    err << fmt::format("hub2kusto map: --output: '{}' is not csv or json\n", output_name);
    return kExitUsage;
  }
  auto schema = mappings::parse_schema(*schema_text);
  if (!schema) {
    err << fmt::format("hub2kusto map: --schema: {}\n", schema.error().message);
    return kExitUsage;
  }
  mappings::MapperOptions options;
  options.schema = std::move(schema).value();
  options.format = *format;
  options.output =
      output_name == "json" ? mappings::OutputFormat::json : mappings::OutputFormat::csv;
  if (mapping_path) {
    const auto text = read_whole_file(*mapping_path);
    if (!text) {
      err << fmt::format("hub2kusto map: --mapping: cannot read the file '{}'\n", *mapping_path);
      return kExitUsage;
    }
    auto mapping = mappings::parse_mapping(*text, mappings::mapping_kind_of(*format));
    if (!mapping) {
      err << fmt::format("hub2kusto map: {}: {}\n", *mapping_path, mapping.error().message);
      return kExitUsage;
    }
    options.mapping = std::move(mapping).value();
  }
  std::optional<Properties> props;
  if (properties_path) {
    props = read_properties(*properties_path, err);
    if (!props) {
      return kExitUsage;
    }
    options.system_properties = props->names;
  }
  auto mapper = mappings::Mapper::create(std::move(options));
  if (!mapper) {
    err << fmt::format("hub2kusto map: {}\n", mapper.error().message);
    return kExitUsage;
  }
  if (props && !resolve_property_values(*properties_path, *props, *mapper, err)) {
    return kExitUsage;
  }

  const auto& schema_ref = mapper->schema();
  std::size_t rejected = 0;
  std::string rows;
  auto map_one = [&](std::string_view body, std::size_t line, bool whole_input) {
    mappings::EventInput event;
    event.body = body;
    if (props) {
      event.properties = props->values;
    }
    event.source_location = "stdin";
    rows.clear();
    const auto& outcome = mapper->map(event, rows);
    out << rows;
    for (const auto& n : outcome.nulls) {
      err << fmt::format("line {}: column {}: {}\n", whole_input ? n.record : line,
                         schema_ref.columns[n.column].name, n.reason);
    }
    if (outcome.rejection) {
      ++rejected;
      const auto& r = *outcome.rejection;
      std::size_t at = line;
      if (whole_input && r.byte_offset) {
        at = line_of_offset(body, *r.byte_offset);
      }
      err << fmt::format("line {}: {}\n", at, r.reason);
    }
  };

  if (*format == mappings::DataFormat::multijson || *format == mappings::DataFormat::singlejson ||
      *format == mappings::DataFormat::raw) {
    std::ostringstream buffer;
    buffer << in.rdbuf();
    map_one(buffer.str(), 1, true);
  } else {
    std::string line;
    std::size_t n = 0;
    while (std::getline(in, line)) {
      ++n;
      if (!line.empty() && line.back() == '\r') {
        line.pop_back();
      }
      if (line.find_first_not_of(" \t") == std::string::npos) {
        continue; // blank lines are not events
      }
      map_one(line, n, false);
    }
  }
  return rejected == 0 ? kExitOk : kExitFailure;
}

} // namespace hub2kusto::app
