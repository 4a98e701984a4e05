#pragma once
// A Kusto-compatible HTTP server for tests (docs/protocols.md, "Kusto"): the engine endpoints
// (streaming ingestion, mgmt, v1/v2 query, auth metadata), the data management endpoints on the
// same port (SDKs leave localhost URLs alone; docs/protocols.md, "Kusto endpoints"), a worker that
// performs queued ingestion from Azurite, local token endpoints (AAD client credentials and client
// assertion, IMDS, App Service), and a fault-injection control API under /_control/.
//
// Threading: cpprestsdk serves requests on its thread pool; one mutex guards the catalog and
// the fault state. The queued-ingestion worker is one thread of its own.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "storage_client.hpp"

namespace hub2kusto::kusto_emulator {

struct EmulatorConfig {
  std::string host = "127.0.0.1";
  int port = 0;
  std::vector<std::string> databases{"db"};
  std::size_t streaming_max_bytes =
      4u << 20; // of the inflated body (docs/protocols.md, "Streaming ingestion requests")
  std::optional<StorageEndpoints> storage; // queued ingestion through Azurite when set
  std::string data_directory;              // journal of every change, replayed at start
  // Authentication: when required, every engine and DM request needs a bearer token issued by
  // the token endpoints below (and unexpired), or one of `static_tokens`.
  bool require_token = false;
  std::vector<std::string> static_tokens;
  std::int64_t token_lifetime_seconds = 3600;
  std::vector<std::pair<std::string, std::string>> applications; // client id -> secret
  std::vector<std::pair<std::string, std::string>> federated;    // client id -> assertion
  std::string identity_header = "emulator-identity-header";      // App Service X-IDENTITY-HEADER
  // A PEM private key: the token endpoints then issue RS256 JWTs signed with it (claims aud,
  // iss https://sts.windows.net/<tenant>/, appid, tid, exp), which the Event Hubs emulator checks
  // with the same key. Empty: opaque tokens only this emulator knows.
  std::string signing_key_file;
  std::string managed_identity_tenant = "emulator-tenant"; // the tenant of managed identities
  // The cluster's resource id, named by GET /v1/rest/auth/metadata; issued tokens are accepted
  // only for this audience.
  std::string resource_id = "https://kusto.kusto.windows.net";
  // A datetime column of this name, in any table, is set on every ingested row to the time the
  // ingestion was acknowledged (as Kusto's ingestion_time()); for latency benchmarks.
  std::string ingestion_time_column;
  // Queued ingestion reads a message's blob only this long after it took the message, as the
  // real service does when its batching policy fires (up to 5 minutes by default): a blob
  // overwritten in between is ingested with what it holds by then.
  std::chrono::milliseconds dm_delay{0};
};

class Server {
public:
  explicit Server(EmulatorConfig config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Opens the listener and, with storage, creates the queues, containers and status table and
  // starts the worker. Returns an error text, or nullopt.
  std::optional<std::string> start();
  int port() const;
  void stop();

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace hub2kusto::kusto_emulator
