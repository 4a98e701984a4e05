#pragma once
// The command line: `hub2kusto run | check-config | replay | map | infer | version | help`, each
// with --help. run_cli() is main() without the process: tests call it with their own streams and
// environment.

#include <iosfwd>
#include <map>
#include <string>
#include <vector>

namespace hub2kusto::app {

// Exit codes shared by every command.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1; // a runtime failure
inline constexpr int kExitUsage = 2;   // bad arguments or a bad configuration

// `args` excludes the program name. `environment` holds the process environment (only
// HUB2KUSTO_* variables are looked at).
int run_cli(const std::vector<std::string>& args, std::map<std::string, std::string> environment,
            std::ostream& out, std::ostream& err);

} // namespace hub2kusto::app
