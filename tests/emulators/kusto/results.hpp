#pragma once
// What the emulator answers: result tables in the v1 and v2 shapes the SDKs parse, and errors
// in the "OneApi" shape (docs/protocols.md, "Errors", "Management commands and results").

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace hub2kusto::kusto_emulator {

// One result table. Column types are Kusto's names (string, long, int, real, bool, datetime,
// timespan, guid, dynamic, decimal); each row is a JSON array in column order, with dynamic
// values as JSON values and datetimes as ISO strings.
struct ResultTable {
  std::string name = "Table_0";
  std::vector<std::pair<std::string, std::string>> columns;
  std::vector<nlohmann::json> rows;
};

// An error as the service reports it: HTTP status, failure sub-code, .NET exception type,
// human text and whether retrying can help.
struct ServiceError {
  int status = 400;
  std::string code = "General_BadRequest";
  std::string type = "Kusto.Data.Exceptions.KustoBadRequestException";
  std::string message; // the detail, sent as @message
  bool permanent = true;
};

// {"Tables":[...]} with DataType and ColumnType per column; dynamic values JSON-encoded as
// strings, as v1 does. Mgmt commands answer exactly one table.
std::string to_v1(const std::vector<ResultTable>& tables);
// The v2 frames (DataSetHeader, QueryProperties, the primary results, QueryCompletionInformation,
// DataSetCompletion), one frame per line as the Go SDK's line reader needs.
std::string to_v2(const std::vector<ResultTable>& tables, const std::string& client_request_id);
// {"error":{code, message, @type, @message, @context, @permanent, innererror}}.
std::string to_one_api(const ServiceError& error, const std::string& client_request_id,
                       const std::string& activity_id);

// The current time as Kusto writes datetimes (2026-11-24T10:00:00.1234567Z).
std::string now_iso();

// The .NET type name of a Kusto type for v1's DataType (String, Int64, DateTime, ...).
std::string dotnet_type(const std::string& kusto_type);

} // namespace hub2kusto::kusto_emulator
