#pragma once
// Streaming ingestion (docs/protocols.md, "Streaming ingestion requests"): one POST of the gzipped
// batch to the engine's /v1/rest/ingest/{db}/{table}, classified by response_classifier.hpp.
#include <memory>
#include <string>

#include "azure/http_transport.hpp"
#include "azure/token_provider.hpp"
#include "base/result.hpp"
#include "common/kusto_connection_string.hpp"
#include "ingest/ingestor.hpp"
#include "ingest/response_classifier.hpp"

namespace hub2kusto::ingest {

struct StreamingOptions {
  std::string engine_url; // scheme://host[:port] of the engine (never the ingest- host)
  std::chrono::milliseconds timeout{600'000}; // the SDKs' streaming timeout
  std::string app_name = "hub2kusto";         // x-ms-app
  std::string app_version;                    // x-ms-app, x-ms-client-version
};

class StreamingIngestor final : public Ingestor {
public:
  StreamingIngestor(StreamingOptions options, azure::HttpTransport& transport,
                    azure::TokenProvider& tokens)
      : options_(std::move(options)), transport_(transport), tokens_(tokens) {}

  // One request; `attempt` numbers the client request id (<batch id>;<attempt>).
  Classification attempt(const Batch& batch, int attempt);

  // One attempt as an Ingestor: "streaming impossible" is retriable here (the data is fine;
  // the managed ingestor is what falls back to queued).
  DeliveryStatus ingest(const Batch& batch) override;

  // Whether the engine answers an authorised `.show version` on `database` within `timeout`:
  // the readiness probe's "Kusto target reachable". The error says what failed (the service's
  // answer or the transport's), never the token.
  Result<std::monostate> probe(const DatabaseName& database, std::chrono::milliseconds timeout);

private:
  StreamingOptions options_;
  azure::HttpTransport& transport_;
  azure::TokenProvider& tokens_;
};

// The headers every request to Kusto carries (docs/protocols.md, "Streaming ingestion requests").
void add_client_headers(azure::Headers& headers, const std::string& request_id,
                        const std::string& app_name, const std::string& app_version);

} // namespace hub2kusto::ingest
