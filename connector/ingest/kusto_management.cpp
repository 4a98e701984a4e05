#include "ingest/kusto_management.hpp"

#include <fmt/format.h>

#include "common/random.hpp"
#include "ingest/streaming_ingestor.hpp"

namespace hub2kusto::ingest {

std::optional<std::size_t> ResultTable::column(std::string_view name) const {
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (columns[i] == name) {
      return i;
    }
  }
  return std::nullopt;
}

std::string ResultTable::text(std::size_t row, std::string_view name) const {
  const auto c = column(name);
  if (!c || row >= rows.size() || !rows[row].is_array() || *c >= rows[row].size()) {
    return {};
  }
  const auto& v = rows[row][*c];
  if (v.is_null()) {
    return {};
  }
  return v.is_string() ? v.get<std::string>() : v.dump();
}

std::optional<ResultTable> first_table(std::string_view body) {
  const auto json = nlohmann::json::parse(body, nullptr, false);
  if (json.is_discarded() || !json.is_object() || !json.contains("Tables") ||
      !json["Tables"].is_array() || json["Tables"].empty() || !json["Tables"][0].is_object()) {
    return std::nullopt;
  }
  const auto& t = json["Tables"][0];
  ResultTable r;
  if (const auto it = t.find("Columns"); it != t.end() && it->is_array()) {
    for (const auto& c : *it) {
      r.columns.push_back(c.is_object() ? c.value("ColumnName", std::string()) : std::string());
    }
  }
  if (const auto it = t.find("Rows"); it != t.end() && it->is_array()) {
    r.rows.assign(it->begin(), it->end());
  }
  return r;
}

Result<std::string, CommandError> KustoManagement::execute(const std::string& database,
                                                           const std::string& csl,
                                                           std::chrono::milliseconds timeout) {
  const auto token = tokens_.token();
  if (!token) {
    return failure(CommandError{0, {}, token.error().message});
  }
  azure::HttpRequest r;
  r.method = "POST";
  r.timeout = timeout;
  r.url = url_ + "/v1/rest/mgmt";
  r.body = nlohmann::json{{"db", database}, {"csl", csl}}.dump();
  r.headers = {{"Content-Type", "application/json; charset=utf-8"}, {"Accept", "application/json"}};
  if (!token->empty()) {
    r.headers.emplace_back("Authorization", "Bearer " + token->reveal());
  }
  add_client_headers(r.headers, "KHC.execute;" + make_uuid(), app_name_, app_version_);
  azure::HttpResponse response = transport_.send(r);
  if (response.status == 200) {
    return std::move(response.body);
  }
  if (response.status == 401) {
    tokens_.invalidate();
  }
  const auto error = parse_one_api_error(response.body);
  return failure(CommandError{response.status, error ? error->code : std::string(),
                              classify_streaming_response(response).reason +
                                  explain_refusal(tokens_, response.status)});
}

Result<ResultTable, CommandError> KustoManagement::table(const std::string& database,
                                                         const std::string& csl,
                                                         std::chrono::milliseconds timeout) {
  auto body = execute(database, csl, timeout);
  if (!body) {
    return failure(std::move(body).error());
  }
  auto table = first_table(*body);
  if (!table) {
    return failure(
        CommandError{200, {}, fmt::format("the answer to '{}' is not a result table", csl)});
  }
  return std::move(*table);
}

} // namespace hub2kusto::ingest
