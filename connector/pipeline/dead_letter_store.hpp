#pragma once
// Where events go that cannot be ingested as they are (docs/architecture.md, "Delivery outcomes"):
// an event the mapping rejects, or the events of a batch Kusto rejects as bad data. Each record
// keeps the reason, the position and the original body, so an operator can fix and replay it; only
// once the record is durable may the checkpoint pass the event.
//
// Threads: any; implementations are thread-safe.
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "azure/blob_client.hpp"
#include "base/result.hpp"
#include "common/clock.hpp"
#include "common/metrics.hpp"
#include "common/types.hpp"

namespace hub2kusto::pipeline {

struct DeadLetter {
  // "decode" (the message's body or properties are not valid AMQP: the body is the raw
  // message), "decompression" (Compression=gzip but not gzip), "routing", "mapping", "ingest"
  // (Kusto rejected it), or "queued-ingestion" (Kusto reported
  // a queued batch failed after accepting it: the record names the batch and blob, the body is
  // not kept, and `sequence_number` is the batch's first event)
  std::string stage;
  std::string reason; // the mapping engine's or the service's words
  // Stages "ingest" and "queued-ingestion": the service's error code (its OneApi `code`, or
  // the failure report's ErrorCode), when it gave one.
  std::string error_code;
  PartitionId partition;
  SequenceNumber sequence_number;
  Offset offset;
  std::string enqueued_time; // ISO 8601
  std::string database;
  std::string table;
  std::string format;   // the route's data format
  std::string mapping;  // the route's mapping reference; empty: none
  std::string batch_id; // stage "ingest": the rejected batch
  bool routed = false;  // the event's routing properties chose its route (not the connection)
  std::string body;     // the event's body as received
};

using Written = Result<std::monostate>;

class DeadLetterStore {
public:
  virtual ~DeadLetterStore() = default;
  // Start-up: makes sure a write can succeed (the file can be opened for appending, the
  // container exists), or says why it cannot.
  virtual Written prepare() = 0;
  // Appends the records; durable when it returns success.
  virtual Written write(const std::vector<DeadLetter>& records) = 0;
};

// Dead letters counted by stage and error code, so /metrics answers "why" without reading the
// store. Any thread (dead letters are rare: a mutex is enough).
class DeadLetterCounts {
public:
  void add(const std::vector<DeadLetter>& records);
  // One `name` series per stage and error code seen, with `labels` and those two.
  void describe(MetricsSink& out, const MetricLabels& labels, std::string_view name,
                std::string_view help) const;

private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, std::uint64_t> counts_;
};

// The records as JSON lines, the format both stores write (see FileDeadLetterStore).
std::string to_json_lines(const std::vector<DeadLetter>& records);
// One such line read back (`hub2kusto replay`); the error says what is wrong with it.
Result<DeadLetter> from_json_line(std::string_view line);

// JSON lines in one file: {"stage","reason","partition","sequence_number","offset",
// "enqueued_time","database","table","format","mapping","batch_id","routed","body"} plus
// "body_encoding": "base64" when
// the body is not UTF-8 text. Appended and fsynced per write(); a write that fails half-way
// (a full disk) is cut back, so the file stays whole lines.
class FileDeadLetterStore final : public DeadLetterStore {
public:
  explicit FileDeadLetterStore(std::filesystem::path file) : file_(std::move(file)) {}
  // Creates the directory and the file when missing.
  Written prepare() override;
  Written write(const std::vector<DeadLetter>& records) override;
  const std::filesystem::path& file() const { return file_; }

private:
  Result<int> open_for_append(); // a descriptor, after creating the directory
  std::filesystem::path file_;
  std::mutex mutex_;
};

// A blob container: each write() is one new block blob of JSON lines,
// <prefix>/<partition>/<first sequence number>-<unix ms>-<n>.jsonl, durable once the service
// answered 201. For pods without a persistent volume.
class BlobDeadLetterStore final : public DeadLetterStore {
public:
  BlobDeadLetterStore(azure::BlobClient& blobs, std::string container, std::string prefix,
                      const Clock& clock)
      : blobs_(blobs), container_(std::move(container)), prefix_(std::move(prefix)), clock_(clock) {
  }
  // Creates the container when missing.
  Written prepare() override;
  Written write(const std::vector<DeadLetter>& records) override;

private:
  azure::BlobClient& blobs_;
  std::string container_;
  std::string prefix_;
  const Clock& clock_;
  std::atomic<std::uint64_t> counter_{0};
};

} // namespace hub2kusto::pipeline
