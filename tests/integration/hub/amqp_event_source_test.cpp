// The hub consumer against tests/emulators/eventhubs over real AMQP on loopback: every line of
// the issue's "Done when" that concerns receiving has a test here. Waits are for conditions
// (an event, a status), each with a deadline; nothing sleeps to synchronise.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/clock.hpp"
#include "common/hub_connection_string.hpp"
#include "common/logging.hpp"
#include "common/random.hpp"
#include "hub/amqp_event_source.hpp"
#include "hub_consumer_fixture.hpp"
#include "support/child_process.hpp"
#include "support/eventhubs_emulator.hpp"
#include "support/eventually.hpp"

namespace hub2kusto::hub {
namespace {

using namespace std::chrono_literals;
using testing::EventHubsEmulator;

TEST_F(HubConsumer, ReceivesPreloadedEventsOfEveryPartitionInOrder) {
  EventHubsEmulator em(
      {"--hub", "telemetry:4", "--preload", preload_file("order"), "--preload-events", "400"});
  ASSERT_TRUE(em.running()) << em.stderr_text();
  AmqpEventSource source(options_for(em.connection_string()), clock_, random_);
  auto hub = source.hub_properties(10s);
  ASSERT_TRUE(hub.ok()) << hub.error().message;
  ASSERT_EQ(hub->partition_ids.size(), 4U);
  std::vector<std::shared_ptr<PartitionStream>> streams;
  for (const auto& id : hub->partition_ids) {
    streams.push_back(source.open_partition(id, StartPosition::earliest()));
  }
  auto got = read_all(streams, 400);
  ASSERT_EQ(got.size(), 4U);
  for (const auto& [p, events] : got) {
    EXPECT_EQ(events.size(), 100U) << p;
    expect_contiguous(events, 0, p);
    for (std::size_t i = 1; i < events.size(); ++i) {
      EXPECT_LT(std::stoll(events[i - 1].offset.value()), std::stoll(events[i].offset.value()));
      EXPECT_LE(events[i - 1].enqueued_time, events[i].enqueued_time);
    }
    EXPECT_EQ(events.front().partition.value(), p);
    EXPECT_EQ(events.front().body_type, BodyType::data);
    EXPECT_EQ(events.front().body.front(), '{');
  }
  for (const auto& id : hub->partition_ids) {
    auto info = source.partition_properties(id, 10s);
    ASSERT_TRUE(info.ok()) << info.error().message;
    EXPECT_EQ(info->last_enqueued_sequence_number.value(), 99);
    EXPECT_EQ(info->last_enqueued_offset, got[id.value()].back().offset);
    EXPECT_FALSE(info->is_empty);
  }
}

// Runs tests/integration/hub/produce.js (the official producer) against `em`.
void produce(const EventHubsEmulator& em, int per_partition, int partitions, int keyed = 0) {
  testing::ChildProcess node({"node", HUB2KUSTO_SOURCE_DIR "/tests/integration/hub/produce.js",
                              em.connection_string(), std::to_string(per_partition),
                              std::to_string(partitions), std::to_string(keyed)});
  const int code = node.wait_exit(60s);
  ASSERT_EQ(code, 0) << node.stderr_text();
}

std::string text(const AmqpValue* v) {
  if (v == nullptr) {
    return "<absent>";
  }
  const auto* s = std::get_if<std::string>(&v->value);
  return s != nullptr ? *s : "<not text>";
}

double number(const AmqpValue* v) {
  if (v == nullptr) {
    return -1;
  }
  if (const auto* n = std::get_if<std::int64_t>(&v->value)) {
    return static_cast<double>(*n);
  }
  if (const auto* u = std::get_if<std::uint64_t>(&v->value)) {
    return static_cast<double>(*u);
  }
  if (const auto* d = std::get_if<double>(&v->value)) {
    return *d;
  }
  return -1;
}

// The emulator, as the service, refuses a $management request that does not carry its own
// security_token (every official SDK sends the token it put on $cbs): hub and partition
// properties are read all the same.
TEST_F(HubConsumer, ManagementRequestsCarryTheirOwnSecurityToken) {
  EventHubsEmulator em({"--hub", "telemetry:2", "--management-token", "required"});
  ASSERT_TRUE(em.running()) << em.stderr_text();
  AmqpEventSource source(options_for(em.connection_string()), clock_, random_);
  auto hub = source.hub_properties(10s);
  ASSERT_TRUE(hub.ok()) << hub.error().message;
  EXPECT_EQ(hub->partition_ids.size(), 2U);
  auto partition = source.partition_properties(PartitionId("1"), 10s);
  ASSERT_TRUE(partition.ok()) << partition.error().message;
}

TEST_F(HubConsumer, CarriesPropertiesAndBodiesAsTheOfficialProducerSentThem) {
  EventHubsEmulator em({"--hub", "telemetry:4"});
  ASSERT_TRUE(em.running()) << em.stderr_text();
  produce(em, 25, 4, 5);
  AmqpEventSource source(options_for(em.connection_string()), clock_, random_);
  std::vector<std::shared_ptr<PartitionStream>> streams;
  for (const char* id : {"0", "1", "2", "3"}) {
    streams.push_back(source.open_partition(PartitionId(id), StartPosition::earliest()));
  }
  auto got = read_all(streams, 105);
  std::size_t keyed = 0;
  for (const auto& [p, events] : got) {
    expect_contiguous(events, 0, p);
    std::int64_t i = 0;
    for (const auto& e : events) {
      if (e.partition_key) {
        EXPECT_EQ(*e.partition_key, "device-7");
        EXPECT_EQ(std::get<std::string>(e.annotation("x-opt-partition-key")->value), "device-7");
        ++keyed;
        continue;
      }
      EXPECT_EQ(e.body, "{\"partition\":" + p + ",\"i\":" + std::to_string(i) + "}");
      EXPECT_EQ(e.body_type, BodyType::data); // the SDK sends JSON bodies as data sections
      EXPECT_EQ(number(e.application_property("index")), static_cast<double>(i));
      EXPECT_EQ(text(e.application_property("source")), "produce.js");
      const AmqpValue* flag = e.application_property("flag");
      ASSERT_NE(flag, nullptr);
      EXPECT_EQ(flag->type, AmqpType::boolean);
      EXPECT_EQ(std::get<bool>(flag->value), true);
      EXPECT_EQ(text(e.property("message-id")), "m-" + p + "-" + std::to_string(i));
      EXPECT_EQ(text(e.property("correlation-id")), "c-" + std::to_string(i));
      EXPECT_EQ(text(e.property("content-type")), "application/json");
      ASSERT_TRUE(e.annotation("x-opt-sequence-number").has_value());
      EXPECT_EQ(e.annotation("x-opt-sequence-number")->type, AmqpType::long_);
      EXPECT_EQ(e.annotation("x-opt-enqueued-time")->type, AmqpType::timestamp);
      EXPECT_EQ(e.annotation("x-opt-offset")->type, AmqpType::string);
      ++i;
    }
    EXPECT_EQ(i, 25) << p;
  }
  EXPECT_EQ(keyed, 5U);
}

TEST_F(HubConsumer, ResumesFromAnOffsetASequenceNumberAndAnEnqueuedTime) {
  EventHubsEmulator em(
      {"--hub", "telemetry:1", "--preload", preload_file("resume"), "--preload-events", "100"});
  ASSERT_TRUE(em.running()) << em.stderr_text();
  std::vector<HubEvent> all;
  {
    AmqpEventSource source(options_for(em.connection_string()), clock_, random_);
    all = read_all({source.open_partition(PartitionId("0"), StartPosition::earliest())}, 100)["0"];
    ASSERT_EQ(all.size(), 100U);
  }
  const auto first_from = [&](const StartPosition& start) -> std::int64_t {
    AmqpEventSource source(options_for(em.connection_string()), clock_, random_);
    auto stream = source.open_partition(PartitionId("0"), start);
    std::vector<HubEvent> out;
    stream->take(out, 1, 10s);
    return out.empty() ? -1 : out.front().sequence_number.value();
  };
  EXPECT_EQ(first_from(StartPosition::after(SequenceNumber(41))), 42);
  EXPECT_EQ(first_from(StartPosition::at(SequenceNumber(41))), 41);
  EXPECT_EQ(first_from(StartPosition::after(all[20].offset)), 21);
  EXPECT_EQ(first_from(StartPosition::at(all[20].offset)), 20);
  // The first event enqueued at or after event 60's time: event 60 or an earlier one that
  // shares its millisecond, never a later one.
  const auto from_time = first_from(StartPosition::enqueued_since(all[60].enqueued_time));
  ASSERT_GE(from_time, 0);
  EXPECT_LE(from_time, 60);
  EXPECT_EQ(all[static_cast<std::size_t>(from_time)].enqueued_time, all[60].enqueued_time);
}

TEST_F(HubConsumer, LatestStartsAfterTheLastEventEnqueuedWhenOpened) {
  EventHubsEmulator em(
      {"--hub", "telemetry:4", "--preload", preload_file("latest"), "--preload-events", "40"});
  ASSERT_TRUE(em.running()) << em.stderr_text();
  AmqpEventSource source(options_for(em.connection_string()), clock_, random_);
  auto stream = source.open_partition(PartitionId("0"), StartPosition::latest());
  ASSERT_TRUE(eventually([&] { return stream->status().state == PartitionState::receiving; }));
  produce(em, 5, 1);
  auto got = read_all({stream}, 5)["0"];
  ASSERT_EQ(got.size(), 5U);
  expect_contiguous(got, 10, "0"); // the 10 preloaded events of partition 0 are skipped
  EXPECT_EQ(got.front().body, R"({"partition":0,"i":0})");
}

TEST_F(HubConsumer, RenewsItsTokenOnTheSameConnectionWithoutInterruption) {
  // The emulator honours each token for 2 s at most; unrenewed, the receivers would be held
  // and the rest of the stream would never come.
  EventHubsEmulator em({"--hub", "telemetry:2", "--token-lifetime", "2", "--preload",
                        preload_file("renew"), "--preload-events", "2000"});
  ASSERT_TRUE(em.running()) << em.stderr_text();
  HubOptions o = options_for(em.connection_string());
  o.token_lifetime = 2s;
  o.credit = CreditWindow{.high = 50, .low = 20};
  AmqpEventSource source(o, clock_, random_);
  std::vector<std::shared_ptr<PartitionStream>> streams = {
      source.open_partition(PartitionId("0"), StartPosition::earliest()),
      source.open_partition(PartitionId("1"), StartPosition::earliest())};
  auto first = read_all(streams, 100);
  // Three renewals: the first token and two of its successors have lapsed by now.
  ASSERT_TRUE(eventually([&] { return source.metrics().token_renewals.load() >= 3; }, 30s));
  auto rest = read_all(streams, 2000 - first["0"].size() - first["1"].size());
  std::size_t total = 0;
  for (const char* p : {"0", "1"}) {
    auto all = first[p];
    all.insert(all.end(), rest[p].begin(), rest[p].end());
    expect_contiguous(all, 0, p);
    total += all.size();
  }
  EXPECT_EQ(total, 2000U);
  EXPECT_EQ(source.metrics().connections_lost.load(), 0U);
  EXPECT_EQ(source.metrics().reattaches.load(), 0U);
  EXPECT_EQ(em.partition_status("telemetry", "0").at("consumer_attaches"), 1);
}

TEST_F(HubConsumer, FollowsTheIotHubRedirectToTheEventHubCompatibleEndpoint) {
  EventHubsEmulator em(iot_hub_emulator("iot", 60));
  ASSERT_TRUE(em.running()) << em.stderr_text();
  AmqpEventSource source(iot_hub_options(em), clock_, random_);
  auto hub = source.hub_properties(10s);
  ASSERT_TRUE(hub.ok()) << hub.error().message;
  EXPECT_EQ(hub->name.value(), "iot-ehub"); // read from the redirect address, not the IoT name
  ASSERT_EQ(hub->partition_ids.size(), 2U);
  EXPECT_EQ(source.metrics().redirects.load(), 1U);
  std::vector<std::shared_ptr<PartitionStream>> streams;
  for (const auto& id : hub->partition_ids) {
    streams.push_back(source.open_partition(id, StartPosition::earliest()));
  }
  auto got = read_all(streams, 60);
  EXPECT_EQ(got["0"].size() + got["1"].size(), 60U);
  expect_contiguous(got["0"], 0, "0");
  expect_contiguous(got["1"], 0, "1");

  // A device's message through the front end arrives with IoT Hub's system properties.
  testing::ChildProcess device({"node",
                                HUB2KUSTO_SOURCE_DIR "/tests/integration/hub/device_telemetry.js",
                                std::to_string(em.iothub_port()), "service", kIotHubKey, "dev-7"});
  ASSERT_EQ(device.wait_exit(60s), 0) << device.stderr_text();
  auto more = read_all(streams, 1);
  const auto& events = more["0"].empty() ? more["1"] : more["0"];
  ASSERT_EQ(events.size(), 1U);
  const HubEvent& e = events.front();
  EXPECT_EQ(e.body, R"({"temp":22.5})");
  ASSERT_TRUE(e.annotation("iothub-connection-device-id").has_value());
  EXPECT_EQ(std::get<std::string>(e.annotation("iothub-connection-device-id")->value), "dev-7");
  EXPECT_EQ(std::get<std::string>(e.annotation("iothub-message-source")->value), "Telemetry");
  EXPECT_EQ(e.annotation("iothub-enqueuedtime")->type, AmqpType::timestamp);
  ASSERT_TRUE(e.annotation("iothub-connection-auth-method").has_value());
  EXPECT_EQ(text(e.application_property("alert")), "no");
  EXPECT_EQ(text(e.property("content-type")), "application/json");
}

// After an IoT Hub failover the Event Hub-compatible endpoint has a new name and address, and
// the old one refuses connections: the source asks the front end for the redirect again and
// every partition goes on from where it was, with no event lost or repeated.
TEST_F(HubConsumer, FollowsAnIotHubFailoverToTheEndpointsNewAddress) {
  EventHubsEmulator em(iot_hub_emulator("failover", 60));
  ASSERT_TRUE(em.running()) << em.stderr_text();
  AmqpEventSource source(iot_hub_options(em), clock_, random_);
  auto hub = source.hub_properties(10s);
  ASSERT_TRUE(hub.ok()) << hub.error().message;
  std::vector<std::shared_ptr<PartitionStream>> streams;
  for (const auto& id : hub->partition_ids) {
    streams.push_back(source.open_partition(id, StartPosition::earliest()));
  }
  auto first = read_all(streams, 60);
  ASSERT_EQ(first["0"].size() + first["1"].size(), 60U);

  ASSERT_TRUE(em.iothub_failover());
  testing::ChildProcess producer({"node", HUB2KUSTO_SOURCE_DIR "/tests/integration/hub/produce.js",
                                  em.connection_string("iot-ehub"), "20", "2"});
  ASSERT_EQ(producer.wait_exit(60s), 0) << producer.stderr_text();
  auto rest = read_all(streams, 40, {}, 60s);
  for (const char* p : {"0", "1"}) {
    auto all = first[p];
    all.insert(all.end(), rest[p].begin(), rest[p].end());
    EXPECT_EQ(all.size(), 50U) << p;
    expect_contiguous(all, 0, p);
  }
  EXPECT_GE(source.metrics().redirects_refreshed.load(), 1U);
  EXPECT_EQ(source.metrics().redirects.load(), 1U + source.metrics().redirects_refreshed.load());
  auto after = source.hub_properties(10s);
  ASSERT_TRUE(after.ok()) << after.error().message;
  EXPECT_EQ(after->fully_qualified_namespace.rfind("failover1-", 0), 0U)
      << after->fully_qualified_namespace;
}

TEST_F(HubConsumer, DeliversExactlyTwentyThousandEventsAcrossThreeDroppedConnections) {
  EventHubsEmulator em(
      {"--hub", "telemetry:4", "--preload", preload_file("drops"), "--preload-events", "20000"});
  ASSERT_TRUE(em.running()) << em.stderr_text();
  AmqpEventSource source(options_for(em.connection_string()), clock_, random_);
  std::vector<std::shared_ptr<PartitionStream>> streams;
  for (const char* id : {"0", "1", "2", "3"}) {
    streams.push_back(source.open_partition(PartitionId(id), StartPosition::earliest()));
  }
  std::size_t drops = 0;
  auto got = read_all(streams, 20000, [&](std::size_t count) {
    // Drop every connection after 5k, 10k and 15k events were taken: each time the receivers
    // hold unread events and the service holds unsent ones.
    if (drops < 3 && count >= (drops + 1) * 5000) {
      ASSERT_TRUE(em.fault("/faults/drop-connections"));
      ++drops;
      // The next drop only once this one was noticed, so three drops are three reconnects.
      ASSERT_TRUE(eventually([&] { return source.metrics().connections_lost.load() == drops; }));
    }
  });
  std::size_t total = 0;
  for (const auto& [p, events] : got) {
    EXPECT_EQ(events.size(), 5000U) << p;
    expect_contiguous(events, 0, p);
    total += events.size();
  }
  EXPECT_EQ(total, 20000U);
  EXPECT_EQ(drops, 3U);
  EXPECT_EQ(source.metrics().connections_lost.load(), 3U);
  EXPECT_EQ(source.metrics().connections_opened.load(), 4U);
}

TEST_F(HubConsumer, RetriableDetachOfOnePartitionLeavesTheOthersAlone) {
  EventHubsEmulator em(
      {"--hub", "telemetry:4", "--preload", preload_file("detach"), "--preload-events", "4000"});
  ASSERT_TRUE(em.running()) << em.stderr_text();
  AmqpEventSource source(options_for(em.connection_string()), clock_, random_);
  std::vector<std::shared_ptr<PartitionStream>> streams;
  for (const char* id : {"0", "1", "2", "3"}) {
    streams.push_back(source.open_partition(PartitionId(id), StartPosition::earliest()));
  }
  bool detached = false;
  auto got = read_all(streams, 4000, [&](std::size_t count) {
    if (!detached && count >= 1000) {
      detached = true;
      ASSERT_TRUE(
          em.fault("/faults/detach?hub=telemetry&partition=1&condition=amqp:link:detach-forced"));
    }
  });
  for (const auto& [p, events] : got) {
    EXPECT_EQ(events.size(), 1000U) << p;
    expect_contiguous(events, 0, p);
  }
  EXPECT_EQ(source.metrics().reattaches.load(), 1U);
  EXPECT_EQ(source.metrics().connections_lost.load(), 0U);
  EXPECT_EQ(em.partition_status("telemetry", "1").at("consumer_attaches"), 2);
  for (const char* p : {"0", "2", "3"}) {
    EXPECT_EQ(em.partition_status("telemetry", p).at("consumer_attaches"), 1) << p;
  }
}

TEST_F(HubConsumer, EpochStealStopsOnlyThatPartition) {
  EventHubsEmulator em(
      {"--hub", "telemetry:4", "--preload", preload_file("steal"), "--preload-events", "4000"});
  ASSERT_TRUE(em.running()) << em.stderr_text();
  HubOptions first_options = options_for(em.connection_string());
  first_options.owner_level = 1;
  first_options.receiver_name = "first";
  AmqpEventSource first(first_options, clock_, random_);
  std::vector<std::shared_ptr<PartitionStream>> streams;
  for (const char* id : {"0", "1", "2", "3"}) {
    streams.push_back(first.open_partition(PartitionId(id), StartPosition::earliest()));
  }
  auto before = read_all(streams, 400);
  HubOptions second_options = first_options;
  second_options.owner_level = 2;
  second_options.receiver_name = "second";
  AmqpEventSource second(second_options, clock_, random_);
  auto taken = second.open_partition(PartitionId("2"), StartPosition::earliest());
  ASSERT_TRUE(eventually([&] { return streams[2]->status().state == PartitionState::stolen; }));
  EXPECT_NE(streams[2]->status().reason.find("amqp:link:stolen"), std::string::npos)
      << streams[2]->status().reason;
  EXPECT_EQ(first.metrics().partitions_stolen.load(), 1U);
  // The other three partitions of the first receiver go on to the end.
  auto after = read_all({streams[0], streams[1], streams[3]},
                        3000 - before["0"].size() - before["1"].size() - before["3"].size());
  for (const char* p : {"0", "1", "3"}) {
    auto all = before[p];
    all.insert(all.end(), after[p].begin(), after[p].end());
    EXPECT_EQ(all.size(), 1000U) << p;
    expect_contiguous(all, 0, p);
    EXPECT_EQ(streams[p[0] - '0']->status().state, PartitionState::receiving);
  }
  // And the new owner reads partition 2 from the start.
  auto stolen = read_all({taken}, 1000)["2"];
  EXPECT_EQ(stolen.size(), 1000U);
}

TEST_F(HubConsumer, ABadKeyFailsFastWithAClearMessageAndNoSecret) {
  EventHubsEmulator em({"--hub", "telemetry:2"});
  ASSERT_TRUE(em.running()) << em.stderr_text();
  const std::string wrong_key = "not-the-key-Zm9vYmFyc2VjcmV0";
  std::FILE* log_file = std::tmpfile();
  configure_logging(spdlog::level::trace, LogFormat::text, log_file);
  {
    AmqpEventSource source(options_for(em.connection_string("telemetry", wrong_key)), clock_,
                           random_);
    auto stream = source.open_partition(PartitionId("0"), StartPosition::earliest());
    auto hub = source.hub_properties(20s);
    ASSERT_FALSE(hub.ok());
    const std::string& message = hub.error().message;
    EXPECT_NE(message.find("refused the SAS token"), std::string::npos) << message;
    EXPECT_NE(message.find("RootManageSharedAccessKey"), std::string::npos) << message;
    EXPECT_NE(message.find("sb://127.0.0.1"), std::string::npos) << message;
    EXPECT_NE(message.find("401"), std::string::npos) << message;
    EXPECT_EQ(message.find(wrong_key), std::string::npos);
    ASSERT_TRUE(eventually([&] { return stream->status().state == PartitionState::failed; }));
    EXPECT_EQ(stream->status().reason, message);
    EXPECT_EQ(source.metrics().connections_opened.load(), 0U);
  }
  std::fflush(log_file);
  std::rewind(log_file);
  std::string logged;
  char chunk[4096];
  std::size_t n = 0;
  while ((n = std::fread(chunk, 1, sizeof chunk, log_file)) > 0) {
    logged.append(chunk, n);
  }
  configure_logging(spdlog::level::info, LogFormat::text);
  std::fclose(log_file);
  EXPECT_NE(logged.find("refused the SAS token"), std::string::npos) << logged;
  EXPECT_EQ(logged.find(wrong_key), std::string::npos);
  EXPECT_EQ(logged.find("sig="), std::string::npos);
}

TEST_F(HubConsumer, AStalledReaderHoldsAtMostTheCreditWindow) {
  EventHubsEmulator em(
      {"--hub", "telemetry:1", "--preload", preload_file("window"), "--preload-events", "2000"});
  ASSERT_TRUE(em.running()) << em.stderr_text();
  HubOptions o = options_for(em.connection_string());
  o.credit = CreditWindow{.high = 100, .low = 40};
  AmqpEventSource source(o, clock_, random_);
  auto stream = source.open_partition(PartitionId("0"), StartPosition::earliest());
  // A management round trip on the same connection after the window filled: any transfer
  // the service sent before its reply has arrived by then.
  const auto settle = [&] { ASSERT_TRUE(source.hub_properties(10s).ok()); };
  const auto deliveries = [&] {
    return em.partition_status("telemetry", "0").at("deliveries").get<int>();
  };

  ASSERT_TRUE(eventually([&] { return stream->credit().buffered == 100; }));
  settle();
  EXPECT_EQ(stream->credit().buffered, 100U);
  EXPECT_EQ(stream->credit().credit, 0U);
  EXPECT_EQ(deliveries(), 100);

  // Taking 30 leaves 70 in flight, above the low watermark: no credit yet.
  std::vector<HubEvent> taken;
  ASSERT_EQ(stream->take(taken, 30, 1s), 30U);
  settle();
  EXPECT_EQ(stream->credit().buffered, 70U);
  EXPECT_EQ(stream->credit().credit, 0U);
  EXPECT_EQ(deliveries(), 100);

  // Down to 30 (at or below 40): the window is filled again, to 100 and no further.
  ASSERT_EQ(stream->take(taken, 40, 1s), 40U);
  ASSERT_TRUE(eventually([&] { return stream->credit().buffered == 100; }));
  settle();
  EXPECT_EQ(stream->credit().buffered, 100U);
  EXPECT_EQ(deliveries(), 170);
  EXPECT_EQ(stream->credit().max_in_flight, 100U);
  expect_contiguous(taken, 0, "0");
}

TEST_F(HubConsumer, SpeaksTlsAndVerifiesTheCertificate) {
  const std::string certs = make_certificates();
  ASSERT_FALSE(certs.empty()) << "openssl could not make the test certificates";
  EventHubsEmulator em(serving_tls(certs, {"--hub", "telemetry:1", "--tls-port", "0", "--preload",
                                           preload_file("tls"), "--preload-events", "40"}));
  ASSERT_TRUE(em.running() && em.tls_port() > 0) << em.stderr_text();
  // No UseDevelopmentEmulator: AMQPS, the certificate checked against the CA and the name.
  const std::string cs = "Endpoint=sb://localhost:" + std::to_string(em.tls_port()) +
                         ";SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey="
                         "SAS_KEY_VALUE;EntityPath=telemetry";
  {
    HubOptions o = options_for(cs);
    o.ca_file = certs + "ca.pem";
    AmqpEventSource source(o, clock_, random_);
    auto got = read_all({source.open_partition(PartitionId("0"), StartPosition::earliest())}, 40);
    EXPECT_EQ(got["0"].size(), 40U);
  }
  expect_untrusted(cs);
}

// Current SDKs ask for com.microsoft:georeplication on every receiver link; Proton cannot, so
// the io writes it into the attach frames, under TLS as over plain AMQP. The emulator refuses
// a receiver whose attach lacks it (reading its own frame trace).
TEST_F(HubConsumer, EveryReceiverAsksForGeoReplicationAsTheSdksDo) {
  const std::string certs = make_certificates();
  ASSERT_FALSE(certs.empty()) << "openssl could not make the test certificates";
  EventHubsEmulator em(
      serving_tls(certs, {"--hub", "telemetry:2", "--tls-port", "0", "--preload",
                          preload_file("geo"), "--preload-events", "30",
                          "--require-receiver-capability", "com.microsoft:georeplication"}));
  ASSERT_TRUE(em.running() && em.tls_port() > 0) << em.stderr_text();
  const std::string amqps = "Endpoint=sb://localhost:" + std::to_string(em.tls_port()) +
                            ";SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey="
                            "SAS_KEY_VALUE;EntityPath=telemetry";
  for (const std::string& cs : {em.connection_string(), amqps}) {
    HubOptions o = options_for(cs);
    o.ca_file = certs + "ca.pem";
    AmqpEventSource source(o, clock_, random_);
    auto got = read_all({source.open_partition(PartitionId("0"), StartPosition::earliest()),
                         source.open_partition(PartitionId("1"), StartPosition::earliest())},
                        30);
    EXPECT_EQ(got["0"].size(), 15U) << cs.substr(0, cs.find(';'));
    EXPECT_EQ(got["1"].size(), 15U) << cs.substr(0, cs.find(';'));
  }
}

TEST_F(HubConsumer, ANonRetriableDetachFailsThatPartitionWithTheServiceReason) {
  EventHubsEmulator em(
      {"--hub", "telemetry:2", "--preload", preload_file("disabled"), "--preload-events", "200"});
  ASSERT_TRUE(em.running()) << em.stderr_text();
  AmqpEventSource source(options_for(em.connection_string()), clock_, random_);
  auto zero = source.open_partition(PartitionId("0"), StartPosition::earliest());
  auto one = source.open_partition(PartitionId("1"), StartPosition::earliest());
  ASSERT_TRUE(eventually([&] { return one->status().state == PartitionState::receiving; }));
  ASSERT_TRUE(em.fault("/faults/detach?hub=telemetry&partition=1&condition=com.microsoft:"
                       "entity-disabled&description=The%20entity%20is%20disabled"));
  ASSERT_TRUE(eventually([&] { return one->status().state == PartitionState::failed; }));
  EXPECT_NE(one->status().reason.find("com.microsoft:entity-disabled"), std::string::npos)
      << one->status().reason;
  EXPECT_EQ(source.metrics().partitions_failed.load(), 1U);
  EXPECT_EQ(source.metrics().reattaches.load(), 0U);
  auto others = read_all({zero}, 100);
  EXPECT_EQ(others["0"].size(), 100U);
  EXPECT_EQ(zero->status().state, PartitionState::receiving);
}

} // namespace
} // namespace hub2kusto::hub
