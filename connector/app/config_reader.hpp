#pragma once
// Reads settings from three places and keeps every problem instead of stopping at the first:
//   1. the JSON config file (comments allowed),
//   2. environment variables named after the setting's path:
//        connections[0].source.consumer_group -> HUB2KUSTO_CONNECTIONS_0_SOURCE_CONSUMER_GROUP
//      (an environment variable wins over the file),
//   3. for secrets only, files: `<key>_file` in JSON or `<NAME>_FILE` in the environment name a
//      file whose content is the value (mounted Kubernetes secrets; one trailing newline is
//      dropped).
// A Section is one JSON object at a path. Reading a key marks it known; finish() reports the
// JSON keys nobody read, and ConfigReader::finish() the HUB2KUSTO_* variables nobody read, so a
// typo is an error instead of a setting that silently does nothing.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace hub2kusto::app {

struct ConfigProblem {
  std::string setting; // the path, or the environment variable when that is the culprit
  std::string message;
  friend bool operator==(const ConfigProblem&, const ConfigProblem&) = default;
};

// For test failure messages.
inline void PrintTo(const ConfigProblem& p, std::ostream* os) {
  *os << '{' << p.setting << ": " << p.message << '}';
}

enum class Sensitivity { plain, secret };

class ConfigReader {
public:
  static constexpr std::string_view kEnvPrefix = "HUB2KUSTO";

  // `environment` holds the HUB2KUSTO_* variables (others are ignored).
  ConfigReader(const nlohmann::json& root, std::map<std::string, std::string> environment);

  void problem(std::string setting, std::string message);
  const std::vector<ConfigProblem>& problems() const { return problems_; }
  // Reports the HUB2KUSTO_* variables that no setting read.
  void finish();
  // Where the secret values came from (environment variable names and file paths), for
  // `check-config`.
  const std::vector<std::string>& secret_origins() const { return secret_origins_; }

private:
  friend class Section;
  const nlohmann::json& root_;
  std::map<std::string, std::string> env_;
  std::set<std::string> consumed_;  // variables that were set and read
  std::set<std::string> looked_up_; // every variable name a setting answers to
  std::vector<ConfigProblem> problems_;
  std::vector<std::string> secret_origins_;
};

class Section {
public:
  // The root section.
  explicit Section(ConfigReader& reader);

  const std::string& path() const { return path_; }
  std::string path_of(std::string_view key) const;

  std::optional<std::string> string(std::string_view key,
                                    Sensitivity sensitivity = Sensitivity::plain);
  std::optional<std::int64_t> integer(std::string_view key, std::int64_t min, std::int64_t max);
  std::optional<bool> boolean(std::string_view key);
  // "500ms", "5s", "15m", "1h".
  std::optional<std::chrono::milliseconds> duration(std::string_view key);
  // An integer number of bytes, or "512KiB", "4MiB", "1GiB", "4MB".
  std::optional<std::uint64_t> byte_size(std::string_view key);
  // The same, from `min` to `max` bytes (named in binary units in the problem it reports).
  std::optional<std::uint64_t> byte_size(std::string_view key, std::uint64_t min,
                                         std::uint64_t max);
  // A JSON array of strings, or in the environment a comma-separated list.
  std::optional<std::vector<std::string>> string_list(std::string_view key);

  Section section(std::string_view key);
  // Elements of an array of objects: the larger of the JSON array's length and one past the
  // highest index used in an environment variable.
  std::size_t array_size(std::string_view key);
  Section element(std::string_view key, std::size_t index);

  void problem(std::string_view key, std::string message);
  // Reports JSON keys of this section that were never read.
  void finish();

private:
  Section(ConfigReader& reader, const nlohmann::json* object, std::string path,
          std::string env_name);
  struct Raw {
    std::string text;                     // the value as text (env, file) ...
    const nlohmann::json* json = nullptr; // ... or the JSON value
    std::string origin;                   // for messages
  };
  std::optional<Raw> raw(std::string_view key, Sensitivity sensitivity);
  std::string env_name_of(std::string_view key) const;
  const nlohmann::json* json_member(std::string_view key);

  ConfigReader* reader_;
  const nlohmann::json* object_; // null when the file has no such object
  std::string path_;
  std::string env_name_;
  std::set<std::string, std::less<>> known_;
};

// True for a variable the kubelet injects for a Service (by its name and value together):
// ignored, not read as a setting.
bool is_kubernetes_service_link(std::string_view name, std::string_view value);

} // namespace hub2kusto::app
