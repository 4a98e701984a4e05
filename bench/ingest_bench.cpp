// Ingest throughput of the ingest client against tests/emulators/kusto with Azurite behind it
// (issue "Kusto ingest client"; results in bench/REPORT.md): MB/s of raw JSON for 1 MB and
// 4 MB batches, by streaming and by queued ingestion.
//
//   hub2kusto_ingest_bench [--megabytes-per-case N] [--rounds R]
//
// Streaming is timed until Kusto answered each request (the rows are in the table then).
// Queued is timed twice: until the queue accepted every message (what "delivered" means to
// the pipeline), and until every row is visible in the table (the emulator's ingestion
// worker, a stand-in for the service's own batching, which the real service delays by
// minutes). Batches are sent one after another from one thread, as one partition's pipeline
// does.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "azure/token_provider.hpp"
#include "common/clock.hpp"
#include "common/kusto_connection_string.hpp"
#include "common/logging.hpp"
#include "common/random.hpp"
#include "ingest/managed_ingestor.hpp"
#include "ingest/queued_ingestor.hpp"
#include "ingest/streaming_ingestor.hpp"
#include "support/kusto_emulator.hpp"

namespace {

using namespace hub2kusto;
using namespace hub2kusto::ingest;
using Steady = std::chrono::steady_clock;

// A batch of JSON telemetry lines of about `bytes`, numbered from `first`.
Batch make_batch(const std::string& id, std::size_t bytes, long first, long& rows) {
  Batch b;
  b.id = id;
  b.target.database = DatabaseName("db");
  b.target.table = TableName("T");
  b.target.format = IngestFormat::json;
  b.target.mapping = MappingName("m");
  rows = 0;
  while (b.data.size() < bytes) {
    b.data += R"({"deviceId":"device-)" + std::to_string((first + rows) % 100) +
              R"(","temperature":21.5,"humidity":40.25,"status":"ok","line":)" +
              std::to_string(first + rows) + "}\n";
    ++rows;
  }
  return b;
}

double seconds_since(Steady::time_point start) {
  return std::chrono::duration<double>(Steady::now() - start).count();
}

} // namespace

int main(int argc, char** argv) {
  std::size_t megabytes = 32;
  int rounds = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--megabytes-per-case")
      megabytes = std::stoul(argv[i + 1]);
    else if (a == "--rounds")
      rounds = std::stoi(argv[i + 1]);
  }
  configure_logging(spdlog::level::warn, LogFormat::text);
  hub2kusto::testing::KustoEmulator kusto({"--streaming-max-bytes", std::to_string(64 << 20)});
  if (!kusto.running()) {
    std::fprintf(stderr, "the emulators did not start:\n%s\n", kusto.stderr_text().c_str());
    return 1;
  }
  kusto.mgmt(".create table T (deviceId:string, temperature:real, humidity:real, "
             "status:string, line:long)");
  kusto.mgmt(
      R"(.create table T ingestion json mapping 'm' '[{"column":"deviceId","Properties":{"Path":"$.deviceId"}},{"column":"temperature","Properties":{"Path":"$.temperature"}},{"column":"humidity","Properties":{"Path":"$.humidity"}},{"column":"status","Properties":{"Path":"$.status"}},{"column":"line","Properties":{"Path":"$.line"}}]')");
  kusto.mgmt(".alter table T policy streamingingestion enable");

  SystemClock clock;
  auto transport = azure::make_http_transport();
  const auto connection =
      parse_kusto_connection_string("Data Source=" + kusto.url() + ";Initial Catalog=db").value();
  auto tokens = azure::make_token_provider(connection, azure::AuthEnvironment{}, *transport, clock);
  StreamingOptions so;
  so.engine_url = kusto.url();
  StreamingIngestor streaming(so, *transport, *tokens);
  QueuedOptions qo;
  qo.dm_url = kusto.url();
  QueuedIngestor queued(qo, *transport, *tokens, clock);
  if (!queued.resources().ok()) {
    std::fprintf(stderr, "no ingestion resources\n");
    return 1;
  }

  long expected_rows = 0;
  long next_line = 0;
  std::printf("| batch | path | batches | MB/s until delivered | MB/s until rows visible |\n"
              "|---|---|---|---|---|\n");
  for (const std::size_t batch_mb : {1UL, 4UL}) {
    for (const bool use_queued : {false, true}) {
      std::vector<double> delivered_rates;
      std::vector<double> visible_rates;
      const std::size_t count = std::max<std::size_t>(1, megabytes / batch_mb);
      for (int round = 0; round < rounds; ++round) {
        std::vector<Batch> batches;
        std::size_t bytes = 0;
        long rows_this_round = 0;
        for (std::size_t i = 0; i < count; ++i) {
          long rows = 0;
          batches.push_back(make_batch("bench-" + std::to_string(batch_mb) + "-" +
                                           std::to_string(round) + "-" + std::to_string(i),
                                       batch_mb << 20, next_line, rows));
          next_line += rows;
          rows_this_round += rows;
          bytes += batches.back().data.size();
        }
        const auto start = Steady::now();
        for (const auto& b : batches) {
          const auto d = use_queued ? queued.ingest(b) : streaming.ingest(b);
          if (d.outcome != Outcome::delivered) {
            std::fprintf(stderr, "batch %s not delivered: %s\n", b.id.c_str(), d.reason.c_str());
            return 1;
          }
        }
        const double delivered = seconds_since(start);
        expected_rows += rows_this_round;
        while (kusto.count("T") < expected_rows) {
          if (seconds_since(start) > 600) {
            std::fprintf(stderr, "rows did not arrive\n");
            return 1;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(20)); // polling the table
        }
        const double visible = seconds_since(start);
        delivered_rates.push_back(static_cast<double>(bytes) / 1e6 / delivered);
        visible_rates.push_back(static_cast<double>(bytes) / 1e6 / visible);
      }
      std::sort(delivered_rates.begin(), delivered_rates.end());
      std::sort(visible_rates.begin(), visible_rates.end());
      std::printf("| %zu MB | %s | %zu x %d rounds | %.1f | %.1f |\n", batch_mb,
                  use_queued ? "queued" : "streaming", count, rounds,
                  delivered_rates[delivered_rates.size() / 2],
                  visible_rates[visible_rates.size() / 2]);
      std::fflush(stdout);
    }
  }
  return 0;
}
