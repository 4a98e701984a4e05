// Mapping throughput: the engine against the naive way (nlohmann::json DOM parse, then a
// std::string per field) on the same generated telemetry corpus, in the same run.
//
//   build/bench/hub2kusto_mapping_bench --benchmark_min_time=2
//   build/bench/hub2kusto_mapping_bench --verify-only     (both produce the same CSV)
//
// Throughput is bytes of *input* JSON per second on one core (the benchmark is
// single-threaded). Results and the machine go to bench/REPORT.md.

#include <benchmark/benchmark.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "bench/telemetry_corpus.hpp"
#include "mappings/engine.hpp"

namespace {

using namespace hub2kusto;

constexpr std::size_t kEvents = 20'000;

const std::vector<std::string>& corpus() {
  static const auto events = bench::telemetry_corpus(kEvents);
  return events;
}

std::size_t corpus_bytes() {
  std::size_t total = 0;
  for (const auto& e : corpus()) {
    total += e.size();
  }
  return total;
}

mappings::Mapper make_mapper() {
  mappings::MapperOptions o;
  o.schema = std::move(mappings::parse_schema(bench::kTelemetrySchema)).value();
  o.mapping =
      std::move(mappings::parse_mapping(bench::kTelemetryMapping, mappings::MappingKind::json))
          .value();
  auto m = mappings::Mapper::create(std::move(o));
  if (!m) {
    std::fprintf(stderr, "mapper: %s\n", m.error().message.c_str());
    std::abort();
  }
  return std::move(m).value();
}

// ---- the naive baseline: what a straightforward implementation writes -----------------------

std::string csv_escape(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) {
    return s;
  }
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"') {
      out += "\"\"";
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string naive_datetime(const std::string& s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  char fraction[16] = {0};
  if (std::sscanf(s.c_str(), "%d-%d-%dT%d:%d:%d.%15[0-9]Z", &y, &mo, &d, &h, &mi, &sec, fraction) <
      6) {
    return "";
  }
  std::string f = fraction;
  f.resize(7, '0');
  char out[64];
  std::snprintf(out, sizeof out, "%04d-%02d-%02dT%02d:%02d:%02d.%sZ", y, mo, d, h, mi, sec,
                f.c_str());
  return out;
}

std::string naive_row(const std::string& event) {
  const nlohmann::json j = nlohmann::json::parse(event);
  std::vector<std::string> cells;
  cells.push_back(naive_datetime(j.at("ts").get<std::string>()));
  cells.push_back(csv_escape(j.at("deviceId").get<std::string>()));
  char number[32];
  const auto [end, ec] =
      std::to_chars(number, number + sizeof number, j.at("temperature").get<double>());
  cells.push_back(std::string(number, end));
  cells.push_back(j.at("humidity").dump());
  cells.push_back(csv_escape(j.at("status").get<std::string>()));
  cells.push_back(csv_escape(j.at("location").at("site").get<std::string>()));
  cells.push_back(csv_escape(j.at("tags").dump()));
  std::string row;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    if (i > 0) {
      row += ",";
    }
    row += cells[i];
  }
  return row + "\n";
}

void BM_Engine(benchmark::State& state) {
  auto mapper = make_mapper();
  std::string out;
  out.reserve(corpus_bytes() * 2);
  for (auto _ : state) {
    out.clear();
    for (const auto& e : corpus()) {
      mapper.map({e, {}, ""}, out);
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * corpus_bytes()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * corpus().size()));
}
BENCHMARK(BM_Engine)->Unit(benchmark::kMillisecond);

void BM_NaiveNlohmann(benchmark::State& state) {
  std::string out;
  for (auto _ : state) {
    out.clear();
    for (const auto& e : corpus()) {
      out += naive_row(e);
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * corpus_bytes()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * corpus().size()));
}
BENCHMARK(BM_NaiveNlohmann)->Unit(benchmark::kMillisecond);

// Both sides must produce the same rows, or the comparison means nothing.
int verify() {
  auto mapper = make_mapper();
  std::size_t i = 0;
  for (const auto& e : corpus()) {
    std::string ours;
    const auto& outcome = mapper.map({e, {}, ""}, ours);
    const std::string theirs = naive_row(e);
    if (outcome.rejection || !outcome.nulls.empty() || ours != theirs) {
      std::fprintf(stderr, "event %zu differs:\n  engine: %s  naive:  %s", i, ours.c_str(),
                   theirs.c_str());
      return 1;
    }
    ++i;
  }
  std::printf("verified: %zu events, %zu bytes (%.1f bytes/event), identical CSV\n",
              corpus().size(), corpus_bytes(),
              static_cast<double>(corpus_bytes()) / static_cast<double>(corpus().size()));
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--verify-only") == 0) {
      return verify();
    }
  }
  if (verify() != 0) {
    return 1;
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
