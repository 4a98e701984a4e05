#include "ops/process_metrics.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "base/files.hpp"

namespace hub2kusto::ops {
namespace {

// The fields of /proc/self/stat after the command name (which may hold spaces and parentheses,
// so it ends at the last ')'); fields()[0] is field 3, the state (proc(5)).
std::vector<std::string> stat_fields() {
  const auto text = read_whole_file("/proc/self/stat");
  std::vector<std::string> out;
  if (!text) {
    return out;
  }
  const std::size_t end = text->rfind(')');
  if (end == std::string::npos) {
    return out;
  }
  std::istringstream rest(text->substr(end + 1));
  for (std::string field; rest >> field;) {
    out.push_back(field);
  }
  return out;
}

// The system's boot time in seconds since the epoch (/proc/stat's btime).
std::optional<double> boot_time() {
  std::ifstream in("/proc/stat");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("btime ", 0) == 0) {
      try {
        return std::stod(line.substr(6));
      } catch (const std::exception&) {
        return std::nullopt;
      }
    }
  }
  return std::nullopt;
}

} // namespace

void add_process_metrics(PrometheusText& out) {
  const Labels none;
  const auto fields = stat_fields();
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  // proc(5) numbers the fields from 1; fields[i] is field i + 3.
  const auto field = [&](std::size_t number) -> std::optional<double> {
    if (number < 3 || number - 3 >= fields.size()) {
      return std::nullopt;
    }
    try {
      return std::stod(fields[number - 3]);
    } catch (const std::exception&) {
      return std::nullopt;
    }
  };
  const auto utime = field(14);
  const auto stime = field(15);
  if (utime && stime && ticks > 0) {
    out.add("process_cpu_seconds_total", MetricType::counter,
            "Total user and system CPU time spent in seconds.", none, (*utime + *stime) / ticks);
  }
  if (const auto vsize = field(23)) {
    out.add("process_virtual_memory_bytes", MetricType::gauge, "Virtual memory size in bytes.",
            none, *vsize);
  }
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  if (const auto rss = field(24); rss && page > 0) {
    out.add("process_resident_memory_bytes", MetricType::gauge, "Resident memory size in bytes.",
            none, *rss * page);
  }
  const auto start = field(22);
  const auto booted = boot_time();
  if (start && booted && ticks > 0) {
    out.add("process_start_time_seconds", MetricType::gauge,
            "Start time of the process since unix epoch in seconds.", none,
            *booted + *start / ticks);
  }
  std::error_code ec;
  std::size_t fds = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++fds;
  }
  if (!ec) {
    // The directory's own descriptor, open while it is listed, is not one of the process's.
    out.add("process_open_fds", MetricType::gauge, "Number of open file descriptors.", none,
            static_cast<double>(fds > 0 ? fds - 1 : 0));
  }
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY) {
    out.add("process_max_fds", MetricType::gauge, "Maximum number of open file descriptors.", none,
            static_cast<double>(files.rlim_cur));
  }
}

} // namespace hub2kusto::ops
