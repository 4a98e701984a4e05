#pragma once
// Running a helper program (the Azure CLI) without a shell: arguments go to it as given, its
// output is read whole, and it is killed when it overruns its time.
#include <chrono>
#include <string>
#include <vector>

namespace hub2kusto {

struct CommandResult {
  bool started = false; // false: the program could not be run at all (see error)
  bool timed_out = false;
  int exit_code = -1; // the exit status, or 128 + the signal that ended it
  std::string out;
  std::string err;
  std::string error; // why it could not be started or waited for
};

// Runs argv[0] (looked up on PATH) with the remaining arguments, stdin from /dev/null.
CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout);

} // namespace hub2kusto
