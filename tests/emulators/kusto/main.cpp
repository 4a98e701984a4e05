// kusto-emulator: a Kusto-compatible HTTP server on loopback, for tests. See README.md for the
// flags. The first line on stdout is the port it listens on.

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "server.hpp"

namespace {

using hub2kusto::kusto_emulator::EmulatorConfig;
using hub2kusto::kusto_emulator::StorageEndpoints;

constexpr const char* kUsage = R"(Usage: kusto-emulator [options]

  --host HOST               listen address (default 127.0.0.1)
  --port PORT               listen port; 0 picks a free one (default 0)
  --database NAME           a database to create; repeatable (default: one named 'db')
  --streaming-max-bytes N   largest inflated streaming body (default 4194304)
  --blob-endpoint URL       Azurite blob endpoint, e.g. http://127.0.0.1:10000/devstoreaccount1
  --queue-endpoint URL      Azurite queue endpoint (queued ingestion needs all three)
  --table-endpoint URL      Azurite table endpoint
  --storage-account NAME    storage account (default devstoreaccount1)
  --storage-key KEY         its key (default: Azurite's well-known development key)
  --data-dir DIR            keep a journal of every change in DIR and replay it at start
  --require-token           every engine and data management request needs a bearer token
  --static-token TOKEN      a token that is always accepted; repeatable
  --token-lifetime SECONDS  lifetime of the tokens the token endpoints issue (default 3600)
  --app ID=SECRET           an application for client-credentials tokens; repeatable
  --federated ID=ASSERTION  a client assertion accepted for application ID; repeatable
  --identity-header VALUE   the X-IDENTITY-HEADER the App Service endpoint expects
  --signing-key PEM         issue RS256 JWTs signed with this private key (the Event Hubs
                            emulator's --jwt-key checks them)
  --resource-id URI         the cluster's resource id in its auth metadata; tokens are accepted
                            only for it (default https://kusto.kusto.windows.net)
  --ingestion-time-column C a datetime column C is set on every ingested row to the time the
                            ingestion was acknowledged (latency benchmarks)
  --dm-delay-ms MS          queued ingestion reads a message's blob MS after taking the message,
                            as the real service batches (default 0)
  --help

The first line on stdout is the port. SIGTERM or SIGINT stops it.
)";

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "kusto-emulator: %s\n%s", message.c_str(), kUsage);
  std::exit(2);
}

long long to_number(const std::string& text, const std::string& flag) {
  try {
    std::size_t used = 0;
    const long long v = std::stoll(text, &used);
    if (used == text.size() && v >= 0) {
      return v;
    }
  } catch (const std::exception&) {
  }
  usage_error(flag + ": '" + text + "' is not a non-negative number");
}

std::pair<std::string, std::string> pair_of(const std::string& text, const std::string& flag) {
  const std::size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size()) {
    usage_error(flag + ": expected ID=VALUE");
  }
  return {text.substr(0, eq), text.substr(eq + 1)};
}

} // namespace

int main(int argc, char** argv) {
  EmulatorConfig config;
  bool databases_given = false;
  StorageEndpoints storage;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (a == "--require-token") {
      config.require_token = true;
      continue;
    }
    if (i + 1 >= argc) {
      usage_error(a.rfind("--", 0) == 0 ? a + " needs a value (or is unknown)"
                                        : "unknown argument '" + a + "'");
    }
    const std::string v = argv[++i];
    if (a == "--host") {
      config.host = v;
    } else if (a == "--port") {
      config.port = static_cast<int>(to_number(v, a));
    } else if (a == "--database") {
      if (!databases_given) {
        config.databases.clear();
        databases_given = true;
      }
      config.databases.push_back(v);
    } else if (a == "--resource-id") {
      config.resource_id = v;
    } else if (a == "--dm-delay-ms") {
      config.dm_delay = std::chrono::milliseconds(to_number(v, a));
    } else if (a == "--streaming-max-bytes") {
      config.streaming_max_bytes = static_cast<std::size_t>(to_number(v, a));
    } else if (a == "--blob-endpoint") {
      storage.blob = v;
    } else if (a == "--queue-endpoint") {
      storage.queue = v;
    } else if (a == "--table-endpoint") {
      storage.table = v;
    } else if (a == "--storage-account") {
      storage.account = v;
    } else if (a == "--storage-key") {
      storage.key = v;
    } else if (a == "--data-dir") {
      config.data_directory = v;
    } else if (a == "--static-token") {
      config.static_tokens.push_back(v);
    } else if (a == "--token-lifetime") {
      config.token_lifetime_seconds = to_number(v, a);
    } else if (a == "--app") {
      config.applications.push_back(pair_of(v, a));
    } else if (a == "--federated") {
      config.federated.push_back(pair_of(v, a));
    } else if (a == "--identity-header") {
      config.identity_header = v;
    } else if (a == "--signing-key") {
      config.signing_key_file = v;
    } else if (a == "--ingestion-time-column") {
      config.ingestion_time_column = v;
    } else {
      usage_error("unknown argument '" + a + "'");
    }
  }
  const int given = !storage.blob.empty() + !storage.queue.empty() + !storage.table.empty();
  if (given != 0 && given != 3) {
    usage_error("queued ingestion needs --blob-endpoint, --queue-endpoint and --table-endpoint");
  }
  if (given == 3) {
    config.storage = storage;
  }

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  hub2kusto::kusto_emulator::Server server(config);
  if (const auto error = server.start()) {
    std::fprintf(stderr, "kusto-emulator: %s\n", error->c_str());
    return 1;
  }
  std::printf("%d\n", server.port());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&signals, &sig);
  server.stop();
  return 0;
}
