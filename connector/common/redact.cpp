#include "common/redact.hpp"

#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "common/secret.hpp"

namespace hub2kusto {
namespace {

// Matched case-insensitively, spaces inside the key ignored ("Application Key" ==
// "applicationkey"); `sig` only as a whole word so that "design=" is left alone.
constexpr std::array<std::string_view, 17> kSecretKeys = {"sharedaccesskey",
                                                          "sharedaccesssignature",
                                                          "accountkey",
                                                          "applicationkey",
                                                          "appkey",
                                                          "applicationtoken",
                                                          "apptoken",
                                                          "usertoken",
                                                          "usrtoken",
                                                          "password",
                                                          "pwd",
                                                          "sig",
                                                          "client_secret",
                                                          "client_assertion",
                                                          "access_token",
                                                          "refresh_token",
                                                          "applicationcertificateblob"};

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
bool is_word(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// If a secret key starts at text[pos] (at a word boundary), returns the index just past it,
// else 0. Spaces inside the key are skipped.
std::size_t match_key(std::string_view text, std::size_t pos, std::string_view key) {
  if (pos > 0 && is_word(text[pos - 1])) {
    return 0;
  }
  std::size_t i = pos;
  for (std::size_t k = 0; k < key.size(); ++k) {
    while (k > 0 && i < text.size() && text[i] == ' ') {
      ++i;
    }
    if (i >= text.size() || lower(text[i]) != key[k]) {
      return 0;
    }
    ++i;
  }
  if (i < text.size() && is_word(text[i])) {
    return 0;
  }
  return i;
}

// After a key: optional closing quote, spaces, '=' or ':', spaces, optional opening quote.
// Returns the index where the value starts and the quote that ends it (0 if none), or npos.
std::size_t match_separator(std::string_view text, std::size_t i, char& quote) {
  quote = 0;
  if (i < text.size() && (text[i] == '"' || text[i] == '\'')) {
    ++i;
  }
  while (i < text.size() && text[i] == ' ') {
    ++i;
  }
  if (i >= text.size() || (text[i] != '=' && text[i] != ':')) {
    return std::string_view::npos;
  }
  ++i;
  while (i < text.size() && text[i] == ' ') {
    ++i;
  }
  if (i < text.size() && (text[i] == '"' || text[i] == '\'')) {
    quote = text[i];
    ++i;
  }
  return i;
}

std::size_t value_end(std::string_view text, std::size_t i, char quote, bool whole_segment) {
  while (i < text.size()) {
    const char c = text[i];
    const bool end = quote != 0      ? c == quote
                     : whole_segment ? (c == ';' || c == '"' || c == '\n')
                                     : (c == ';' || c == '&' || c == '"' || c == '\'' || c == ',' ||
                                        c == '}' || c == ' ' || c == '\n' || c == '\t');
    if (end) {
      break;
    }
    ++i;
  }
  return i;
}

} // namespace

std::string redact_text(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    bool matched = false;
    for (const auto key : kSecretKeys) {
      const std::size_t after_key = match_key(text, i, key);
      if (after_key == 0) {
        continue;
      }
      char quote = 0;
      const std::size_t value_start = match_separator(text, after_key, quote);
      if (value_start == std::string_view::npos) {
        continue;
      }
      // A SharedAccessSignature value contains spaces ("SharedAccessSignature sr=..."): take
      // the whole segment up to ';'.
      const bool whole = key == "sharedaccesssignature";
      const std::size_t end = value_end(text, value_start, quote, whole);
      out.append(text.substr(i, value_start - i));
      if (end > value_start) {
        out.append(Secret::mask);
      }
      i = end;
      matched = true;
      break;
    }
    if (matched) {
      continue;
    }
    // Bearer tokens: "Bearer <token>".
    if (match_key(text, i, "bearer") != 0 && i + 7 <= text.size() && text[i + 6] == ' ') {
      std::size_t end = i + 7;
      while (end < text.size() && text[end] != ' ' && text[end] != '"' && text[end] != '\'' &&
             text[end] != ',' && text[end] != '\n') {
        ++end;
      }
      if (end > i + 7) {
        out.append(text.substr(i, 7));
        out.append(Secret::mask);
        i = end;
        continue;
      }
    }
    out += text[i++];
  }
  return out;
}

std::string redact_connection_string(std::string_view text) {
  return redact_text(text);
}

std::string printable(std::string_view text, std::size_t max) {
  std::string out;
  const std::size_t shown = std::min(text.size(), max);
  out.reserve(shown + 16);
  for (std::size_t i = 0; i < shown; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c < 0x20 || c >= 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > max) {
    out += fmt::format("... ({} bytes)", text.size());
  }
  return out;
}

} // namespace hub2kusto
