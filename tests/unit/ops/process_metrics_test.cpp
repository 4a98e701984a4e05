#include "ops/process_metrics.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <fcntl.h>
#include <time.h>

#include <chrono>
#include <map>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace hub2kusto::ops {
namespace {

// The samples of an exposition without labels: name -> value.
std::map<std::string, double> samples(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') {
      continue;
    }
    const auto space = line.find(' ');
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

std::map<std::string, double> now_sampled() {
  PrometheusText text;
  add_process_metrics(text);
  return samples(text.render());
}

TEST(ProcessMetrics, DescribeThisProcessAsPrometheusClientsDo) {
  PrometheusText text;
  add_process_metrics(text);
  const std::string rendered = text.render();
  EXPECT_NE(rendered.find("# TYPE process_cpu_seconds_total counter"), std::string::npos);
  EXPECT_NE(rendered.find("# TYPE process_resident_memory_bytes gauge"), std::string::npos);
  const auto s = samples(rendered);
  ASSERT_EQ(s.size(), 6U) << rendered;
  EXPECT_GT(s.at("process_resident_memory_bytes"), 1 << 20);
  EXPECT_GE(s.at("process_virtual_memory_bytes"), s.at("process_resident_memory_bytes"));
  rlimit files{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &files), 0);
  EXPECT_EQ(s.at("process_max_fds"), static_cast<double>(files.rlim_cur));
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  // Started before now, and not before the test program could have (clock ticks are 10 ms).
  EXPECT_LE(s.at("process_start_time_seconds"), now + 1);
  EXPECT_GT(s.at("process_start_time_seconds"), now - 3600);
}

TEST(ProcessMetrics, CountOpenDescriptorsAndCpuTimeAsTheyChange) {
  const double fds = now_sampled().at("process_open_fds");
  const int opened = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(opened, 0);
  EXPECT_EQ(now_sampled().at("process_open_fds"), fds + 1);
  ::close(opened);
  EXPECT_EQ(now_sampled().at("process_open_fds"), fds);

  // Spend 0.2 s of CPU (by the process's own CPU clock, whatever the machine's load): the
  // counter, in clock ticks of 10 ms, grows by at least 0.1 s.
  const double cpu = now_sampled().at("process_cpu_seconds_total");
  const auto cpu_now = [] {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
  };
  const double until = cpu_now() + 0.2;
  while (cpu_now() < until) {
  }
  EXPECT_GE(now_sampled().at("process_cpu_seconds_total"), cpu + 0.1);
}

} // namespace
} // namespace hub2kusto::ops
