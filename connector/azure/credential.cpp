#include "azure/credential.hpp"

#include <array>
#include <cctype>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <functional>
#include <iomanip>
#include <optional>
#include <sstream>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "base/files.hpp"
#include "common/encoding.hpp"
#include "common/logging.hpp"
#include "common/process.hpp"
#include "common/random.hpp"
#include "common/redact.hpp"

namespace hub2kusto::azure {
namespace {

using std::chrono::seconds;
using Fetched = Result<AccessToken, TokenError>;

Failure<TokenError> refused(std::string message) {
  return failure(TokenError{std::move(message), false});
}
Failure<TokenError> unavailable(std::string message) {
  return failure(TokenError{std::move(message), true});
}

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

// A file's text without trailing line ends; empty when it cannot be read.
std::string read_text(const std::string& path) {
  std::string s = read_whole_file(path).value_or("");
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) {
    s.pop_back();
  }
  return s;
}

std::optional<std::int64_t> json_number(const nlohmann::json& json, const char* key) {
  const auto it = json.find(key);
  if (it == json.end()) {
    return std::nullopt;
  }
  if (it->is_number_integer()) {
    return it->get<std::int64_t>();
  }
  if (it->is_string()) {
    try {
      return std::stoll(it->get<std::string>());
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

// A token endpoint's answer: access_token plus expires_in (number or string) or expires_on.
// A refusal is logged in full (the application and tenant ids, the endpoint's description);
// the error, which /readyz shows to whoever reaches the ops port, keeps only the source's kind,
// the HTTP status and the OAuth error code. No answer at all is "unavailable" when `probing`
// (a managed identity endpoint that is not there).
Fetched read_token_response(const HttpResponse& response, const TokenSource& source,
                            std::chrono::system_clock::time_point now, bool probing = false) {
  if (response.status == 0) {
    auto message = fmt::format("{}: the token endpoint did not answer: {}", source.kind(),
                               response.transport_error);
    return probing ? unavailable(std::move(message)) : refused(std::move(message));
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
    return refused(fmt::format("{}: the token endpoint answered HTTP {}{}{} (the log has the "
                               "endpoint's description)",
                               source.kind(), response.status, code.empty() ? "" : ": ", code));
  }
  if (json.is_discarded() || !json.is_object() || !json.contains("access_token") ||
      !json["access_token"].is_string()) {
    return refused(
        fmt::format("{}: the token endpoint's answer has no access_token", source.kind()));
  }
  AccessToken token{Secret(json["access_token"].get<std::string>()), now + seconds(3600)};
  if (const auto in = json_number(json, "expires_in")) {
    token.expires_at = now + seconds(*in);
  } else if (const auto on = json_number(json, "expires_on")) {
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

// The client assertion an application proves itself with: a JWT it signed with its
// certificate's key (RS256), naming the certificate by its SHA-1 thumbprint (x5t), for the
// token endpoint `audience` (docs/protocols.md, "Authentication and connection strings").
class CertificateAssertion {
public:
  static Result<CertificateAssertion> load(const std::string& path) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(path.c_str(), "r"), BIO_free);
    if (!bio) {
      return failure(fmt::format("the certificate file '{}' cannot be read", path));
    }
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
        PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
    BIO_reset(bio.get());
    std::unique_ptr<X509, decltype(&X509_free)> cert(
        PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
    if (!key || !cert) {
      return failure(fmt::format("the certificate file '{}' needs a PEM private key and a PEM "
                                 "certificate (found {})",
                                 path,
                                 !key && !cert ? "neither"
                                 : !key        ? "no unencrypted private key"
                                               : "no certificate"));
    }
    if (X509_check_private_key(cert.get(), key.get()) != 1) {
      return failure(fmt::format("the certificate file '{}': the private key does not belong to "
                                 "the certificate",
                                 path));
    }
    std::array<unsigned char, EVP_MAX_MD_SIZE> sha1{};
    unsigned int length = 0;
    X509_digest(cert.get(), EVP_sha1(), sha1.data(), &length);
    CertificateAssertion out;
    out.thumbprint_ =
        encoding::base64url_encode({reinterpret_cast<const char*>(sha1.data()), length});
    out.key_ = std::shared_ptr<EVP_PKEY>(key.release(), EVP_PKEY_free);
    return out;
  }

  Result<std::string> make(const std::string& client_id, const std::string& audience,
                           std::chrono::system_clock::time_point now) const {
    const auto at = std::chrono::duration_cast<seconds>(now.time_since_epoch()).count();
    const std::string header =
        nlohmann::json{{"alg", "RS256"}, {"typ", "JWT"}, {"x5t", thumbprint_}}.dump();
    const std::string claims =
        nlohmann::json{{"aud", audience},    {"iss", client_id}, {"sub", client_id},
                       {"jti", make_uuid()}, {"nbf", at},        {"iat", at},
                       {"exp", at + 600}}
            .dump();
    const std::string signing_input =
        encoding::base64url_encode(header) + "." + encoding::base64url_encode(claims);
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    std::size_t size = 0;
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get()) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &size,
                       reinterpret_cast<const unsigned char*>(signing_input.data()),
                       signing_input.size()) != 1) {
      return failure(std::string("the client assertion cannot be signed with this key"));
    }
    std::string signature(size, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &size,
                       reinterpret_cast<const unsigned char*>(signing_input.data()),
                       signing_input.size()) != 1) {
      return failure(std::string("the client assertion cannot be signed with this key"));
    }
    signature.resize(size);
    return signing_input + "." + encoding::base64url_encode(signature);
  }

private:
  std::string thumbprint_;
  std::shared_ptr<EVP_PKEY> key_;
};

// Client credentials (docs/protocols.md, "Authentication and connection strings"): an Entra
// application proves itself with a secret or with a client assertion (a certificate's signed
// JWT, or the federated token Kubernetes projects into the pod).
class AadClientCredentials final : public TokenSource {
public:
  enum class Proof { secret, certificate, federated_token };

  // An application in `tenant` proving itself by `proof`: `secret`, or `file` (the certificate
  // or the federated token file).
  AadClientCredentials(HttpTransport& transport, const Clock& clock, const std::string& authority,
                       std::string tenant, std::string client_id, Proof proof, Secret secret,
                       std::string file, std::string audience)
      : transport_(transport), clock_(clock), proof_(proof),
        tenant_(tenant.empty() ? "organizations" : std::move(tenant)),
        client_id_(std::move(client_id)), secret_(std::move(secret)), file_(std::move(file)),
        scope_(trim_slash(audience) + "/.default"),
        token_url_(fmt::format("{}/{}/oauth2/v2.0/token", trim_slash(authority), tenant_)) {}

  Fetched fetch() override {
    if (client_id_.empty()) {
      return unavailable(fmt::format("{}: no client id (AZURE_CLIENT_ID)", kind()));
    }
    HttpRequest r;
    r.method = "POST";
    r.url = token_url_;
    r.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                 {"Accept", "application/json"}};
    if (proof_ == Proof::secret) {
      r.body = form({{"grant_type", "client_credentials"},
                     {"client_id", client_id_},
                     {"client_secret", secret_.reveal()},
                     {"scope", scope_}});
    } else {
      auto assertion = make_assertion();
      if (!assertion) {
        return refused(fmt::format("{}: {}", kind(), assertion.error().message));
      }
      r.body =
          form({{"grant_type", "client_credentials"},
                {"client_id", client_id_},
                {"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
                {"client_assertion", *assertion},
                {"scope", scope_}});
    }
    return read_token_response(transport_.send(r), *this, clock_.system_now());
  }

  std::string describe() const override {
    return fmt::format("application {} in tenant {} ({})", client_id_, tenant_, proof_name());
  }
  std::string kind() const override {
    return fmt::format("the Entra application ({})", proof_name());
  }

private:
  const char* proof_name() const {
    switch (proof_) {
    case Proof::secret:
      return "client secret";
    case Proof::certificate:
      return "client certificate";
    case Proof::federated_token:
      return "workload identity";
    }
    return "";
  }

  Result<std::string> make_assertion() {
    if (proof_ == Proof::federated_token) {
      // Kubernetes rotates the projected token: read it for every request (docs/protocols.md,
      // "Authentication and connection strings").
      std::string token = read_text(file_);
      if (token.empty()) {
        return failure(
            fmt::format("the federated token file '{}' cannot be read or is empty", file_));
      }
      return token;
    }
    if (!certificate_) {
      auto loaded = CertificateAssertion::load(file_);
      if (!loaded) {
        return failure(std::move(loaded).error());
      }
      certificate_ = std::move(loaded).value();
    }
    return certificate_->make(client_id_, token_url_, clock_.system_now());
  }

  HttpTransport& transport_;
  const Clock& clock_;
  Proof proof_;
  std::string tenant_;
  std::string client_id_;
  Secret secret_;
  std::string file_;
  std::string scope_;
  std::string token_url_;
  std::optional<CertificateAssertion> certificate_;
};

// Managed identity through IMDS, or the App Service identity endpoint (docs/protocols.md,
// "Authentication and connection strings"). In the default chain an endpoint that does not
// answer means "not on Azure": the chain moves on after a short wait.
class ManagedIdentity final : public TokenSource {
public:
  ManagedIdentity(HttpTransport& transport, const Clock& clock, const AuthEnvironment& env,
                  std::string client_id, std::string audience, bool probing)
      : transport_(transport), clock_(clock), env_(env), client_id_(std::move(client_id)),
        resource_(std::move(audience)), probing_(probing) {}

  Fetched fetch() override {
    HttpRequest r;
    r.timeout = std::chrono::milliseconds(probing_ ? 2'000 : 10'000);
    const std::string id = client_id_.empty() ? "" : "&client_id=" + url_encode(client_id_);
    if (!env_.identity_endpoint.empty()) {
      r.url = fmt::format("{}?api-version=2019-08-01&resource={}{}", env_.identity_endpoint,
                          url_encode(resource_), id);
      r.headers = {{"X-IDENTITY-HEADER", env_.identity_header.reveal()}};
    } else {
      r.url = fmt::format("{}/metadata/identity/oauth2/token?api-version=2018-02-01&resource={}{}",
                          trim_slash(env_.imds_endpoint), url_encode(resource_), id);
      r.headers = {{"Metadata", "true"}};
    }
    return read_token_response(transport_.send(r), *this, clock_.system_now(), probing_);
  }

  std::string describe() const override {
    return fmt::format("{} managed identity ({})",
                       client_id_.empty() ? "the system-assigned" : "user-assigned " + client_id_,
                       endpoint());
  }
  std::string kind() const override {
    return fmt::format("{} managed identity ({})",
                       client_id_.empty() ? "the system-assigned" : "the user-assigned",
                       endpoint());
  }

private:
  const char* endpoint() const {
    return env_.identity_endpoint.empty() ? "IMDS" : "App Service endpoint";
  }

  HttpTransport& transport_;
  const Clock& clock_;
  AuthEnvironment env_;
  std::string client_id_;
  std::string resource_;
  bool probing_;
};

// The Azure CLI's login (`az account get-access-token`), for a developer's machine. The CLI is
// run without a shell; the resource and the tenant are checked to be plain identifiers first.
class AzureCli final : public TokenSource {
public:
  AzureCli(const Clock& clock, std::string tenant, std::string audience)
      : clock_(clock), tenant_(std::move(tenant)), resource_(trim_slash(std::move(audience))) {}

  Fetched fetch() override {
    const auto plain = [](const std::string& s) {
      for (const char c : s) {
        if (std::isalnum(static_cast<unsigned char>(c)) == 0 &&
            std::string_view(".-_:/").find(c) == std::string_view::npos) {
          return false;
        }
      }
      return !s.empty() && s.front() != '-';
    };
    if (!plain(resource_) || (!tenant_.empty() && !plain(tenant_))) {
      return refused(fmt::format("{}: the resource or tenant is not a plain identifier", kind()));
    }
    std::vector<std::string> argv{"az",   "account",    "get-access-token", "--output",
                                  "json", "--resource", resource_};
    if (!tenant_.empty()) {
      argv.insert(argv.end(), {"--tenant", tenant_});
    }
    const CommandResult run = run_command(argv, seconds(10));
    if (!run.started) {
      return unavailable(fmt::format("{}: az is not on PATH ({})", kind(), run.error));
    }
    if (run.timed_out) {
      return refused(fmt::format("{}: az did not answer within 10 seconds", kind()));
    }
    if (run.exit_code != 0) {
      const std::string said = printable(run.err.substr(0, run.err.find('\n')), 200);
      auto message = fmt::format("{}: az exited with {}: {}", kind(), run.exit_code, said);
      // Not logged in is "not set up here": the default chain goes on.
      const bool no_login = run.err.find("az login") != std::string::npos;
      return no_login ? unavailable(std::move(message)) : refused(std::move(message));
    }
    const auto json = nlohmann::json::parse(run.out, nullptr, false);
    if (!json.is_object() || !json.contains("accessToken") || !json["accessToken"].is_string()) {
      return refused(fmt::format("{}: az printed no accessToken", kind()));
    }
    AccessToken token{Secret(json["accessToken"].get<std::string>()),
                      clock_.system_now() + std::chrono::minutes(5)};
    if (const auto on = json_number(json, "expires_on")) { // CLI 2.54 and later
      token.expires_at = std::chrono::system_clock::time_point(seconds(*on));
    } else if (json.contains("expiresOn") && json["expiresOn"].is_string()) {
      // Older CLIs: local time, "2026-12-03 04:05:06.000000".
      std::tm tm{};
      std::istringstream in(json["expiresOn"].get<std::string>());
      in >> std::get_time(&tm, "%Y-%m-%d %H:%M:%S");
      if (!in.fail()) {
        tm.tm_isdst = -1;
        token.expires_at = std::chrono::system_clock::from_time_t(std::mktime(&tm));
      }
    }
    return token;
  }

  std::string describe() const override {
    return fmt::format("the Azure CLI's login{}", tenant_.empty() ? "" : " in tenant " + tenant_);
  }
  std::string kind() const override { return "the Azure CLI's login"; }

private:
  const Clock& clock_;
  std::string tenant_;
  std::string resource_;
};

class FixedToken final : public TokenSource {
public:
  explicit FixedToken(Secret token) : token_(std::move(token)) {}
  Fetched fetch() override {
    return AccessToken{token_, std::chrono::system_clock::time_point::max()};
  }
  std::string describe() const override { return "an application token"; }
  std::string kind() const override { return describe(); }

private:
  Secret token_;
};

// The SDKs' DefaultAzureCredential: environment, workload identity, managed identity, Azure CLI,
// in that order. A credential that is not set up here passes to the next; the first one that
// gives a token is kept (and logged), and one that was tried and refused ends the search, as
// in the SDKs. When none is set up, the error lists what each one said.
class DefaultChain final : public TokenSource {
public:
  using Link = std::function<std::unique_ptr<TokenSource>(std::string& why_not)>;
  explicit DefaultChain(std::vector<std::pair<std::string, Link>> links)
      : links_(std::move(links)) {}

  Fetched fetch() override {
    if (chosen_) {
      return chosen_->fetch();
    }
    std::string said;
    for (const auto& [name, make] : links_) {
      std::string why_not;
      auto source = make(why_not);
      if (!source) {
        said += fmt::format("; {}: {}", name, why_not);
        continue;
      }
      auto token = source->fetch();
      if (token) {
        logger("auth")->info("default credential: using {} ({})", name, source->describe());
        chosen_ = std::move(source);
        return token;
      }
      if (!token.error().unavailable) {
        return refused(
            fmt::format("default credential: {} failed: {}", name, token.error().message));
      }
      said += fmt::format("; {}: {}", name, token.error().message);
    }
    return unavailable(fmt::format("default credential: no credential is set up here{}", said));
  }

  std::string describe() const override {
    return chosen_ ? "the default credential: " + chosen_->describe() : "the default credential";
  }
  std::string kind() const override {
    return chosen_ ? "the default credential: " + chosen_->kind() : "the default credential";
  }

private:
  std::vector<std::pair<std::string, Link>> links_;
  std::unique_ptr<TokenSource> chosen_;
};

std::unique_ptr<TokenSource> client_credentials(const Credential& c, const std::string& audience,
                                                const AuthEnvironment& env,
                                                HttpTransport& transport, const Clock& clock,
                                                AadClientCredentials::Proof proof) {
  const auto value = [&](CredentialSetting s) { return resolve(c, env, s).value; };
  return std::make_unique<AadClientCredentials>(
      transport, clock, env.authority_host, value(CredentialSetting::tenant_id),
      value(CredentialSetting::client_id), proof,
      c.client_secret.empty() ? env.client_secret : c.client_secret,
      proof == AadClientCredentials::Proof::secret
          ? std::string()
          : value(proof == AadClientCredentials::Proof::certificate
                      ? CredentialSetting::certificate_file
                      : CredentialSetting::federated_token_file),
      audience);
}

std::unique_ptr<TokenSource> default_chain(const std::string& audience, const AuthEnvironment& env,
                                           HttpTransport& transport, const Clock& clock) {
  using Proof = AadClientCredentials::Proof;
  std::vector<std::pair<std::string, DefaultChain::Link>> links;
  links.emplace_back("environment", [env, &transport, &clock, audience](std::string& why_not) {
    const bool secret = !env.client_secret.empty();
    if (env.tenant_id.empty() || env.client_id.empty() ||
        (!secret && env.client_certificate_path.empty())) {
      why_not = "AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET or "
                "AZURE_CLIENT_CERTIFICATE_PATH are not all set";
      return std::unique_ptr<TokenSource>();
    }
    return client_credentials({}, audience, env, transport, clock,
                              secret ? Proof::secret : Proof::certificate);
  });
  links.emplace_back("workload identity", [env, &transport, &clock,
                                           audience](std::string& why_not) {
    if (env.tenant_id.empty() || env.client_id.empty() || env.federated_token_file.empty()) {
      why_not = "AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE are not all set";
      return std::unique_ptr<TokenSource>();
    }
    return client_credentials({}, audience, env, transport, clock, Proof::federated_token);
  });
  links.emplace_back("managed identity", [env, &transport, &clock, audience](std::string&) {
    return std::unique_ptr<TokenSource>(
        std::make_unique<ManagedIdentity>(transport, clock, env, env.client_id, audience, true));
  });
  links.emplace_back("Azure CLI", [&clock, env, audience](std::string&) {
    return std::unique_ptr<TokenSource>(std::make_unique<AzureCli>(clock, env.tenant_id, audience));
  });
  return std::make_unique<DefaultChain>(std::move(links));
}

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
  e.client_secret = Secret(env("AZURE_CLIENT_SECRET"));
  e.client_certificate_path = env("AZURE_CLIENT_CERTIFICATE_PATH");
  e.federated_token_file = env("AZURE_FEDERATED_TOKEN_FILE");
  return e;
}

namespace {
constexpr std::array<std::pair<CredentialKind, std::string_view>, 8> kKindNames{{
    {CredentialKind::none, "none"},
    {CredentialKind::client_secret, "client_secret"},
    {CredentialKind::client_certificate, "client_certificate"},
    {CredentialKind::workload_identity, "workload_identity"},
    {CredentialKind::managed_identity, "managed_identity"},
    {CredentialKind::azure_cli, "azure_cli"},
    {CredentialKind::default_chain, "default"},
    {CredentialKind::fixed_token, "token"},
}};
} // namespace

std::string_view credential_kind_name(CredentialKind kind) {
  for (const auto& [k, name] : kKindNames) {
    if (k == kind) {
      return name;
    }
  }
  return "?";
}

Result<CredentialKind> parse_credential_kind(std::string_view text) {
  std::string names;
  for (const auto& [k, name] : kKindNames) {
    if (name == text) {
      return k;
    }
    names += (names.empty() ? "" : ", ") + std::string(name);
  }
  return failure(fmt::format("unknown credential '{}' (one of: {})", printable(text, 40), names));
}

ResolvedSetting resolve(const Credential& c, const AuthEnvironment& env,
                        CredentialSetting setting) {
  struct Where {
    const std::string Credential::*own;
    const std::string AuthEnvironment::*fallback;
    std::string_view variable;
  };
  static constexpr Where kWhere[] = {
      {&Credential::tenant_id, &AuthEnvironment::tenant_id, "AZURE_TENANT_ID"},
      {&Credential::client_id, &AuthEnvironment::client_id, "AZURE_CLIENT_ID"},
      {&Credential::certificate_file, &AuthEnvironment::client_certificate_path,
       "AZURE_CLIENT_CERTIFICATE_PATH"},
      {&Credential::federated_token_file, &AuthEnvironment::federated_token_file,
       "AZURE_FEDERATED_TOKEN_FILE"},
  };
  const Where& w = kWhere[static_cast<std::size_t>(setting)];
  if (!(c.*w.own).empty()) {
    return {c.*w.own, w.variable, false};
  }
  return {env.*w.fallback, w.variable, !(env.*w.fallback).empty()};
}

std::unique_ptr<TokenSource> make_token_source(const Credential& credential,
                                               const std::string& audience,
                                               const AuthEnvironment& environment,
                                               HttpTransport& transport, const Clock& clock) {
  using Proof = AadClientCredentials::Proof;
  switch (credential.kind) {
  case CredentialKind::none:
    return nullptr;
  case CredentialKind::client_secret:
    return client_credentials(credential, audience, environment, transport, clock, Proof::secret);
  case CredentialKind::client_certificate:
    return client_credentials(credential, audience, environment, transport, clock,
                              Proof::certificate);
  case CredentialKind::workload_identity:
    return client_credentials(credential, audience, environment, transport, clock,
                              Proof::federated_token);
  case CredentialKind::managed_identity:
    return std::make_unique<ManagedIdentity>(transport, clock, environment, credential.client_id,
                                             audience, false);
  case CredentialKind::azure_cli:
    return std::make_unique<AzureCli>(clock, credential.tenant_id, audience);
  case CredentialKind::default_chain:
    return default_chain(audience, environment, transport, clock);
  case CredentialKind::fixed_token:
    return std::make_unique<FixedToken>(credential.token);
  }
  return nullptr;
}

} // namespace hub2kusto::azure
