#pragma once
// The KQL subset the emulator answers, enough for tests and the demo:
//
//   T
//   T | count
//   T | take N            (also limit N)
//   T | where C == V      (also !=, >, <, >=, <=, =~; V a number, 'text', "text", true, false)
//   T | summarize count() by C
//   T | order by C [asc|desc]     (also sort by; desc by default, as in Kusto)
//
// Operators chain: T | where Level == 'warn' | order by Ts asc | take 10.

#include <string_view>
#include <variant>

#include "catalog.hpp"
#include "results.hpp"

namespace hub2kusto::kusto_emulator {

std::variant<ResultTable, ServiceError> run_query(const Database& db, std::string_view text);

} // namespace hub2kusto::kusto_emulator
