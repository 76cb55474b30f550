#include "codec/json_lex.h"

#include <bit>
#include <cstring>

namespace mq::json_lex {

size_t plain_run(std::string_view s) {
  const char* p = s.data();
  size_t n = s.size();
  size_t i = 0;
  if constexpr (std::endian::native == std::endian::little) {
    constexpr uint64_t kOnes = 0x0101010101010101ull;
    constexpr uint64_t kHigh = 0x8080808080808080ull;
    for (; i + 8 <= n; i += 8) {
      uint64_t x;
      std::memcpy(&x, p + i, 8);
      // High bit of each byte that is < 0x20, == '"' or == '\\'. Borrows only run towards later
      // bytes, so the lowest flagged byte is exact.
      uint64_t lt = (x - kOnes * 0x20) & ~x;
      uint64_t q = x ^ (kOnes * '"');
      uint64_t b = x ^ (kOnes * '\\');
      uint64_t hit = (lt | ((q - kOnes) & ~q) | ((b - kOnes) & ~b)) & kHigh;
      if (hit != 0) return i + static_cast<size_t>(std::countr_zero(hit) >> 3);
    }
  }
  for (; i < n; ++i) {
    auto u = static_cast<unsigned char>(p[i]);
    if (u == '"' || u == '\\' || u < 0x20) break;
  }
  return i;
}

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}
bool is_word_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         c == '-' || c == '.' || c == '+';
}
}  // namespace

bool Cursor::read_string(std::string& out) {
  out.clear();
  if (!consume('"')) return ok_ = false;
  while (pos_ < s_.size()) {
    // Copy the run of plain characters up to the next quote, backslash or control character in
    // one append: most header strings have no escapes at all.
    size_t run = pos_ + plain_run(s_.substr(pos_));
    out.append(s_.data() + pos_, run - pos_);
    pos_ = run;
    if (pos_ >= s_.size()) break;
    char c = s_[pos_++];
    if (c == '"') return true;
    if (static_cast<unsigned char>(c) < 0x20) return ok_ = false;
    if (pos_ >= s_.size()) break;
    char e = s_[pos_++];
    switch (e) {
      case '"': out.push_back('"'); break;
      case '\\': out.push_back('\\'); break;
      case '/': out.push_back('/'); break;
      case 'b': out.push_back('\b'); break;
      case 'f': out.push_back('\f'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 't': out.push_back('\t'); break;
      case 'u': {
        auto read4 = [this](uint32_t& v) {
          if (s_.size() - pos_ < 4) return false;
          v = 0;
          for (int i = 0; i < 4; ++i) {
            int h = hex_value(s_[pos_ + i]);
            if (h < 0) return false;
            v = v * 16 + static_cast<uint32_t>(h);
          }
          pos_ += 4;
          return true;
        };
        uint32_t cp = 0;
        if (!read4(cp)) return ok_ = false;
        if (cp >= 0xD800 && cp < 0xDC00 && s_.size() - pos_ >= 6 && s_[pos_] == '\\' &&
            s_[pos_ + 1] == 'u') {
          size_t save = pos_;
          pos_ += 2;
          uint32_t lo = 0;
          if (read4(lo) && lo >= 0xDC00 && lo < 0xE000) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else {
            pos_ = save;
          }
        }
        // A lone surrogate cannot be UTF-8; Java would keep it, we substitute U+FFFD.
        if (cp >= 0xD800 && cp < 0xE000) cp = 0xFFFD;
        append_utf8(out, cp);
        break;
      }
      default:
        return ok_ = false;
    }
  }
  return ok_ = false;
}

bool Cursor::read_string_view(std::string_view& out, std::string& scratch) {
  if (peek() != '"') return ok_ = false;
  size_t start = pos_ + 1;
  size_t run = plain_run(s_.substr(start));
  if (start + run < s_.size() && s_[start + run] == '"') {
    out = s_.substr(start, run);
    pos_ = start + run + 1;
    return true;
  }
  if (!read_string(scratch)) return false;
  out = scratch;
  return true;
}

bool Cursor::read_number_text(std::string& out) {
  skip_ws();
  size_t start = pos_;
  if (pos_ < s_.size() && s_[pos_] == '-') ++pos_;
  size_t digits = pos_;
  while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
  if (pos_ == digits) return ok_ = false;
  if (pos_ < s_.size() && s_[pos_] == '.') {
    ++pos_;
    size_t frac = pos_;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    if (pos_ == frac) return ok_ = false;
  }
  if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
    ++pos_;
    if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
    size_t exp = pos_;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    if (pos_ == exp) return ok_ = false;
  }
  out.assign(s_.substr(start, pos_ - start));
  return true;
}

bool Cursor::read_word(std::string& out) {
  skip_ws();
  size_t start = pos_;
  while (pos_ < s_.size() && is_word_char(s_[pos_])) ++pos_;
  if (pos_ == start) return ok_ = false;
  out.assign(s_.substr(start, pos_ - start));
  return true;
}

bool Cursor::skip_value(int depth) {
  if (depth > kMaxDepth) return ok_ = false;
  char c = peek();
  std::string scratch;
  if (c == '"') return read_string(scratch);
  if (c == '{' || c == '[') {
    char close = c == '{' ? '}' : ']';
    ++pos_;
    if (consume(close)) return true;
    while (ok_) {
      if (c == '{') {
        // fastjson keys may be strings, bare words or whole objects.
        char k = peek();
        if (k == '"') {
          read_string(scratch);
        } else if (k == '{' || k == '[') {
          skip_value(depth + 1);
        } else {
          read_word(scratch);
        }
        if (!expect(':')) return false;
      }
      if (!skip_value(depth + 1)) return false;
      if (consume(',')) continue;
      return expect(close);
    }
    return false;
  }
  if (c == '-' || (c >= '0' && c <= '9')) return read_number_text(scratch);
  if (!read_word(scratch)) return false;
  if (scratch != "true" && scratch != "false" && scratch != "null") return ok_ = false;
  return true;
}

bool Cursor::read_raw_value(std::string_view& out) {
  skip_ws();
  size_t start = pos_;
  if (!skip_value()) return false;
  out = s_.substr(start, pos_ - start);
  return true;
}

void append_quoted(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    size_t run = i + plain_run(s.substr(i));
    out.append(s.data() + i, run - i);
    i = run;
    if (i >= s.size()) break;
    char c = s[i++];
    auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (u < 0x20) {
          out += "\\u00";
          out.push_back(kHex[u >> 4]);
          out.push_back(kHex[u & 0xF]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

}  // namespace mq::json_lex
