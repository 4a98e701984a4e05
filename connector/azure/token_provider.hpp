#pragma once
// Entra ID (AAD) tokens (docs/protocols.md, "Authentication and connection strings"): a cache
// over a credential's TokenSource (credential.hpp) that refreshes tokens before they expire, and
// how a Kusto connection string's keywords map onto the credential model.
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "azure/credential.hpp"
#include "azure/http_transport.hpp"
#include "base/result.hpp"
#include "common/clock.hpp"
#include "common/kusto_connection_string.hpp"
#include "common/secret.hpp"

namespace hub2kusto::azure {

// A cached token, refreshed when less than a quarter of its lifetime (at most five minutes)
// is left; thread-safe. For KustoAuth::none, token() returns an empty Secret: send no header.
// `audience` is what the tokens are asked for, kept to explain a refusal.
class TokenProvider final : public AccessTokens {
public:
  TokenProvider(std::unique_ptr<TokenSource> source, const Clock& clock, std::string audience = {})
      : source_(std::move(source)), clock_(clock), audience_(std::move(audience)) {}

  Result<Secret> token();
  Result<AccessToken> access_token() override;
  // After a 401: the next token() fetches a new one.
  void invalidate() override;
  std::string describe() const override {
    return source_ ? source_->describe() : "no authentication";
  }
  // The same without identifiers, for reasons that reach /readyz; empty without a credential.
  std::string kind() const { return source_ ? source_->kind() : std::string(); }
  const std::string& audience() const { return audience_; }
  std::size_t fetches() const; // tokens fetched so far (tests, metrics)

private:
  std::unique_ptr<TokenSource> source_;
  const Clock& clock_;
  const std::string audience_;
  mutable std::mutex mutex_;
  std::optional<AccessToken> cached_;
  std::chrono::system_clock::time_point fetched_at_{};
  std::size_t fetches_ = 0;
};

// Tokens of `credential` for `audience` from a provider that owns its HTTPS transport (the
// process's proxy settings and trust store) and its clock, so it may outlive whoever made it:
// for the stages that have no HTTP client of their own (the hub's AMQP connection). Null for
// CredentialKind::none.
std::shared_ptr<AccessTokens> make_standalone_token_provider(const Credential& credential,
                                                             const std::string& audience);

// The credential a Kusto connection string's keywords name: none, application key (client
// secret), a fixed application token, managed identity, workload identity.
Credential kusto_credential(const KustoConnectionString& connection);

// The provider for a connection string's credential, for the audience environment.resource.
std::unique_ptr<TokenProvider> make_token_provider(const KustoConnectionString& connection,
                                                   const AuthEnvironment& environment,
                                                   HttpTransport& transport, const Clock& clock);

// The cluster's resource id from `GET <engine>/v1/rest/auth/metadata`
// (AzureAD.KustoServiceResourceId), which the SDKs use as the token audience; sovereign and
// private clouds name their own. An error when the cluster does not say.
Result<std::string>
read_kusto_resource_id(HttpTransport& transport, const std::string& engine_url,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10));

// The token provider for a cluster, as the SDKs build one: `credential` with the process
// environment's identity settings, for the audience the cluster's auth metadata names (the
// default when it names none: `note`, when given, then says why).
std::unique_ptr<TokenProvider> make_cluster_token_provider(const KustoConnectionString& connection,
                                                           const Credential& credential,
                                                           HttpTransport& transport,
                                                           const Clock& clock,
                                                           std::string* note = nullptr);

} // namespace hub2kusto::azure
