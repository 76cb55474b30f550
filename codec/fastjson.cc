#include "codec/fastjson.h"

#include <algorithm>
#include <charconv>

#include "codec/json_lex.h"

namespace mq {
namespace {

using nlohmann::json;

bool parse_value(json_lex::Cursor& cur, json& out, int depth);

bool number_from_text(const std::string& text, json& out) {
  if (text.find_first_of(".eE") == std::string::npos) {
    int64_t v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec == std::errc() && p == text.data() + text.size()) {
      out = v;
      return true;
    }
    uint64_t u = 0;
    auto [p2, ec2] = std::from_chars(text.data(), text.data() + text.size(), u);
    if (ec2 == std::errc() && p2 == text.data() + text.size()) {
      out = u;
      return true;
    }
  }
  try {
    out = std::stod(text);
  } catch (...) {
    return false;
  }
  return true;
}

bool parse_object(json_lex::Cursor& cur, json& out, int depth) {
  out = json::object();
  cur.expect('{');
  if (cur.consume('}')) return cur.ok();
  std::string key;
  while (cur.ok()) {
    char k = cur.peek();
    if (k == '"') {
      cur.read_string(key);
    } else if (k == '{' || k == '[') {
      json key_value;
      if (!parse_value(cur, key_value, depth + 1)) return false;
      key = key_value.dump(-1, ' ', false, kJsonReplace);
    } else {
      cur.read_word(key);
    }
    if (!cur.expect(':')) return false;
    json v;
    if (!parse_value(cur, v, depth + 1)) return false;
    out[key] = std::move(v);
    if (cur.consume(',')) continue;
    return cur.expect('}');
  }
  return false;
}

bool parse_value(json_lex::Cursor& cur, json& out, int depth) {
  if (depth > json_lex::kMaxDepth) {
    cur.fail();
    return false;
  }
  char c = cur.peek();
  std::string text;
  if (c == '{') return parse_object(cur, out, depth);
  if (c == '[') {
    out = json::array();
    cur.consume('[');
    if (cur.consume(']')) return true;
    while (cur.ok()) {
      json v;
      if (!parse_value(cur, v, depth + 1)) return false;
      out.push_back(std::move(v));
      if (cur.consume(',')) continue;
      return cur.expect(']');
    }
    return false;
  }
  if (c == '"') {
    if (!cur.read_string(text)) return false;
    out = std::move(text);
    return true;
  }
  if (c == '-' || (c >= '0' && c <= '9')) {
    if (!cur.read_number_text(text)) return false;
    if (!number_from_text(text, out)) {
      cur.fail();
      return false;
    }
    return true;
  }
  if (!cur.read_word(text)) return false;
  if (text == "true") {
    out = true;
  } else if (text == "false") {
    out = false;
  } else if (text == "null") {
    out = nullptr;
  } else {
    cur.fail();
    return false;
  }
  return true;
}

bool looks_like_integer(std::string_view s) {
  if (s.empty()) return false;
  size_t i = s[0] == '-' ? 1 : 0;
  if (i == s.size()) return false;
  return std::all_of(s.begin() + static_cast<long>(i), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

void dump_value(const json& v, std::string& out, bool unquote_keys,
                std::initializer_list<std::string_view> maps) {
  if (v.is_object()) {
    out.push_back('{');
    bool first = true;
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (!first) out.push_back(',');
      first = false;
      if (unquote_keys && looks_like_integer(it.key())) {
        out += it.key();
      } else {
        json_lex::append_quoted(out, it.key());
      }
      out.push_back(':');
      bool child_unquoted = std::find(maps.begin(), maps.end(), it.key()) != maps.end();
      dump_value(it.value(), out, child_unquoted, maps);
    }
    out.push_back('}');
  } else if (v.is_array()) {
    out.push_back('[');
    bool first = true;
    for (const auto& e : v) {
      if (!first) out.push_back(',');
      first = false;
      dump_value(e, out, false, maps);
    }
    out.push_back(']');
  } else if (v.is_string()) {
    json_lex::append_quoted(out, v.get_ref<const std::string&>());
  } else {
    out += v.dump(-1, ' ', false, kJsonReplace);
  }
}

}  // namespace

Result<nlohmann::json, JsonError> parse_fastjson(std::string_view text) {
  json_lex::Cursor cur(text);
  json out;
  if (!parse_value(cur, out, 0) || !cur.ok())
    return make_error(JsonError::kInvalid, "invalid JSON near byte " + std::to_string(cur.pos()));
  if (!cur.at_end())
    return make_error(JsonError::kInvalid, "trailing bytes after JSON at byte " + std::to_string(cur.pos()));
  return out;
}

std::string dump_fastjson(const nlohmann::json& value, std::initializer_list<std::string_view> maps) {
  std::string out;
  dump_value(value, out, false, maps);
  return out;
}

int64_t json_int(const nlohmann::json& obj, std::string_view key, int64_t fallback) {
  auto it = obj.find(key);
  if (it == obj.end()) return fallback;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_number()) {
    // A float outside int64's range (1e300 from a peer) has no integer value: like any other
    // unusable value it yields the fallback (converting it would be undefined behaviour).
    double d = it->get<double>();
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) return fallback;
    return static_cast<int64_t>(d);
  }
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && p == s.data() + s.size()) return v;
  }
  return fallback;
}

std::string json_string(const nlohmann::json& obj, std::string_view key, std::string fallback) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  if (it->is_string()) return it->get<std::string>();
  // Bytes from the wire may hold invalid UTF-8 (our parser keeps them as sent): dumping must not
  // throw, it replaces them.
  return it->dump(-1, ' ', false, kJsonReplace);
}

bool json_bool(const nlohmann::json& obj, std::string_view key, bool fallback) {
  auto it = obj.find(key);
  if (it == obj.end()) return fallback;
  if (it->is_boolean()) return it->get<bool>();
  if (it->is_string()) return it->get_ref<const std::string&>() == "true";
  return fallback;
}

}  // namespace mq
