#include "azure/credential.hpp"

#include <filesystem>
#include <fstream>
#include <memory>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/encoding.hpp"
#include "support/credentials.hpp"
#include "support/fake_transport.hpp"
#include "support/keys.hpp"
#include "support/manual_clock.hpp"
#include "support/temp_dir.hpp"

namespace hub2kusto::azure {
namespace {

using fakes::FakeTransport;
using namespace std::chrono_literals;

using testing::credential;

constexpr const char* kEventHubs = "https://eventhubs.azure.net";

class CredentialTest : public ::testing::Test {
protected:
  void SetUp() override {
    env_.authority_host = "https://login.example/";
    env_.imds_endpoint = "http://imds.example";
  }

  std::string write(const std::string& name, const std::string& text) {
    const auto path = dir_ / name;
    std::ofstream(path) << text;
    return path.string();
  }

  std::string fetched_token(TokenSource& source) {
    auto token = source.fetch();
    return token ? token->value.reveal() : "error: " + token.error().message;
  }

  testing::TempDir dir_{"hub2kusto-credential"};
  AuthEnvironment env_;
  FakeTransport transport_;
  ManualClock clock_{std::chrono::system_clock::time_point(std::chrono::hours(500'000))};
};

std::string form_value(const std::string& body, const std::string& key) {
  const auto at = body.find(key + "=");
  if (at == std::string::npos) {
    return "";
  }
  const auto start = at + key.size() + 1;
  const auto end = body.find('&', start);
  return encoding::percent_decode(body.substr(start, end - start)).value_or("");
}

std::string base64url_decode(const std::string& text) {
  return encoding::base64url_decode(text).value_or("");
}
TEST(CredentialKind, NamesRoundTripAndAnUnknownOneListsTheKnown) {
  for (const auto kind :
       {CredentialKind::none, CredentialKind::client_secret, CredentialKind::client_certificate,
        CredentialKind::workload_identity, CredentialKind::managed_identity,
        CredentialKind::azure_cli, CredentialKind::default_chain, CredentialKind::fixed_token}) {
    EXPECT_EQ(parse_credential_kind(credential_kind_name(kind)).value(), kind);
  }
  const auto wrong = parse_credential_kind("password");
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message.find("unknown credential 'password'"), std::string::npos);
  EXPECT_NE(wrong.error().message.find("workload_identity"), std::string::npos);
}

TEST_F(CredentialTest, ClientSecretAsksForTheAudienceWithTheEnvironmentsIdentifiers) {
  env_.tenant_id = "tenant-1";
  env_.client_id = "app-1";
  env_.client_secret = Secret("env-secret-value");
  transport_.then(200, R"({"access_token":"tok","expires_in":300})");
  auto source = make_token_source(credential(CredentialKind::client_secret),
                                  std::string(kEventHubs) + "/", env_, transport_, clock_);
  EXPECT_EQ(fetched_token(*source), "tok");
  ASSERT_EQ(transport_.sent.size(), 1U);
  EXPECT_EQ(transport_.sent[0].url, "https://login.example/tenant-1/oauth2/v2.0/token");
  EXPECT_EQ(form_value(transport_.sent[0].body, "client_id"), "app-1");
  EXPECT_EQ(form_value(transport_.sent[0].body, "client_secret"), "env-secret-value");
  EXPECT_EQ(form_value(transport_.sent[0].body, "scope"), "https://eventhubs.azure.net/.default");
}

TEST_F(CredentialTest, ARefusedClientSecretNamesTheCredentialNeverTheSecret) {
  transport_.then(401, R"({"error":"invalid_client","error_description":"AADSTS7000215 bad"})");
  Credential c = credential(CredentialKind::client_secret, "t", "app-1");
  c.client_secret = Secret("s3cret-never-shown");
  auto token = make_token_source(c, kEventHubs, env_, transport_, clock_)->fetch();
  ASSERT_FALSE(token);
  EXPECT_FALSE(token.error().unavailable);
  EXPECT_NE(token.error().message.find("the Entra application (client secret)"), std::string::npos);
  EXPECT_NE(token.error().message.find("invalid_client"), std::string::npos);
  EXPECT_EQ(token.error().message.find("s3cret"), std::string::npos);
}

// A throw-away RSA key and self-signed certificate, as one PEM file.
std::string make_certificate_pem(X509** certificate_out) {
  const auto key = testing::make_rsa_key();
  auto cert = testing::make_self_signed_certificate(key.get());
  X509_up_ref(cert.get());
  *certificate_out = cert.get();
  return testing::private_key_pem(key.get()) + testing::certificate_pem(cert.get());
}

TEST_F(CredentialTest, ClientCertificateSendsAnAssertionSignedByTheCertificatesKey) {
  X509* cert = nullptr;
  const auto file = write("app.pem", make_certificate_pem(&cert));
  std::unique_ptr<X509, decltype(&X509_free)> owned(cert, X509_free);
  transport_.then(200, R"({"access_token":"tok","expires_in":300})");
  Credential c = credential(CredentialKind::client_certificate, "t", "app-2");
  c.certificate_file = file;
  EXPECT_EQ(fetched_token(*make_token_source(c, kEventHubs, env_, transport_, clock_)), "tok");

  ASSERT_EQ(transport_.sent.size(), 1U);
  const auto& body = transport_.sent[0].body;
  EXPECT_EQ(form_value(body, "client_assertion_type"),
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
  EXPECT_EQ(body.find("client_secret"), std::string::npos);
  const std::string jwt = form_value(body, "client_assertion");
  const auto dot1 = jwt.find('.');
  const auto dot2 = jwt.rfind('.');
  ASSERT_NE(dot1, dot2);
  const auto header = nlohmann::json::parse(base64url_decode(jwt.substr(0, dot1)));
  const auto claims =
      nlohmann::json::parse(base64url_decode(jwt.substr(dot1 + 1, dot2 - dot1 - 1)));
  EXPECT_EQ(header["alg"], "RS256");
  std::array<unsigned char, EVP_MAX_MD_SIZE> sha1{};
  unsigned int length = 0;
  X509_digest(cert, EVP_sha1(), sha1.data(), &length);
  EXPECT_EQ(base64url_decode(header["x5t"].get<std::string>()),
            std::string(reinterpret_cast<const char*>(sha1.data()), length));
  EXPECT_EQ(claims["aud"], "https://login.example/t/oauth2/v2.0/token");
  EXPECT_EQ(claims["iss"], "app-2");
  EXPECT_EQ(claims["sub"], "app-2");
  EXPECT_GT(claims["exp"].get<std::int64_t>(), claims["nbf"].get<std::int64_t>());

  // The signature verifies with the certificate's public key.
  const std::string input = jwt.substr(0, dot2);
  const std::string signature = base64url_decode(jwt.substr(dot2 + 1));
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  ASSERT_EQ(EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, X509_get0_pubkey(cert)),
            1);
  EXPECT_EQ(EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                             signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                             input.size()),
            1);
}

TEST_F(CredentialTest, ACertificateFileWithoutAKeyFailsNamingTheFileAndSendsNothing) {
  X509* cert = nullptr;
  const std::string pem = make_certificate_pem(&cert);
  X509_free(cert);
  const auto file = write("cert-only.pem", pem.substr(pem.find("-----BEGIN CERTIFICATE")));
  Credential c = credential(CredentialKind::client_certificate, "t", "app");
  c.certificate_file = file;
  auto token = make_token_source(c, kEventHubs, env_, transport_, clock_)->fetch();
  ASSERT_FALSE(token);
  EXPECT_NE(token.error().message.find(file), std::string::npos) << token.error().message;
  EXPECT_NE(token.error().message.find("no unencrypted private key"), std::string::npos);
  EXPECT_TRUE(transport_.sent.empty());
}

TEST_F(CredentialTest, WorkloadIdentityRereadsTheFederatedTokenFileForEveryToken) {
  env_.tenant_id = "tenant-w";
  env_.client_id = "app-w";
  env_.federated_token_file = write("token", "projected-1\n");
  transport_.then(200, R"({"access_token":"a","expires_in":5})");
  transport_.then(200, R"({"access_token":"b","expires_in":5})");
  auto source = make_token_source(credential(CredentialKind::workload_identity), kEventHubs, env_,
                                  transport_, clock_);
  EXPECT_EQ(fetched_token(*source), "a");
  write("token", "projected-2\n"); // Kubernetes rotated it
  EXPECT_EQ(fetched_token(*source), "b");
  ASSERT_EQ(transport_.sent.size(), 2U);
  EXPECT_EQ(form_value(transport_.sent[0].body, "client_assertion"), "projected-1");
  EXPECT_EQ(form_value(transport_.sent[1].body, "client_assertion"), "projected-2");
  EXPECT_EQ(transport_.sent[1].url, "https://login.example/tenant-w/oauth2/v2.0/token");
}

TEST_F(CredentialTest, ManagedIdentityAsksImdsForTheAudienceAsAUserAssignedIdentity) {
  transport_.then(200, R"({"access_token":"mi","expires_on":"1900000000"})");
  auto source = make_token_source(credential(CredentialKind::managed_identity, "", "uami-1"),
                                  kEventHubs, env_, transport_, clock_);
  const auto token = source->fetch();
  ASSERT_TRUE(token);
  EXPECT_EQ(token->expires_at,
            std::chrono::system_clock::time_point(std::chrono::seconds(1900000000)));
  ASSERT_EQ(transport_.sent.size(), 1U);
  EXPECT_EQ(transport_.sent[0].url,
            "http://imds.example/metadata/identity/oauth2/token?api-version=2018-02-01&resource="
            "https%3A%2F%2Feventhubs.azure.net&client_id=uami-1");
  EXPECT_EQ(transport_.sent[0].headers, (Headers{{"Metadata", "true"}}));
}

TEST_F(CredentialTest, ManagedIdentityUsesTheAppServiceEndpointWhenTheEnvironmentNamesOne) {
  env_.identity_endpoint = "http://appservice.example/msi/token";
  env_.identity_header = Secret("header-secret");
  transport_.then(200, R"({"access_token":"as","expires_in":"60"})");
  auto source = make_token_source(credential(CredentialKind::managed_identity), kEventHubs, env_,
                                  transport_, clock_);
  EXPECT_EQ(fetched_token(*source), "as");
  EXPECT_EQ(transport_.sent[0].url, "http://appservice.example/msi/token?api-version=2019-08-01&"
                                    "resource=https%3A%2F%2Feventhubs.azure.net");
  EXPECT_EQ(transport_.sent[0].headers, (Headers{{"X-IDENTITY-HEADER", "header-secret"}}));
  EXPECT_EQ(source->describe(), "the system-assigned managed identity (App Service endpoint)");
}

TEST_F(CredentialTest, TheDefaultChainTakesTheEnvironmentFirstAndKeepsIt) {
  env_.tenant_id = "t";
  env_.client_id = "app";
  env_.client_secret = Secret("env-secret");
  env_.federated_token_file = write("token", "projected"); // workload identity would work too
  transport_.then(200, R"({"access_token":"first","expires_in":60})");
  transport_.then(200, R"({"access_token":"second","expires_in":60})");
  auto source = make_token_source(credential(CredentialKind::default_chain), kEventHubs, env_,
                                  transport_, clock_);
  EXPECT_EQ(fetched_token(*source), "first");
  EXPECT_EQ(fetched_token(*source), "second");
  ASSERT_EQ(transport_.sent.size(), 2U);
  EXPECT_EQ(form_value(transport_.sent[1].body, "client_secret"), "env-secret");
  EXPECT_EQ(source->kind(), "the default credential: the Entra application (client secret)");
}

TEST_F(CredentialTest, TheDefaultChainGoesOnToWorkloadIdentityThenToManagedIdentity) {
  env_.tenant_id = "t";
  env_.client_id = "app";
  env_.federated_token_file = write("token", "projected");
  transport_.then(200, R"({"access_token":"workload","expires_in":60})");
  auto workload = make_token_source(credential(CredentialKind::default_chain), kEventHubs, env_,
                                    transport_, clock_);
  EXPECT_EQ(fetched_token(*workload), "workload");
  EXPECT_EQ(form_value(transport_.sent[0].body, "client_assertion"), "projected");

  env_.federated_token_file.clear();
  transport_.then(200, R"({"access_token":"imds","expires_in":60})");
  auto managed = make_token_source(credential(CredentialKind::default_chain), kEventHubs, env_,
                                   transport_, clock_);
  EXPECT_EQ(fetched_token(*managed), "imds");
  ASSERT_EQ(transport_.sent.size(), 2U);
  EXPECT_NE(transport_.sent[1].url.find("http://imds.example/metadata/identity/oauth2/token"),
            std::string::npos);
  EXPECT_NE(transport_.sent[1].url.find("client_id=app"), std::string::npos);
}

TEST_F(CredentialTest, TheDefaultChainStopsAtACredentialThatWasTriedAndRefused) {
  env_.tenant_id = "t";
  env_.client_id = "app";
  env_.client_secret = Secret("wrong-secret");
  transport_.then(401, R"({"error":"invalid_client"})");
  auto token = make_token_source(credential(CredentialKind::default_chain), kEventHubs, env_,
                                 transport_, clock_)
                   ->fetch();
  ASSERT_FALSE(token);
  EXPECT_FALSE(token.error().unavailable);
  EXPECT_NE(token.error().message.find("default credential: environment failed"), std::string::npos)
      << token.error().message;
  EXPECT_EQ(transport_.sent.size(), 1U); // neither IMDS nor the CLI was tried
  EXPECT_EQ(token.error().message.find("wrong-secret"), std::string::npos);
}

} // namespace
} // namespace hub2kusto::azure
