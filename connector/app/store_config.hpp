#pragma once
// The `checkpoint` and `dead_letter` settings: files below a directory, or blobs in an Azure
// Storage container reached by a connection string (key or SAS) or by its endpoint and a
// Microsoft Entra ID credential.
//
//   "checkpoint": {"store": "blob", "container": "checkpoints",
//                  "blob_endpoint": "https://<account>.blob.core.windows.net",
//                  "credential": {"kind": "workload_identity"}}     // or the top-level one
#include <chrono>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "app/config.hpp"
#include "app/config_reader.hpp"
#include "azure/blob_client.hpp"
#include "azure/credential.hpp"
#include "common/clock.hpp"

namespace hub2kusto::app {

// `shared` is the top-level credential, for a store given by its endpoint and no credential
// of its own.
void read_checkpoint(Section s, CheckpointConfig& out,
                     const std::optional<azure::Credential>& shared);
// The `ownership` settings ("enabled", "owner_id", "update_interval", "expiration",
// "strategy": balanced or greedy); `checkpoint` says whether there is a blob store for them.
void read_ownership(Section s, OwnershipConfig& out, const CheckpointConfig& checkpoint);
nlohmann::json ownership_json(const Config& config);
void read_dead_letter(Section s, DeadLetterConfig& out,
                      const std::optional<azure::Credential>& shared);

// A store's settings as `check-config` prints them: the connection string redacted, or the
// endpoint and the credential with where its settings come from.
nlohmann::json store_json(const StoreConfig& store, const azure::AuthEnvironment& environment);

// The client of a blob store's account; with tokens for Azure Storage when the store is opened
// by a credential (fetched on their own HTTP client).
std::unique_ptr<azure::BlobClient>
make_blob_client(const StoreConfig& store, azure::HttpTransport& transport, const Clock& clock,
                 std::chrono::milliseconds timeout = std::chrono::seconds(30));

} // namespace hub2kusto::app
