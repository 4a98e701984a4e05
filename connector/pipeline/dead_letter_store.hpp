#pragma once
// Where events go that cannot be ingested as they are (STYLE.md principle 4): an event the
// mapping rejects, or the events of a batch Kusto rejects as bad data. Each record keeps the
// reason, the position and the original body, so an operator can fix and replay it; only once
// the record is durable may the checkpoint pass the event.
//
// Threads: any; implementations are thread-safe.
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "common/types.hpp"

namespace hub2kusto::pipeline {

struct DeadLetter {
  std::string stage;  // "mapping" or "ingest"
  std::string reason; // the mapping engine's or the service's words
  PartitionId partition;
  SequenceNumber sequence_number;
  Offset offset;
  std::string enqueued_time; // ISO 8601
  std::string database;
  std::string table;
  std::string batch_id; // stage "ingest": the rejected batch
  std::string body;     // the event's body as received
};

using Written = Result<std::monostate>;

class DeadLetterStore {
public:
  virtual ~DeadLetterStore() = default;
  // Appends the records; durable when it returns success.
  virtual Written write(const std::vector<DeadLetter>& records) = 0;
};

// JSON lines in one file: {"stage","reason","partition","sequence_number","offset",
// "enqueued_time","database","table","batch_id","body"} plus "body_encoding": "base64" when
// the body is not UTF-8 text. Appended and fsynced per write().
class FileDeadLetterStore final : public DeadLetterStore {
public:
  explicit FileDeadLetterStore(std::filesystem::path file) : file_(std::move(file)) {}
  Written write(const std::vector<DeadLetter>& records) override;
  const std::filesystem::path& file() const { return file_; }

private:
  std::filesystem::path file_;
  std::mutex mutex_;
};

} // namespace hub2kusto::pipeline
