#include "ingest/queued_ingestor.hpp"

#include <ctime>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/encoding.hpp"
#include "common/gzip.hpp"
#include "common/iso8601.hpp"
#include "ingest/streaming_ingestor.hpp"

namespace hub2kusto::ingest {

std::string StorageUrl::with(std::string_view suffix) const {
  return base + std::string(suffix) + (sas.empty() ? "" : "?" + sas.reveal());
}

std::string make_uuid() {
  thread_local std::mt19937_64 engine(std::random_device{}());
  const std::uint64_t a = engine();
  const std::uint64_t b = engine();
  const std::uint64_t hi = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL; // version 4
  const std::uint64_t lo = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL; // variant 1
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", hi >> 32, (hi >> 16) & 0xffff,
                     hi & 0xffff, lo >> 48, lo & 0xffffffffffffULL);
}

std::string rfc1123_date(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buffer[64];
  std::strftime(buffer, sizeof buffer, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buffer;
}

namespace {

StorageUrl split(const std::string& url) {
  const auto q = url.find('?');
  if (q == std::string::npos) {
    return {url, Secret()};
  }
  return {url.substr(0, q), Secret(url.substr(q + 1))};
}

// The mapping kind the queue message names (§4.5): exact CamelCase values.
std::string mapping_type(const std::string& format) {
  if (format == "csv" || format == "tsv" || format == "psv" || format == "scsv" ||
      format == "sohsv" || format == "tsve" || format == "txt" || format == "raw") {
    return "Csv";
  }
  if (format == "avro" || format == "apacheavro") {
    return "Avro";
  }
  if (format == "parquet") {
    return "Parquet";
  }
  if (format == "orc") {
    return "Orc";
  }
  if (format == "w3clogfile") {
    return "W3CLogFile";
  }
  return "Json";
}

// <tag>value</tag> occurrences in a small XML document (Azure Queue answers).
std::vector<std::string> xml_values(std::string_view xml, std::string_view tag, std::size_t from,
                                    std::size_t to) {
  std::vector<std::string> out;
  const std::string open = "<" + std::string(tag) + ">";
  const std::string close = "</" + std::string(tag) + ">";
  std::size_t pos = from;
  while ((pos = xml.find(open, pos)) != std::string_view::npos && pos < to) {
    const std::size_t start = pos + open.size();
    const std::size_t end = xml.find(close, start);
    if (end == std::string_view::npos) {
      break;
    }
    out.emplace_back(xml.substr(start, end - start));
    pos = end + close.size();
  }
  return out;
}

} // namespace

QueuedIngestor::QueuedIngestor(QueuedOptions options, HttpTransport& transport,
                               TokenProvider& tokens, const Clock& clock)
    : options_(std::move(options)), transport_(transport), tokens_(tokens), clock_(clock) {}

Result<std::string> QueuedIngestor::management(const std::string& command) {
  const auto token = tokens_.token();
  if (!token) {
    return failure(token.error().message);
  }
  HttpRequest r;
  r.method = "POST";
  r.timeout = options_.timeout;
  r.url = options_.dm_url + "/v1/rest/mgmt";
  r.body = nlohmann::json{{"db", "NetDefaultDB"}, {"csl", command}}.dump();
  r.headers = {{"Content-Type", "application/json; charset=utf-8"}, {"Accept", "application/json"}};
  if (!token->empty()) {
    r.headers.emplace_back("Authorization", "Bearer " + token->reveal());
  }
  add_client_headers(r.headers, "KHC.execute;" + make_uuid(), options_.app_name,
                     options_.app_version);
  const HttpResponse response = transport_.send(r);
  if (response.status == 401) {
    tokens_.invalidate();
  }
  if (response.status != 200) {
    const auto error = classify_streaming_response(response);
    return failure(
        fmt::format("the data management service did not run '{}': {}", command, error.reason));
  }
  return response.body;
}

Result<IngestionResources> QueuedIngestor::fetch_resources() {
  auto resources_body = management(".get ingestion resources");
  if (!resources_body) {
    return failure(std::move(resources_body).error());
  }
  auto identity_body = management(".get kusto identity token");
  if (!identity_body) {
    return failure(std::move(identity_body).error());
  }
  IngestionResources r;
  const auto rows = [](const std::string& body) -> nlohmann::json {
    const auto json = nlohmann::json::parse(body, nullptr, false);
    if (json.is_discarded() || !json.contains("Tables") || !json["Tables"].is_array() ||
        json["Tables"].empty() || !json["Tables"][0].contains("Rows")) {
      return nlohmann::json::array();
    }
    return json["Tables"][0]["Rows"];
  };
  for (const auto& row : rows(*resources_body)) {
    if (!row.is_array() || row.size() < 2 || !row[0].is_string() || !row[1].is_string()) {
      continue;
    }
    const std::string type = row[0].get<std::string>();
    StorageUrl url = split(row[1].get<std::string>());
    if (type == "SecuredReadyForAggregationQueue") {
      r.queues.push_back(std::move(url));
    } else if (type == "TempStorage") {
      r.containers.push_back(std::move(url));
    } else if (type == "FailedIngestionsQueue") {
      r.failure_queues.push_back(std::move(url));
    }
  }
  const auto identity = rows(*identity_body);
  if (!identity.empty() && identity[0].is_array() && !identity[0].empty() &&
      identity[0][0].is_string()) {
    r.authorization_context = Secret(identity[0][0].get<std::string>());
  }
  if (r.queues.empty() || r.containers.empty() || r.authorization_context.empty()) {
    return failure("the data management service's ingestion resources lack a "
                   "SecuredReadyForAggregationQueue, a TempStorage container or the identity "
                   "token");
  }
  r.fetched_at = clock_.steady_now();
  return r;
}

Result<IngestionResources> QueuedIngestor::resources() {
  {
    std::lock_guard lock(mutex_);
    if (resources_ && clock_.steady_now() - resources_->fetched_at < options_.refresh) {
      return *resources_;
    }
  }
  auto fresh = fetch_resources();
  if (!fresh) {
    return fresh;
  }
  std::lock_guard lock(mutex_);
  resources_ = *fresh;
  return fresh;
}

void QueuedIngestor::forget_resources() {
  std::lock_guard lock(mutex_);
  resources_.reset();
}

DeliveryStatus QueuedIngestor::ingest(const Batch& batch) {
  DeliveryStatus status;
  status.path = IngestPath::queued;
  auto res = resources();
  if (!res) {
    status.outcome = Outcome::retriable;
    status.reason = res.error().message;
    return status;
  }
  const std::string body = gzip::compress(batch.data, gzip::kFastLevel);
  const std::string blob_name =
      fmt::format("hub2kusto__{}__{}__{}.{}.gz", batch.target.database.value(),
                  batch.target.table.value(), batch.id, batch.target.format);
  // Spread uploads over the containers; on a failure move on to the next one (§4.2).
  std::size_t first = 0;
  {
    std::lock_guard lock(mutex_);
    first = next_container_++;
  }
  const std::size_t tries = std::min<std::size_t>(3, res->containers.size());
  std::string uploaded_url;
  std::string blob_printable;
  std::string last_error;
  for (std::size_t i = 0; i < tries; ++i) {
    const StorageUrl& container = res->containers[(first + i) % res->containers.size()];
    HttpRequest put;
    put.method = "PUT";
    put.timeout = options_.timeout;
    put.url = container.with("/" + url_encode(blob_name));
    put.body = body;
    put.headers = {{"x-ms-blob-type", "BlockBlob"},
                   {"x-ms-version", "2019-12-12"},
                   {"x-ms-date", rfc1123_date(clock_.system_now())},
                   {"Content-Type", "application/octet-stream"}};
    const HttpResponse response = transport_.send(put);
    if (response.status == 201) {
      uploaded_url = put.url;
      blob_printable = container.base + "/" + url_encode(blob_name);
      break;
    }
    last_error = response.status == 0
                     ? response.transport_error
                     : fmt::format("HTTP {} from {}", response.status, container.base);
  }
  if (uploaded_url.empty()) {
    forget_resources(); // the SAS may have expired: fetch fresh resources next time
    status.outcome = Outcome::retriable;
    status.reason = "the batch could not be uploaded to the temporary storage: " + last_error;
    return status;
  }

  const std::string message_id = make_uuid();
  nlohmann::json additional = {{"authorizationContext", res->authorization_context.reveal()},
                               {"format", batch.target.format}};
  if (batch.target.mapping) {
    additional["ingestionMappingReference"] = batch.target.mapping->value();
    additional["ingestionMappingType"] = mapping_type(batch.target.format);
  }
  const std::string version = options_.app_version.empty() ? "0" : options_.app_version;
  const nlohmann::json message = {
      {"Id", message_id},
      {"BlobPath", uploaded_url},
      {"RawDataSize", batch.data.size()},
      {"DatabaseName", batch.target.database.value()},
      {"TableName", batch.target.table.value()},
      {"RetainBlobOnSuccess", true},
      {"FlushImmediately", false},
      {"IgnoreSizeLimit", false},
      {"ReportLevel", 0},  // failures only
      {"ReportMethod", 0}, // to the failed-ingestions queue, read by poll_failures()
      {"SourceMessageCreationTime", format_iso8601_utc(clock_.system_now())},
      {"ApplicationForTracing", fmt::format("Kusto.{}:{{{}}}", options_.app_name, version)},
      {"ClientVersionForTracing", fmt::format("Kusto.{}:{{{}}}", options_.app_name, version)},
      {"AdditionalProperties", additional},
  };
  std::size_t queue_index = 0;
  {
    std::lock_guard lock(mutex_);
    queue_index = next_queue_++ % res->queues.size();
  }
  HttpRequest post;
  post.method = "POST";
  post.timeout = options_.timeout;
  post.url = res->queues[queue_index].with("/messages");
  post.body = "<QueueMessage><MessageText>" + encoding::base64_encode(message.dump()) +
              "</MessageText></QueueMessage>";
  post.headers = {{"x-ms-version", "2019-12-12"},
                  {"x-ms-date", rfc1123_date(clock_.system_now())},
                  {"Content-Type", "application/xml"}};
  const HttpResponse response = transport_.send(post);
  if (response.status != 201) {
    forget_resources();
    status.outcome = Outcome::retriable;
    status.reason = response.status == 0
                        ? "the ingestion queue did not answer: " + response.transport_error
                        : fmt::format("the ingestion queue {} answered HTTP {}",
                                      res->queues[queue_index].base, response.status);
    return status;
  }
  {
    std::lock_guard lock(mutex_);
    sent_[message_id] = batch.id;
    sent_order_.push_back(message_id);
    while (sent_order_.size() > 100'000) { // bounded: failures come within hours, not days
      sent_.erase(sent_order_.front());
      sent_order_.pop_front();
    }
  }
  status.outcome = Outcome::delivered;
  status.blob = blob_printable;
  return status;
}

Result<std::vector<IngestionFailure>> QueuedIngestor::poll_failures() {
  auto res = resources();
  if (!res) {
    return failure(std::move(res).error());
  }
  std::vector<IngestionFailure> out;
  for (const StorageUrl& queue : res->failure_queues) {
    HttpRequest get;
    get.url = queue.with("/messages") + (queue.sas.empty() ? "?" : "&") +
              "numofmessages=32&visibilitytimeout=30";
    get.headers = {{"x-ms-version", "2019-12-12"},
                   {"x-ms-date", rfc1123_date(clock_.system_now())}};
    const HttpResponse listed = transport_.send(get);
    if (listed.status != 200) {
      return failure(fmt::format("the failed-ingestions queue {} answered {}", queue.base,
                                 listed.status == 0 ? listed.transport_error
                                                    : "HTTP " + std::to_string(listed.status)));
    }
    std::size_t pos = 0;
    while ((pos = listed.body.find("<QueueMessage>", pos)) != std::string::npos) {
      const std::size_t end = listed.body.find("</QueueMessage>", pos);
      if (end == std::string::npos) {
        break;
      }
      const auto ids = xml_values(listed.body, "MessageId", pos, end);
      const auto receipts = xml_values(listed.body, "PopReceipt", pos, end);
      const auto texts = xml_values(listed.body, "MessageText", pos, end);
      pos = end;
      if (ids.empty() || receipts.empty() || texts.empty()) {
        continue;
      }
      const auto decoded = encoding::base64_decode(texts.front());
      const auto json =
          decoded ? nlohmann::json::parse(*decoded, nullptr, false) : nlohmann::json();
      if (json.is_object()) {
        IngestionFailure f;
        const std::string source_id = json.value("IngestionSourceId", "");
        {
          std::lock_guard lock(mutex_);
          if (auto it = sent_.find(source_id); it != sent_.end()) {
            f.batch_id = it->second;
          }
        }
        const std::string path = json.value("IngestionSourcePath", "");
        f.blob = path.substr(0, path.find('?'));
        f.database = json.value("Database", "");
        f.table = json.value("Table", "");
        f.error_code = json.value("ErrorCode", "");
        f.details = json.value("Details", "");
        f.permanent = json.value("FailureStatus", "Permanent") != "Transient";
        out.push_back(std::move(f));
      }
      HttpRequest del;
      del.method = "DELETE";
      del.url = queue.with("/messages/" + ids.front()) + (queue.sas.empty() ? "?" : "&") +
                "popreceipt=" + url_encode(receipts.front());
      del.headers = {{"x-ms-version", "2019-12-12"},
                     {"x-ms-date", rfc1123_date(clock_.system_now())}};
      (void)transport_.send(del); // if it stays, it comes back and is reported again: fine
    }
  }
  return out;
}

} // namespace hub2kusto::ingest
