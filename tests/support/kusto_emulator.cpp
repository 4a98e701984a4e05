#include "support/kusto_emulator.hpp"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <regex>

#include <gtest/gtest.h>

#include "support/http.hpp"

namespace hub2kusto::testing {

namespace {

std::vector<std::string> azurite_command(const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {HUB2KUSTO_SOURCE_DIR "/node_modules/.bin/azurite",
                                   "--blobPort",
                                   "0",
                                   "--queuePort",
                                   "0",
                                   "--tablePort",
                                   "0",
                                   "--inMemoryPersistence",
                                   "--skipApiVersionCheck",
                                   "--loose",
                                   "--disableTelemetry"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

} // namespace

Azurite::Azurite(const std::vector<std::string>& extra_args)
    : process_(azurite_command(extra_args)) {
  const std::regex listening(
      R"(Azurite (Blob|Queue|Table) service is successfully listening at (https?)://127\.0\.0\.1:(\d+))");
  while (blob_ == 0 || queue_ == 0 || table_ == 0) {
    const auto line = process_.read_line(std::chrono::seconds(60));
    if (!line) {
      return;
    }
    std::smatch m;
    if (std::regex_search(*line, m, listening)) {
      scheme_ = m[2];
      const int port = std::stoi(m[3]);
      (m[1] == "Blob" ? blob_ : m[1] == "Queue" ? queue_ : table_) = port;
    }
  }
}

std::string Azurite::blob_connection_string(const std::string& key) const {
  return "DefaultEndpointsProtocol=" + scheme_ + ";AccountName=devstoreaccount1;AccountKey=" + key +
         ";BlobEndpoint=" + endpoint(blob_) + ";";
}

std::vector<std::string> Azurite::kusto_flags() const {
  return {"--blob-endpoint", endpoint(blob_),    "--queue-endpoint",
          endpoint(queue_),  "--table-endpoint", endpoint(table_)};
}

namespace {

std::vector<std::string> kusto_command(const std::vector<std::string>& args,
                                       const std::optional<Azurite>& azurite) {
  // TEST_KUSTO_EMULATOR names another build's emulator: scripts/test's sanitizer steps run
  // against the plain one, as the emulator is not what they check.
  std::vector<std::string> argv = {built_or_named("TEST_KUSTO_EMULATOR", HUB2KUSTO_KUSTO_EMULATOR),
                                   "--port", "0", "--database", "db"};
  if (azurite) {
    const auto flags = azurite->kusto_flags();
    argv.insert(argv.end(), flags.begin(), flags.end());
  }
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

Headers bearer(const std::string& token) {
  return token.empty() ? Headers{} : Headers{{"Authorization", "Bearer " + token}};
}

} // namespace

KustoEmulator::KustoEmulator(const std::vector<std::string>& args, bool queued)
    : azurite_(queued ? std::make_optional<Azurite>() : std::nullopt),
      process_(kusto_command(args, azurite_)) {
  if (azurite_ && !azurite_->running()) {
    return;
  }
  if (const auto line = process_.read_line(std::chrono::seconds(30))) {
    port_ = std::stoi(*line);
  }
}

KustoEmulator::~KustoEmulator() {
  if (::testing::Test::HasFailure()) {
    std::fprintf(stderr, "--- kusto-emulator stderr ---\n%s\n", process_.stderr_text().c_str());
  }
}

std::string KustoEmulator::stderr_text() const {
  return process_.stderr_text() + (azurite_ ? azurite_->stderr_text() : "");
}

nlohmann::json KustoEmulator::mgmt(const std::string& csl, const std::string& db,
                                   const std::string& token) {
  return post("/v1/rest/mgmt", nlohmann::json{{"db", db}, {"csl", csl}}.dump(), token);
}

nlohmann::json KustoEmulator::query(const std::string& csl, const std::string& token,
                                    std::chrono::seconds timeout) {
  return post("/v1/rest/query", nlohmann::json{{"db", "db"}, {"csl", csl}}.dump(), token, timeout);
}

long long KustoEmulator::count(const std::string& table, const std::string& token) {
  const auto r = query(table + " | count", token);
  try {
    return r.at("Tables").at(0).at("Rows").at(0).at(0).get<long long>();
  } catch (const std::exception&) {
    return -1;
  }
}

bool KustoEmulator::fault(const std::string& path_and_query) {
  return http_request(url(), "POST", "/_control" + path_and_query).first == 200;
}

nlohmann::json KustoEmulator::status() {
  return nlohmann::json::parse(http_request(url(), "GET", "/_control/status").second, nullptr,
                               false);
}

nlohmann::json KustoEmulator::post(const std::string& path, const std::string& body,
                                   const std::string& token, std::chrono::seconds timeout) {
  const auto [status, text] = http_request(url(), "POST", path, body, bearer(token), timeout);
  auto json = nlohmann::json::parse(text, nullptr, false);
  if (status != 200 || json.is_discarded()) {
    return nlohmann::json{{"error", std::to_string(status) + " " + text}};
  }
  return json;
}

} // namespace hub2kusto::testing
