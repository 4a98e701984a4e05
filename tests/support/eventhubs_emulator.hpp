#pragma once
// tests/emulators/eventhubs as a child process on free ports, with its control API.
#include <chrono>
#include <string>
#include <vector>

#include <cstdio>

// gtest before cpprestsdk: cpprestsdk defines a macro `U`, which breaks gtest's templates.
#include <gtest/gtest.h>

#include <cpprest/http_client.h>
#include <nlohmann/json.hpp>

#include "support/child_process.hpp"

namespace hub2kusto::testing {

class EventHubsEmulator {
public:
  // `args` are extra flags (--hub, --preload, --iothub ...); the port flags are added here.
  explicit EventHubsEmulator(std::vector<std::string> args) : process_(command(args)) {
    const auto first = process_.read_line(std::chrono::seconds(30));
    if (!first) {
      return;
    }
    port_ = std::stoi(*first);
    const bool iothub = has(args, "--iothub");
    while (control_port_ == 0 || (iothub && iothub_port_ == 0)) {
      const auto line = process_.read_line(std::chrono::seconds(30));
      if (!line) {
        port_ = 0;
        return;
      }
      if (line->rfind("tls ", 0) == 0) {
        tls_port_ = std::stoi(line->substr(4));
      } else if (line->rfind("control ", 0) == 0) {
        control_port_ = std::stoi(line->substr(8));
      } else if (line->rfind("iothub ", 0) == 0) {
        iothub_port_ = std::stoi(line->substr(7));
      }
    }
  }

  // A failed test shows what the emulator said (a crash, a refusal).
  ~EventHubsEmulator() {
    if (::testing::Test::HasFailure()) {
      std::fprintf(stderr, "--- eventhubs-emulator stderr ---\n%s\n", stderr_text().c_str());
    }
  }
  EventHubsEmulator(const EventHubsEmulator&) = delete;
  EventHubsEmulator& operator=(const EventHubsEmulator&) = delete;

  bool running() const { return port_ > 0; }
  int port() const { return port_; }
  int iothub_port() const { return iothub_port_; }
  int tls_port() const { return tls_port_; }
  std::string stderr_text() const { return process_.stderr_text(); }

  std::string connection_string(const std::string& hub = "telemetry",
                                const std::string& key = "SAS_KEY_VALUE") const {
    return "Endpoint=sb://127.0.0.1:" + std::to_string(port_) +
           ";SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=" + key +
           ";EntityPath=" + hub + ";UseDevelopmentEmulator=true";
  }

  // POST /faults/...; true when the emulator applied it.
  bool fault(const std::string& path_and_query) {
    return request(web::http::methods::POST, path_and_query).first == 200;
  }
  // POST /consumer-groups: the group exists from now on, as when an operator creates it.
  bool create_consumer_group(const std::string& hub, const std::string& name) {
    return fault("/consumer-groups?hub=" + hub + "&name=" + name);
  }
  nlohmann::json status() {
    return nlohmann::json::parse(request(web::http::methods::GET, "/status").second);
  }

  // One partition's entry of GET /status.
  nlohmann::json partition_status(const std::string& hub, const std::string& partition) {
    const nlohmann::json s = status();
    return s.at("hubs").at(hub).at(partition);
  }

  // An IoT Hub failover: the Event Hub-compatible endpoint moves to a new listener; the old
  // one closes. connection_string() names the new one from now on. False when not applied.
  bool iothub_failover() {
    const auto [status, text] = request(web::http::methods::POST, "/faults/iothub-failover");
    const std::string prefix = "failover port ";
    if (status != 200 || text.find(prefix) == std::string::npos) {
      return false;
    }
    port_ = std::stoi(text.substr(text.find(prefix) + prefix.size()));
    return true;
  }

private:
  static bool has(const std::vector<std::string>& args, const std::string& flag) {
    for (const auto& a : args) {
      if (a == flag) {
        return true;
      }
    }
    return false;
  }

  static std::vector<std::string> command(std::vector<std::string> args) {
    // Strict as the service: management requests carry their own token.
    std::vector<std::string> argv = {
        HUB2KUSTO_EVENTHUBS_EMULATOR, "--port",  "0", "--control-port", "0",
        "--management-token",         "required"};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  std::pair<int, std::string> request(const web::http::method& method, const std::string& path) {
    try {
      web::http::client::http_client client("http://127.0.0.1:" + std::to_string(control_port_));
      auto response = client.request(method, path).get();
      return {response.status_code(), response.extract_utf8string(true).get()};
    } catch (const std::exception& e) {
      return {0, e.what()};
    }
  }

  ChildProcess process_;
  int port_ = 0;
  int iothub_port_ = 0;
  int tls_port_ = 0;
  int control_port_ = 0;
};

} // namespace hub2kusto::testing
