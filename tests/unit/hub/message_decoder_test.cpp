#include "hub/message_decoder.hpp"

#include <proton/annotation_key.hpp>
#include <proton/binary.hpp>
#include <proton/codec/list.hpp>
#include <proton/codec/map.hpp>
#include <proton/codec/vector.hpp>
#include <proton/map.hpp>
#include <proton/message.hpp>
#include <proton/message_id.hpp>
#include <proton/symbol.hpp>
#include <proton/timestamp.hpp>
#include <proton/uuid.hpp>
#include <proton/value.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace hub2kusto::hub {
namespace {

// Proton encodes, our decoder reads: two independent implementations of the format.
Result<HubEvent> decode(const proton::message& m, const char* partition) {
  std::vector<char> wire;
  m.encode(wire);
  return decode_event(std::string_view(wire.data(), wire.size()), PartitionId(partition));
}

proton::message stamped(std::int64_t sequence = 5) {
  proton::message m;
  m.message_annotations().put(proton::symbol("x-opt-sequence-number"), sequence);
  m.message_annotations().put(proton::symbol("x-opt-offset"), std::string("1024"));
  m.message_annotations().put(proton::symbol("x-opt-enqueued-time"),
                              proton::timestamp(1'700'000'000'123));
  return m;
}

TEST(MessageDecoder, PromotesThePositionAndKeepsEveryAnnotationWithItsType) {
  proton::message m = stamped();
  m.message_annotations().put(proton::symbol("x-opt-partition-key"), std::string("device-7"));
  m.message_annotations().put(proton::symbol("iothub-connection-device-id"), std::string("dev-1"));
  m.message_annotations().put(proton::symbol("iothub-enqueuedtime"), proton::timestamp(42));
  m.body(proton::binary(std::string(R"({"t":1})")));
  m.inferred(true); // a binary body sent as a data section, as every SDK sends events
  auto e = decode(m, "3");
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->partition.value(), "3");
  EXPECT_EQ(e->sequence_number.value(), 5);
  EXPECT_EQ(e->offset.value(), "1024");
  EXPECT_EQ(e->enqueued_time.time_since_epoch().count(), 1'700'000'000'123);
  EXPECT_EQ(e->partition_key, "device-7");
  EXPECT_EQ(e->body_type, BodyType::data);
  EXPECT_EQ(e->body, R"({"t":1})");
  ASSERT_TRUE(e->annotation("iothub-connection-device-id").has_value());
  EXPECT_EQ(e->annotation("iothub-connection-device-id")->type, AmqpType::string);
  ASSERT_TRUE(e->annotation("iothub-enqueuedtime").has_value());
  EXPECT_EQ(e->annotation("iothub-enqueuedtime")->type, AmqpType::timestamp);
  EXPECT_EQ(
      std::get<Timestamp>(e->annotation("iothub-enqueuedtime")->value).time_since_epoch().count(),
      42);
  EXPECT_EQ(e->annotation("x-opt-sequence-number")->type, AmqpType::long_);
  EXPECT_EQ(e->annotations.size(), 2U); // the four promoted ones are in their fields
}

TEST(MessageDecoder, ApplicationAndAmqpPropertiesKeepTheirTypes) {
  proton::message m = stamped();
  m.properties().put("Table", std::string("Telemetry"));
  m.properties().put("count", std::int32_t{7});
  m.properties().put("ratio", 0.5);
  m.properties().put("on", true);
  m.id(proton::message_id(
      proton::uuid::copy("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10")));
  m.correlation_id(proton::message_id(std::uint64_t{99}));
  m.content_type("application/json");
  m.content_encoding("gzip");
  m.subject("s");
  m.user("alice");
  m.creation_time(proton::timestamp(1000));
  auto e = decode(m, "0");
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(std::get<std::string>(e->application_property("Table")->value), "Telemetry");
  EXPECT_EQ(e->application_property("count")->type, AmqpType::int_);
  EXPECT_EQ(std::get<std::int64_t>(e->application_property("count")->value), 7);
  EXPECT_EQ(std::get<double>(e->application_property("ratio")->value), 0.5);
  EXPECT_EQ(std::get<bool>(e->application_property("on")->value), true);
  EXPECT_EQ(e->property("message-id")->type, AmqpType::uuid);
  EXPECT_EQ(std::get<std::string>(e->property("message-id")->value),
            "01020304-0506-0708-090a-0b0c0d0e0f10");
  EXPECT_EQ(e->property("correlation-id")->type, AmqpType::ulong);
  EXPECT_EQ(std::get<std::uint64_t>(e->property("correlation-id")->value), 99U);
  EXPECT_EQ(std::get<std::string>(e->property("content-type")->value), "application/json");
  EXPECT_EQ(std::get<std::string>(e->property("content-encoding")->value), "gzip");
  EXPECT_EQ(std::get<std::string>(e->property("subject")->value), "s");
  EXPECT_EQ(std::get<std::string>(e->property("user-id")->value), "alice");
  EXPECT_EQ(e->property("creation-time")->type, AmqpType::timestamp);
  EXPECT_EQ(e->property("to"), nullptr); // absent fields are not invented
}

TEST(MessageDecoder, ABinaryAmqpValueIsTellableFromADataSection) {
  proton::message m = stamped();
  m.body(proton::binary(std::string("raw")));
  auto e = decode(m, "0");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->body_type, BodyType::value);
  EXPECT_EQ(e->body, "raw");
}

TEST(MessageDecoder, SeveralDataSectionsAreConcatenated) {
  // Two data sections after the annotations, encoded by hand (Proton C++ writes only one).
  proton::message m = stamped();
  std::vector<char> wire;
  m.encode(wire);
  for (const char* part : {"hello ", "world"}) {
    const std::string p(part);
    wire.insert(wire.end(), {'\x00', '\x53', '\x75', '\xa0', static_cast<char>(p.size())});
    wire.insert(wire.end(), p.begin(), p.end());
  }
  auto e = decode_event(std::string_view(wire.data(), wire.size()), PartitionId("0"));
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->body_type, BodyType::data);
  EXPECT_EQ(e->body, "hello world");
}

TEST(MessageDecoder, AmqpValueBodiesBecomeTextOrJson) {
  proton::message text = stamped();
  text.body(std::string("plain text"));
  auto t = decode(text, "0");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->body_type, BodyType::value);
  EXPECT_EQ(t->body, "plain text");

  proton::message map = stamped();
  map.body(std::map<std::string, proton::value>{{"a", proton::value(1)},
                                                {"b", proton::value(std::string("x"))}});
  auto m = decode(map, "0");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->body_type, BodyType::value);
  EXPECT_EQ(nlohmann::json::parse(m->body), nlohmann::json::parse(R"({"a":1,"b":"x"})"));
}

TEST(MessageDecoder, TimestampsBeyondTheSystemClockStayMilliseconds) {
  proton::message m = stamped();
  m.body(std::map<std::string, proton::value>{
      {"far", proton::value(proton::timestamp(7'494'169'053'895'683'952))},
      {"near", proton::value(proton::timestamp(0))}});
  auto e = decode(m, "0");
  ASSERT_TRUE(e.ok());
  const auto body = nlohmann::json::parse(e->body);
  EXPECT_EQ(body["far"], 7'494'169'053'895'683'952);
  EXPECT_EQ(body["near"], "1970-01-01T00:00:00.0000000Z");
}

TEST(MessageDecoder, AnAmqpSequenceBodyBecomesAJsonArray) {
  proton::message m = stamped();
  m.body(proton::value(
      std::vector<proton::value>{proton::value(1), proton::value(std::string("two"))}));
  m.inferred(true); // a list body sent as an amqp-sequence section
  std::vector<char> wire;
  m.encode(wire);
  auto e = decode_event(std::string_view(wire.data(), wire.size()), PartitionId("0"));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->body_type, BodyType::sequence);
  EXPECT_EQ(nlohmann::json::parse(e->body), nlohmann::json::parse(R"([1,"two"])"));
}

TEST(MessageDecoder, AnEventWithoutAPositionIsRejectedWithItsPartition) {
  proton::message m;
  m.body(proton::binary(std::string("x")));
  auto e = decode(m, "2");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("x-opt-sequence-number"), std::string::npos);
  EXPECT_NE(e.error().message.find("partition 2"), std::string::npos);

  proton::message wrong_type = stamped();
  wrong_type.message_annotations().put(proton::symbol("x-opt-sequence-number"), std::string("5"));
  EXPECT_FALSE(decode(wrong_type, "0").ok());
}

TEST(MessageDecoder, EncodedBytesThatAreNotAMessageAreAnErrorNotAThrow) {
  EXPECT_FALSE(decode_event(std::string_view("\x00\x53\x77\xff\xff", 5), PartitionId("0")).ok());
  EXPECT_FALSE(decode_event(std::string_view(""), PartitionId("0")).ok());
  std::vector<char> bytes;
  stamped().encode(bytes);
  EXPECT_TRUE(decode_event(std::string_view(bytes.data(), bytes.size()), PartitionId("0")).ok());
}

TEST(MessageDecoder, ABodyNestedTooDeeplyIsAnUndecodableEventWithItsPositionsAndRawBytes) {
  proton::message m = stamped(77);
  m.properties().put("Table", std::string("T"));
  proton::value nested = std::int64_t{1};
  for (int i = 0; i < 70; ++i) { // deeper than any decoder should follow
    std::vector<proton::value> list{nested};
    nested = list;
  }
  m.body(nested);
  std::vector<char> wire;
  m.encode(wire);
  auto e = decode_event(std::string_view(wire.data(), wire.size()), PartitionId("2"));
  ASSERT_TRUE(e.ok()) << e.error().message;
  ASSERT_TRUE(e->undecodable.has_value());
  EXPECT_NE(e->undecodable->find("nest too deeply"), std::string::npos) << *e->undecodable;
  EXPECT_EQ(e->sequence_number.value(), 77);
  EXPECT_EQ(e->offset.value(), "1024");
  EXPECT_EQ(e->body, std::string(wire.data(), wire.size())); // the raw message, for the record
  EXPECT_TRUE(e->application_properties.empty());            // nothing half-decoded is kept
}

TEST(MessageDecoder, WithoutItsPositionsAnUndecodableMessageStaysAnError) {
  proton::message m; // no annotations
  proton::value nested = std::int64_t{1};
  for (int i = 0; i < 70; ++i) {
    std::vector<proton::value> list{nested};
    nested = list;
  }
  m.body(nested);
  std::vector<char> wire;
  m.encode(wire);
  EXPECT_FALSE(decode_event(std::string_view(wire.data(), wire.size()), PartitionId("2")).ok());
}

} // namespace
} // namespace hub2kusto::hub
