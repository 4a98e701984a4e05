// eventhubs-emulator: an Event Hubs-compatible AMQP 1.0 server on loopback, for tests.
// See README.md for the flags. The first line on stdout is the port it listens on.

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "control_api.hpp"
#include "server.hpp"
#include "websocket_relay.hpp"

namespace {

using hub2kusto::emulator::EmulatorConfig;
using hub2kusto::emulator::HubSpec;

constexpr const char* kUsage = R"(Usage: eventhubs-emulator [options]

  --host HOST               listen address (default 127.0.0.1)
  --port PORT               listen port; 0 picks a free one (default 0)
  --namespace NAME          namespace name used in error texts (default emulatorNs1)
  --hub NAME[:N[:CG,CG]]    a hub with N partitions (default 2) and consumer groups besides
                            $Default; repeatable (default: one hub 'telemetry' with 4)
  --rule NAME=KEY           a SAS rule; repeatable (default RootManageSharedAccessKey=SAS_KEY_VALUE)
  --max-message-size BYTES  largest event or batch accepted (default 1048576)
  --tls-port PORT           also listen with TLS (AMQPS); 0 picks a free one
  --tls-cert FILE           PEM certificate for --tls-port
  --tls-key FILE            PEM private key for --tls-port
  --preload FILE            JSON-lines file whose lines become events of the first hub
  --preload-events N        how many events to preload (the file is reused as needed)
  --iothub NAME             also run an IoT Hub front end for hub NAME that redirects
                            receivers to the Event Hub-compatible endpoint (this server)
  --iothub-port PORT        its port; 0 (default) picks a free one
  --iothub-eventhub HUB     the Event Hub behind it (default: the first --hub)
  --iothub-eventhub-namespace NAME
                            the Event Hub-compatible namespace the redirect names as its
                            hostname (clients still connect to --host; default: --host)
  --iothub-policy NAME=KEY  its service policy and base64 key (default iothubowner=...)
  --control-port PORT       the fault-injection HTTP API on the listen address; 0 picks a
                            free one (printed as "control <port>"); off unless given
  --websocket-port PORT     also serve AMQP over WebSockets (ws://, paths $servicebus/websocket
                            and, with --iothub, $iothub/websocket); 0 picks a free one
                            (printed as "websocket <port>")
  --websocket-tls-port PORT the same over TLS (wss://, with --tls-cert and --tls-key; printed as
                            "websocket-tls <port>")
  --websocket-frame-bytes N split what the AMQP side writes into WebSocket frames of at most N
                            bytes, one message fragmented over them (default 0: one frame per
                            write)
  --require-receiver-capability SYMBOL
                            refuse a receiver's attach that does not ask for this desired
                            capability (repeatable; current SDKs ask for
                            com.microsoft:georeplication)
  --management-token required|connection
                            required: every $management request carries its own security_token
                            (as the SDKs send it); connection (default): a put token is enough
  --auth-grace-ms MS        close connections that put no valid token within MS of opening
                            (default 20000, the service's 20 s)
  --token-lifetime SECONDS  honour each put token for at most SECONDS; a receiver gets nothing
                            once its token lapses until the client puts a new one (default: the
                            token's own expiry)
  --jwt-key PEM             take Entra ID tokens (put-token type jwt) whose RS256 signature this
                            key (private or public PEM) verifies
  --jwt-audience URI        the audience they must name (default https://eventhubs.azure.net)
  --jwt-issuer ISS          the issuer they must name (default: any)
  --jwt-receiver ID         a principal (appid or oid) with the Data Receiver role; repeatable
  --retention-events N      keep at most N events per partition, dropping the oldest (default:
                            no limit)
  --data-dir DIR            keep every partition's events in DIR across restarts
  --config FILE             read settings from a JSON file (see README.md); flags after it
                            override it
  --help

The first line on stdout is the plain AMQP port; with --tls-port a second line says
"tls <port>", with --iothub "iothub <port>", with --control-port "control <port>", then
"websocket <port>" and "websocket-tls <port>".
SIGTERM or SIGINT stops it.
)";

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "eventhubs-emulator: %s\n%s", message.c_str(), kUsage);
  std::exit(2);
}

int to_int(const std::string& text, const std::string& flag) {
  try {
    std::size_t used = 0;
    const int v = std::stoi(text, &used);
    if (used == text.size() && v >= 0) {
      return v;
    }
  } catch (const std::exception&) {
  }
  usage_error(flag + ": '" + text + "' is not a non-negative number");
}

HubSpec parse_hub(const std::string& text) {
  HubSpec spec;
  const std::size_t first = text.find(':');
  spec.name = text.substr(0, first);
  if (spec.name.empty()) {
    usage_error("--hub: the name is empty");
  }
  if (first != std::string::npos) {
    const std::size_t second = text.find(':', first + 1);
    spec.partitions =
        to_int(text.substr(first + 1,
                           second == std::string::npos ? std::string::npos : second - first - 1),
               "--hub");
    if (spec.partitions < 1 || spec.partitions > 1024) {
      usage_error("--hub: the partition count must be from 1 to 1024");
    }
    if (second != std::string::npos) {
      std::string groups = text.substr(second + 1);
      std::size_t start = 0;
      while (start <= groups.size()) {
        const std::size_t comma = groups.find(',', start);
        const std::string g =
            groups.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (!g.empty()) {
          spec.consumer_groups.push_back(g);
        }
        if (comma == std::string::npos) {
          break;
        }
        start = comma + 1;
      }
    }
  }
  return spec;
}

// --config FILE: the same settings as the flags, as one JSON object (README.md).
// The listeners outside the AMQP server: the fault API and the WebSocket relays (-1: off).
struct SideListeners {
  int control_port = -1;
  int websocket_port = -1;
  int websocket_tls_port = -1;
  std::size_t websocket_frame_bytes = 0;
};

void read_config_file(const std::string& path, EmulatorConfig& config, SideListeners& side) {
  std::ifstream in(path);
  if (!in) {
    usage_error("--config: cannot read '" + path + "'");
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in, nullptr, true, /*ignore_comments=*/true);
  } catch (const std::exception& e) {
    usage_error("--config: '" + path + "' is not JSON: " + e.what());
  }
  if (!j.is_object()) {
    usage_error("--config: '" + path + "' must hold a JSON object");
  }
  auto fail = [&](const std::string& key, const std::string& why) {
    usage_error("--config: '" + path + "': " + key + ": " + why);
  };
  auto text = [&](const nlohmann::json& v, const std::string& key) {
    if (!v.is_string()) {
      fail(key, "must be a string");
    }
    return v.get<std::string>();
  };
  auto number = [&](const nlohmann::json& v, const std::string& key) {
    if (!v.is_number_integer() || v.get<std::int64_t>() < 0) {
      fail(key, "must be a non-negative whole number");
    }
    return v.get<std::int64_t>();
  };
  auto rule = [&](const nlohmann::json& v, const std::string& key) {
    if (!v.is_object() || !v.contains("name") || !v.contains("key")) {
      fail(key, "must be an object with name and key");
    }
    return hub2kusto::emulator::SasRule{text(v["name"], key + ".name"),
                                        text(v["key"], key + ".key")};
  };
  for (const auto& [key, v] : j.items()) {
    if (key == "host") {
      config.host = text(v, key);
    } else if (key == "port") {
      config.port = static_cast<int>(number(v, key));
    } else if (key == "namespace") {
      config.namespace_name = text(v, key);
    } else if (key == "hubs") {
      if (!v.is_array()) {
        fail(key, "must be an array");
      }
      for (std::size_t i = 0; i < v.size(); ++i) {
        const std::string at = key + "[" + std::to_string(i) + "]";
        const auto& h = v[i];
        if (!h.is_object() || !h.contains("name")) {
          fail(at, "must be an object with a name");
        }
        HubSpec spec{text(h["name"], at + ".name"), 2, {}};
        if (h.contains("partitions")) {
          spec.partitions = static_cast<int>(number(h["partitions"], at + ".partitions"));
          if (spec.partitions < 1 || spec.partitions > 1024) {
            fail(at + ".partitions", "must be from 1 to 1024");
          }
        }
        for (const auto& g : h.value("consumer_groups", nlohmann::json::array())) {
          spec.consumer_groups.push_back(text(g, at + ".consumer_groups"));
        }
        config.hubs.push_back(spec);
      }
    } else if (key == "rules") {
      if (!v.is_array()) {
        fail(key, "must be an array");
      }
      for (std::size_t i = 0; i < v.size(); ++i) {
        config.rules.push_back(rule(v[i], key + "[" + std::to_string(i) + "]"));
      }
    } else if (key == "max_message_size") {
      config.max_message_size = static_cast<std::size_t>(number(v, key));
    } else if (key == "tls") {
      config.tls_port = static_cast<int>(number(v.value("port", nlohmann::json(0)), "tls.port"));
      config.tls_certificate = text(v.value("cert", nlohmann::json()), "tls.cert");
      config.tls_key = text(v.value("key", nlohmann::json()), "tls.key");
    } else if (key == "preload") {
      config.preload_file = text(v.value("file", nlohmann::json()), "preload.file");
      config.preload_events =
          static_cast<std::size_t>(number(v.value("events", nlohmann::json(0)), "preload.events"));
    } else if (key == "iothub") {
      config.iothub_name = text(v.value("name", nlohmann::json()), "iothub.name");
      config.iothub_port =
          static_cast<int>(number(v.value("port", nlohmann::json(0)), "iothub.port"));
      if (v.contains("eventhub")) {
        config.iothub_eventhub = text(v["eventhub"], "iothub.eventhub");
      }
      if (v.contains("policy")) {
        config.iothub_policy = rule(v["policy"], "iothub.policy");
      }
    } else if (key == "control_port") {
      side.control_port = static_cast<int>(number(v, key));
    } else if (key == "websocket_port") {
      side.websocket_port = static_cast<int>(number(v, key));
    } else if (key == "websocket_tls_port") {
      side.websocket_tls_port = static_cast<int>(number(v, key));
    } else if (key == "websocket_frame_bytes") {
      side.websocket_frame_bytes = static_cast<std::size_t>(number(v, key));
    } else if (key == "auth_grace_ms") {
      config.auth_grace_ms = number(v, key);
    } else if (key == "token_lifetime_seconds") {
      config.token_lifetime_seconds = number(v, key);
    } else if (key == "retention_events") {
      config.retention_events = static_cast<std::size_t>(number(v, key));
    } else if (key == "data_dir") {
      config.data_directory = text(v, key);
    } else {
      fail(key, "is not a setting");
    }
  }
}

} // namespace

int main(int argc, char** argv) {
  EmulatorConfig config;
  SideListeners side;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (i + 1 >= argc) {
      usage_error(a == "--host" || a == "--port" || a == "--namespace" || a == "--hub" ||
                          a == "--rule" || a == "--max-message-size" || a == "--tls-port" ||
                          a == "--tls-cert" || a == "--tls-key" || a == "--preload" ||
                          a == "--preload-events" || a == "--iothub" || a == "--iothub-port" ||
                          a == "--iothub-eventhub" || a == "--iothub-policy" ||
                          a == "--iothub-eventhub-namespace" || a == "--control-port" ||
                          a == "--websocket-port" || a == "--websocket-tls-port" ||
                          a == "--websocket-frame-bytes" || a == "--auth-grace-ms" ||
                          a == "--management-token" || a == "--token-lifetime" ||
                          a == "--require-receiver-capability" || a == "--retention-events" ||
                          a == "--data-dir" || a == "--config" || a == "--jwt-key" ||
                          a == "--jwt-audience" || a == "--jwt-issuer" || a == "--jwt-receiver"
                      ? a + " needs a value"
                      : "unknown argument '" + a + "'");
    }
    const std::string v = argv[++i];
    if (a == "--host") {
      config.host = v;
    } else if (a == "--port") {
      config.port = to_int(v, a);
    } else if (a == "--namespace") {
      config.namespace_name = v;
    } else if (a == "--hub") {
      config.hubs.push_back(parse_hub(v));
    } else if (a == "--rule") {
      const std::size_t eq = v.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == v.size()) {
        usage_error("--rule: expected NAME=KEY");
      }
      config.rules.push_back({v.substr(0, eq), v.substr(eq + 1)});
    } else if (a == "--max-message-size") {
      config.max_message_size = static_cast<std::size_t>(to_int(v, a));
    } else if (a == "--tls-port") {
      config.tls_port = to_int(v, a);
    } else if (a == "--tls-cert") {
      config.tls_certificate = v;
    } else if (a == "--tls-key") {
      config.tls_key = v;
    } else if (a == "--control-port") {
      side.control_port = to_int(v, a);
    } else if (a == "--websocket-port") {
      side.websocket_port = to_int(v, a);
    } else if (a == "--websocket-tls-port") {
      side.websocket_tls_port = to_int(v, a);
    } else if (a == "--websocket-frame-bytes") {
      side.websocket_frame_bytes = static_cast<std::size_t>(to_int(v, a));
    } else if (a == "--iothub") {
      config.iothub_name = v;
    } else if (a == "--iothub-port") {
      config.iothub_port = to_int(v, a);
    } else if (a == "--iothub-eventhub") {
      config.iothub_eventhub = v;
    } else if (a == "--iothub-eventhub-namespace") {
      config.iothub_eventhub_namespace = v;
    } else if (a == "--iothub-policy") {
      const std::size_t eq = v.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == v.size()) {
        usage_error("--iothub-policy: expected NAME=BASE64KEY");
      }
      config.iothub_policy = {v.substr(0, eq), v.substr(eq + 1)};
    } else if (a == "--preload") {
      config.preload_file = v;
    } else if (a == "--preload-events") {
      config.preload_events = static_cast<std::size_t>(to_int(v, a));
    } else if (a == "--auth-grace-ms") {
      config.auth_grace_ms = to_int(v, a);
    } else if (a == "--management-token") {
      if (v != "required" && v != "connection") {
        usage_error("--management-token: expected required or connection");
      }
      config.require_management_token = v == "required";
    } else if (a == "--require-receiver-capability") {
      config.required_receiver_capabilities.push_back(v);
    } else if (a == "--token-lifetime") {
      config.token_lifetime_seconds = to_int(v, a);
    } else if (a == "--retention-events") {
      config.retention_events = static_cast<std::size_t>(to_int(v, a));
    } else if (a == "--data-dir") {
      config.data_directory = v;
    } else if (a == "--jwt-key") {
      config.jwt_key_file = v;
    } else if (a == "--jwt-audience") {
      config.jwt_audience = v;
    } else if (a == "--jwt-issuer") {
      config.jwt_issuer = v;
    } else if (a == "--jwt-receiver") {
      config.jwt_receivers.push_back(v);
    } else if (a == "--config") {
      read_config_file(v, config, side);
    } else {
      usage_error("unknown argument '" + a + "'");
    }
  }
  if (config.hubs.empty()) {
    config.hubs.push_back({"telemetry", 4, {}});
  }
  if (config.tls_port >= 0 && (config.tls_certificate.empty() || config.tls_key.empty())) {
    usage_error("--tls-port needs --tls-cert and --tls-key");
  }
  if (side.websocket_tls_port >= 0 && (config.tls_certificate.empty() || config.tls_key.empty())) {
    usage_error("--websocket-tls-port needs --tls-cert and --tls-key");
  }
  if (config.preload_events > 0 && config.preload_file.empty()) {
    usage_error("--preload-events needs --preload FILE");
  }

  // Signals are taken by a thread of their own, which asks the loop to stop.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  hub2kusto::emulator::Server server(config);
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    server.stop();
  });
  waiter.detach();
  std::unique_ptr<hub2kusto::emulator::ControlApi> control;
  if (side.control_port >= 0) {
    try {
      control =
          std::make_unique<hub2kusto::emulator::ControlApi>(server, config.host, side.control_port);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "eventhubs-emulator: control API: %s\n", e.what());
      return 1;
    }
  }
  std::vector<std::unique_ptr<hub2kusto::emulator::WebSocketRelay>> relays;
  return server.run([&](const hub2kusto::emulator::ListeningPorts& ports) {
    // The relays start once the AMQP listeners they lead to are bound.
    const auto relay = [&](int port, bool tls) {
      hub2kusto::emulator::WebSocketRelayOptions o;
      o.host = config.host;
      o.port = port;
      o.frame_bytes = side.websocket_frame_bytes;
      if (tls) {
        o.tls_certificate = config.tls_certificate;
        o.tls_key = config.tls_key;
      }
      o.routes["/$servicebus/websocket"] = ports.amqp;
      if (ports.iothub >= 0) {
        o.routes["/$iothub/websocket"] = ports.iothub;
      }
      try {
        relays.push_back(std::make_unique<hub2kusto::emulator::WebSocketRelay>(std::move(o)));
      } catch (const std::exception& e) {
        std::fprintf(stderr, "eventhubs-emulator: WebSocket listener: %s\n", e.what());
        std::exit(1);
      }
      return relays.back()->port();
    };
    const int websocket = side.websocket_port >= 0 ? relay(side.websocket_port, false) : -1;
    const int websocket_tls =
        side.websocket_tls_port >= 0 ? relay(side.websocket_tls_port, true) : -1;
    std::printf("%d\n", ports.amqp);
    if (ports.amqps >= 0) {
      std::printf("tls %d\n", ports.amqps);
    }
    if (ports.iothub >= 0) {
      std::printf("iothub %d\n", ports.iothub);
    }
    if (control) {
      std::printf("control %d\n", control->port());
    }
    if (websocket >= 0) {
      std::printf("websocket %d\n", websocket);
    }
    if (websocket_tls >= 0) {
      std::printf("websocket-tls %d\n", websocket_tls);
    }
    std::fflush(stdout);
  });
}
