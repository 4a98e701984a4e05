#include "common/sas_token.hpp"

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace hub2kusto {
namespace {

using std::chrono::seconds;
using std::chrono::sys_seconds;

nlohmann::json load_vectors() {
  std::ifstream in(HUB2KUSTO_SAS_VECTORS);
  EXPECT_TRUE(in) << "cannot open " << HUB2KUSTO_SAS_VECTORS;
  std::stringstream buffer;
  buffer << in.rdbuf();
  return nlohmann::json::parse(buffer.str());
}

// Compares without printing either token: a failure names the vector and the first byte that
// differs, never a signature.
void expect_same_token(const std::string& ours, const std::string& theirs, std::size_t index) {
  if (ours == theirs) {
    return;
  }
  std::size_t at = 0;
  while (at < ours.size() && at < theirs.size() && ours[at] == theirs[at]) {
    ++at;
  }
  ADD_FAILURE() << "vector " << index << ": the C++ token differs from the SDK's at byte " << at
                << " (lengths " << ours.size() << " and " << theirs.size() << ")";
}

TEST(SasToken, MatchesAzureCoreAmqpEventHubsVectorsByteForByte) {
  const auto vectors = load_vectors();
  ASSERT_GE(vectors.at("event_hubs").size(), 5u);
  std::size_t i = 0;
  for (const auto& v : vectors.at("event_hubs")) {
    const auto token = make_event_hubs_sas_token(
        v.at("resource").get<std::string>(), v.at("keyName").get<std::string>(),
        Secret(v.at("key").get<std::string>()), sys_seconds(seconds(v.at("expiry").get<long>())));
    expect_same_token(token.token.reveal(), v.at("token").get<std::string>(), i++);
    EXPECT_EQ(token.expires_at.time_since_epoch().count(), v.at("expiry").get<long>());
  }
}

TEST(SasToken, MatchesAzureIotCommonIotHubVectorsByteForByte) {
  const auto vectors = load_vectors();
  ASSERT_GE(vectors.at("iot_hub").size(), 3u);
  std::size_t i = 0;
  for (const auto& v : vectors.at("iot_hub")) {
    const auto token = make_iot_hub_sas_token(
        v.at("resource").get<std::string>(), v.at("keyName").get<std::string>(),
        Secret(v.at("key").get<std::string>()), sys_seconds(seconds(v.at("expiry").get<long>())));
    ASSERT_TRUE(token) << token.error().message;
    expect_same_token(token->token.reveal(), v.at("token").get<std::string>(), i++);
  }
}

TEST(SasToken, EventHubsSignsTheKeyStringNotItsDecodedBytes) {
  // docs/protocols.md, "SAS tokens": Event Hubs uses the key's UTF-8 bytes. The same key decoded
  // (the IoT Hub rule) must give a different signature.
  const Secret key("ZmFrZWtleWZha2VrZXlmYWtla2V5ZmFrZWtleQ==");
  const auto eh = make_event_hubs_sas_token("r", "n", key, sys_seconds(seconds(100)));
  const auto iot = make_iot_hub_sas_token("r", "n", key, sys_seconds(seconds(100)));
  ASSERT_TRUE(iot);
  const auto sig_of = [](const std::string& t) {
    const auto start = t.find("sig=") + 4;
    return t.substr(start, t.find('&', start) - start);
  };
  EXPECT_NE(sig_of(eh.token.reveal()), sig_of(iot->token.reveal()));
}

TEST(SasToken, IotHubRejectsAKeyThatIsNotBase64WithoutEchoingIt) {
  const auto token = make_iot_hub_sas_token("h/messages/events", "service",
                                            Secret("not*base64*S3cr3t"), sys_seconds(seconds(1)));
  ASSERT_FALSE(token);
  EXPECT_EQ(token.error().message, "the IoT Hub shared access key is not valid base64");
}

TEST(SasToken, ParsesItsOwnTokens) {
  const auto token = make_event_hubs_sas_token("sb://ns.servicebus.windows.net/hub", "listen",
                                               Secret("k"), sys_seconds(seconds(1735689600)));
  const auto parsed = parse_sas_token(token.token.reveal());
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->resource, "sb://ns.servicebus.windows.net/hub");
  EXPECT_EQ(parsed->encoded_resource, "sb%3A%2F%2Fns.servicebus.windows.net%2Fhub");
  EXPECT_EQ(parsed->key_name, "listen");
  EXPECT_EQ(parsed->expiry_text, "1735689600");
  EXPECT_EQ(parsed->expires_at.time_since_epoch().count(), 1735689600);
}

TEST(SasToken, ParseRejectsMissingFields) {
  EXPECT_EQ(parse_sas_token("SharedAccessSignature sig=a&se=1").error().message,
            "the shared access signature has no 'sr' (resource) field");
  EXPECT_EQ(parse_sas_token("SharedAccessSignature sr=a&se=1").error().message,
            "the shared access signature has no 'sig' (signature) field");
  EXPECT_EQ(parse_sas_token("SharedAccessSignature sr=a&sig=%zz&se=1").error().message,
            "the shared access signature field 'sig' has a bad percent-escape");
}

TEST(SasToken, RenewsThreeQuartersIntoTheLifetime) {
  const sys_seconds issued(seconds(1000));
  EXPECT_EQ(sas_renewal_time(issued, issued + seconds(3600)), issued + seconds(2700));
  EXPECT_EQ(sas_renewal_time(issued, issued + seconds(8)), issued + seconds(6));
}

} // namespace
} // namespace hub2kusto
