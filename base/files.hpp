#pragma once
// Whole-file reads, as every reader of a config, a mapping, a secret or a /proc file wants
// them: the bytes as they are (no newline translation), or nothing when the file cannot be
// opened (errno says why). What to make of trailing line ends is the caller's business.
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

namespace hub2kusto {

inline std::optional<std::string> read_whole_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return std::move(text).str();
}

} // namespace hub2kusto
