#include "common/key_value_list.hpp"

#include <fmt/format.h>

#include "base/text.hpp"

namespace hub2kusto {

std::string normalize_keyword(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  for (const char c : key) {
    if (!text::is_space(c)) {
      out += text::lower(c);
    }
  }
  return out;
}

Result<std::vector<KeyValue>> parse_key_value_list(std::string_view list, KeyValueSyntax syntax) {
  std::vector<KeyValue> pairs;
  std::size_t pos = 0;
  std::size_t segment = 0;
  while (pos <= list.size()) {
    ++segment;
    // Key: up to '=' or ';'.
    std::size_t key_end = pos;
    while (key_end < list.size() && list[key_end] != '=' && list[key_end] != ';') {
      ++key_end;
    }
    const std::string_view key = text::trim(list.substr(pos, key_end - pos));
    if (key_end >= list.size() || list[key_end] == ';') {
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
    while (value_start < list.size() && text::is_space(list[value_start])) {
      ++value_start;
    }
    std::string value;
    std::size_t next = value_start;
    if (syntax == KeyValueSyntax::kusto && value_start < list.size() &&
        (list[value_start] == '"' || list[value_start] == '\'')) {
      const char quote = list[value_start];
      std::size_t i = value_start + 1;
      bool closed = false;
      while (i < list.size()) {
        if (list[i] == quote) {
          if (i + 1 < list.size() && list[i + 1] == quote) {
            value += quote;
            i += 2;
            continue;
          }
          closed = true;
          ++i;
          break;
        }
        value += list[i++];
      }
      if (!closed) {
        return failure(
            fmt::format("the value of '{}' opens a quote ({}) that is never closed", key, quote));
      }
      while (i < list.size() && text::is_space(list[i])) {
        ++i;
      }
      if (i < list.size() && list[i] != ';') {
        return failure(
            fmt::format("the quoted value of '{}' is followed by list before the next ';'", key));
      }
      next = i;
    } else {
      while (next < list.size() && list[next] != ';') {
        ++next;
      }
      value = std::string(text::trim(list.substr(value_start, next - value_start)));
    }
    pairs.push_back({std::string(key), std::move(value)});
    pos = next + 1;
  }
  return pairs;
}

} // namespace hub2kusto
