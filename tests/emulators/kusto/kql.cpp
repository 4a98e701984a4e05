#include "kql.hpp"

#include "shared/text.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace hub2kusto::kusto_emulator {
namespace {

ServiceError syntax_error(const std::string& message) {
  ServiceError e;
  e.code = "BadRequest_SyntaxError";
  e.type = "Kusto.Data.Exceptions.SyntaxException";
  e.message = "Syntax error: " + message;
  return e;
}

ServiceError semantic_error(const std::string& message) {
  ServiceError e;
  e.code = "General_BadRequest";
  e.type = "Kusto.Data.Exceptions.SemanticException";
  e.message = "Semantic error: " + message;
  return e;
}

// A tiny tokenizer: identifiers (with ['bracketed names']), numbers, quoted strings and
// punctuation.
struct Lexer {
  std::string_view text;
  std::size_t pos = 0;

  void skip_space() {
    while (pos < text.size() && emulators::is_space(text[pos])) {
      ++pos;
    }
  }
  bool done() {
    skip_space();
    return pos >= text.size();
  }
  bool accept(std::string_view token) {
    skip_space();
    if (text.substr(pos, token.size()) == token) {
      const bool word = std::isalpha(static_cast<unsigned char>(token.back())) != 0;
      const std::size_t after = pos + token.size();
      if (word && after < text.size() &&
          (std::isalnum(static_cast<unsigned char>(text[after])) || text[after] == '_')) {
        return false;
      }
      pos = after;
      return true;
    }
    return false;
  }
  bool peek(std::string_view token) {
    const std::size_t saved = pos;
    const bool found = accept(token);
    pos = saved;
    return found;
  }
  std::optional<std::string> identifier() {
    skip_space();
    if (text.substr(pos, 2) == "['" || text.substr(pos, 2) == "[\"") {
      const char quote = text[pos + 1];
      const std::size_t end = text.find(std::string{quote, ']'}, pos + 2);
      if (end == std::string_view::npos) {
        return std::nullopt;
      }
      std::string name(text.substr(pos + 2, end - pos - 2));
      pos = end + 2;
      return name;
    }
    const std::size_t start = pos;
    while (pos < text.size() && (std::isalnum(static_cast<unsigned char>(text[pos])) ||
                                 text[pos] == '_' || text[pos] == '-' || text[pos] == '.')) {
      ++pos;
    }
    if (pos == start) {
      return std::nullopt;
    }
    return std::string(text.substr(start, pos - start));
  }
  std::optional<nlohmann::json> literal() {
    skip_space();
    if (pos < text.size() && (text[pos] == '\'' || text[pos] == '"')) {
      const char quote = text[pos];
      std::string value;
      ++pos;
      while (pos < text.size() && text[pos] != quote) {
        if (text[pos] == '\\' && pos + 1 < text.size()) {
          ++pos;
        }
        value += text[pos++];
      }
      if (pos >= text.size()) {
        return std::nullopt;
      }
      ++pos;
      return nlohmann::json(value);
    }
    if (accept("true")) {
      return nlohmann::json(true);
    }
    if (accept("false")) {
      return nlohmann::json(false);
    }
    const std::size_t start = pos;
    while (pos < text.size() &&
           (std::isdigit(static_cast<unsigned char>(text[pos])) || text[pos] == '-' ||
            text[pos] == '.' || text[pos] == 'e' || text[pos] == 'E' || text[pos] == '+')) {
      ++pos;
    }
    if (pos == start) {
      return std::nullopt;
    }
    try {
      return nlohmann::json::parse(text.substr(start, pos - start));
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
};

// -1, 0, 1; numbers numerically, everything else by its JSON text (ISO datetimes sort right).
int compare(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.is_null() || b.is_null()) {
    return a.is_null() == b.is_null() ? 0 : (a.is_null() ? -1 : 1);
  }
  if (a.is_number() && b.is_number()) {
    const double x = a.get<double>();
    const double y = b.get<double>();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.is_boolean() && b.is_boolean()) {
    return a.get<bool>() == b.get<bool>() ? 0 : (a.get<bool>() ? 1 : -1);
  }
  const std::string x = a.is_string() ? a.get<std::string>() : a.dump();
  const std::string y = b.is_string() ? b.get<std::string>() : b.dump();
  return x.compare(y) < 0 ? -1 : (x == y ? 0 : 1);
}

// Values that compare() finds equal get the same key, so summarize groups in one pass. (Within
// a typed column; across types compare() also equates a number with the string of its JSON.)
std::string group_key(const nlohmann::json& v) {
  if (v.is_null()) {
    return std::string(1, '\0');
  }
  if (v.is_number()) {
    double d = v.get<double>();
    d = d == 0 ? 0.0 : d; // -0 == 0
    std::string key(1 + sizeof d, 'n');
    std::memcpy(key.data() + 1, &d, sizeof d);
    return key;
  }
  if (v.is_boolean()) {
    return v.get<bool>() ? "b1" : "b0";
  }
  return "s" + (v.is_string() ? v.get<std::string>() : v.dump());
}

} // namespace

std::variant<ResultTable, ServiceError> run_query(const Database& db, std::string_view text) {
  Lexer lex{text};
  const auto name = lex.identifier();
  if (!name) {
    return syntax_error("expected a table name at the start of the query");
  }
  const auto it = db.tables.find(*name);
  if (it == db.tables.end()) {
    return semantic_error("'" + *name + "' could not be resolved to a table in database '" +
                          db.name + "'");
  }
  const Table& table = it->second;
  ResultTable result;
  result.name = "PrimaryResult";
  for (const auto& c : table.schema.columns) {
    result.columns.emplace_back(c.name, std::string(mappings::to_string(c.type)));
  }
  // Operators read the stored rows until one has to produce rows of its own, so that `T | count`
  // or a selective `where` does not copy the table first (the emulator's lock is held here).
  const std::vector<nlohmann::json>* rows = nullptr; // the table's, parsed when first needed
  std::vector<nlohmann::json> owned;
  auto column_index = [&](const std::string& column) -> int {
    for (std::size_t i = 0; i < result.columns.size(); ++i) {
      if (result.columns[i].first == column) {
        return static_cast<int>(i);
      }
    }
    return -1;
  };
  while (!lex.done()) {
    if (!lex.accept("|")) {
      return syntax_error("expected '|' at position " + std::to_string(lex.pos));
    }
    if (rows == nullptr && !lex.peek("count")) {
      rows = &table.all_rows(); // every operator but count reads the rows themselves
    }
    if (lex.accept("count")) {
      const auto n = static_cast<std::int64_t>(rows != nullptr ? rows->size() : table.row_count());
      result.columns = {{"Count", "long"}};
      owned = {nlohmann::json::array({n})};
      rows = &owned;
    } else if (lex.accept("take") || lex.accept("limit")) {
      const auto n = lex.literal();
      if (!n || !n->is_number_integer() || n->get<std::int64_t>() < 0) {
        return syntax_error("take needs a whole number");
      }
      const std::size_t kept = std::min<std::size_t>(rows->size(), n->get<std::size_t>());
      if (rows == &owned) {
        owned.resize(kept);
      } else {
        owned.assign(rows->begin(), rows->begin() + static_cast<std::ptrdiff_t>(kept));
        rows = &owned;
      }
    } else if (lex.accept("where")) {
      const auto column = lex.identifier();
      const int index = column ? column_index(*column) : -1;
      if (index < 0) {
        return semantic_error("where: unknown column '" + column.value_or("") + "'");
      }
      std::string op;
      for (const char* candidate : {"==", "!=", "=~", ">=", "<=", ">", "<"}) {
        if (lex.accept(candidate)) {
          op = candidate;
          break;
        }
      }
      const auto value = lex.literal();
      if (op.empty() || !value) {
        return syntax_error("where needs: column (==|!=|=~|>|<|>=|<=) literal");
      }
      std::vector<nlohmann::json> kept;
      for (const auto& row : *rows) {
        const nlohmann::json& cell = row[static_cast<std::size_t>(index)];
        const int c = compare(cell, *value);
        // Any comparison with null is false, as in Kusto.
        const bool match =
            !cell.is_null() &&
            (op == "=="   ? c == 0
             : op == "!=" ? c != 0
             : op == "=~" ? (cell.is_string() && value->is_string() &&
                             emulators::iequals(cell.get<std::string>(), value->get<std::string>()))
             : op == ">"  ? c > 0
             : op == "<"  ? c < 0
             : op == ">=" ? c >= 0
                          : c <= 0);
        if (match) {
          kept.push_back(row);
        }
      }
      owned = std::move(kept);
      rows = &owned;
    } else if (lex.accept("summarize")) {
      if (!lex.accept("count") || !lex.accept("(") || !lex.accept(")") || !lex.accept("by")) {
        return syntax_error("only 'summarize count() by Column' is supported");
      }
      const auto column = lex.identifier();
      const int index = column ? column_index(*column) : -1;
      if (index < 0) {
        return semantic_error("summarize: unknown column '" + column.value_or("") + "'");
      }
      std::vector<std::pair<nlohmann::json, std::int64_t>> groups; // first-seen order
      std::unordered_map<std::string, std::size_t> group_of;       // by group_key
      for (const auto& row : *rows) {
        const auto& key = row[static_cast<std::size_t>(index)];
        const auto [g, fresh] = group_of.try_emplace(group_key(key), groups.size());
        if (fresh) {
          groups.emplace_back(key, 1);
        } else {
          ++groups[g->second].second;
        }
      }
      result.columns = {result.columns[static_cast<std::size_t>(index)], {"count_", "long"}};
      std::vector<nlohmann::json> summary;
      for (auto& [key, n] : groups) {
        summary.push_back(nlohmann::json::array({key, n}));
      }
      owned = std::move(summary);
      rows = &owned;
    } else if (lex.accept("order") || lex.accept("sort")) {
      if (!lex.accept("by")) {
        return syntax_error("expected 'by' after order");
      }
      const auto column = lex.identifier();
      const int index = column ? column_index(*column) : -1;
      if (index < 0) {
        return semantic_error("order by: unknown column '" + column.value_or("") + "'");
      }
      const bool ascending = lex.accept("asc");
      if (!ascending) {
        (void)lex.accept("desc");
      }
      if (rows != &owned) {
        owned = *rows;
        rows = &owned;
      }
      std::stable_sort(
          owned.begin(), owned.end(), [&](const nlohmann::json& a, const nlohmann::json& b) {
            const int c =
                compare(a[static_cast<std::size_t>(index)], b[static_cast<std::size_t>(index)]);
            return ascending ? c < 0 : c > 0;
          });
    } else {
      return syntax_error("unsupported operator at position " + std::to_string(lex.pos) +
                          " (the emulator knows count, take, limit, where, summarize count() "
                          "by, order by, sort by)");
    }
  }
  if (rows == nullptr) {
    rows = &table.all_rows();
  }
  result.rows = rows == &owned ? std::move(owned) : *rows;
  return result;
}

} // namespace hub2kusto::kusto_emulator
