// Raft messages as bytes, to travel as the body of a remoting frame (codec/: section 1 of the
// protocol reference) between the Raft ports of the brokers of one DLedger group.
//
// Request codes are our own; Java DLedger nodes cannot talk to us (DLedger sends fastjson bodies
// under 50000-51005). Every Raft message is its own oneway request: Raft responses are messages
// too, so the transport needs no opaque bookkeeping and never waits.
//
//   code   message                     DLedger counterpart
//   52001  RAFT_PRE_VOTE               -
//   52002  RAFT_PRE_VOTE_RESPONSE      -
//   52003  RAFT_VOTE                   VOTE (51001)
//   52004  RAFT_VOTE_RESPONSE          its response
//   52005  RAFT_HEART_BEAT             HEART_BEAT (51002)
//   52006  RAFT_HEART_BEAT_RESPONSE    its response
//   52007  RAFT_PUSH                   PUSH (51004): APPEND | COMMIT | COMPARE | TRUNCATE
//   52008  RAFT_PUSH_RESPONSE          its response
//   52009  RAFT_LEADERSHIP_TRANSFER    LEADERSHIP_TRANSFER (51005), leader -> transferee
// i.e. code = 52000 + MessageType.
//
// Body, big-endian:
//   u8  version (1)
//   u8  type (MessageType, must agree with the frame's code)
//   u8  push type (PushType; 0 for other messages)
//   u8  flags: bit 0 reject, bit 1 transfer; other bits must be 0
//   u16 group length, then the group name (DLedger's `group`, e.g. the brokerName)
//   u32 from, u32 to
//   i64 term, i64 index, i64 log_term, i64 commit, i64 reject_hint, i64 hint_term
//   u32 entry count, then each entry in DLedger's entry layout (entry_codec.h, pos = -1)
// Nothing may follow the last entry.
//
// decode() trusts nothing: lengths are bounds-checked, body CRCs verified, and a push whose entries
// are not contiguous after (index, log_term), whose terms go backwards or exceed the message term,
// or whose membership entry does not decode is refused here, because the core treats those as
// broken invariants (it would abort) rather than as input to validate.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"
#include "raft/message.h"

namespace mq::raft {

inline constexpr int kRaftRequestCodeBase = 52000;
inline int request_code(MessageType t) { return kRaftRequestCodeBase + static_cast<int>(t); }

enum class WireError : uint8_t { kMalformed, kUnsupportedVersion };

struct WireMessage {
  std::string group;
  Message message;
};

std::string encode_message(std::string_view group, const Message& m);
Result<WireMessage, WireError> decode_message(int request_code, std::string_view body);

}  // namespace mq::raft
