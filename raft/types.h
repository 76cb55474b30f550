// Value types shared by the Raft core, its wire encoding, its disk log and the simulator.
//
// Indexes are 1-based (RaftIndex 0 means "before the first entry", whose term is 0). DLedger
// numbers entries from 0; the disk log (disk_log.h) stores `raft index - 1` in its index field so
// its files keep DLedger's layout, and nothing above the disk log sees that shift.
//
// Node ids are small integers. The broker glue maps DLedger's textual peer ids ("n0", "n1", ...)
// onto them with the same rule DLedger brokers use (`parseInt(selfId.substring(1))`), so "n0" is 0.
// kNoNode marks "no vote" and "no known leader".
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/ids.h"

namespace mq::raft {

using NodeId = uint32_t;
inline constexpr NodeId kNoNode = 0xFFFFFFFFu;

inline RaftIndex next_index(RaftIndex i) { return RaftIndex{i.value + 1}; }
inline RaftIndex prev_index(RaftIndex i) { return RaftIndex{i.value - 1}; }

enum class EntryType : uint8_t {
  // Opaque client data (for a DLedger broker: one CommitLog message record). An empty normal
  // entry is the no-op a new leader appends to commit entries of earlier terms (§5.4.2); the
  // state machine skips it.
  kNormal = 0,
  // A Membership (encoded below): the configuration in force from this entry on.
  kMembership = 1,
};

struct Entry {
  Term term;
  RaftIndex index;
  EntryType type = EntryType::kNormal;
  std::string data;

  bool operator==(const Entry&) const = default;
};

// What must be on stable storage before any message of the same Ready is sent. `commit` is not
// needed for safety (it can always be relearned from the leader) but lets a restarted node apply
// what it already knew to be committed without waiting for a leader.
struct HardState {
  Term term;
  NodeId vote = kNoNode;
  RaftIndex commit;

  bool operator==(const HardState&) const = default;
};

// A group configuration. Voters elect and form quorums; learners receive the log but neither vote
// nor count, which is how a new member catches up before it can affect availability (§6, and the
// dissertation's §4.2.1). Both lists are kept sorted and disjoint.
struct Membership {
  std::vector<NodeId> voters;
  std::vector<NodeId> learners;
  // Where members listen (host:port of their Raft port), when the glue keeps addresses in the log
  // (a DLedger broker does, so that a member added at run time is reachable by every later
  // leader); the core never reads them. Only members have entries (normalize() drops others).
  std::map<NodeId, std::string> addresses{};

  bool is_voter(NodeId id) const;
  bool is_learner(NodeId id) const;
  bool contains(NodeId id) const { return is_voter(id) || is_learner(id); }
  size_t quorum() const { return voters.size() / 2 + 1; }
  // Every member, voters first, each list ascending.
  std::vector<NodeId> members() const;
  void normalize();

  // Encoding carried in a kMembership entry: u8 version | u32 nvoters | u32 ids... |
  // u32 nlearners | u32 ids..., then with version 2 (written only when there are addresses):
  // u32 naddresses | (u32 id | u16 length | bytes)...
  std::string encode() const;
  static std::optional<Membership> decode(std::string_view bytes);

  bool operator==(const Membership&) const = default;
};

// One change at a time (single-server membership change, dissertation §4.1): any two consecutive
// configurations then share a majority, so no joint consensus is needed.
enum class MembershipChangeType : uint8_t {
  kAddLearner = 1,  // new node, receives the log, does not vote
  kPromote = 2,     // learner -> voter; refused until the learner has caught up
  kRemove = 3,      // voter or learner leaves
};

struct MembershipChange {
  MembershipChangeType type;
  NodeId node;
  std::string address{};  // kAddLearner: where the new member listens (kept in Membership::addresses)
};

std::string to_string(const Membership& m);

}  // namespace mq::raft
