#include "support/eventhubs_emulator.hpp"

#include <algorithm>
#include <cstdio>

#include <gtest/gtest.h>

#include "support/http.hpp"

namespace hub2kusto::testing {
namespace {

std::vector<std::string> eventhubs_command(const std::vector<std::string>& args) {
  // Strict as the service and the SDKs: management requests carry their own token, and
  // receivers ask for geo-replication as current SDKs do. TEST_EVENTHUBS_EMULATOR names another
  // build's emulator, as for the Kusto emulator (kusto_emulator.cpp).
  std::vector<std::string> argv = {
      built_or_named("TEST_EVENTHUBS_EMULATOR", HUB2KUSTO_EVENTHUBS_EMULATOR),
      "--port",
      "0",
      "--control-port",
      "0",
      "--management-token",
      "required",
      "--require-receiver-capability",
      "com.microsoft:georeplication"};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

} // namespace

EventHubsEmulator::EventHubsEmulator(const std::vector<std::string>& args)
    : process_(eventhubs_command(args)) {
  const auto first = process_.read_line(std::chrono::seconds(30));
  if (!first) {
    return;
  }
  port_ = std::stoi(*first);
  const auto given = [&](const char* flag) {
    return std::find(args.begin(), args.end(), flag) != args.end();
  };
  const bool iothub = given("--iothub");
  const bool websocket = given("--websocket-port");
  const bool websocket_tls = given("--websocket-tls-port");
  while (control_port_ == 0 || (iothub && iothub_port_ == 0) ||
         (websocket && websocket_port_ == 0) || (websocket_tls && websocket_tls_port_ == 0)) {
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
    } else if (line->rfind("websocket ", 0) == 0) {
      websocket_port_ = std::stoi(line->substr(10));
    } else if (line->rfind("websocket-tls ", 0) == 0) {
      websocket_tls_port_ = std::stoi(line->substr(14));
    }
  }
}

EventHubsEmulator::~EventHubsEmulator() {
  if (::testing::Test::HasFailure()) {
    std::fprintf(stderr, "--- eventhubs-emulator stderr ---\n%s\n", stderr_text().c_str());
  }
}

std::string EventHubsEmulator::connection_string(const std::string& hub,
                                                 const std::string& key) const {
  return "Endpoint=sb://127.0.0.1:" + std::to_string(port_) +
         ";SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=" + key +
         ";EntityPath=" + hub + ";UseDevelopmentEmulator=true";
}

std::string EventHubsEmulator::control_url() const {
  return "http://127.0.0.1:" + std::to_string(control_port_);
}

bool EventHubsEmulator::fault(const std::string& path_and_query) {
  return http_request(control_url(), "POST", path_and_query).first == 200;
}

bool EventHubsEmulator::create_consumer_group(const std::string& hub, const std::string& name) {
  return fault("/consumer-groups?hub=" + hub + "&name=" + name);
}

nlohmann::json EventHubsEmulator::status() {
  return nlohmann::json::parse(http_request(control_url(), "GET", "/status").second);
}

nlohmann::json EventHubsEmulator::partition_status(const std::string& hub,
                                                   const std::string& partition) {
  const nlohmann::json s = status();
  return s.at("hubs").at(hub).at(partition);
}

bool EventHubsEmulator::iothub_failover() {
  const auto [status, text] = http_request(control_url(), "POST", "/faults/iothub-failover");
  const std::string prefix = "failover port ";
  if (status != 200 || text.find(prefix) == std::string::npos) {
    return false;
  }
  port_ = std::stoi(text.substr(text.find(prefix) + prefix.size()));
  return true;
}

} // namespace hub2kusto::testing
