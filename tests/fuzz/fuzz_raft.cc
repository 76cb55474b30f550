// libFuzzer target: Raft/DLedger peer messages and entries (raft/wire.h, raft/entry_codec.h,
// raft/types.h). The input is sections (fuzz_util.h): each is the body of one Raft request whose
// code is 52000 + (kind % 10), as the DLedger port receives them. Each body goes through
// decode_message; one that decodes must encode and decode back to the same message, and, when it
// is addressed as the glue accepts (to node 1 of group "g" from node 0 or 2), is stepped into a live
// follower (node 1 of voters {0, 1, 2}, with a short log) followed by ready()/advance(), as the glue
// does: wire.h promises that what decodes cannot break the core's invariants. Each body is also read
// as one DLedger entry (checked and legacy), a membership and a peer id.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "raft/entry_codec.h"
#include "raft/node.h"
#include "raft/wire.h"
#include "raft/disk_log.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using namespace mq::raft;

Node make_follower() {
  NodeConfig cfg;
  cfg.id = 1;
  cfg.bootstrap.voters = {0, 1, 2};
  cfg.seed = 7;
  PersistedState ps;
  ps.hard_state.term = mq::Term{2};
  ps.hard_state.vote = 0;
  ps.hard_state.commit = mq::RaftIndex{2};
  for (int64_t i = 1; i <= 3; ++i) {
    Entry e;
    e.index = mq::RaftIndex{i};
    e.term = mq::Term{i < 3 ? 1 : 2};
    e.data = "entry-" + std::to_string(i);
    ps.entries.push_back(e);
  }
  return Node(cfg, ps);
}

void pump(Node& n) {
  while (n.has_ready()) {
    Ready rd = n.ready();
    n.advance(rd);
  }
}

void use_bytes(std::string_view body) {
  for (bool legacy : {false, true}) {
    mq::ByteReader r(body);
    if (auto d = decode_entry(r, legacy)) {
      std::string out;
      mq::ByteWriter w(out);
      encode_entry(w, d->entry, d->pos, d->chain_crc);
      mq::ByteReader r2(out);
      auto again = decode_entry(r2, false);
      FUZZ_CHECK(again.has_value());
      FUZZ_CHECK(again->entry == d->entry);
    }
  }
  if (auto m = Membership::decode(body)) {
    auto again = Membership::decode(m->encode());
    FUZZ_CHECK(again.has_value());
    FUZZ_CHECK(*again == *m);
    (void)to_string(*m);
  }
  (void)parse_peer_id(body);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  Node node = make_follower();
  int stepped = 0;
  for (const auto& s : mq::fuzz::split_sections(in, 8)) {
    const int code = kRaftRequestCodeBase + s.kind % 10;
    use_bytes(s.bytes);
    auto d = decode_message(code, s.bytes);
    if (!d.ok()) continue;
    std::string enc = encode_message(d->group, d->message);
    auto again = decode_message(code, enc);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->group == d->group);
    FUZZ_CHECK(again->message == d->message);
    (void)describe(d->message);
    if (d->group != "g" || d->message.to != 1 || (d->message.from != 0 && d->message.from != 2)) continue;
    node.step(d->message);
    pump(node);
    if (++stepped % 2 == 0) {
      node.tick();
      pump(node);
    }
  }
  if (size > 0) {
    const int code = kRaftRequestCodeBase + data[0] % 10;
    (void)decode_message(code, in.substr(1));
    use_bytes(in.substr(1));
  }
  return 0;
}
