#pragma once
// The Kusto emulator server's state and the declarations its parts share: server.cpp
// (replies, authentication, journal, routing, lifecycle), engine.cpp (queries, commands,
// streaming ingestion), control.cpp (the /_control API) and data_management.cpp (queued
// ingestion from Azurite). Internal to the emulator.
#include "server.hpp"
#include "shared/jwt.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include <cpprest/http_listener.h>
#include <cpprest/uri.h>

#include "avro.hpp"
#include "catalog.hpp"
#include "commands.hpp"
#include "common/encoding.hpp"
#include "common/gzip.hpp"
#include "kql.hpp"
#include "results.hpp"
#include "shared/free_port.hpp"
#include "shared/text.hpp"

namespace hub2kusto::kusto_emulator {

using web::http::http_request;
using web::http::methods;
using web::http::status_code;

inline std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline std::string random_hex(std::size_t n) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out += digits[rng() % 16];
  }
  return out;
}

inline std::string new_guid() {
  const std::string h = random_hex(32);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20);
}

using emulators::iequals;
using emulators::lower;

// The formats whose body is an Avro object container file.
inline bool is_avro(const std::string& format) {
  return iequals(format, "avro") || iequals(format, "apacheavro");
}

// Case-insensitive member lookup (queue messages come in PascalCase or camelCase,
// docs/protocols.md, "Queued ingestion and its status").
inline const nlohmann::json* member(const nlohmann::json& object, const std::string& name) {
  if (!object.is_object()) {
    return nullptr;
  }
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (iequals(it.key(), name)) {
      return &it.value();
    }
  }
  return nullptr;
}

inline std::string text_of(const nlohmann::json* v) {
  if (v == nullptr || v->is_null()) {
    return "";
  }
  return v->is_string() ? v->get<std::string>() : v->dump();
}

inline bool flag_of(const nlohmann::json* v) {
  if (v == nullptr) {
    return false;
  }
  if (v->is_boolean()) {
    return v->get<bool>();
  }
  return iequals(text_of(v), "true");
}

// ReportLevel / ReportMethod as numbers or as Java's names (docs/protocols.md, "Queued ingestion
// and its status").
inline int enum_of(const nlohmann::json* v, int fallback,
                   const std::vector<std::pair<std::string, int>>& names) {
  if (v == nullptr || v->is_null()) {
    return fallback;
  }
  if (v->is_number_integer()) {
    return v->get<int>();
  }
  const std::string t = text_of(v);
  for (const auto& [name, value] : names) {
    if (iequals(name, t)) {
      return value;
    }
  }
  try {
    return std::stoi(t);
  } catch (const std::exception&) {
    return fallback;
  }
}

// A JSON array given as an array or as a JSON string of one (tags, ingestIfNotExists).
inline std::vector<std::string> string_list(const nlohmann::json* v) {
  std::vector<std::string> out;
  if (v == nullptr || v->is_null()) {
    return out;
  }
  nlohmann::json array = *v;
  if (v->is_string()) {
    try {
      array = nlohmann::json::parse(v->get<std::string>());
    } catch (const std::exception&) {
      return out;
    }
  }
  if (array.is_array()) {
    for (const auto& e : array) {
      if (e.is_string()) {
        out.push_back(e.get<std::string>());
      }
    }
  }
  return out;
}

struct StreamingFault {
  int remaining = 0;
  ServiceError error;
  int retry_after_seconds = 0;
};

inline std::optional<StreamingFault> fault_of_kind(const std::string& kind) {
  StreamingFault f;
  ServiceError& e = f.error;
  if (kind == "throttled") {
    e = {429, "TooManyRequests", "Kusto.Data.Exceptions.KustoRequestThrottledException",
         "The request was throttled by the emulator's fault injection.", false};
  } else if (kind == "internal") {
    e = {500, "General_InternalServerError",
         "Kusto.DataNode.Exceptions.StreamingIngestionServiceException",
         "Server error in performing streaming ingestion (fault injection).", false};
  } else if (kind == "unavailable") {
    e = {503, "General_ServiceUnavailable",
         "Kusto.DataNode.Exceptions.StreamingIngestionServiceException",
         "The service is unavailable (fault injection).", false};
  } else if (kind == "policy-not-enabled") {
    e = {400, "BadRequest_StreamingIngestionPolicyNotEnabled",
         "Kusto.DataNode.Exceptions.StreamingIngestionRequestException",
         "Streaming ingestion policy is not enabled for the table (fault injection).", true};
  } else if (kind == "too-large") {
    e = {413, "Stream_InputStreamTooLarge",
         "Kusto.Data.Exceptions.KustoRequestPayloadTooLargeException",
         "The input stream is too large (fault injection).", true};
  } else {
    return std::nullopt;
  }
  return f;
}

struct Server::Impl {
  EmulatorConfig config;
  int bound_port = 0;
  std::unique_ptr<web::http::experimental::listener::http_listener> listener;

  std::mutex mutex; // everything below
  Catalog catalog;
  MapperPool mappers;
  DataManagementInfo dm;
  std::unique_ptr<StorageClient> storage;
  std::deque<StreamingFault> streaming_faults;
  std::int64_t latency_ms = 0;
  // faults/token-delay: the token endpoints answer this late (a slow identity provider), and
  // how many token requests are waiting on it now.
  std::int64_t token_delay_ms = 0;
  int token_requests_waiting = 0;
  bool streaming_disabled = false;
  // faults/forbidden: the caller lacks the Ingestor role; what only an ingestor may do answers
  // 403, while queries and other commands still work.
  bool ingest_forbidden = false;
  bool forbidden_queued_only = false; // scope=queued: streaming ingestion is still allowed
  std::int64_t forbidden_answered = 0;
  // faults/unavailable: until then every ingest, mgmt and query request answers 503.
  std::optional<std::chrono::steady_clock::time_point> outage_until;
  std::int64_t outage_answered = 0;
  // faults/pause: until then ingest and mgmt requests are held, then answered normally.
  std::optional<std::chrono::steady_clock::time_point> pause_until;
  std::int64_t paused_requests = 0;
  bool queued_paused = false;
  struct IssuedToken {
    std::int64_t expires_ms; // since the epoch
    std::string audience;    // the resource it was asked for, without "/.default"
  };
  std::map<std::string, IssuedToken> issued_tokens;
  std::uint64_t streaming_requests = 0;
  std::uint64_t streaming_injected = 0;
  // faults/concurrency: a small cluster takes this many streaming requests at once and answers
  // the others 429 at once (0: no limit). The in-flight count and its peak are kept always.
  // Under flight_mutex, taken after `mutex` when both are: a reply (which leaves the count) may
  // be sent with `mutex` held.
  std::mutex flight_mutex;
  int streaming_limit = 0;
  int streaming_in_flight = 0;
  int streaming_in_flight_peak = 0;
  std::uint64_t streaming_throttled = 0;
  // Requests being handled: each runs on a thread of its own (see dispatch()), which stop()
  // waits for.
  int handlers = 0;
  std::condition_variable handlers_done;
  std::uint64_t queued_messages = 0;
  std::uint64_t queued_succeeded = 0;
  std::uint64_t queued_failed = 0;
  std::ofstream journal;

  std::thread worker;
  std::condition_variable wake;
  std::condition_variable rows_added; // GET /_control/wait
  bool stopping = false;

  explicit Impl(EmulatorConfig c) : config(std::move(c)) {
    for (const auto& name : config.databases) {
      catalog.databases[name].name = name;
    }
    dm.identity_token = "emulator-identity-" + random_hex(24);
  }

  // Hands the request to a thread of its own and returns, so cpprestsdk's pool threads (which
  // read request bodies and send replies) never block on a handler: at hundreds of concurrent
  // requests, handlers blocking in the pool wait for bodies only the pool could read.
  void dispatch(const http_request& r);

  // ---- replies ----

  static std::string header(const http_request& r, const std::string& name);

  void reply(const http_request& r, status_code status, const std::string& body,
             const std::string& content_type = "application/json; charset=utf-8",
             int retry_after = 0);

  void reply_error(const http_request& r, const ServiceError& e, int retry_after = 0);

  // A streaming request counts in flight from its arrival until its answer is sent, not until
  // its handler returns: a client may send the next request the moment it has the answer.
  // Per handler thread (see dispatch()).
  static thread_local bool counted_in_flight;
  void leave_in_flight();

  // ---- authentication (docs/protocols.md, "Authentication and connection strings") ----

  bool authorized(const http_request& r);

  void reply_unauthorized(const http_request& r);

  // `audience`: the scope or resource the client asked for.
  // A token for `audience` (a resource or a scope) issued to application `client` of `tenant`.
  std::string issue_token(std::string audience, const std::string& client,
                          const std::string& tenant);
  std::optional<emulator::JwtKey> signing_key; // from config.signing_key_file

  // POST /{tenant}/oauth2/v2.0/token (or /oauth2/token): client credentials with a secret or a
  // client assertion (workload identity), form-encoded.
  void on_aad_token(const http_request& r, const std::string& body);
  // Waits out faults/token-delay, counted in token_requests_waiting.
  void delay_token();
  // GET /{tenant}/v2.0/.well-known/openid-configuration
  void on_openid_configuration(const http_request& r, const std::string& tenant);

  // Managed identity: IMDS (GET /metadata/identity/oauth2/token, header Metadata: true) and
  // App Service (GET /msi/token, header X-IDENTITY-HEADER). expires_* are strings there.
  void on_managed_identity_token(const http_request& r, bool app_service);

  void on_auth_metadata(const http_request& r);

  // ---- journal (data directory) ----

  void record(const nlohmann::json& entry);

  std::optional<std::string> replay();

  // Appends mapped rows under the lock: stamps the ingestion time (--ingestion-time-column: the
  // moment the rows become visible), keeps the ingest-by tags, and journals the new rows.
  std::size_t commit_locked(Database& db, Table& t, Table::Pending rows,
                            const std::vector<std::string>& ingest_by);

  // Ingests entirely under the lock.
  std::variant<std::size_t, IngestFailure> ingest_locked(Database& db, Table& t,
                                                         const IngestRequest& req,
                                                         const std::vector<std::string>& ingest_by);

  // ---- engine ----

  void on_streaming_ingest(const http_request& r, const std::vector<std::string>& path,
                           std::string body);

  // POST /v1/rest/mgmt, /v1/rest/query, /v2/rest/query: {"db", "csl", "properties"}.
  void on_execute(const http_request& r, const std::string& kind, const std::string& body);

  // ---- control API ----

  void on_control(const http_request& r, const std::vector<std::string>& path);

  // ---- routing ----

  // A paused cluster: the request waits (this handler thread sleeps) until the pause ends.
  void hold_while_paused();

  bool in_outage();

  // faults/forbidden: streaming ingestion and the commands queued ingestion starts with.
  bool ingest_refused(const std::vector<std::string>& path, const std::string& body);

  void handle(const http_request& r);

  // ---- data management: queued ingestion from Azurite (docs/protocols.md, "Queued ingestion and
  // its status") ----

  static constexpr const char* kReadyQueue = "readyforaggregation-secured";
  static constexpr const char* kFailedQueue = "failedingestions";
  static constexpr const char* kSucceededQueue = "successfulingestions";
  static constexpr const char* kStatusTable = "ingestionsstatus";

  std::optional<std::string> prepare_storage();

  void report(const nlohmann::json& message, bool succeeded, const std::string& status,
              const ServiceError* error);

  void process(const QueueMessage& qm);

  void run_worker();
};

} // namespace hub2kusto::kusto_emulator
