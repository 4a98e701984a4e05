#pragma once
// Entra ID (AAD) tokens for Kusto (docs/protocols.md, "Authentication and connection strings"):
// where they come from, and a cache that refreshes them before they expire. Errors say which
// credential failed and what the token endpoint answered, never a secret, assertion or token.
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "azure/http_transport.hpp"
#include "base/result.hpp"
#include "common/clock.hpp"
#include "common/kusto_connection_string.hpp"
#include "common/secret.hpp"

namespace hub2kusto::azure {

struct AccessToken {
  Secret value;
  std::chrono::system_clock::time_point expires_at;
};

// One way of obtaining a token: one HTTP exchange per fetch().
class TokenSource {
public:
  virtual ~TokenSource() = default;
  virtual Result<AccessToken> fetch() = 0;
  virtual std::string describe() const = 0; // "application <id> in tenant <id> (...)", for logs
  // The same without identifiers, for errors that reach /readyz: "an Entra application (client
  // secret)".
  virtual std::string kind() const = 0;
};

// Where the identity endpoints are. Defaults are Azure's; the environment overrides them as
// the Azure SDKs read it, and tests point them at the Kusto emulator.
struct AuthEnvironment {
  std::string authority_host = "https://login.microsoftonline.com"; // AZURE_AUTHORITY_HOST
  std::string imds_endpoint = "http://169.254.169.254"; // AZURE_POD_IDENTITY_AUTHORITY_HOST
  std::string identity_endpoint;    // IDENTITY_ENDPOINT (App Service); empty: use IMDS
  Secret identity_header;           // IDENTITY_HEADER
  std::string client_id;            // AZURE_CLIENT_ID (workload identity)
  std::string tenant_id;            // AZURE_TENANT_ID
  std::string federated_token_file; // AZURE_FEDERATED_TOKEN_FILE
  // The token audience: the cluster's own resource id when read_kusto_resource_id() found it;
  // else this one, which public-cloud clusters accept (docs/protocols.md, "Authentication and
  // connection strings").
  std::string resource = "https://kusto.kusto.windows.net";

  static AuthEnvironment from_process_environment();
};

// A cached token, refreshed when less than a quarter of its lifetime (at most five minutes)
// is left; thread-safe. For KustoAuth::none, token() returns an empty Secret: send no header.
class TokenProvider {
public:
  TokenProvider(std::unique_ptr<TokenSource> source, const Clock& clock)
      : source_(std::move(source)), clock_(clock) {}

  Result<Secret> token();
  // After a 401: the next token() fetches a new one.
  void invalidate();
  std::string describe() const { return source_ ? source_->describe() : "no authentication"; }
  std::size_t fetches() const; // tokens fetched so far (tests, metrics)

private:
  std::unique_ptr<TokenSource> source_;
  const Clock& clock_;
  mutable std::mutex mutex_;
  std::optional<AccessToken> cached_;
  std::chrono::system_clock::time_point fetched_at_{};
  std::size_t fetches_ = 0;
};

// The provider for a connection string's authentication: none, application key, a fixed
// application token, managed identity (App Service when identity_endpoint is set, else IMDS),
// workload identity (federated token file re-read on every fetch).
std::unique_ptr<TokenProvider> make_token_provider(const KustoConnectionString& connection,
                                                   const AuthEnvironment& environment,
                                                   HttpTransport& transport, const Clock& clock);

// The cluster's resource id from `GET <engine>/v1/rest/auth/metadata`
// (AzureAD.KustoServiceResourceId), which the SDKs use as the token audience; sovereign and
// private clouds name their own. An error when the cluster does not say.
Result<std::string>
read_kusto_resource_id(HttpTransport& transport, const std::string& engine_url,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10));

// The token provider for a cluster, as the SDKs build one: the process environment's identity
// settings, and tokens for the audience the cluster's auth metadata names (the default when it
// names none: `note`, when given, then says why).
std::unique_ptr<TokenProvider> make_cluster_token_provider(const KustoConnectionString& connection,
                                                           HttpTransport& transport,
                                                           const Clock& clock,
                                                           std::string* note = nullptr);

} // namespace hub2kusto::azure
