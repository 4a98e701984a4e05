#include "server_impl.hpp"

#include <thread>

namespace hub2kusto::kusto_emulator {

std::string Server::Impl::header(const http_request& r, const std::string& name) {
  const auto& h = r.headers();
  const auto it = h.find(name);
  return it == h.end() ? std::string() : it->second;
}

thread_local bool Server::Impl::counted_in_flight = false;

void Server::Impl::leave_in_flight() {
  if (counted_in_flight) {
    counted_in_flight = false;
    std::lock_guard lock(flight_mutex);
    --streaming_in_flight;
  }
}

void Server::Impl::reply(const http_request& r, status_code status, const std::string& body,
                         const std::string& content_type, int retry_after) {
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
  leave_in_flight();
  r.reply(response).wait();
}

void Server::Impl::reply_error(const http_request& r, const ServiceError& e, int retry_after) {
  reply(r, static_cast<status_code>(e.status),
        to_one_api(e, header(r, "x-ms-client-request-id"), new_guid()),
        "application/json; charset=utf-8", retry_after);
}

bool Server::Impl::authorized(const http_request& r) {
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

void Server::Impl::reply_unauthorized(const http_request& r) {
  // 401 carries no OneApi body (docs/protocols.md, "Errors").
  reply(r, web::http::status_codes::Unauthorized,
        "Unauthorized: the request has no bearer token, or one that is expired or was not "
        "issued by this emulator.",
        "text/plain");
}

std::string Server::Impl::issue_token(std::string audience, const std::string& client,
                                      const std::string& tenant) {
  for (const std::string suffix : {"/.default", "/"}) {
    if (audience.size() >= suffix.size() &&
        audience.compare(audience.size() - suffix.size(), suffix.size(), suffix) == 0) {
      audience.resize(audience.size() - suffix.size());
    }
  }
  const std::int64_t expires_ms = now_ms() + config.token_lifetime_seconds * 1000;
  std::string token;
  if (signing_key) {
    // The claims Entra ID's v1 access tokens carry, which the services check.
    token = signing_key->sign({{"aud", audience},
                               {"iss", "https://sts.windows.net/" + tenant + "/"},
                               {"appid", client},
                               {"oid", client},
                               {"tid", tenant},
                               {"iat", now_s()},
                               {"nbf", now_s()},
                               {"exp", expires_ms / 1000},
                               {"jti", random_hex(16)}});
  } else {
    token = "emu-" + random_hex(40);
  }
  std::lock_guard lock(mutex);
  issued_tokens[token] = {expires_ms, std::move(audience)};
  return token;
}

void Server::Impl::on_openid_configuration(const http_request& r, const std::string& tenant) {
  // The URLs as the client reached us: behind a TLS front (MSAL takes only https authorities)
  // that says so in X-Forwarded-Proto.
  const std::string proto = header(r, "X-Forwarded-Proto");
  const std::string base =
      (proto.empty() ? "http" : proto) + "://" + header(r, "Host") + "/" + tenant;
  reply(r, web::http::status_codes::OK,
        nlohmann::json{
            {"issuer", "https://login.microsoftonline.com/" + tenant + "/v2.0"},
            {"token_endpoint", base + "/oauth2/v2.0/token"},
            {"authorization_endpoint", base + "/oauth2/v2.0/authorize"},
            {"end_session_endpoint", base + "/oauth2/v2.0/logout"},
            {"jwks_uri", base + "/discovery/v2.0/keys"},
            {"token_endpoint_auth_methods_supported", {"client_secret_post", "private_key_jwt"}},
            {"id_token_signing_alg_values_supported", {"RS256"}}}
            .dump());
}

void Server::Impl::delay_token() {
  std::int64_t delay = 0;
  {
    std::lock_guard lock(mutex);
    delay = token_delay_ms;
    token_requests_waiting += delay > 0 ? 1 : 0;
  }
  if (delay > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(delay)); // the fault itself
    std::lock_guard lock(mutex);
    --token_requests_waiting;
  }
}

void Server::Impl::on_aad_token(const http_request& r, const std::string& body) {
  delay_token();
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
  // POST /{tenant}/oauth2/v2.0/token
  const auto segments = web::uri::split_path(r.request_uri().path());
  const std::string token =
      issue_token(field("scope"), client, segments.empty() ? "" : web::uri::decode(segments[0]));
  const auto lifetime = config.token_lifetime_seconds;
  reply(r, web::http::status_codes::OK,
        nlohmann::json{{"token_type", "Bearer"},
                       {"expires_in", lifetime},
                       {"ext_expires_in", lifetime},
                       {"access_token", token}}
            .dump());
}

void Server::Impl::on_managed_identity_token(const http_request& r, bool app_service) {
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
  const auto client = query.find("client_id");
  const std::string token = issue_token(web::uri::decode(resource->second),
                                        client == query.end() ? "system-assigned-identity"
                                                              : web::uri::decode(client->second),
                                        config.managed_identity_tenant);
  const auto lifetime = config.token_lifetime_seconds;
  reply(r, web::http::status_codes::OK,
        nlohmann::json{{"access_token", token},
                       {"expires_in", std::to_string(lifetime)},
                       {"expires_on", std::to_string(now_s() + lifetime)},
                       {"resource", web::uri::decode(resource->second)},
                       {"token_type", "Bearer"}}
            .dump());
}

void Server::Impl::on_auth_metadata(const http_request& r) {
  const std::string self = "http://" + config.host + ":" + std::to_string(bound_port);
  reply(
      r, web::http::status_codes::OK,
      nlohmann::json{{"AzureAD",
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

void Server::Impl::record(const nlohmann::json& entry) {
  if (journal.is_open()) {
    journal << entry.dump() << '\n';
    journal.flush();
  }
}

std::optional<std::string> Server::Impl::replay() {
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

std::size_t Server::Impl::commit_locked(Database& db, Table& t, Table::Pending rows,
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

std::variant<std::size_t, IngestFailure>
Server::Impl::ingest_locked(Database& db, Table& t, const IngestRequest& req,
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

void Server::Impl::hold_while_paused() {
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

bool Server::Impl::in_outage() {
  std::lock_guard lock(mutex);
  if (outage_until && std::chrono::steady_clock::now() < *outage_until) {
    ++outage_answered;
    return true;
  }
  return false;
}

bool Server::Impl::ingest_refused(const std::vector<std::string>& path, const std::string& body) {
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

void Server::Impl::dispatch(const http_request& r) {
  {
    std::lock_guard lock(mutex);
    ++handlers;
  }
  std::thread([this, r] {
    handle(r);
    leave_in_flight(); // in case no answer was sent
    std::lock_guard lock(mutex);
    if (--handlers == 0) {
      handlers_done.notify_all();
    }
  }).detach();
}

void Server::Impl::handle(const http_request& r) {
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
    // Entra ID's discovery documents, which MSAL reads before it asks for a token.
    if (r.method() == methods::GET && path.size() == 4 && path[1] == "v2.0" &&
        path[2] == ".well-known" && path[3] == "openid-configuration") {
      on_openid_configuration(r, path[0]);
      return;
    }
    if (r.method() == methods::GET && path.size() == 4 && path[1] == "discovery" &&
        path[3] == "keys") {
      nlohmann::json keys = nlohmann::json::array();
      if (signing_key) {
        keys.push_back(signing_key->jwk());
      }
      reply(r, web::http::status_codes::OK, nlohmann::json{{"keys", keys}}.dump());
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
        reply_error(r, {400, "General_BadRequest", "Kusto.Data.Exceptions.KustoBadRequestException",
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

Server::Server(EmulatorConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}

Server::~Server() {
  stop();
}

std::optional<std::string> Server::start() {
  Impl& s = *impl_;
  if (auto e = s.replay()) {
    return e;
  }
  if (!s.config.signing_key_file.empty()) {
    std::string why;
    s.signing_key = emulator::JwtKey::load(s.config.signing_key_file, why);
    if (!s.signing_key) {
      return "--signing-key: " + why;
    }
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
  s.listener->support([this](const http_request& r) { impl_->dispatch(r); });
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
    // The handlers use the state below: wait until the last one has answered (a paused or
    // delayed one within its fault's time).
    std::unique_lock lock(impl_->mutex);
    impl_->handlers_done.wait(lock, [&] { return impl_->handlers == 0; });
    lock.unlock();
    impl_->listener.reset();
  }
}

} // namespace hub2kusto::kusto_emulator
