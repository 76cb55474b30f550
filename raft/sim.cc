#include "raft/sim.h"

#include <algorithm>
#include <cstdio>

#include "base/check.h"

namespace mq::raft::sim {

namespace {

uint64_t mix(uint64_t z) {
  z += 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint64_t hash_bytes(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return mix(h ^ s.size());
}

uint64_t chain_step(uint64_t prev, const Entry& e) {
  return mix(prev ^ mix(static_cast<uint64_t>(e.term.value) * 31 + static_cast<uint64_t>(e.type)) ^
             hash_bytes(e.data));
}

uint64_t sm_step(uint64_t prev, const Entry& e) {
  return mix(prev * 3 + hash_bytes(e.data) + static_cast<uint64_t>(e.type));
}

uint64_t index_term_key(RaftIndex i, Term t) {
  MQ_CHECK(t.value < (int64_t{1} << 24), "sim term too large");
  return (static_cast<uint64_t>(i.value) << 24) | static_cast<uint64_t>(t.value);
}

}  // namespace

Cluster::Cluster(int voters, int spares, NodeConfig base, uint64_t seed)
    : base_(std::move(base)), seed_(seed), rng_(mix(seed) ^ 0x5151) {
  base_.bootstrap = Membership{};
  for (int i = 0; i < voters; ++i) base_.bootstrap.voters.push_back(static_cast<NodeId>(i));
  nodes_.resize(static_cast<size_t>(voters + spares));
  for (int i = 0; i < voters + spares; ++i) restart(static_cast<NodeId>(i));
}

void Cluster::log(const std::string& s) const {
  if (verbose_) std::printf("[t=%lld] %s\n", static_cast<long long>(now_), s.c_str());
}

void Cluster::fail(const std::string& what) {
  if (violation_.empty()) {
    violation_ = "t=" + std::to_string(now_) + ": " + what;
    log("VIOLATION " + what);
  }
}

void Cluster::restart(NodeId id) {
  SimNode& s = nodes_.at(id);
  if (s.node) return;
  NodeConfig cfg = base_;
  cfg.id = id;
  cfg.seed = mix(seed_ * 1000003 + id * 7919 + static_cast<uint64_t>(s.lives));
  PersistedState ps;
  ps.hard_state = s.hard_state;
  // Sometimes start from a suffix of the stable log, as if the state machine had kept a snapshot
  // of everything up to `offset` (a broker's CommitLog does).
  int64_t offset = 0;
  const int64_t durable = std::min<int64_t>(s.hard_state.commit.value, static_cast<int64_t>(s.stable_log.size()));
  if (compact_keep_ >= 0 && durable > 0 && rng_.chance(1, 2)) offset = rng_.uniform(0, durable);
  ps.offset = RaftIndex{offset};
  if (offset > 0) {
    ps.offset_term = s.stable_log[static_cast<size_t>(offset - 1)].term;
    for (int64_t i = offset; i >= 1; --i) {
      const Entry& e = s.stable_log[static_cast<size_t>(i - 1)];
      if (e.type == EntryType::kMembership) {
        ps.base_membership = std::make_pair(e.index, *Membership::decode(e.data));
        break;
      }
    }
  }
  ps.entries.assign(s.stable_log.begin() + offset, s.stable_log.end());
  ps.applied = RaftIndex{offset};
  s.node = std::make_unique<Node>(cfg, std::move(ps));
  ++s.lives;
  s.applied.assign(static_cast<size_t>(offset), std::string());
  s.sm_hash = committed_sm_.at(static_cast<size_t>(offset));
  s.last_role = Role::kFollower;
  s.last_term = s.node->term();
  // The log is now exactly the stable log; rebuild its hash chain.
  s.chain.assign(1, 0);
  for (const Entry& e : s.stable_log) s.chain.push_back(chain_step(s.chain.back(), e));
  if (s.node->commit_index() < s.durable_commit)
    fail("node " + std::to_string(id) + " restarted with commit " +
         std::to_string(s.node->commit_index().value) + " below durable " +
         std::to_string(s.durable_commit.value));
  s.last_commit = s.node->commit_index();
  log("restart node " + std::to_string(id) + " term " + std::to_string(s.node->term().value) +
      " last " + std::to_string(s.node->last_index().value) + " commit " +
      std::to_string(s.last_commit.value));
  check_node(id);
}

void Cluster::crash(NodeId id, bool mid_ready) {
  SimNode& s = nodes_.at(id);
  if (!s.node) return;
  ++stats_.crashes;
  if (mid_ready && s.node->has_ready()) {
    // The process dies while persisting: a prefix of the entries reached the disk (a torn batch),
    // the hard state only if every entry did (it is written last), and no message left.
    Ready rd = s.node->ready();
    size_t keep = rd.entries.empty() ? 0 : static_cast<size_t>(rng_.uniform(0, static_cast<int64_t>(rd.entries.size())));
    if (keep > 0 || (!rd.entries.empty() && rng_.chance(1, 2))) {
      s.stable_log.resize(static_cast<size_t>(rd.entries.front().index.value - 1));
      s.stable_log.insert(s.stable_log.end(), rd.entries.begin(), rd.entries.begin() + static_cast<long>(keep));
    }
    if (rd.hard_state && keep == rd.entries.size() && rng_.chance(1, 2)) s.hard_state = *rd.hard_state;
    log("crash node " + std::to_string(id) + " mid-ready, kept " + std::to_string(keep) + "/" +
        std::to_string(rd.entries.size()) + " entries");
  } else {
    log("crash node " + std::to_string(id));
  }
  s.node.reset();
}

void Cluster::isolate(NodeId id) {
  for (int j = 0; j < size(); ++j) {
    if (static_cast<NodeId>(j) == id) continue;
    cut(id, static_cast<NodeId>(j));
    cut(static_cast<NodeId>(j), id);
  }
}

void Cluster::enqueue(Message m) {
  if (is_cut(m.from, m.to) || (drop_filter_ && drop_filter_(m)) || (net_.drop_per_mille && rng_.chance(net_.drop_per_mille, 1000))) {
    ++stats_.messages_dropped;
    return;
  }
  int copies = 1;
  if (net_.duplicate_per_mille && rng_.chance(net_.duplicate_per_mille, 1000)) copies = 2;
  for (int c = 0; c < copies; ++c) {
    int64_t delay = net_.max_delay_ticks ? rng_.uniform(0, net_.max_delay_ticks) : 0;
    Key k{now_ + delay, rng_.next_u64(), seq_++};
    if (c + 1 < copies) {
      queue_.emplace(k, m);
    } else {
      queue_.emplace(k, std::move(m));
    }
  }
}

void Cluster::process_ready(NodeId id) {
  SimNode& s = nodes_.at(id);
  Node& n = *s.node;
  while (n.has_ready() && violation_.empty()) {
    Ready rd = n.ready();
    // 1. persist: entries first, then the hard state.
    if (!rd.entries.empty()) {
      const RaftIndex first = rd.entries.front().index;
      if (first <= s.last_commit)
        fail("node " + std::to_string(id) + " rewrites committed index " + std::to_string(first.value));
      s.stable_log.resize(static_cast<size_t>(first.value - 1));
      s.stable_log.insert(s.stable_log.end(), rd.entries.begin(), rd.entries.end());
      s.chain.resize(static_cast<size_t>(first.value));
      for (const Entry& e : rd.entries) {
        uint64_t h = chain_step(s.chain.back(), e);
        s.chain.push_back(h);
        auto [it, inserted] = chain_by_index_term_.emplace(index_term_key(e.index, e.term), h);
        if (!inserted && it->second != h)
          fail("log matching: node " + std::to_string(id) + " index " + std::to_string(e.index.value) +
               " term " + std::to_string(e.term.value) + " differs from another log");
      }
    }
    if (rd.hard_state) s.hard_state = *rd.hard_state;
    s.durable_commit = s.hard_state.commit;
    if (static_cast<int64_t>(s.chain.size()) - 1 != n.last_index().value)
      fail("node " + std::to_string(id) + " Ready does not account for its log");
    check_node(id);
    // 2. send.
    for (Message& m : rd.messages) {
      if (verbose_) log("send " + describe(m));
      enqueue(std::move(m));
    }
    // 3. apply.
    for (const Entry& e : rd.committed) {
      if (e.index.value != static_cast<int64_t>(s.applied.size()) + 1) {
        fail("node " + std::to_string(id) + " applies index " + std::to_string(e.index.value) +
             " out of order");
        break;
      }
      s.sm_hash = sm_step(s.sm_hash, e);
      s.applied.push_back(e.data);
      if (static_cast<size_t>(e.index.value) >= committed_sm_.size()) {
        fail("node " + std::to_string(id) + " applies uncommitted index " + std::to_string(e.index.value));
      } else if (committed_sm_[static_cast<size_t>(e.index.value)] != s.sm_hash) {
        fail("state machine: node " + std::to_string(id) + " applied a different sequence at " +
             std::to_string(e.index.value));
      }
    }
    // 4. advance.
    n.advance(rd);
    check_node(id);
    // Entries the leader compacted are read back from stable storage.
    for (const LogFetch& f : rd.fetches) {
      std::vector<Entry> got;
      for (int64_t i = std::max<int64_t>(f.prev.value, 1); i <= f.last.value; ++i) {
        if (i > static_cast<int64_t>(s.stable_log.size())) {
          fail("node " + std::to_string(id) + " fetches unpersisted index " + std::to_string(i));
          return;
        }
        got.push_back(s.stable_log[static_cast<size_t>(i - 1)]);
      }
      ++stats_.fetches;
      n.fetched(f.peer, std::move(got));
    }
    if (compact_keep_ >= 0) n.compact(RaftIndex{n.applied_index().value - compact_keep_});
  }
}

void Cluster::check_node(NodeId id) {
  SimNode& s = nodes_.at(id);
  const Node& n = *s.node;
  const std::string who = "node " + std::to_string(id);
  // Commit monotonic within a life.
  if (n.commit_index() < s.last_commit) fail(who + " commit index decreased");
  s.last_commit = n.commit_index();
  if (n.term() < s.last_term) fail(who + " term decreased");
  // Election safety.
  if (n.role() == Role::kLeader) {
    auto [it, inserted] = leader_of_term_.emplace(n.term().value, id);
    if (!inserted && it->second != id)
      fail("two leaders in term " + std::to_string(n.term().value) + ": " +
           std::to_string(it->second) + " and " + std::to_string(id));
    if (inserted) {
      ++stats_.leaders_elected;
      log(who + " became leader of term " + std::to_string(n.term().value));
      // Leader completeness: everything committed in an earlier term is in the new leader's log.
      auto end = std::lower_bound(commit_term_.begin(), commit_term_.end(), n.term().value);
      size_t need = static_cast<size_t>(end - commit_term_.begin()) - 1;
      if (need >= s.chain.size() || s.chain[need] != committed_chain_[need])
        fail(who + " leads term " + std::to_string(n.term().value) +
             " without committed index " + std::to_string(need));
    }
  }
  s.last_role = n.role();
  s.last_term = n.term();
  // Committed prefix identical everywhere, extended by whoever knows more.
  const size_t c = static_cast<size_t>(n.commit_index().value);
  const size_t known = committed_chain_.size() - 1;
  if (c >= s.chain.size()) {
    fail(who + " commit beyond its log");
    return;
  }
  if (c <= known) {
    if (s.chain[c] != committed_chain_[c])
      fail(who + " committed prefix differs at " + std::to_string(c));
  } else {
    if (s.chain[known] != committed_chain_[known])
      fail(who + " committed prefix differs at " + std::to_string(known));
    for (size_t i = known + 1; i <= c; ++i) {
      const Entry& e = n.entry(RaftIndex{static_cast<int64_t>(i)});
      committed_chain_.push_back(s.chain[i]);
      committed_sm_.push_back(sm_step(committed_sm_.back(), e));
      commit_term_.push_back(n.term().value);
      if (e.type == EntryType::kNormal && !e.data.empty()) {
        auto [it, inserted] = payload_index_.emplace(e.data, static_cast<int64_t>(i));
        if (!inserted) fail("payload '" + e.data + "' committed twice");
      }
    }
  }
}

void Cluster::tick_node(NodeId id) {
  if (!nodes_.at(id).node) return;
  nodes_[id].node->tick();
  process_ready(id);
}

void Cluster::deliver_due() {
  uint64_t budget = 1'000'000;
  while (!queue_.empty() && queue_.begin()->first.at <= now_ && violation_.empty()) {
    if (--budget == 0) {
      fail("message storm: a tick never quiesced");
      return;
    }
    Message m = std::move(queue_.begin()->second);
    queue_.erase(queue_.begin());
    SimNode& target = nodes_.at(m.to);
    if (!target.node) {
      ++stats_.messages_dropped;
      continue;
    }
    ++stats_.messages_delivered;
    if (verbose_) log("recv " + describe(m));
    target.node->step(m);
    process_ready(m.to);
  }
}

void Cluster::tick() {
  ++now_;
  for (int i = 0; i < size(); ++i) tick_node(static_cast<NodeId>(i));
  deliver_due();
}

bool Cluster::run_until(const std::function<bool()>& pred, int max_ticks) {
  for (int t = 0; t < max_ticks; ++t) {
    if (pred()) return true;
    tick();
    if (!ok()) return false;
  }
  return pred();
}

void Cluster::stabilize() {
  NetworkOptions saved = net_;
  net_ = NetworkOptions{};
  // Messages already queued with a delay become due now.
  std::map<Key, Message> pending;
  pending.swap(queue_);
  for (auto& [k, m] : pending) queue_.emplace(Key{now_, k.order, k.seq}, std::move(m));
  deliver_due();
  net_ = saved;
}

Result<RaftIndex, ProposeError> Cluster::propose(NodeId id, std::string data) {
  MQ_CHECK(is_up(id), "propose to a crashed node");
  auto r = nodes_[id].node->propose(std::move(data));
  process_ready(id);
  return r;
}

Result<RaftIndex, ProposeError> Cluster::propose_batch(NodeId id, std::vector<std::string> data) {
  MQ_CHECK(is_up(id), "propose to a crashed node");
  auto r = nodes_[id].node->propose_batch(std::move(data));
  process_ready(id);
  return r;
}

Result<RaftIndex, ProposeError> Cluster::propose_membership(NodeId id, MembershipChange c) {
  MQ_CHECK(is_up(id), "propose to a crashed node");
  auto r = nodes_[id].node->propose_membership(c);
  if (r.ok()) {
    ++stats_.membership_changes;
    log("membership change at " + std::to_string(r.value().value) + " -> " +
        to_string(nodes_[id].node->membership()));
  }
  process_ready(id);
  return r;
}

Result<Unit, ProposeError> Cluster::transfer(NodeId id, NodeId target) {
  MQ_CHECK(is_up(id), "transfer on a crashed node");
  auto r = nodes_[id].node->transfer_leadership(target);
  log("transfer " + std::to_string(id) + " -> " + std::to_string(target) + (r.ok() ? "" : " refused"));
  process_ready(id);
  return r;
}

void Cluster::campaign(NodeId id) {
  MQ_CHECK(is_up(id), "campaign on a crashed node");
  nodes_[id].node->campaign();
  process_ready(id);
}

std::optional<NodeId> Cluster::leader() const {
  std::optional<NodeId> best;
  Term best_term;
  for (int i = 0; i < size(); ++i) {
    const Node* n = nodes_[i].node.get();
    if (n && n->role() == Role::kLeader && (!best || n->term() > best_term)) {
      best = static_cast<NodeId>(i);
      best_term = n->term();
    }
  }
  return best;
}

// -----------------------------------------------------------------------------------------------
// Randomized run

namespace {

void random_partition(Cluster& c, Random& rng) {
  c.heal();
  const int n = c.size();
  switch (rng.uniform(0, 4)) {
    case 0: {  // two random sides, symmetric
      std::vector<int> side(static_cast<size_t>(n));
      for (int i = 0; i < n; ++i) side[i] = static_cast<int>(rng.uniform(0, 1));
      for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j)
          if (side[i] != side[j]) c.cut(static_cast<NodeId>(i), static_cast<NodeId>(j));
      break;
    }
    case 1:  // the leader alone
      if (auto l = c.leader()) c.isolate(*l);
      break;
    case 2:  // asymmetric: random directed links fail
      for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j)
          if (i != j && rng.chance(3, 10)) c.cut(static_cast<NodeId>(i), static_cast<NodeId>(j));
      break;
    case 3: {  // the leader can send but not receive (or the reverse)
      if (auto l = c.leader()) {
        const bool inbound = rng.chance(1, 2);
        for (int j = 0; j < n; ++j)
          if (static_cast<NodeId>(j) != *l) {
            if (inbound) c.cut(static_cast<NodeId>(j), *l);
            else c.cut(*l, static_cast<NodeId>(j));
          }
      }
      break;
    }
    default:  // healed
      break;
  }
}

void random_membership_change(Cluster& c, NodeId leader, Random& rng) {
  const Membership m = c.node(leader)->membership();
  std::vector<MembershipChange> options;
  for (int i = 0; i < c.size(); ++i) {
    NodeId id = static_cast<NodeId>(i);
    if (!m.contains(id)) options.push_back({MembershipChangeType::kAddLearner, id});
  }
  for (NodeId l : m.learners) {
    options.push_back({MembershipChangeType::kPromote, l});
    options.push_back({MembershipChangeType::kRemove, l});
  }
  if (m.voters.size() > 2)
    for (NodeId v : m.voters) options.push_back({MembershipChangeType::kRemove, v});
  if (options.empty()) return;
  (void)c.propose_membership(leader, options[static_cast<size_t>(rng.uniform(0, static_cast<int64_t>(options.size()) - 1))]);
}

}  // namespace

SimResult run_simulation(const SimOptions& o) {
  Random rng(mix(o.seed) ^ 0xC0FFEE);
  SimResult res;
  res.voters = o.voters ? o.voters : (rng.chance(1, 2) ? 3 : 5);
  const int chaos_ticks = o.chaos_ticks ? o.chaos_ticks : static_cast<int>(rng.uniform(200, 600));

  NodeConfig base;
  base.election_ticks = 10;
  base.heartbeat_ticks = rng.chance(1, 2) ? 1 : 2;
  base.pre_vote = rng.chance(4, 5);
  base.check_quorum = true;
  const size_t inflight[] = {1, 4, 64};
  const size_t batch[] = {1, 8, 64};
  base.max_inflight_pushes = inflight[rng.uniform(0, 2)];
  base.max_push_entries = batch[rng.uniform(0, 2)];
  // One entry per round trip cannot catch up a long log within the liveness bound.
  if (base.max_inflight_pushes * base.max_push_entries < 8) base.max_push_entries = 8;
  base.push_retry_ticks = 3;
  base.max_uncommitted_entries = 500;
  if (rng.chance(1, 4)) base.preferred_leader = 0;

  Cluster c(res.voters, 1, base, o.seed);
  c.set_verbose(o.verbose);
  {
    const int64_t keep[] = {-1, 0, 3, 20};
    c.set_compaction(keep[rng.uniform(0, 3)]);
  }
  c.network().max_delay_ticks = static_cast<int>(rng.uniform(0, 3));
  c.network().drop_per_mille = static_cast<uint32_t>(rng.uniform(0, 100));
  c.network().duplicate_per_mille = static_cast<uint32_t>(rng.uniform(0, 50));
  const uint32_t crash_per_mille = static_cast<uint32_t>(rng.uniform(0, 20));
  const uint32_t partition_per_mille = static_cast<uint32_t>(rng.uniform(0, 30));
  const bool membership = rng.chance(1, 2);

  uint64_t payload = 0;
  auto next_payload = [&] { return "p" + std::to_string(payload++); };
  // Down nodes, crashed at least this many ticks ago.
  auto client = [&](bool healthy) {
    auto l = c.leader();
    if (!l) return;
    const int64_t n = rng.uniform(1, 3);
    if (n == 1) {
      (void)c.propose(*l, next_payload());
    } else {
      std::vector<std::string> v;
      for (int64_t i = 0; i < n; ++i) v.push_back(next_payload());
      (void)c.propose_batch(*l, std::move(v));
    }
    (void)healthy;
  };

  for (int t = 0; t < chaos_ticks && c.ok(); ++t) {
    if (partition_per_mille && rng.chance(partition_per_mille, 1000)) random_partition(c, rng);
    for (int i = 0; i < c.size(); ++i) {
      NodeId id = static_cast<NodeId>(i);
      if (c.is_up(id)) {
        if (crash_per_mille && rng.chance(crash_per_mille, 1000)) c.crash(id, rng.chance(1, 2));
      } else if (rng.chance(1, 10)) {
        c.restart(id);
      }
    }
    if (auto l = c.leader()) {
      if (rng.chance(1, 100)) {
        const auto& voters = c.node(*l)->membership().voters;
        (void)c.transfer(*l, voters[static_cast<size_t>(rng.uniform(0, static_cast<int64_t>(voters.size()) - 1))]);
      }
      if (membership && rng.chance(1, 50)) random_membership_change(c, *l, rng);
    }
    if (rng.chance(3, 5)) client(false);
    c.tick();
  }

  // Heal: every node up, no partition, no loss; delays stay. A leader must emerge and a new
  // proposal must reach every member's state machine within the bound.
  if (c.ok()) {
    c.heal();
    c.network().drop_per_mille = 0;
    c.network().duplicate_per_mille = 0;
    for (int i = 0; i < c.size(); ++i) c.restart(static_cast<NodeId>(i));
    std::string marker;
    Term marker_term;
    bool live = false;
    for (int t = 0; t < o.liveness_bound_ticks && c.ok(); ++t) {
      auto l = c.leader();
      if (l) {
        Node* ln = c.node(*l);
        if (marker.empty() || marker_term != ln->term()) {
          std::string m = "live" + std::to_string(t);
          const Term term = ln->term();
          if (c.propose(*l, m).ok()) {
            marker = m;
            marker_term = term;
          }
        }
        if (!c.is_up(*l) || c.node(*l)->role() != Role::kLeader) {
          c.tick();
          continue;
        }
        const Membership mem = ln->membership();
        bool all = !marker.empty();
        for (NodeId id : mem.members()) {
          const auto& ap = c.applied(id);
          if (std::find(ap.rbegin(), ap.rend(), marker) == ap.rend()) {
            all = false;
            break;
          }
        }
        if (all) {
          live = true;
          res.ticks = c.now();
          break;
        }
      }
      c.tick();
    }
    if (c.ok() && !live) {
      auto l = c.leader();
      if (o.verbose) {
        for (int i = 0; i < c.size(); ++i) {
          const Node* n = c.node(static_cast<NodeId>(i));
          std::printf("node %d: %s term %lld lead %d last %lld/%lld commit %lld applied %zu %s\n", i,
                      to_string(n->role()), static_cast<long long>(n->term().value),
                      static_cast<int>(n->leader()), static_cast<long long>(n->last_index().value),
                      static_cast<long long>(n->last_term().value),
                      static_cast<long long>(n->commit_index().value), c.applied(static_cast<NodeId>(i)).size(),
                      to_string(n->membership()).c_str());
        }
      }
      c.set_verbose(false);
      res.ok = false;
      res.violation = "liveness: after healing at t=" + std::to_string(chaos_ticks) +
                      " no proposal reached every member within " +
                      std::to_string(o.liveness_bound_ticks) + " ticks (leader " +
                      (l ? std::to_string(*l) : std::string("none")) + ")";
    }
  }
  if (!c.ok()) {
    res.ok = false;
    res.violation = c.violation();
  }
  res.committed = c.max_commit().value;
  res.stats = c.stats();
  if (!res.ticks) res.ticks = c.now();
  return res;
}

}  // namespace mq::raft::sim
