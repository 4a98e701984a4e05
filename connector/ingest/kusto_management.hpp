#pragma once
// KustoManagement: control commands (`.show ...`, `.get ...`) sent to a Kusto endpoint's
// /v1/rest/mgmt, authorised as ingestion is, and their first result table (docs/protocols.md,
// "Streaming ingestion requests" for the headers;
// learn.microsoft.com/azure/data-explorer/kusto/api/rest/request for the request and the v1
// response). The streaming ingestor's readiness probe, the queued ingestor's `.get ingestion
// resources` and the `check-config --connect` preflight use it.
//
// Threads: any (the transport and the token provider are thread-safe).
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "azure/http_transport.hpp"
#include "azure/token_provider.hpp"
#include "base/result.hpp"
#include "ingest/response_classifier.hpp"

namespace hub2kusto::ingest {

// The first table of a v1 answer.
struct ResultTable {
  std::vector<std::string> columns;
  std::vector<nlohmann::json> rows; // arrays, one value per column

  // The column's index, or none.
  std::optional<std::size_t> column(std::string_view name) const;
  // Row `row`'s value in column `name` as text ("" when absent or null; JSON text when not a
  // string).
  std::string text(std::size_t row, std::string_view name) const;
};

// Why a command failed: the service's answer classified, or the transport's failure.
struct CommandError {
  int status = 0;     // HTTP status; 0: no answer
  std::string code;   // the OneApi error code, when the service sent one
  std::string reason; // one line, never a token
};

class KustoManagement {
public:
  // `url`: scheme://host[:port] of the engine or the data management endpoint.
  KustoManagement(std::string url, azure::HttpTransport& transport, azure::TokenProvider& tokens,
                  std::string app_name, std::string app_version)
      : url_(std::move(url)), transport_(transport), tokens_(tokens),
        app_name_(std::move(app_name)), app_version_(std::move(app_version)) {}

  // The answer's body as sent.
  Result<std::string, CommandError> execute(const std::string& database, const std::string& csl,
                                            std::chrono::milliseconds timeout);
  // The answer's first table.
  Result<ResultTable, CommandError> table(const std::string& database, const std::string& csl,
                                          std::chrono::milliseconds timeout);

  const std::string& url() const { return url_; }

private:
  std::string url_;
  azure::HttpTransport& transport_;
  azure::TokenProvider& tokens_;
  std::string app_name_;    // x-ms-app
  std::string app_version_; // x-ms-client-version
};

// The first table of a v1 response body, or none when the body is not one.
std::optional<ResultTable> first_table(std::string_view body);

} // namespace hub2kusto::ingest
