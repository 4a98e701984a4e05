#include "app/cli.hpp"

#include <pthread.h>
#include <signal.h>

#include <iostream>
#include <mutex>
#include <optional>
#include <ostream>
#include <sstream>
#include <thread>

#include <boost/version.hpp>
#include <fmt/format.h>
#include <openssl/opensslv.h>
#include <proton/version.h>
#include <spdlog/version.h>

#include "app/bridge.hpp"
#include "app/config.hpp"
#include "app/infer.hpp"
#include "app/map_command.hpp"
#include "app/preflight.hpp"
#include "app/replay.hpp"
#include "app/version.hpp"
#include "common/logging.hpp"
#include "mappings/system_properties.hpp"
#include "ops/ops_server.hpp"
#include "ops/process_metrics.hpp"

namespace hub2kusto::app {
namespace {

constexpr std::string_view kMainHelp =
    R"(hub2kusto: Azure Event Hubs and IoT Hub into Azure Data Explorer (Kusto)

Usage: hub2kusto <command> [options]

Commands:
  run            run the bridge with a configuration
  check-config   validate a configuration and print it with secrets masked
  replay         send dead-lettered events again, once their cause is fixed
  map            preview what an ingestion mapping makes of sample events
  infer          sample events and propose the table, its mapping and streaming ingestion
  version        print the version and the libraries it was built with
  help           print this help

Run 'hub2kusto <command> --help' for a command's options.
)";

constexpr std::string_view kRunHelp = R"(Usage: hub2kusto run [--config FILE]

Runs the bridge: reads every configured hub and ingests its events into Kusto.

Options:
  --config FILE   the JSON configuration (comments allowed); default: $HUB2KUSTO_CONFIG,
                  or none, when every setting comes from HUB2KUSTO_* variables
  --help          print this help

Every setting can be set or overridden by an environment variable named after its path,
for example connections[0].target.table -> HUB2KUSTO_CONNECTIONS_0_TARGET_TABLE, and every
secret can be read from a file with <name>_file in JSON or <NAME>_FILE in the environment.
Exit codes: 0 after a clean shutdown, 1 on a runtime failure, 2 on a bad configuration.
)";

constexpr std::string_view kCheckConfigHelp =
    R"(Usage: hub2kusto check-config [--config FILE] [--connect]

Loads the configuration exactly as 'run' would (file, environment, secret files), reports
every problem at once, and on success prints the effective configuration as JSON with
every secret masked.

With --connect it then connects to everything the configuration names and prints one line
per check (ok, warning or error), each problem with the command or setting that fixes it:
each hub (connection, token, Event Hub, partitions, consumer group), each Kusto target
(database, table and schema, mapping, streaming policy, permission to ingest) and each
checkpoint and dead-letter store (writable). 'run' makes the same checks at start.

Options:
  --config FILE   the JSON configuration; default: $HUB2KUSTO_CONFIG
  --connect       check the hubs, Kusto targets and stores, instead of printing the JSON
  --help          print this help

Exit codes: 0 when the configuration is valid (with --connect: and no check is an error),
1 when a --connect check is an error, 2 when the configuration is not valid.
)";

constexpr std::string_view kReplayHelp =
    R"(Usage: hub2kusto replay [--config FILE] [--connection NAME] [--stage S,...] [--out FILE]
                        [--dry-run] [--wait SECONDS] FILE...
       hub2kusto replay --from-blob [options] [PREFIX...]

Sends the events of dead-letter files (what 'run' wrote to dead_letter.directory) again,
through the same routing, mapping and ingestion as 'run', once the cause is fixed (a mapping,
a table, a column), in partition and sequence-number order. An event whose own routing
properties chose its table goes there again; any other takes the connection's target as
configured now. The input files are only read.

Options:
  --config FILE      the configuration 'run' uses; default: $HUB2KUSTO_CONFIG
  --connection NAME  the connection whose target and mapping to use (needed when there are
                     several)
  --stage S,...      replay only records of these stages (ingest, mapping, routing,
                     decompression, queued-ingestion); default: all of them
  --out FILE         where events refused again go, with the new reason; default:
                     <dead_letter.directory>/<connection>.replay-<UTC time>.jsonl
  --from-blob        read the records from the blob dead-letter store (dead_letter.container):
                     the blobs whose names start with PREFIX, by default <connection>/
  --dry-run          route and map every event and report, but send nothing
  --wait SECONDS     how long a target problem (a missing table, refused credentials) may hold
                     the replay before the events it holds are written to --out; default 300
  --help             print this help

Records of stage queued-ingestion keep no body: they are written to --out with the way to read
them from the hub again.
Exit codes: 0 when every event was delivered, 1 when some were refused again or not
delivered (see --out), 2 on a bad configuration or an unreadable file.
)";

constexpr std::string_view kInferHelp =
    R"(Usage: hub2kusto infer [--config FILE] [--connection NAME] [--events N]
                       [--from-file FILE | --from-end] [--wait SECONDS]
                       [--format json|csv|tsv|tsve|psv|scsv|sohsv] [--header]
                       [--system-properties NAME,...] [--mapping-name NAME] [--apply]

Samples a connection's events and proposes what its target needs: the table's columns with
Kusto's types, a JSON or CSV ingestion mapping (CSV for every delimited format) and the streaming
ingestion policy, as commands ready to paste, then the connection's target settings. Reading the hub is read-only: no checkpoint,
no ownership, and a running bridge keeps its partitions.

Options:
  --config FILE              the configuration (as for run); its connection names the hub,
                             the cluster, the database and the table
  --connection NAME          which connection (default: the first)
  --events N                 sample at most N events (default 1000)
  --from-file FILE           sample the events in FILE, one per line, instead of the hub
  --from-end                 sample events as they arrive (default: from the start of each
                             partition, up to its last event)
  --wait SECONDS             stop sampling after this long without an event (default 10)
  --format FORMAT            what the events hold: json, or a delimited format (csv, tsv,
                             tsve, psv, scsv, sohsv), each line of an event a record
                             (default: target.format when it is one of these, else json)
  --header                   delimited: the first record names the columns (else Column1,
                             ...)
  --system-properties LIST   add columns for these event system properties, e.g.
                             x-opt-enqueued-time,x-opt-sequence-number
  --mapping-name NAME        the mapping's name (default: target.mapping, else
                             <table>_mapping)
  --apply                    run the commands with the connection's identity (each is
                             idempotent), then check the connection as check-config --connect
  --help                     print this help

Every column the sample leaves in doubt (mixed kinds, absent in some events, numbers taken
for times) is named with what was seen and what was chosen.
Exit codes: 0 inferred (and applied), 1 no usable events or a hub, file or Kusto failure,
2 bad arguments or configuration.
)";

constexpr std::string_view kVersionHelp = R"(Usage: hub2kusto version

Prints the hub2kusto version and the versions of the libraries it was built with.
)";

struct ConfigArgs {
  std::optional<std::string> config_path;
  bool help = false;
  bool connect = false; // check-config --connect
};

// Parses `--config FILE`, `--config=FILE` and `--help`; anything else is a usage error.
std::optional<ConfigArgs> parse_config_args(const std::vector<std::string>& args,
                                            std::string_view command, std::ostream& err) {
  ConfigArgs parsed;
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      parsed.help = true;
    } else if (a == "--connect" && command == "check-config") {
      parsed.connect = true;
    } else if (a == "--config") {
      if (i + 1 >= args.size()) {
        err << fmt::format("hub2kusto {}: --config needs a file name\n", command);
        return std::nullopt;
      }
      parsed.config_path = args[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      parsed.config_path = a.substr(9);
    } else {
      err << fmt::format("hub2kusto {}: unknown argument '{}' (see 'hub2kusto {} --help')\n",
                         command, a, command);
      return std::nullopt;
    }
  }
  return parsed;
}

std::optional<Config> load_or_report(const ConfigArgs& args,
                                     std::map<std::string, std::string> environment,
                                     std::ostream& err) {
  ConfigInput input;
  input.file_path = args.config_path;
  if (const auto it = environment.find("HUB2KUSTO_CONFIG"); it != environment.end()) {
    if (!input.file_path) {
      input.file_path = it->second;
    }
    environment.erase(it); // the path of the file, not a setting
  }
  input.environment = std::move(environment);
  input.memory_limit = container_memory_limit();
  auto loaded = load_config(input);
  if (!loaded) {
    const auto& problems = loaded.error();
    err << fmt::format("hub2kusto: the configuration has {} problem{}:\n", problems.size(),
                       problems.size() == 1 ? "" : "s");
    for (const auto& p : problems) {
      err << fmt::format("  {}: {}\n", p.setting, p.message);
    }
    return std::nullopt;
  }
  return std::move(loaded).value();
}

int cmd_check_config(const std::vector<std::string>& args,
                     std::map<std::string, std::string> environment, std::ostream& out,
                     std::ostream& err) {
  const auto parsed = parse_config_args(args, "check-config", err);
  if (!parsed) {
    return kExitUsage;
  }
  if (parsed->help) {
    out << kCheckConfigHelp;
    return kExitOk;
  }
  const auto config = load_or_report(*parsed, std::move(environment), err);
  if (!config) {
    return kExitUsage;
  }
  for (const auto& w : config->warnings) {
    err << "warning: " << w << '\n';
  }
  if (!parsed->connect) {
    out << to_masked_json(*config).dump(2) << '\n';
    return kExitOk;
  }
  configure_logging(spdlog::level::off, LogFormat::text); // the checks say it all
  std::size_t counts[3] = {0, 0, 0};
  preflight(*config, PreflightOptions{}, [&](const Check& check) {
    ++counts[static_cast<int>(check.level)];
    out << format_check(check) << std::endl; // each line as soon as it is known
  });
  out << fmt::format("{} ok, {} warning(s), {} error(s)\n", counts[0], counts[1], counts[2]);
  return counts[static_cast<int>(CheckLevel::error)] > 0 ? kExitFailure : kExitOk;
}

int cmd_run(const std::vector<std::string>& args, std::map<std::string, std::string> environment,
            std::ostream& out, std::ostream& err) {
  const auto parsed = parse_config_args(args, "run", err);
  if (!parsed) {
    return kExitUsage;
  }
  if (parsed->help) {
    out << kRunHelp;
    return kExitOk;
  }
  const auto config = load_or_report(*parsed, std::move(environment), err);
  if (!config) {
    return kExitUsage;
  }
  configure_logging(config->log.level, config->log.format);
  const auto log = logger("app");
  for (const auto& w : config->warnings) {
    log->warn("{}", w);
  }
  log->info("hub2kusto {} starting with {} connection(s)", kVersion, config->connections.size());
  // SIGTERM and SIGINT are taken synchronously on this thread (sigtimedwait) and blocked in
  // every other thread, which inherit the mask from here.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // The ops endpoints answer from before start-up (liveness while the hub is read) until the
  // bridge is gone; they see the bridge through `running` once it has started.
  struct Running {
    std::mutex mutex;
    Bridge* bridge = nullptr;
  };
  auto running = std::make_shared<Running>();
  ops::OpsHandlers handlers;
  handlers.readiness = [running] {
    std::lock_guard lock(running->mutex);
    return running->bridge != nullptr ? running->bridge->readiness()
                                      : ops::Readiness{false, {"starting"}};
  };
  handlers.liveness = [running] {
    std::lock_guard lock(running->mutex);
    return running->bridge != nullptr ? running->bridge->stuck() : std::vector<std::string>{};
  };
  handlers.metrics = [running] {
    std::lock_guard lock(running->mutex);
    std::string text = fmt::format("# HELP hub2kusto_build_info The running build.\n"
                                   "# TYPE hub2kusto_build_info gauge\n"
                                   "hub2kusto_build_info{{version=\"{}\"}} 1\n",
                                   kVersion);
    ops::PrometheusText process;
    ops::add_process_metrics(process);
    text += process.render();
    if (running->bridge != nullptr) {
      text += running->bridge->metrics_text();
    }
    return text;
  };
  auto ops_server = ops::OpsServer::start(config->ops.address, config->ops.port, handlers);
  if (!ops_server) {
    log->error("{}", ops_server.error().message);
    return kExitFailure;
  }
  // The checks of `check-config --connect` but the hubs' (the bridge reads those itself and
  // says on /readyz what it meets), logged while the bridge starts: a target problem holds
  // its data rather than stopping the process, so a pod stays up, not ready, and says why.
  std::jthread checks([&config] {
    PreflightOptions options;
    options.hubs = false;
    const auto checks_log = logger("preflight");
    preflight(*config, options, [&](const Check& check) {
      const auto level = check.level == CheckLevel::ok        ? spdlog::level::info
                         : check.level == CheckLevel::warning ? spdlog::level::warn
                                                              : spdlog::level::err;
      checks_log->log(level, "{}", format_check(check));
    });
  });
  auto bridge = Bridge::start(*config);
  if (!bridge) {
    log->error("{}", bridge.error().message);
    return kExitFailure;
  }
  {
    std::lock_guard lock(running->mutex);
    running->bridge = bridge->get();
  }
  // The ops endpoints stop reading the bridge before it is destroyed.
  struct Detach {
    std::shared_ptr<Running> running;
    ~Detach() {
      std::lock_guard lock(running->mutex);
      running->bridge = nullptr;
    }
  } detach{running};
  log->info("running; SIGTERM or SIGINT stops after delivering what was taken (at most {} ms)",
            config->drain_deadline.count());
  bool signalled = false;
  while (!(*bridge)->finished()) {
    const timespec tick{0, 200'000'000};
    const int signal = sigtimedwait(&signals, nullptr, &tick);
    if (signal > 0) {
      signalled = true;
      log->info("{} received: stopping (a second signal exits at once)",
                signal == SIGTERM ? "SIGTERM" : "SIGINT");
      (*bridge)->stop();
      std::thread([signals] {
        int again = 0;
        sigwait(&signals, &again);
        std::_Exit(kExitFailure);
      }).detach();
      break;
    }
  }
  const bool clean = (*bridge)->wait();
  if (!signalled) {
    log->error("every partition stopped on its own (see the errors above); exiting");
    return kExitFailure;
  }
  if (!clean) {
    log->error("stopped with batches not delivered by the drain deadline: their events were "
               "not checkpointed and will be read again at the next start");
    return kExitFailure;
  }
  log->info("stopped cleanly: everything taken was delivered and checkpointed");
  return kExitOk;
}

// An option's value read whole as a number (std::stoul), or none.
std::optional<unsigned long> whole_number(const std::string& text) {
  std::size_t used = 0;
  unsigned long n = 0;
  try {
    n = std::stoul(text, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (used == 0 || used != text.size()) {
    return std::nullopt;
  }
  return n;
}

int cmd_infer(const std::vector<std::string>& args, std::map<std::string, std::string> environment,
              std::ostream& out, std::ostream& err) {
  ConfigArgs config_args;
  InferOptions options;
  const auto count = [&](const std::string& flag, const std::string& v,
                         unsigned long& into) -> bool {
    const auto n = whole_number(v);
    if (!n || *n == 0) {
      err << fmt::format("hub2kusto infer: {} '{}' is not a positive number\n", flag, v);
      return false;
    }
    into = *n;
    return true;
  };
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      out << kInferHelp;
      return kExitOk;
    }
    if (a == "--apply") {
      options.apply = true;
      continue;
    }
    if (a == "--from-end") {
      options.from_end = true;
      continue;
    }
    if (a == "--header") {
      options.header = true;
      continue;
    }
    const bool takes_value = a == "--config" || a == "--connection" || a == "--events" ||
                             a == "--from-file" || a == "--wait" || a == "--system-properties" ||
                             a == "--mapping-name" || a == "--format";
    if (!takes_value) {
      err << fmt::format("hub2kusto infer: unknown argument '{}' (see 'hub2kusto infer "
                         "--help')\n",
                         a);
      return kExitUsage;
    }
    if (i + 1 >= args.size()) {
      err << fmt::format("hub2kusto infer: {} needs a value\n", a);
      return kExitUsage;
    }
    const std::string& v = args[++i];
    unsigned long n = 0;
    if (a == "--config") {
      config_args.config_path = v;
    } else if (a == "--connection") {
      options.connection = v;
    } else if (a == "--from-file") {
      options.from_file = v;
    } else if (a == "--mapping-name") {
      options.mapping_name = v;
    } else if (a == "--format") {
      const auto format = parse_ingest_format(v);
      if (!format || !inferable(*format)) {
        err << fmt::format("hub2kusto infer: --format '{}': infer reads json, csv, tsv, tsve, "
                           "psv, scsv or sohsv\n",
                           v);
        return kExitUsage;
      }
      options.format = format;
    } else if (a == "--events") {
      if (!count(a, v, n)) {
        return kExitUsage;
      }
      options.events = n;
    } else if (a == "--wait") {
      if (!count(a, v, n)) {
        return kExitUsage;
      }
      options.wait = std::chrono::seconds(n);
    } else {
      std::istringstream names(v);
      for (std::string name; std::getline(names, name, ',');) {
        if (mappings::find_system_property(name) == nullptr) {
          err << fmt::format("hub2kusto infer: '{}' is not an event system property (see "
                             "mappings/README.md, \"System properties\")\n",
                             name);
          return kExitUsage;
        }
        options.system_properties.push_back(name);
      }
    }
  }
  if (options.from_file && options.from_end) {
    err << "hub2kusto infer: --from-file and --from-end exclude each other\n";
    return kExitUsage;
  }
  const auto config = load_or_report(config_args, std::move(environment), err);
  if (!config) {
    return kExitUsage;
  }
  configure_logging(spdlog::level::off, LogFormat::text); // what infer finds, it says
  return infer(*config, options, out, err);
}

int cmd_replay(const std::vector<std::string>& args, std::map<std::string, std::string> environment,
               std::ostream& out, std::ostream& err) {
  ConfigArgs config_args;
  ReplayOptions options;
  const auto value = [&](std::size_t& i, std::string_view flag) -> std::optional<std::string> {
    if (i + 1 >= args.size()) {
      err << fmt::format("hub2kusto replay: {} needs a value\n", flag);
      return std::nullopt;
    }
    return args[++i];
  };
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    std::optional<std::string> v;
    if (a == "--help" || a == "-h") {
      out << kReplayHelp;
      return kExitOk;
    }
    if (a == "--dry-run") {
      options.dry_run = true;
    } else if (a == "--from-blob") {
      options.from_blob = true;
    } else if (a == "--config" || a == "--connection" || a == "--stage" || a == "--out" ||
               a == "--wait") {
      if (!(v = value(i, a))) {
        return kExitUsage;
      }
      if (a == "--config") {
        config_args.config_path = *v;
      } else if (a == "--connection") {
        options.connection = *v;
      } else if (a == "--out") {
        options.out_file = *v;
      } else if (a == "--wait") {
        const auto seconds = whole_number(*v);
        if (!seconds) {
          err << fmt::format("hub2kusto replay: --wait '{}' is not a number of seconds\n", *v);
          return kExitUsage;
        }
        options.deadline = std::chrono::seconds(*seconds);
      } else {
        options.stages.clear();
        std::istringstream stages(*v);
        for (std::string stage; std::getline(stages, stage, ',');) {
          options.stages.insert(stage);
        }
      }
    } else if (a.rfind("--", 0) == 0) {
      err << fmt::format("hub2kusto replay: unknown argument '{}' (see 'hub2kusto replay "
                         "--help')\n",
                         a);
      return kExitUsage;
    } else {
      options.files.push_back(a);
    }
  }
  const auto config = load_or_report(config_args, std::move(environment), err);
  if (!config) {
    return kExitUsage;
  }
  configure_logging(config->log.level, config->log.format);
  auto report = replay(*config, options);
  if (!report) {
    err << "hub2kusto replay: " << report.error().message << '\n';
    return kExitUsage;
  }
  const auto& r = *report;
  out << fmt::format("{} record(s) read from {} {}; {} of other stages left alone, {} "
                     "duplicate(s) skipped\n",
                     r.records, r.sources, options.from_blob ? "blob(s)" : "file(s)",
                     r.other_stages, r.duplicates);
  out << fmt::format("{} event(s) replayed{}: {} delivered, {} refused again, {} not delivered; "
                     "{} record(s) cannot be replayed from a file\n",
                     r.replayed, options.dry_run ? " (dry run: nothing sent)" : "", r.delivered,
                     r.refused, r.not_delivered, r.not_replayable);
  for (const auto& problem : r.problems) {
    out << "held by: " << problem << '\n';
  }
  if (!r.out_file.empty()) {
    out << fmt::format("the events not delivered, with their reasons, are in {}\n", r.out_file);
  }
  return r.everything_delivered() ? kExitOk : kExitFailure;
}

int cmd_version(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--help" || args[i] == "-h") {
      out << kVersionHelp;
      return kExitOk;
    }
    err << fmt::format("hub2kusto version: unknown argument '{}'\n", args[i]);
    return kExitUsage;
  }
  out << fmt::format("hub2kusto {} ({})\n", kVersion, kGitRevision);
  out << fmt::format("  qpid-proton {}.{}.{}\n", PN_VERSION_MAJOR, PN_VERSION_MINOR,
                     PN_VERSION_POINT);
  out << fmt::format("  boost       {}.{}.{}\n", BOOST_VERSION / 100000, BOOST_VERSION / 100 % 1000,
                     BOOST_VERSION % 100);
  out << fmt::format("  spdlog      {}.{}.{}\n", SPDLOG_VER_MAJOR, SPDLOG_VER_MINOR,
                     SPDLOG_VER_PATCH);
  out << fmt::format("  openssl     {}\n", OPENSSL_VERSION_TEXT);
  return kExitOk;
}

} // namespace

int run_cli(const std::vector<std::string>& args, std::map<std::string, std::string> environment,
            std::ostream& out, std::ostream& err) {
  if (args.empty()) {
    err << kMainHelp;
    return kExitUsage;
  }
  const std::string& command = args[0];
  if (command == "help" || command == "--help" || command == "-h") {
    out << kMainHelp;
    return kExitOk;
  }
  if (command == "run") {
    return cmd_run(args, std::move(environment), out, err);
  }
  if (command == "check-config") {
    return cmd_check_config(args, std::move(environment), out, err);
  }
  if (command == "replay") {
    return cmd_replay(args, std::move(environment), out, err);
  }
  if (command == "infer") {
    return cmd_infer(args, std::move(environment), out, err);
  }
  if (command == "map") {
    return run_map_command(args, std::cin, out, err);
  }
  if (command == "version" || command == "--version") {
    return cmd_version(args, out, err);
  }
  err << fmt::format("hub2kusto: unknown command '{}' (see 'hub2kusto help')\n", command);
  return kExitUsage;
}

} // namespace hub2kusto::app
