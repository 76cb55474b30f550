// The messages Raft nodes exchange. This is the in-memory form; wire.h turns it into bytes.
//
// Names follow DLedger where DLedger has the concept:
//   kVote / kVoteResponse            DLedger VOTE (51001)
//   kPreVote / kPreVoteResponse      not in DLedger: a vote "rehearsal" that changes no term, so a
//                                    node rejoining from a partition cannot depose a healthy leader
//   kHeartbeat / kHeartbeatResponse  DLedger HEART_BEAT (51002); also carries the commit index
//   kPush / kPushResponse            DLedger PUSH (51004), with PushType:
//       kCompare   probe: "do you have (index, log_term)?"; no entries. Sent while the leader
//                  does not know where the follower's log matches its own.
//       kTruncate  first entries after a successful compare: the follower deletes its conflicting
//                  suffix (only entries whose term differs, never matching ones) and appends.
//       kAppend    pipelined stream of entries after (index, log_term).
//       kCommit    only the commit index, sent when a follower is idle and behind on it.
//   kTimeoutNow                      DLedger LEADERSHIP_TRANSFER (51005): the leader has caught
//                                    the target up and tells it to campaign at once.
//
// Every message carries the sender's term; a node seeing a higher term adopts it (§5.1).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "raft/types.h"

namespace mq::raft {

enum class MessageType : uint8_t {
  kPreVote = 1,
  kPreVoteResponse = 2,
  kVote = 3,
  kVoteResponse = 4,
  kHeartbeat = 5,
  kHeartbeatResponse = 6,
  kPush = 7,
  kPushResponse = 8,
  kTimeoutNow = 9,
};

enum class PushType : uint8_t { kAppend = 0, kCommit = 1, kCompare = 2, kTruncate = 3 };

struct Message {
  MessageType type = MessageType::kHeartbeat;
  NodeId from = kNoNode;
  NodeId to = kNoNode;
  Term term;
  PushType push_type = PushType::kAppend;
  // Vote requests: the candidate's last index and term. Pushes: the index and term of the entry
  // just before `entries` (the consistency check of §5.3). Push responses: on success the last
  // index now known to match the leader; on reject the `index` of the rejected push.
  // kTimeoutNow: the leader's last index.
  RaftIndex index;
  Term log_term;
  // Pushes and heartbeats: the leader's commit index (a follower caps it by what it has verified).
  RaftIndex commit;
  std::vector<Entry> entries;
  bool reject = false;
  // Rejected pushes: the follower's guess of the last index that may match (fast back-off).
  RaftIndex reject_hint;
  Term hint_term;
  // Vote requests sent because of a leadership transfer: voters skip the leader-lease check.
  bool transfer = false;

  bool operator==(const Message&) const = default;
};

const char* to_string(MessageType t);
const char* to_string(PushType t);
std::string describe(const Message& m);

}  // namespace mq::raft
