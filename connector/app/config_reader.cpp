#include "app/config_reader.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <limits>
#include <sstream>

#include <fmt/format.h>

#include "base/files.hpp"

namespace hub2kusto::app {
namespace {

std::string env_component(std::string_view key) {
  std::string out;
  for (const char c : key) {
    out += std::isalnum(static_cast<unsigned char>(c)) != 0
               ? static_cast<char>(std::toupper(static_cast<unsigned char>(c)))
               : '_';
  }
  return out;
}

std::string_view json_type_name(const nlohmann::json& j) {
  switch (j.type()) {
  case nlohmann::json::value_t::string:
    return "a string";
  case nlohmann::json::value_t::boolean:
    return "a boolean";
  case nlohmann::json::value_t::number_integer:
  case nlohmann::json::value_t::number_unsigned:
    return "an integer";
  case nlohmann::json::value_t::number_float:
    return "a number with a fraction";
  case nlohmann::json::value_t::array:
    return "an array";
  case nlohmann::json::value_t::object:
    return "an object";
  default:
    return "null";
  }
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) {
    row[j] = j;
  }
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

struct FileText {
  bool ok = false;
  std::string text;
  std::string error;
};

FileText read_secret_file(const std::string& path) {
  auto file = read_whole_file(path);
  if (!file) {
    return {false, {}, fmt::format("cannot read the file '{}'", path)};
  }
  std::string text = std::move(*file);
  if (!text.empty() && text.back() == '\n') {
    text.pop_back();
    if (!text.empty() && text.back() == '\r') {
      text.pop_back();
    }
  }
  if (text.empty()) {
    return {false, {}, fmt::format("the file '{}' is empty", path)};
  }
  return {true, std::move(text), {}};
}

std::optional<std::int64_t> parse_int(std::string_view text) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return v;
}

bool all_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(),
                                      [](unsigned char c) { return std::isdigit(c) != 0; });
}

bool protocol_name(std::string_view text) {
  return text == "tcp" || text == "udp" || text == "sctp" || text == "TCP" || text == "UDP" ||
         text == "SCTP";
}

// <proto>://<address>:<port>, as the kubelet writes <SERVICE>_PORT and <SERVICE>_PORT_<n>_<P>.
bool service_url(std::string_view value) {
  const auto scheme = value.find("://");
  const auto colon = value.rfind(':');
  return scheme != std::string_view::npos && protocol_name(value.substr(0, scheme)) &&
         colon > scheme + 3 && all_digits(value.substr(colon + 1));
}

} // namespace

// The variables the kubelet puts in every pod for each Service of its namespace (unless the pod
// sets enableServiceLinks: false), as the Kubernetes documentation lists them ("Services",
// "Environment variables"): <NAME>_SERVICE_HOST, <NAME>_SERVICE_PORT[_<PORT NAME>],
// <NAME>_PORT and <NAME>_PORT_<n>_<PROTO>[_PROTO|_PORT|_ADDR]. A Service named hub2kusto-ops makes
// HUB2KUSTO_OPS_*; they are recognised by name and value together, so a real setting
// (HUB2KUSTO_OPS_PORT=8080) still counts and a misspelt one is still refused.
bool is_kubernetes_service_link(std::string_view name, std::string_view value) {
  const auto ends_with = [&](std::string_view suffix) { return name.ends_with(suffix); };
  if (ends_with("_SERVICE_HOST")) {
    return !value.empty() && value.find_first_of(" /") == std::string_view::npos;
  }
  if (const auto at = name.rfind("_SERVICE_PORT"); at != std::string_view::npos && at > 0) {
    const auto rest = name.substr(at + 13);
    return (rest.empty() || rest.front() == '_') && all_digits(value);
  }
  if (ends_with("_PORT") && service_url(value)) {
    return true; // <NAME>_PORT; a <NAME>_PORT_<n>_<PROTO>_PORT detail is checked below
  }
  // <NAME>_PORT_<n>_<PROTO> and its three details
  const auto port = name.rfind("_PORT_");
  if (port == std::string_view::npos || port == 0) {
    return false;
  }
  const auto rest = name.substr(port + 6); // <n>_<PROTO>[_PROTO|_PORT|_ADDR]
  const auto underscore = rest.find('_');
  if (underscore == std::string_view::npos || !all_digits(rest.substr(0, underscore))) {
    return false;
  }
  const auto tail = rest.substr(underscore + 1);
  const auto detail = tail.find('_');
  if (!protocol_name(tail.substr(0, detail))) {
    return false;
  }
  if (detail == std::string_view::npos) {
    return service_url(value);
  }
  const auto which = tail.substr(detail + 1);
  return (which == "PROTO" && protocol_name(value)) || (which == "PORT" && all_digits(value)) ||
         (which == "ADDR" && !value.empty());
}

ConfigReader::ConfigReader(const nlohmann::json& root, std::map<std::string, std::string> env)
    : root_(root) {
  const std::string prefix = std::string(kEnvPrefix) + "_";
  for (auto& [name, value] : env) {
    if (name.rfind(prefix, 0) == 0 && !is_kubernetes_service_link(name, value)) {
      env_.emplace(name, std::move(value));
    }
  }
}

void ConfigReader::problem(std::string setting, std::string message) {
  problems_.push_back({std::move(setting), std::move(message)});
}

void ConfigReader::finish() {
  for (const auto& [name, value] : env_) {
    if (consumed_.count(name) != 0) {
      continue;
    }
    const std::string_view file_suffix = "_FILE";
    if (name.ends_with(file_suffix) &&
        looked_up_.count(name.substr(0, name.size() - file_suffix.size())) != 0) {
      problem(name, "only secrets can be read from a file, and this setting is not one");
    } else {
      problem(name, "unknown environment variable: no setting has this name");
    }
  }
}

Section::Section(ConfigReader& reader)
    : Section(reader, reader.root_.is_object() ? &reader.root_ : nullptr, "",
              std::string(ConfigReader::kEnvPrefix)) {}

Section::Section(ConfigReader& reader, const nlohmann::json* object, std::string path,
                 std::string env_name)
    : reader_(&reader), object_(object), path_(std::move(path)), env_name_(std::move(env_name)) {}

std::string Section::path_of(std::string_view key) const {
  return path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key);
}

std::string Section::env_name_of(std::string_view key) const {
  return fmt::format("{}_{}", env_name_, env_component(key));
}

const nlohmann::json* Section::json_member(std::string_view key) {
  known_.emplace(key);
  if (object_ == nullptr) {
    return nullptr;
  }
  const auto it = object_->find(std::string(key));
  if (it == object_->end() || it->is_null()) {
    return nullptr;
  }
  return &*it;
}

void Section::problem(std::string_view key, std::string message) {
  reader_->problem(path_of(key), std::move(message));
}

std::optional<Section::Raw> Section::raw(std::string_view key, Sensitivity sensitivity) {
  const std::string env = env_name_of(key);
  const std::string env_file = env + "_FILE";
  const std::string file_key = std::string(key) + "_file";
  const nlohmann::json* json_value = json_member(key);
  const nlohmann::json* json_file = nullptr;
  if (sensitivity == Sensitivity::secret) {
    json_file = json_member(file_key);
  }
  reader_->looked_up_.insert(env);
  auto& env_map = reader_->env_;
  const auto env_it = env_map.find(env);
  const auto env_file_it =
      sensitivity == Sensitivity::secret ? env_map.find(env_file) : env_map.end();
  if (env_it != env_map.end()) {
    reader_->consumed_.insert(env);
  }
  if (env_file_it != env_map.end()) {
    reader_->consumed_.insert(env_file);
  }

  auto from_file = [&](const std::string& path, const std::string& via) -> std::optional<Raw> {
    FileText file = read_secret_file(path);
    if (!file.ok) {
      problem(key, fmt::format("{} (given by {})", file.error, via));
      return std::nullopt;
    }
    reader_->secret_origins_.push_back(fmt::format("{} <- file {}", path_of(key), path));
    return Raw{std::move(file.text), nullptr, fmt::format("file {}", path)};
  };

  // The environment wins over the file; within one place, value and _file are exclusive.
  if (env_it != env_map.end() && env_file_it != env_map.end()) {
    problem(key, fmt::format("both {} and {} are set; set one", env, env_file));
    return std::nullopt;
  }
  if (env_it != env_map.end()) {
    if (sensitivity == Sensitivity::secret) {
      reader_->secret_origins_.push_back(fmt::format("{} <- environment {}", path_of(key), env));
    }
    return Raw{env_it->second, nullptr, fmt::format("environment variable {}", env)};
  }
  if (env_file_it != env_map.end()) {
    return from_file(env_file_it->second, env_file);
  }
  if (json_value != nullptr && json_file != nullptr) {
    problem(key, fmt::format("both '{}' and '{}' are set; set one", key, file_key));
    return std::nullopt;
  }
  if (json_file != nullptr) {
    if (!json_file->is_string()) {
      reader_->problem(path_of(file_key), fmt::format("expected a file path (a string), got {}",
                                                      json_type_name(*json_file)));
      return std::nullopt;
    }
    return from_file(json_file->get<std::string>(), fmt::format("'{}'", path_of(file_key)));
  }
  if (json_value != nullptr) {
    return Raw{{}, json_value, "the config file"};
  }
  return std::nullopt;
}

std::optional<std::string> Section::string(std::string_view key, Sensitivity sensitivity) {
  auto r = raw(key, sensitivity);
  if (!r) {
    return std::nullopt;
  }
  if (r->json != nullptr) {
    if (!r->json->is_string()) {
      problem(key, fmt::format("expected a string, got {}", json_type_name(*r->json)));
      return std::nullopt;
    }
    return r->json->get<std::string>();
  }
  return std::move(r->text);
}

std::optional<std::int64_t> Section::integer(std::string_view key, std::int64_t min,
                                             std::int64_t max) {
  auto r = raw(key, Sensitivity::plain);
  if (!r) {
    return std::nullopt;
  }
  std::optional<std::int64_t> v;
  if (r->json != nullptr) {
    if (r->json->is_number_integer()) {
      v = r->json->get<std::int64_t>();
    } else {
      problem(key, fmt::format("expected an integer, got {}", json_type_name(*r->json)));
      return std::nullopt;
    }
  } else {
    v = parse_int(r->text);
    if (!v) {
      problem(key, fmt::format("expected an integer (from {})", r->origin));
      return std::nullopt;
    }
  }
  if (*v < min || *v > max) {
    problem(key, fmt::format("{} is out of range: must be from {} to {}", *v, min, max));
    return std::nullopt;
  }
  return v;
}

std::optional<bool> Section::boolean(std::string_view key) {
  auto r = raw(key, Sensitivity::plain);
  if (!r) {
    return std::nullopt;
  }
  if (r->json != nullptr) {
    if (!r->json->is_boolean()) {
      problem(key, fmt::format("expected true or false, got {}", json_type_name(*r->json)));
      return std::nullopt;
    }
    return r->json->get<bool>();
  }
  if (r->text == "true") {
    return true;
  }
  if (r->text == "false") {
    return false;
  }
  problem(key, fmt::format("expected true or false (from {})", r->origin));
  return std::nullopt;
}

std::optional<std::chrono::milliseconds> Section::duration(std::string_view key) {
  auto text = string(key);
  if (!text) {
    return std::nullopt;
  }
  const std::string_view s = *text;
  std::size_t digits = 0;
  while (digits < s.size() && std::isdigit(static_cast<unsigned char>(s[digits])) != 0) {
    ++digits;
  }
  const auto number = parse_int(s.substr(0, digits));
  const std::string_view unit = s.substr(digits);
  static constexpr std::pair<std::string_view, std::int64_t> kUnits[] = {
      {"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}};
  if (number) {
    for (const auto& [name, factor] : kUnits) {
      if (unit == name) {
        if (*number > std::numeric_limits<std::int64_t>::max() / factor) {
          break;
        }
        return std::chrono::milliseconds(*number * factor);
      }
    }
  }
  problem(key, fmt::format("'{}' is not a duration: use a whole number with ms, s, m or h, for "
                           "example \"500ms\" or \"15m\"",
                           s));
  return std::nullopt;
}

std::optional<std::uint64_t> Section::byte_size(std::string_view key) {
  auto r = raw(key, Sensitivity::plain);
  if (!r) {
    return std::nullopt;
  }
  if (r->json != nullptr) {
    if (r->json->is_number_unsigned() ||
        (r->json->is_number_integer() && r->json->get<std::int64_t>() >= 0)) {
      return r->json->get<std::uint64_t>();
    }
    if (!r->json->is_string()) {
      problem(key, fmt::format("expected a size in bytes or a string like \"4MiB\", got {}",
                               json_type_name(*r->json)));
      return std::nullopt;
    }
    r->text = r->json->get<std::string>();
  }
  const std::string_view s = r->text;
  std::size_t digits = 0;
  while (digits < s.size() && std::isdigit(static_cast<unsigned char>(s[digits])) != 0) {
    ++digits;
  }
  const auto number = parse_int(s.substr(0, digits));
  const std::string_view unit = s.substr(digits);
  static constexpr std::pair<std::string_view, std::uint64_t> kUnits[] = {{"", 1},
                                                                          {"B", 1},
                                                                          {"KiB", 1ULL << 10},
                                                                          {"MiB", 1ULL << 20},
                                                                          {"GiB", 1ULL << 30},
                                                                          {"KB", 1000},
                                                                          {"MB", 1'000'000},
                                                                          {"GB", 1'000'000'000}};
  if (number && *number >= 0) {
    for (const auto& [name, factor] : kUnits) {
      if (unit == name) {
        return static_cast<std::uint64_t>(*number) * factor;
      }
    }
  }
  problem(key, fmt::format("'{}' is not a size: use bytes, or a whole number with KiB, MiB, GiB, "
                           "KB, MB or GB, for example \"4MiB\"",
                           s));
  return std::nullopt;
}

namespace {

// "64KiB", "4GiB": a size in the largest binary unit that divides it.
std::string binary_size(std::uint64_t bytes) {
  for (const auto& [shift, unit] :
       {std::pair{40, "TiB"}, std::pair{30, "GiB"}, std::pair{20, "MiB"}, std::pair{10, "KiB"}}) {
    const std::uint64_t one = 1ULL << shift;
    if (bytes >= one && bytes % one == 0) {
      return fmt::format("{}{}", bytes / one, unit);
    }
  }
  return fmt::format("{} bytes", bytes);
}

} // namespace

std::optional<std::uint64_t> Section::byte_size(std::string_view key, std::uint64_t min,
                                                std::uint64_t max) {
  const auto bytes = byte_size(key);
  if (bytes && (*bytes < min || *bytes > max)) {
    problem(key, fmt::format("must be from {} to {}", binary_size(min), binary_size(max)));
    return std::nullopt;
  }
  return bytes;
}

std::optional<std::vector<std::string>> Section::string_list(std::string_view key) {
  auto r = raw(key, Sensitivity::plain);
  if (!r) {
    return std::nullopt;
  }
  std::vector<std::string> out;
  if (r->json != nullptr) {
    if (!r->json->is_array()) {
      problem(key, fmt::format("expected an array of strings, got {}", json_type_name(*r->json)));
      return std::nullopt;
    }
    for (std::size_t i = 0; i < r->json->size(); ++i) {
      const auto& item = (*r->json)[i];
      if (!item.is_string()) {
        reader_->problem(fmt::format("{}[{}]", path_of(key), i),
                         fmt::format("expected a string, got {}", json_type_name(item)));
        return std::nullopt;
      }
      out.push_back(item.get<std::string>());
    }
    return out;
  }
  std::string_view rest = r->text;
  while (!rest.empty()) {
    const std::size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    while (!item.empty() && item.front() == ' ') {
      item.remove_prefix(1);
    }
    while (!item.empty() && item.back() == ' ') {
      item.remove_suffix(1);
    }
    if (!item.empty()) {
      out.emplace_back(item);
    }
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
  }
  return out;
}

Section Section::section(std::string_view key) {
  const nlohmann::json* member = json_member(key);
  if (member != nullptr && !member->is_object()) {
    problem(key, fmt::format("expected an object, got {}", json_type_name(*member)));
    member = nullptr;
  }
  return Section(*reader_, member, path_of(key), env_name_of(key));
}

std::size_t Section::array_size(std::string_view key) {
  const nlohmann::json* member = json_member(key);
  std::size_t size = 0;
  if (member != nullptr) {
    if (member->is_array()) {
      size = member->size();
    } else {
      problem(key, fmt::format("expected an array, got {}", json_type_name(*member)));
    }
  }
  const std::string prefix = env_name_of(key) + "_";
  for (const auto& [name, value] : reader_->env_) {
    if (name.rfind(prefix, 0) != 0) {
      continue;
    }
    const std::string_view rest = std::string_view(name).substr(prefix.size());
    const std::size_t underscore = rest.find('_');
    const auto index = parse_int(rest.substr(0, underscore));
    if (index && *index >= 0 && *index < 1000) {
      size = std::max(size, static_cast<std::size_t>(*index) + 1);
    }
  }
  return size;
}

Section Section::element(std::string_view key, std::size_t index) {
  const nlohmann::json* member = json_member(key);
  const nlohmann::json* item = nullptr;
  const std::string path = fmt::format("{}[{}]", path_of(key), index);
  if (member != nullptr && member->is_array() && index < member->size()) {
    item = &(*member)[index];
    if (!item->is_object()) {
      reader_->problem(path, fmt::format("expected an object, got {}", json_type_name(*item)));
      item = nullptr;
    }
  }
  return Section(*reader_, item, path, fmt::format("{}_{}", env_name_of(key), index));
}

void Section::finish() {
  if (object_ == nullptr) {
    return;
  }
  for (const auto& [key, value] : object_->items()) {
    if (known_.count(key) != 0) {
      continue;
    }
    constexpr std::string_view file_suffix = "_file";
    if (key.size() > file_suffix.size() && key.ends_with(file_suffix) &&
        known_.count(key.substr(0, key.size() - file_suffix.size())) != 0) {
      reader_->problem(path_of(key),
                       fmt::format("only secrets can be read from a file, and '{}' is not one",
                                   key.substr(0, key.size() - file_suffix.size())));
      continue;
    }
    std::string suggestion;
    std::size_t best = 3; // suggest only close matches
    for (const auto& candidate : known_) {
      const std::size_t d = edit_distance(key, candidate);
      if (d < best) {
        best = d;
        suggestion = candidate;
      }
    }
    reader_->problem(path_of(key),
                     suggestion.empty()
                         ? std::string("unknown setting")
                         : fmt::format("unknown setting (did you mean '{}'?)", suggestion));
  }
}

} // namespace hub2kusto::app
