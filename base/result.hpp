#pragma once
// Result<T, E>: the value-or-error type every stage API returns (docs/architecture.md, "Errors").
// Errors on the data path are values; nothing in connector/ throws across a stage boundary.

#include <cassert>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace hub2kusto {

// A plain error: one sentence that says what is wrong and where, never a secret.
struct Error {
  std::string message;
  friend bool operator==(const Error&, const Error&) = default;
};

template <typename E> struct Failure { E error; };

// Text goes to the overload below, which wraps it in an Error.
template <typename E>
requires(!std::is_convertible_v<E, std::string>) Failure<std::decay_t<E>> failure(E&& error) {
  return Failure<std::decay_t<E>>{std::forward<E>(error)};
}

inline Failure<Error> failure(std::string message) {
  return Failure<Error>{Error{std::move(message)}};
}

template <typename T, typename E = Error> class [[nodiscard]] Result {
public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {} // NOLINT: implicit
  template <typename F>
  Result(Failure<F> f) // NOLINT: implicit by design, `return failure(...)`
      : state_(std::in_place_index<1>, E(std::move(f.error))) {}

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
  const E& error() const& {
    assert(!ok());
    return std::get<1>(state_);
  }
  E&& error() && {
    assert(!ok());
    return std::get<1>(std::move(state_));
  }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

private:
  std::variant<T, E> state_;
};

} // namespace hub2kusto
