// Wire encoding of Raft messages (raft/wire.h): round trips and a decoder that refuses anything
// malformed instead of handing the core input that would trip its invariant checks.
#include <doctest/doctest.h>

#include "base/clock.h"
#include "raft/entry_codec.h"
#include "raft/wire.h"

using namespace mq;
using namespace mq::raft;

namespace {
Message sample_push() {
  Message m;
  m.type = MessageType::kPush;
  m.push_type = PushType::kTruncate;
  m.from = 1;
  m.to = 2;
  m.term = Term{7};
  m.index = RaftIndex{10};
  m.log_term = Term{5};
  m.commit = RaftIndex{9};
  for (int i = 0; i < 3; ++i) {
    Entry e;
    e.index = RaftIndex{11 + i};
    e.term = Term{i == 0 ? 6 : 7};
    e.data = "body-" + std::to_string(i);
    m.entries.push_back(e);
  }
  Entry cfg;
  cfg.index = RaftIndex{14};
  cfg.term = Term{7};
  cfg.type = EntryType::kMembership;
  cfg.data = Membership{{1, 2, 3}, {4}}.encode();
  m.entries.push_back(cfg);
  return m;
}
}  // namespace

TEST_CASE("Wire: every message type round-trips with its group") {
  for (int t = 1; t <= 9; ++t) {
    Message m;
    m.type = static_cast<MessageType>(t);
    m.from = 3;
    m.to = 0;
    m.term = Term{42};
    m.index = RaftIndex{100};
    m.log_term = Term{41};
    m.commit = RaftIndex{99};
    m.reject = t % 2 == 0;
    m.transfer = t == 3;
    m.reject_hint = RaftIndex{50};
    m.hint_term = Term{40};
    auto bytes = encode_message("RaftNode00", m);
    auto d = decode_message(request_code(m.type), bytes);
    REQUIRE(d.ok());
    CHECK(d->group == "RaftNode00");
    CHECK(d->message == m);
  }
  Message p = sample_push();
  auto d = decode_message(52007, encode_message("g", p));
  REQUIRE(d.ok());
  CHECK(d->message == p);
}

TEST_CASE("Wire: entries use DLedger's entry layout") {
  Entry e;
  e.index = RaftIndex{1};
  e.term = Term{3};
  e.data = "abc";
  std::string out;
  ByteWriter w(out);
  encode_entry(w, e, 4096, 0);
  REQUIRE(out.size() == 48 + 3);
  const auto* b = reinterpret_cast<const uint8_t*>(out.data());
  CHECK(get_be32(b) == 1);                // magic
  CHECK(get_be32(b + 4) == 51);           // size
  CHECK(get_be64(b + 8) == 0);            // DLedger index = Raft index - 1
  CHECK(get_be64(b + 16) == 3);           // term
  CHECK(get_be64(b + kEntryPosOffset) == 4096);
  CHECK(get_be32(b + 40) == crc32("abc"));
  CHECK(get_be32(b + 44) == 3);
  CHECK(out.substr(48) == "abc");
}

TEST_CASE("Wire: malformed bodies are errors, never crashes") {
  const std::string good = encode_message("g", sample_push());
  // Every truncation is refused.
  for (size_t n = 0; n < good.size(); ++n) CHECK_FALSE(decode_message(52007, good.substr(0, n)).ok());
  // Trailing garbage, wrong code, bad version.
  CHECK_FALSE(decode_message(52007, good + "x").ok());
  CHECK_FALSE(decode_message(52005, good).ok());
  std::string v2 = good;
  v2[0] = 2;
  CHECK(decode_message(52007, v2).code() == WireError::kUnsupportedVersion);
  // A flipped body byte fails the body CRC.
  std::string flipped = good;
  flipped[flipped.size() - 20] ^= 0x40;
  CHECK_FALSE(decode_message(52007, flipped).ok());
  // Entries that do not follow (index, log_term) contiguously.
  Message gap = sample_push();
  gap.entries[1].index = RaftIndex{20};
  CHECK_FALSE(decode_message(52007, encode_message("g", gap)).ok());
  Message back = sample_push();
  back.entries[2].term = Term{4};
  CHECK_FALSE(decode_message(52007, encode_message("g", back)).ok());
  Message future = sample_push();
  future.entries[3].term = Term{8};
  CHECK_FALSE(decode_message(52007, encode_message("g", future)).ok());
  Message badcfg = sample_push();
  badcfg.entries[3].data = "\x01\xff";
  CHECK_FALSE(decode_message(52007, encode_message("g", badcfg)).ok());
  // An absurd entry count cannot make the decoder allocate.
  Message empty_push;
  empty_push.type = MessageType::kPush;
  empty_push.from = 1;
  empty_push.to = 2;
  empty_push.term = Term{1};
  std::string huge = encode_message("g", empty_push);
  huge[huge.size() - 1] = '\xff';
  huge[huge.size() - 2] = '\xff';
  CHECK_FALSE(decode_message(52007, huge).ok());
}

TEST_CASE("Wire: random bytes never crash the decoder (fuzz)") {
  Random rng(12345);
  const std::string good = encode_message("group", sample_push());
  for (int i = 0; i < 20000; ++i) {
    std::string b = good;
    const int flips = static_cast<int>(rng.uniform(1, 4));
    for (int f = 0; f < flips; ++f) b[static_cast<size_t>(rng.uniform(0, static_cast<int64_t>(b.size()) - 1))] = static_cast<char>(rng.next_u64());
    if (rng.chance(1, 4)) b.resize(static_cast<size_t>(rng.uniform(0, static_cast<int64_t>(b.size()))));
    auto d = decode_message(52000 + static_cast<int>(rng.uniform(1, 9)), b);
    if (d.ok()) CHECK(d->message.entries.size() <= 4);
  }
}
