#include "codec/message.h"

#include <cstdio>

#include "base/bytes.h"
#include "base/hash.h"

namespace mq {

const char* message_error_name(MessageError e) {
  switch (e) {
    case MessageError::kTruncated: return "truncated";
    case MessageError::kBadMagic: return "bad magic";
    case MessageError::kBadSize: return "bad size";
    case MessageError::kBadCrc: return "bad body crc";
    case MessageError::kBadField: return "bad field";
  }
  return "unknown";
}

HostAddress HostAddress::v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, int32_t port) {
  HostAddress h;
  h.ip[0] = a;
  h.ip[1] = b;
  h.ip[2] = c;
  h.ip[3] = d;
  h.port = port;
  return h;
}

std::string HostAddress::to_string() const {
  char buf[64];
  if (!ipv6) {
    std::snprintf(buf, sizeof buf, "%u.%u.%u.%u:%d", ip[0], ip[1], ip[2], ip[3], port);
  } else {
    std::string s;
    for (int i = 0; i < 8; ++i) {
      char g[8];
      std::snprintf(g, sizeof g, "%s%x", i ? ":" : "", (ip[2 * i] << 8) | ip[2 * i + 1]);
      s += g;
    }
    std::snprintf(buf, sizeof buf, "%s:%d", s.c_str(), port);
  }
  return buf;
}

std::optional<HostAddress> HostAddress::parse_v4(std::string_view text) {
  HostAddress h;
  int part = 0;
  int64_t cur = -1;
  size_t i = 0;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c >= '0' && c <= '9') {
      cur = (cur < 0 ? 0 : cur) * 10 + (c - '0');
      if (cur > 255) return std::nullopt;
    } else if (c == '.' || c == ':') {
      if (cur < 0 || part > 3) return std::nullopt;
      h.ip[part++] = static_cast<uint8_t>(cur);
      cur = -1;
      if (c == ':') break;
    } else {
      return std::nullopt;
    }
  }
  if (part != 4 || i >= text.size()) return std::nullopt;
  int64_t port = 0;
  std::string_view p = text.substr(i + 1);
  if (p.empty() || p.size() > 5) return std::nullopt;
  for (char c : p) {
    if (c < '0' || c > '9') return std::nullopt;
    port = port * 10 + (c - '0');
  }
  if (port > 65535) return std::nullopt;
  h.port = static_cast<int32_t>(port);
  return h;
}

namespace {

int32_t host_flags(const MessageRecord& r) {
  int32_t f = r.sys_flag & ~(sysflag::kBornHostV6 | sysflag::kStoreHostV6);
  if (r.born_host.ipv6) f |= sysflag::kBornHostV6;
  if (r.store_host.ipv6) f |= sysflag::kStoreHostV6;
  return f;
}

// Writes into a fixed buffer whose size was computed up front.
struct Cursor {
  uint8_t* p;
  void u32(uint32_t v) {
    put_be32(p, v);
    p += 4;
  }
  void u64(uint64_t v) {
    put_be64(p, v);
    p += 8;
  }
  void u16(uint16_t v) {
    put_be16(p, v);
    p += 2;
  }
  void u8(uint8_t v) { *p++ = v; }
  void raw(const void* d, size_t n) {
    if (n) std::memcpy(p, d, n);
    p += n;
  }
  void host(const HostAddress& h) {
    raw(h.ip.data(), h.ip_length());
    u32(static_cast<uint32_t>(h.port));
  }
};

}  // namespace

size_t message_record_size(size_t body_length, size_t topic_length, size_t properties_length,
                           int32_t sys_flag) {
  size_t born = (sys_flag & sysflag::kBornHostV6) ? 20 : 8;
  size_t store = (sys_flag & sysflag::kStoreHostV6) ? 20 : 8;
  return 4 + 4 + 4 + 4 + 4 + 8 + 8 + 4 + 8 + born + 8 + store + 4 + 8 + 4 + body_length + 1 +
         topic_length + 2 + properties_length;
}

Result<Unit, MessageError> encode_record_to(const MessageRecord& r, uint8_t* out, size_t capacity) {
  if (r.topic.empty() || r.topic.size() > kMaxTopicLengthV1)
    return make_error(MessageError::kBadField, "topic length " + std::to_string(r.topic.size()));
  if (r.properties.size() > kMaxPropertiesLength)
    return make_error(MessageError::kBadField,
                      "properties length " + std::to_string(r.properties.size()));
  int32_t flags = host_flags(r);
  size_t size = message_record_size(r.body.size(), r.topic.size(), r.properties.size(), flags);
  if (size > static_cast<size_t>(INT32_MAX))
    return make_error(MessageError::kBadSize, "record too large");
  MQ_CHECK(capacity >= size, "encode_record_to: buffer too small");
  Cursor c{out};
  c.u32(static_cast<uint32_t>(size));
  c.u32(kMessageMagicV1);
  c.u32(static_cast<uint32_t>(r.body_crc));
  c.u32(static_cast<uint32_t>(r.queue_id));
  c.u32(static_cast<uint32_t>(r.flag));
  c.u64(static_cast<uint64_t>(r.queue_offset));
  c.u64(static_cast<uint64_t>(r.physical_offset));
  c.u32(static_cast<uint32_t>(flags));
  c.u64(static_cast<uint64_t>(r.born_timestamp));
  c.host(r.born_host);
  c.u64(static_cast<uint64_t>(r.store_timestamp));
  c.host(r.store_host);
  c.u32(static_cast<uint32_t>(r.reconsume_times));
  c.u64(static_cast<uint64_t>(r.prepared_transaction_offset));
  c.u32(static_cast<uint32_t>(r.body.size()));
  c.raw(r.body.data(), r.body.size());
  c.u8(static_cast<uint8_t>(r.topic.size()));
  c.raw(r.topic.data(), r.topic.size());
  c.u16(static_cast<uint16_t>(r.properties.size()));
  c.raw(r.properties.data(), r.properties.size());
  MQ_CHECK(static_cast<size_t>(c.p - out) == size, "encode_record_to: size mismatch");
  return Unit{};
}

Result<Unit, MessageError> encode_record(const MessageRecord& r, std::string& out) {
  size_t size = message_record_size(r.body.size(), r.topic.size(), r.properties.size(),
                                    host_flags(r));
  size_t at = out.size();
  out.resize(at + size);
  auto res = encode_record_to(r, reinterpret_cast<uint8_t*>(out.data() + at), size);
  if (!res) out.resize(at);
  return res;
}

void encode_blank(uint8_t* out, int32_t remaining_bytes) {
  put_be32(out, static_cast<uint32_t>(remaining_bytes));
  put_be32(out + 4, kBlankMagic);
}

Result<DecodedEntry, MessageError> decode_entry(std::string_view bytes, DecodeOptions options) {
  ByteReader r(bytes);
  DecodedEntry e;
  int32_t total = r.i32();
  uint32_t magic = r.u32();
  if (!r.ok()) return make_error(MessageError::kTruncated, "record header cut");
  if (magic == kBlankMagic) {
    if (total < kEndFileMinBlankLength)
      return make_error(MessageError::kBadSize, "blank size " + std::to_string(total));
    e.blank = true;
    e.size = total;
    return e;
  }
  if (magic != kMessageMagicV1 && magic != kMessageMagicV2)
    return make_error(MessageError::kBadMagic, "magic " + std::to_string(magic));
  // The smallest V1 record with an empty body, a 1-byte topic and no properties.
  if (total < static_cast<int32_t>(message_record_size(0, 1, 0, 0)))
    return make_error(MessageError::kBadSize, "total size " + std::to_string(total));
  if (static_cast<size_t>(total) > bytes.size())
    return make_error(MessageError::kTruncated, "record of " + std::to_string(total) +
                                                    " bytes, " + std::to_string(bytes.size()) +
                                                    " available");
  ByteReader b(bytes.substr(0, static_cast<size_t>(total)));
  MessageRecord& m = e.message;
  m.total_size = b.i32();
  m.magic = b.u32();
  m.body_crc = b.i32();
  m.queue_id = b.i32();
  m.flag = b.i32();
  m.queue_offset = b.i64();
  m.physical_offset = b.i64();
  m.sys_flag = b.i32();
  m.born_timestamp = b.i64();
  auto read_host = [&b](HostAddress& h, bool v6) {
    h.ipv6 = v6;
    std::string_view ip = b.bytes(v6 ? 16 : 4);
    if (!ip.empty()) std::memcpy(h.ip.data(), ip.data(), ip.size());
    h.port = b.i32();
  };
  read_host(m.born_host, (m.sys_flag & sysflag::kBornHostV6) != 0);
  m.store_timestamp = b.i64();
  read_host(m.store_host, (m.sys_flag & sysflag::kStoreHostV6) != 0);
  m.reconsume_times = b.i32();
  m.prepared_transaction_offset = b.i64();
  int32_t body_len = b.i32();
  if (body_len < 0 || static_cast<size_t>(body_len) > b.remaining())
    return make_error(MessageError::kBadSize, "body length " + std::to_string(body_len));
  m.body = b.bytes(static_cast<size_t>(body_len));
  size_t topic_len = magic == kMessageMagicV2 ? b.u16() : b.u8();
  if (!b.ok() || topic_len > b.remaining())
    return make_error(MessageError::kBadSize, "topic length " + std::to_string(topic_len));
  m.topic = b.bytes(topic_len);
  int16_t props_len = b.i16();
  if (!b.ok() || props_len < 0 || static_cast<size_t>(props_len) != b.remaining())
    return make_error(MessageError::kBadSize,
                      "properties length " + std::to_string(props_len) + " does not close the record");
  m.properties = b.bytes(static_cast<size_t>(props_len));
  if (!b.ok() || b.remaining() != 0) return make_error(MessageError::kBadSize, "fields overrun");
  if (options.check_crc && rocketmq_crc32(m.body) != m.body_crc)
    return make_error(MessageError::kBadCrc, "body crc mismatch");
  e.size = total;
  return e;
}

Result<MessageRecord, MessageError> decode_record(std::string_view bytes, DecodeOptions options) {
  auto e = decode_entry(bytes, options);
  if (!e) return e.error();
  if (e->blank) return make_error(MessageError::kBadMagic, "blank record");
  return e->message;
}

Result<std::vector<MessageRecord>, MessageError> decode_records(std::string_view bytes,
                                                                DecodeOptions options) {
  std::vector<MessageRecord> out;
  while (!bytes.empty()) {
    auto r = decode_record(bytes, options);
    if (!r) return r.error();
    bytes.remove_prefix(static_cast<size_t>(r->total_size));
    out.push_back(*r);
  }
  return out;
}

std::string encode_properties(const PropertyList& properties) {
  std::string s;
  for (const auto& [k, v] : properties) {
    if (!s.empty()) s.push_back(kPropertySeparator);
    s += k;
    s.push_back(kNameValueSeparator);
    s += v;
  }
  return s;
}

std::optional<int64_t> parse_property_int(std::string_view v) {
  if (v.empty() || v.size() > 18) return std::nullopt;
  int64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return n;
}

std::string edit_properties(std::string_view text, const PropertyList& put,
                            std::initializer_list<std::string_view> erase) {
  auto dropped = [&](std::string_view name) {
    for (auto e : erase)
      if (e == name) return true;
    for (const auto& [k, v] : put)
      if (k == name) return true;
    return false;
  };
  std::string s;
  s.reserve(text.size() + 64);
  for (const auto& [k, v] : decode_properties(text)) {
    if (dropped(k)) continue;
    if (!s.empty()) s.push_back(kPropertySeparator);
    s.append(k);
    s.push_back(kNameValueSeparator);
    s.append(v);
  }
  for (const auto& [k, v] : put) {
    if (!s.empty()) s.push_back(kPropertySeparator);
    s += k;
    s.push_back(kNameValueSeparator);
    s += v;
  }
  return s;
}

std::vector<std::pair<std::string_view, std::string_view>> decode_properties(std::string_view text) {
  std::vector<std::pair<std::string_view, std::string_view>> out;
  while (!text.empty()) {
    size_t end = text.find(kPropertySeparator);
    std::string_view piece = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    if (piece.size() < 3) continue;
    size_t eq = piece.find(kNameValueSeparator);
    if (eq == std::string_view::npos || eq == 0 || eq + 1 >= piece.size()) continue;
    out.emplace_back(piece.substr(0, eq), piece.substr(eq + 1));
  }
  return out;
}

std::optional<std::string_view> find_property(std::string_view properties, std::string_view name) {
  // decode_properties' rules (pieces shorter than 3 bytes, without '=', with an empty name or
  // value are skipped; the last match wins), without building the list: called on every send.
  std::optional<std::string_view> found;
  std::string_view text = properties;
  while (!text.empty()) {
    size_t end = text.find(kPropertySeparator);
    std::string_view piece = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    if (piece.size() < 3 || piece.size() <= name.size() || piece[name.size()] != kNameValueSeparator) continue;
    if (name.empty() || piece.compare(0, name.size(), name) != 0) continue;
    if (name.size() + 1 >= piece.size()) continue;
    found = piece.substr(name.size() + 1);
  }
  return found;
}

namespace {
const char kHex[] = "0123456789ABCDEF";
void append_hex(std::string& s, const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    s.push_back(kHex[p[i] >> 4]);
    s.push_back(kHex[p[i] & 0xF]);
  }
}
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}
}  // namespace

std::string make_offset_msg_id(const HostAddress& store_host, int64_t commit_log_offset) {
  std::string s;
  s.reserve(56);
  append_hex(s, store_host.ip.data(), store_host.ip_length());
  uint8_t b[12];
  put_be32(b, static_cast<uint32_t>(store_host.port));
  put_be64(b + 4, static_cast<uint64_t>(commit_log_offset));
  append_hex(s, b, 12);
  return s;
}

Result<OffsetMsgId, MessageError> decode_offset_msg_id(std::string_view id) {
  if (id.size() != 32 && id.size() != 56)
    return make_error(MessageError::kBadField, "offsetMsgId length " + std::to_string(id.size()));
  uint8_t raw[28];
  for (size_t i = 0; i < id.size() / 2; ++i) {
    int hi = hex_value(id[2 * i]);
    int lo = hex_value(id[2 * i + 1]);
    if (hi < 0 || lo < 0) return make_error(MessageError::kBadField, "offsetMsgId not hex");
    raw[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  OffsetMsgId out;
  size_t ip_len = id.size() == 32 ? 4 : 16;
  out.store_host.ipv6 = ip_len == 16;
  std::memcpy(out.store_host.ip.data(), raw, ip_len);
  out.store_host.port = static_cast<int32_t>(get_be32(raw + ip_len));
  out.commit_log_offset = static_cast<int64_t>(get_be64(raw + ip_len + 4));
  return out;
}

Result<std::vector<BatchItem>, MessageError> decode_batch(std::string_view body) {
  std::vector<BatchItem> items;
  ByteReader r(body);
  while (r.ok() && r.remaining() > 0) {
    size_t start = r.pos();
    int32_t total = r.i32();
    r.u32();  // magic: written as 0 by clients
    r.u32();  // body crc: computed by the broker
    BatchItem item;
    item.flag = r.i32();
    int32_t body_len = r.i32();
    if (!r.ok() || body_len < 0 || static_cast<size_t>(body_len) > r.remaining())
      return make_error(MessageError::kBadSize, "batch item body length");
    item.body = r.bytes(static_cast<size_t>(body_len));
    int16_t props_len = r.i16();
    if (!r.ok() || props_len < 0 || static_cast<size_t>(props_len) > r.remaining())
      return make_error(MessageError::kBadSize, "batch item properties length");
    item.properties = r.bytes(static_cast<size_t>(props_len));
    if (!r.ok() || total < 0 || static_cast<size_t>(total) != r.pos() - start)
      return make_error(MessageError::kBadSize,
                        "batch item total size " + std::to_string(total) + " != " +
                            std::to_string(r.pos() - start));
    items.push_back(item);
  }
  if (!r.ok()) return make_error(MessageError::kTruncated, "batch body cut");
  return items;
}

std::string encode_batch(const std::vector<BatchItem>& items) {
  std::string out;
  ByteWriter w(out);
  for (const auto& it : items) {
    w.i32(static_cast<int32_t>(20 + it.body.size() + 2 + it.properties.size()));
    w.u32(0);
    w.u32(0);
    w.i32(it.flag);
    w.i32(static_cast<int32_t>(it.body.size()));
    w.raw(it.body);
    w.u16(static_cast<uint16_t>(it.properties.size()));
    w.raw(it.properties);
  }
  return out;
}

std::string join_batch_properties(std::string_view item_properties,
                                  std::string_view batch_properties) {
  std::string s(item_properties);
  if (!s.empty() && !batch_properties.empty() && s.back() != kPropertySeparator)
    s.push_back(kPropertySeparator);
  s += batch_properties;
  return s;
}

}  // namespace mq
