#pragma once
// The data formats the engine reads from event bodies (docs/protocols.md, "Data formats") and the
// two it writes.

#include <optional>
#include <string_view>

#include "mappings/mapping.hpp"

namespace hub2kusto::mappings {

enum class DataFormat { json, multijson, singlejson, csv, tsv, tsve, psv, scsv, sohsv, txt, raw };

std::optional<DataFormat> parse_data_format(std::string_view name); // case-insensitive
std::string_view to_string(DataFormat format);
// json, multijson, singlejson take JSON mappings; the rest take CSV mappings.
MappingKind mapping_kind_of(DataFormat format);

enum class OutputFormat { csv, json };

} // namespace hub2kusto::mappings
