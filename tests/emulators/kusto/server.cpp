#include "server.hpp"

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
namespace {

using web::http::http_request;
using web::http::methods;
using web::http::status_code;

std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string random_hex(std::size_t n) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out += digits[rng() % 16];
  }
  return out;
}

std::string new_guid() {
  const std::string h = random_hex(32);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20);
}

using emulators::iequals;
using emulators::lower;

// The formats whose body is an Avro object container file.
bool is_avro(const std::string& format) {
  return iequals(format, "avro") || iequals(format, "apacheavro");
}

// Case-insensitive member lookup (queue messages come in PascalCase or camelCase,
// docs/protocols.md, "Queued ingestion and its status").
const nlohmann::json* member(const nlohmann::json& object, const std::string& name) {
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

std::string text_of(const nlohmann::json* v) {
  if (v == nullptr || v->is_null()) {
    return "";
  }
  return v->is_string() ? v->get<std::string>() : v->dump();
}

bool flag_of(const nlohmann::json* v) {
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
int enum_of(const nlohmann::json* v, int fallback,
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
std::vector<std::string> string_list(const nlohmann::json* v) {
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

std::optional<StreamingFault> fault_of_kind(const std::string& kind) {
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

} // namespace

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

  // ---- replies ----

  static std::string header(const http_request& r, const std::string& name) {
    const auto& h = r.headers();
    const auto it = h.find(name);
    return it == h.end() ? std::string() : it->second;
  }

  static void reply(const http_request& r, status_code status, const std::string& body,
                    const std::string& content_type = "application/json; charset=utf-8",
                    int retry_after = 0) {
    web::http::http_response response(status);
    response.headers().add("x-ms-activity-id", new_guid());
    const std::string crid = header(r, "x-ms-client-request-id");
    if (!crid.empty()) {
      response.headers().add("x-ms-client-request-id", crid);
    }
    if (retry_after > 0) {
      response.headers().add("Retry-After", std::to_string(retry_after));
    }
    response.set_body(body, content_type);
    r.reply(response).wait();
  }

  static void reply_error(const http_request& r, const ServiceError& e, int retry_after = 0) {
    reply(r, static_cast<status_code>(e.status),
          to_one_api(e, header(r, "x-ms-client-request-id"), new_guid()),
          "application/json; charset=utf-8", retry_after);
  }

  // ---- authentication (docs/protocols.md, "Authentication and connection strings") ----

  bool authorized(const http_request& r) {
    if (!config.require_token) {
      return true;
    }
    const std::string auth = header(r, "Authorization");
    if (!iequals(std::string_view(auth).substr(0, 7), "bearer ")) {
      return false;
    }
    const std::string token = auth.substr(7);
    for (const auto& t : config.static_tokens) {
      if (t == token) {
        return true;
      }
    }
    std::lock_guard lock(mutex);
    const auto it = issued_tokens.find(token);
    // As the service: a token for another audience is refused, however valid otherwise.
    return it != issued_tokens.end() && it->second.expires_ms > now_ms() &&
           iequals(it->second.audience, config.resource_id);
  }

  void reply_unauthorized(const http_request& r) {
    // 401 carries no OneApi body (docs/protocols.md, "Errors").
    reply(r, web::http::status_codes::Unauthorized,
          "Unauthorized: the request has no bearer token, or one that is expired or was not "
          "issued by this emulator.",
          "text/plain");
  }

  // `audience`: the scope or resource the client asked for.
  std::string issue_token(std::string audience) {
    for (const std::string suffix : {"/.default", "/"}) {
      if (audience.size() >= suffix.size() &&
          audience.compare(audience.size() - suffix.size(), suffix.size(), suffix) == 0) {
        audience.resize(audience.size() - suffix.size());
      }
    }
    std::lock_guard lock(mutex);
    std::string token = "emu-" + random_hex(40);
    issued_tokens[token] = {now_ms() + config.token_lifetime_seconds * 1000, std::move(audience)};
    return token;
  }

  // POST /{tenant}/oauth2/v2.0/token (or /oauth2/token): client credentials with a secret or a
  // client assertion (workload identity), form-encoded.
  void on_aad_token(const http_request& r, const std::string& body) {
    auto form = web::uri::split_query(body);
    auto field = [&](const std::string& k) {
      const auto it = form.find(k);
      return it == form.end() ? std::string() : web::uri::decode(it->second);
    };
    auto fail = [&](const std::string& error, const std::string& description) {
      reply(r, web::http::status_codes::Unauthorized,
            nlohmann::json{{"error", error}, {"error_description", description}}.dump());
    };
    if (field("grant_type") != "client_credentials") {
      reply(r, web::http::status_codes::BadRequest,
            nlohmann::json{{"error", "unsupported_grant_type"},
                           {"error_description", "AADSTS70003: only client_credentials"}}
                .dump());
      return;
    }
    const std::string client = field("client_id");
    bool ok = false;
    if (!field("client_assertion").empty()) {
      for (const auto& [id, assertion] : config.federated) {
        ok = ok || (id == client && assertion == field("client_assertion"));
      }
      if (!ok) {
        fail("invalid_client",
             "AADSTS700211: the client assertion is not valid for '" + client + "'.");
        return;
      }
    } else {
      for (const auto& [id, secret] : config.applications) {
        ok = ok || (id == client && secret == field("client_secret"));
      }
      if (!ok) {
        fail("invalid_client",
             "AADSTS7000215: Invalid client secret provided for application '" + client + "'.");
        return;
      }
    }
    const std::string token = issue_token(field("scope"));
    const auto lifetime = config.token_lifetime_seconds;
    reply(r, web::http::status_codes::OK,
          nlohmann::json{{"token_type", "Bearer"},
                         {"expires_in", lifetime},
                         {"ext_expires_in", lifetime},
                         {"access_token", token}}
              .dump());
  }

  // Managed identity: IMDS (GET /metadata/identity/oauth2/token, header Metadata: true) and
  // App Service (GET /msi/token, header X-IDENTITY-HEADER). expires_* are strings there.
  void on_managed_identity_token(const http_request& r, bool app_service) {
    if (app_service ? header(r, "X-IDENTITY-HEADER") != config.identity_header
                    : !iequals(header(r, "Metadata"), "true")) {
      reply(r, web::http::status_codes::BadRequest,
            nlohmann::json{{"error", "invalid_request"},
                           {"error_description", app_service
                                                     ? "X-IDENTITY-HEADER is missing or wrong"
                                                     : "Required metadata header not specified"}}
                .dump());
      return;
    }
    const auto query = web::uri::split_query(r.request_uri().query());
    const auto resource = query.find("resource");
    if (resource == query.end()) {
      reply(r, web::http::status_codes::BadRequest,
            R"({"error":"invalid_request","error_description":"resource is required"})");
      return;
    }
    const std::string token = issue_token(web::uri::decode(resource->second));
    const auto lifetime = config.token_lifetime_seconds;
    reply(r, web::http::status_codes::OK,
          nlohmann::json{{"access_token", token},
                         {"expires_in", std::to_string(lifetime)},
                         {"expires_on", std::to_string(now_s() + lifetime)},
                         {"resource", web::uri::decode(resource->second)},
                         {"token_type", "Bearer"}}
              .dump());
  }

  void on_auth_metadata(const http_request& r) {
    const std::string self = "http://" + config.host + ":" + std::to_string(bound_port);
    reply(r, web::http::status_codes::OK,
          nlohmann::json{
              {"AzureAD",
               {{"LoginEndpoint", self},
                {"LoginMfaRequired", false},
                {"KustoClientAppId", "db662dc1-0cfe-4e1c-a843-19a68e65be58"},
                {"KustoClientRedirectUri", "https://microsoft/kustoclient"},
                {"KustoServiceResourceId", config.resource_id},
                {"FirstPartyAuthorityUrl", self + "/f8cdef31-a31e-4b4a-93e4-5f571e91255a"}}},
              {"dSTS",
               {{"CloudEndpointSuffix", "windows.net"},
                {"DstsRealm", "realm://dsts.core.windows.net"},
                {"DstsInstance", "prod-dsts.dsts.core.windows.net"},
                {"KustoDnsHostName", "kusto.windows.net"},
                {"ServiceName", "kusto"}}}}
              .dump());
  }

  // ---- journal (data directory) ----

  void record(const nlohmann::json& entry) {
    if (journal.is_open()) {
      journal << entry.dump() << '\n';
      journal.flush();
    }
  }

  std::optional<std::string> replay() {
    if (config.data_directory.empty()) {
      return std::nullopt;
    }
    std::error_code ec;
    std::filesystem::create_directories(config.data_directory, ec);
    const std::string path = config.data_directory + "/journal.jsonl";
    std::ifstream in(path);
    std::string line;
    std::size_t n = 0;
    while (std::getline(in, line)) {
      ++n;
      try {
        const auto e = nlohmann::json::parse(line);
        if (e.contains("csl")) {
          (void)run_command(catalog, e["db"].get<std::string>(), e["csl"].get<std::string>(), dm);
        } else if (Database* db = catalog.database(e["db"].get<std::string>())) {
          if (Table* t = db->table(e["table"].get<std::string>())) {
            for (const auto& row : e["rows"]) {
              t->rows.push_back(row);
            }
            for (const auto& tag : e.value("ingest_by", nlohmann::json::array())) {
              t->ingest_by_tags.insert(tag.get<std::string>());
            }
          }
        }
      } catch (const std::exception&) {
        if (in.peek() != EOF) {
          return "'" + path + "' line " + std::to_string(n) + " is not a journal entry";
        } // else a torn last line from a kill: ignored
      }
    }
    journal.open(path, std::ios::app);
    if (!journal) {
      return "cannot append to '" + path + "'";
    }
    return std::nullopt;
  }

  // Appends mapped rows under the lock: stamps the ingestion time (--ingestion-time-column: the
  // moment the rows become visible), keeps the ingest-by tags, and journals the new rows.
  std::size_t commit_locked(Database& db, Table& t, Table::Pending rows,
                            const std::vector<std::string>& ingest_by) {
    const std::size_t before = journal.is_open() ? t.all_rows().size() : t.row_count();
    if (!config.ingestion_time_column.empty()) {
      rows.ingestion_time_column = config.ingestion_time_column;
      rows.ingestion_time = now_iso();
    }
    const std::size_t n = commit_ingest(t, std::move(rows));
    rows_added.notify_all();
    for (const auto& tag : ingest_by) {
      t.ingest_by_tags.insert(tag);
    }
    if (journal.is_open()) {
      record({{"db", db.name},
              {"table", t.name},
              {"rows", std::vector<nlohmann::json>(t.all_rows().begin() + static_cast<long>(before),
                                                   t.all_rows().end())},
              {"ingest_by", ingest_by}});
    }
    return n;
  }

  // Ingests entirely under the lock.
  std::variant<std::size_t, IngestFailure>
  ingest_locked(Database& db, Table& t, const IngestRequest& req,
                const std::vector<std::string>& ingest_by) {
    auto prepared = prepare_ingest(db, t, req, &mappers);
    if (auto* failure = std::get_if<IngestFailure>(&prepared)) {
      return std::move(*failure);
    }
    auto mapped = map_ingest(std::get<PreparedIngest>(prepared), req);
    mappers.give(std::move(std::get<PreparedIngest>(prepared)));
    if (auto* failure = std::get_if<IngestFailure>(&mapped)) {
      return std::move(*failure);
    }
    return commit_locked(db, t, std::move(std::get<Table::Pending>(mapped)), ingest_by);
  }

  // ---- engine ----

  void on_streaming_ingest(const http_request& r, const std::vector<std::string>& path,
                           std::string body) {
    // path: v1 rest ingest {db} {table}
    const std::string db_name = web::uri::decode(path[3]);
    const std::string table_name = web::uri::decode(path[4]);
    std::string format_text;
    std::string mapping;
    bool from_uri = false;
    for (const auto& [k, v] : web::uri::split_query(r.request_uri().query())) {
      if (iequals(k, "streamformat")) {
        format_text = web::uri::decode(v);
      } else if (iequals(k, "mappingname")) {
        mapping = web::uri::decode(v);
      } else if (iequals(k, "sourcekind")) {
        from_uri = iequals(v, "uri");
      }
    }
    std::int64_t delay = 0;
    {
      std::lock_guard lock(mutex);
      ++streaming_requests;
      delay = latency_ms;
    }
    if (delay > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(delay)); // the fault itself
    }
    std::optional<StreamingFault> injected;
    bool disabled = false;
    {
      std::lock_guard lock(mutex);
      disabled = streaming_disabled;
      if (!disabled && !streaming_faults.empty()) {
        injected = streaming_faults.front();
        if (--streaming_faults.front().remaining <= 0) {
          streaming_faults.pop_front();
        }
        ++streaming_injected;
      }
    }
    if (disabled) {
      // Streaming off for the whole cluster: 404 on the ingest path (docs/protocols.md, "Errors").
      reply_error(r, {404, "StreamingIngestionFunctionalityDisabled",
                      "Kusto.Data.Exceptions.KustoBadRequestException",
                      "Streaming ingestion is disabled for the cluster "
                      "(StreamingIngestionFunctionalityDisabled).",
                      true});
      return;
    }
    if (injected) {
      reply_error(r, injected->error, injected->retry_after_seconds);
      return;
    }
    if (from_uri) {
      try {
        const auto j = nlohmann::json::parse(body);
        std::string blob;
        if (storage == nullptr || storage->download(text_of(member(j, "sourceUri")), blob)) {
          reply_error(r, {400, "BadRequest_InvalidBlob",
                          "Kusto.Data.Exceptions.KustoBadRequestException",
                          "Streaming from blob: the blob could not be read", true});
          return;
        }
        body = std::move(blob);
      } catch (const std::exception&) {
        reply_error(r, {400, "General_BadRequest", "Kusto.Data.Exceptions.KustoBadRequestException",
                        "Streaming from blob needs a JSON body with sourceUri", true});
        return;
      }
    }
    const ServiceError too_large{413, "Stream_InputStreamTooLarge",
                                 "Kusto.Data.Exceptions.KustoRequestPayloadTooLargeException",
                                 "Bad streaming ingestion request to " + db_name + "." +
                                     table_name + " : the input stream is larger than " +
                                     std::to_string(config.streaming_max_bytes) + " bytes",
                                 true};
    // Decompress when the body is gzip, whatever Content-Encoding says (docs/protocols.md,
    // "Streaming ingestion requests").
    if (gzip::is_gzip(body)) {
      bool over = false;
      auto inflated = gzip::decompress(body, config.streaming_max_bytes, &over);
      if (!inflated) {
        if (over) {
          reply_error(r, too_large);
        } else {
          reply_error(r, {400, "BadRequest_NoRecordsOrWrongFormat",
                          "Kusto.DataNode.Exceptions.StreamingIngestionRequestException",
                          "Bad streaming ingestion request: the gzip body is corrupt", true});
        }
        return;
      }
      body = std::move(*inflated);
    }
    // The service inflates a request once; what is inside must be the format itself. Gzip
    // inside gzip (events joined with their own compression) is not JSON or CSV to any parser.
    if (gzip::is_gzip(body)) {
      reply_error(r, {400, "BadRequest_NoRecordsOrWrongFormat",
                      "Kusto.DataNode.Exceptions.StreamingIngestionRequestException",
                      "Bad streaming ingestion request: the data is not valid '" + format_text +
                          "' (it is gzip again after the request body was inflated)",
                      true});
      return;
    }
    if (body.size() > config.streaming_max_bytes) {
      reply_error(r, too_large);
      return;
    }
    // Avro: exactly one container file, its records read as JSON (the mapping engine's input).
    const bool avro = is_avro(format_text);
    if (avro) {
      std::string lines;
      if (auto wrong = avro_to_json_lines(body, lines)) {
        reply_error(r, {400, "BadRequest_NoRecordsOrWrongFormat",
                        "Kusto.DataNode.Exceptions.StreamingIngestionRequestException",
                        "Bad streaming ingestion request: the data is not valid '" + format_text +
                            "': " + *wrong,
                        true});
        return;
      }
      body = std::move(lines);
    }
    const auto format = mappings::parse_data_format(avro ? "multijson" : format_text);
    if (!format) {
      reply_error(r, {400, "BadRequest_FormatNotSupported",
                      "Kusto.Data.Exceptions.FormatNotSupportedException",
                      "streamFormat '" + format_text + "' is not a format the emulator ingests",
                      true});
      return;
    }
    // The table's schema and mapping are read under the lock and the data is mapped without it,
    // so that concurrent requests map in parallel as the service's nodes would.
    const auto target = [&]() -> std::pair<Database*, Table*> {
      Database* db = catalog.database(db_name);
      if (db == nullptr) {
        reply_error(r, {400, "BadRequest_DatabaseNotExist",
                        "Kusto.Data.Exceptions.DatabaseNotFoundException",
                        "Database '" + db_name + "' was not found.", true});
        return {nullptr, nullptr};
      }
      Table* table = db->table(table_name);
      if (table == nullptr) {
        reply_error(
            r, {400, "BadRequest_TableNotExist", "Kusto.Data.Exceptions.TableNotFoundException",
                "Table '" + table_name + "' was not found in database '" + db_name + "'.", true});
        return {nullptr, nullptr};
      }
      if (!db->streaming_enabled(*table)) {
        reply_error(r, {400, "BadRequest_StreamingIngestionPolicyNotEnabled",
                        "Kusto.DataNode.Exceptions.StreamingIngestionRequestException",
                        "Bad streaming ingestion request to " + db_name + "." + table_name +
                            " : Streaming ingestion policy is not enabled for the table",
                        true});
        return {nullptr, nullptr};
      }
      return {db, table};
    };
    const auto failed = [&](const IngestFailure& failure) {
      catalog.failures.push_back({new_guid(), db_name, table_name, now_iso(), "streaming",
                                  failure.error.message, failure.error.code, true});
      reply_error(r, failure.error);
    };
    IngestRequest req;
    req.body = std::move(body);
    req.format = *format;
    req.mapping_name = mapping;
    std::variant<PreparedIngest, IngestFailure> prepared;
    {
      std::lock_guard lock(mutex);
      const auto [db, table] = target();
      if (table == nullptr) {
        return;
      }
      prepared = prepare_ingest(*db, *table, req, &mappers);
      if (const auto* failure = std::get_if<IngestFailure>(&prepared)) {
        failed(*failure);
        return;
      }
    }
    auto mapped = map_ingest(std::get<PreparedIngest>(prepared), req);
    std::lock_guard lock(mutex);
    mappers.give(std::move(std::get<PreparedIngest>(prepared)));
    if (const auto* failure = std::get_if<IngestFailure>(&mapped)) {
      failed(*failure);
      return;
    }
    const auto [db, table] = target(); // dropped or altered meanwhile: as the service would say
    if (table == nullptr) {
      return;
    }
    const std::size_t rows =
        commit_locked(*db, *table, std::move(std::get<Table::Pending>(mapped)), {});
    ResultTable result{
        "Table_0",
        {{"ConsumedRecordsCount", "long"},
         {"UpdatePolicyStatus", "string"},
         {"UpdatePolicyFailureCode", "string"},
         {"UpdatePolicyFailureReason", "string"}},
        {nlohmann::json::array({static_cast<std::int64_t>(rows), "Inactive", "Unknown", nullptr})}};
    reply(r, web::http::status_codes::OK, to_v1({result}));
  }

  // POST /v1/rest/mgmt, /v1/rest/query, /v2/rest/query: {"db", "csl", "properties"}.
  void on_execute(const http_request& r, const std::string& kind, const std::string& body) {
    nlohmann::json request;
    try {
      request = nlohmann::json::parse(body);
    } catch (const std::exception&) {
      reply_error(r, {400, "General_BadRequest", "Kusto.Data.Exceptions.KustoBadRequestException",
                      "The request body is not JSON", true});
      return;
    }
    const std::string db = request.contains("db") && request["db"].is_string()
                               ? request["db"].get<std::string>()
                               : std::string("NetDefaultDB");
    const std::string csl = text_of(member(request, "csl"));
    const std::string_view text = emulators::trim(csl);
    const bool is_command = !text.empty() && text.front() == '.';
    if (kind == "v2" && is_command) {
      reply_error(r, {400, "General_BadRequest", "Kusto.Data.Exceptions.KustoBadRequestException",
                      "Bad request: Control commands (starting with a dot '.') do not support "
                      "api_version=v2",
                      true});
      return;
    }
    std::variant<ResultTable, ServiceError> outcome;
    {
      std::lock_guard lock(mutex);
      if (is_command) {
        outcome = run_command(catalog, db, csl, dm);
        // Commands that change something are journaled, to be replayed at start.
        const std::string verb = lower(text.substr(0, 8));
        if (std::holds_alternative<ResultTable>(outcome) &&
            (verb.starts_with(".create") || verb.starts_with(".alter") ||
             verb.starts_with(".drop") || verb.starts_with(".delete"))) {
          record({{"db", db}, {"csl", csl}});
        }
      } else {
        Database* d = catalog.database(db);
        if (d == nullptr) {
          outcome = ServiceError{400, "BadRequest_DatabaseNotExist",
                                 "Kusto.Data.Exceptions.DatabaseNotFoundException",
                                 "Database '" + db + "' was not found.", true};
        } else {
          outcome = run_query(*d, csl);
        }
      }
    }
    if (const auto* e = std::get_if<ServiceError>(&outcome)) {
      reply_error(r, *e);
      return;
    }
    const auto& table = std::get<ResultTable>(outcome);
    reply(r, web::http::status_codes::OK,
          kind == "v2" ? to_v2({table}, header(r, "x-ms-client-request-id")) : to_v1({table}));
  }

  // ---- control API ----

  void on_control(const http_request& r, const std::vector<std::string>& path) {
    const auto query = web::uri::split_query(r.request_uri().query());
    auto arg = [&](const std::string& k) {
      const auto it = query.find(k);
      return it == query.end() ? std::string() : web::uri::decode(it->second);
    };
    auto number = [&](const std::string& k, std::int64_t fallback) {
      try {
        return arg(k).empty() ? fallback : static_cast<std::int64_t>(std::stoll(arg(k)));
      } catch (const std::exception&) {
        return std::int64_t{-1};
      }
    };
    auto applied = [&](const std::string& what) {
      reply(r, web::http::status_codes::OK, nlohmann::json{{"applied", what}}.dump());
    };
    auto refused = [&](const std::string& what) {
      reply(r, web::http::status_codes::BadRequest, nlohmann::json{{"error", what}}.dump());
    };
    const std::string action = path.size() >= 3 ? path[1] + "/" + path[2] : path.back();
    if (r.method() == methods::GET && path.size() == 2 && path[1] == "wait") {
      // Answers once db.table holds at least `rows` rows, or after `seconds` (default 60):
      // the row count, for a client that must see the end of an ingestion without polling.
      const std::string name = arg("table");
      const auto dot = name.find('.');
      const std::int64_t wanted = number("rows", 1);
      const std::int64_t seconds = number("seconds", 60);
      if (dot == std::string::npos || wanted < 0 || seconds < 0 || seconds > 3600) {
        refused("wait needs table=<db>.<table>, rows=N and seconds=S (at most 3600)");
        return;
      }
      std::unique_lock lock(mutex);
      const auto rows_now = [&]() -> std::int64_t {
        Database* db = catalog.database(name.substr(0, dot));
        Table* t = db != nullptr ? db->table(name.substr(dot + 1)) : nullptr;
        return t != nullptr ? static_cast<std::int64_t>(t->row_count()) : -1;
      };
      rows_added.wait_for(lock, std::chrono::seconds(seconds),
                          [&] { return stopping || rows_now() >= wanted; });
      reply(r, web::http::status_codes::OK, nlohmann::json{{"rows", rows_now()}}.dump());
      return;
    }
    std::lock_guard lock(mutex);
    if (r.method() == methods::GET && path.size() == 2 && path[1] == "status") {
      nlohmann::json tables = nlohmann::json::object();
      for (const auto& [dn, d] : catalog.databases) {
        for (const auto& [tn, t] : d.tables) {
          tables[dn + "." + tn] = t.row_count();
        }
      }
      reply(r, web::http::status_codes::OK,
            nlohmann::json{{"streaming_requests", streaming_requests},
                           {"streaming_faults_answered", streaming_injected},
                           {"streaming_faults_pending", streaming_faults.size()},
                           {"streaming_disabled", streaming_disabled},
                           {"outage_answered", outage_answered},
                           {"forbidden_answered", forbidden_answered},
                           {"paused_requests", paused_requests},
                           {"latency_ms", latency_ms},
                           {"queued_paused", queued_paused},
                           {"queued_messages", queued_messages},
                           {"queued_succeeded", queued_succeeded},
                           {"queued_failed", queued_failed},
                           {"rows", tables}}
                .dump());
      return;
    }
    if (r.method() != methods::POST) {
      refused("control requests are POST, except GET /_control/status and /_control/wait");
      return;
    }
    if (action == "faults/streaming") {
      auto fault = fault_of_kind(arg("kind"));
      const std::int64_t count = number("count", 1);
      const std::int64_t retry_after = number("retry_after", 0);
      if (!fault || count < 1 || retry_after < 0) {
        refused("faults/streaming needs kind=throttled|internal|unavailable|"
                "policy-not-enabled|too-large, count>=1 and retry_after>=0");
        return;
      }
      fault->remaining = static_cast<int>(count);
      fault->retry_after_seconds = static_cast<int>(retry_after);
      streaming_faults.push_back(*fault);
      applied("the next " + std::to_string(count) + " streaming request(s) answer " +
              std::to_string(fault->error.status) + " " + fault->error.code);
    } else if (action == "faults/unavailable") {
      const std::int64_t seconds = number("seconds", -1);
      if (seconds < 0) {
        refused("faults/unavailable needs seconds>=0");
        return;
      }
      outage_until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
      applied("every ingest, mgmt and query request answers 503 for " + std::to_string(seconds) +
              " s");
    } else if (action == "faults/pause") {
      const std::int64_t seconds = number("seconds", -1);
      if (seconds < 0) {
        refused("faults/pause needs seconds>=0");
        return;
      }
      pause_until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
      applied("ingest and mgmt requests are held for " + std::to_string(seconds) + " s");
    } else if (action == "faults/latency") {
      const std::int64_t ms = number("ms", -1);
      if (ms < 0) {
        refused("faults/latency needs ms>=0");
        return;
      }
      latency_ms = ms;
      applied("streaming latency " + std::to_string(ms) + " ms");
    } else if (action == "faults/streaming-disabled") {
      streaming_disabled = arg("on") != "false";
      applied(std::string("streaming ingestion ") + (streaming_disabled ? "disabled" : "enabled") +
              " cluster-wide");
    } else if (action == "faults/forbidden") {
      ingest_forbidden = arg("on") != "false";
      forbidden_queued_only = arg("scope") == "queued";
      applied(std::string(forbidden_queued_only ? "queued " : "") + "ingestion " +
              (ingest_forbidden ? "forbidden" : "allowed"));
    } else if (action == "faults/queued") {
      queued_paused = arg("paused") != "false";
      wake.notify_all();
      applied(std::string("queued ingestion ") + (queued_paused ? "paused" : "resumed"));
    } else if (action == "faults/reset") {
      streaming_faults.clear();
      latency_ms = 0;
      streaming_disabled = false;
      ingest_forbidden = false;
      outage_until.reset();
      pause_until.reset();
      queued_paused = false;
      wake.notify_all();
      applied("faults cleared");
    } else {
      reply(r, web::http::status_codes::NotFound,
            nlohmann::json{{"error", "no such control request '" + action + "'"}}.dump());
    }
  }

  // ---- routing ----

  // A paused cluster: the request waits (this handler thread sleeps) until the pause ends.
  void hold_while_paused() {
    std::optional<std::chrono::steady_clock::time_point> until;
    {
      std::lock_guard lock(mutex);
      if (pause_until && std::chrono::steady_clock::now() < *pause_until) {
        until = pause_until;
        ++paused_requests;
      }
    }
    if (until) {
      std::this_thread::sleep_until(*until); // the fault itself
    }
  }

  bool in_outage() {
    std::lock_guard lock(mutex);
    if (outage_until && std::chrono::steady_clock::now() < *outage_until) {
      ++outage_answered;
      return true;
    }
    return false;
  }

  // faults/forbidden: streaming ingestion and the commands queued ingestion starts with.
  bool ingest_refused(const std::vector<std::string>& path, const std::string& body) {
    std::lock_guard lock(mutex);
    if (!ingest_forbidden) {
      return false;
    }
    bool ingest = path[2] == "ingest" && !forbidden_queued_only;
    if (path[2] == "mgmt") {
      const auto request = nlohmann::json::parse(body, nullptr, false);
      const std::string csl =
          request.is_object() ? request.value("csl", std::string()) : std::string();
      ingest = csl.find("ingestion resources") != std::string::npos ||
               csl.find("kusto identity token") != std::string::npos;
    }
    forbidden_answered += ingest ? 1 : 0;
    return ingest;
  }

  void handle(const http_request& r) {
    try {
      const auto path = web::uri::split_path(web::uri::decode(r.request_uri().path()));
      if (!path.empty() && path[0] == "_control") {
        on_control(r, path);
        return;
      }
      if (r.method() == methods::GET && path.size() == 4 && path[0] == "v1" && path[2] == "auth" &&
          path[3] == "metadata") {
        on_auth_metadata(r);
        return;
      }
      if (r.method() == methods::GET && path.size() == 4 && path[0] == "metadata" &&
          path[1] == "identity") {
        on_managed_identity_token(r, false);
        return;
      }
      if (r.method() == methods::GET && path.size() == 2 && path[0] == "msi") {
        on_managed_identity_token(r, true);
        return;
      }
      const auto raw = r.extract_vector().get();
      std::string body(raw.begin(), raw.end());
      if (path.size() >= 3 && path[0] == "v1" && path[1] == "rest" &&
          (path[2] == "ingest" || path[2] == "mgmt")) {
        hold_while_paused();
      }
      if (path.size() >= 3 && path[0] == "v1" && path[1] == "rest" && in_outage()) {
        reply_error(r, {503, "General_ServiceUnavailable",
                        "Kusto.Common.Svc.Exceptions.ServiceUnavailableException",
                        "The service is unavailable (fault injection: outage).", false});
        return;
      }
      if (path.size() >= 3 && path[0] == "v1" && path[1] == "rest" && ingest_refused(path, body)) {
        reply_error(r, {403, "Forbidden",
                        "Kusto.DataNode.Exceptions.UnauthorizedDatabaseAccessException",
                        "Principal is not authorized to ingest into the database (fault injection: "
                        "forbidden).",
                        true});
        return;
      }
      if (r.method() == methods::POST && path.size() >= 3 && path[path.size() - 1] == "token" &&
          path[1] == "oauth2") {
        on_aad_token(r, body);
        return;
      }
      if (path.size() >= 3 && path[0] == "v1" && path[1] == "rest" && path[2] == "ingest" &&
          r.method() == methods::POST) {
        if (!authorized(r)) {
          reply_unauthorized(r);
          return;
        }
        if (path.size() != 5) {
          reply_error(r,
                      {400, "General_BadRequest", "Kusto.Data.Exceptions.KustoBadRequestException",
                       "Streaming ingestion is POST /v1/rest/ingest/{database}/{table}", true});
          return;
        }
        on_streaming_ingest(r, path, std::move(body));
        return;
      }
      if (r.method() == methods::POST && path.size() == 3 && path[1] == "rest" &&
          (path[2] == "mgmt" || path[2] == "query")) {
        if (!authorized(r)) {
          reply_unauthorized(r);
          return;
        }
        on_execute(r, path[2] == "mgmt" ? "mgmt" : path[0], body);
        return;
      }
      reply_error(r, {404, "General_NotFound", "Kusto.Data.Exceptions.KustoBadRequestException",
                      "The emulator has no endpoint " + r.method() + " " + r.request_uri().path(),
                      true});
    } catch (const std::exception& e) {
      try {
        reply_error(r, {500, "General_InternalServerError",
                        "Kusto.Data.Exceptions.KustoServiceException",
                        std::string("emulator failure: ") + e.what(), false});
      } catch (const std::exception&) {
      }
    }
  }

  // ---- data management: queued ingestion from Azurite (docs/protocols.md, "Queued ingestion and
  // its status") ----

  static constexpr const char* kReadyQueue = "readyforaggregation-secured";
  static constexpr const char* kFailedQueue = "failedingestions";
  static constexpr const char* kSucceededQueue = "successfulingestions";
  static constexpr const char* kStatusTable = "ingestionsstatus";

  std::optional<std::string> prepare_storage() {
    storage = std::make_unique<StorageClient>(*config.storage);
    for (const char* q : {kReadyQueue, kFailedQueue, kSucceededQueue}) {
      if (auto e = storage->create_queue(q)) {
        return e;
      }
    }
    for (const char* c : {"ingestion-temp-0", "ingestion-temp-1"}) {
      if (auto e = storage->create_container(c)) {
        return e;
      }
    }
    if (auto e = storage->create_table(kStatusTable)) {
      return e;
    }
    const auto& ep = storage->endpoints();
    const std::string sas = "?" + storage->sas();
    dm.resources = {
        {"SecuredReadyForAggregationQueue", ep.queue + "/" + kReadyQueue + sas},
        {"FailedIngestionsQueue", ep.queue + "/" + kFailedQueue + sas},
        {"SuccessfulIngestionsQueue", ep.queue + "/" + kSucceededQueue + sas},
        {"TempStorage", ep.blob + "/ingestion-temp-0" + sas},
        {"TempStorage", ep.blob + "/ingestion-temp-1" + sas},
        {"IngestionsStatusTable", ep.table + "/" + kStatusTable + sas},
    };
    return std::nullopt;
  }

  void report(const nlohmann::json& message, bool succeeded, const std::string& status,
              const ServiceError* error) {
    const nlohmann::json* id = member(message, "Id");
    const std::string blob = text_of(member(message, "BlobPath"));
    const std::string source = blob.substr(0, blob.find('?')); // SAS stripped
    const int level = enum_of(
        member(message, "ReportLevel"), 0,
        {{"FailuresOnly", 0}, {"None", 1}, {"DoNotReport", 1}, {"FailuresAndSuccesses", 2}});
    const int method = enum_of(member(message, "ReportMethod"), 0,
                               {{"Queue", 0}, {"Table", 1}, {"QueueAndTable", 2}});
    nlohmann::json status_message = {{"OperationId", new_guid()},
                                     {"Database", text_of(member(message, "DatabaseName"))},
                                     {"Table", text_of(member(message, "TableName"))},
                                     {"IngestionSourceId", text_of(id)},
                                     {"IngestionSourcePath", source},
                                     {"RootActivityId", new_guid()}};
    if (succeeded) {
      status_message["SucceededOn"] = now_iso();
    } else {
      status_message["FailedOn"] = now_iso();
      status_message["Details"] = error->message;
      status_message["ErrorCode"] = error->code;
      status_message["FailureStatus"] = error->permanent ? "Permanent" : "Transient";
      status_message["OriginatesFromUpdatePolicy"] = false;
      status_message["ShouldRetry"] = !error->permanent;
    }
    const bool wanted = succeeded ? level == 2 : level != 1;
    if (wanted && (method == 0 || method == 2)) {
      (void)storage->put_message(succeeded ? kSucceededQueue : kFailedQueue,
                                 encoding::base64_encode(status_message.dump()));
    }
    if (method == 1 || method == 2) {
      const nlohmann::json* in_table = member(message, "IngestionStatusInTable");
      if (in_table != nullptr) {
        nlohmann::json entity = {{"Status", status},
                                 {"UpdatedOn", now_iso()},
                                 {"OperationId", status_message["OperationId"]},
                                 {"ActivityId", status_message["RootActivityId"]}};
        if (!succeeded) {
          entity["ErrorCode"] = error->code;
          entity["FailureStatus"] = status_message["FailureStatus"];
          entity["Details"] = error->message;
        }
        (void)storage->merge_entity(text_of(member(*in_table, "TableConnectionString")),
                                    text_of(member(*in_table, "PartitionKey")),
                                    text_of(member(*in_table, "RowKey")), entity.dump());
      }
    }
  }

  void process(const QueueMessage& qm) {
    nlohmann::json message;
    const auto decoded = encoding::base64_decode(qm.text);
    try {
      message = nlohmann::json::parse(decoded ? *decoded : qm.text);
    } catch (const std::exception&) {
      std::lock_guard lock(mutex);
      ++queued_failed;
      catalog.failures.push_back({new_guid(), "", "", now_iso(), "queue message",
                                  "The queue message is not base64 JSON",
                                  "BadRequest_InvalidMessage", true});
      return;
    }
    auto fail = [&](ServiceError e) {
      {
        std::lock_guard lock(mutex);
        ++queued_failed;
        const std::string blob = text_of(member(message, "BlobPath"));
        catalog.failures.push_back({new_guid(), text_of(member(message, "DatabaseName")),
                                    text_of(member(message, "TableName")), now_iso(),
                                    blob.substr(0, blob.find('?')), e.message, e.code,
                                    e.permanent});
      }
      report(message, false, "Failed", &e);
    };
    nlohmann::json props;
    if (const auto* p = member(message, "AdditionalProperties")) {
      props = *p;
      if (p->is_string()) {
        try {
          props = nlohmann::json::parse(p->get<std::string>());
        } catch (const std::exception&) {
          props = nlohmann::json::object();
        }
      }
    }
    if (text_of(member(props, "authorizationContext")) != dm.identity_token) {
      fail({401, "Unauthorized", "Kusto.Data.Exceptions.KustoRequestDeniedException",
            "AdditionalProperties.authorizationContext is not the identity token of "
            ".get kusto identity token",
            true});
      return;
    }
    const std::string format_text = text_of(member(props, "format"));
    const bool avro = is_avro(format_text);
    const auto format = mappings::parse_data_format(avro                  ? "multijson"
                                                    : format_text.empty() ? "csv"
                                                                          : format_text);
    if (!format) {
      fail({400, "BadRequest_FormatNotSupported",
            "Kusto.Data.Exceptions.FormatNotSupportedException",
            "format '" + format_text + "' is not a format the emulator ingests", true});
      return;
    }
    IngestRequest req;
    req.format = *format;
    for (const char* key : {"ingestionMappingReference", "jsonMappingReference",
                            "csvMappingReference", "mappingReference"}) {
      if (req.mapping_name.empty()) {
        req.mapping_name = text_of(member(props, key));
      }
    }
    for (const char* key : {"ingestionMapping", "jsonMapping", "csvMapping"}) {
      if (req.inline_mapping.empty()) {
        req.inline_mapping = text_of(member(props, key));
      }
    }
    req.ignore_first_record = flag_of(member(props, "ignoreFirstRecord"));
    std::vector<std::string> ingest_by;
    for (const auto& tag : string_list(member(props, "tags"))) {
      if (tag.rfind("ingest-by:", 0) == 0) {
        ingest_by.push_back(tag.substr(10));
      }
    }
    const auto if_not_exists = string_list(member(props, "ingestIfNotExists"));
    std::string blob;
    if (auto e = storage->download(text_of(member(message, "BlobPath")), blob)) {
      fail({400, "BadRequest_InvalidBlob", "Kusto.Data.Exceptions.KustoBadRequestException",
            "The blob could not be downloaded: " + *e, true});
      return;
    }
    if (gzip::is_gzip(blob)) {
      auto inflated = gzip::decompress(blob, std::size_t{1} << 30);
      if (!inflated) {
        fail({400, "BadRequest_NoRecordsOrWrongFormat",
              "Kusto.Data.Exceptions.KustoBadRequestException", "The blob is not valid gzip",
              true});
        return;
      }
      blob = std::move(*inflated);
    }
    if (gzip::is_gzip(blob)) {
      fail({400, "BadRequest_NoRecordsOrWrongFormat",
            "Kusto.Data.Exceptions.KustoBadRequestException",
            "The blob's data is not valid '" + format_text +
                "': it is gzip again after the blob was inflated",
            true});
      return;
    }
    if (avro) {
      std::string lines;
      if (auto wrong = avro_to_json_lines(blob, lines)) {
        fail({400, "BadRequest_NoRecordsOrWrongFormat",
              "Kusto.Data.Exceptions.KustoBadRequestException",
              "The blob's data is not valid '" + format_text + "': " + *wrong, true});
        return;
      }
      blob = std::move(lines);
    }
    req.body = std::move(blob);
    std::variant<std::size_t, IngestFailure> outcome;
    bool skipped = false;
    {
      std::lock_guard lock(mutex);
      const std::string db_name = text_of(member(message, "DatabaseName"));
      const std::string table_name = text_of(member(message, "TableName"));
      Database* db = catalog.database(db_name);
      Table* table = db != nullptr ? db->table(table_name) : nullptr;
      if (db == nullptr) {
        outcome = IngestFailure{{400, "BadRequest_DatabaseNotExist",
                                 "Kusto.Data.Exceptions.DatabaseNotFoundException",
                                 "Database '" + db_name + "' was not found.", true}};
      } else if (table == nullptr) {
        outcome = IngestFailure{
            {400, "BadRequest_TableNotExist", "Kusto.Data.Exceptions.TableNotFoundException",
             "Table '" + table_name + "' was not found in database '" + db_name + "'.", true}};
      } else {
        for (const auto& tag : if_not_exists) {
          skipped = skipped || table->ingest_by_tags.count(tag) > 0;
        }
        if (!skipped) {
          outcome = ingest_locked(*db, *table, req, ingest_by);
        }
      }
    }
    if (skipped) {
      {
        std::lock_guard lock(mutex);
        ++queued_succeeded;
      }
      report(message, true, "Skipped", nullptr);
      return;
    }
    if (const auto* failure = std::get_if<IngestFailure>(&outcome)) {
      fail(failure->error);
      return;
    }
    {
      std::lock_guard lock(mutex);
      ++queued_succeeded;
    }
    report(message, true, "Succeeded", nullptr);
  }

  void run_worker() {
    // Messages taken but not yet due: they stay invisible on the queue while held here.
    std::deque<std::pair<std::chrono::steady_clock::time_point, QueueMessage>> held;
    const auto visibility = static_cast<int>(
        std::chrono::duration_cast<std::chrono::seconds>(config.dm_delay).count() + 60);
    std::unique_lock lock(mutex);
    while (!stopping) {
      if (queued_paused) {
        wake.wait_for(lock, std::chrono::milliseconds(200));
        continue;
      }
      lock.unlock();
      std::vector<QueueMessage> messages;
      const auto error = storage->get_messages(kReadyQueue, visibility, messages);
      if (error) {
        std::fprintf(stderr, "kusto-emulator: queued ingestion: %s\n", error->c_str());
      }
      const auto now = std::chrono::steady_clock::now();
      for (auto& m : messages) {
        {
          std::lock_guard count(mutex);
          ++queued_messages;
        }
        held.emplace_back(now + config.dm_delay, std::move(m));
      }
      bool processed = false;
      while (!held.empty() && held.front().first <= std::chrono::steady_clock::now()) {
        process(held.front().second);
        (void)storage->delete_message(kReadyQueue, held.front().second);
        held.pop_front();
        processed = true;
      }
      lock.lock();
      if (messages.empty() && !processed) {
        // Azurite has no long polling: look again shortly (well inside the second the
        // issue allows between a message and its rows).
        wake.wait_for(lock, std::chrono::milliseconds(100));
      }
    }
  }
};

Server::Server(EmulatorConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}

Server::~Server() {
  stop();
}

std::optional<std::string> Server::start() {
  Impl& s = *impl_;
  if (auto e = s.replay()) {
    return e;
  }
  if (s.config.storage) {
    if (auto e = s.prepare_storage()) {
      return "Azurite: " + *e;
    }
  }
  s.bound_port = s.config.port == 0 ? emulators::free_port(s.config.host) : s.config.port;
  if (s.bound_port <= 0) {
    return "no free port on " + s.config.host;
  }
  s.listener = std::make_unique<web::http::experimental::listener::http_listener>(
      "http://" + s.config.host + ":" + std::to_string(s.bound_port) + "/");
  s.listener->support([this](const http_request& r) { impl_->handle(r); });
  try {
    s.listener->open().wait();
  } catch (const std::exception& e) {
    return std::string("cannot listen on port ") + std::to_string(s.bound_port) + ": " + e.what();
  }
  if (s.storage) {
    s.worker = std::thread([this] { impl_->run_worker(); });
  }
  return std::nullopt;
}

int Server::port() const {
  return impl_->bound_port;
}

void Server::stop() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  impl_->rows_added.notify_all();
  if (impl_->worker.joinable()) {
    impl_->worker.join();
  }
  if (impl_->listener) {
    try {
      impl_->listener->close().wait();
    } catch (const std::exception&) {
    }
    impl_->listener.reset();
  }
}

} // namespace hub2kusto::kusto_emulator
