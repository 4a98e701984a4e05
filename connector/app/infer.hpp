#pragma once
// `hub2kusto infer`: from sample events to a table that takes them. Samples events from a
// connection's hub (read-only: no checkpoint, no ownership, a receiver without an owner level,
// so a running bridge keeps its partitions) or from a file, infers a Kusto schema and a JSON
// CSV mapping (app/schema_inference.hpp), and prints the three commands that make the table ready
// for streaming ingestion, then the `target` settings for the configuration. With `apply` it
// runs the commands with the connection's identity (each one idempotent) and then the
// preflight's checks of that connection.
#include <chrono>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "app/config.hpp"
#include "app/schema_inference.hpp"

namespace hub2kusto::app {

struct InferOptions {
  std::optional<std::string> connection; // the connection's name; default: the first
  std::size_t events = 1000;             // at most this many events are sampled
  std::optional<std::string> from_file;  // one event per line, instead of the hub
  bool from_end = false;                 // the hub: wait for new events, not the oldest
  std::chrono::seconds wait{10};         // the hub: how long to wait for events at all
  std::vector<std::string> system_properties;
  // The events' format: json or a delimited one (inferable()); default: target.format when
  // infer reads it, else json.
  std::optional<IngestFormat> format;
  bool header = false;                     // delimited: the first record names the columns
  std::optional<std::string> mapping_name; // default: target.mapping, else <table>_mapping
  bool apply = false;
};

// Prints the commands and settings to `out` and progress and problems to `err`; returns the
// process exit code (0 inferred (and applied), 1 a hub, file or Kusto failure, 2 bad options).
int infer(const Config& config, const InferOptions& options, std::ostream& out, std::ostream& err);

} // namespace hub2kusto::app
