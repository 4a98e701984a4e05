// libFuzzer target: the whole path a hostile transfer takes through one partition, bytes in,
// rows or a dead letter out. The bytes are decoded as a message (decode_event); one with its
// positions is fed through a real PartitionPipeline, without and with local mapping: routing
// from application properties, Compression=gzip inflation, mapping, batching, delivery to an
// ingestor that takes everything, and the dead-letter store. Nothing may crash, hang or throw,
// and without local mapping every event with a body must end delivered or dead-lettered.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <string_view>

#include "checkpoint/checkpoint_store.hpp"
#include "checkpoint/checkpointer.hpp"
#include "common/logging.hpp"
#include "hub/message_decoder.hpp"
#include "ingest/managed_ingestor.hpp"
#include "mappings/schema.hpp"
#include "pipeline/partition_pipeline.hpp"

namespace {

using namespace hub2kusto;

// Hands the pipeline the events it was given, then reports the stream closed.
class OneShotStream final : public hub::PartitionStream {
public:
  explicit OneShotStream(std::deque<hub::HubEvent> events) : events_(std::move(events)) {}
  const PartitionId& partition() const override { return id_; }
  std::size_t take(std::vector<hub::HubEvent>& out, std::size_t max,
                   std::chrono::milliseconds) override {
    std::size_t n = 0;
    for (; n < max && !events_.empty(); ++n) {
      out.push_back(std::move(events_.front()));
      events_.pop_front();
    }
    return n;
  }
  hub::PartitionStatus status() const override {
    return {events_.empty() ? hub::PartitionState::closed : hub::PartitionState::receiving, ""};
  }
  hub::CreditStats credit() const override { return {}; }
  std::optional<SequenceNumber> last_received() const override { return std::nullopt; }

private:
  PartitionId id_{"0"};
  std::deque<hub::HubEvent> events_;
};

class TakeAll final : public ingest::Ingestor {
public:
  ingest::DeliveryStatus ingest(const ingest::Batch& batch) override {
    records += batch.records;
    ingest::DeliveryStatus s;
    s.outcome = ingest::Outcome::delivered;
    return s;
  }
  std::size_t records = 0;
};

class Letters final : public pipeline::DeadLetterStore {
public:
  pipeline::Written prepare() override { return std::monostate{}; }
  pipeline::Written write(const std::vector<pipeline::DeadLetter>& r) override {
    count += r.size();
    return std::monostate{};
  }
  std::size_t count = 0;
};

void run(const hub::HubEvent& event, bool local_mapping) {
  pipeline::PipelineOptions po;
  po.routing.defaults.database = DatabaseName("db");
  po.routing.defaults.table = TableName("T");
  po.routing.defaults.format = IngestFormat::json;
  po.routing.allowed_databases = {"archive"};
  po.limits.linger = std::chrono::milliseconds(0);
  po.concurrent_delivery = false;
  po.idle_flush = std::chrono::milliseconds(0);
  std::optional<pipeline::LocalMapper> mapper;
  if (local_mapping) {
    mappings::MapperOptions mo;
    mo.schema = mappings::parse_schema("a:long,b:string,c:dynamic,d:datetime").value();
    mapper.emplace(pipeline::LocalMapper::create(mo).value());
  }
  SystemClock clock;
  ThreadSleeper sleeper;
  checkpoint::MemoryCheckpointStore store;
  checkpoint::PartitionCheckpointer checkpointer(PartitionId("0"), store, clock,
                                                 std::chrono::milliseconds(0));
  TakeAll ingestor;
  Letters letters;
  auto stream = std::make_shared<OneShotStream>(std::deque<hub::HubEvent>{event});
  pipeline::PartitionPipeline p(po, stream, ingestor, letters, checkpointer, clock, sleeper,
                                std::move(mapper));
  p.run();
  (void)p.drain(std::chrono::steady_clock::now() + std::chrono::seconds(1));
  // The event went somewhere: a row (or more), a dead letter, or nothing to ingest (an empty
  // body, which the mapping may legitimately turn into no rows).
  if (ingestor.records == 0 && letters.count == 0 && !event.body.empty() && !local_mapping &&
      !event.undecodable) {
    std::abort();
  }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Dead letters log at ERROR; thousands of inputs a second would drown the fuzzer's output.
  hub2kusto::configure_logging(spdlog::level::off, hub2kusto::LogFormat::text);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto decoded = hub::decode_event(bytes, PartitionId("0"));
  if (!decoded) {
    return 0; // no positions: the hub stops that partition with the reason, by design
  }
  run(*decoded, false);
  run(*decoded, true);
  return 0;
}
