#include "common/hub_connection_string.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace hub2kusto {
namespace {

// Made-up keys: distinctive so a test can prove they never reach an error message.
constexpr std::string_view kKey = "S3cr3tKeyValueZZZ=";
constexpr std::string_view kIotKey = "U2VjcmV0SW90S2V5WlpaWlo=";

TEST(EventHubsConnectionString, ParsesThePortalForm) {
  auto cs = parse_event_hubs_connection_string(
      "Endpoint=sb://myns.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;"
      "SharedAccessKey=S3cr3tKeyValueZZZ=;EntityPath=telemetry");
  ASSERT_TRUE(cs) << cs.error().message;
  EXPECT_EQ(cs->host, "myns.servicebus.windows.net");
  EXPECT_EQ(cs->port, std::nullopt);
  EXPECT_EQ(cs->amqp_port(), 5671);
  EXPECT_TRUE(cs->uses_tls());
  EXPECT_EQ(cs->key_name, "RootManageSharedAccessKey");
  EXPECT_EQ(cs->key.reveal(), kKey);
  EXPECT_EQ(cs->entity_path, "telemetry");
  EXPECT_EQ(cs->resource_uri("telemetry"), "sb://myns.servicebus.windows.net/telemetry");
  EXPECT_TRUE(cs->ignored_keys.empty());
}

TEST(EventHubsConnectionString, KeysAreCaseInsensitiveAndValuesKeepEquals) {
  auto cs = parse_event_hubs_connection_string(
      "endpoint=sb://myns.servicebus.windows.net;sharedaccesskeyname=r;"
      "SHAREDACCESSKEY=a=b==;entitypath=hub;");
  ASSERT_TRUE(cs) << cs.error().message;
  EXPECT_EQ(cs->key.reveal(), "a=b==");
  EXPECT_EQ(cs->entity_path, "hub");
}

TEST(EventHubsConnectionString, EmulatorFormUsesPlainAmqpOn5672) {
  auto cs = parse_event_hubs_connection_string(
      "Endpoint=sb://localhost;SharedAccessKeyName=RootManageSharedAccessKey;"
      "SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;");
  ASSERT_TRUE(cs);
  EXPECT_TRUE(cs->use_development_emulator);
  EXPECT_FALSE(cs->uses_tls());
  EXPECT_EQ(cs->amqp_port(), 5672);
  auto with_port = parse_event_hubs_connection_string(
      "Endpoint=sb://127.0.0.1:40123;SharedAccessKeyName=r;SharedAccessKey=k;"
      "UseDevelopmentEmulator=True");
  ASSERT_TRUE(with_port);
  EXPECT_EQ(with_port->amqp_port(), 40123);
}

TEST(EventHubsConnectionString, AcceptsAPrebuiltSignature) {
  auto cs = parse_event_hubs_connection_string(
      "Endpoint=sb://myns.servicebus.windows.net/;SharedAccessSignature=SharedAccessSignature "
      "sr=sb%3a%2f%2fmyns.servicebus.windows.net%2fhub&sig=abc%3d&se=1735689600&skn=listen;"
      "EntityPath=hub");
  ASSERT_TRUE(cs) << cs.error().message;
  EXPECT_FALSE(cs->shared_access_signature.empty());
  EXPECT_EQ(cs->signature_expiry.time_since_epoch().count(), 1735689600);
  EXPECT_EQ(cs->key_name, "listen");
  EXPECT_TRUE(cs->key.empty());
}

TEST(EventHubsConnectionString, ReportsUnknownKeysWithoutFailing) {
  auto cs = parse_event_hubs_connection_string(
      "Endpoint=sb://n.servicebus.windows.net/;SharedAccessKeyName=r;SharedAccessKey=k;"
      "OperationTimeout=30");
  ASSERT_TRUE(cs);
  EXPECT_EQ(cs->ignored_keys, std::vector<std::string>{"OperationTimeout"});
}

TEST(EventHubsConnectionString, ReadsTheTransportTypeTheDotNetToolingWrites) {
  auto ws = parse_event_hubs_connection_string(
      "Endpoint=sb://n.servicebus.windows.net/;SharedAccessKeyName=r;SharedAccessKey=k;"
      "TransportType=AmqpWebSockets");
  ASSERT_TRUE(ws) << ws.error().message;
  EXPECT_EQ(ws->transport, HubTransport::websockets);
  EXPECT_TRUE(ws->ignored_keys.empty());
  auto amqp = parse_event_hubs_connection_string(
      "Endpoint=sb://n.servicebus.windows.net/;SharedAccessKeyName=r;SharedAccessKey=k;"
      "transporttype=amqp");
  ASSERT_TRUE(amqp) << amqp.error().message;
  EXPECT_EQ(amqp->transport, HubTransport::amqp);
  auto none = parse_event_hubs_connection_string(
      "Endpoint=sb://n.servicebus.windows.net/;SharedAccessKeyName=r;SharedAccessKey=k");
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->transport.has_value());
  auto iot = parse_iot_hub_connection_string(
      "HostName=h.azure-devices.net;SharedAccessKeyName=service;SharedAccessKey=a2V5;"
      "TransportType=AmqpWebSockets");
  ASSERT_TRUE(iot) << iot.error().message;
  EXPECT_EQ(iot->transport, HubTransport::websockets);
  auto bad = parse_event_hubs_connection_string(
      "Endpoint=sb://n.servicebus.windows.net/;SharedAccessKeyName=r;SharedAccessKey=k;"
      "TransportType=Mqtt");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message,
            "Event Hubs connection string: 'TransportType' must be Amqp or AmqpWebSockets");
}

struct MalformedHubCase {
  std::string name;
  std::string input;
  std::string error;
};

// gtest would otherwise print the raw bytes of the parameter; the name says enough.
void PrintTo(const MalformedHubCase& m, std::ostream* os) {
  *os << m.name;
}

// Every malformed form gets exactly this message, and no message contains a key.
class MalformedHubConnectionString : public ::testing::TestWithParam<MalformedHubCase> {};

TEST_P(MalformedHubConnectionString, FailsWithExactMessageAndNoSecret) {
  const auto& c = GetParam();
  auto cs = parse_hub_connection_string(c.input);
  ASSERT_FALSE(cs);
  EXPECT_EQ(cs.error().message, c.error);
  EXPECT_EQ(cs.error().message.find(kKey), std::string::npos);
  EXPECT_EQ(cs.error().message.find(kIotKey), std::string::npos);
  EXPECT_EQ(cs.error().message.find("S3cr3t"), std::string::npos);
}

const std::string kEp = "Endpoint=sb://myns.servicebus.windows.net/;";
const std::string kCred = "SharedAccessKeyName=rule;SharedAccessKey=S3cr3tKeyValueZZZ=;";

INSTANTIATE_TEST_SUITE_P(
    Forms, MalformedHubConnectionString,
    ::testing::Values(
        MalformedHubCase{
            "Empty", "",
            "hub connection string: neither 'Endpoint' (Event Hubs) nor 'HostName' (IoT "
            "Hub) is present"},
        MalformedHubCase{"NoEquals", kEp + kCred + "EntityPath",
                         "hub connection string: segment 4 has no '=' (expected Key=Value pairs "
                         "separated by ';')"},
        MalformedHubCase{"NoEqualsBareSecret", "Endpoint=sb://h/;S3cr3tKeyValueZZZ",
                         "hub connection string: segment 2 has no '=' (expected Key=Value pairs "
                         "separated by ';')"},
        MalformedHubCase{"ValueWithoutKey", kEp + "=S3cr3tKeyValueZZZ=",
                         "hub connection string: segment 2 has a value but no key"},
        MalformedHubCase{
            "MissingEndpoint", kCred + "EntityPath=hub",
            "hub connection string: neither 'Endpoint' (Event Hubs) nor 'HostName' (IoT "
            "Hub) is present"},
        MalformedHubCase{
            "EndpointWithoutScheme", "Endpoint=myns.servicebus.windows.net;" + kCred,
            "Event Hubs connection string: 'Endpoint' must be a URI with a scheme, like "
            "sb://<host>/"},
        MalformedHubCase{"EndpointWithoutHost", "Endpoint=sb:///;" + kCred,
                         "Event Hubs connection string: 'Endpoint' has no host"},
        MalformedHubCase{"EndpointBadPort", "Endpoint=sb://myns:70000/;" + kCred,
                         "Event Hubs connection string: 'Endpoint' has a port that is not a number "
                         "from 1 to 65535"},
        MalformedHubCase{"EmptyValue",
                         kEp + "SharedAccessKeyName=;SharedAccessKey=S3cr3tKeyValueZZZ=",
                         "Event Hubs connection string: 'SharedAccessKeyName' has an empty value"},
        MalformedHubCase{"DuplicateKey", kEp + kCred + "sharedaccesskey=S3cr3tKeyValueZZZ=",
                         "Event Hubs connection string: 'SharedAccessKey' appears more than once"},
        MalformedHubCase{"KeyWithoutName", kEp + "SharedAccessKey=S3cr3tKeyValueZZZ=",
                         "Event Hubs connection string: 'SharedAccessKeyName' is missing "
                         "('SharedAccessKey' is set)"},
        MalformedHubCase{"NameWithoutKey", kEp + "SharedAccessKeyName=rule",
                         "Event Hubs connection string: 'SharedAccessKey' is missing "
                         "('SharedAccessKeyName' is set)"},
        MalformedHubCase{
            "KeyAndSignature",
            kEp + kCred + "SharedAccessSignature=SharedAccessSignature sr=a&sig=S3cr3t&se=1&skn=r",
            "Event Hubs connection string: give either 'SharedAccessSignature' or "
            "'SharedAccessKeyName' with 'SharedAccessKey', not both"},
        MalformedHubCase{
            "SignatureWithoutPrefix", kEp + "SharedAccessSignature=sr=a&sig=S3cr3t&se=1",
            "Event Hubs connection string: 'SharedAccessSignature' is malformed: a shared "
            "access signature must start with 'SharedAccessSignature '"},
        MalformedHubCase{"SignatureWithoutExpiry",
                         kEp + "SharedAccessSignature=SharedAccessSignature sr=a&sig=S3cr3t&skn=r",
                         "Event Hubs connection string: 'SharedAccessSignature' is malformed: the "
                         "shared access signature has no 'se' (expiry) field"},
        MalformedHubCase{"SignatureBadExpiry",
                         kEp +
                             "SharedAccessSignature=SharedAccessSignature sr=a&sig=S3cr3t&se=soon",
                         "Event Hubs connection string: 'SharedAccessSignature' is malformed: the "
                         "shared access signature expiry 'se' is not a positive number of seconds"},
        MalformedHubCase{
            "EmulatorFlagNotBoolean", kEp + kCred + "UseDevelopmentEmulator=yes",
            "Event Hubs connection string: 'UseDevelopmentEmulator' must be true or false"},
        MalformedHubCase{
            "EmulatorOnTlsPort",
            "Endpoint=sb://localhost:5671;" + kCred + "UseDevelopmentEmulator=true",
            "Event Hubs connection string: 'Endpoint' names port 5671 (AMQPS), but the "
            "development emulator uses plain AMQP"},
        MalformedHubCase{
            "IotDeviceConnectionString",
            "HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessKey=" +
                std::string(kIotKey),
            "IoT Hub connection string: this is a device connection string ('DeviceId' "
            "is set); reading events needs a service connection string with a policy that "
            "has ServiceConnect, such as 'service' or 'iothubowner'"},
        MalformedHubCase{"IotMissingPolicy",
                         "HostName=myhub.azure-devices.net;SharedAccessKey=" + std::string(kIotKey),
                         "IoT Hub connection string: 'SharedAccessKeyName' is missing (a service "
                         "policy such as 'service' or 'iothubowner')"},
        MalformedHubCase{"IotMissingKey",
                         "HostName=myhub.azure-devices.net;SharedAccessKeyName=service",
                         "IoT Hub connection string: 'SharedAccessKey' is missing"},
        MalformedHubCase{
            "IotKeyNotBase64",
            "HostName=myhub.azure-devices.net;SharedAccessKeyName=service;"
            "SharedAccessKey=S3cr3t!notbase64",
            "IoT Hub connection string: 'SharedAccessKey' is not valid base64 (IoT Hub "
            "keys are base64)"},
        MalformedHubCase{
            "IotSignature",
            "HostName=myhub.azure-devices.net;SharedAccessSignature=SharedAccessSignature "
            "sr=x&sig=S3cr3t&se=1",
            "IoT Hub connection string: 'SharedAccessSignature' is not supported for IoT "
            "Hub (the token could not be renewed); use 'SharedAccessKeyName' and "
            "'SharedAccessKey'"},
        MalformedHubCase{
            "IotBadHost",
            "HostName=my hub;SharedAccessKeyName=s;SharedAccessKey=" + std::string(kIotKey),
            "IoT Hub connection string: 'HostName' has an invalid character in its host "
            "name"}),
    [](const auto& param_info) { return param_info.param.name; });

TEST(IotHubConnectionString, ParsesTheServiceForm) {
  auto cs = parse_hub_connection_string("HostName=myhub.azure-devices.net;SharedAccessKeyName="
                                        "iothubowner;SharedAccessKey=" +
                                        std::string(kIotKey));
  ASSERT_TRUE(cs) << cs.error().message;
  const auto* iot = std::get_if<IotHubConnectionString>(&*cs);
  ASSERT_NE(iot, nullptr);
  EXPECT_EQ(iot->host, "myhub.azure-devices.net");
  EXPECT_EQ(iot->hub_name, "myhub");
  EXPECT_EQ(iot->key_name, "iothubowner");
  EXPECT_EQ(iot->amqp_port(), 5671);
}

TEST(IotHubConnectionString, EmulatorExtensionTakesAPort) {
  auto cs = parse_iot_hub_connection_string("HostName=127.0.0.1:41000;SharedAccessKeyName=s;"
                                            "SharedAccessKey=" +
                                            std::string(kIotKey) + ";UseDevelopmentEmulator=true");
  ASSERT_TRUE(cs) << cs.error().message;
  EXPECT_EQ(cs->amqp_port(), 41000);
  EXPECT_FALSE(cs->uses_tls());
}

TEST(EventHubsConnectionString, NeverReportsAnIgnoredKeyThatCouldBeASecret) {
  // A key pasted without its name must not come back in a warning.
  auto cs = parse_event_hubs_connection_string(kEp + kCred + "S3cr3tKeyValueZZZ=x");
  ASSERT_TRUE(cs);
  ASSERT_EQ(cs->ignored_keys.size(), 1u);
  EXPECT_EQ(cs->ignored_keys[0], "<a key that is not a plain word>");
}

TEST(HubConnectionString, DetectsTheKind) {
  auto eh = parse_hub_connection_string(kEp + kCred);
  ASSERT_TRUE(eh);
  EXPECT_TRUE(std::holds_alternative<EventHubsConnectionString>(*eh));
}

TEST(EventHubsConnectionString, NoKeyMeansEntraId) {
  const auto cs = parse_event_hubs_connection_string(
      "Endpoint=sb://myns.servicebus.windows.net/;EntityPath=telemetry");
  ASSERT_TRUE(cs) << cs.error().message;
  EXPECT_FALSE(cs->has_key());
  EXPECT_EQ(cs->host, "myns.servicebus.windows.net");
  EXPECT_EQ(cs->entity_path, "telemetry");
  EXPECT_TRUE(parse_event_hubs_connection_string(
                  "Endpoint=sb://myns.servicebus.windows.net/;SharedAccessKeyName=r;"
                  "SharedAccessKey=k")
                  ->has_key());
}

} // namespace
} // namespace hub2kusto
