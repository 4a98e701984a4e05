#include "app/infer.hpp"

#include <fstream>
#include <memory>
#include <ostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/bridge.hpp"
#include "app/preflight.hpp"
#include "app/schema_inference.hpp"
#include "azure/token_provider.hpp"
#include "base/text.hpp"
#include "common/clock.hpp"
#include "common/random.hpp"
#include "hub/amqp_event_source.hpp"
#include "ingest/kusto_management.hpp"

namespace hub2kusto::app {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr milliseconds kRequestTimeout{30'000};

struct Sample {
  std::vector<std::string> bodies;
  std::string source; // where they came from, for the summary
};

Result<Sample> sample_file(const std::string& path, std::size_t limit) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return failure(fmt::format("cannot read the file '{}'", path));
  }
  Sample s;
  for (std::string line; s.bodies.size() < limit && std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    if (!line.empty()) {
      s.bodies.push_back(std::move(line));
    }
  }
  s.source = fmt::format("the file {}", path);
  return s;
}

// Reads from every partition until `limit` events, until each partition's events as of the
// start were read (from the start), or until `wait` passed without an event.
Result<Sample> sample_hub(const ConnectionConfig& c, const InferOptions& o, std::ostream& err) {
  SystemClock clock;
  SystemRandom random;
  hub::HubOptions ho = hub_options(c, "hub2kusto-infer-" + c.name);
  hub::AmqpEventSource source(ho, clock, random);
  auto hub = source.hub_properties(kRequestTimeout);
  if (!hub) {
    return failure(hub.error().message);
  }
  const std::vector<PartitionId> ids =
      c.source.partitions.empty() ? hub->partition_ids : c.source.partitions;
  struct Reading {
    std::shared_ptr<hub::PartitionStream> stream;
    std::optional<std::int64_t> last; // from the start: the last event there was
    bool done = false;
  };
  std::vector<Reading> readings;
  for (const auto& id : ids) {
    Reading r;
    if (!o.from_end) {
      auto p = source.partition_properties(id, kRequestTimeout);
      if (!p) {
        return failure(p.error().message);
      }
      r.done = p->is_empty;
      r.last = p->last_enqueued_sequence_number.value();
    }
    if (!r.done) {
      r.stream = source.open_partition(id, o.from_end ? hub::StartPosition::latest()
                                                      : hub::StartPosition::earliest());
    }
    readings.push_back(std::move(r));
  }
  err << fmt::format("sampling up to {} event(s) from {} partition(s) of Event Hub '{}', {}\n",
                     o.events, ids.size(), hub->name.value(),
                     o.from_end ? "as they arrive" : "from the start");
  Sample s;
  std::vector<hub::HubEvent> batch;
  auto quiet_until = steady_clock::now() + o.wait;
  const auto reading = [&] {
    return std::any_of(readings.begin(), readings.end(), [](const Reading& r) { return !r.done; });
  };
  while (s.bodies.size() < o.events && reading() && steady_clock::now() < quiet_until) {
    for (auto& r : readings) {
      if (r.done || s.bodies.size() >= o.events) {
        continue;
      }
      batch.clear();
      r.stream->take(batch, o.events - s.bodies.size(), milliseconds(20));
      for (auto& e : batch) {
        s.bodies.push_back(std::move(e.body));
        r.done = r.done || (r.last && e.sequence_number.value() >= *r.last);
      }
      if (!batch.empty()) {
        quiet_until = steady_clock::now() + o.wait;
      }
      if (const auto status = r.stream->status(); status.stopped()) {
        return failure(
            fmt::format("partition {}: {}", r.stream->partition().value(), status.reason));
      }
    }
  }
  source.close();
  s.source = fmt::format("Event Hub '{}' of {} ({} partition(s), {})", hub->name.value(),
                         hub->fully_qualified_namespace, ids.size(),
                         o.from_end ? "new events" : "from the start");
  return s;
}

// A CSL string literal: '...' with quotes and backslashes escaped.
std::string csl_string(std::string_view text) {
  std::string out = "'";
  for (const char ch : text) {
    if (ch == '\'' || ch == '\\') {
      out += '\\';
    }
    out += ch;
  }
  return out + "'";
}

} // namespace

int infer(const Config& config, const InferOptions& o, std::ostream& out, std::ostream& err) {
  const ConnectionConfig* c = config.connections.empty() ? nullptr : &config.connections.front();
  if (o.connection) {
    c = nullptr;
    for (const auto& candidate : config.connections) {
      if (candidate.name == *o.connection) {
        c = &candidate;
      }
    }
    if (c == nullptr) {
      err << fmt::format("hub2kusto infer: the configuration has no connection '{}'\n",
                         *o.connection);
      return 2;
    }
  }
  if (c == nullptr) {
    err << "hub2kusto infer: the configuration has no connection\n";
    return 2;
  }
  auto sample = o.from_file ? sample_file(*o.from_file, o.events) : sample_hub(*c, o, err);
  if (!sample) {
    err << "hub2kusto infer: " << sample.error().message << '\n';
    return 1;
  }
  if (sample->bodies.empty()) {
    err << fmt::format("hub2kusto infer: no events in {}: nothing to infer from\n", sample->source);
    return 1;
  }
  const IngestFormat format =
      o.format.value_or(inferable(c->target.format) ? c->target.format : IngestFormat::json);
  const bool json = format == IngestFormat::json;
  const std::string kind = text::lower(mapping_kind(format)); // delimited: a CSV mapping
  SchemaInference inference(format, o.header);
  for (const auto& body : sample->bodies) {
    inference.add(body);
  }
  const InferredSchema schema = inference.result(o.system_properties);
  if (schema.columns.empty()) {
    err << fmt::format("hub2kusto infer: none of the {} event(s) is {}", schema.events,
                       json ? std::string("a JSON object with fields")
                            : fmt::format("a record of format {}", ingest_format_name(format)));
    for (const auto& why : schema.skipped) {
      err << "\n  " << why;
    }
    err << '\n';
    return 1;
  }

  const std::string table = quote_name(c->target.table.value());
  const std::string mapping = o.mapping_name.value_or(
      c->target.mapping ? c->target.mapping->value() : c->target.table.value() + "_mapping");
  out << fmt::format("// {} event(s) from {}: {} column(s)\n", schema.events, sample->source,
                     schema.columns.size());
  if (schema.not_objects > 0) {
    out << fmt::format("// {} event(s) were left out, for example:\n", schema.not_objects);
    for (const auto& why : schema.skipped) {
      out << "//   " << why << '\n';
    }
  }
  for (const auto& col : schema.columns) {
    if (!col.hesitation.empty()) {
      out << fmt::format("// {}: {}\n", col.name, col.hesitation);
    }
  }
  struct Command {
    std::string what; // for progress and errors
    std::string csl;
  };
  const std::vector<Command> commands = {
      {fmt::format("the table {}", table),
       fmt::format(".create-merge table {} ({})", table, schema.schema_text())},
      {fmt::format("the mapping '{}'", mapping),
       fmt::format(".create-or-alter table {} ingestion {} mapping {} {}", table, kind,
                   csl_string(mapping), csl_string(schema.mapping_json()))},
      {fmt::format("streaming ingestion on {}", table),
       fmt::format(".alter table {} policy streamingingestion enable", table)},
  };
  out << '\n';
  for (const auto& command : commands) {
    out << command.csl << "\n\n";
  }
  nlohmann::ordered_json target;
  target["table"] = c->target.table.value();
  target["format"] = ingest_format_name(format);
  if (o.system_properties.empty()) {
    target["mapping"] = mapping;
  } else {
    // System properties are fields the bridge adds to each event: it maps events itself.
    target["schema"] = schema.schema_text();
    target["mapping_file"] = mapping + ".json";
    target["system_properties"] = o.system_properties;
  }
  out << fmt::format("// the target settings of connection '{}':\n\"target\": {}\n", c->name,
                     target.dump(2));
  if (!o.system_properties.empty()) {
    out << fmt::format("// and {}.json, the mapping above, beside the configuration:\n{}\n",
                       mapping, schema.mapping_json());
  }
  if (!o.apply) {
    return 0;
  }

  const auto& t = c->target;
  SystemClock clock;
  auto transport = azure::make_http_transport();
  auto tokens = azure::make_cluster_token_provider(t.connection, t.credential, *transport, clock);
  ingest::KustoManagement engine(t.connection.engine_url(), *transport, *tokens, "hub2kusto",
                                 "infer");
  for (const auto& command : commands) {
    auto done = engine.execute(t.database.value(), command.csl, kRequestTimeout);
    if (!done) {
      const bool denied = done.error().status == 401 || done.error().status == 403;
      err << fmt::format("hub2kusto infer: creating {} in database {} failed: {}{}\n", command.what,
                         t.database.value(), done.error().reason,
                         denied ? " (the identity needs the database's Admin role, or the "
                                  "table's Admin role for an existing table)"
                                : "");
      return 1;
    }
    err << fmt::format("applied: {}\n", command.what);
  }
  Config one = config;
  one.connections = {*c};
  std::size_t errors = 0;
  preflight(one, PreflightOptions{}, [&](const Check& check) {
    errors += check.level == CheckLevel::error;
    err << format_check(check) << std::endl;
  });
  return errors > 0 ? 1 : 0;
}

} // namespace hub2kusto::app
