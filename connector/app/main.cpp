// hub2kusto's entry point: everything happens in run_cli().

#include <malloc.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "app/cli.hpp"
#include "app/config.hpp"
#include "azure/http_transport.hpp"

int main(int argc, char** argv) {
  // glibc gives each thread that allocates its own arena (up to 8 per core), and memory freed
  // in one is not reused by another: with a thread per partition and per batch in flight,
  // batches of megabytes leave the process holding far more than it uses (bench/REPORT.md,
  // memory under stall: 14 MiB over the bound with 8 partitions). Two arenas keep RSS at what
  // the configuration allows; MALLOC_ARENA_MAX still overrides.
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) {
    mallopt(M_ARENA_MAX, 2);
  }
  std::vector<std::string> args(argv + 1, argv + argc);
  return hub2kusto::app::run_cli(args, hub2kusto::app::process_environment(), std::cout, std::cerr);
}
