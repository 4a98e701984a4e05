#pragma once
// The ingest stage's seam (docs/architecture.md, "Seams", "Delivery outcomes"): an Ingestor takes
// one batch for one table and says what became of it, as one of three values. Streaming, queued and
// managed ingestion all implement it; the pipeline never knows which path ran.
//
// Threads: ingest() blocks its caller (a partition's pipeline thread) until the batch has an
// outcome; an Ingestor may be called from several such threads at once.
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/ingest_format.hpp"
#include "common/types.hpp"

namespace hub2kusto::ingest {

// Where a batch goes: docs/protocols.md, "Streaming ingestion requests" (streamFormat,
// mappingName).
struct IngestTarget {
  DatabaseName database;
  TableName table;
  IngestFormat format = IngestFormat::json;
  std::optional<MappingName> mapping; // a mapping created on the table
};

// Which events a batch holds: one partition's sequence numbers `first` to `last`. Written as
// <partition>-<first>-<last> into the client request id, the queued blob's name and its status
// entity, so a batch replayed after a crash is recognisable, and a failure Kusto reports later
// names the events it concerns.
struct BatchId {
  PartitionId partition;
  SequenceNumber first;
  SequenceNumber last;

  std::string text() const;
  // The id `text` writes; nullopt for any other text (a foreign or older id).
  static std::optional<BatchId> parse(std::string_view text);
  friend bool operator==(const BatchId&, const BatchId&) = default;
};

struct Batch {
  // BatchId::text() of the events it holds (tests may use any text: the ingestors only carry it).
  // A request that joins several partitions' batches: "<first part's id>+<how many more>".
  std::string id;
  // A joined request: the BatchId::text() of each batch in it, in order (its status entity keeps
  // them, so a failure Kusto reports later names every partition's events). Empty otherwise.
  std::vector<std::string> parts;
  IngestTarget target;
  std::string data; // the records in `format`, uncompressed
  std::size_t records = 0;
};

enum class Outcome {
  delivered, // Kusto has it: streaming answered 2xx, or the ingestion queue took the message
  retriable, // not delivered, nothing wrong with the data: try again later
  rejected,  // the data cannot be ingested as it is: dead-letter it with `reason`
};
std::string_view outcome_name(Outcome outcome);

enum class IngestPath { streaming, queued };
std::string_view path_name(IngestPath path);

struct DeliveryStatus {
  Outcome outcome = Outcome::retriable;
  IngestPath path = IngestPath::streaming;
  std::string reason;     // for retriable and rejected: why
  std::string error_code; // the service's error code, when it gave one (OneApi `code`)
  std::optional<std::chrono::milliseconds> retry_after; // the service asked for this wait
  std::string blob; // queued: the blob that carries the batch (no SAS), for status tracking
  // The service refused the batch's size for streaming (it went queued): batches of its table
  // should stay under this many raw bytes for a while.
  std::optional<std::size_t> smaller_batches;
  // Retriable because the target is wrong or refuses us, not because of this batch's data:
  // the pipeline holds and says so (for a target an event's routing properties chose, a
  // missing entity is that event's fault instead).
  enum class TargetProblem { none, missing_entity, credentials };
  TargetProblem target_problem = TargetProblem::none;
};

class Ingestor {
public:
  virtual ~Ingestor() = default;
  // Never throws.
  virtual DeliveryStatus ingest(const Batch& batch) = 0;
};

} // namespace hub2kusto::ingest
