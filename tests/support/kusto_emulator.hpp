#pragma once
// tests/emulators/kusto as a child process on a free port, with Azurite (the real Azure Storage
// emulator, from node_modules) behind it for queued ingestion, plus the calls the tests make:
// management commands, row counts and the fault-injection control API.
#include <chrono>
#include <cstdio>
#include <optional>
#include <regex>
#include <string>
#include <vector>

// gtest before cpprestsdk: cpprestsdk defines a macro `U`, which breaks gtest's templates.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cpprest/http_client.h>

#include "support/child_process.hpp"

namespace hub2kusto::testing {

class Azurite {
public:
  Azurite()
      : process_({HUB2KUSTO_SOURCE_DIR "/node_modules/.bin/azurite", "--blobPort", "0",
                  "--queuePort", "0", "--tablePort", "0", "--inMemoryPersistence",
                  "--skipApiVersionCheck", "--loose", "--disableTelemetry"}) {
    const std::regex listening(
        R"(Azurite (Blob|Queue|Table) service is successfully listening at http://127\.0\.0\.1:(\d+))");
    while (blob_ == 0 || queue_ == 0 || table_ == 0) {
      const auto line = process_.read_line(std::chrono::seconds(60));
      if (!line) {
        return;
      }
      std::smatch m;
      if (std::regex_search(*line, m, listening)) {
        const int port = std::stoi(m[2]);
        (m[1] == "Blob" ? blob_ : m[1] == "Queue" ? queue_ : table_) = port;
      }
    }
  }
  bool running() const { return blob_ > 0 && queue_ > 0 && table_ > 0; }
  std::string endpoint(int port) const {
    return "http://127.0.0.1:" + std::to_string(port) + "/devstoreaccount1";
  }
  // An Azure Storage connection string for its blob service, with Azurite's public dev key.
  std::string blob_connection_string(const std::string& key = kDevKey) const {
    return "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + key +
           ";BlobEndpoint=" + endpoint(blob_) + ";";
  }
  static constexpr const char* kDevKey =
      "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
  std::vector<std::string> kusto_flags() const {
    return {"--blob-endpoint", endpoint(blob_),    "--queue-endpoint",
            endpoint(queue_),  "--table-endpoint", endpoint(table_)};
  }
  std::string stderr_text() const { return process_.stderr_text(); }

private:
  ChildProcess process_;
  int blob_ = 0;
  int queue_ = 0;
  int table_ = 0;
};

class KustoEmulator {
public:
  explicit KustoEmulator(std::vector<std::string> args, bool queued = true)
      : azurite_(queued ? std::make_optional<Azurite>() : std::nullopt),
        process_(command(args, azurite_)) {
    if (azurite_ && !azurite_->running()) {
      return;
    }
    if (const auto line = process_.read_line(std::chrono::seconds(30))) {
      port_ = std::stoi(*line);
    }
  }
  ~KustoEmulator() {
    if (::testing::Test::HasFailure()) {
      std::fprintf(stderr, "--- kusto-emulator stderr ---\n%s\n", process_.stderr_text().c_str());
    }
  }
  KustoEmulator(const KustoEmulator&) = delete;
  KustoEmulator& operator=(const KustoEmulator&) = delete;

  bool running() const { return port_ > 0; }
  // The Azurite behind it (queued ingestion), when started with one.
  const std::optional<Azurite>& azurite() const { return azurite_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string stderr_text() const {
    return process_.stderr_text() + (azurite_ ? azurite_->stderr_text() : "");
  }

  // A management command; the v1 answer, or an "error" member.
  nlohmann::json mgmt(const std::string& csl, const std::string& db = "db",
                      const std::string& token = "") {
    return post("/v1/rest/mgmt", nlohmann::json{{"db", db}, {"csl", csl}}.dump(), token);
  }
  // A query; the v1 answer, or an "error" member.
  nlohmann::json query(const std::string& csl, const std::string& token = "",
                       std::chrono::seconds timeout = std::chrono::seconds(60)) {
    return post("/v1/rest/query", nlohmann::json{{"db", "db"}, {"csl", csl}}.dump(), token,
                timeout);
  }
  // `T | count` through the query endpoint; -1 when it failed.
  long long count(const std::string& table, const std::string& token = "") {
    const auto r = post("/v1/rest/query",
                        nlohmann::json{{"db", "db"}, {"csl", table + " | count"}}.dump(), token);
    try {
      return r.at("Tables").at(0).at("Rows").at(0).at(0).get<long long>();
    } catch (const std::exception&) {
      return -1;
    }
  }
  bool fault(const std::string& path_and_query) {
    return request(web::http::methods::POST, "/_control" + path_and_query, "", "").first == 200;
  }
  nlohmann::json status() {
    return nlohmann::json::parse(
        request(web::http::methods::GET, "/_control/status", "", "").second, nullptr, false);
  }

private:
  static std::vector<std::string> command(const std::vector<std::string>& args,
                                          const std::optional<Azurite>& azurite) {
    std::vector<std::string> argv = {HUB2KUSTO_KUSTO_EMULATOR, "--port", "0", "--database", "db"};
    if (azurite) {
      const auto flags = azurite->kusto_flags();
      argv.insert(argv.end(), flags.begin(), flags.end());
    }
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  nlohmann::json post(const std::string& path, const std::string& body, const std::string& token,
                      std::chrono::seconds timeout = std::chrono::seconds(60)) {
    const auto [status, text] = request(web::http::methods::POST, path, body, token, timeout);
    auto json = nlohmann::json::parse(text, nullptr, false);
    if (status != 200 || json.is_discarded()) {
      return nlohmann::json{{"error", std::to_string(status) + " " + text}};
    }
    return json;
  }

  std::pair<int, std::string> request(const web::http::method& method, const std::string& path,
                                      const std::string& body, const std::string& token,
                                      std::chrono::seconds timeout = std::chrono::seconds(60)) {
    try {
      web::http::client::http_client_config config;
      config.set_timeout(timeout);
      web::http::client::http_client client(url(), config);
      web::http::http_request r(method);
      r.set_request_uri(path);
      if (!body.empty()) {
        r.set_body(body, "application/json");
      }
      if (!token.empty()) {
        r.headers().add("Authorization", "Bearer " + token);
      }
      auto response = client.request(r).get();
      return {response.status_code(), response.extract_utf8string(true).get()};
    } catch (const std::exception& e) {
      return {0, e.what()};
    }
  }

  std::optional<Azurite> azurite_;
  ChildProcess process_;
  int port_ = 0;
};

} // namespace hub2kusto::testing
