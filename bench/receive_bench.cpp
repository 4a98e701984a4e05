// Receive throughput of the hub consumer against a minimal bare Proton C++ receiver (the
// ceiling), side by side in one run, on one core, for 200-byte events from a preloaded
// eventhubs-emulator (issue "Hub consumer"; results in bench/REPORT.md).
//
//   hub2kusto_receive_bench [--events N] [--rounds R] [--partitions P] [--window W]
//                           [--only bare|hub2kusto|websockets] [--websockets]
//                           [--websocket-frame-bytes N]
//   hub2kusto_receive_bench --connect PORT --hub NAME --partitions P --events N
//     (one drain of an emulator another program started and preloaded: scripts/bench)
//
// The emulator runs pinned to CPU 0 and this process to CPU 1, so each client has one core
// for its AMQP thread and (for hub2kusto) its reader thread together. Both clients put a CBS
// token, attach every partition from the start with pre-settled delivery and the same credit
// window (300 by default, the SDKs' prefetch), and count events until all N arrived; the bare loop
// only touches each body, the hub consumer decodes each into a HubEvent and hands it through its
// PartitionChannel to one reader thread per partition (as the pipeline will). Rounds alternate
// between the two; the median of each is reported. With --websockets each round also drains
// with the hub consumer over AMQP over WebSockets (the emulator's ws:// listener, which relays
// to the same AMQP engine in the emulator's process, on the emulator's core). The emulator sends
// what its AMQP side writes as one WebSocket frame, or with --websocket-frame-bytes N fragmented
// into frames of at most N bytes (Beast's default auto-fragmentation is 4096).
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <proton/codec/encoder.hpp>
#include <proton/connection.hpp>
#include <proton/connection_options.hpp>
#include <proton/container.hpp>
#include <proton/delivery.hpp>
#include <proton/message.hpp>
#include <proton/message_id.hpp>
#include <proton/messaging_handler.hpp>
#include <proton/receiver_options.hpp>
#include <proton/sender.hpp>
#include <proton/source_options.hpp>
#include <proton/target_options.hpp>

#include "common/clock.hpp"
#include "common/hub_connection_string.hpp"
#include "common/logging.hpp"
#include "common/random.hpp"
#include "common/sas_token.hpp"
#include "hub/amqp_event_source.hpp"
#include "support/child_process.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// CPU time of this process (every thread), to tell a client that waits from one that works.
double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

// CPU seconds another process has used (utime + stime from /proc/<pid>/stat).
double process_cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (close == std::string::npos) {
    return 0;
  }
  std::istringstream fields(text.substr(close + 2));
  std::string skip;
  for (int i = 0; i < 11; ++i) {
    fields >> skip; // state ... cmajflt: fields 3-13
  }
  double utime = 0;
  double stime = 0;
  fields >> utime >> stime;
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

pid_t g_emulator = 0;
std::string g_hub = "telemetry";

struct Run {
  double events_per_second = 0; // wall clock
  double cpu_share = 0;         // CPU seconds / wall seconds of this process
  double emulator_share = 0;    // the same for the emulator
};

// The bare loop: what a receiver must do at least (connect, put a token, attach, count).
class BareReceiver : public proton::messaging_handler {
public:
  BareReceiver(std::string url, std::string hub, int partitions, long events, int window)
      : url_(std::move(url)), hub_(std::move(hub)), partitions_(partitions), target_(events),
        window_(window) {}

  void on_container_start(proton::container& c) override {
    c.connect(url_, proton::connection_options()
                        .handler(*this)
                        .sasl_enabled(true)
                        .sasl_allowed_mechs("ANONYMOUS")
                        .virtual_host("127.0.0.1"));
  }
  void on_connection_open(proton::connection& c) override {
    cbs_ = c.open_sender("$cbs");
    proton::target_options t;
    t.address("bare-cbs");
    c.open_receiver("$cbs", proton::receiver_options().name("bare-cbs").target(t));
  }
  void on_sendable(proton::sender& s) override {
    if (sent_token_) {
      return;
    }
    sent_token_ = true;
    const auto resource = "sb://127.0.0.1/" + hub_;
    const auto expires =
        std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now()) +
        std::chrono::hours(1);
    auto token = hub2kusto::make_event_hubs_sas_token(resource, "RootManageSharedAccessKey",
                                                      hub2kusto::Secret("SAS_KEY_VALUE"), expires);
    proton::message m(token.token.reveal());
    m.id(std::string("put-1"));
    m.reply_to("bare-cbs");
    m.properties().put("operation", std::string("put-token"));
    m.properties().put("type", std::string("servicebus.windows.net:sastoken"));
    m.properties().put("name", resource);
    s.send(m);
  }
  void on_message(proton::delivery& d, proton::message& m) override {
    if (d.receiver().source().address() == "$cbs") {
      for (int p = 0; p < partitions_; ++p) {
        proton::source::filter_map filters;
        proton::value filter;
        proton::codec::encoder e(filter);
        e << proton::codec::start::described() << std::uint64_t{0x0000468C00000004ULL}
          << std::string("amqp.annotation.x-opt-offset > '-1'") << proton::codec::finish();
        filters.put(proton::symbol("apache.org:selector-filter:string"), filter);
        proton::source_options source;
        const auto address = hub_ + "/ConsumerGroups/$Default/Partitions/" + std::to_string(p);
        source.address(address).filters(filters);
        d.connection().open_session().open_receiver(
            address, proton::receiver_options()
                         .credit_window(window_)
                         .delivery_mode(proton::delivery_mode::AT_MOST_ONCE)
                         .source(source));
      }
      return;
    }
    bytes_ += m.body().empty() ? 0 : 1;
    if (++received_ == target_) {
      d.connection().close();
    }
  }
  long received() const { return received_; }

private:
  std::string url_;
  std::string hub_;
  int partitions_;
  long target_;
  int window_;
  proton::sender cbs_;
  bool sent_token_ = false;
  long received_ = 0;
  long bytes_ = 0;
};

Run run_bare(int port, int partitions, long events, int window) {
  const auto start = Clock::now();
  const double cpu0 = cpu_seconds();
  const double em0 = process_cpu_seconds(g_emulator);
  BareReceiver handler("amqp://127.0.0.1:" + std::to_string(port), g_hub, partitions, events,
                       window);
  proton::container(handler).run();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (handler.received() != events) {
    return {};
  }
  return {static_cast<double>(events) / seconds, (cpu_seconds() - cpu0) / seconds,
          (process_cpu_seconds(g_emulator) - em0) / seconds};
}

Run run_hub2kusto(int port, int partitions, long events, int window, bool websockets = false) {
  hub2kusto::SystemClock clock;
  hub2kusto::SystemRandom random;
  hub2kusto::hub::HubOptions o;
  o.connection = hub2kusto::parse_hub_connection_string(
                     "Endpoint=sb://127.0.0.1:" + std::to_string(port) +
                     ";SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;"
                     "EntityPath=telemetry;UseDevelopmentEmulator=true" +
                     (websockets ? ";TransportType=AmqpWebSockets" : ""))
                     .value();
  o.credit = hub2kusto::hub::CreditWindow{.high = static_cast<std::size_t>(window),
                                          .low = static_cast<std::size_t>(window / 2)};
  const auto start = Clock::now();
  const double cpu0 = cpu_seconds();
  const double em0 = process_cpu_seconds(g_emulator);
  hub2kusto::hub::AmqpEventSource source(o, clock, random);
  std::vector<std::shared_ptr<hub2kusto::hub::PartitionStream>> streams;
  for (int p = 0; p < partitions; ++p) {
    streams.push_back(source.open_partition(hub2kusto::PartitionId(std::to_string(p)),
                                            hub2kusto::hub::StartPosition::earliest()));
  }
  // One reader per partition, as the pipeline has (one pipeline per partition).
  std::atomic<long> received{0};
  std::atomic<std::size_t> body_bytes{0};
  std::vector<std::thread> readers;
  for (auto& s : streams) {
    readers.emplace_back([&, s] {
      std::vector<hub2kusto::hub::HubEvent> batch;
      while (received.load(std::memory_order_relaxed) < events) {
        batch.clear();
        const auto n = s->take(batch, 1024, std::chrono::milliseconds(20));
        std::size_t bytes = 0;
        for (const auto& e : batch) {
          bytes += e.body.size();
        }
        body_bytes += bytes;
        received += static_cast<long>(n);
      }
    });
  }
  for (auto& r : readers) {
    r.join();
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu = cpu_seconds() - cpu0;
  const double em = process_cpu_seconds(g_emulator) - em0;
  source.close();
  if (body_bytes == 0) {
    return {};
  }
  return {static_cast<double>(events) / seconds, cpu / seconds, em / seconds};
}

void pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);
}

Run median(std::vector<Run> v) {
  std::sort(v.begin(), v.end(),
            [](const Run& a, const Run& b) { return a.events_per_second < b.events_per_second; });
  return v.empty() ? Run{} : v[v.size() / 2];
}

} // namespace

int main(int argc, char** argv) {
  long events = 400'000;
  int rounds = 5;
  int partitions = 4;
  int window = 300; // credit per partition, the same for both clients
  std::string only; // "bare", "hub2kusto" or "websockets": run one client (for profiling)
  int connect = 0;  // an emulator already running on this port: one bare drain (scripts/bench)
  bool websockets = false;       // also drain over AMQP over WebSockets
  std::string frame_bytes = "0"; // the emulator's WebSocket frame size (0: one per write)
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--websockets") {
      websockets = true;
      continue;
    }
    if (++i >= argc) {
      std::fprintf(stderr, "%s needs a value\n", a.c_str());
      return 2;
    }
    if (a == "--events")
      events = std::stol(argv[i]);
    else if (a == "--rounds")
      rounds = std::stoi(argv[i]);
    else if (a == "--partitions")
      partitions = std::stoi(argv[i]);
    else if (a == "--only")
      only = argv[i];
    else if (a == "--window")
      window = std::stoi(argv[i]);
    else if (a == "--connect")
      connect = std::stoi(argv[i]);
    else if (a == "--hub")
      g_hub = argv[i];
    else if (a == "--websocket-frame-bytes")
      frame_bytes = argv[i];
  }
  if (connect > 0) {
    // The ceiling for scripts/bench: the bare loop drains `events` from a hub another program
    // preloaded; one JSON line with the wall and CPU seconds it took.
    const auto start = Clock::now();
    const double cpu0 = cpu_seconds();
    const Run r = run_bare(connect, partitions, events, window);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf(
        "{\"events\":%ld,\"seconds\":%.4f,\"cpu_seconds\":%.4f,\"events_per_second\":%.0f}\n",
        events, seconds, cpu_seconds() - cpu0, r.events_per_second);
    return r.events_per_second > 0 ? 0 : 1;
  }
  hub2kusto::configure_logging(spdlog::level::warn, hub2kusto::LogFormat::text);
  // 200-byte telemetry lines (the body; the emulator adds the annotations).
  const auto file = std::filesystem::temp_directory_path() / "hub2kusto-receive-bench.jsonl";
  {
    std::ofstream out(file);
    for (int i = 0; i < 100; ++i) {
      std::string line =
          R"({"deviceId":"device-)" + std::to_string(1000 + i) +
          R"(","timestamp":"2026-11-24T12:00:00.000Z","temperature":21.5,"humidity":40.25,"status":"ok","site":"plant-7","pad":")";
      line += std::string(200 - line.size() - 2, 'x') + "\"}";
      out << line << "\n";
    }
  }
  hub2kusto::testing::ChildProcess emulator(
      {"taskset", "-c", "0", HUB2KUSTO_EVENTHUBS_EMULATOR, "--port", "0", "--hub",
       "telemetry:" + std::to_string(partitions), "--preload", file.string(), "--preload-events",
       std::to_string(events), "--websocket-port", "0", "--websocket-frame-bytes", frame_bytes});
  const auto port_line = emulator.read_line(std::chrono::minutes(5));
  const auto websocket_line = emulator.read_line(std::chrono::minutes(1));
  if (!port_line || !websocket_line || websocket_line->rfind("websocket ", 0) != 0) {
    std::fprintf(stderr, "the emulator did not start:\n%s\n", emulator.stderr_text().c_str());
    return 1;
  }
  const int port = std::stoi(*port_line);
  const int websocket_port = std::stoi(websocket_line->substr(10));
  g_emulator = emulator.pid();
  pin_to(1);
  std::vector<Run> bare;
  std::vector<Run> ours;
  std::vector<Run> over_websockets;
  for (int r = 0; r < rounds; ++r) {
    websockets = websockets || only == "websockets";
    bare.push_back(!only.empty() && only != "bare" ? Run{}
                                                   : run_bare(port, partitions, events, window));
    ours.push_back(!only.empty() && only != "hub2kusto"
                       ? Run{}
                       : run_hub2kusto(port, partitions, events, window));
    std::printf("round %d: bare %.0f events/s (cpu %.0f %%, emulator %.0f %%), hub2kusto %.0f "
                "events/s (cpu %.0f %%, emulator %.0f %%)",
                r + 1, bare.back().events_per_second, 100 * bare.back().cpu_share,
                100 * bare.back().emulator_share, ours.back().events_per_second,
                100 * ours.back().cpu_share, 100 * ours.back().emulator_share);
    if (websockets && (only.empty() || only == "websockets")) {
      over_websockets.push_back(run_hub2kusto(websocket_port, partitions, events, window, true));
      std::printf(", over WebSockets %.0f events/s (cpu %.0f %%, emulator %.0f %%)",
                  over_websockets.back().events_per_second, 100 * over_websockets.back().cpu_share,
                  100 * over_websockets.back().emulator_share);
    }
    std::printf("\n");
    std::fflush(stdout);
  }
  const Run bm = median(bare);
  const Run hm = median(ours);
  const double b = bm.events_per_second;
  const double h = hm.events_per_second;
  std::printf("\n%ld events of 200 bytes, %d partitions, credit window %d, %d rounds (median)\n",
              events, partitions, window, rounds);
  std::printf("| client | events/s | MB/s of bodies | CPU of its core | of bare |\n"
              "|---|---|---|---|---|\n");
  std::printf("| bare Proton C++ loop | %.0f | %.1f | %.0f %% | 100 %% |\n", b, b * 200 / 1e6,
              100 * bm.cpu_share);
  std::printf("| hub2kusto AmqpEventSource | %.0f | %.1f | %.0f %% | %.0f %% |\n", h, h * 200 / 1e6,
              100 * hm.cpu_share, b > 0 ? 100 * h / b : 0);
  if (websockets) {
    const Run wm = median(over_websockets);
    const double w = wm.events_per_second;
    std::printf("| hub2kusto AmqpEventSource over WebSockets | %.0f | %.1f | %.0f %% | %.0f %% |\n",
                w, w * 200 / 1e6, 100 * wm.cpu_share, b > 0 ? 100 * w / b : 0);
    std::printf("\nover WebSockets (%s): %.0f %% of plain AMQP's events/s; client CPU per "
                "million events %.2f s (plain %.2f s); emulator CPU %.0f %% (plain %.0f %%)\n",
                frame_bytes == "0" ? "one frame per emulator write"
                                   : ("frames of at most " + frame_bytes + " bytes").c_str(),
                h > 0 ? 100 * w / h : 0, w > 0 ? 1e6 * wm.cpu_share / w : 0,
                h > 0 ? 1e6 * hm.cpu_share / h : 0, 100 * wm.emulator_share,
                100 * hm.emulator_share);
    if (w <= 0 && (only.empty() || only == "websockets")) {
      return 1;
    }
  }
  return (!only.empty() || (b > 0 && h > 0)) ? 0 : 1;
}
