#include "server_impl.hpp"

namespace hub2kusto::kusto_emulator {

void Server::Impl::on_control(const http_request& r, const std::vector<std::string>& path) {
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
  std::lock_guard flight(flight_mutex);
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
                         {"streaming_limit", streaming_limit},
                         {"streaming_in_flight", streaming_in_flight},
                         {"streaming_in_flight_peak", streaming_in_flight_peak},
                         {"streaming_throttled", streaming_throttled},
                         {"streaming_faults_pending", streaming_faults.size()},
                         {"streaming_disabled", streaming_disabled},
                         {"outage_answered", outage_answered},
                         {"forbidden_answered", forbidden_answered},
                         {"paused_requests", paused_requests},
                         {"latency_ms", latency_ms},
                         {"token_delay_ms", token_delay_ms},
                         {"token_requests_waiting", token_requests_waiting},
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
  } else if (action == "faults/concurrency") {
    const std::int64_t streaming = number("streaming", -1);
    if (streaming < 0 || streaming > 10'000) {
      refused("faults/concurrency needs streaming=N (0 to 10000; 0: no limit)");
      return;
    }
    streaming_limit = static_cast<int>(streaming);
    streaming_in_flight_peak = streaming_in_flight;
    applied(streaming == 0 ? std::string("no limit on concurrent streaming requests")
                           : "at most " + std::to_string(streaming) +
                                 " concurrent streaming requests; more answer 429");
  } else if (action == "faults/token-delay") {
    const std::int64_t ms = number("ms", -1);
    if (ms < 0) {
      refused("faults/token-delay needs ms>=0");
      return;
    }
    token_delay_ms = ms;
    applied("token endpoints answer after " + std::to_string(ms) + " ms");
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
    streaming_limit = 0;
    latency_ms = 0;
    token_delay_ms = 0;
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

} // namespace hub2kusto::kusto_emulator
