#include "codec/remoting_command.h"

#include <array>
#include <charconv>
#include <cstring>

#include "base/bytes.h"
#include "codec/json_lex.h"

namespace mq {

namespace {
constexpr std::array<const char*, 14> kLanguages = {"JAVA",   "CPP", "DOTNET", "PYTHON", "DELPHI",
                                                    "ERLANG", "RUBY", "OTHER", "HTTP",   "GO",
                                                    "PHP",    "OMS", "RUST",  "NODE_JS"};

uint8_t language_byte(std::string_view name) {
  for (size_t i = 0; i < kLanguages.size(); ++i)
    if (name == kLanguages[i]) return static_cast<uint8_t>(i);
  return 7;  // OTHER
}

bool parse_i32(std::string_view text, int32_t& out) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) return false;
  if (v < INT32_MIN || v > INT32_MAX) return false;
  out = static_cast<int32_t>(v);
  return true;
}

}  // namespace

namespace {
// Keys are short and mostly differ in their first byte (V2 send headers use one-letter keys), so
// compare size and first byte before calling memcmp.
inline bool same_key(const std::string& k, std::string_view key) {
  return k.size() == key.size() && (key.empty() || (k[0] == key[0] && std::memcmp(k.data(), key.data(), key.size()) == 0));
}
}  // namespace

void ExtFields::set(std::string key, std::string value) {
  if (entries_.empty()) entries_.reserve(16);
  for (auto& [k, v] : entries_) {
    if (same_key(k, key)) {
      v = std::move(value);
      return;
    }
  }
  entries_.emplace_back(std::move(key), std::move(value));
}

std::string* ExtFields::slot(std::string_view key) {
  if (entries_.empty()) entries_.reserve(16);
  for (auto& [k, v] : entries_)
    if (same_key(k, key)) return &v;
  return &entries_.emplace_back(std::string(key), std::string()).second;
}

void ExtFields::set(std::string key, int64_t value) {
  char buf[24];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, value);
  for (auto& [k, v] : entries_) {
    if (same_key(k, key)) {
      v.assign(buf, p);
      return;
    }
  }
  if (entries_.empty()) entries_.reserve(16);
  entries_.emplace_back(std::move(key), std::string(buf, p));
}

const std::string* ExtFields::find(std::string_view key) const {
  for (const auto& [k, v] : entries_)
    if (same_key(k, key)) return &v;
  return nullptr;
}

RemotingCommand RemotingCommand::response_to(const RemotingCommand& req, int32_t code,
                                             std::optional<std::string> remark) {
  RemotingCommand r;
  r.code = code;
  r.opaque = req.opaque;
  r.flag = kFlagResponse;
  r.serialize_type = req.serialize_type;
  r.remark = std::move(remark);
  return r;
}

const char* codec_error_name(CodecError e) {
  switch (e) {
    case CodecError::kBadLength: return "bad frame length";
    case CodecError::kBadHeaderLength: return "header length exceeds frame";
    case CodecError::kBadSerializeType: return "unknown serialize type";
    case CodecError::kBadHeader: return "malformed header";
  }
  return "?";
}

namespace {
// Writes a JSON header through a raw pointer into space sized for the worst case (every byte of
// every string escaped as \u00XX), then trims: std::string's append and push_back cost far more
// per call than the bytes they copy, and a header is ~30 short pieces.
class JsonHeaderWriter {
 public:
  JsonHeaderWriter(std::string& out, size_t bound) : out_(out), at_(out.size()) {
    out_.resize(at_ + bound);
    p_ = out_.data() + at_;
  }
  void finish() { out_.resize(static_cast<size_t>(p_ - out_.data())); }
  template <size_t N>
  void lit(const char (&s)[N]) {
    std::memcpy(p_, s, N - 1);
    p_ += N - 1;
  }
  void ch(char c) { *p_++ = c; }
  void num(int64_t v) { p_ = std::to_chars(p_, p_ + 24, v).ptr; }
  void quoted(std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    *p_++ = '"';
    size_t i = 0;
    while (i < s.size()) {
      size_t run = json_lex::plain_run(s.substr(i));
      std::memcpy(p_, s.data() + i, run);
      p_ += run;
      i += run;
      if (i >= s.size()) break;
      auto u = static_cast<unsigned char>(s[i++]);
      *p_++ = '\\';
      switch (u) {
        case '"': *p_++ = '"'; break;
        case '\\': *p_++ = '\\'; break;
        case '\n': *p_++ = 'n'; break;
        case '\r': *p_++ = 'r'; break;
        case '\t': *p_++ = 't'; break;
        case '\b': *p_++ = 'b'; break;
        case '\f': *p_++ = 'f'; break;
        default:
          std::memcpy(p_, "u00", 3);
          p_[3] = kHex[u >> 4];
          p_[4] = kHex[u & 0xF];
          p_ += 5;
      }
    }
    *p_++ = '"';
  }
  // Worst-case size of quoted(s).
  static size_t quoted_bound(std::string_view s) { return 6 * s.size() + 2; }

 private:
  std::string& out_;
  size_t at_;
  char* p_;
};

size_t json_header_bound(const RemotingCommand& cmd) {
  // Fixed keys and punctuation (< 120 bytes), four int32 values, one list separator per field.
  size_t n = 200 + JsonHeaderWriter::quoted_bound(cmd.language);
  if (cmd.remark) n += JsonHeaderWriter::quoted_bound(*cmd.remark);
  for (const auto& [k, v] : cmd.ext_fields.entries())
    n += JsonHeaderWriter::quoted_bound(k) + JsonHeaderWriter::quoted_bound(v) + 2;
  return n;
}

// The same text as Java's fastjson writes (keys sorted), appended to `out`.
void encode_json_header_to(const RemotingCommand& cmd, std::string& out) {
  JsonHeaderWriter w(out, json_header_bound(cmd));
  w.lit("{\"code\":");
  w.num(cmd.code);
  if (!cmd.ext_fields.empty()) {
    w.lit(",\"extFields\":{");
    bool first = true;
    for (const auto& [k, v] : cmd.ext_fields.entries()) {
      if (!first) w.ch(',');
      first = false;
      w.quoted(k);
      w.ch(':');
      w.quoted(v);
    }
    w.ch('}');
  }
  w.lit(",\"flag\":");
  w.num(cmd.flag);
  w.lit(",\"language\":");
  w.quoted(cmd.language);
  w.lit(",\"opaque\":");
  w.num(cmd.opaque);
  if (cmd.remark) {
    w.lit(",\"remark\":");
    w.quoted(*cmd.remark);
  }
  w.lit(",\"serializeTypeCurrentRPC\":\"JSON\",\"version\":");
  w.num(cmd.version);
  w.ch('}');
  w.finish();
}
}  // namespace

std::string encode_json_header(const RemotingCommand& cmd) {
  std::string out;
  encode_json_header_to(cmd, out);
  return out;
}

Result<RemotingCommand, CodecError> decode_json_header(std::string_view header) {
  auto bad = [](std::string why) { return make_error(CodecError::kBadHeader, std::move(why)); };
  json_lex::Cursor cur(header);
  RemotingCommand cmd;
  cmd.language.clear();
  bool have_code = false;
  if (!cur.expect('{')) return bad("header is not a JSON object");
  std::string key_scratch, text, fk_scratch;
  std::string_view k, fk;
  if (!cur.consume('}')) {
    while (true) {
      if (!cur.read_string_view(k, key_scratch) || !cur.expect(':')) return bad("invalid JSON in header");
      char c = cur.peek();
      if (k == "extFields" && c == '{') {
        cur.consume('{');
        if (!cur.consume('}')) {
          while (true) {
            if (!cur.read_string_view(fk, fk_scratch) || !cur.expect(':')) return bad("invalid JSON in extFields");
            char vc = cur.peek();
            if (vc == '"') {
              // Read straight into the entry: no copy of the value (properties run to 100s of bytes).
              if (!cur.read_string(*cmd.ext_fields.slot(fk))) return bad("invalid JSON in extFields");
            } else {
              if (vc == '-' || (vc >= '0' && vc <= '9')) {
                cur.read_number_text(text);
              } else if (vc == 't' || vc == 'f' || vc == 'n') {
                cur.read_word(text);
                if (text != "true" && text != "false" && text != "null") return bad("bad literal in extFields");
              } else {
                return bad("extFields value of key '" + std::string(fk) + "' is not a string, number or boolean");
              }
              if (!cur.ok()) return bad("invalid JSON in extFields");
              // Java omits null fields; a client that sends null means "not set".
              if (text != "null") *cmd.ext_fields.slot(fk) = text;
            }
            if (cur.consume(',')) continue;
            if (!cur.expect('}')) return bad("invalid JSON in extFields");
            break;
          }
        }
      } else if (k == "code" || k == "version" || k == "opaque" || k == "flag") {
        if (c == '"') {
          cur.read_string(text);
        } else {
          cur.read_number_text(text);
        }
        int32_t v = 0;
        if (!cur.ok() || !parse_i32(text, v)) return bad("field '" + std::string(k) + "' is not an int32");
        if (k == "code") {
          cmd.code = v;
          have_code = true;
        } else if (k == "version") {
          cmd.version = v;
        } else if (k == "opaque") {
          cmd.opaque = v;
        } else {
          cmd.flag = v;
        }
      } else if (k == "language" && c == '"') {
        cur.read_string(cmd.language);
      } else if (k == "remark" && c == '"') {
        cur.read_string(cmd.remark.emplace());
      } else {
        if (!cur.skip_value()) return bad("invalid JSON in header");
      }
      if (!cur.ok()) return bad("invalid JSON in header");
      if (cur.consume(',')) continue;
      if (!cur.expect('}')) return bad("invalid JSON in header");
      break;
    }
  }
  if (!cur.at_end()) return bad("trailing bytes after header JSON");
  if (!have_code) return bad("header has no 'code'");
  return cmd;
}

std::string encode_binary_header(const RemotingCommand& cmd) {
  std::string out;
  ByteWriter w(out);
  w.u16(static_cast<uint16_t>(cmd.code));
  w.u8(language_byte(cmd.language));
  w.u16(static_cast<uint16_t>(cmd.version));
  w.i32(cmd.opaque);
  w.i32(cmd.flag);
  if (cmd.remark && !cmd.remark->empty()) {
    w.i32(static_cast<int32_t>(cmd.remark->size()));
    w.raw(*cmd.remark);
  } else {
    w.i32(0);
  }
  std::string map;
  ByteWriter m(map);
  for (const auto& [k, v] : cmd.ext_fields.entries()) {
    m.u16(static_cast<uint16_t>(k.size()));
    m.raw(k);
    m.i32(static_cast<int32_t>(v.size()));
    m.raw(v);
  }
  w.i32(static_cast<int32_t>(map.size()));
  w.raw(map);
  return out;
}

Result<RemotingCommand, CodecError> decode_binary_header(std::string_view header) {
  auto bad = [](std::string why) { return make_error(CodecError::kBadHeader, std::move(why)); };
  ByteReader r(header);
  RemotingCommand cmd;
  cmd.serialize_type = SerializeType::kRocketMQ;
  cmd.code = r.i16();
  uint8_t lang = r.u8();
  cmd.language = lang < kLanguages.size() ? kLanguages[lang] : "OTHER";
  cmd.version = r.i16();
  cmd.opaque = r.i32();
  cmd.flag = r.i32();
  int32_t remark_len = r.i32();
  if (!r.ok() || remark_len < 0 || static_cast<size_t>(remark_len) > r.remaining())
    return bad("binary header: remark length out of range");
  if (remark_len > 0) cmd.remark = std::string(r.bytes(static_cast<size_t>(remark_len)));
  int32_t map_len = r.i32();
  if (!r.ok() || map_len < 0 || static_cast<size_t>(map_len) > r.remaining())
    return bad("binary header: extFields length out of range");
  ByteReader m(r.bytes(static_cast<size_t>(map_len)));
  while (m.ok() && m.remaining() > 0) {
    uint16_t klen = m.u16();
    std::string_view k = m.bytes(klen);
    int32_t vlen = m.i32();
    if (!m.ok() || vlen < 0 || static_cast<size_t>(vlen) > m.remaining())
      return bad("binary header: extFields entry out of range");
    std::string_view v = m.bytes(static_cast<size_t>(vlen));
    cmd.ext_fields.set(std::string(k), std::string(v));
  }
  if (!m.ok()) return bad("binary header: truncated extFields entry");
  if (r.remaining() != 0) return bad("binary header: trailing bytes");
  return cmd;
}

void encode_frame_to(const RemotingCommand& cmd, std::string& out) {
  // The header is written in place after an 8-byte gap that then gets the two length words.
  size_t at = out.size();
  if (cmd.serialize_type == SerializeType::kRocketMQ) {
    out.resize(at + 8);
    out += encode_binary_header(cmd);
  } else {
    out.reserve(at + 8 + json_header_bound(cmd) + cmd.body.size());
    out.resize(at + 8);
    encode_json_header_to(cmd, out);
  }
  size_t header_size = out.size() - at - 8;
  auto* p = reinterpret_cast<uint8_t*>(out.data() + at);
  put_be32(p, static_cast<uint32_t>(4 + header_size + cmd.body.size()));
  put_be32(p + 4, (static_cast<uint32_t>(cmd.serialize_type) << 24) |
                      (static_cast<uint32_t>(header_size) & 0xFFFFFFu));
  out += cmd.body;
}

std::string encode_frame(const RemotingCommand& cmd) {
  std::string out;
  out.reserve(256 + cmd.body.size());
  encode_frame_to(cmd, out);
  return out;
}

Result<RemotingCommand, CodecError> decode_frame(std::string_view frame) {
  if (frame.size() < 4) return make_error(CodecError::kBadLength, "frame shorter than its header word");
  uint32_t word = get_be32(reinterpret_cast<const uint8_t*>(frame.data()));
  uint32_t type = word >> 24;
  size_t header_len = word & 0xFFFFFFu;
  if (header_len > frame.size() - 4)
    return make_error(CodecError::kBadHeaderLength,
                      "header length " + std::to_string(header_len) + " exceeds frame of " +
                          std::to_string(frame.size() - 4) + " bytes");
  std::string_view header = frame.substr(4, header_len);
  Result<RemotingCommand, CodecError> cmd =
      type == 0   ? decode_json_header(header)
      : type == 1 ? decode_binary_header(header)
                  : Result<RemotingCommand, CodecError>(make_error(
                        CodecError::kBadSerializeType, "serialize type " + std::to_string(type)));
  if (!cmd.ok()) return cmd;
  cmd->body.assign(frame.substr(4 + header_len));
  return cmd;
}

int64_t FrameSplitter::check_length(uint32_t raw) {
  auto len = static_cast<int32_t>(raw);
  if (len < 4 || static_cast<uint32_t>(len) > max_frame_bytes_) {
    error_detail_ = "frame length " + std::to_string(len) + " outside [4, " +
                    std::to_string(max_frame_bytes_) + "]";
    return -1;
  }
  return len;
}

}  // namespace mq
