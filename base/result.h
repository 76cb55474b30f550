// Result<T, E>: a value or an error, for outcomes a caller is expected to handle.
// Broken invariants are not errors: they abort through MQ_CHECK (see check.h).
#pragma once
#include <string>
#include <utility>
#include <variant>

#include "base/check.h"

namespace mq {

// An error value with a human-readable detail. E is an enum of expected outcomes.
template <typename E>
struct Error {
  E code;
  std::string detail;
};

template <typename T, typename E>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error<E> err) : v_(std::in_place_index<1>, std::move(err)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    MQ_CHECK(ok(), "Result::value() on an error: " + std::get<1>(v_).detail);
    return std::get<0>(v_);
  }
  const T& value() const& {
    MQ_CHECK(ok(), "Result::value() on an error: " + std::get<1>(v_).detail);
    return std::get<0>(v_);
  }
  T&& value() && {
    MQ_CHECK(ok(), "Result::value() on an error: " + std::get<1>(v_).detail);
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error<E>& error() const {
    MQ_CHECK(!ok(), "Result::error() on a value");
    return std::get<1>(v_);
  }
  E code() const { return error().code; }
  const std::string& detail() const { return error().detail; }

 private:
  std::variant<T, Error<E>> v_;
};

// Result without a value.
struct Unit {};

template <typename E>
Error<E> make_error(E code, std::string detail) {
  return Error<E>{code, std::move(detail)};
}

}  // namespace mq
