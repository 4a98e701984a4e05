#pragma once
// What the hub consumer's integration tests share: the fixture, sample files for the emulator's
// --preload, a reader of every partition, an IoT Hub front end, and a throw-away TLS CA.
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/clock.hpp"
#include "common/hub_connection_string.hpp"
#include "common/random.hpp"
#include "hub/amqp_event_source.hpp"
#include "support/child_process.hpp"
#include "support/eventhubs_emulator.hpp"
#include "support/eventually.hpp"

namespace hub2kusto::hub {

// A JSON-lines file of `n` distinct telemetry lines for --preload.
inline std::string preload_file(const std::string& name, int n = 50) {
  const auto path =
      std::filesystem::temp_directory_path() / (name + "-" + std::to_string(::getpid()) + ".jsonl");
  std::ofstream out(path);
  for (int i = 0; i < n; ++i) {
    out << R"({"deviceId":"dev-)" << i << R"(","temperature":21.5,"humidity":40,"line":)" << i
        << "}\n";
  }
  return path.string();
}

// The receiver's state changes on its own thread: look often.
inline bool eventually(const std::function<bool()>& done,
                       std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  return testing::eventually(done, limit, std::chrono::milliseconds(5));
}

inline HubOptions options_for(const std::string& connection_string) {
  auto parsed = parse_hub_connection_string(connection_string);
  EXPECT_TRUE(parsed.ok()) << (parsed.ok() ? "" : parsed.error().message);
  HubOptions o;
  o.connection = parsed.value();
  o.reconnect = BackoffPolicy{
      .initial = std::chrono::milliseconds(50), .max = std::chrono::seconds(1), .multiplier = 2.0};
  return o;
}

// Reads round robin from `streams` until `total` events arrived or nothing came for `idle`.
// `after_each` runs after every take with the count so far (to inject faults mid-stream).
inline std::map<std::string, std::vector<HubEvent>>
read_all(const std::vector<std::shared_ptr<PartitionStream>>& streams, std::size_t total,
         const std::function<void(std::size_t)>& after_each = {},
         std::chrono::milliseconds idle = std::chrono::seconds(15)) {
  std::map<std::string, std::vector<HubEvent>> got;
  std::size_t count = 0;
  auto last_progress = std::chrono::steady_clock::now();
  while (count < total && std::chrono::steady_clock::now() - last_progress < idle) {
    for (const auto& s : streams) {
      std::vector<HubEvent> batch;
      const std::size_t n = s->take(batch, 64, std::chrono::milliseconds(5));
      if (n > 0) {
        last_progress = std::chrono::steady_clock::now();
        count += n;
        auto& dst = got[s->partition().value()];
        for (auto& e : batch) {
          dst.push_back(std::move(e));
        }
        if (after_each) {
          after_each(count);
        }
      }
    }
  }
  return got;
}

// Each partition's events are exactly `first`, `first + 1`, ... with no gap or duplicate.
inline void expect_contiguous(const std::vector<HubEvent>& events, std::int64_t first,
                              const std::string& p) {
  for (std::size_t i = 0; i < events.size(); ++i) {
    ASSERT_EQ(events[i].sequence_number.value(), first + static_cast<std::int64_t>(i))
        << "partition " << p << " event " << i;
  }
}

// An IoT Hub front end for the Event Hub "iot-ehub" (2 partitions), with `events` preloaded.
inline constexpr const char* kIotHubKey =
    "aW90aHViLXRlc3Qta2V5LWZvci1odWIya3VzdG8tdGVzdHM="; // base64
inline std::vector<std::string> iot_hub_emulator(const std::string& preload, int events) {
  return {"--hub",
          "iot-ehub:2",
          "--iothub",
          "myhub",
          "--iothub-policy",
          std::string("service=") + kIotHubKey,
          "--preload",
          preload_file(preload),
          "--preload-events",
          std::to_string(events)};
}
inline HubOptions iot_hub_options(const testing::EventHubsEmulator& em) {
  return options_for("HostName=127.0.0.1:" + std::to_string(em.iothub_port()) +
                     ";SharedAccessKeyName=service;SharedAccessKey=" + kIotHubKey +
                     ";UseDevelopmentEmulator=true");
}

class HubConsumer : public ::testing::Test {
protected:
  // A connection that trusts only the system store, which does not know the test CA: nothing
  // is received, and the error says why.
  void expect_untrusted(const std::string& connection_string) {
    AmqpEventSource source(options_for(connection_string), clock_, random_);
    auto hub = source.hub_properties(std::chrono::seconds(3));
    ASSERT_FALSE(hub.ok());
    EXPECT_NE(hub.error().message.find("certificate verify failed"), std::string::npos)
        << hub.error().message;
    EXPECT_EQ(source.metrics().connections_opened.load(), 0U);
  }

  SystemClock clock_;
  SystemRandom random_;
};

// A throw-away CA and a server certificate for localhost, made with openssl.
inline std::string make_certificates() {
  const auto dir =
      std::filesystem::temp_directory_path() / ("hub2kusto-tls-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "openssl");
    testing::ChildProcess p(args);
    return p.wait_exit(std::chrono::seconds(60)) == 0;
  };
  const std::string d = dir.string() + "/";
  std::ofstream(d + "ext.cnf") << "subjectAltName=DNS:localhost,IP:127.0.0.1\n";
  const bool ok =
      run({"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", d + "ca.key", "-out",
           d + "ca.pem", "-days", "1", "-subj", "/CN=hub2kusto test CA"}) &&
      run({"req", "-newkey", "rsa:2048", "-nodes", "-keyout", d + "server.key", "-out",
           d + "server.csr", "-subj", "/CN=localhost"}) &&
      run({"x509", "-req", "-in", d + "server.csr", "-CA", d + "ca.pem", "-CAkey", d + "ca.key",
           "-CAcreateserial", "-out", d + "server.pem", "-days", "1", "-extfile", d + "ext.cnf"});
  return ok ? d : std::string();
}

// Emulator arguments `args`, serving TLS with the server certificate in `certs`.
inline std::vector<std::string> serving_tls(const std::string& certs,
                                            std::vector<std::string> args) {
  args.insert(args.end(), {"--tls-cert", certs + "server.pem", "--tls-key", certs + "server.key"});
  return args;
}

} // namespace hub2kusto::hub
