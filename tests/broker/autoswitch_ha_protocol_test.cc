// The AutoSwitch HA frames (broker/autoswitch_ha_protocol.h): byte-exact encodings against arrays
// built by hand from reference 6.1, both incremental readers fed at every split point and byte by
// byte, and everything a reader must refuse: unknown states, oversize or misaligned bodies,
// negative offsets, out-of-order epochs, a 1001-entry reply; plus random bytes (no crash, no
// out-of-bounds read under the sanitizer builds).
#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "broker/autoswitch_ha_protocol.h"

using namespace mq;
using namespace mq::ha::autoswitch;
using mq::store::EpochEntry;
using mq::store::kEpochOpenEnd;

namespace {

std::string bytes(std::initializer_list<int> v) {
  std::string out;
  for (int b : v) out.push_back(static_cast<char>(b));
  return out;
}

std::string be32(uint32_t v) {
  return bytes({int(v >> 24 & 0xff), int(v >> 16 & 0xff), int(v >> 8 & 0xff), int(v & 0xff)});
}
std::string be64(uint64_t v) { return be32(static_cast<uint32_t>(v >> 32)) + be32(static_cast<uint32_t>(v)); }

template <typename Reader>
auto drain(Reader& r) {
  std::vector<typename decltype(r.next())::value_type> out;
  while (auto f = r.next()) out.push_back(std::move(*f));
  return out;
}

// Feeds `stream` split at `cut`, draining after each part.
template <typename Reader, typename... Args>
auto read_split(const std::string& stream, size_t cut, Args... args) {
  Reader r(args...);
  r.feed(std::string_view(stream).substr(0, cut));
  auto out = drain(r);
  r.feed(std::string_view(stream).substr(cut));
  auto rest = drain(r);
  out.insert(out.end(), rest.begin(), rest.end());
  CHECK(r.error().empty());
  CHECK(r.buffered_bytes() == 0);
  return out;
}

template <typename Reader, typename... Args>
auto read_bytewise(const std::string& stream, Args... args) {
  Reader r(args...);
  std::vector<typename decltype(r.next())::value_type> out;
  for (char c : stream) {
    r.feed(std::string_view(&c, 1));
    auto got = drain(r);
    out.insert(out.end(), got.begin(), got.end());
  }
  CHECK(r.error().empty());
  return out;
}

std::string reply_header(int32_t body_size, int64_t max_offset, int32_t last_epoch) {
  return be32(1) + be32(static_cast<uint32_t>(body_size)) + be64(static_cast<uint64_t>(max_offset)) +
         be32(static_cast<uint32_t>(last_epoch));
}

std::string transfer_header(int32_t body_size, int64_t offset, int32_t epoch, int64_t start, int64_t confirm) {
  return be32(2) + be32(static_cast<uint32_t>(body_size)) + be64(static_cast<uint64_t>(offset)) +
         be32(static_cast<uint32_t>(epoch)) + be64(static_cast<uint64_t>(start)) + be64(static_cast<uint64_t>(confirm));
}

// Feeds a stream and returns the reader's error (empty if it decoded everything).
std::string slave_error(const std::string& stream, int32_t max_body = kDefaultMaxTransferBodyBytes) {
  SlaveSideReader r(max_body);
  r.feed(stream);
  drain(r);
  return r.error();
}

std::string master_error(const std::string& stream) {
  MasterSideReader r;
  r.feed(stream);
  drain(r);
  return r.error();
}

}  // namespace

TEST_CASE("autoswitch HA: slave frames are byte-exact") {
  CHECK(kSlaveHandshakeSize == 16);
  CHECK(kSlaveReportSize == 12);
  CHECK(encode_slave_handshake(SlaveHandshake{true, false, 5}) ==
        bytes({0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5}));
  CHECK(encode_slave_handshake(SlaveHandshake{false, true, 0x0102030405060708}) ==
        bytes({0, 0, 0, 1, 0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8}));
  CHECK(encode_slave_report(0x0102030405060708) == bytes({0, 0, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8}));
  CHECK(encode_slave_report(0) == bytes({0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0}));

  MasterSideReader r;
  r.feed(bytes({0, 0, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9}) + bytes({0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0x10, 0}));
  auto frames = drain(r);
  REQUIRE(frames.size() == 2);
  CHECK(std::get<SlaveHandshake>(frames[0]) == SlaveHandshake{true, true, 9});
  CHECK(std::get<SlaveReport>(frames[1]) == SlaveReport{4096});
}

TEST_CASE("autoswitch HA: handshake flags count only when exactly 1, as the Java master reads them") {
  MasterSideReader r;
  r.feed(bytes({0, 0, 0, 1, 0, 2, 0x01, 0x01, 0, 0, 0, 0, 0, 0, 0, 3}));
  auto f = r.next();
  REQUIRE(f);
  CHECK(std::get<SlaveHandshake>(*f) == SlaveHandshake{false, false, 3});
}

TEST_CASE("autoswitch HA: master frames are byte-exact") {
  CHECK(kHandshakeReplyHeaderSize == 20);
  CHECK(kTransferHeaderSize == 36);
  std::vector<EpochEntry> entries{{1, 0, 4096}, {2, 4096, kEpochOpenEnd}};
  std::string reply = encode_handshake_reply(8192, 2, entries);
  std::string expected = bytes({0, 0, 0, 1, 0, 0, 0, 24, 0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 0, 2}) +
                         bytes({0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}) +
                         bytes({0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0x10, 0});
  CHECK(reply == expected);
  CHECK(encode_handshake_reply(0, -1, {}) == bytes({0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}));

  std::string transfer = encode_transfer(0x1000, 3, 0x800, -1, "abc");
  CHECK(transfer == bytes({0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 8, 0,
                           0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 'a', 'b', 'c'}));
  std::string hb;
  append_transfer_header(hb, 0, 0x2000, 3, 0x800, 0x1fff);
  CHECK(hb == transfer_header(0, 0x2000, 3, 0x800, 0x1fff));
  CHECK(encode_transfer(0x2000, 3, 0x800, 0x1fff, "") == hb);

  SlaveSideReader r;
  r.feed(reply + transfer + hb);
  auto frames = drain(r);
  REQUIRE(frames.size() == 3);
  const auto& rep = std::get<HandshakeReply>(frames[0]);
  CHECK(rep.master_max_offset == 8192);
  CHECK(rep.master_last_epoch == 2);
  // Ends derived for the master's side of 6.4: the last one ends at the master's max offset.
  CHECK(rep.entries == std::vector<EpochEntry>{{1, 0, 4096}, {2, 4096, 8192}});
  CHECK(std::get<TransferFrame>(frames[1]) == TransferFrame{0x1000, 3, 0x800, -1, "abc"});
  CHECK(std::get<TransferFrame>(frames[2]) == TransferFrame{0x2000, 3, 0x800, 0x1fff, ""});
}

TEST_CASE("autoswitch HA: frames split at every byte boundary") {
  std::string slave_stream = encode_slave_handshake(SlaveHandshake{true, false, 7}) + encode_slave_report(0) +
                             encode_slave_report(123456789) + encode_slave_handshake(SlaveHandshake{false, true, 8});
  std::vector<SlaveFrame> want_slave{SlaveHandshake{true, false, 7}, SlaveReport{0}, SlaveReport{123456789},
                                     SlaveHandshake{false, true, 8}};
  for (size_t cut = 0; cut <= slave_stream.size(); ++cut)
    CHECK_MESSAGE(read_split<MasterSideReader>(slave_stream, cut) == want_slave, "cut at ", cut);
  CHECK(read_bytewise<MasterSideReader>(slave_stream) == want_slave);

  std::vector<EpochEntry> entries{{1, 0, 0}, {4, 100, 0}, {9, 5000, 0}};
  std::string master_stream = encode_handshake_reply(6000, 9, entries) + encode_transfer(5000, 9, 5000, 4000, "hello") +
                              encode_transfer(5005, 9, 5000, 5005, "") + encode_handshake_reply(0, -1, {}) +
                              encode_transfer(5005, 9, 5000, 5005, std::string(300, 'x'));
  std::vector<MasterFrame> want_master{
      HandshakeReply{6000, 9, {{1, 0, 100}, {4, 100, 5000}, {9, 5000, 6000}}},
      TransferFrame{5000, 9, 5000, 4000, "hello"},
      TransferFrame{5005, 9, 5000, 5005, ""},
      HandshakeReply{0, -1, {}},
      TransferFrame{5005, 9, 5000, 5005, std::string(300, 'x')},
  };
  for (size_t cut = 0; cut <= master_stream.size(); ++cut)
    CHECK_MESSAGE(read_split<SlaveSideReader>(master_stream, cut) == want_master, "cut at ", cut);
  CHECK(read_bytewise<SlaveSideReader>(master_stream) == want_master);
}

TEST_CASE("autoswitch HA: the master waits for the whole 16-byte handshake") {
  MasterSideReader r;
  std::string hs = encode_slave_handshake(SlaveHandshake{true, true, 42});
  r.feed(hs.substr(0, 12));  // the Java master would decode here, reading past what arrived
  CHECK(!r.next());
  CHECK(r.buffered_bytes() == 12);
  r.feed(hs.substr(12, 3));
  CHECK(!r.next());
  r.feed(hs.substr(15));
  auto f = r.next();
  REQUIRE(f);
  CHECK(std::get<SlaveHandshake>(*f).slave_broker_id == 42);
  CHECK(r.buffered_bytes() == 0);
}

TEST_CASE("autoswitch HA: unknown states are protocol errors") {
  for (uint32_t state : {0u, 3u, 4u, 5u, 0xffffffffu, 0x7fffffffu, 0x01000000u}) {
    std::string frame = be32(state) + std::string(32, '\0');
    CHECK_MESSAGE(!master_error(frame).empty(), state);
    CHECK_MESSAGE(!slave_error(frame).empty(), state);
  }
  // Detected as soon as the state is there, and nothing after it is decoded.
  MasterSideReader m;
  m.feed(be32(3));
  CHECK(!m.next());
  CHECK(m.error().find("state 3") != std::string::npos);
  m.feed(encode_slave_report(5));
  CHECK(!m.next());
  CHECK(m.buffered_bytes() == 0);

  SlaveSideReader s;
  s.feed(encode_transfer(0, 1, 0, 0, "ok") + be32(0) + encode_transfer(2, 1, 0, 0, "lost"));
  auto f = s.next();
  REQUIRE(f);
  CHECK(std::get<TransferFrame>(*f).body == "ok");
  CHECK(!s.next());
  CHECK(!s.error().empty());
  CHECK(!s.next());
}

TEST_CASE("autoswitch HA: transfer bodies are bounded") {
  CHECK(slave_error(transfer_header(1024, 0, 1, 0, 0) + std::string(1024, 'x'), 1024).empty());
  // Refused from the header alone, before the body is buffered.
  CHECK(!slave_error(transfer_header(1025, 0, 1, 0, 0), 1024).empty());
  CHECK(!slave_error(transfer_header(-1, 0, 1, 0, 0)).empty());
  CHECK(!slave_error(transfer_header(INT32_MIN, 0, 1, 0, 0)).empty());
  CHECK(!slave_error(transfer_header(kDefaultMaxTransferBodyBytes + 1, 0, 1, 0, 0)).empty());
  SlaveSideReader r;
  r.feed(transfer_header(kDefaultMaxTransferBodyBytes, 0, 1, 0, 0));
  CHECK(!r.next());  // legal size: waits for the body
  CHECK(r.error().empty());
}

TEST_CASE("autoswitch HA: negative offsets are refused") {
  CHECK(!slave_error(transfer_header(0, -1, 1, 0, 0)).empty());
  CHECK(!slave_error(transfer_header(0, 0, 1, -1, 0)).empty());
  CHECK(!slave_error(transfer_header(0, 0, -1, 0, 0)).empty());
  CHECK(!slave_error(transfer_header(0, 0, 1, 0, -2)).empty());
  CHECK(slave_error(transfer_header(0, 0, 1, 0, -1)).empty());  // a master that does not know it yet
  CHECK(!slave_error(reply_header(0, -1, -1)).empty());
  CHECK(!slave_error(reply_header(0, 0, -2)).empty());
  CHECK(!slave_error(reply_header(12, 100, 1) + be32(1) + be64(static_cast<uint64_t>(-5))).empty());
  CHECK(!slave_error(reply_header(12, 100, 1) + be32(static_cast<uint32_t>(-1)) + be64(0)).empty());
  CHECK(!master_error(encode_slave_report(-1)).empty());
  CHECK(!master_error(encode_slave_report(INT64_MIN)).empty());
}

TEST_CASE("autoswitch HA: handshake reply bodies are checked") {
  auto entries = [](int n) {
    std::string body;
    for (int i = 0; i < n; ++i) body += be32(static_cast<uint32_t>(i + 1)) + be64(static_cast<uint64_t>(i) * 100);
    return body;
  };
  // 1000 entries is the most a Java master can send.
  {
    SlaveSideReader r;
    r.feed(reply_header(12000, 100000, 1000) + entries(1000));
    auto f = r.next();
    REQUIRE(f);
    CHECK(std::get<HandshakeReply>(*f).entries.size() == 1000);
  }
  CHECK(!slave_error(reply_header(12012, 100000, 1001) + entries(1001)).empty());
  CHECK(!slave_error(reply_header(12012, 100000, 1001)).empty());  // refused before the body
  CHECK(!slave_error(reply_header(13, 100, 1) + entries(1) + "x").empty());  // not a multiple of 12
  CHECK(!slave_error(reply_header(6, 100, 1)).empty());
  CHECK(!slave_error(reply_header(-12, 100, 1)).empty());
  // Epochs and start offsets must ascend strictly, as both brokers' epoch files do.
  CHECK(!slave_error(reply_header(24, 100, 2) + be32(2) + be64(0) + be32(1) + be64(50)).empty());
  CHECK(!slave_error(reply_header(24, 100, 2) + be32(1) + be64(0) + be32(1) + be64(50)).empty());
  CHECK(!slave_error(reply_header(24, 100, 2) + be32(1) + be64(50) + be32(2) + be64(50)).empty());
  CHECK(slave_error(reply_header(24, 100, 2) + be32(1) + be64(0) + be32(2) + be64(50)).empty());
}

TEST_CASE("autoswitch HA: a reply is encoded with at most the newest 1000 entries") {
  std::vector<EpochEntry> many;
  for (int i = 0; i < 1001; ++i) many.push_back(EpochEntry{i + 1, int64_t{i} * 10, 0});
  std::string reply = encode_handshake_reply(20000, 1001, many);
  CHECK(reply.size() == kHandshakeReplyHeaderSize + 1000 * kEpochEntryWireSize);
  SlaveSideReader r;
  r.feed(reply);
  auto f = r.next();
  REQUIRE(f);
  const auto& rep = std::get<HandshakeReply>(*f);
  REQUIRE(rep.entries.size() == 1000);
  CHECK(rep.entries.front().epoch == 2);
  CHECK(rep.entries.back().epoch == 1001);
  CHECK(rep.master_last_epoch == 1001);
}

TEST_CASE("autoswitch HA: random bytes never crash a reader") {
  std::mt19937_64 rng(20250607);
  for (int round = 0; round < 2000; ++round) {
    std::string junk(rng() % 200, '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    // Half the rounds start with a valid state so the size checks get exercised.
    if (round % 2 && junk.size() >= 4) junk.replace(0, 4, be32(1 + static_cast<uint32_t>(rng() % 2)));
    SlaveSideReader s(4096);
    MasterSideReader m;
    size_t pos = 0;
    while (pos < junk.size()) {
      size_t n = 1 + rng() % 17;
      s.feed(std::string_view(junk).substr(pos, n));
      m.feed(std::string_view(junk).substr(pos, n));
      drain(s);
      drain(m);
      pos += n;
    }
    CHECK(s.buffered_bytes() <= junk.size());
    CHECK(m.buffered_bytes() <= junk.size());
  }
}
