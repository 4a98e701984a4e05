#include "common/key_value_list.hpp"

#include <cctype>

#include <fmt/format.h>

namespace hub2kusto {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && is_space(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

} // namespace

std::string normalize_keyword(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  for (const char c : key) {
    if (!is_space(c)) {
      out += ascii_lower(c);
    }
  }
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) {
      return false;
    }
  }
  return true;
}

Result<std::vector<KeyValue>> parse_key_value_list(std::string_view text, KeyValueSyntax syntax) {
  std::vector<KeyValue> pairs;
  std::size_t pos = 0;
  std::size_t segment = 0;
  while (pos <= text.size()) {
    ++segment;
    // Key: up to '=' or ';'.
    std::size_t key_end = pos;
    while (key_end < text.size() && text[key_end] != '=' && text[key_end] != ';') {
      ++key_end;
    }
    const std::string_view key = trim(text.substr(pos, key_end - pos));
    if (key_end >= text.size() || text[key_end] == ';') {
      // A segment without '='.
      if (!key.empty()) {
        if (syntax == KeyValueSyntax::kusto && pairs.empty() && segment == 1) {
          pairs.push_back({"Data Source", std::string(key)});
        } else {
          return failure(fmt::format("segment {} has no '=' (expected Key=Value pairs "
                                     "separated by ';')",
                                     segment));
        }
      }
      pos = key_end + 1;
      continue;
    }
    if (key.empty()) {
      return failure(fmt::format("segment {} has a value but no key", segment));
    }
    // Value: after the first '='.
    std::size_t value_start = key_end + 1;
    while (value_start < text.size() && is_space(text[value_start])) {
      ++value_start;
    }
    std::string value;
    std::size_t next = value_start;
    if (syntax == KeyValueSyntax::kusto && value_start < text.size() &&
        (text[value_start] == '"' || text[value_start] == '\'')) {
      const char quote = text[value_start];
      std::size_t i = value_start + 1;
      bool closed = false;
      while (i < text.size()) {
        if (text[i] == quote) {
          if (i + 1 < text.size() && text[i + 1] == quote) {
            value += quote;
            i += 2;
            continue;
          }
          closed = true;
          ++i;
          break;
        }
        value += text[i++];
      }
      if (!closed) {
        return failure(
            fmt::format("the value of '{}' opens a quote ({}) that is never closed", key, quote));
      }
      while (i < text.size() && is_space(text[i])) {
        ++i;
      }
      if (i < text.size() && text[i] != ';') {
        return failure(
            fmt::format("the quoted value of '{}' is followed by text before the next ';'", key));
      }
      next = i;
    } else {
      while (next < text.size() && text[next] != ';') {
        ++next;
      }
      value = std::string(trim(text.substr(value_start, next - value_start)));
    }
    pairs.push_back({std::string(key), std::move(value)});
    pos = next + 1;
  }
  return pairs;
}

std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

} // namespace hub2kusto
