#include "azure/table_client.hpp"

#include <fmt/format.h>

#include "common/encoding.hpp"

namespace hub2kusto::azure {
namespace {

// A key inside `(PartitionKey='...',RowKey='...')`: quotes doubled, then percent-encoded.
std::string key_literal(std::string_view key) {
  std::string quoted;
  for (const char c : key) {
    quoted += c == '\'' ? std::string("''") : std::string(1, c);
  }
  return encoding::uri_component_encode_strict(quoted);
}

} // namespace

TableClient::TableClient(StorageUrl table, HttpTransport& transport, const Clock& clock,
                         std::chrono::milliseconds timeout)
    : table_(std::move(table)), transport_(transport), clock_(clock), timeout_(timeout) {}

Headers TableClient::headers() const {
  return {{"Accept", "application/json;odata=nometadata"},
          {"x-ms-version", std::string(kTableVersion)},
          {"DataServiceVersion", "3.0;NetFx"},
          {"MaxDataServiceVersion", "3.0;NetFx"},
          {"x-ms-date", rfc1123_date(clock_.system_now())}};
}

std::string TableClient::failed(const HttpResponse& response) const {
  return response.status == 0
             ? fmt::format("the table {} did not answer: {}", table_.base, response.transport_error)
             : fmt::format("the table {} answered {}", table_.base, service_error(response));
}

Result<std::monostate> TableClient::insert(const nlohmann::json& entity) {
  HttpRequest post;
  post.method = "POST";
  post.timeout = timeout_;
  post.url = table_.with("");
  post.body = entity.dump();
  post.headers = headers();
  post.headers.emplace_back("Content-Type", "application/json");
  post.headers.emplace_back("Prefer", "return-no-content");
  const HttpResponse response = transport_.send(post);
  if (response.status == 201 || response.status == 204) {
    return std::monostate{};
  }
  return failure(failed(response));
}

Result<std::vector<nlohmann::json>> TableClient::query(std::string_view filter, int top) {
  HttpRequest get;
  get.timeout = timeout_;
  get.url = table_.base + "()?" + (table_.sas.empty() ? "" : table_.sas.reveal() + "&") +
            fmt::format("$top={}&$filter={}", top, encoding::uri_component_encode_strict(filter));
  get.headers = headers();
  const HttpResponse listed = transport_.send(get);
  if (listed.status != 200) {
    return failure(failed(listed));
  }
  auto json = nlohmann::json::parse(listed.body, nullptr, false);
  if (!json.is_object() || !json.contains("value") || !json["value"].is_array()) {
    return failure(
        fmt::format("the table {} answered something that is not a list of entities", table_.base));
  }
  std::vector<nlohmann::json> entities;
  for (auto& e : json["value"]) {
    if (e.is_object()) {
      entities.push_back(std::move(e));
    }
  }
  return entities;
}

Result<std::monostate> TableClient::remove(std::string_view partition_key,
                                           std::string_view row_key) {
  HttpRequest del;
  del.method = "DELETE";
  del.timeout = timeout_;
  del.url =
      fmt::format("{}(PartitionKey='{}',RowKey='{}'){}", table_.base, key_literal(partition_key),
                  key_literal(row_key), table_.sas.empty() ? "" : "?" + table_.sas.reveal());
  del.headers = headers();
  del.headers.emplace_back("If-Match", "*");
  const HttpResponse response = transport_.send(del);
  if (response.status == 204 || response.status == 404) {
    return std::monostate{};
  }
  return failure(failed(response));
}

} // namespace hub2kusto::azure
