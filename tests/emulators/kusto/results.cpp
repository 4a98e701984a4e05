#include "results.hpp"

#include <chrono>

#include "common/iso8601.hpp"

namespace hub2kusto::kusto_emulator {
std::string now_iso() {
  return format_iso8601_utc(std::chrono::system_clock::now());
}

namespace {

nlohmann::json columns_json(const ResultTable& t, bool v1) {
  nlohmann::json columns = nlohmann::json::array();
  for (const auto& [name, type] : t.columns) {
    nlohmann::json c;
    c["ColumnName"] = name;
    if (v1) {
      c["DataType"] = dotnet_type(type);
    }
    c["ColumnType"] = type;
    columns.push_back(std::move(c));
  }
  return columns;
}

// A frame with FrameType first and Rows last (the Python SDK's streaming parser relies on it):
// nlohmann's ordered_json keeps insertion order.
using Ordered = nlohmann::ordered_json;

} // namespace

std::string dotnet_type(const std::string& type) {
  if (type == "string")
    return "String";
  if (type == "long")
    return "Int64";
  if (type == "int")
    return "Int32";
  if (type == "real")
    return "Double";
  if (type == "bool")
    return "Boolean";
  if (type == "datetime")
    return "DateTime";
  if (type == "timespan")
    return "TimeSpan";
  if (type == "guid")
    return "Guid";
  if (type == "decimal")
    return "Decimal";
  return "Object"; // dynamic
}

std::string to_v1(const std::vector<ResultTable>& tables) {
  nlohmann::json out;
  out["Tables"] = nlohmann::json::array();
  for (const auto& t : tables) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& row : t.rows) {
      nlohmann::json r = row;
      for (std::size_t i = 0; i < t.columns.size() && i < r.size(); ++i) {
        if (t.columns[i].second == "dynamic" && !r[i].is_null()) {
          r[i] = r[i].dump(); // v1 carries dynamic values as JSON text
        }
      }
      rows.push_back(std::move(r));
    }
    out["Tables"].push_back(
        {{"TableName", t.name}, {"Columns", columns_json(t, true)}, {"Rows", std::move(rows)}});
  }
  return out.dump();
}

std::string to_v2(const std::vector<ResultTable>& tables, const std::string& client_request_id) {
  std::vector<Ordered> frames;
  frames.push_back(
      Ordered{{"FrameType", "DataSetHeader"}, {"IsProgressive", false}, {"Version", "v2.0"}});
  frames.push_back(Ordered{
      {"FrameType", "DataTable"},
      {"TableId", 0},
      {"TableKind", "QueryProperties"},
      {"TableName", "@ExtendedProperties"},
      {"Columns", Ordered::array({Ordered{{"ColumnName", "TableId"}, {"ColumnType", "int"}},
                                  Ordered{{"ColumnName", "Key"}, {"ColumnType", "string"}},
                                  Ordered{{"ColumnName", "Value"}, {"ColumnType", "dynamic"}}})},
      {"Rows", Ordered::array(
                   {Ordered::array({1, "Visualization", Ordered{{"Visualization", nullptr}}})})}});
  int id = 1;
  for (const auto& t : tables) {
    Ordered f;
    f["FrameType"] = "DataTable";
    f["TableId"] = id++;
    f["TableKind"] = "PrimaryResult";
    f["TableName"] = "PrimaryResult";
    f["Columns"] = Ordered::parse(columns_json(t, false).dump());
    f["Rows"] = Ordered::parse(nlohmann::json(t.rows).dump());
    frames.push_back(std::move(f));
  }
  const std::string payload = R"({"Count":1,"Text":"Query completed successfully"})";
  frames.push_back(Ordered{
      {"FrameType", "DataTable"},
      {"TableId", id},
      {"TableKind", "QueryCompletionInformation"},
      {"TableName", "QueryCompletionInformation"},
      {"Columns",
       Ordered::array({Ordered{{"ColumnName", "Timestamp"}, {"ColumnType", "datetime"}},
                       Ordered{{"ColumnName", "ClientRequestId"}, {"ColumnType", "string"}},
                       Ordered{{"ColumnName", "ActivityId"}, {"ColumnType", "guid"}},
                       Ordered{{"ColumnName", "SubActivityId"}, {"ColumnType", "guid"}},
                       Ordered{{"ColumnName", "ParentActivityId"}, {"ColumnType", "guid"}},
                       Ordered{{"ColumnName", "Level"}, {"ColumnType", "int"}},
                       Ordered{{"ColumnName", "LevelName"}, {"ColumnType", "string"}},
                       Ordered{{"ColumnName", "StatusCode"}, {"ColumnType", "int"}},
                       Ordered{{"ColumnName", "StatusCodeName"}, {"ColumnType", "string"}},
                       Ordered{{"ColumnName", "EventType"}, {"ColumnType", "int"}},
                       Ordered{{"ColumnName", "EventTypeName"}, {"ColumnType", "string"}},
                       Ordered{{"ColumnName", "Payload"}, {"ColumnType", "string"}}})},
      {"Rows", Ordered::array({Ordered::array(
                   {now_iso(), client_request_id, "00000000-0000-0000-0000-000000000000",
                    "00000000-0000-0000-0000-000000000000", "00000000-0000-0000-0000-000000000000",
                    4, "Info", 0, "S_OK (0)", 4, "QueryInfo", payload})})}});
  frames.push_back(
      Ordered{{"FrameType", "DataSetCompletion"}, {"HasErrors", false}, {"Cancelled", false}});
  std::string out;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    out += (i == 0 ? "[" : ",");
    out += frames[i].dump();
    out += "\r\n";
  }
  out += "]";
  return out;
}

std::string to_one_api(const ServiceError& e, const std::string& client_request_id,
                       const std::string& activity_id) {
  const char* generic = e.status >= 500   ? "An unexpected error occurred."
                        : e.status == 429 ? "The request was throttled."
                                          : "Request is invalid and cannot be executed.";
  nlohmann::json context = {{"timestamp", now_iso()},
                            {"serviceAlias", "KUSTO-EMULATOR"},
                            {"clientRequestId", client_request_id},
                            {"activityId", activity_id}};
  nlohmann::json error = {{"code", e.code},          {"message", generic},
                          {"@type", e.type},         {"@message", e.message},
                          {"@context", context},     {"@permanent", e.permanent},
                          {"@failureCode", e.status}};
  error["innererror"] = error;
  return nlohmann::json{{"error", error}}.dump();
}

} // namespace hub2kusto::kusto_emulator
