// hub2kusto's entry point: everything happens in run_cli().

#include <iostream>
#include <string>
#include <vector>

#include "app/cli.hpp"
#include "app/config.hpp"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return hub2kusto::app::run_cli(args, hub2kusto::app::process_environment(), std::cout, std::cerr);
}
