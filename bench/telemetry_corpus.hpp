#pragma once
// The generated telemetry corpus every benchmark shares: about 200-byte JSON events from a
// fixed-seed generator, so that runs and machines compare.

#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace hub2kusto::bench {

// One event per element; `count` events; deterministic for a given seed.
inline std::vector<std::string> telemetry_corpus(std::size_t count, std::uint32_t seed = 42) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> device(0, 9999);
  std::uniform_int_distribution<int> millis(0, 999);
  std::uniform_int_distribution<int> second(0, 59);
  std::uniform_real_distribution<double> temperature(-20.0, 45.0);
  std::uniform_int_distribution<int> humidity(0, 100);
  std::uniform_int_distribution<int> site(1, 12);
  std::uniform_int_distribution<int> line(1, 40);
  std::uniform_real_distribution<double> battery(0.0, 1.0);
  static constexpr const char* kStatus[] = {"ok", "warning", "degraded", "maintenance"};
  static constexpr const char* kMode[] = {"auto", "manual", "eco"};
  std::vector<std::string> events;
  events.reserve(count);
  char buffer[512];
  for (std::size_t i = 0; i < count; ++i) {
    const int n = std::snprintf(
        buffer, sizeof buffer,
        R"({"deviceId":"dev-%05d","ts":"2026-11-24T10:%02d:%02d.%03dZ","temperature":%.2f,)"
        R"("humidity":%d,"status":"%s","battery":%.3f,"location":{"site":"plant-%d","line":%d},)"
        R"("tags":{"fw":"1.%d.%d","mode":"%s"}})",
        device(rng), static_cast<int>(i / 60 % 60), second(rng), millis(rng), temperature(rng),
        humidity(rng), kStatus[rng() % 4], battery(rng), site(rng), line(rng),
        static_cast<int>(rng() % 10), static_cast<int>(rng() % 20), kMode[rng() % 3]);
    events.emplace_back(buffer, static_cast<std::size_t>(n));
  }
  return events;
}

// The 7-column table and mapping the benchmarks map the corpus into: a datetime, a nested
// field and a dynamic column among them.
inline constexpr const char* kTelemetrySchema =
    "Timestamp:datetime,DeviceId:string,Temperature:real,Humidity:long,Status:string,"
    "Site:string,Tags:dynamic";
inline constexpr const char* kTelemetryMapping = R"([
  {"column":"Timestamp","Properties":{"Path":"$.ts"}},
  {"column":"DeviceId","Properties":{"Path":"$.deviceId"}},
  {"column":"Temperature","Properties":{"Path":"$.temperature"}},
  {"column":"Humidity","Properties":{"Path":"$.humidity"}},
  {"column":"Status","Properties":{"Path":"$.status"}},
  {"column":"Site","Properties":{"Path":"$.location.site"}},
  {"column":"Tags","Properties":{"Path":"$.tags"}}
])";

} // namespace hub2kusto::bench
