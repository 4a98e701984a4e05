#include "app/store_config.hpp"

#include <array>
#include <string>
#include <string_view>
#include <unistd.h>
#include <utility>

#include <fmt/format.h>

#include "app/credential_config.hpp"
#include "azure/storage_connection_string.hpp"
#include "azure/token_provider.hpp"
#include "base/text.hpp"
#include "common/redact.hpp"

namespace hub2kusto::app {
namespace {

std::optional<std::string> check_container_name(std::string_view name) {
  if (name.size() < 3 || name.size() > 63) {
    return std::string("must be 3 to 63 characters");
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok || (c == '-' && (i == 0 || i + 1 == name.size() || name[i - 1] == '-'))) {
      return std::string("may contain only lower-case letters, digits and single hyphens "
                         "inside the name");
    }
  }
  return std::nullopt;
}

// The settings both stores share, as read from their section.
struct StoreSettings {
  std::optional<std::string> store;
  std::optional<std::string> directory;
  std::optional<std::string> blob_connection_string;
  std::optional<std::string> blob_endpoint;
  std::optional<azure::Credential> credential;
  std::optional<std::string> container;

  explicit StoreSettings(Section& s)
      : store(s.string("store")), directory(s.string("directory")),
        blob_connection_string(s.string("blob_connection_string", Sensitivity::secret)),
        blob_endpoint(s.string("blob_endpoint")),
        credential(read_credential(s.section("credential"))), container(s.string("container")) {}

  // The settings only a blob store reads, and whether each is given.
  std::array<std::pair<const char*, bool>, 4> blob_settings() const {
    return {{{"blob_connection_string", blob_connection_string.has_value()},
             {"blob_endpoint", blob_endpoint.has_value()},
             {"credential", credential.has_value()},
             {"container", container.has_value()}}};
  }
};

// The account of a blob store: a connection string with its key or SAS, or an endpoint that
// Entra ID tokens open (Storage takes those only over HTTPS).
void read_account(Section& s, const StoreSettings& in, StoreConfig& out,
                  const std::optional<azure::Credential>& shared) {
  if (in.blob_connection_string && in.blob_endpoint) {
    s.problem("blob_endpoint", "give blob_endpoint (with a credential) or "
                               "blob_connection_string, not both");
    return;
  }
  if (in.blob_connection_string) {
    if (in.credential) {
      s.problem("credential", "blob_connection_string has a key or SAS and credential names an "
                              "identity too: keep one (blob_endpoint goes with a credential)");
    }
    out.blob_connection_string = Secret(*in.blob_connection_string);
    auto parsed = azure::parse_storage_connection_string(*in.blob_connection_string);
    if (!parsed) {
      s.problem("blob_connection_string", parsed.error().message);
    } else {
      out.blob_storage = std::move(parsed).value();
    }
    return;
  }
  if (!in.blob_endpoint) {
    s.problem("blob_connection_string",
              "required with store 'blob': the Azure Storage connection string, or blob_endpoint "
              "with a Microsoft Entra ID credential");
    return;
  }
  std::string endpoint = *in.blob_endpoint;
  while (!endpoint.empty() && endpoint.back() == '/') {
    endpoint.pop_back();
  }
  if (!text::iequals(endpoint.substr(0, 8), "https://") || endpoint.size() <= 8 ||
      endpoint.find_first_of("?#") != std::string::npos) {
    s.problem("blob_endpoint",
              fmt::format("'{}' is not an https:// URL of a blob service (Azure Storage takes "
                          "Entra ID tokens only over HTTPS)",
                          printable(*in.blob_endpoint, 80)));
    return;
  }
  out.blob_storage.blob_endpoint = std::move(endpoint);
  if (in.credential) {
    out.credential = *in.credential;
  } else if (shared) {
    out.credential = *shared;
  } else {
    s.problem("blob_endpoint", "no credentials: give a Microsoft Entra ID credential (credential "
                               "here, or the top-level credential), or blob_connection_string "
                               "with a key or SAS instead");
  }
}

void read_store(Section& s, const StoreSettings& in, StoreConfig& out, const std::string& what,
                const std::optional<azure::Credential>& shared) {
  if (in.store) {
    if (*in.store == "file") {
      out.store = StoreConfig::Store::file;
    } else if (*in.store == "blob") {
      out.store = StoreConfig::Store::blob;
    } else {
      s.problem("store", fmt::format("'{}' is not a {} store: use file or blob", *in.store, what));
    }
  }
  if (out.store == StoreConfig::Store::blob) {
    if (in.directory) {
      s.problem("directory", "applies only to store 'file'");
    }
    read_account(s, in, out, shared);
    if (!in.container) {
      s.problem("container", "required with store 'blob'");
    } else if (auto why = check_container_name(*in.container)) {
      s.problem("container", fmt::format("'{}' {}", *in.container, *why));
    } else {
      out.container = *in.container;
    }
    return;
  }
  if (in.directory && in.directory->empty()) {
    s.problem("directory", "must not be empty");
  } else if (in.directory) {
    out.directory = *in.directory;
  }
  const auto blob_settings = in.blob_settings();
  for (const auto& [key, given] : blob_settings) {
    if (!given) {
      continue;
    }
    if (!in.store) {
      s.problem("store", "blob settings are given but the store is 'file' (the default); set "
                         "store to 'blob'");
      return;
    }
    s.problem(key, "applies only to store 'blob'");
  }
}

} // namespace

void read_checkpoint(Section s, CheckpointConfig& out,
                     const std::optional<azure::Credential>& shared) {
  const StoreSettings settings(s);
  const auto interval = s.duration("interval");
  s.finish();
  read_store(s, settings, out, "checkpoint", shared);
  if (interval) {
    if (*interval > std::chrono::minutes(10)) {
      s.problem("interval", "must be at most 10m");
    } else {
      out.interval = *interval;
    }
  }
}

void read_ownership(Section s, OwnershipConfig& out, const CheckpointConfig& checkpoint) {
  out.enabled = s.boolean("enabled");
  const auto owner = s.string("owner_id");
  const auto interval = s.duration("update_interval");
  const auto expiration = s.duration("expiration");
  const auto strategy = s.string("strategy");
  s.finish();
  if (out.enabled.value_or(false) && checkpoint.store != StoreConfig::Store::blob) {
    s.problem("enabled", "ownership needs the checkpoints in blob storage (checkpoint.store "
                         "'blob'): with file checkpoints only one replica may run");
  }
  if (owner && (owner->empty() || owner->size() > 256)) {
    s.problem("owner_id", "must be 1 to 256 characters");
  } else if (owner) {
    out.owner_id = *owner;
  } else {
    std::array<char, 256> host{};
    const std::string name =
        ::gethostname(host.data(), host.size() - 1) == 0 ? host.data() : "hub2kusto";
    out.owner_id = fmt::format("{}-{}", name, ::getpid());
  }
  if (interval && (*interval < std::chrono::seconds(1) || *interval > std::chrono::minutes(5))) {
    s.problem("update_interval", "must be from 1s to 5m");
  } else if (interval) {
    out.update_interval = *interval;
  }
  if (expiration) {
    out.expiration = *expiration;
  }
  // Peers must not take partitions from an owner between two of its cycles.
  if (out.expiration < 3 * out.update_interval) {
    s.problem("expiration", fmt::format("must be at least three update intervals ({} ms)",
                                        3 * out.update_interval.count()));
  }
  if (strategy && *strategy != "balanced" && *strategy != "greedy") {
    s.problem("strategy", fmt::format("'{}' is not a strategy: use balanced or greedy", *strategy));
  } else if (strategy) {
    out.greedy = *strategy == "greedy";
  }
}

nlohmann::json ownership_json(const Config& config) {
  if (!config.ownership_on()) {
    return {{"enabled", false},
            {"note", config.checkpoint.store == StoreConfig::Store::blob
                         ? "off: every replica reads every partition, so run one"
                         : "off with file checkpoints: run only one replica"}};
  }
  const auto& o = config.ownership;
  return {{"enabled", true},
          {"owner_id", o.owner_id},
          {"update_interval", fmt::format("{}ms", o.update_interval.count())},
          {"expiration", fmt::format("{}ms", o.expiration.count())},
          {"strategy", o.greedy ? "greedy" : "balanced"}};
}

void read_dead_letter(Section s, DeadLetterConfig& out,
                      const std::optional<azure::Credential>& shared) {
  const StoreSettings settings(s);
  s.finish();
  read_store(s, settings, out, "dead-letter", shared);
}

nlohmann::json store_json(const StoreConfig& store, const azure::AuthEnvironment& environment) {
  if (store.store == StoreConfig::Store::file) {
    return {{"store", "file"}, {"directory", store.directory}};
  }
  nlohmann::json out = {{"store", "blob"}, {"container", store.container}};
  if (store.blob_connection_string.empty()) {
    out["blob_endpoint"] = store.blob_storage.blob_endpoint;
    out["credential"] = credential_json(store.credential, environment);
  } else {
    out["blob_connection_string"] = redact_connection_string(store.blob_connection_string.reveal());
  }
  return out;
}

std::unique_ptr<azure::BlobClient> make_blob_client(const StoreConfig& store,
                                                    azure::HttpTransport& transport,
                                                    const Clock& clock,
                                                    std::chrono::milliseconds timeout) {
  return std::make_unique<azure::BlobClient>(
      store.blob_storage, transport, clock, timeout,
      azure::make_standalone_token_provider(store.credential, azure::kStorageAudience));
}

} // namespace hub2kusto::app
