#include "commands.hpp"

#include <regex>

#include "shared/text.hpp"

namespace hub2kusto::kusto_emulator {
namespace {

constexpr auto kIcase = std::regex::icase | std::regex::ECMAScript;
// A bare or bracket-quoted entity name.
const std::string kName = R"((\[\s*'[^']+'\s*\]|\[\s*"[^"]+"\s*\]|\[[^\]']+\]|[A-Za-z_][\w.\-]*))";

std::string unquote_name(std::string name) {
  if (name.size() >= 2 && name.front() == '[' && name.back() == ']') {
    name = std::string(emulators::trim(std::string_view(name).substr(1, name.size() - 2)));
  }
  if (name.size() >= 2 && (name.front() == '\'' || name.front() == '"') &&
      name.back() == name.front()) {
    name = name.substr(1, name.size() - 2);
  }
  return name;
}

ServiceError
bad_request(const std::string& code, const std::string& message,
            const std::string& type = "Kusto.Data.Exceptions.KustoBadRequestException") {
  ServiceError e;
  e.code = code;
  e.type = type;
  e.message = message;
  return e;
}

ServiceError table_not_found(const std::string& db, const std::string& table) {
  return bad_request("BadRequest_TableNotExist",
                     "Table '" + table + "' was not found in database '" + db + "'.",
                     "Kusto.Data.Exceptions.TableNotFoundException");
}

// A string literal: '...' (\' and \\ escapes), "..." or ```...```; the whole of `text`.
std::optional<std::string> string_literal(std::string_view text) {
  text = emulators::trim(text);
  if (text.size() >= 6 && text.substr(0, 3) == "```" && text.substr(text.size() - 3) == "```") {
    return std::string(text.substr(3, text.size() - 6));
  }
  if (text.size() < 2 || (text.front() != '\'' && text.front() != '"') ||
      text.back() != text.front()) {
    return std::nullopt;
  }
  std::string out;
  for (std::size_t i = 1; i + 1 < text.size(); ++i) {
    if (text[i] == '\\' && i + 2 < text.size()) {
      ++i;
    }
    out += text[i];
  }
  return out;
}

std::string schema_text(const mappings::TableSchema& schema) {
  std::string out;
  for (const auto& c : schema.columns) {
    out += (out.empty() ? "" : ",") + c.name + ":" + std::string(mappings::to_string(c.type));
  }
  return out;
}

ResultTable table_schema_result(const Database& db, const Table& t) {
  nlohmann::json ordered = nlohmann::json::array();
  for (const auto& c : t.schema.columns) {
    ordered.push_back({{"Name", c.name},
                       {"Type", "System." + dotnet_type(std::string(mappings::to_string(c.type)))},
                       {"CslType", std::string(mappings::to_string(c.type))}});
  }
  const nlohmann::json schema = {{"Name", t.name}, {"OrderedColumns", ordered}};
  return {"Table_0",
          {{"TableName", "string"},
           {"Schema", "string"},
           {"DatabaseName", "string"},
           {"Folder", "string"},
           {"DocString", "string"}},
          {nlohmann::json::array({t.name, schema.dump(), db.name, t.folder, t.docstring})}};
}

ResultTable policy_result(const std::string& entity, const std::string& entity_type,
                          const std::optional<StreamingPolicy>& policy) {
  return {"Table_0",
          {{"PolicyName", "string"},
           {"EntityName", "string"},
           {"Policy", "string"},
           {"ChildEntities", "string"},
           {"EntityType", "string"}},
          {nlohmann::json::array({"StreamingIngestionPolicy", entity,
                                  policy ? nlohmann::json(policy->to_json()) : nlohmann::json(), "",
                                  entity_type})}};
}

ResultTable mappings_result(const Database& db, const Table& t,
                            std::optional<mappings::MappingKind> kind) {
  ResultTable r{"Table_0",
                {{"Name", "string"},
                 {"Kind", "string"},
                 {"Mapping", "string"},
                 {"LastUpdatedOn", "datetime"},
                 {"Database", "string"},
                 {"Table", "string"}},
                {}};
  for (const auto& m : t.mappings) {
    if (!kind || m.kind == *kind) {
      r.rows.push_back(
          nlohmann::json::array({m.name, m.kind == mappings::MappingKind::json ? "Json" : "Csv",
                                 m.text, nullptr, db.name, t.name}));
    }
  }
  return r;
}

std::optional<StreamingPolicy> parse_policy(const std::string& argument, bool merge,
                                            const std::optional<StreamingPolicy>& current,
                                            std::string& error) {
  const std::string arg = emulators::lower(argument);
  if (arg == "enable" || arg == "disable") {
    StreamingPolicy p = merge && current ? *current : StreamingPolicy{};
    p.enabled = arg == "enable";
    return p;
  }
  const auto literal = string_literal(argument);
  if (!literal) {
    error = "the policy must be enable, disable or a JSON string literal";
    return std::nullopt;
  }
  try {
    const auto j = nlohmann::json::parse(*literal);
    StreamingPolicy p = merge && current ? *current : StreamingPolicy{};
    if (j.contains("IsEnabled")) {
      p.enabled = j["IsEnabled"].get<bool>();
    }
    if (j.contains("HintAllocatedRate") && j["HintAllocatedRate"].is_number()) {
      p.hint_allocated_rate = j["HintAllocatedRate"].get<double>();
    }
    return p;
  } catch (const std::exception& e) {
    error = std::string("the policy is not valid JSON: ") + e.what();
    return std::nullopt;
  }
}

} // namespace

std::variant<ResultTable, ServiceError> run_command(Catalog& catalog, const std::string& db_name,
                                                    std::string_view command_text,
                                                    const DataManagementInfo& dm) {
  const std::string text(emulators::trim(command_text));
  std::smatch m;

  // Commands of the data management side and of the service as a whole: no database needed.
  if (std::regex_search(text, m,
                        std::regex(R"(^\.(get|show)\s+ingestion\s+resources\b)", kIcase))) {
    ResultTable r{"Table_0", {{"ResourceTypeName", "string"}, {"StorageRoot", "string"}}, {}};
    for (const auto& [type, root] : dm.resources) {
      r.rows.push_back(nlohmann::json::array({type, root}));
    }
    return r;
  }
  if (std::regex_search(text, m, std::regex(R"(^\.get\s+kusto\s+identity\s+token\b)", kIcase))) {
    return ResultTable{"Table_0",
                       {{"AuthorizationContext", "string"}},
                       {nlohmann::json::array({dm.identity_token})}};
  }
  if (std::regex_match(text, m, std::regex(R"(^\.show\s+version$)", kIcase))) {
    return ResultTable{"Table_0",
                       {{"BuildVersion", "string"},
                        {"BuildTime", "datetime"},
                        {"ServiceType", "string"},
                        {"ProductVersion", "string"}},
                       {nlohmann::json::array({"1.0.0.0", "2026-01-01T00:00:00.0000000Z", "Engine",
                                               "hub2kusto kusto-emulator"})}};
  }
  if (std::regex_match(text, m, std::regex(R"(^\.show\s+databases$)", kIcase))) {
    ResultTable r{"Table_0", {{"DatabaseName", "string"}, {"PersistentStorage", "string"}}, {}};
    for (const auto& [name, d] : catalog.databases) {
      r.rows.push_back(nlohmann::json::array({name, ""}));
    }
    return r;
  }
  if (std::regex_match(text, m, std::regex(R"(^\.show\s+ingestion\s+failures.*$)", kIcase))) {
    ResultTable r{"Table_0",
                  {{"OperationId", "string"},
                   {"Database", "string"},
                   {"Table", "string"},
                   {"FailedOn", "datetime"},
                   {"IngestionSourcePath", "string"},
                   {"Details", "string"},
                   {"FailureKind", "string"},
                   {"ErrorCode", "string"}},
                  {}};
    for (const auto& f : catalog.failures) {
      r.rows.push_back(nlohmann::json::array(
          {f.operation_id, f.database, f.table, f.failed_on, f.source, f.details,
           f.permanent ? "Permanent" : "Transient", f.error_code}));
    }
    return r;
  }

  // Database policy commands name their database.
  if (std::regex_match(text, m,
                       std::regex(R"(^\.(alter|alter-merge|delete|show)\s+database\s+)" + kName +
                                      R"(\s+policy\s+streamingingestion\s*(.*)$)",
                                  kIcase))) {
    Database* db = catalog.database(unquote_name(m[2]));
    if (db == nullptr) {
      return bad_request("BadRequest_DatabaseNotExist",
                         "Database '" + unquote_name(m[2]) + "' was not found.",
                         "Kusto.Data.Exceptions.DatabaseNotFoundException");
    }
    const std::string verb = emulators::lower(m[1].str());
    const std::string argument = m[3];
    if (verb == "alter" || verb == "alter-merge") {
      std::string error;
      auto p = parse_policy(argument, verb == "alter-merge", db->streaming, error);
      if (!p) {
        return bad_request("BadRequest_SyntaxError", error);
      }
      db->streaming = *p;
    } else if (verb == "delete") {
      db->streaming.reset();
    }
    return policy_result("[" + db->name + "]", "Database", db->streaming);
  }

  Database* db = catalog.database(db_name);
  if (db == nullptr) {
    return bad_request("BadRequest_DatabaseNotExist", "Database '" + db_name + "' was not found.",
                       "Kusto.Data.Exceptions.DatabaseNotFoundException");
  }

  if (std::regex_match(text, m, std::regex(R"(^\.show\s+tables(\s+details)?$)", kIcase))) {
    ResultTable r{"Table_0",
                  {{"TableName", "string"},
                   {"DatabaseName", "string"},
                   {"Folder", "string"},
                   {"DocString", "string"}},
                  {}};
    for (const auto& [name, t] : db->tables) {
      r.rows.push_back(nlohmann::json::array({name, db->name, t.folder, t.docstring}));
    }
    return r;
  }
  if (std::regex_match(text, m,
                       std::regex(R"(^\.(create|create-merge)\s+table\s+)" + kName +
                                      R"(\s*(\(.*\))\s*(with\s*\((.*)\))?$)",
                                  kIcase))) {
    const std::string verb = emulators::lower(m[1].str());
    const std::string name = unquote_name(m[2]);
    auto schema = mappings::parse_schema(m[3].str());
    if (!schema) {
      return bad_request("BadRequest_SyntaxError",
                         "Syntax error: the column list of table '" + name +
                             "' is not valid: " + schema.error().message,
                         "Kusto.Data.Exceptions.SyntaxException");
    }
    Table* existing = db->table(name);
    if (existing == nullptr) {
      Table t;
      t.name = name;
      t.schema = std::move(schema.value());
      const std::string with = m[5];
      std::smatch w;
      if (std::regex_search(with, w, std::regex(R"(folder\s*=\s*['"]([^'"]*)['"])", kIcase))) {
        t.folder = w[1];
      }
      if (std::regex_search(with, w, std::regex(R"(docstring\s*=\s*['"]([^'"]*)['"])", kIcase))) {
        t.docstring = w[1];
      }
      existing = &db->tables.emplace(name, std::move(t)).first->second;
    } else if (verb == "create-merge") { // add the columns the table lacks
      for (const auto& c : schema->columns) {
        if (existing->schema.index_of(c.name) < 0) {
          existing->schema.columns.push_back(c);
          for (auto& row : existing->rows) {
            row.push_back(nullptr);
          }
        }
      }
    }
    return table_schema_result(*db, *existing);
  }
  if (std::regex_match(
          text, m, std::regex(R"(^\.drop\s+table\s+)" + kName + R"((\s+ifexists)?$)", kIcase))) {
    const std::string name = unquote_name(m[1]);
    if (db->tables.erase(name) == 0 && !m[2].matched) {
      return table_not_found(db->name, name);
    }
    ResultTable r{"Table_0", {{"TableName", "string"}, {"DatabaseName", "string"}}, {}};
    for (const auto& [n, t] : db->tables) {
      r.rows.push_back(nlohmann::json::array({n, db->name}));
    }
    return r;
  }

  // Everything below names an existing table.
  if (!std::regex_search(text, m, std::regex(R"(^\.[\w-]+\s+table\s+)" + kName, kIcase))) {
    return bad_request("BadRequest_SyntaxError",
                       "Syntax error: the emulator does not know the command '" +
                           text.substr(0, 80) + "'",
                       "Kusto.Data.Exceptions.SyntaxException");
  }
  const std::string table_name = unquote_name(m[1]);
  Table* table = db->table(table_name);
  if (table == nullptr) {
    return table_not_found(db->name, table_name);
  }
  const std::string entity = "[" + db->name + "].[" + table->name + "]";

  if (std::regex_match(text, m, std::regex(R"(^\.show\s+table\s+\S+\s+cslschema$)", kIcase))) {
    return ResultTable{"Table_0",
                       {{"TableName", "string"},
                        {"Schema", "string"},
                        {"DatabaseName", "string"},
                        {"Folder", "string"},
                        {"DocString", "string"}},
                       {nlohmann::json::array({table->name, schema_text(table->schema), db->name,
                                               table->folder, table->docstring})}};
  }
  if (std::regex_match(text, m,
                       std::regex(R"(^\.show\s+table\s+\S+\s+schema\s+as\s+json$)", kIcase))) {
    return table_schema_result(*db, *table);
  }
  if (std::regex_match(
          text, m,
          std::regex(
              R"(^\.(create|create-or-alter)\s+table\s+\S+\s+ingestion\s+(json|csv)\s+mapping\s+('[^']+'|"[^"]+")\s+([\s\S]+)$)",
              kIcase))) {
    const std::string verb = emulators::lower(m[1].str());
    const auto kind = emulators::iequals(m[2].str(), "json") ? mappings::MappingKind::json
                                                             : mappings::MappingKind::csv;
    const std::string name = unquote_name(m[3]);
    const auto literal = string_literal(m[4].str());
    if (!literal) {
      return bad_request("BadRequest_SyntaxError",
                         "Syntax error: the mapping must be a string literal",
                         "Kusto.Data.Exceptions.SyntaxException");
    }
    auto parsed = mappings::parse_mapping(*literal, kind);
    if (!parsed) {
      return bad_request("BadRequest_InvalidMapping",
                         "Mapping '" + name + "' is not valid: " + parsed.error().message,
                         "Kusto.Data.Exceptions.MappingNotValidException");
    }
    for (const auto& c : parsed->columns) {
      if (table->schema.index_of(c.column) < 0) {
        return bad_request("BadRequest_InvalidMapping",
                           "Mapping '" + name + "' names column '" + c.column + "', which table '" +
                               table->name + "' does not have",
                           "Kusto.Data.Exceptions.MappingNotValidException");
      }
    }
    auto it =
        std::find_if(table->mappings.begin(), table->mappings.end(),
                     [&](const StoredMapping& s) { return s.name == name && s.kind == kind; });
    if (it != table->mappings.end()) {
      if (verb == "create") {
        return bad_request("BadRequest_DuplicateMapping",
                           "Mapping '" + name + "' already exists on table '" + table->name + "'",
                           "Kusto.Data.Exceptions.DuplicateMappingException");
      }
      it->text = *literal;
    } else {
      table->mappings.push_back({name, kind, *literal});
    }
    return mappings_result(*db, *table, kind);
  }
  if (std::regex_match(
          text, m,
          std::regex(
              R"(^\.show\s+table\s+\S+\s+ingestion\s+(?:(json|csv)\s+)?mappings?(?:\s+('[^']+'|"[^"]+"))?$)",
              kIcase))) {
    std::optional<mappings::MappingKind> kind;
    if (m[1].matched) {
      kind = emulators::iequals(m[1].str(), "json") ? mappings::MappingKind::json
                                                    : mappings::MappingKind::csv;
    }
    ResultTable r = mappings_result(*db, *table, kind);
    if (m[2].matched) {
      const std::string wanted = unquote_name(m[2]);
      std::erase_if(r.rows, [&](const nlohmann::json& row) { return row[0] != wanted; });
    }
    return r;
  }
  if (std::regex_match(
          text, m,
          std::regex(
              R"(^\.drop\s+table\s+\S+\s+ingestion\s+(json|csv)\s+mapping\s+('[^']+'|"[^"]+")$)",
              kIcase))) {
    const auto kind = emulators::iequals(m[1].str(), "json") ? mappings::MappingKind::json
                                                             : mappings::MappingKind::csv;
    const std::string name = unquote_name(m[2]);
    std::erase_if(table->mappings,
                  [&](const StoredMapping& s) { return s.name == name && s.kind == kind; });
    return mappings_result(*db, *table, kind);
  }
  if (std::regex_match(
          text, m,
          std::regex(
              R"(^\.(alter|alter-merge|delete|show)\s+table\s+\S+\s+policy\s+streamingingestion\s*(.*)$)",
              kIcase))) {
    const std::string verb = emulators::lower(m[1].str());
    if (verb == "alter" || verb == "alter-merge") {
      std::string error;
      auto p = parse_policy(m[2], verb == "alter-merge", table->streaming, error);
      if (!p) {
        return bad_request("BadRequest_SyntaxError", error);
      }
      table->streaming = *p;
    } else if (verb == "delete") {
      table->streaming.reset();
    }
    return policy_result(entity, "Table", table->streaming);
  }
  return bad_request("BadRequest_SyntaxError",
                     "Syntax error: the emulator does not know the command '" + text.substr(0, 80) +
                         "'",
                     "Kusto.Data.Exceptions.SyntaxException");
}

} // namespace hub2kusto::kusto_emulator
