#include "azure/token_provider.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/logging.hpp"
#include "common/redact.hpp"

namespace hub2kusto::azure {
namespace {

using std::chrono::seconds;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

std::string trim_slash(std::string s) {
  while (!s.empty() && s.back() == '/') {
    s.pop_back();
  }
  return s;
}

// A token endpoint's answer: access_token plus expires_in (number or string) or expires_on.
// A refusal is logged in full (the application and tenant ids, the endpoint's description);
// the error, which /readyz shows to whoever reaches the ops port, keeps only the source's kind,
// the HTTP status and the OAuth error code.
Result<AccessToken> read_token_response(const HttpResponse& response, const TokenSource& source,
                                        std::chrono::system_clock::time_point now) {
  if (response.status == 0) {
    return failure(fmt::format("{}: the token endpoint did not answer: {}", source.kind(),
                               response.transport_error));
  }
  const auto json = nlohmann::json::parse(response.body, nullptr, false);
  if (response.status != 200) {
    std::string code;
    std::string description;
    if (!json.is_discarded() && json.is_object()) {
      code = printable(json.value("error", ""), 60);
      description = printable(json.value("error_description", ""), 300);
    }
    logger("auth")->warn("{}: the token endpoint answered HTTP {}{}{}{}{}", source.describe(),
                         response.status, code.empty() ? "" : ": ", code,
                         description.empty() ? "" : ": ", description);
    return failure(fmt::format("{}: the token endpoint answered HTTP {}{}{} (the log has the "
                               "endpoint's description)",
                               source.kind(), response.status, code.empty() ? "" : ": ", code));
  }
  if (json.is_discarded() || !json.is_object() || !json.contains("access_token") ||
      !json["access_token"].is_string()) {
    return failure(
        fmt::format("{}: the token endpoint's answer has no access_token", source.kind()));
  }
  AccessToken token{Secret(json["access_token"].get<std::string>()), now + seconds(3600)};
  const auto number = [&](const char* key) -> std::optional<std::int64_t> {
    if (!json.contains(key)) {
      return std::nullopt;
    }
    const auto& v = json[key];
    if (v.is_number_integer()) {
      return v.get<std::int64_t>();
    }
    if (v.is_string()) {
      try {
        return std::stoll(v.get<std::string>());
      } catch (const std::exception&) {
        return std::nullopt;
      }
    }
    return std::nullopt;
  };
  if (const auto in = number("expires_in")) {
    token.expires_at = now + seconds(*in);
  } else if (const auto on = number("expires_on")) {
    token.expires_at = std::chrono::system_clock::time_point(seconds(*on));
  }
  return token;
}

std::string form(std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  std::string out;
  for (const auto& [k, v] : fields) {
    out += (out.empty() ? "" : "&") + url_encode(k) + "=" + url_encode(v);
  }
  return out;
}

// Client credentials with a secret or with an assertion read from a file (docs/protocols.md,
// "Authentication and connection strings").
class AadClientCredentials final : public TokenSource {
public:
  AadClientCredentials(HttpTransport& transport, const Clock& clock, std::string authority,
                       std::string tenant, std::string client_id, Secret secret,
                       std::string assertion_file, std::string resource)
      : transport_(transport), clock_(clock), authority_(trim_slash(std::move(authority))),
        tenant_(tenant.empty() ? "organizations" : std::move(tenant)),
        client_id_(std::move(client_id)), secret_(std::move(secret)),
        assertion_file_(std::move(assertion_file)), scope_(trim_slash(resource) + "/.default") {}

  Result<AccessToken> fetch() override {
    HttpRequest r;
    r.method = "POST";
    r.url = fmt::format("{}/{}/oauth2/v2.0/token", authority_, tenant_);
    r.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                 {"Accept", "application/json"}};
    if (assertion_file_.empty()) {
      r.body = form({{"grant_type", "client_credentials"},
                     {"client_id", client_id_},
                     {"client_secret", secret_.reveal()},
                     {"scope", scope_}});
    } else {
      // Kubernetes rotates the projected token: read it for every request (docs/protocols.md,
      // "Authentication and connection strings").
      std::ifstream in(assertion_file_);
      std::stringstream text;
      text << in.rdbuf();
      std::string assertion = text.str();
      while (!assertion.empty() && (assertion.back() == '\n' || assertion.back() == '\r')) {
        assertion.pop_back();
      }
      if (!in || assertion.empty()) {
        return failure(fmt::format("{}: the federated token file '{}' cannot be read or is "
                                   "empty",
                                   kind(), assertion_file_));
      }
      r.body =
          form({{"grant_type", "client_credentials"},
                {"client_id", client_id_},
                {"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
                {"client_assertion", assertion},
                {"scope", scope_}});
    }
    return read_token_response(transport_.send(r), *this, clock_.system_now());
  }

  std::string describe() const override {
    return fmt::format("application {} in tenant {} ({})", client_id_, tenant_,
                       assertion_file_.empty() ? "client secret" : "workload identity");
  }
  std::string kind() const override {
    return fmt::format("the Entra application ({})",
                       assertion_file_.empty() ? "client secret" : "workload identity");
  }

private:
  HttpTransport& transport_;
  const Clock& clock_;
  std::string authority_;
  std::string tenant_;
  std::string client_id_;
  Secret secret_;
  std::string assertion_file_;
  std::string scope_;
};

// Managed identity through IMDS, or the App Service identity endpoint (docs/protocols.md,
// "Authentication and connection strings").
class ManagedIdentity final : public TokenSource {
public:
  ManagedIdentity(HttpTransport& transport, const Clock& clock, const AuthEnvironment& env,
                  std::string client_id)
      : transport_(transport), clock_(clock), env_(env), client_id_(std::move(client_id)) {}

  Result<AccessToken> fetch() override {
    HttpRequest r;
    r.timeout = std::chrono::milliseconds(10'000);
    const std::string id = client_id_.empty() ? "" : "&client_id=" + url_encode(client_id_);
    if (!env_.identity_endpoint.empty()) {
      r.url = fmt::format("{}?api-version=2019-08-01&resource={}{}", env_.identity_endpoint,
                          url_encode(env_.resource), id);
      r.headers = {{"X-IDENTITY-HEADER", env_.identity_header.reveal()}};
    } else {
      r.url = fmt::format("{}/metadata/identity/oauth2/token?api-version=2018-02-01&resource={}{}",
                          trim_slash(env_.imds_endpoint), url_encode(env_.resource), id);
      r.headers = {{"Metadata", "true"}};
    }
    return read_token_response(transport_.send(r), *this, clock_.system_now());
  }

  std::string describe() const override {
    return fmt::format("{} managed identity ({})",
                       client_id_.empty() ? "the system-assigned" : "user-assigned " + client_id_,
                       env_.identity_endpoint.empty() ? "IMDS" : "App Service endpoint");
  }
  std::string kind() const override {
    return fmt::format("{} managed identity ({})",
                       client_id_.empty() ? "the system-assigned" : "the user-assigned",
                       env_.identity_endpoint.empty() ? "IMDS" : "App Service endpoint");
  }

private:
  HttpTransport& transport_;
  const Clock& clock_;
  AuthEnvironment env_;
  std::string client_id_;
};

class FixedToken final : public TokenSource {
public:
  explicit FixedToken(Secret token) : token_(std::move(token)) {}
  Result<AccessToken> fetch() override {
    return AccessToken{token_, std::chrono::system_clock::time_point::max()};
  }
  std::string describe() const override { return "an application token"; }
  std::string kind() const override { return describe(); }

private:
  Secret token_;
};

} // namespace

AuthEnvironment AuthEnvironment::from_process_environment() {
  AuthEnvironment e;
  if (const auto v = env("AZURE_AUTHORITY_HOST"); !v.empty()) {
    e.authority_host = v;
  }
  if (const auto v = env("AZURE_POD_IDENTITY_AUTHORITY_HOST"); !v.empty()) {
    e.imds_endpoint = v;
  }
  e.identity_endpoint = env("IDENTITY_ENDPOINT");
  e.identity_header = Secret(env("IDENTITY_HEADER"));
  e.client_id = env("AZURE_CLIENT_ID");
  e.tenant_id = env("AZURE_TENANT_ID");
  e.federated_token_file = env("AZURE_FEDERATED_TOKEN_FILE");
  return e;
}

Result<Secret> TokenProvider::token() {
  if (!source_) {
    return Secret();
  }
  std::lock_guard lock(mutex_);
  const auto now = clock_.system_now();
  if (cached_) {
    const auto lifetime = cached_->expires_at - fetched_at_;
    const auto margin =
        std::min<std::chrono::system_clock::duration>(lifetime / 4, std::chrono::minutes(5));
    if (cached_->expires_at == std::chrono::system_clock::time_point::max() ||
        now < cached_->expires_at - margin) {
      return cached_->value;
    }
  }
  auto fresh = source_->fetch();
  if (!fresh) {
    return failure(std::move(fresh).error());
  }
  ++fetches_;
  fetched_at_ = now;
  cached_ = std::move(fresh).value();
  return cached_->value;
}

void TokenProvider::invalidate() {
  std::lock_guard lock(mutex_);
  cached_.reset();
}

std::size_t TokenProvider::fetches() const {
  std::lock_guard lock(mutex_);
  return fetches_;
}

std::unique_ptr<TokenProvider> make_token_provider(const KustoConnectionString& connection,
                                                   const AuthEnvironment& environment,
                                                   HttpTransport& transport, const Clock& clock) {
  std::unique_ptr<TokenSource> source;
  switch (connection.auth) {
  case KustoAuth::none:
    break;
  case KustoAuth::application_key:
    source = std::make_unique<AadClientCredentials>(
        transport, clock, environment.authority_host, connection.authority_id,
        connection.application_client_id, connection.application_key, "", environment.resource);
    break;
  case KustoAuth::application_token:
    source = std::make_unique<FixedToken>(connection.application_token);
    break;
  case KustoAuth::managed_identity:
    source = std::make_unique<ManagedIdentity>(transport, clock, environment,
                                               connection.application_client_id);
    break;
  case KustoAuth::workload_identity: {
    const std::string client = connection.application_client_id.empty()
                                   ? environment.client_id
                                   : connection.application_client_id;
    const std::string tenant =
        connection.authority_id.empty() ? environment.tenant_id : connection.authority_id;
    const std::string file = connection.federated_token_file.empty()
                                 ? environment.federated_token_file
                                 : connection.federated_token_file;
    source =
        std::make_unique<AadClientCredentials>(transport, clock, environment.authority_host, tenant,
                                               client, Secret(), file, environment.resource);
    break;
  }
  }
  return std::make_unique<TokenProvider>(std::move(source), clock);
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
                                                           HttpTransport& transport,
                                                           const Clock& clock, std::string* note) {
  auto environment = AuthEnvironment::from_process_environment();
  if (connection.auth != KustoAuth::none) {
    if (auto resource = read_kusto_resource_id(transport, connection.engine_url())) {
      environment.resource = *resource;
    } else if (note != nullptr) {
      *note = fmt::format("{}; tokens are requested for {}", resource.error().message,
                          environment.resource);
    }
  }
  return make_token_provider(connection, environment, transport, clock);
}

} // namespace hub2kusto::azure
