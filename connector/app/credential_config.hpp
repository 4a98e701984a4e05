#pragma once
// The `credential` settings (docs/protocols.md, "Authentication and connection strings"): one
// object at the top for every Azure endpoint, and one per endpoint where that endpoint needs
// another identity.
//
//   "credential": {"kind": "workload_identity"}            // AZURE_* from the environment
//   "credential": {"kind": "client_secret", "tenant_id": "...", "client_id": "...",
//                  "client_secret_file": "/var/run/secrets/hub2kusto/client-secret"}
//   "credential": {"kind": "client_certificate", "tenant_id": "...", "client_id": "...",
//                  "certificate_file": "/var/run/secrets/hub2kusto/app.pem"}
//   "credential": {"kind": "managed_identity", "client_id": "<user-assigned>"}
//   "credential": {"kind": "azure_cli"} or {"kind": "default"}
#include <optional>

#include <nlohmann/json.hpp>

#include "app/config_reader.hpp"
#include "azure/credential.hpp"

namespace hub2kusto::app {

// The credential in `s` (the section named `credential`), or none when the section is absent.
// Settings that do not apply to the kind are problems, not silently ignored.
std::optional<azure::Credential> read_credential(Section s);

struct SourceConfig;

// Which identity reads an Event Hub: the connection string's key, else `credential` (the
// source's own), else `shared` (the top-level one); with neither, a problem. IoT Hub takes
// only its key.
void read_source_credential(Section& s, SourceConfig& out,
                            const std::optional<azure::Credential>& credential,
                            const std::optional<azure::Credential>& shared);

// For check-config: the kind, the identifiers, and where every identifier and secret comes
// from (this object, or the AZURE_* variable the credential falls back to); never a secret.
nlohmann::json credential_json(const azure::Credential& credential,
                               const azure::AuthEnvironment& environment);

} // namespace hub2kusto::app
