#pragma once
// Strong types for names and positions (docs/architecture.md, "Names and positions"): a table name
// cannot be passed where a database name is expected. NamedType is a thin wrapper with value
// semantics.

#include <compare>
#include <cstdint>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace hub2kusto {

template <typename T, typename Tag> class NamedType {
public:
  using value_type = T;
  NamedType() = default;
  explicit NamedType(T value) : value_(std::move(value)) {}
  const T& value() const noexcept { return value_; }
  friend auto operator<=>(const NamedType&, const NamedType&) = default;

private:
  T value_{};
};

using EventHubName = NamedType<std::string, struct EventHubNameTag>;
using ConsumerGroup = NamedType<std::string, struct ConsumerGroupTag>;
using PartitionId = NamedType<std::string, struct PartitionIdTag>;
using SequenceNumber = NamedType<std::int64_t, struct SequenceNumberTag>;
using Offset = NamedType<std::string, struct OffsetTag>; // opaque, as the service sends it
using DatabaseName = NamedType<std::string, struct DatabaseNameTag>;
using TableName = NamedType<std::string, struct TableNameTag>;
using MappingName = NamedType<std::string, struct MappingNameTag>;

} // namespace hub2kusto

template <typename T, typename Tag>
struct fmt::formatter<hub2kusto::NamedType<T, Tag>> : fmt::formatter<T> {
  template <typename Ctx> auto format(const hub2kusto::NamedType<T, Tag>& v, Ctx& ctx) const {
    return fmt::formatter<T>::format(v.value(), ctx);
  }
};
