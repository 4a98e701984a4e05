#pragma once
// Debian's tinyproxy, a real HTTP CONNECT proxy, as a child process on a free loopback port with
// a throw-away configuration. Its log (the CONNECT lines) is kept for the tests to read.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "support/child_process.hpp"
#include "support/temp_dir.hpp"

namespace hub2kusto::testing {

class Tinyproxy {
public:
  struct Options {
    std::optional<std::pair<std::string, std::string>> basic_auth; // user, password
    std::vector<int> connect_ports; // empty: CONNECT to any port; else only these (403 otherwise)
  };

  explicit Tinyproxy(Options options = {});

  bool running() const { return port_ > 0; }
  int port() const { return port_; }
  // http://[user:password@]127.0.0.1:<port>
  std::string url(const std::string& user = "", const std::string& password = "") const;
  // What it logged so far, with one "Request ... CONNECT host:port" line per tunnel asked for.
  std::string log() const;

private:
  TempDir dir_;
  std::unique_ptr<ChildProcess> process_;
  int port_ = 0;
};

} // namespace hub2kusto::testing
