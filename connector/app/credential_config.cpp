#include "app/credential_config.hpp"

#include <fmt/format.h>

#include "app/config.hpp"

namespace hub2kusto::app {
namespace {

using azure::CredentialKind;

// Which settings each kind reads (besides `kind`).
bool applies(CredentialKind kind, std::string_view key) {
  switch (kind) {
  case CredentialKind::client_secret:
    return key == "tenant_id" || key == "client_id" || key == "client_secret";
  case CredentialKind::client_certificate:
    return key == "tenant_id" || key == "client_id" || key == "certificate_file";
  case CredentialKind::workload_identity:
    return key == "tenant_id" || key == "client_id" || key == "federated_token_file";
  case CredentialKind::managed_identity:
    return key == "client_id";
  case CredentialKind::azure_cli:
    return key == "tenant_id";
  case CredentialKind::fixed_token:
    return key == "token";
  case CredentialKind::none:
  case CredentialKind::default_chain:
    return false;
  }
  return false;
}

// "<value>" when set here, else "<value of VARIABLE> (environment VARIABLE)" or a note that
// neither says.
nlohmann::json from(const azure::Credential& c, const azure::AuthEnvironment& env,
                    azure::CredentialSetting setting) {
  const auto s = azure::resolve(c, env, setting);
  if (s.value.empty()) {
    return fmt::format("not set (here or in environment {})", s.variable);
  }
  return s.from_environment ? fmt::format("{} (environment {})", s.value, s.variable) : s.value;
}

} // namespace

std::optional<azure::Credential> read_credential(Section s) {
  const auto kind = s.string("kind");
  azure::Credential out;
  struct Setting {
    const char* key;
    std::optional<std::string> value;
  };
  Setting settings[] = {
      {"tenant_id", s.string("tenant_id")},
      {"client_id", s.string("client_id")},
      {"client_secret", s.string("client_secret", Sensitivity::secret)},
      {"certificate_file", s.string("certificate_file")},
      {"federated_token_file", s.string("federated_token_file")},
      {"token", s.string("token", Sensitivity::secret)},
  };
  s.finish();
  bool any = false;
  for (const auto& setting : settings) {
    any = any || setting.value.has_value();
  }
  if (!kind) {
    if (any) {
      s.problem("kind", "required: client_secret, client_certificate, workload_identity, "
                        "managed_identity, azure_cli or default");
    }
    return std::nullopt;
  }
  const auto parsed = azure::parse_credential_kind(*kind);
  if (!parsed) {
    s.problem("kind", parsed.error().message);
    return std::nullopt;
  }
  out.kind = *parsed;
  for (const auto& [key, value] : settings) {
    if (value && !applies(out.kind, key)) {
      s.problem(key, fmt::format("does not apply to a {} credential", *kind));
    }
  }
  const auto value = [&](std::size_t i) { return settings[i].value.value_or(""); };
  out.tenant_id = value(0);
  out.client_id = value(1);
  out.client_secret = Secret(value(2));
  out.certificate_file = value(3);
  out.federated_token_file = value(4);
  out.token = Secret(value(5));
  if (out.kind == CredentialKind::fixed_token && out.token.empty()) {
    s.problem("token", "required for a token credential");
  }
  return out;
}

// Which identity reads the hub: the connection string's key, or an Entra ID credential.
void read_source_credential(Section& s, SourceConfig& out,
                            const std::optional<azure::Credential>& credential,
                            const std::optional<azure::Credential>& shared) {
  const auto* eh = std::get_if<EventHubsConnectionString>(&out.connection);
  if (eh == nullptr) {
    if (credential) {
      s.problem("credential", "an IoT Hub's built-in endpoint is read with the service policy's "
                              "key from the connection string, not with a credential");
    }
    return;
  }
  if (eh->has_key()) {
    if (credential) {
      s.problem("credential", "the connection string has a key and source.credential names an "
                              "identity too: keep one");
    }
    return;
  }
  if (credential) {
    out.credential = *credential;
  } else if (shared) {
    out.credential = *shared;
  } else {
    s.problem("connection_string",
              "no credentials: give 'SharedAccessKeyName' and 'SharedAccessKey' or "
              "'SharedAccessSignature' in the connection string, or a Microsoft Entra ID "
              "credential (source.credential, or the top-level credential)");
  }
}

nlohmann::json credential_json(const azure::Credential& c, const azure::AuthEnvironment& env) {
  nlohmann::json out = {{"kind", std::string(azure::credential_kind_name(c.kind))}};
  if (c.kind == CredentialKind::client_secret || c.kind == CredentialKind::client_certificate ||
      c.kind == CredentialKind::workload_identity) { // an Entra application
    out["tenant_id"] = from(c, env, azure::CredentialSetting::tenant_id);
    out["client_id"] = from(c, env, azure::CredentialSetting::client_id);
  }
  switch (c.kind) {
  case CredentialKind::none:
    break;
  case CredentialKind::client_secret:
    out["client_secret"] = !c.client_secret.empty()
                               ? "set in the configuration (secret_sources says where from)"
                           : !env.client_secret.empty() ? "environment AZURE_CLIENT_SECRET"
                                                        : "not set (here or in environment "
                                                          "AZURE_CLIENT_SECRET)";
    break;
  case CredentialKind::client_certificate:
    out["certificate_file"] = from(c, env, azure::CredentialSetting::certificate_file);
    break;
  case CredentialKind::workload_identity:
    out["federated_token_file"] = from(c, env, azure::CredentialSetting::federated_token_file);
    break;
  case CredentialKind::managed_identity:
    out["identity"] = c.client_id.empty() ? "system-assigned" : "user-assigned " + c.client_id;
    out["endpoint"] = env.identity_endpoint.empty()
                          ? env.imds_endpoint + " (IMDS)"
                          : env.identity_endpoint + " (App Service, environment IDENTITY_ENDPOINT)";
    break;
  case CredentialKind::azure_cli:
    out["command"] = "az account get-access-token";
    if (!c.tenant_id.empty()) {
      out["tenant_id"] = c.tenant_id;
    }
    break;
  case CredentialKind::default_chain: {
    // What each link would find in this environment, in the order they are tried.
    const bool has_ids = !env.tenant_id.empty() && !env.client_id.empty();
    nlohmann::json chain = nlohmann::json::array();
    chain.push_back({{"environment", has_ids && !env.client_secret.empty()
                                         ? "client secret (AZURE_CLIENT_SECRET)"
                                     : has_ids && !env.client_certificate_path.empty()
                                         ? "client certificate (AZURE_CLIENT_CERTIFICATE_PATH)"
                                         : "not set up"}});
    chain.push_back({{"workload_identity", has_ids && !env.federated_token_file.empty()
                                               ? "AZURE_FEDERATED_TOKEN_FILE"
                                               : "not set up"}});
    chain.push_back({{"managed_identity", "tried at run time"}});
    chain.push_back({{"azure_cli", "tried at run time"}});
    out["chain"] = chain;
    break;
  }
  case CredentialKind::fixed_token:
    out["token"] = "set in the configuration (secret_sources says where from)";
    break;
  }
  return out;
}

} // namespace hub2kusto::app
