#pragma once
// Secret: a string that must never reach a log, an error message or test output.
// It has no stream operator; formatting it with fmt/spdlog prints a mask. The only way to the
// bytes is reveal(), which is greppable and used where the secret is actually needed
// (signing a token, sending an Authorization header).

#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace hub2kusto {

class Secret {
public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}

  const std::string& reveal() const noexcept { return value_; }
  bool empty() const noexcept { return value_.empty(); }

  static constexpr std::string_view mask = "***";

  friend bool operator==(const Secret&, const Secret&) = default;

private:
  std::string value_;
};

} // namespace hub2kusto

template <> struct fmt::formatter<hub2kusto::Secret> : fmt::formatter<std::string_view> {
  template <typename Ctx> auto format(const hub2kusto::Secret&, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format(hub2kusto::Secret::mask, ctx);
  }
};
