#pragma once
// Microsoft Entra ID credentials: one model for every Azure endpoint hub2kusto talks to
// (docs/protocols.md, "Authentication and connection strings"). A Credential says how to
// obtain tokens; make_token_source() turns it into a TokenSource for one audience (a Kusto
// cluster, Event Hubs, Storage), which TokenProvider (token_provider.hpp) caches. Errors say
// which credential failed and what the identity endpoint answered, never a secret, assertion
// or token.
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "azure/http_transport.hpp"
#include "base/result.hpp"
#include "common/access_token.hpp"
#include "common/clock.hpp"
#include "common/secret.hpp"

namespace hub2kusto::azure {

// Why a source gave no token. `unavailable`: the credential is not set up here at all (its
// environment variables are missing, no identity endpoint answered, no Azure CLI or no login),
// so the default chain goes on to the next one; otherwise the credential was tried and refused.
struct TokenError {
  std::string message;
  bool unavailable = false;
};

// One way of obtaining a token for one audience: one exchange per fetch().
class TokenSource {
public:
  virtual ~TokenSource() = default;
  virtual Result<AccessToken, TokenError> fetch() = 0;
  virtual std::string describe() const = 0; // "application <id> in tenant <id> (...)", for logs
  // The same without identifiers, for errors that reach /readyz: "an Entra application (client
  // secret)".
  virtual std::string kind() const = 0;
};

// Where the identity endpoints are, and the identity settings of the environment, read as the
// Azure SDKs read them. Tests point the endpoints at the emulators.
struct AuthEnvironment {
  std::string authority_host = "https://login.microsoftonline.com"; // AZURE_AUTHORITY_HOST
  std::string imds_endpoint = "http://169.254.169.254"; // AZURE_POD_IDENTITY_AUTHORITY_HOST
  std::string identity_endpoint;       // IDENTITY_ENDPOINT (App Service); empty: use IMDS
  Secret identity_header;              // IDENTITY_HEADER
  std::string client_id;               // AZURE_CLIENT_ID
  std::string tenant_id;               // AZURE_TENANT_ID
  Secret client_secret;                // AZURE_CLIENT_SECRET
  std::string client_certificate_path; // AZURE_CLIENT_CERTIFICATE_PATH
  std::string federated_token_file;    // AZURE_FEDERATED_TOKEN_FILE
  // The token audience: the cluster's own resource id when read_kusto_resource_id() found it;
  // else this one, which public-cloud clusters accept (docs/protocols.md, "Authentication and
  // connection strings").
  std::string resource = "https://kusto.kusto.windows.net";

  static AuthEnvironment from_process_environment();
};

using hub2kusto::kEventHubsAudience; // common/access_token.hpp
using hub2kusto::kStorageAudience;

enum class CredentialKind {
  none,               // no token: the endpoint takes keys or nothing (local emulators)
  client_secret,      // an Entra application and its secret
  client_certificate, // an Entra application and a certificate: a signed client assertion
  workload_identity,  // a federated token file (Kubernetes) exchanged as a client assertion
  managed_identity,   // IMDS or the App Service identity endpoint
  azure_cli,          // `az account get-access-token`
  default_chain,      // environment, workload identity, managed identity, Azure CLI: first wins
  fixed_token,        // a bearer token the operator supplies (expires when it expires)
};

std::string_view credential_kind_name(CredentialKind kind); // "client_secret", ..., "default"
Result<CredentialKind> parse_credential_kind(std::string_view text);

// A credential as configured. Empty identifiers fall back to the environment's
// (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_FEDERATED_TOKEN_FILE), as the
// SDKs' credentials do.
struct Credential {
  CredentialKind kind = CredentialKind::none;
  std::string tenant_id;
  std::string client_id;            // application, or user-assigned managed identity
  Secret client_secret;             // client_secret
  std::string certificate_file;     // client_certificate: PEM with the key and the certificate
  std::string federated_token_file; // workload_identity
  Secret token;                     // fixed_token
};

// The identifiers and files a credential may leave empty for the environment to give.
enum class CredentialSetting { tenant_id, client_id, certificate_file, federated_token_file };

// One such setting as it will be used: the credential's own value, else the environment
// variable's (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_CERTIFICATE_PATH,
// AZURE_FEDERATED_TOKEN_FILE), as the SDKs' credentials fall back.
struct ResolvedSetting {
  std::string value;         // empty: set in neither place
  std::string_view variable; // the variable this setting falls back to
  bool from_environment = false;
};
ResolvedSetting resolve(const Credential& credential, const AuthEnvironment& environment,
                        CredentialSetting setting);

// The source of tokens for `audience` (a resource URI such as https://eventhubs.azure.net;
// the scope asked for is "<audience>/.default"). Null for CredentialKind::none.
std::unique_ptr<TokenSource> make_token_source(const Credential& credential,
                                               const std::string& audience,
                                               const AuthEnvironment& environment,
                                               HttpTransport& transport, const Clock& clock);

} // namespace hub2kusto::azure
