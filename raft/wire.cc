#include "raft/wire.h"

#include "base/bytes.h"
#include "raft/entry_codec.h"

namespace mq::raft {

namespace {
constexpr uint8_t kVersion = 1;
constexpr uint8_t kFlagReject = 1;
constexpr uint8_t kFlagTransfer = 2;

Error<WireError> malformed(std::string why) { return make_error(WireError::kMalformed, std::move(why)); }
}  // namespace

std::string encode_message(std::string_view group, const Message& m) {
  MQ_CHECK(group.size() <= 0xFFFF, "group name too long");
  std::string out;
  size_t body = 0;
  for (const Entry& e : m.entries) body += kEntryHeaderSize + e.data.size();
  out.reserve(80 + group.size() + body);
  ByteWriter w(out);
  w.u8(kVersion);
  w.u8(static_cast<uint8_t>(m.type));
  w.u8(static_cast<uint8_t>(m.push_type));
  w.u8(static_cast<uint8_t>((m.reject ? kFlagReject : 0) | (m.transfer ? kFlagTransfer : 0)));
  w.u16(static_cast<uint16_t>(group.size()));
  w.raw(group);
  w.u32(m.from);
  w.u32(m.to);
  w.i64(m.term.value);
  w.i64(m.index.value);
  w.i64(m.log_term.value);
  w.i64(m.commit.value);
  w.i64(m.reject_hint.value);
  w.i64(m.hint_term.value);
  w.u32(static_cast<uint32_t>(m.entries.size()));
  for (const Entry& e : m.entries) encode_entry(w, e, -1, 0);
  return out;
}

Result<WireMessage, WireError> decode_message(int code, std::string_view body) {
  ByteReader r(body);
  const uint8_t version = r.u8();
  if (!r.ok()) return malformed("empty body");
  if (version != kVersion)
    return make_error(WireError::kUnsupportedVersion, "raft wire version " + std::to_string(version));
  const uint8_t type = r.u8();
  const uint8_t push_type = r.u8();
  const uint8_t flags = r.u8();
  if (type < static_cast<uint8_t>(MessageType::kPreVote) || type > static_cast<uint8_t>(MessageType::kTimeoutNow))
    return malformed("unknown message type " + std::to_string(type));
  if (code != kRaftRequestCodeBase + type) return malformed("request code does not match type");
  if (push_type > static_cast<uint8_t>(PushType::kTruncate)) return malformed("unknown push type");
  if (flags & ~(kFlagReject | kFlagTransfer)) return malformed("unknown flags");
  WireMessage out;
  Message& m = out.message;
  m.type = static_cast<MessageType>(type);
  m.push_type = static_cast<PushType>(push_type);
  m.reject = flags & kFlagReject;
  m.transfer = flags & kFlagTransfer;
  const uint16_t group_len = r.u16();
  out.group.assign(r.bytes(group_len));
  m.from = r.u32();
  m.to = r.u32();
  m.term = Term{r.i64()};
  m.index = RaftIndex{r.i64()};
  m.log_term = Term{r.i64()};
  m.commit = RaftIndex{r.i64()};
  m.reject_hint = RaftIndex{r.i64()};
  m.hint_term = Term{r.i64()};
  const uint32_t count = r.u32();
  if (!r.ok()) return malformed("truncated header");
  if (m.from == kNoNode || m.to == kNoNode || m.from == m.to) return malformed("bad node ids");
  if (m.term.value < 0 || m.index.value < 0 || m.log_term.value < 0 || m.commit.value < 0 ||
      m.reject_hint.value < 0 || m.hint_term.value < 0)
    return malformed("negative field");
  if (m.log_term > m.term || m.hint_term > m.term) return malformed("log term beyond message term");
  if (count > r.remaining() / kEntryHeaderSize) return malformed("entry count beyond body");
  if (count > 0 && m.type != MessageType::kPush) return malformed("entries on a non-push message");
  m.entries.reserve(count);
  Term prev_term = m.log_term;
  for (uint32_t i = 0; i < count; ++i) {
    auto d = decode_entry(r);
    if (!d) return malformed("bad entry " + std::to_string(i));
    Entry& e = d->entry;
    if (e.index.value != m.index.value + static_cast<int64_t>(i) + 1)
      return malformed("entries not contiguous");
    if (e.term < prev_term || e.term > m.term) return malformed("entry terms out of order");
    if (e.type == EntryType::kMembership && !Membership::decode(e.data))
      return malformed("bad membership entry");
    prev_term = e.term;
    m.entries.push_back(std::move(e));
  }
  if (!r.ok() || r.remaining() != 0) return malformed("trailing bytes");
  return out;
}

}  // namespace mq::raft
