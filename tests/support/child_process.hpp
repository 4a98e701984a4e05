#pragma once
// A child process for integration tests: an emulator or a Node script, started with its stdout
// on a pipe (the emulators print their ports there) and its stderr in a temporary file that a
// failing test prints. The destructor stops it (SIGTERM, then SIGKILL) and reaps it.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hub2kusto::testing {

// The program a test runs: the one this build made, or the one the environment variable
// `variable` names. scripts/test's sanitizer steps use that to pair one build's program under
// test with the plain build's others (its emulators, say). Not HUB2KUSTO_...: hub2kusto, which
// inherits the environment, would refuse it as an unknown setting.
inline std::string built_or_named(const char* variable, const char* built) {
  const char* named = std::getenv(variable);
  return named != nullptr && *named != '\0' ? std::string(named) : std::string(built);
}

class ChildProcess {
public:
  // `environment`: variables set in the child on top of this process's environment.
  explicit ChildProcess(std::vector<std::string> argv,
                        std::vector<std::pair<std::string, std::string>> environment = {}) {
    int out[2];
    if (::pipe(out) != 0) {
      return;
    }
    // HUB2KUSTO_CHILD_STDERR=<dir> keeps each child's stderr as <dir>/<pid>-<n>.stderr.
    if (const char* keep = std::getenv("HUB2KUSTO_CHILD_STDERR")) {
      const std::string path = std::string(keep) + "/" + std::to_string(::getpid()) + "-" +
                               std::to_string(counter()++) + ".stderr";
      err_file_ = std::fopen(path.c_str(), "w+");
    } else {
      err_file_ = std::tmpfile();
    }
    std::vector<char*> args;
    for (auto& a : argv) {
      args.push_back(a.data());
    }
    args.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      for (const auto& [k, v] : environment) {
        ::setenv(k.c_str(), v.c_str(), 1);
      }
      ::dup2(out[1], 1);
      ::dup2(::fileno(err_file_), 2);
      ::close(out[0]);
      ::close(out[1]);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
    ::close(out[1]);
    out_ = out[0];
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() {
    stop();
    if (out_ >= 0) {
      ::close(out_);
    }
    if (err_file_ != nullptr) {
      std::fclose(err_file_);
    }
  }

  bool started() const { return pid_ > 0; }
  // Whether it still runs (an ended process is reaped here).
  bool running() {
    int status = 0;
    if (pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
    }
    return pid_ > 0;
  }
  pid_t pid() const { return pid_; }

  // The next line of stdout, or nothing when the process closed it or `wait` elapsed.
  std::optional<std::string> read_line(std::chrono::milliseconds wait) {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (true) {
      if (const auto nl = buffer_.find('\n'); nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        return std::nullopt;
      }
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
        continue;
      }
      char chunk[4096];
      const ssize_t n = ::read(out_, chunk, sizeof chunk);
      if (n <= 0) {
        return std::nullopt;
      }
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  // Waits for the process to end by itself; its exit code, or -1 (killed, or still running
  // when `wait` elapsed, in which case it is killed).
  int wait_exit(std::chrono::milliseconds wait) {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (pid_ > 0) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        break;
      }
      // Drain stdout so a chatty child cannot block on a full pipe.
      read_line(std::chrono::milliseconds(20));
    }
    stop();
    return -1;
  }

  std::string stderr_text() const {
    if (err_file_ == nullptr) {
      return {};
    }
    std::string text;
    std::FILE* f =
        std::fopen(("/proc/self/fd/" + std::to_string(::fileno(err_file_))).c_str(), "r");
    if (f == nullptr) {
      return {};
    }
    char chunk[4096];
    std::size_t n = 0;
    while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) {
      text.append(chunk, n);
    }
    std::fclose(f);
    return text;
  }

  void stop() {
    if (pid_ <= 0) {
      return;
    }
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 200; ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      pollfd none{-1, 0, 0};
      ::poll(&none, 0, 10); // waiting for the child to exit, not synchronising with it
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

private:
  static int& counter() {
    static int n = 0;
    return n;
  }

  pid_t pid_ = -1;
  int out_ = -1;
  std::FILE* err_file_ = nullptr;
  std::string buffer_;
};

} // namespace hub2kusto::testing
