#include "ingest/streaming_ingestor.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/gzip.hpp"
#include "common/random.hpp"
#include "ingest/kusto_management.hpp"

namespace hub2kusto::ingest {

void add_client_headers(azure::Headers& headers, const std::string& request_id,
                        const std::string& app_name, const std::string& app_version) {
  const std::string version = app_version.empty() ? "0" : app_version;
  headers.emplace_back("x-ms-client-request-id", request_id);
  headers.emplace_back("x-ms-app", fmt::format("Kusto.{}:{{{}}}", app_name, version));
  headers.emplace_back("x-ms-client-version", fmt::format("Kusto.{}:{{{}}}", app_name, version));
  headers.emplace_back("x-ms-version", "2024-12-12");
}

Classification StreamingIngestor::attempt(const Batch& batch, int attempt) {
  const auto token = tokens_.token();
  if (!token) {
    Classification c;
    c.outcome = Outcome::retriable;
    c.target_problem = DeliveryStatus::TargetProblem::credentials;
    c.reason = token.error().message;
    return c;
  }
  azure::HttpRequest r;
  r.method = "POST";
  r.timeout = options_.timeout;
  r.url = fmt::format("{}/v1/rest/ingest/{}/{}?streamFormat={}", options_.engine_url,
                      azure::url_encode(batch.target.database.value()),
                      azure::url_encode(batch.target.table.value()),
                      azure::url_encode(ingest_format_name(batch.target.format)));
  if (batch.target.mapping) {
    r.url += "&mappingName=" + azure::url_encode(batch.target.mapping->value());
  }
  r.headers = {{"Content-Type", "application/octet-stream"}, {"Accept", "application/json"}};
  if (is_binary(batch.target.format)) {
    r.body = batch.data; // compressed inside the file, if at all
  } else {
    r.body = gzip::compress(batch.data, gzip::kFastLevel);
    r.headers.emplace_back("Content-Encoding", "gzip");
  }
  if (!token->empty()) {
    r.headers.emplace_back("Authorization", "Bearer " + token->reveal());
  }
  // A fresh id per request, as the SDKs send it; the batch id and attempt stay readable in it.
  add_client_headers(
      r.headers, fmt::format("KHC.executeStreamingIngest;{};{};{}", make_uuid(), batch.id, attempt),
      options_.app_name, options_.app_version);
  const azure::HttpResponse response = transport_.send(r);
  Classification c = classify_streaming_response(response);
  c.reason += explain_refusal(tokens_, response.status);
  if (response.status == 401) {
    tokens_.invalidate(); // an expired or revoked token: fetch a new one next time
  }
  return c;
}

DeliveryStatus StreamingIngestor::ingest(const Batch& batch) {
  const Classification c = attempt(batch, 0);
  DeliveryStatus s;
  s.path = IngestPath::streaming;
  s.outcome = c.outcome;
  s.reason = c.reason;
  s.retry_after = c.retry_after;
  return s;
}

Result<std::monostate> StreamingIngestor::probe(const DatabaseName& database,
                                                std::chrono::milliseconds timeout) {
  KustoManagement engine(options_.engine_url, transport_, tokens_, options_.app_name,
                         options_.app_version);
  if (auto answer = engine.execute(database.value(), ".show version", timeout); !answer) {
    return failure(fmt::format("{} did not answer '.show version': {}", options_.engine_url,
                               answer.error().reason));
  }
  return std::monostate{};
}

} // namespace hub2kusto::ingest
