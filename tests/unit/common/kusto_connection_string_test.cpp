#include "common/kusto_connection_string.hpp"

#include <gtest/gtest.h>

namespace hub2kusto {
namespace {

constexpr std::string_view kSecret = "S3cr3tAppKeyZZZ";

TEST(KustoConnectionString, ParsesApplicationKeyForm) {
  // A connection string in the documented shape (docs/protocols.md, "Authentication and
  // connection strings").
  auto cs = parse_kusto_connection_string(
      "Data Source=https://mycluster.westeurope.kusto.windows.net;Initial Catalog=MyDb;"
      "AAD Federated Security=True;Application Client Id=11111111-2222-3333-4444-555555555555;"
      "Application Key=S3cr3tAppKeyZZZ;Authority Id=contoso.onmicrosoft.com");
  ASSERT_TRUE(cs) << cs.error().message;
  EXPECT_EQ(cs->data_source(), "https://mycluster.westeurope.kusto.windows.net");
  EXPECT_EQ(cs->initial_catalog, "MyDb");
  EXPECT_EQ(cs->auth, KustoAuth::application_key);
  EXPECT_EQ(cs->application_client_id, "11111111-2222-3333-4444-555555555555");
  EXPECT_EQ(cs->application_key.reveal(), kSecret);
  EXPECT_EQ(cs->authority_id, "contoso.onmicrosoft.com");
}

TEST(KustoConnectionString, AcceptsTheSdkAliasesAndSpacing) {
  auto cs = parse_kusto_connection_string(
      "server=https://c.kusto.windows.net/;database=db;fed=true;AppClientId=app;"
      "AppKey=S3cr3tAppKeyZZZ;TenantId=t");
  ASSERT_TRUE(cs) << cs.error().message;
  EXPECT_EQ(cs->auth, KustoAuth::application_key);
  EXPECT_EQ(cs->data_source(), "https://c.kusto.windows.net");
  EXPECT_EQ(cs->initial_catalog, "db");
}

TEST(KustoConnectionString, LeadingUriWithDatabasePath) {
  // docs "Kusto connection strings": https://help.kusto.windows.net/Samples; Fed=true
  auto cs = parse_kusto_connection_string(
      "https://help.kusto.windows.net/Samples; Fed=true; Managed Identity=system");
  ASSERT_TRUE(cs) << cs.error().message;
  EXPECT_EQ(cs->initial_catalog, "Samples");
  EXPECT_EQ(cs->auth, KustoAuth::managed_identity);
  EXPECT_TRUE(cs->application_client_id.empty());
}

TEST(KustoConnectionString, UserAssignedManagedIdentity) {
  auto cs = parse_kusto_connection_string(
      "Data Source=https://c.kusto.windows.net;Fed=True;Managed Identity=abcd-client");
  ASSERT_TRUE(cs);
  EXPECT_EQ(cs->auth, KustoAuth::managed_identity);
  EXPECT_EQ(cs->application_client_id, "abcd-client");
}

TEST(KustoConnectionString, WorkloadIdentityWithOverrides) {
  auto cs = parse_kusto_connection_string(
      "Data Source=https://c.kusto.windows.net;Fed=True;Workload Identity=true;"
      "Federated Token File=/var/run/secrets/azure/tokens/azure-identity-token");
  ASSERT_TRUE(cs) << cs.error().message;
  EXPECT_EQ(cs->auth, KustoAuth::workload_identity);
  EXPECT_EQ(cs->federated_token_file, "/var/run/secrets/azure/tokens/azure-identity-token");
}

TEST(KustoConnectionString, NoAuthFormForLocalEmulator) {
  auto cs = parse_kusto_connection_string("Data Source=http://127.0.0.1:38080;Initial Catalog=db");
  ASSERT_TRUE(cs) << cs.error().message;
  EXPECT_EQ(cs->auth, KustoAuth::none);
  EXPECT_EQ(cs->data_source(), "http://127.0.0.1:38080");
  EXPECT_EQ(cs->port, 38080);
}

TEST(KustoConnectionString, QuotedValueMayHoldSemicolons) {
  auto cs = parse_kusto_connection_string(
      "Data Source=https://c.kusto.windows.net;Fed=True;AppClientId=a;Authority Id=t;"
      "AppKey=\"ab;cd\"");
  ASSERT_TRUE(cs) << cs.error().message;
  EXPECT_EQ(cs->application_key.reveal(), "ab;cd");
}

struct MalformedKustoCase {
  std::string name;
  std::string input;
  std::string error;
};

// gtest would otherwise print the raw bytes of the parameter; the name says enough.
void PrintTo(const MalformedKustoCase& m, std::ostream* os) {
  *os << m.name;
}

class MalformedKustoConnectionString : public ::testing::TestWithParam<MalformedKustoCase> {};

TEST_P(MalformedKustoConnectionString, FailsWithExactMessageAndNoSecret) {
  const auto& c = GetParam();
  auto cs = parse_kusto_connection_string(c.input);
  ASSERT_FALSE(cs);
  EXPECT_EQ(cs.error().message, c.error);
  EXPECT_EQ(cs.error().message.find(kSecret), std::string::npos);
}

const std::string kDs = "Data Source=https://c.kusto.windows.net;";

INSTANTIATE_TEST_SUITE_P(
    Forms, MalformedKustoConnectionString,
    ::testing::Values(
        MalformedKustoCase{"MissingDataSource", "Initial Catalog=db",
                           "Kusto connection string: 'Data Source' is missing (expected Data "
                           "Source=https://<cluster>.<region>.kusto.windows.net)"},
        MalformedKustoCase{
            "NotHttp", "Data Source=sb://c.kusto.windows.net",
            "Kusto connection string: 'Data Source' must be an https:// (or, for a local "
            "emulator, http://) URL"},
        MalformedKustoCase{"UnknownKeyword", kDs + "Colour=blue",
                           "Kusto connection string: unknown keyword 'Colour'"},
        MalformedKustoCase{"Password", kDs + "Fed=true;User ID=u;Password=S3cr3tAppKeyZZZ",
                           "Kusto connection string: 'User ID' is not supported by hub2kusto; "
                           "authenticate with Application Client Id and Application Key, Managed "
                           "Identity or Workload Identity"},
        MalformedKustoCase{"Certificate", kDs + "Fed=true;AppCert=thumb",
                           "Kusto connection string: 'Application Certificate Thumbprint' is not "
                           "supported by hub2kusto; authenticate with Application Client Id and "
                           "Application Key, Managed Identity or Workload Identity"},
        MalformedKustoCase{"KeyWithoutFed",
                           kDs + "AppClientId=a;AppKey=S3cr3tAppKeyZZZ;Authority Id=t",
                           "Kusto connection string: an identity is set but 'AAD Federated "
                           "Security=True' is missing"},
        MalformedKustoCase{
            "FedWithoutIdentity", kDs + "AAD Federated Security=True",
            "Kusto connection string: 'AAD Federated Security=True' needs an identity: "
            "Application Client Id with Application Key and Authority Id, Managed "
            "Identity, or Workload Identity"},
        MalformedKustoCase{
            "KeyWithoutClientId", kDs + "Fed=True;AppKey=S3cr3tAppKeyZZZ;Authority Id=t",
            "Kusto connection string: 'Application Key' needs 'Application Client Id'"},
        MalformedKustoCase{
            "KeyWithoutTenant", kDs + "Fed=True;AppClientId=a;AppKey=S3cr3tAppKeyZZZ",
            "Kusto connection string: 'Application Key' needs 'Authority Id' (the tenant "
            "id or domain)"},
        MalformedKustoCase{"TwoIdentities",
                           kDs + "Fed=True;AppClientId=a;AppKey=S3cr3tAppKeyZZZ;Authority Id=t;"
                                 "Managed Identity=system",
                           "Kusto connection string: give exactly one identity: Application Key, "
                           "Application Token, Managed Identity or Workload Identity"},
        MalformedKustoCase{
            "FedNotBoolean", kDs + "Fed=yes",
            "Kusto connection string: 'AAD Federated Security' must be true or false"},
        MalformedKustoCase{"Duplicate", kDs + "Initial Catalog=a;Database=b",
                           "Kusto connection string: 'Initial Catalog' is given more than once"},
        MalformedKustoCase{
            "TokenOverHttp",
            "Data Source=http://kusto.example.com;Fed=True;Managed Identity=system",
            "Kusto connection string: AAD tokens are only sent over https, or over http "
            "to a loopback host"},
        MalformedKustoCase{
            "CatalogConflict", "Data Source=https://c.kusto.windows.net/a;Initial Catalog=b",
            "Kusto connection string: 'Data Source' names a database that differs from "
            "'Initial Catalog'"},
        MalformedKustoCase{"EmptyValue", kDs + "Initial Catalog=",
                           "Kusto connection string: 'Initial Catalog' has an empty value"},
        MalformedKustoCase{
            "UnclosedQuote", kDs + "AppKey=\"S3cr3tAppKeyZZZ",
            "Kusto connection string: the value of 'AppKey' opens a quote (\") that is "
            "never closed"},
        MalformedKustoCase{
            "TokenFileWithoutWorkload",
            kDs + "Fed=True;Managed Identity=system;Federated Token File=/t",
            "Kusto connection string: 'Federated Token File' only applies with 'Workload "
            "Identity=true'"}),
    [](const auto& param_info) { return param_info.param.name; });

TEST(KustoEndpoints, StreamingGoesToTheEngineAndQueuedToTheDataManagementEndpoint) {
  const auto engine =
      parse_kusto_connection_string("Data Source=https://mycluster.westeurope.kusto.windows.net")
          .value();
  EXPECT_EQ(engine.engine_url(), "https://mycluster.westeurope.kusto.windows.net");
  EXPECT_EQ(engine.data_management_url(), "https://ingest-mycluster.westeurope.kusto.windows.net");
  // Given the ingest endpoint, streaming still goes to the engine.
  const auto ingest = parse_kusto_connection_string(
                          "Data Source=https://ingest-mycluster.westeurope.kusto.windows.net")
                          .value();
  EXPECT_EQ(ingest.engine_url(), "https://mycluster.westeurope.kusto.windows.net");
  EXPECT_EQ(ingest.data_management_url(), "https://ingest-mycluster.westeurope.kusto.windows.net");
  // A local emulator or an address serves both.
  const auto local = parse_kusto_connection_string("Data Source=http://127.0.0.1:8080").value();
  EXPECT_EQ(local.engine_url(), "http://127.0.0.1:8080");
  EXPECT_EQ(local.data_management_url(), "http://127.0.0.1:8080");
}

} // namespace
} // namespace hub2kusto
