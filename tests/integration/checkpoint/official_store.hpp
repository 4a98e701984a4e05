#pragma once
// The official blob checkpoint store of the Azure SDK for JavaScript, run through
// checkpoints.js beside this file (its header lists the commands): what it prints, one line.
#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/child_process.hpp"

namespace hub2kusto::checkpoint {

inline std::string official_store(const std::vector<std::string>& args) {
  using namespace std::chrono_literals;
  std::vector<std::string> argv = {"node", HUB2KUSTO_SOURCE_DIR
                                   "/tests/integration/checkpoint/checkpoints.js"};
  argv.insert(argv.end(), args.begin(), args.end());
  testing::ChildProcess node(argv);
  auto line = node.read_line(60s);
  EXPECT_EQ(node.wait_exit(60s), 0) << node.stderr_text();
  return line.value_or("");
}

} // namespace hub2kusto::checkpoint
