#pragma once
// The mapping engine's value-or-error type. The library depends on nothing of the connector,
// so it carries its own (the same shape as connector/common/result.hpp).

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace hub2kusto::mappings {

struct Error {
  std::string message;
  friend bool operator==(const Error&, const Error&) = default;
};

template <typename T> class [[nodiscard]] Result {
public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}     // NOLINT: implicit
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {} // NOLINT: implicit

  bool ok() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  T& value() & {
    assert(ok());
    return std::get<0>(state_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(state_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(state_));
  }
  const Error& error() const {
    assert(!ok());
    return std::get<1>(state_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

private:
  std::variant<T, Error> state_;
};

} // namespace hub2kusto::mappings
