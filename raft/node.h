// The Raft core: a deterministic state machine with DLedger semantics, in the shape of etcd's
// RawNode. It performs no I/O, reads no clock, starts no thread and uses no global random: time is
// tick(), randomness is a splitmix64 generator seeded from NodeConfig::seed, and everything the
// outside world must do comes back from ready().
//
// Driving it (the broker glue, the simulator and the tests all do exactly this):
//
//   node.tick();                      // every tick (the glue picks the tick length, e.g. 100 ms)
//   node.step(message);               // for every message received from a peer
//   node.propose(bytes);              // client writes (leader only; errors are values)
//   while (node.has_ready()) {
//     Ready rd = node.ready();
//     1. persist: if rd.entries is not empty, first delete every stored entry with index >=
//        rd.entries.front().index (a conflicting suffix the leader overwrote), then append
//        rd.entries and fsync; only then, if rd.hard_state, replace the hard state atomically.
//        (Entries first: a hard state whose commit index points past what is stored, or at a
//        suffix about to be overwritten, must never survive a crash.)
//     2. send rd.messages (any order, any transport; loss, delay and duplication are tolerated).
//     3. apply rd.committed in order (skip empty kNormal entries: they are leaders' no-ops).
//     4. node.advance(rd);
//     5. for each rd.fetches: read the entries from the disk log, then node.fetched(peer, entries)
//        (now or later, like any other input).
//   }
//   persist_ready() and load_persisted() in disk_log.h do steps 1 and the restart for a DiskLog.
//
// The order matters: a vote or an append acknowledgement must never leave the node before the
// state it promises is durable (§5.2, §5.3), and the leader counts its own entries towards a quorum
// only once advance() tells it they are persisted. No tick/step/propose may happen between ready()
// and advance(): the glue buffers incoming messages while a persist is in flight, and feeds them all
// at once afterwards, which doubles as group commit.
//
// After a crash, construct the node again from what was persisted (PersistedState): the hard state,
// the stored entries, and how far the state machine had applied (0 if it is rebuilt from the log).
// Anything not persisted is simply gone; the protocol never relied on it.
//
// Memory: the core keeps the log in memory only from log_offset() + 1 on. The glue calls
// compact(index) once entries are applied (and durable) to release them; it may also restart the
// node from a suffix of its disk log (PersistedState::offset). When the leader must send a
// follower entries it no longer holds, the Ready carries a LogFetch: the glue reads those entries
// from its disk log (off the loop thread if it likes) and hands them back with fetched(), which
// sends them. Nothing else ever needs a compacted entry: everything at or below the commit index
// matches every leader's log (§5.4), so followers never look below it.
//
// Roles map onto DLedger's: kLeader -> LEADER, kFollower -> FOLLOWER, kPreCandidate and
// kCandidate -> CANDIDATE. A learner is a follower that does not vote.
#pragma once
#include <cstdint>
#include <deque>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "raft/message.h"
#include "raft/types.h"

namespace mq::raft {

struct NodeConfig {
  NodeId id = kNoNode;
  // The configuration before the first log entry. Every node of a group is started with the same
  // one; a node added later is started with it too and learns its own admission from the log.
  Membership bootstrap;
  // A follower campaigns after a random number of ticks in [election_ticks, 2 * election_ticks)
  // without hearing from a leader. DLedger's defaults (heartbeat 2 s, 3 missed heartbeats) are
  // election_ticks = 6 * heartbeat_ticks with a 1 s tick and heartbeat_ticks = 2.
  int election_ticks = 10;
  int heartbeat_ticks = 1;
  uint64_t seed = 1;
  bool pre_vote = true;
  // A leader that has not heard from a quorum within election_ticks steps down; followers that
  // heard from a leader within election_ticks ignore vote requests (the leader lease).
  bool check_quorum = true;
  // Per-follower pipeline: pushes in flight, entries and bytes per push.
  size_t max_inflight_pushes = 256;
  size_t max_push_entries = 64;
  size_t max_push_bytes = 1 << 20;
  // An unacknowledged push is re-sent after this many ticks (DLedger maxPushTimeOutMs).
  int push_retry_ticks = 3;
  // A leader tells an idle follower about a new commit index at once (true), or lets the next
  // push or heartbeat carry it (false: one message and one wake-up of each follower fewer per
  // commit under load, at the price of followers applying up to a heartbeat later).
  bool push_commit_on_advance = true;
  // DLedger maxPendingRequestsNum: a leader refuses proposals beyond this many uncommitted entries.
  size_t max_uncommitted_entries = 10000;
  // DLedger preferredLeaderId: the leader hands leadership to this voter whenever it is alive and
  // fewer than transfer_max_lag_entries behind; checked every preferred_check_ticks.
  NodeId preferred_leader = kNoNode;
  int preferred_check_ticks = 10;
  uint64_t transfer_max_lag_entries = 1000;
};

struct PersistedState {
  HardState hard_state;
  // Entries offset + 1, offset + 2, ... (contiguous). A node may start from a suffix of its disk
  // log: `offset` must then not exceed `applied`, `offset_term` is the term of entry `offset`,
  // and `base_membership` is the configuration in force at `offset` (the last membership entry at
  // or below it, with its index), if it differs from the bootstrap one.
  RaftIndex offset;
  Term offset_term;
  std::optional<std::pair<RaftIndex, Membership>> base_membership;
  std::vector<Entry> entries;
  RaftIndex applied;  // entries up to here are already in the state machine
};

// The leader needs entries prev..last (prev only for its term; prev may be 0, meaning none) that
// it compacted away, to send to `peer`. Answer with Node::fetched().
struct LogFetch {
  NodeId peer = kNoNode;
  RaftIndex prev;
  RaftIndex last;
};

enum class Role : uint8_t { kFollower, kPreCandidate, kCandidate, kLeader };
const char* to_string(Role r);

enum class ProposeError : uint8_t {
  kNotLeader,          // DLedger NOT_LEADER; leader() is a hint where to go
  kTransferring,       // DLedger LEADER_TRANSFERRING
  kPendingFull,        // DLedger LEADER_PENDING_FULL
  kMembershipPending,  // a membership change is not committed yet
  kLeaderNotReady,     // DLedger LEADER_NOT_READY: nothing committed in this term yet
  kNotCaughtUp,        // promotion refused: the learner lags
  kInvalidArgument,    // unknown node, duplicate member, removing the last voter...
};
const char* to_string(ProposeError e);

struct Ready {
  std::optional<HardState> hard_state;  // set when it changed since the last advance
  std::vector<Entry> entries;           // to persist (see the header comment)
  std::vector<Message> messages;        // to send once the above is durable
  std::vector<Entry> committed;         // to apply, consecutive
  std::vector<LogFetch> fetches;        // entries to read back from disk (see fetched())
  // Soft state at the time of ready(), for role-change reactions (DLedger role handler).
  Role role = Role::kFollower;
  NodeId leader = kNoNode;
};

class Node {
 public:
  Node(NodeConfig config, PersistedState persisted);
  explicit Node(NodeConfig config) : Node(std::move(config), PersistedState{}) {}

  void tick();
  // `m.to` must be this node: the glue drops messages for other nodes or other groups (DLedger's
  // remoteId / group checks) before stepping, and decodes them with wire.h, which refuses
  // malformed input the core would treat as a broken invariant.
  void step(const Message& m);
  Result<RaftIndex, ProposeError> propose(std::string data);
  // Appends the entries consecutively and returns the index of the last one.
  Result<RaftIndex, ProposeError> propose_batch(std::vector<std::string> data);
  Result<RaftIndex, ProposeError> propose_membership(MembershipChange change);
  // Hands leadership to `target` once it has every entry; proposals are refused meanwhile.
  // Abandoned after election_ticks if the target does not take over.
  Result<Unit, ProposeError> transfer_leadership(NodeId target);
  // Starts an election now (tests, and the glue's "take leadership" admin command).
  void campaign();
  // Releases in-memory entries up to `index` (clamped to what is applied and persisted).
  void compact(RaftIndex index);
  // Answers a LogFetch: `entries` are prev..last as stored (without prev when prev is 0). A stale
  // answer (the follower moved on, leadership changed) is ignored.
  void fetched(NodeId peer, std::vector<Entry> entries);

  bool has_ready() const;
  Ready ready();
  void advance(const Ready& rd);

  NodeId id() const { return id_; }
  Role role() const { return role_; }
  NodeId leader() const { return lead_; }
  Term term() const { return term_; }
  NodeId vote() const { return vote_; }
  RaftIndex commit_index() const { return commit_; }
  RaftIndex applied_index() const { return applied_; }
  RaftIndex last_index() const { return RaftIndex{offset_.value + static_cast<int64_t>(log_.size())}; }
  Term last_term() const { return term_at(last_index()); }
  // Entries at or below log_offset() are compacted; term_at() also answers for log_offset().
  RaftIndex log_offset() const { return offset_; }
  Term term_at(RaftIndex i) const;
  const Entry& entry(RaftIndex i) const;
  // The in-memory log, entries log_offset() + 1 .. last_index().
  const std::vector<Entry>& log() const { return log_; }
  const Membership& membership() const { return memberships_.back().second; }
  RaftIndex membership_index() const { return memberships_.back().first; }
  NodeId transferee() const { return lead_transferee_; }
  // Leader only: what the leader knows of a peer's log.
  std::optional<RaftIndex> match_of(NodeId peer) const;

 private:
  enum class ProgressState : uint8_t { kProbe, kReplicate };
  // The leader's view of one peer: DLedger's EntryDispatcher state, etcd's Progress.
  struct Progress {
    RaftIndex match;            // highest index known to be on the peer and matching
    RaftIndex next;             // next index to send
    ProgressState state = ProgressState::kProbe;
    bool probe_sent = false;    // probe: a compare is outstanding
    bool needs_truncate = true; // first push after a compare is a kTruncate
    std::deque<RaftIndex> inflight;  // replicate: last index of each unacked push
    bool recent_active = false;
    int stall_ticks = 0;        // ticks without progress while something is outstanding
    RaftIndex commit_sent;      // highest commit index sent to the peer
    bool fetching = false;      // a LogFetch for prev = next - 1 is outstanding
  };

  void become_follower(Term term, NodeId leader);
  void become_pre_candidate();
  void become_candidate();
  void become_leader();
  void start_campaign(bool pre_vote, bool transfer);
  void reset_election_timer();

  void tick_election();
  void tick_leader();

  void handle_vote_request(const Message& m);
  void handle_vote_response(const Message& m);
  void handle_push(const Message& m);
  void handle_heartbeat(const Message& m);
  void handle_push_response(const Message& m);
  void handle_heartbeat_response(const Message& m);

  void send(Message m);
  bool send_push(NodeId to);
  void send_entries(NodeId to, Progress& pr, RaftIndex prev, Term prev_term, std::vector<Entry> entries);
  void send_commit(NodeId to);
  void broadcast_heartbeat();
  void send_timeout_now(NodeId to);
  bool maybe_commit();
  void commit_to(RaftIndex index);
  void after_commit_advanced();
  bool quorum_active() const;

  void append_local(std::vector<Entry> entries);  // leader: stamp term/index, append, replicate
  Result<RaftIndex, ProposeError> check_can_propose(size_t count) const;
  void append_to_log(Entry e);
  void truncate_log_from(RaftIndex index);
  void on_membership_changed();
  bool is_up_to_date(RaftIndex last, Term last_term) const;
  bool matches(RaftIndex index, Term term) const;
  RaftIndex find_conflict_by_term(RaftIndex index, Term term) const;
  void abort_transfer();
  void check_preferred_leader();

  const NodeConfig cfg_;
  const NodeId id_;
  Random rng_;

  Role role_ = Role::kFollower;
  Term term_;
  NodeId vote_ = kNoNode;
  NodeId lead_ = kNoNode;

  std::vector<Entry> log_;       // entries offset_ + 1 ..
  RaftIndex offset_;
  Term offset_term_;
  std::vector<LogFetch> fetches_;
  RaftIndex commit_;
  RaftIndex applied_;
  RaftIndex unstable_from_{1};    // first index not yet handed out in a Ready
  RaftIndex persisted_last_;      // last index the glue has confirmed durable
  HardState prev_hard_state_;
  bool ready_outstanding_ = false;
  std::vector<Message> msgs_;

  // (index, membership) for the bootstrap configuration (index 0) and each kMembership entry in
  // the log; the last one is in force (a configuration takes effect when appended, §6).
  std::vector<std::pair<RaftIndex, Membership>> memberships_;

  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  int randomized_election_ticks_ = 0;
  std::map<NodeId, bool> votes_;
  std::map<NodeId, Progress> progress_;  // leader only; ordered for determinism
  RaftIndex pending_membership_index_;
  NodeId lead_transferee_ = kNoNode;
  int transfer_elapsed_ = 0;
  int preferred_elapsed_ = 0;
};

}  // namespace mq::raft
