#include "common/kusto_connection_string.hpp"

#include <array>
#include <optional>

#include <fmt/format.h>

#include "base/text.hpp"
#include "common/endpoint.hpp"
#include "common/key_value_list.hpp"

namespace hub2kusto {
namespace {

enum class Keyword {
  data_source,
  initial_catalog,
  federated_security,
  authority_id,
  application_client_id,
  application_key,
  application_token,
  application_name_for_tracing,
  managed_identity,
  workload_identity,
  federated_token_file,
  accepted_and_ignored,
  unsupported,
};

struct KeywordSpec {
  Keyword keyword;
  std::string_view canonical;
  std::array<std::string_view, 5> aliases; // normalized (lower-case, no spaces)
};

// docs/protocols.md, "Authentication and connection strings": the keyword table shared by the
// python, go and java SDKs, plus the two hub2kusto extensions.
constexpr std::array kKeywords = {
    KeywordSpec{Keyword::data_source,
                "Data Source",
                {"datasource", "server", "addr", "address", "networkaddress"}},
    KeywordSpec{Keyword::initial_catalog, "Initial Catalog", {"initialcatalog", "database"}},
    KeywordSpec{Keyword::federated_security,
                "AAD Federated Security",
                {"aadfederatedsecurity", "federatedsecurity", "aadfed", "fed", "federated"}},
    KeywordSpec{Keyword::authority_id,
                "Authority Id",
                {"authorityid", "tenantid", "tid", "tenant", "authority"}},
    KeywordSpec{Keyword::application_client_id,
                "Application Client Id",
                {"applicationclientid", "appclientid"}},
    KeywordSpec{Keyword::application_key, "Application Key", {"applicationkey", "appkey"}},
    KeywordSpec{Keyword::application_token, "Application Token", {"applicationtoken", "apptoken"}},
    KeywordSpec{Keyword::application_name_for_tracing,
                "Application Name for Tracing",
                {"applicationnamefortracing", "traceappname"}},
    KeywordSpec{Keyword::managed_identity, "Managed Identity", {"managedidentity", "msi"}},
    KeywordSpec{Keyword::workload_identity, "Workload Identity", {"workloadidentity"}},
    KeywordSpec{Keyword::federated_token_file, "Federated Token File", {"federatedtokenfile"}},
    KeywordSpec{Keyword::accepted_and_ignored,
                "User Name for Tracing",
                {"usernamefortracing", "traceusername"}},
    KeywordSpec{Keyword::accepted_and_ignored, "Streaming", {"streaming"}},
    KeywordSpec{Keyword::accepted_and_ignored, "Uncompressed", {"uncompressed"}},
    KeywordSpec{Keyword::accepted_and_ignored, "Accept", {"accept"}},
    KeywordSpec{Keyword::accepted_and_ignored, "Query Consistency", {"queryconsistency"}},
    KeywordSpec{Keyword::accepted_and_ignored, "Azure Region", {"azureregion", "region"}},
    KeywordSpec{Keyword::accepted_and_ignored, "Namespace", {"namespace", "ns"}},
    KeywordSpec{
        Keyword::unsupported, "User ID", {"userid", "user", "uid", "loginhint", "aaduserid"}},
    KeywordSpec{Keyword::unsupported, "Password", {"password", "pwd"}},
    KeywordSpec{Keyword::unsupported, "User Token", {"usertoken", "usrtoken"}},
    KeywordSpec{Keyword::unsupported,
                "Application Certificate Thumbprint",
                {"applicationcertificatethumbprint", "appcert"}},
    KeywordSpec{
        Keyword::unsupported, "Application Certificate Blob", {"applicationcertificateblob"}},
    KeywordSpec{
        Keyword::unsupported,
        "Application Certificate Subject Distinguished Name",
        {"applicationcertificatesubjectdistinguishedname", "applicationcertificatesubject"}},
    KeywordSpec{Keyword::unsupported,
                "Application Certificate Issuer Distinguished Name",
                {"applicationcertificateissuerdistinguishedname", "applicationcertificateissuer"}},
    KeywordSpec{Keyword::unsupported,
                "Application Certificate SendX5c",
                {"applicationcertificatesendx5c", "applicationcertificatex5c", "sendx5c",
                 "sendcertificatechain"}},
    KeywordSpec{Keyword::unsupported,
                "dSTS Federated Security",
                {"dstsfederatedsecurity", "dstsfed", "dststokentype"}},
};

const KeywordSpec* lookup(std::string_view key) {
  const std::string normalized = normalize_keyword(key);
  for (const auto& spec : kKeywords) {
    for (const auto alias : spec.aliases) {
      if (!alias.empty() && alias == normalized) {
        return &spec;
      }
    }
  }
  return nullptr;
}

Failure<Error> fail(std::string_view message) {
  return failure(fmt::format("Kusto connection string: {}", message));
}

std::optional<bool> parse_bool(std::string_view v) {
  if (text::iequals(v, "true")) {
    return true;
  }
  if (text::iequals(v, "false")) {
    return false;
  }
  return std::nullopt;
}

} // namespace

std::string_view to_string(KustoAuth auth) {
  switch (auth) {
  case KustoAuth::none:
    return "none";
  case KustoAuth::application_key:
    return "application key";
  case KustoAuth::application_token:
    return "application token";
  case KustoAuth::managed_identity:
    return "managed identity";
  case KustoAuth::workload_identity:
    return "workload identity";
  }
  return "unknown";
}

std::string KustoConnectionString::data_source() const {
  const bool default_port = (scheme == "https" && port == 443) || (scheme == "http" && port == 80);
  const std::string h = host.find(':') != std::string::npos ? fmt::format("[{}]", host) : host;
  return default_port ? fmt::format("{}://{}", scheme, h)
                      : fmt::format("{}://{}:{}", scheme, h, port);
}

std::string KustoConnectionString::engine_url() const {
  if (host.rfind("ingest-", 0) != 0) {
    return data_source();
  }
  KustoConnectionString engine = *this;
  engine.host = host.substr(7);
  return engine.data_source();
}

std::string KustoConnectionString::data_management_url() const {
  if (is_loopback_host(host) || host.rfind("ingest-", 0) == 0 ||
      host.find_first_not_of("0123456789.") == std::string::npos ||
      host.find(':') != std::string::npos) {
    return data_source();
  }
  KustoConnectionString dm = *this;
  dm.host = "ingest-" + host;
  return dm.data_source();
}

Result<KustoConnectionString> parse_kusto_connection_string(std::string_view text) {
  auto pairs = parse_key_value_list(text, KeyValueSyntax::kusto);
  if (!pairs) {
    return fail(pairs.error().message);
  }
  KustoConnectionString cs;
  std::optional<std::string> data_source;
  bool federated = false;
  bool federated_given = false;
  std::optional<std::string> managed_identity;
  bool workload_identity = false;
  std::vector<Keyword> seen;

  for (const auto& kv : *pairs) {
    const KeywordSpec* spec = lookup(kv.key);
    if (spec == nullptr) {
      return fail(fmt::format("unknown keyword '{}'", kv.key));
    }
    if (spec->keyword == Keyword::unsupported) {
      return fail(fmt::format("'{}' is not supported by hub2kusto; authenticate with "
                              "Application Client Id and Application Key, Managed Identity or "
                              "Workload Identity",
                              spec->canonical));
    }
    if (spec->keyword != Keyword::accepted_and_ignored) {
      for (const Keyword k : seen) {
        if (k == spec->keyword) {
          return fail(fmt::format("'{}' is given more than once", spec->canonical));
        }
      }
      seen.push_back(spec->keyword);
    }
    const std::string& v = kv.value;
    if (v.empty() && spec->keyword != Keyword::accepted_and_ignored) {
      return fail(fmt::format("'{}' has an empty value", spec->canonical));
    }
    switch (spec->keyword) {
    case Keyword::data_source:
      data_source = v;
      break;
    case Keyword::initial_catalog:
      cs.initial_catalog = v;
      break;
    case Keyword::federated_security: {
      const auto b = parse_bool(v);
      if (!b) {
        return fail("'AAD Federated Security' must be true or false");
      }
      federated = *b;
      federated_given = true;
      break;
    }
    case Keyword::authority_id:
      cs.authority_id = v;
      break;
    case Keyword::application_client_id:
      cs.application_client_id = v;
      break;
    case Keyword::application_key:
      cs.application_key = Secret(v);
      break;
    case Keyword::application_token:
      cs.application_token = Secret(v);
      break;
    case Keyword::application_name_for_tracing:
      cs.application_name_for_tracing = v;
      break;
    case Keyword::managed_identity:
      managed_identity = v;
      break;
    case Keyword::workload_identity: {
      const auto b = parse_bool(v);
      if (!b) {
        return fail("'Workload Identity' must be true or false");
      }
      workload_identity = *b;
      break;
    }
    case Keyword::federated_token_file:
      cs.federated_token_file = v;
      break;
    case Keyword::accepted_and_ignored:
    case Keyword::unsupported:
      break;
    }
  }

  if (!data_source) {
    return fail("'Data Source' is missing (expected Data Source=https://<cluster>.<region>."
                "kusto.windows.net)");
  }
  auto ep = parse_endpoint_uri(*data_source, "'Data Source'");
  if (!ep) {
    return fail(ep.error().message);
  }
  if (ep->scheme != "https" && ep->scheme != "http") {
    return fail("'Data Source' must be an https:// (or, for a local emulator, http://) URL");
  }
  cs.scheme = ep->scheme;
  cs.host = ep->host;
  cs.port = ep->port.value_or(cs.scheme == "https" ? 443 : 80);
  if (!ep->path.empty()) {
    if (ep->path.find('/') != std::string::npos) {
      return fail("'Data Source' may name at most one path segment (the database)");
    }
    if (!cs.initial_catalog.empty() && cs.initial_catalog != ep->path) {
      return fail("'Data Source' names a database that differs from 'Initial Catalog'");
    }
    cs.initial_catalog = ep->path;
  }

  const bool has_app_key = !cs.application_key.empty();
  const bool has_token = !cs.application_token.empty();
  const bool has_msi = managed_identity.has_value();
  const int identities = int(has_app_key) + int(has_token) + int(has_msi) + int(workload_identity);
  if (identities > 1) {
    return fail("give exactly one identity: Application Key, Application Token, Managed "
                "Identity or Workload Identity");
  }
  if (!federated) {
    if (identities > 0 || !cs.application_client_id.empty()) {
      return fail(federated_given
                      ? "an identity is set but 'AAD Federated Security' is false"
                      : "an identity is set but 'AAD Federated Security=True' is missing");
    }
    cs.auth = KustoAuth::none;
    cs.federated_security_off = federated_given;
    return cs;
  }
  if (identities == 0) {
    return fail("'AAD Federated Security=True' needs an identity: Application Client Id with "
                "Application Key and Authority Id, Managed Identity, or Workload Identity");
  }
  if (cs.scheme == "http" && !is_loopback_host(cs.host)) {
    // The SDKs refuse to send a token over plain HTTP except to localhost (docs/protocols.md,
    // "Authentication and connection strings").
    return fail("AAD tokens are only sent over https, or over http to a loopback host");
  }
  if (has_app_key) {
    if (cs.application_client_id.empty()) {
      return fail("'Application Key' needs 'Application Client Id'");
    }
    if (cs.authority_id.empty()) {
      return fail("'Application Key' needs 'Authority Id' (the tenant id or domain)");
    }
    cs.auth = KustoAuth::application_key;
  } else if (has_token) {
    cs.auth = KustoAuth::application_token;
  } else if (has_msi) {
    if (text::iequals(*managed_identity, "system") || text::iequals(*managed_identity, "true")) {
      // system-assigned: no client id
    } else {
      if (!cs.application_client_id.empty() && cs.application_client_id != *managed_identity) {
        return fail("'Managed Identity' and 'Application Client Id' name different clients");
      }
      cs.application_client_id = *managed_identity;
    }
    cs.auth = KustoAuth::managed_identity;
  } else {
    cs.auth = KustoAuth::workload_identity;
  }
  if (cs.auth != KustoAuth::workload_identity && !cs.federated_token_file.empty()) {
    return fail("'Federated Token File' only applies with 'Workload Identity=true'");
  }
  return cs;
}

} // namespace hub2kusto
