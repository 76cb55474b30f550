// Deterministic simulation of a Raft group in one process: the evidence that the core is safe.
//
// A Cluster owns N nodes, each with a simulated stable storage (hard state + log, exactly what the
// node asked to persist) and a volatile state machine. Time is a tick counter. The network holds
// every message with a delivery tick; it can delay (reordering follows), drop, duplicate, and cut
// directed links (symmetric, asymmetric and "leader isolated" partitions are just sets of cut
// links). A crash destroys the Node object and its state machine; a crash in the middle of a
// Ready persists only part of it (hard state or not, a prefix of the entries: a torn write) and
// sends none of its messages. A restart rebuilds the node from its stable storage alone, in
// some seeds from a suffix of it (as if the state machine kept a snapshot); in those seeds nodes
// also release applied entries from memory, so leaders serve lagging followers through LogFetch
// answered from stable storage.
//
// After every step (a tick, a delivered message, a proposal, each followed by the full
// persist/send/apply/advance cycle) the checker verifies:
//   election safety     at most one leader per term, ever;
//   log matching        two logs with an entry of the same index and term are identical up to it
//                       (checked through a hash chain over every log);
//   commit durability   a committed entry is never changed: every node's committed prefix equals
//                       the global committed prefix, no payload is committed twice, and a new
//                       leader holds every entry committed in earlier terms (leader completeness);
//   state machines      every node applies the same sequence, contiguously;
//   commit monotonic    a node's commit index never decreases while it lives, and a restart
//                       starts from at least what the last complete Ready made durable.
// run_simulation() adds random faults for a while, then heals everything and requires a leader
// and a fresh committed proposal, applied by every member, within a bounded number of ticks.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "raft/node.h"

namespace mq::raft::sim {

struct NetworkOptions {
  int max_delay_ticks = 0;     // uniform in [0, max]; 0 delivers within the same tick
  uint32_t drop_per_mille = 0;
  uint32_t duplicate_per_mille = 0;
};

class Cluster {
 public:
  // Nodes 0..voters-1 form the bootstrap configuration; nodes voters..voters+spares-1 run with it
  // too but are not members until added. `base` supplies timing and pipeline settings.
  Cluster(int voters, int spares, NodeConfig base, uint64_t seed);

  int size() const { return static_cast<int>(nodes_.size()); }
  Node* node(NodeId id) { return nodes_.at(id).node.get(); }
  bool is_up(NodeId id) const { return nodes_.at(id).node != nullptr; }
  int64_t now() const { return now_; }
  NetworkOptions& network() { return net_; }
  void set_verbose(bool v) { verbose_ = v; }
  // Nodes keep only the last `keep` applied entries in memory (compact()), and restarts may start
  // from a suffix of the stable log; -1 (the default) keeps everything.
  void set_compaction(int64_t keep) { compact_keep_ = keep; }

  // One tick: every live node ticks, then every message due by now is delivered.
  void tick();
  void tick_node(NodeId id);
  // Delivers due messages (in a seeded random order among equals) until none is due.
  void deliver_due();
  // Ticks until `pred` holds or `max_ticks` pass; returns whether it held.
  bool run_until(const std::function<bool()>& pred, int max_ticks);
  // Zero-delay, lossless delivery until quiet (for scripted tests).
  void stabilize();

  Result<RaftIndex, ProposeError> propose(NodeId id, std::string data);
  Result<RaftIndex, ProposeError> propose_batch(NodeId id, std::vector<std::string> data);
  Result<RaftIndex, ProposeError> propose_membership(NodeId id, MembershipChange c);
  Result<Unit, ProposeError> transfer(NodeId id, NodeId target);
  void campaign(NodeId id);

  void cut(NodeId from, NodeId to) { cut_.insert({from, to}); }
  void isolate(NodeId id);
  void heal() { cut_.clear(); }
  bool is_cut(NodeId from, NodeId to) const { return cut_.count({from, to}) != 0; }
  // Scripted tests: messages for which `f` returns true are dropped when sent.
  void set_drop_filter(std::function<bool(const Message&)> f) { drop_filter_ = std::move(f); }
  void crash(NodeId id, bool mid_ready = false);
  void restart(NodeId id);

  // The live leader of the highest term, if any.
  std::optional<NodeId> leader() const;
  size_t in_flight() const { return queue_.size(); }
  RaftIndex max_commit() const { return RaftIndex{static_cast<int64_t>(committed_chain_.size()) - 1}; }
  // Entries applied by node `id` in this life (index, payload), for tests.
  const std::vector<std::string>& applied(NodeId id) const { return nodes_.at(id).applied; }

  // First invariant violation seen (checks run after every step), empty if none.
  const std::string& violation() const { return violation_; }
  bool ok() const { return violation_.empty(); }

  struct Stats {
    uint64_t messages_delivered = 0;
    uint64_t messages_dropped = 0;
    uint64_t leaders_elected = 0;
    uint64_t crashes = 0;
    uint64_t membership_changes = 0;
    uint64_t fetches = 0;  // LogFetch answered from stable storage
  };
  const Stats& stats() const { return stats_; }

 private:
  struct SimNode {
    std::unique_ptr<Node> node;
    HardState hard_state;          // stable
    std::vector<Entry> stable_log; // stable
    RaftIndex durable_commit;      // commit of the last Ready that was persisted in full
    std::vector<uint64_t> chain;   // chain[i] = hash of the node's in-memory log up to i
    RaftIndex last_commit;         // commit seen in this life
    Role last_role = Role::kFollower;
    Term last_term;
    std::vector<std::string> applied;  // payloads, index = position + 1 (life-local)
    uint64_t sm_hash = 0;
    int lives = 0;
  };
  struct InFlight {
    int64_t deliver_at;
    uint64_t order;  // random tie-break: reordering among messages due at the same tick
    Message m;
  };
  struct Key {
    int64_t at;
    uint64_t order;
    uint64_t seq;
    bool operator<(const Key& o) const {
      if (at != o.at) return at < o.at;
      if (order != o.order) return order < o.order;
      return seq < o.seq;
    }
  };

  void process_ready(NodeId id);
  void enqueue(Message m);
  void fail(const std::string& what);
  void check_node(NodeId id);
  void log(const std::string& s) const;

  NodeConfig base_;
  uint64_t seed_;
  Random rng_;
  int64_t now_ = 0;
  uint64_t seq_ = 0;
  NetworkOptions net_;
  bool verbose_ = false;
  int64_t compact_keep_ = -1;
  std::vector<SimNode> nodes_;
  std::map<Key, Message> queue_;
  std::set<std::pair<NodeId, NodeId>> cut_;
  std::function<bool(const Message&)> drop_filter_;

  std::string violation_;
  std::map<int64_t, NodeId> leader_of_term_;
  // Global committed prefix: chain hash, state-machine hash and the term in which each index was
  // first known committed (non-decreasing), index 0 = empty log.
  std::vector<uint64_t> committed_chain_{0};
  std::vector<uint64_t> committed_sm_{0};
  std::vector<int64_t> commit_term_{0};
  std::unordered_map<std::string, int64_t> payload_index_;
  // Log matching: (index, term) -> chain hash.
  std::unordered_map<uint64_t, uint64_t> chain_by_index_term_;
  Stats stats_;
};

struct SimOptions {
  uint64_t seed = 1;
  int voters = 0;        // 0: 3 or 5, chosen from the seed
  int chaos_ticks = 0;   // 0: chosen from the seed in [200, 600]
  int liveness_bound_ticks = 400;
  bool verbose = false;
};

struct SimResult {
  bool ok = true;
  std::string violation;
  int voters = 0;
  int64_t ticks = 0;
  int64_t committed = 0;
  Cluster::Stats stats;
};

// One seed: from it are drawn 3 or 5 voters (+1 spare node), heartbeat 1 or 2 ticks (election 10),
// pre-vote on in 80% of seeds, pipeline window and batch size, a preferred leader in 25%, network
// delay 0-3 ticks, loss 0-10%, duplication 0-5%, a crash rate of 0-2% per node and tick (half of
// them in the middle of a Ready), partitions (random sides, leader isolated, random directed
// links, leader send-only or receive-only, healed) at 0-3% per tick, leadership transfers at 1%
// per tick, membership changes at 2% per tick in half of the seeds, compaction in three quarters,
// and a client proposing single entries or batches at 60% of ticks. After 200-600 such ticks
// everything heals and the liveness bound starts.
SimResult run_simulation(const SimOptions& options);

}  // namespace mq::raft::sim
