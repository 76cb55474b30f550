// A small JSON lexer shared by the remoting header codec and the fastjson-tolerant body parser.
// It reads UTF-8 text, decodes string escapes (including \uXXXX surrogate pairs) and never reads
// past the end of its input; every failure is reported through ok().
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace mq::json_lex {

class Cursor {
 public:
  explicit Cursor(std::string_view text) : s_(text) {}

  bool ok() const { return ok_; }
  void fail() { ok_ = false; }
  bool at_end() {
    skip_ws();
    return pos_ >= s_.size();
  }
  size_t pos() const { return pos_; }

  void skip_ws() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }
  // Next non-blank character without consuming it; '\0' at the end.
  char peek() {
    skip_ws();
    return pos_ < s_.size() ? s_[pos_] : '\0';
  }
  bool consume(char c) {
    if (peek() == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool expect(char c) {
    if (!consume(c)) ok_ = false;
    return ok_;
  }
  // Reads a JSON string (the cursor must be at its opening quote) into out.
  bool read_string(std::string& out);
  // Reads a JSON string like read_string, but returns a view of the input when the string has no
  // escapes (header keys never do), decoding into `scratch` only when it has.
  bool read_string_view(std::string_view& out, std::string& scratch);
  // Reads a number's text (validated JSON number syntax).
  bool read_number_text(std::string& out);
  // Reads a bare word such as true/false/null, or an unquoted fastjson key (digits, letters, _ -).
  bool read_word(std::string& out);
  // Skips any value (object, array, string, number, literal), tolerating fastjson map keys.
  bool skip_value(int depth = 0);
  // The raw text of the next value, skipped over (used for fastjson object-valued keys).
  bool read_raw_value(std::string_view& out);

 private:
  std::string_view s_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// Appends `s` as a JSON string literal (quotes included), escaping control characters, quotes
// and backslashes; other bytes (UTF-8) are copied as they are.
void append_quoted(std::string& out, std::string_view s);

// Length of the leading run of `s` that a JSON string holds as it is: no quote, backslash or
// control character (< 0x20). Eight bytes at a time: header strings are mostly plain, and
// scanning them is the bulk of header encode and decode.
size_t plain_run(std::string_view s);

inline constexpr int kMaxDepth = 64;

}  // namespace mq::json_lex
