#pragma once
// Kusto connection strings (docs/protocols.md, "Authentication and connection strings"; docs "Kusto
// connection strings").
//
//   Data Source=https://<cluster>.kusto.windows.net;Initial Catalog=<db>;
//     AAD Federated Security=True;Application Client Id=<app>;Application Key=<secret>;
//     Authority Id=<tenant>
//
// Keywords are case-insensitive with spaces ignored, and the SDKs' aliases are accepted
// (AppClientId, AppKey, Fed, ...). A first segment without '=' is the Data Source, and a path
// on it (https://c/db) is the Initial Catalog. Values may be quoted.
//
// Managed identity and workload identity have no keyword in the SDKs (they are builder
// methods there), so hub2kusto adds two, documented in the README:
//   Managed Identity=system | <client id>   IMDS or App Service managed identity
//   Workload Identity=true                   AZURE_CLIENT_ID / AZURE_TENANT_ID /
//                                            AZURE_FEDERATED_TOKEN_FILE (Application Client
//                                            Id, Authority Id, Federated Token File override)
// Without AAD Federated Security the connection is unauthenticated: the local emulator form.
// Keywords the SDKs know but hub2kusto cannot honour (user password, certificates, dSTS) are
// rejected by name; unknown keywords are rejected too, as the SDKs do.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "common/secret.hpp"

namespace hub2kusto {

enum class KustoAuth {
  none,              // no Authorization header (local emulator)
  application_key,   // AAD client credentials with a secret
  application_token, // a fixed bearer token supplied by the operator
  managed_identity,  // IMDS / App Service identity endpoint
  workload_identity, // federated token file exchanged as a client assertion
};

std::string_view to_string(KustoAuth auth);

struct KustoConnectionString {
  std::string scheme; // https, or http for a local emulator
  std::string host;
  std::uint16_t port = 443;
  std::string initial_catalog; // may be empty
  KustoAuth auth = KustoAuth::none;
  bool federated_security_off = false; // 'AAD Federated Security=False' said on purpose
  std::string authority_id;            // tenant
  std::string application_client_id;   // app or user-assigned identity client id
  Secret application_key;
  Secret application_token;
  std::string federated_token_file; // workload identity override
  std::string application_name_for_tracing;

  // scheme://host[:port] without a trailing slash.
  std::string data_source() const;
  // The engine, which takes streaming ingestion and queries: the data source without an
  // `ingest-` prefix, when the user named the data-management endpoint.
  std::string engine_url() const;
  // The data-management endpoint, which takes queued ingestion: `ingest-<host>` for a cluster,
  // the data source itself for a local emulator or an address (docs/protocols.md, "Kusto
  // endpoints").
  std::string data_management_url() const;
};

Result<KustoConnectionString> parse_kusto_connection_string(std::string_view text);

} // namespace hub2kusto
