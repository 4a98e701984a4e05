#pragma once
// The process_* series every Prometheus client library exports for its process, with their
// names, types and units (https://prometheus.io/docs/instrumenting/writing_clientlibs/,
// "Process metrics"), read from Linux's /proc:
//
//   process_cpu_seconds_total       user and system CPU time (counter)
//   process_resident_memory_bytes   resident set size
//   process_virtual_memory_bytes    virtual memory size
//   process_open_fds                open file descriptors
//   process_max_fds                 the open-files limit (RLIMIT_NOFILE, soft)
//   process_start_time_seconds      when the process started, in seconds since the Unix epoch
//
// A value that cannot be read is left out rather than reported as 0.
#include "ops/prometheus.hpp"

namespace hub2kusto::ops {

// Adds this process's series to `out`.
void add_process_metrics(PrometheusText& out);

} // namespace hub2kusto::ops
