// Typed reads of a request's extFields for handlers. Every missing required field or value that
// does not parse is remembered, so a handler reads everything it needs and then checks ok() once;
// error() names the first bad field, for the response remark.
#pragma once
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>

#include "codec/remoting_command.h"

namespace mq {

class HeaderReader {
 public:
  explicit HeaderReader(const ExtFields& fields) : fields_(fields) {}

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

  std::string str(std::string_view key) {
    const std::string* v = fields_.find(key);
    if (v == nullptr) {
      missing(key);
      return {};
    }
    return *v;
  }
  std::optional<std::string> opt_str(std::string_view key) const {
    const std::string* v = fields_.find(key);
    return v ? std::optional<std::string>(*v) : std::nullopt;
  }
  int64_t i64(std::string_view key) {
    auto v = opt_i64(key);
    if (!v && !fields_.contains(key)) missing(key);
    return v.value_or(0);
  }
  int32_t i32(std::string_view key) {
    int64_t v = i64(key);
    if (v < INT32_MIN || v > INT32_MAX) {
      bad(key, "out of int32 range");
      return 0;
    }
    return static_cast<int32_t>(v);
  }
  std::optional<int64_t> opt_i64(std::string_view key) {
    const std::string* s = fields_.find(key);
    if (s == nullptr) return std::nullopt;
    int64_t v = 0;
    auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
    if (ec != std::errc() || p != s->data() + s->size() || s->empty()) {
      bad(key, "is not an integer: '" + *s + "'");
      return std::nullopt;
    }
    return v;
  }
  int64_t i64_or(std::string_view key, int64_t fallback) { return opt_i64(key).value_or(fallback); }
  // Java's Boolean.parseBoolean: "true" (any case) is true, anything else false.
  bool boolean(std::string_view key, bool fallback = false) const {
    const std::string* s = fields_.find(key);
    if (s == nullptr) return fallback;
    if (s->size() != 4) return false;
    auto lower = [](char c) { return static_cast<char>(c | 0x20); };
    return lower((*s)[0]) == 't' && lower((*s)[1]) == 'r' && lower((*s)[2]) == 'u' && lower((*s)[3]) == 'e';
  }

 private:
  void missing(std::string_view key) {
    if (error_.empty()) error_ = "missing required header field '" + std::string(key) + "'";
  }
  void bad(std::string_view key, const std::string& why) {
    if (error_.empty()) error_ = "header field '" + std::string(key) + "' " + why;
  }
  const ExtFields& fields_;
  std::string error_;
};

}  // namespace mq
