#include "app/replay.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "app/bridge.hpp"
#include "app/kusto_sink.hpp"
#include "app/store_config.hpp"
#include "azure/blob_client.hpp"
#include "base/files.hpp"
#include "checkpoint/checkpoint_store.hpp"
#include "checkpoint/checkpointer.hpp"
#include "common/clock.hpp"
#include "common/iso8601.hpp"
#include "common/logging.hpp"
#include "pipeline/dead_letter_store.hpp"
#include "pipeline/local_mapper.hpp"
#include "pipeline/partition_pipeline.hpp"

namespace hub2kusto::app {
namespace {

using pipeline::DeadLetter;

// One partition's records as a PartitionStream: taken in order, then closed.
class RecordStream final : public hub::PartitionStream {
public:
  RecordStream(PartitionId partition, std::vector<hub::HubEvent> events)
      : partition_(std::move(partition)), events_(std::move(events)) {}

  const PartitionId& partition() const override { return partition_; }
  std::size_t take(std::vector<hub::HubEvent>& out, std::size_t max,
                   std::chrono::milliseconds) override {
    std::lock_guard lock(mutex_);
    const std::size_t n = std::min(max, events_.size() - next_);
    for (std::size_t i = 0; i < n; ++i) {
      out.push_back(std::move(events_[next_ + i]));
    }
    next_ += n;
    if (n > 0) {
      last_ = out.back().sequence_number;
    }
    return n;
  }
  hub::PartitionStatus status() const override {
    std::lock_guard lock(mutex_);
    return {next_ == events_.size() ? hub::PartitionState::closed : hub::PartitionState::receiving,
            {}};
  }
  hub::CreditStats credit() const override {
    std::lock_guard lock(mutex_);
    return {events_.size() - next_, 0, 0, 0};
  }
  std::optional<SequenceNumber> last_received() const override {
    std::lock_guard lock(mutex_);
    return last_;
  }

private:
  const PartitionId partition_;
  mutable std::mutex mutex_;
  std::vector<hub::HubEvent> events_;
  std::size_t next_ = 0;
  std::optional<SequenceNumber> last_;
};

// Counts what the pipeline dead-letters again; writes it to `inner` unless a dry run.
class CountingStore final : public pipeline::DeadLetterStore {
public:
  explicit CountingStore(pipeline::DeadLetterStore* inner) : inner_(inner) {}
  pipeline::Written prepare() override {
    return inner_ != nullptr ? inner_->prepare() : pipeline::Written(std::monostate{});
  }
  pipeline::Written write(const std::vector<DeadLetter>& records) override {
    if (inner_ != nullptr) {
      if (auto written = inner_->write(records); !written) {
        return written;
      }
    }
    std::lock_guard lock(mutex_);
    for (const auto& r : records) {
      written_.emplace(r.partition.value(), r.sequence_number.value());
    }
    return std::monostate{};
  }
  std::size_t written() const {
    std::lock_guard lock(mutex_);
    return written_.size();
  }
  bool contains(const DeadLetter& r) const {
    std::lock_guard lock(mutex_);
    return written_.contains({r.partition.value(), r.sequence_number.value()});
  }

private:
  pipeline::DeadLetterStore* inner_;
  mutable std::mutex mutex_;
  std::set<std::pair<std::string, std::int64_t>> written_; // partition, sequence number
};

// --dry-run: every batch "delivered", nothing sent.
class DryRunIngestor final : public ingest::Ingestor {
public:
  ingest::DeliveryStatus ingest(const ingest::Batch&) override {
    ingest::DeliveryStatus status;
    status.outcome = ingest::Outcome::delivered;
    return status;
  }
};

hub::NamedValue property(std::string name, std::string value) {
  return {std::move(name), hub::AmqpValue{hub::AmqpType::string, std::move(value)}};
}

// The event a record was made from, as far as it was kept: its body and positions, and, when
// its own routing properties had chosen its route, that route as routing properties again.
// Other events take the connection's route as configured now: the fix may be there.
hub::HubEvent event_of(const DeadLetter& r, const TargetConfig& t) {
  hub::HubEvent e;
  e.partition = r.partition;
  e.sequence_number = r.sequence_number;
  e.offset = r.offset;
  const auto enqueued = parse_iso8601_utc(r.enqueued_time);
  e.enqueued_time = std::chrono::time_point_cast<std::chrono::milliseconds>(
      enqueued.value_or(std::chrono::system_clock::now()));
  e.body = r.body;
  const std::string format_name =
      r.routed && !r.format.empty() ? r.format : std::string(ingest_format_name(t.format));
  // A name that is no format goes as it came: the router refuses it, naming it.
  const auto format = parse_ingest_format(format_name);
  if (r.routed) {
    if (!r.table.empty() && r.table != t.table.value()) {
      e.application_properties.push_back(property("Table", r.table));
    }
    if (!r.database.empty() && r.database != t.database.value()) {
      e.application_properties.push_back(property("Database", r.database));
    }
    if (format != t.format) {
      e.application_properties.push_back(property("Format", format_name));
    }
    if (!r.mapping.empty() && (!t.mapping || r.mapping != t.mapping->value())) {
      e.application_properties.push_back(property("IngestionMappingReference", r.mapping));
    }
  }
  // Dead letters keep an event's body as it came: a gzip one was sent with Compression=gzip.
  if (r.body.size() >= 2 && static_cast<unsigned char>(r.body[0]) == 0x1f &&
      static_cast<unsigned char>(r.body[1]) == 0x8b && !(format && is_binary(*format))) {
    e.application_properties.push_back(property("Compression", "gzip"));
  }
  return e;
}

// Why a record cannot be sent from the file, or none.
std::optional<std::string> unreplayable(const DeadLetter& r) {
  if (r.stage == "queued-ingestion") {
    return fmt::format("a queued batch keeps no body here; read it from the hub again, retention "
                       "permitting, by moving partition {}'s checkpoint before sequence number {}",
                       r.partition, r.sequence_number);
  }
  if (r.stage == "decode") {
    return std::string("the record holds a raw AMQP message that could not be decoded; it "
                       "cannot be sent as an event");
  }
  return std::nullopt;
}

DeadLetter annotated(DeadLetter r, const std::string& why) {
  r.reason = fmt::format("replay: {} (was: {})", why, r.reason);
  return r;
}

std::string default_out_file(const Config& config, const std::string& connection) {
  const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  return (std::filesystem::path(config.dead_letter.directory) /
          fmt::format("{}.replay-{:%Y%m%dT%H%M%SZ}.jsonl", connection, now))
      .string();
}

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  return std::filesystem::exists(a, ec) && std::filesystem::exists(b, ec) &&
         std::filesystem::equivalent(a, b, ec);
}

// What one partition's replay finished: every sequence number up to `done` (delivered or
// dead-lettered again), and the target problems that held it when the deadline came.
struct PartitionRun {
  std::optional<SequenceNumber> done;
  std::vector<std::string> problems;
};

// Runs one partition's events through a pipeline until they are all done or `deadline`.
PartitionRun run_partition(const ConnectionConfig& c, const PartitionId& partition,
                           std::vector<hub::HubEvent> events, ingest::Ingestor& ingestor,
                           pipeline::DeadLetterStore& dead_letters,
                           std::chrono::steady_clock::time_point deadline) {
  SystemClock clock;
  ThreadSleeper sleeper;
  checkpoint::MemoryCheckpointStore positions;
  checkpoint::PartitionCheckpointer checkpointer(partition, positions, clock,
                                                 std::chrono::milliseconds(0));
  std::optional<pipeline::LocalMapper> mapper;
  if (c.target.local_mapping) {
    // replay() made sure it can be created before anything was sent.
    if (auto created = pipeline::LocalMapper::create(*c.target.local_mapping)) {
      mapper.emplace(std::move(created).value());
    }
  }
  auto stream = std::make_shared<RecordStream>(partition, std::move(events));
  pipeline::PartitionPipeline p(pipeline_options(c), stream, ingestor, dead_letters, checkpointer,
                                clock, sleeper, std::move(mapper));
  // A target problem holds the pipeline, as in `run`; here only until the deadline.
  PartitionRun result;
  std::mutex mutex;
  std::condition_variable done;
  bool finished = false;
  std::thread watchdog([&] {
    std::unique_lock lock(mutex);
    if (!done.wait_until(lock, deadline, [&] { return finished; })) {
      for (const auto& problem : p.problems()) {
        result.problems.push_back(fmt::format("partition {}: {}", partition, problem));
      }
      p.stop();
    }
  });
  p.run();
  p.drain(deadline);
  {
    std::lock_guard lock(mutex);
    finished = true;
  }
  done.notify_all();
  watchdog.join();
  if (const auto& w = checkpointer.watermark()) {
    result.done = w->sequence_number;
  }
  return result;
}

// The dead-letter text to replay, by name: the files, or the blobs of the dead-letter store.
Result<std::vector<std::pair<std::string, std::string>>> read_sources(const Config& config,
                                                                      const ConnectionConfig& c,
                                                                      const ReplayOptions& options,
                                                                      const std::string& out_file) {
  std::vector<std::pair<std::string, std::string>> sources;
  if (options.from_blob) {
    if (config.dead_letter.store != DeadLetterConfig::Store::blob) {
      return failure("--from-blob needs dead_letter.store 'blob' in the configuration");
    }
    SystemClock clock;
    auto transport = azure::make_http_transport();
    const auto client = make_blob_client(config.dead_letter, *transport, clock);
    auto& blobs = *client;
    const auto& container = config.dead_letter.container;
    std::vector<std::string> prefixes = options.files;
    if (prefixes.empty()) {
      prefixes.push_back(c.name + "/");
    }
    for (const auto& prefix : prefixes) {
      auto names = blobs.list_blobs(container, prefix);
      if (!names) {
        return failure(std::move(names).error());
      }
      for (const auto& name : *names) {
        auto text = blobs.get_blob(container, name);
        if (!text) {
          return failure(std::move(text).error());
        }
        sources.emplace_back(fmt::format("{}/{}", container, name), std::move(*text));
      }
    }
    return sources;
  }
  if (options.files.empty()) {
    return failure("name at least one dead-letter file (or --from-blob)");
  }
  for (const auto& file : options.files) {
    if (same_file(file, out_file)) {
      return failure(fmt::format("the output file {} is one of the inputs: inputs are never "
                                 "written; choose another with --out",
                                 out_file));
    }
    auto text = read_whole_file(file);
    if (!text) {
      return failure(fmt::format("{}: cannot be read: {}", file, std::strerror(errno)));
    }
    sources.emplace_back(file, std::move(*text));
  }
  return sources;
}

} // namespace

Result<ReplayReport> replay(const Config& config, const ReplayOptions& options) {
  const ConnectionConfig* c = nullptr;
  for (const auto& candidate : config.connections) {
    if (options.connection.empty() ? config.connections.size() == 1
                                   : candidate.name == options.connection) {
      c = &candidate;
    }
  }
  if (c == nullptr) {
    std::vector<std::string> names;
    for (const auto& candidate : config.connections) {
      names.push_back(candidate.name);
    }
    return failure(options.connection.empty()
                       ? fmt::format("the configuration has {} connections ({}): name one with "
                                     "--connection",
                                     names.size(), fmt::join(names, ", "))
                       : fmt::format("no connection '{}' in the configuration (it has {})",
                                     options.connection, fmt::join(names, ", ")));
  }
  ReplayReport report;
  report.out_file = options.out_file.empty() ? default_out_file(config, c->name) : options.out_file;
  // A local mapping that cannot be built would send events unmapped: stop here instead.
  if (c->target.local_mapping) {
    if (auto mapper = pipeline::LocalMapper::create(*c->target.local_mapping); !mapper) {
      return failure(
          fmt::format("connection '{}': target.schema: {}", c->name, mapper.error().message));
    }
  }
  auto sources = read_sources(config, *c, options, report.out_file);
  if (!sources) {
    return failure(std::move(sources).error());
  }

  // Read every record first: a line that cannot be read stops the replay before anything is
  // sent.
  std::map<std::string, std::map<std::int64_t, DeadLetter>> by_partition;
  std::vector<DeadLetter> not_replayable;
  for (const auto& [name, text] : *sources) {
    std::istringstream in(text);
    std::size_t number = 0;
    for (std::string line; std::getline(in, line);) {
      ++number;
      if (line.empty()) {
        continue;
      }
      auto record = pipeline::from_json_line(line);
      if (!record) {
        return failure(fmt::format("{}:{}: not a dead-letter record: {}", name, number,
                                   record.error().message));
      }
      ++report.records;
      if (!options.stages.contains(record->stage)) {
        ++report.other_stages;
        continue;
      }
      if (auto why = unreplayable(*record)) {
        not_replayable.push_back(annotated(std::move(record).value(), *why));
        continue;
      }
      auto& partition = by_partition[record->partition.value()];
      if (!partition.emplace(record->sequence_number.value(), *record).second) {
        ++report.duplicates;
      }
    }
  }
  report.sources = sources->size();

  std::unique_ptr<pipeline::FileDeadLetterStore> out_store;
  if (!options.dry_run) {
    out_store = std::make_unique<pipeline::FileDeadLetterStore>(report.out_file);
    if (auto ready = out_store->prepare(); !ready) {
      return failure(ready.error().message);
    }
  }
  CountingStore refused(out_store.get());
  SystemClock clock;
  SystemRandom random;
  ThreadSleeper sleeper;
  RequestLimiters limiters(clock);
  std::unique_ptr<KustoSink> sink;
  DryRunIngestor dry_run;
  if (!options.dry_run) {
    // The connection's own report scope: a queued batch Kusto fails later is recorded by the
    // running bridge like its own.
    // No de-duplication key: a dead letter of a batch Kusto ingested only in part shares its
    // batch id with what the table holds, and would be dropped.
    sink = make_kusto_sink(
        *c, report_scope(*c, namespace_of(c->source.connection), c->source.event_hub.value()),
        std::string(), limiters.for_target(c->target), clock, random, sleeper);
  }
  ingest::Ingestor& ingestor =
      options.dry_run ? static_cast<ingest::Ingestor&>(dry_run) : *sink->managed;
  const auto deadline = std::chrono::steady_clock::now() + options.deadline;

  // The partitions side by side, as `run` reads them: one held by a target problem must not
  // use up the time of the others.
  std::vector<std::future<PartitionRun>> runs;
  for (const auto& [partition, records] : by_partition) {
    std::vector<hub::HubEvent> events;
    for (const auto& [sequence, record] : records) {
      events.push_back(event_of(record, c->target));
    }
    report.replayed += events.size();
    runs.push_back(std::async(std::launch::async, [&, partition = PartitionId(partition),
                                                   events = std::move(events)]() mutable {
      return run_partition(*c, partition, std::move(events), ingestor, refused, deadline);
    }));
  }
  std::vector<DeadLetter> held;
  auto run = runs.begin();
  for (auto& [partition, records] : by_partition) {
    auto [done, problems] = (run++)->get();
    std::move(problems.begin(), problems.end(), std::back_inserter(report.problems));
    for (auto& [sequence, record] : records) {
      if ((!done || sequence > done->value()) && !refused.contains(record)) {
        held.push_back(annotated(std::move(record), "not delivered before the replay's deadline"));
      }
    }
  }
  report.refused = refused.written();
  report.not_delivered = held.size();
  report.not_replayable = not_replayable.size();
  report.delivered = report.replayed - report.refused - report.not_delivered;

  if (out_store) {
    held.insert(held.end(), std::make_move_iterator(not_replayable.begin()),
                std::make_move_iterator(not_replayable.end()));
    if (!held.empty()) {
      if (auto written = out_store->write(held); !written) {
        return failure(fmt::format("{} records could not be written to {}: {}", held.size(),
                                   report.out_file, written.error().message));
      }
    }
    if (report.everything_delivered()) {
      std::error_code ec;
      std::filesystem::remove(report.out_file, ec); // nothing went there
      report.out_file.clear();
    }
  } else {
    report.out_file.clear();
  }
  return report;
}

} // namespace hub2kusto::app
