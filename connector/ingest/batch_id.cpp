#include <charconv>

#include <fmt/format.h>

#include "ingest/ingestor.hpp"

namespace hub2kusto::ingest {
namespace {

std::optional<std::int64_t> number(std::string_view text) {
  std::int64_t value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < 0) {
    return std::nullopt;
  }
  return value;
}

} // namespace

std::string BatchId::text() const {
  return fmt::format("{}-{}-{}", partition.value(), first.value(), last.value());
}

std::optional<BatchId> BatchId::parse(std::string_view text) {
  // From the right: the two numbers have no '-', a partition id might.
  const auto last_dash = text.rfind('-');
  if (last_dash == std::string_view::npos || last_dash == 0) {
    return std::nullopt;
  }
  const auto first_dash = text.rfind('-', last_dash - 1);
  if (first_dash == std::string_view::npos || first_dash == 0) {
    return std::nullopt;
  }
  const auto first = number(text.substr(first_dash + 1, last_dash - first_dash - 1));
  const auto last = number(text.substr(last_dash + 1));
  if (!first || !last || *last < *first) {
    return std::nullopt;
  }
  return BatchId{PartitionId(std::string(text.substr(0, first_dash))), SequenceNumber(*first),
                 SequenceNumber(*last)};
}

} // namespace hub2kusto::ingest
