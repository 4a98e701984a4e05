#include "common/ingest_format.hpp"

#include <array>
#include <utility>

#include "base/text.hpp"

namespace hub2kusto {
namespace {

struct Facts {
  std::string_view name;
  std::string_view mapping_kind;
  bool binary;
};

// In the enumeration's order.
constexpr std::array<Facts, 16> kFormats = {{
    {"csv", "Csv", false},
    {"tsv", "Csv", false},
    {"tsve", "Csv", false},
    {"psv", "Csv", false},
    {"scsv", "Csv", false},
    {"sohsv", "Csv", false},
    {"txt", "Csv", false},
    {"raw", "Csv", false},
    {"json", "Json", false},
    {"multijson", "Json", false},
    {"singlejson", "Json", false},
    {"avro", "Avro", true},
    {"apacheavro", "ApacheAvro", true},
    {"parquet", "Parquet", true},
    {"orc", "Orc", true},
    {"w3clogfile", "W3CLogFile", false},
}};

const Facts& facts(IngestFormat format) {
  return kFormats[static_cast<std::size_t>(format)];
}

} // namespace

std::optional<IngestFormat> parse_ingest_format(std::string_view name) {
  for (std::size_t i = 0; i < kFormats.size(); ++i) {
    if (text::iequals(kFormats[i].name, name)) {
      return static_cast<IngestFormat>(i);
    }
  }
  return std::nullopt;
}

std::string_view ingest_format_name(IngestFormat format) {
  return facts(format).name;
}

bool is_binary(IngestFormat format) {
  return facts(format).binary;
}

std::string_view mapping_kind(IngestFormat format) {
  return facts(format).mapping_kind;
}

} // namespace hub2kusto
