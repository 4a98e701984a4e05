#pragma once
// `hub2kusto map`: previews what an ingestion mapping makes of sample events, before it is
// deployed. Rows go to stdout; per-event rejections and per-value nulls go to stderr as
// "line N: ...". Exit codes: 0 every event mapped, 1 some were rejected, 2 bad arguments or a
// bad schema / mapping.

#include <iosfwd>
#include <string>
#include <vector>

namespace hub2kusto::app {

// `args` starts with "map".
int run_map_command(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
                    std::ostream& err);

} // namespace hub2kusto::app
