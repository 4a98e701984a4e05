#pragma once
// Preflight: connect to everything a configuration names and say, one line per check, what is
// fine, what is doubtful and what will stop the data, each problem with the command or the
// setting that fixes it. `hub2kusto check-config --connect` prints the checks and exits 1 when
// one is an error; `hub2kusto run` logs them at start and keeps running: a target problem then
// holds the data it concerns (pipeline/partition_pipeline.hpp) until it is fixed.
//
// What is checked (README.md, "When something is wrong"):
//   each hub        the connection opens and its token is accepted; the Event Hub, its
//                   partitions and their last enqueued events; the consumer group (a receiver
//                   attaches without an owner level, so a running bridge keeps its partitions)
//   each target     the engine answers; the database and table exist, with their schema;
//                   `target.schema` agrees with the table; the mapping `target.mapping` exists
//                   with the kind `target.format` needs; the streaming policy (table, else
//                   database); the data-management endpoint answers `.get ingestion resources`,
//                   which only a principal that may ingest can run
//   each store      the checkpoint and dead-letter directory or blob container is writable
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "app/config.hpp"

namespace hub2kusto::app {

enum class CheckLevel { ok, warning, error };

struct Check {
  CheckLevel level = CheckLevel::ok;
  std::string subject; // what was checked: "connection 'telemetry' Kusto db.T"
  std::string finding; // what was found, one line, never a secret
  std::string fix;     // a warning's or an error's remedy: a command or a setting
};

struct PreflightOptions {
  std::chrono::milliseconds timeout{15'000}; // each request's
  // `run` reads its hubs itself and reports what it finds on /readyz; it checks the rest.
  bool hubs = true;
};

// Runs every check in order; `report` sees each one as soon as it is known.
std::vector<Check> preflight(const Config& config, const PreflightOptions& options,
                             const std::function<void(const Check&)>& report);

// "error   connection 'telemetry' Kusto db.T: ...; fix: ..."
std::string format_check(const Check& check);

} // namespace hub2kusto::app
