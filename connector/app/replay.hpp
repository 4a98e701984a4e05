#pragma once
// `hub2kusto replay`: sends dead-lettered events again, after the operator fixed what refused
// them (a mapping, a table, a column type), through the same routing, mapping and ingest path
// as `run`: each partition's records, in sequence-number order, go through a PartitionPipeline
// fed from the records instead of the hub, with the connection's own Kusto sink.
//
//   dead-letter files --read--> records of the chosen stages, by partition and sequence number
//     --PartitionPipeline--> Kusto (streaming, queued fallback), or refused again
//   refused again, or still held by a target problem at the deadline --> a new dead-letter file
//
// The input files are only read. An event whose own routing properties had chosen its route
// takes that route again (the record keeps database, table, format and mapping); any other
// takes the connection's route as configured now, where the fix often is. Its partition and
// positions are kept, so a record refused again is recognisable. Events are finished in order,
// as in `run`: when a target problem holds an event at the deadline, it and the partition's
// events after it are written out as not delivered (at least once, never lost).
// Records without a body (stage "queued-ingestion": Kusto failed a queued batch it had
// accepted) and raw AMQP messages (stage "decode") cannot be replayed from a file; they go to
// the new file with the way to read them from the hub again.
#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "app/config.hpp"
#include "base/result.hpp"

namespace hub2kusto::app {

struct ReplayOptions {
  std::string connection; // empty: the configuration's only connection
  std::set<std::string> stages{"ingest", "mapping", "routing", "decompression", "queued-ingestion"};
  std::vector<std::string> files; // dead-letter files; with from_blob, blob name prefixes
  // Read the records from the blob dead-letter store (dead_letter.container): every blob whose
  // name starts with one of `files`, or with "<connection>/" when none is given.
  bool from_blob = false;
  std::string out_file; // empty: <dead_letter.directory>/<connection>.replay-<UTC time>.jsonl
  bool dry_run = false; // route and map, but send nothing
  // Events a target problem still holds at this point are given up and written to out_file.
  std::chrono::milliseconds deadline{300'000};
};

struct ReplayReport {
  std::size_t sources = 0;           // files or blobs read
  std::size_t records = 0;           // lines read
  std::size_t other_stages = 0;      // records of stages not chosen (left alone)
  std::size_t duplicates = 0;        // a partition and sequence number seen before
  std::size_t replayed = 0;          // events handed to the pipeline
  std::size_t delivered = 0;         // Kusto took them (dry run: they would be sent)
  std::size_t refused = 0;           // dead-lettered again, with the new reason
  std::size_t not_delivered = 0;     // still held at the deadline (a target problem)
  std::size_t not_replayable = 0;    // no body to send (see the header comment)
  std::string out_file;              // where refused, held and unreplayable records went; empty:
                                     // nothing went there
  std::vector<std::string> problems; // target problems met (why events were held)

  bool everything_delivered() const {
    return refused == 0 && not_delivered == 0 && not_replayable == 0;
  }
};

// Fails with one message (a file or line that cannot be read, an unknown connection, an
// output file that is one of the inputs) before anything is sent.
Result<ReplayReport> replay(const Config& config, const ReplayOptions& options);

} // namespace hub2kusto::app
