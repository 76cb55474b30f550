// One Raft entry in DLedger's entry layout (DLedgerEntry / DLedgerEntryCoder), used both in the
// data files of the disk log (disk_log.h) and inside PUSH messages on the wire (wire.h).
//
//   offset size field
//        0    4 magic       1 (MAGIC_1); a data file uses -1 (BLANK) to pad its end
//        4    4 size        48 + body length: the whole entry
//        8    8 index       DLedger index = Raft index - 1 (DLedger counts from 0, we from 1)
//       16    8 term
//       24    8 pos         global byte position of the entry in the data files; -1 on the wire
//       32    4 channel     DLedger reserves it (0); we store the EntryType (0 normal, 1 membership)
//       36    4 chainCrc    CRC-32 over (previous entry's chainCrc | index | term | bodyCrc): ties
//                           each entry to its predecessor so a stale entry left after a truncation
//                           can never pass as the continuation of a rewritten log; 0 on the wire
//       40    4 bodyCrc     CRC-32 of the body; we always fill it
//       44    4 bodyLength
//       48    n body
// All integers big-endian, as Java's ByteBuffer writes them. DLedger (0.2.6 in RocketMQ 4.9.4,
// 0.3.1.2 too) writes chainCrc = bodyCrc = 0: only the disk log accepts such a "legacy" entry
// unchecked (decode_entry's accept_unchecked); the wire refuses it unless its body is empty.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/hash.h"
#include "raft/types.h"

namespace mq::raft {

inline constexpr int32_t kEntryMagic = 1;
inline constexpr int32_t kBlankMagic = -1;
inline constexpr size_t kEntryHeaderSize = 48;  // DLedger BODY_OFFSET
inline constexpr size_t kEntryPosOffset = 24;   // DLedger POS_OFFSET
// The largest DLedger index an entry may carry: the disk log's index unit of entry n sits at byte
// n * 32, which must not overflow (a damaged data file or a hostile peer can claim any index).
inline constexpr int64_t kMaxDLedgerIndex = int64_t{1} << 57;

inline uint32_t entry_body_crc(std::string_view body) { return crc32(body); }

inline uint32_t entry_chain_crc(uint32_t prev_chain, int64_t dledger_index, int64_t term,
                                uint32_t body_crc) {
  uint8_t b[24];
  put_be32(b, prev_chain);
  put_be64(b + 4, static_cast<uint64_t>(dledger_index));
  put_be64(b + 12, static_cast<uint64_t>(term));
  put_be32(b + 20, body_crc);
  return crc32(b, sizeof b);
}

inline void encode_entry_header(ByteWriter& w, const Entry& e, int64_t pos, uint32_t chain_crc,
                                uint32_t body_crc) {
  w.i32(kEntryMagic);
  w.i32(static_cast<int32_t>(kEntryHeaderSize + e.data.size()));
  w.i64(e.index.value - 1);
  w.i64(e.term.value);
  w.i64(pos);
  w.i32(static_cast<int32_t>(e.type));
  w.u32(chain_crc);
  w.u32(body_crc);
  w.i32(static_cast<int32_t>(e.data.size()));
}

inline void encode_entry(ByteWriter& w, const Entry& e, int64_t pos, uint32_t chain_crc) {
  encode_entry_header(w, e, pos, chain_crc, entry_body_crc(e.data));
  w.raw(e.data);
}

// Fills in bodyCrc and chainCrc of an encoded entry (header and body at `entry`), for a body
// patched after encoding; returns the chainCrc.
inline uint32_t seal_entry(char* entry, uint32_t prev_chain) {
  auto* p = reinterpret_cast<uint8_t*>(entry);
  const uint32_t body_crc = crc32(p + kEntryHeaderSize, get_be32(p + 44));
  const uint32_t chain = entry_chain_crc(prev_chain, static_cast<int64_t>(get_be64(p + 8)),
                                         static_cast<int64_t>(get_be64(p + 16)), body_crc);
  put_be32(p + 36, chain);
  put_be32(p + 40, body_crc);
  return chain;
}

struct DecodedEntry {
  Entry entry;
  int64_t pos = 0;
  uint32_t chain_crc = 0;
  uint32_t body_crc = 0;
  bool unchecked = false;  // a legacy entry (both CRCs 0) taken without checking its body
};

// Decodes one entry at the reader's cursor, checking magic, sizes, field ranges and the body CRC
// (skipped for a legacy entry when `accept_unchecked`). nullopt (reader position then unspecified)
// on any inconsistency: callers treat it as the end of valid data (disk) or a malformed message
// (wire).
inline std::optional<DecodedEntry> decode_entry(ByteReader& r, bool accept_unchecked = false) {
  DecodedEntry d;
  if (r.i32() != kEntryMagic) return std::nullopt;
  const int32_t size = r.i32();
  const int64_t index = r.i64();
  const int64_t term = r.i64();
  d.pos = r.i64();
  const int32_t channel = r.i32();
  d.chain_crc = r.u32();
  d.body_crc = r.u32();
  const int32_t body_len = r.i32();
  if (!r.ok() || body_len < 0 || static_cast<int64_t>(size) != static_cast<int64_t>(kEntryHeaderSize) + body_len ||
      index < 0 || index > kMaxDLedgerIndex || term < 0 || (channel != 0 && channel != 1))
    return std::nullopt;
  std::string_view body = r.bytes(static_cast<size_t>(body_len));
  d.unchecked = accept_unchecked && d.chain_crc == 0 && d.body_crc == 0;
  if (!r.ok() || (!d.unchecked && entry_body_crc(body) != d.body_crc)) return std::nullopt;
  d.entry.index = RaftIndex{index + 1};
  d.entry.term = Term{term};
  d.entry.type = static_cast<EntryType>(channel);
  d.entry.data.assign(body);
  return d;
}

}  // namespace mq::raft
