#include "mappings/delimited.hpp"

namespace hub2kusto::mappings {
namespace {

bool crlf_at(std::string_view body, std::size_t pos) {
  return body[pos] == '\r' && pos + 1 < body.size() && body[pos + 1] == '\n';
}

char unescape(char e) {
  switch (e) {
  case 't':
    return '\t';
  case 'n':
    return '\n';
  case 'r':
    return '\r';
  case '0':
    return '\0';
  default:
    return e;
  }
}

} // namespace

std::optional<Dialect> dialect_of(DataFormat format) {
  switch (format) {
  case DataFormat::csv:
    return Dialect{};
  case DataFormat::tsv:
    return Dialect{.delimiter = '\t'};
  case DataFormat::tsve:
    return Dialect{.delimiter = '\t', .escapes = true};
  case DataFormat::psv:
    return Dialect{.delimiter = '|'};
  case DataFormat::scsv:
    return Dialect{.delimiter = ';'};
  case DataFormat::sohsv:
    return Dialect{.delimiter = '\x01'};
  default:
    return std::nullopt;
  }
}

Result<std::size_t, SplitError> split_record(std::string_view body, std::size_t pos,
                                             const Dialect& dialect,
                                             std::vector<std::string_view>& fields,
                                             std::string& unescaped) {
  fields.clear();
  while (true) {
    if (!dialect.escapes && pos < body.size() && body[pos] == '"') {
      const std::size_t start = unescaped.size();
      std::size_t i = pos + 1;
      bool closed = false;
      while (i < body.size()) {
        if (body[i] == '"') {
          if (i + 1 < body.size() && body[i + 1] == '"') {
            unescaped += '"';
            i += 2;
            continue;
          }
          closed = true;
          ++i;
          break;
        }
        unescaped += body[i++];
      }
      if (!closed) {
        return failure(SplitError{pos, "has a quoted field that is never closed"});
      }
      fields.emplace_back(unescaped.data() + start, unescaped.size() - start);
      pos = i;
    } else {
      // Unquoted: a view into the body, unless an escape makes it a copy.
      const std::size_t start = pos;
      const std::size_t copy_start = unescaped.size();
      bool copied = false;
      while (pos < body.size() && body[pos] != dialect.delimiter && body[pos] != '\n' &&
             !crlf_at(body, pos)) {
        if (dialect.escapes && body[pos] == '\\' && pos + 1 < body.size()) {
          if (!copied) {
            unescaped.append(body.substr(start, pos - start));
            copied = true;
          }
          unescaped += unescape(body[pos + 1]);
          pos += 2;
          continue;
        }
        if (copied) {
          unescaped += body[pos];
        }
        ++pos;
      }
      if (copied) {
        fields.emplace_back(unescaped.data() + copy_start, unescaped.size() - copy_start);
      } else {
        std::size_t end = pos;
        if (end == body.size() && end > start && body[end - 1] == '\r') {
          --end; // a lone CR before the body's end belongs to the line end
        }
        fields.push_back(body.substr(start, end - start));
      }
    }
    if (pos < body.size() && body[pos] == dialect.delimiter) {
      ++pos;
      continue;
    }
    if (pos < body.size() && body[pos] == '\r') {
      ++pos;
    }
    if (pos < body.size() && body[pos] == '\n') {
      ++pos;
    } else if (pos < body.size()) {
      return failure(SplitError{pos, "has text after a closing quote"});
    }
    return pos;
  }
}

std::size_t skip_empty_lines(std::string_view body, std::size_t pos) {
  while (pos < body.size() && (body[pos] == '\n' || crlf_at(body, pos))) {
    pos += body[pos] == '\n' ? 1 : 2;
  }
  return pos;
}

} // namespace hub2kusto::mappings
