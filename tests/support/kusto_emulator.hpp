#pragma once
// tests/emulators/kusto as a child process on a free port, with Azurite (the real Azure Storage
// emulator, from node_modules) behind it for queued ingestion, plus the calls the tests make:
// management commands, row counts and the fault-injection control API.
#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/child_process.hpp"

namespace hub2kusto::testing {

class Azurite {
public:
  // `extra_args`: more of Azurite's flags, such as --cert/--key for HTTPS and --oauth basic for
  // bearer tokens (which it takes only over HTTPS).
  explicit Azurite(const std::vector<std::string>& extra_args = {});
  bool running() const { return blob_ > 0 && queue_ > 0 && table_ > 0; }
  std::string endpoint(int port) const {
    return scheme_ + "://127.0.0.1:" + std::to_string(port) + "/devstoreaccount1";
  }
  std::string blob_endpoint() const { return endpoint(blob_); }
  // An Azure Storage connection string for its blob service, with Azurite's public dev key.
  std::string blob_connection_string(const std::string& key = kDevKey) const;
  static constexpr const char* kDevKey =
      "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
  // The Kusto emulator's flags that point its data-management side here.
  std::vector<std::string> kusto_flags() const;
  std::string stderr_text() const { return process_.stderr_text(); }

private:
  ChildProcess process_;
  std::string scheme_ = "http";
  int blob_ = 0;
  int queue_ = 0;
  int table_ = 0;
};

class KustoEmulator {
public:
  explicit KustoEmulator(const std::vector<std::string>& args, bool queued = true);
  // A failed test shows what the emulator said (a crash, a refusal).
  ~KustoEmulator();
  KustoEmulator(const KustoEmulator&) = delete;
  KustoEmulator& operator=(const KustoEmulator&) = delete;

  bool running() const { return port_ > 0; }
  // The Azurite behind it (queued ingestion), when started with one.
  const std::optional<Azurite>& azurite() const { return azurite_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string stderr_text() const;

  // A management command; the v1 answer, or an "error" member.
  nlohmann::json mgmt(const std::string& csl, const std::string& db = "db",
                      const std::string& token = "");
  // A query; the v1 answer, or an "error" member.
  nlohmann::json query(const std::string& csl, const std::string& token = "",
                       std::chrono::seconds timeout = std::chrono::seconds(60));
  // `T | count` through the query endpoint; -1 when it failed.
  long long count(const std::string& table, const std::string& token = "");
  // POST /_control<path_and_query>; true when the emulator applied it.
  bool fault(const std::string& path_and_query);
  nlohmann::json status();

private:
  nlohmann::json post(const std::string& path, const std::string& body, const std::string& token,
                      std::chrono::seconds timeout = std::chrono::seconds(60));

  std::optional<Azurite> azurite_;
  ChildProcess process_;
  int port_ = 0;
};

} // namespace hub2kusto::testing
