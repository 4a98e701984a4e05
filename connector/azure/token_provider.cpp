#include "azure/token_provider.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace hub2kusto::azure {

Result<Secret> TokenProvider::token() {
  if (!source_) {
    return Secret();
  }
  auto token = access_token();
  if (!token) {
    return failure(std::move(token).error());
  }
  return std::move(token).value().value;
}

Result<AccessToken> TokenProvider::access_token() {
  if (!source_) {
    return failure(std::string("no credential is configured"));
  }
  std::lock_guard lock(mutex_);
  const auto now = clock_.system_now();
  if (cached_) {
    const auto lifetime = cached_->expires_at - fetched_at_;
    const auto margin =
        std::min<std::chrono::system_clock::duration>(lifetime / 4, std::chrono::minutes(5));
    if (cached_->expires_at == std::chrono::system_clock::time_point::max() ||
        now < cached_->expires_at - margin) {
      return *cached_;
    }
  }
  auto fresh = source_->fetch();
  if (!fresh) {
    return failure(std::move(fresh).error().message);
  }
  ++fetches_;
  fetched_at_ = now;
  cached_ = std::move(fresh).value();
  return *cached_;
}

void TokenProvider::invalidate() {
  std::lock_guard lock(mutex_);
  cached_.reset();
}

std::size_t TokenProvider::fetches() const {
  std::lock_guard lock(mutex_);
  return fetches_;
}

namespace {

class StandaloneTokenProvider final : public AccessTokens {
public:
  StandaloneTokenProvider(const Credential& credential, const std::string& audience)
      : transport_(make_http_transport()),
        provider_(make_token_source(credential, audience,
                                    AuthEnvironment::from_process_environment(), *transport_,
                                    clock_),
                  clock_, audience) {}
  Result<AccessToken> access_token() override { return provider_.access_token(); }
  void invalidate() override { provider_.invalidate(); }
  std::string describe() const override { return provider_.describe(); }

private:
  SystemClock clock_;
  std::unique_ptr<HttpTransport> transport_;
  TokenProvider provider_;
};

} // namespace

std::shared_ptr<AccessTokens> make_standalone_token_provider(const Credential& credential,
                                                             const std::string& audience) {
  if (credential.kind == CredentialKind::none) {
    return nullptr;
  }
  return std::make_shared<StandaloneTokenProvider>(credential, audience);
}

Credential kusto_credential(const KustoConnectionString& connection) {
  Credential c;
  c.tenant_id = connection.authority_id;
  c.client_id = connection.application_client_id;
  switch (connection.auth) {
  case KustoAuth::none:
    break;
  case KustoAuth::application_key:
    c.kind = CredentialKind::client_secret;
    c.client_secret = connection.application_key;
    break;
  case KustoAuth::application_token:
    c.kind = CredentialKind::fixed_token;
    c.token = connection.application_token;
    break;
  case KustoAuth::managed_identity:
    c.kind = CredentialKind::managed_identity;
    break;
  case KustoAuth::workload_identity:
    c.kind = CredentialKind::workload_identity;
    c.federated_token_file = connection.federated_token_file;
    break;
  }
  return c;
}

std::unique_ptr<TokenProvider> make_token_provider(const KustoConnectionString& connection,
                                                   const AuthEnvironment& environment,
                                                   HttpTransport& transport, const Clock& clock) {
  return std::make_unique<TokenProvider>(make_token_source(kusto_credential(connection),
                                                           environment.resource, environment,
                                                           transport, clock),
                                         clock, environment.resource);
}

Result<std::string> read_kusto_resource_id(HttpTransport& transport, const std::string& engine_url,
                                           std::chrono::milliseconds timeout) {
  HttpRequest r;
  r.url = engine_url + "/v1/rest/auth/metadata";
  r.timeout = timeout;
  r.headers = {{"Accept", "application/json"}};
  const HttpResponse response = transport.send(r);
  if (response.status != 200) {
    return failure(fmt::format("{} did not give its auth metadata ({})", engine_url,
                               response.status == 0 ? response.transport_error
                                                    : "HTTP " + std::to_string(response.status)));
  }
  const auto json = nlohmann::json::parse(response.body, nullptr, false);
  const auto azure_ad = json.is_object() ? json.find("AzureAD") : json.end();
  if (json.is_object() && azure_ad != json.end() && azure_ad->is_object()) {
    const auto id = azure_ad->find("KustoServiceResourceId");
    if (id != azure_ad->end() && id->is_string() && !id->get<std::string>().empty()) {
      return id->get<std::string>();
    }
  }
  return failure(fmt::format("{}'s auth metadata names no KustoServiceResourceId", engine_url));
}

std::unique_ptr<TokenProvider> make_cluster_token_provider(const KustoConnectionString& connection,
                                                           const Credential& credential,
                                                           HttpTransport& transport,
                                                           const Clock& clock, std::string* note) {
  auto environment = AuthEnvironment::from_process_environment();
  if (credential.kind != CredentialKind::none) {
    if (auto resource = read_kusto_resource_id(transport, connection.engine_url())) {
      environment.resource = *resource;
    } else if (note != nullptr) {
      *note = fmt::format("{}; tokens are requested for {}", resource.error().message,
                          environment.resource);
    }
  }
  return std::make_unique<TokenProvider>(
      make_token_source(credential, environment.resource, environment, transport, clock), clock,
      environment.resource);
}

} // namespace hub2kusto::azure
