// The Raft paper's rules, one test per claim, each citing its section (Ongaro & Ousterhout,
// "In Search of an Understandable Consensus Algorithm", 2014; §6 and §9.6 also from the
// dissertation). Single-node tests feed hand-made messages to one Node and inspect its Ready;
// group tests use the simulator's Cluster with a lossless network and scripted faults.
#include <doctest/doctest.h>

#include <algorithm>

#include "raft/node.h"
#include "raft/sim.h"

using namespace mq;
using namespace mq::raft;

namespace {

NodeConfig config(NodeId id, std::vector<NodeId> voters, bool pre_vote = false) {
  NodeConfig c;
  c.id = id;
  c.bootstrap.voters = std::move(voters);
  c.election_ticks = 10;
  c.heartbeat_ticks = 1;
  c.pre_vote = pre_vote;
  c.seed = 42;
  return c;
}

// Runs the persist/send/apply/advance cycle; returns the Readies for inspection.
std::vector<Ready> drain(Node& n) {
  std::vector<Ready> out;
  while (n.has_ready()) {
    Ready rd = n.ready();
    n.advance(rd);
    out.push_back(std::move(rd));
  }
  return out;
}

std::vector<Message> sent(Node& n) {
  std::vector<Message> msgs;
  for (Ready& rd : drain(n))
    for (Message& m : rd.messages) msgs.push_back(std::move(m));
  return msgs;
}

Entry entry(int64_t index, int64_t term, std::string data = "x") {
  Entry e;
  e.index = RaftIndex{index};
  e.term = Term{term};
  e.data = std::move(data);
  return e;
}

PersistedState with_log(int64_t term, std::vector<int64_t> terms) {
  PersistedState ps;
  ps.hard_state.term = Term{term};
  for (size_t i = 0; i < terms.size(); ++i)
    ps.entries.push_back(entry(static_cast<int64_t>(i + 1), terms[i], "e" + std::to_string(i + 1)));
  return ps;
}

Message msg(MessageType t, NodeId from, NodeId to, int64_t term) {
  Message m;
  m.type = t;
  m.from = from;
  m.to = to;
  m.term = Term{term};
  return m;
}

Message vote_request(NodeId from, NodeId to, int64_t term, int64_t last_index, int64_t last_term) {
  Message m = msg(MessageType::kVote, from, to, term);
  m.index = RaftIndex{last_index};
  m.log_term = Term{last_term};
  return m;
}

Message push(NodeId from, NodeId to, int64_t term, int64_t prev, int64_t prev_term,
             std::vector<Entry> entries, int64_t commit = 0) {
  Message m = msg(MessageType::kPush, from, to, term);
  m.push_type = PushType::kAppend;
  m.index = RaftIndex{prev};
  m.log_term = Term{prev_term};
  m.entries = std::move(entries);
  m.commit = RaftIndex{commit};
  return m;
}

// Elects `n` by feeding it granted votes; returns what it sent once leader.
std::vector<Message> make_leader(Node& n, const std::vector<NodeId>& peers) {
  n.campaign();
  auto out = sent(n);
  for (NodeId p : peers) {
    if (n.role() == Role::kLeader) break;
    Message r = msg(n.role() == Role::kPreCandidate ? MessageType::kPreVoteResponse
                                                     : MessageType::kVoteResponse,
                    p, n.id(), n.term().value + (n.role() == Role::kPreCandidate ? 1 : 0));
    n.step(r);
    out = sent(n);
  }
  REQUIRE(n.role() == Role::kLeader);
  return out;
}

const Message* find(const std::vector<Message>& v, MessageType t, NodeId to) {
  for (const Message& m : v)
    if (m.type == t && m.to == to) return &m;
  return nullptr;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// §5.1 terms

TEST_CASE("§5.1: a node that sees a higher term adopts it and becomes a follower") {
  Node n(config(1, {1, 2, 3}));
  make_leader(n, {2, 3});
  const int64_t t = n.term().value;
  n.step(msg(MessageType::kHeartbeat, 2, 1, t + 3));
  CHECK(n.role() == Role::kFollower);
  CHECK(n.term().value == t + 3);
  CHECK(n.leader() == 2);
  CHECK(n.vote() == kNoNode);
}

TEST_CASE("§5.1: a request from a stale term is rejected and told the current term") {
  Node n(config(1, {1, 2, 3}), with_log(5, {}));
  auto before = n.log().size();
  n.step(push(2, 1, 3, 0, 0, {entry(1, 3)}));
  auto out = sent(n);
  CHECK(n.log().size() == before);
  REQUIRE(out.size() == 1);
  CHECK(out[0].term.value == 5);  // the stale leader learns it is deposed
  CHECK(n.term().value == 5);
  // A stale candidate too: otherwise two candidates whose terms rise in step can ignore each other
  // for ever (found by the simulator, seed 17612).
  n.step(vote_request(3, 1, 4, 100, 4));
  out = sent(n);
  REQUIRE(out.size() == 1);
  CHECK(out[0].type == MessageType::kVoteResponse);
  CHECK(out[0].reject);
  CHECK(out[0].term.value == 5);
}

// ---------------------------------------------------------------------------------------------
// §5.2 leader election

TEST_CASE("§5.2: a follower that hears nothing for an election timeout becomes candidate") {
  Node n(config(1, {1, 2, 3}));
  for (int i = 0; i < 2 * 10 && n.role() == Role::kFollower; ++i) n.tick();
  CHECK(n.role() == Role::kCandidate);
  CHECK(n.term().value == 1);
  CHECK(n.vote() == 1);  // votes for itself
  auto rds = drain(n);
  REQUIRE(!rds.empty());
  // The self-vote is in the same Ready as the requests, so it is durable before they leave.
  REQUIRE(rds[0].hard_state.has_value());
  CHECK(rds[0].hard_state->vote == 1);
  CHECK(rds[0].hard_state->term.value == 1);
  CHECK(find(rds[0].messages, MessageType::kVote, 2) != nullptr);
  CHECK(find(rds[0].messages, MessageType::kVote, 3) != nullptr);
}

TEST_CASE("§5.2: election timeouts are randomized in [T, 2T) and differ across nodes") {
  std::vector<int> timeouts;
  for (NodeId id = 1; id <= 8; ++id) {
    Node n(config(id, {1, 2, 3, 4, 5, 6, 7, 8}));
    int t = 0;
    while (n.role() == Role::kFollower) {
      n.tick();
      ++t;
    }
    CHECK(t >= 10);
    CHECK(t < 20);
    timeouts.push_back(t);
  }
  std::sort(timeouts.begin(), timeouts.end());
  CHECK(timeouts.front() != timeouts.back());
}

TEST_CASE("§5.2: a candidate with votes from a majority becomes leader and asserts itself") {
  Node n(config(1, {1, 2, 3, 4, 5}));
  n.campaign();
  drain(n);
  n.step(msg(MessageType::kVoteResponse, 2, 1, 1));
  CHECK(n.role() == Role::kCandidate);
  n.step(msg(MessageType::kVoteResponse, 3, 1, 1));
  CHECK(n.role() == Role::kLeader);
  auto out = sent(n);
  // The no-op of its term goes to everyone (as a probe first).
  for (NodeId p : {2u, 3u, 4u, 5u}) CHECK(find(out, MessageType::kPush, p) != nullptr);
  CHECK(n.log().back().term.value == 1);
  CHECK(n.log().back().data.empty());
}

TEST_CASE("§5.2: a candidate rejected by a majority returns to follower") {
  Node n(config(1, {1, 2, 3}));
  n.campaign();
  drain(n);
  Message r = msg(MessageType::kVoteResponse, 2, 1, 1);
  r.reject = true;
  n.step(r);
  r.from = 3;
  n.step(r);
  CHECK(n.role() == Role::kFollower);
}

TEST_CASE("§5.2: each node votes for at most one candidate per term, first come first served") {
  Node n(config(1, {1, 2, 3}));
  n.step(vote_request(2, 1, 1, 0, 0));
  auto a = sent(n);
  REQUIRE(a.size() == 1);
  CHECK_FALSE(a[0].reject);
  CHECK(n.vote() == 2);
  n.step(vote_request(3, 1, 1, 0, 0));
  auto b = sent(n);
  REQUIRE(b.size() == 1);
  CHECK(b[0].reject);
  // A repeated request from the same candidate is granted again (lost reply).
  n.step(vote_request(2, 1, 1, 0, 0));
  auto c = sent(n);
  REQUIRE(c.size() == 1);
  CHECK_FALSE(c[0].reject);
}

TEST_CASE("§5.2: the vote survives a restart, so a node cannot vote twice in one term") {
  Node n(config(1, {1, 2, 3}));
  n.step(vote_request(2, 1, 1, 0, 0));
  PersistedState ps;
  for (Ready& rd : drain(n))
    if (rd.hard_state) ps.hard_state = *rd.hard_state;
  Node again(config(1, {1, 2, 3}), ps);
  again.step(vote_request(3, 1, 1, 0, 0));
  auto out = sent(again);
  REQUIRE(out.size() == 1);
  CHECK(out[0].reject);
}

TEST_CASE("§5.2: a candidate that hears from a leader of its term becomes follower") {
  Node n(config(1, {1, 2, 3}));
  n.campaign();
  drain(n);
  n.step(msg(MessageType::kHeartbeat, 2, 1, 1));
  CHECK(n.role() == Role::kFollower);
  CHECK(n.leader() == 2);
}

TEST_CASE("§5.2: the leader sends heartbeats every heartbeat interval") {
  Node n(config(1, {1, 2, 3}));
  make_leader(n, {2, 3});
  drain(n);
  n.tick();
  auto out = sent(n);
  CHECK(find(out, MessageType::kHeartbeat, 2) != nullptr);
  CHECK(find(out, MessageType::kHeartbeat, 3) != nullptr);
}

TEST_CASE("§5.2 + §9.6: with pre-vote a rejoining partitioned node does not disrupt the leader") {
  NodeConfig base = config(0, {});
  base.pre_vote = true;
  sim::Cluster c(3, 0, base, 7);
  c.campaign(0);
  c.stabilize();
  REQUIRE(c.leader() == std::optional<NodeId>(0));
  const Term term = c.node(0)->term();
  c.isolate(2);
  for (int i = 0; i < 100; ++i) c.tick();
  // Node 2 kept failing pre-votes: its term did not move.
  CHECK(c.node(2)->term() == term);
  c.heal();
  for (int i = 0; i < 50; ++i) c.tick();
  CHECK(c.leader() == std::optional<NodeId>(0));
  CHECK(c.node(0)->term() == term);
  CHECK(c.ok());
}

TEST_CASE("§6 (check-quorum): a leader cut off from the majority steps down") {
  NodeConfig base = config(0, {});
  sim::Cluster c(5, 0, base, 3);
  c.campaign(0);
  c.stabilize();
  REQUIRE(c.leader() == std::optional<NodeId>(0));
  c.isolate(0);
  for (int i = 0; i < 25; ++i) c.tick();
  CHECK(c.node(0)->role() != Role::kLeader);
  // The others elected someone else meanwhile.
  c.run_until([&] { return c.leader().has_value(); }, 100);
  CHECK(c.leader().has_value());
  CHECK(c.ok());
}

TEST_CASE("§6 (check-quorum): a leader that can send but not receive steps down; others take over") {
  sim::Cluster c(3, 0, config(0, {}), 8);
  c.campaign(0);
  c.stabilize();
  REQUIRE(c.leader() == std::optional<NodeId>(0));
  c.cut(1, 0);  // asymmetric: 0's heartbeats still arrive, nothing comes back
  c.cut(2, 0);
  REQUIRE(c.run_until([&] { return c.leader().has_value() && *c.leader() != 0; }, 80));
  CHECK(c.node(0)->role() != Role::kLeader);
  auto r = c.propose(*c.leader(), "after");
  REQUIRE(r.ok());
  for (int i = 0; i < 3; ++i) c.tick();
  CHECK(c.node(*c.leader())->commit_index() >= r.value());
  CHECK(c.ok());
}

TEST_CASE("§6 (leader lease): a follower that hears from its leader ignores vote requests") {
  Node n(config(1, {1, 2, 3}));
  n.step(msg(MessageType::kHeartbeat, 2, 1, 1));
  drain(n);
  n.step(vote_request(3, 1, 2, 100, 1));
  CHECK(sent(n).empty());
  CHECK(n.term().value == 1);
  // ...unless the request comes from a leadership transfer.
  Message m = vote_request(3, 1, 2, 100, 1);
  m.transfer = true;
  n.step(m);
  auto out = sent(n);
  REQUIRE(out.size() == 1);
  CHECK_FALSE(out[0].reject);
}

// ---------------------------------------------------------------------------------------------
// §5.3 log replication

TEST_CASE("§5.3: an entry is committed once stored on a majority, and followers learn it") {
  sim::Cluster c(3, 0, config(0, {}), 1);
  c.campaign(0);
  c.stabilize();
  auto r = c.propose(0, "hello");
  REQUIRE(r.ok());
  c.stabilize();
  for (NodeId id = 0; id < 3; ++id) {
    CHECK(c.node(id)->commit_index() == r.value());
    CHECK(c.applied(id).back() == "hello");
  }
  CHECK(c.ok());
}

TEST_CASE("§5.3: the leader counts its own entries only once persisted") {
  Node n(config(1, {1}));
  n.campaign();
  drain(n);
  REQUIRE(n.role() == Role::kLeader);
  const RaftIndex before = n.commit_index();
  auto r = n.propose("a");
  REQUIRE(r.ok());
  CHECK(n.commit_index() == before);  // a single voter, but nothing durable yet
  Ready rd = n.ready();
  CHECK(rd.entries.size() == 1);
  CHECK(rd.committed.empty());
  n.advance(rd);  // now it is persisted
  CHECK(n.commit_index() == r.value());
  Ready rd2 = n.ready();
  REQUIRE(rd2.committed.size() == 1);
  CHECK(rd2.committed[0].data == "a");
  n.advance(rd2);
}

TEST_CASE("§5.3: a follower refuses entries whose predecessor does not match, with a hint") {
  Node n(config(1, {1, 2, 3}), with_log(3, {1, 1, 2, 2}));
  n.step(push(2, 1, 3, 6, 3, {entry(7, 3)}));
  auto out = sent(n);
  REQUIRE(out.size() == 1);
  CHECK(out[0].reject);
  CHECK(out[0].index.value == 6);
  CHECK(out[0].reject_hint.value == 4);  // our last entry
  CHECK(out[0].hint_term.value == 2);
  // Same index, other term: the hint skips the whole conflicting term at once.
  n.step(push(2, 1, 3, 4, 3, {entry(5, 3)}));
  out = sent(n);
  REQUIRE(out.size() == 1);
  CHECK(out[0].reject);
  CHECK(out[0].reject_hint.value == 4);
  CHECK(out[0].hint_term.value == 2);
  CHECK(n.log().size() == 4);
}

TEST_CASE("§5.3: a conflicting suffix is truncated; matching entries are kept") {
  Node n(config(1, {1, 2, 3}), with_log(3, {1, 1, 2, 2, 2}));
  // prev (2,1) matches; entry 3 matches too; entry 4 conflicts (term 3 vs 2).
  n.step(push(2, 1, 3, 2, 1, {entry(3, 2, "e3"), entry(4, 3, "new4")}));
  auto rds = drain(n);
  REQUIRE(n.log().size() == 4);
  CHECK(n.log()[2].data == "e3");
  CHECK(n.log()[3].term.value == 3);
  CHECK(n.log()[3].data == "new4");
  // The Ready tells storage to overwrite from index 4.
  REQUIRE(!rds[0].entries.empty());
  CHECK(rds[0].entries.front().index.value == 4);
  // A duplicate of an older push does not truncate anything.
  n.step(push(2, 1, 3, 1, 1, {entry(2, 1, "e2")}));
  drain(n);
  CHECK(n.log().size() == 4);
}

TEST_CASE("§5.3: followers learn the commit index only up to what they verified") {
  Node n(config(1, {1, 2, 3}), with_log(2, {1, 1, 2}));
  // The leader says commit 10, but only prev 2 + one entry is verified.
  n.step(push(2, 1, 2, 1, 1, {entry(2, 1, "e2")}, 10));
  drain(n);
  CHECK(n.commit_index().value == 2);
  // Heartbeats carry a commit the leader capped by our match; we cap by our log too.
  Message hb = msg(MessageType::kHeartbeat, 2, 1, 2);
  hb.commit = RaftIndex{3};
  n.step(hb);
  drain(n);
  CHECK(n.commit_index().value == 3);
}

TEST_CASE("§5.3: the leader streams many entries without waiting (pipelined, batched)") {
  NodeConfig base = config(0, {});
  base.max_push_entries = 4;
  base.max_inflight_pushes = 8;
  sim::Cluster c(3, 0, base, 5);
  c.campaign(0);
  c.stabilize();
  Node* l = c.node(0);
  drain(*l);
  std::vector<std::string> batch;
  for (int i = 0; i < 20; ++i) batch.push_back("b" + std::to_string(i));
  int pushes_to_1 = 0;
  c.set_drop_filter([&](const Message& m) {
    if (m.type == MessageType::kPush && m.to == 1 && !m.entries.empty()) ++pushes_to_1;
    return false;
  });
  auto r = c.propose_batch(0, batch);
  REQUIRE(r.ok());
  // Before any acknowledgement came back, 5 pushes of 4 entries were already in flight.
  CHECK(pushes_to_1 == 5);
  c.stabilize();
  CHECK(c.node(1)->commit_index() == r.value());
  CHECK(c.ok());
}

TEST_CASE("§5.3: fast back-off finds the match point of a long divergent log in few round trips") {
  // Follower 1 has 50 entries of a stale term; leader 0 has 50 of its own.
  std::vector<int64_t> stale(50, 2), fresh(50, 3);
  stale[0] = fresh[0] = 1;
  NodeConfig c0 = config(0, {0, 1});
  Node leader(c0, with_log(3, fresh));
  Node follower(config(1, {0, 1}), with_log(3, stale));
  int compares = 0;
  std::vector<Message> to_follower = make_leader(leader, {1});
  for (int round = 0; round < 20 && !to_follower.empty(); ++round) {
    std::vector<Message> to_leader;
    for (const Message& m : to_follower) {
      if (m.to != 1) continue;
      if (m.push_type == PushType::kCompare) ++compares;
      follower.step(m);
      for (Message& r : sent(follower)) to_leader.push_back(r);
    }
    to_follower.clear();
    for (const Message& m : to_leader) {
      leader.step(m);
      for (Message& r : sent(leader)) to_follower.push_back(r);
    }
  }
  CHECK(follower.log().size() == leader.log().size());
  CHECK(follower.log().back().term == leader.term());
  CHECK(follower.log()[1].term.value == 3);
  CHECK(compares <= 3);  // not one per divergent entry
}

// ---------------------------------------------------------------------------------------------
// §5.4 safety

TEST_CASE("§5.4.1: a voter refuses a candidate whose log is less up to date") {
  Node n(config(1, {1, 2, 3}), with_log(3, {1, 2, 3}));
  n.step(vote_request(2, 1, 4, 10, 2));  // longer but older last term
  auto a = sent(n);
  REQUIRE(a.size() == 1);
  CHECK(a[0].reject);
  n.step(vote_request(2, 1, 5, 2, 3));  // same last term, shorter
  auto b = sent(n);
  REQUIRE(b.size() == 1);
  CHECK(b[0].reject);
  n.step(vote_request(2, 1, 6, 3, 3));  // same term and length: up to date
  auto c = sent(n);
  REQUIRE(c.size() == 1);
  CHECK_FALSE(c[0].reject);
}

TEST_CASE("§5.4.2: entries of an earlier term are not committed by counting replicas (Figure 8)") {
  sim::Cluster c(5, 0, config(0, {}), 11);
  c.campaign(0);
  c.stabilize();
  REQUIRE(c.leader() == std::optional<NodeId>(0));
  const RaftIndex base = c.node(0)->commit_index();
  // Leader 0 stores X on 1 and 2, but their acknowledgements are lost; then 0 crashes.
  c.cut(1, 0);
  c.cut(2, 0);
  c.cut(0, 3);
  c.cut(0, 4);
  auto x = c.propose(0, "X");
  REQUIRE(x.ok());
  c.stabilize();
  CHECK(c.node(0)->commit_index() == base);
  c.crash(0);
  c.heal();
  // Only 1 or 2 can win (3 and 4 lack X, §5.4.1). The new leader's pushes carrying entries are
  // lost; compares get through.
  c.set_drop_filter([](const Message& m) {
    return m.type == MessageType::kPush && !m.entries.empty();
  });
  REQUIRE(c.run_until([&] { return c.leader().has_value(); }, 100));
  for (int i = 0; i < 3; ++i) c.tick();
  const NodeId leader = *c.leader();
  REQUIRE((leader == 1 || leader == 2));
  const NodeId other = leader == 1 ? 2 : 1;
  Node* l = c.node(leader);
  c.restart(0);
  for (int i = 0; i < 4; ++i) c.tick();
  REQUIRE(c.leader() == std::optional<NodeId>(leader));
  // X (older term) is known to be on a majority: the leader, the other holder, and node 0.
  REQUIRE(l->match_of(other).has_value());
  CHECK(l->match_of(other)->value == x.value().value);
  REQUIRE(l->match_of(0).has_value());
  CHECK(l->match_of(0)->value == x.value().value);
  CHECK(l->term_at(x.value()) < l->term());
  // Yet it is not committed: the leader's own-term entry is not on a majority.
  CHECK(l->commit_index() == base);
  // Once the current-term entry replicates, both commit together.
  c.set_drop_filter(nullptr);
  for (int i = 0; i < 5; ++i) c.tick();
  c.stabilize();
  CHECK(l->commit_index() > x.value());
  CHECK(c.ok());
}

TEST_CASE("§5.4.3: a restarted node keeps committed entries and rejoins without losing them") {
  sim::Cluster c(3, 0, config(0, {}), 2);
  c.campaign(0);
  c.stabilize();
  for (int i = 0; i < 10; ++i) REQUIRE(c.propose(0, "v" + std::to_string(i)).ok());
  c.stabilize();
  const RaftIndex committed = c.node(0)->commit_index();
  c.crash(0);
  c.crash(1);
  c.restart(0);
  c.restart(1);
  c.run_until([&] { return c.leader().has_value(); }, 100);
  REQUIRE(c.leader().has_value());
  Node* l = c.node(*c.leader());
  CHECK(l->last_index() >= committed);
  for (int i = 0; i < 20; ++i) c.tick();
  CHECK(l->commit_index() >= committed);
  CHECK(c.ok());
}

// ---------------------------------------------------------------------------------------------
// Leadership transfer (DLedger LeadershipTransfer, preferredLeaderId; dissertation §3.10)

TEST_CASE("Transfer: the leader catches the target up, then the target takes over at once") {
  sim::Cluster c(3, 0, config(0, {}), 4);
  c.campaign(0);
  c.stabilize();
  c.cut(0, 2);
  for (int i = 0; i < 5; ++i) REQUIRE(c.propose(0, "t" + std::to_string(i)).ok());
  c.stabilize();
  c.heal();
  const Term term = c.node(0)->term();
  REQUIRE(c.transfer(0, 2).ok());
  // Proposals are refused while the hand-off is in progress.
  CHECK(c.propose(0, "refused").code() == ProposeError::kTransferring);
  for (int i = 0; i < 3; ++i) c.tick();  // well below an election timeout
  c.stabilize();
  REQUIRE(c.leader() == std::optional<NodeId>(2));
  CHECK(c.node(2)->term().value == term.value + 1);
  CHECK(c.node(2)->last_index() >= c.node(0)->commit_index());
  CHECK(c.ok());
}

TEST_CASE("Transfer: preferredLeaderId pulls leadership to the preferred voter") {
  NodeConfig base = config(0, {});
  base.preferred_leader = 2;
  base.preferred_check_ticks = 5;
  sim::Cluster c(3, 0, base, 9);
  c.campaign(0);
  c.stabilize();
  REQUIRE(c.leader() == std::optional<NodeId>(0));
  c.run_until([&] { return c.leader() == std::optional<NodeId>(2); }, 40);
  CHECK(c.leader() == std::optional<NodeId>(2));
  CHECK(c.ok());
}

TEST_CASE("Transfer: an unreachable target does not block the leader for ever") {
  sim::Cluster c(3, 0, config(0, {}), 4);
  c.campaign(0);
  c.stabilize();
  c.isolate(2);
  REQUIRE(c.transfer(0, 2).ok());
  for (int i = 0; i < 12; ++i) c.tick();
  CHECK(c.node(0)->role() == Role::kLeader);
  CHECK(c.propose(0, "after").ok());
}

// ---------------------------------------------------------------------------------------------
// §6 membership changes (single-server changes, dissertation §4.1, with learners §4.2.1)

TEST_CASE("§6: a new node joins as a learner, catches up, then is promoted and counts") {
  sim::Cluster c(3, 1, config(0, {}), 21);
  c.campaign(0);
  c.stabilize();
  for (int i = 0; i < 30; ++i) REQUIRE(c.propose(0, "m" + std::to_string(i)).ok());
  c.stabilize();
  // Promotion before it is even a member is refused.
  CHECK(c.propose_membership(0, {MembershipChangeType::kPromote, 3}).code() ==
        ProposeError::kInvalidArgument);
  c.cut(0, 3);
  REQUIRE(c.propose_membership(0, {MembershipChangeType::kAddLearner, 3}).ok());
  c.stabilize();
  CHECK(c.node(0)->membership().is_learner(3));
  // A learner does not count: the group commits without it.
  auto r = c.propose(0, "without-3");
  REQUIRE(r.ok());
  c.stabilize();
  CHECK(c.node(0)->commit_index() == r.value());
  // Not caught up: promotion refused.
  CHECK(c.propose_membership(0, {MembershipChangeType::kPromote, 3}).code() ==
        ProposeError::kNotCaughtUp);
  c.heal();
  for (int i = 0; i < 5; ++i) c.tick();
  c.stabilize();
  CHECK(c.node(3)->last_index() == c.node(0)->last_index());
  CHECK(c.node(3)->role() == Role::kFollower);
  REQUIRE(c.propose_membership(0, {MembershipChangeType::kPromote, 3}).ok());
  c.stabilize();
  CHECK(c.node(0)->membership().voters.size() == 4);
  // Now 3 of 4 are needed: with 1 and 2 down, nothing commits.
  c.crash(1);
  c.crash(2);
  auto s = c.propose(0, "needs-3-of-4");
  REQUIRE(s.ok());
  c.stabilize();
  CHECK(c.node(0)->commit_index() < s.value());
  c.restart(1);
  for (int i = 0; i < 5; ++i) c.tick();
  c.stabilize();
  CHECK(c.node(0)->commit_index() >= s.value());
  CHECK(c.ok());
}

TEST_CASE("§6: only one membership change at a time, and only after the leader committed in its term") {
  {
    // Before the no-op of its term commits.
    Node n(config(1, {1, 2, 3}));
    make_leader(n, {2, 3});
    CHECK(n.propose_membership({MembershipChangeType::kAddLearner, 4}).code() ==
          ProposeError::kMembershipPending);
  }
  sim::Cluster c(3, 2, config(0, {}), 22);
  c.campaign(0);
  c.stabilize();
  c.cut(0, 1);
  c.cut(0, 2);
  REQUIRE(c.propose_membership(0, {MembershipChangeType::kAddLearner, 3}).ok());
  CHECK(c.propose_membership(0, {MembershipChangeType::kAddLearner, 4}).code() ==
        ProposeError::kMembershipPending);
  c.heal();
  for (int i = 0; i < 4; ++i) c.tick();
  c.stabilize();
  CHECK(c.propose_membership(0, {MembershipChangeType::kAddLearner, 4}).ok());
  c.stabilize();
  CHECK(c.ok());
}

TEST_CASE("§6: a configuration takes effect when appended and is undone with its entry") {
  Node n(config(1, {1, 2, 3}), with_log(2, {1, 2}));
  Membership m{{1, 2, 3, 4}, {}};
  Entry e = entry(3, 2);
  e.type = EntryType::kMembership;
  e.data = m.encode();
  n.step(push(2, 1, 2, 2, 2, {e}));
  drain(n);
  CHECK(n.membership().is_voter(4));  // in force before it commits
  // A new leader overwrites index 3: the configuration reverts.
  n.step(push(3, 1, 3, 2, 2, {entry(3, 3)}));
  drain(n);
  CHECK_FALSE(n.membership().contains(4));
  CHECK(n.membership().voters.size() == 3);
}

TEST_CASE("§6: removing a follower shrinks the quorum") {
  sim::Cluster c(3, 0, config(0, {}), 23);
  c.campaign(0);
  c.stabilize();
  REQUIRE(c.propose_membership(0, {MembershipChangeType::kRemove, 2}).ok());
  c.stabilize();
  CHECK(c.node(0)->membership().voters == std::vector<NodeId>{0, 1});
  c.crash(2);
  auto r = c.propose(0, "two-voters");
  REQUIRE(r.ok());
  c.stabilize();
  CHECK(c.node(0)->commit_index() == r.value());
  // The removed node does not campaign even if it lives on.
  c.restart(2);
  for (int i = 0; i < 60; ++i) c.tick();
  CHECK(c.leader() == std::optional<NodeId>(0));
  CHECK(c.ok());
}

TEST_CASE("§6: a leader that removes itself steps down once the change commits and hands over") {
  sim::Cluster c(3, 0, config(0, {}), 24);
  c.campaign(0);
  c.stabilize();
  REQUIRE(c.propose_membership(0, {MembershipChangeType::kRemove, 0}).ok());
  c.stabilize();
  CHECK(c.node(0)->role() == Role::kFollower);
  for (int i = 0; i < 3; ++i) c.tick();  // no election timeout needed
  c.stabilize();
  REQUIRE(c.leader().has_value());
  CHECK(*c.leader() != 0);
  auto r = c.propose(*c.leader(), "after-removal");
  REQUIRE(r.ok());
  c.stabilize();
  CHECK(c.node(*c.leader())->commit_index() == r.value());
  CHECK(c.ok());
}

TEST_CASE("Membership encoding round-trips and rejects garbage") {
  Membership m{{1, 5, 9}, {3}};
  auto d = Membership::decode(m.encode());
  REQUIRE(d.has_value());
  CHECK(*d == m);
  std::string bad = m.encode();
  bad.pop_back();
  CHECK_FALSE(Membership::decode(bad).has_value());
  CHECK_FALSE(Membership::decode("").has_value());
  Membership unsorted{{5, 1}, {}};
  CHECK_FALSE(Membership::decode(unsorted.encode()).has_value());
}

TEST_CASE("Proposals: errors are values (not leader, pending full)") {
  Node f(config(1, {1, 2, 3}));
  CHECK(f.propose("x").code() == ProposeError::kNotLeader);
  NodeConfig cfg = config(1, {1, 2, 3});
  cfg.max_uncommitted_entries = 3;
  Node l(cfg);
  make_leader(l, {2, 3});
  CHECK(l.propose("a").ok());
  CHECK(l.propose("b").ok());
  CHECK(l.propose("c").code() == ProposeError::kPendingFull);  // the no-op counts too
}

// ---------------------------------------------------------------------------------------------
// Bounded memory: compaction of the in-memory log, LogFetch, restart from a suffix

TEST_CASE("Compaction: a leader that released its entries catches a follower up through LogFetch") {
  sim::Cluster c(3, 0, config(0, {}), 31);
  c.set_compaction(0);  // keep nothing applied in memory
  c.campaign(0);
  c.stabilize();
  c.isolate(2);
  for (int i = 0; i < 50; ++i) REQUIRE(c.propose(0, "c" + std::to_string(i)).ok());
  c.stabilize();
  Node* l = c.node(0);
  CHECK(l->log_offset() == l->commit_index());  // everything applied was released
  CHECK(l->log().empty());
  c.heal();
  for (int i = 0; i < 10; ++i) c.tick();
  c.stabilize();
  CHECK(c.node(2)->last_index() == l->last_index());
  CHECK(c.node(2)->commit_index() == l->commit_index());
  CHECK(c.stats().fetches > 0);
  CHECK(c.ok());
}

TEST_CASE("Compaction: only applied and persisted entries are released; stale fetch answers are ignored") {
  Node n(config(1, {1}));
  n.campaign();
  drain(n);
  auto a = n.propose("a");
  REQUIRE(a.ok());
  n.compact(RaftIndex{100});
  CHECK(n.log_offset() == prev_index(a.value()));  // the no-op went; "a" is not persisted yet
  CHECK(n.entry(a.value()).data == "a");
  drain(n);
  n.compact(RaftIndex{100});
  CHECK(n.log_offset() == n.last_index());
  CHECK(n.term_at(n.log_offset()) == n.term());
  n.fetched(7, {entry(1, 1)});  // nobody asked: ignored
  CHECK_FALSE(n.has_ready());
}

TEST_CASE("Restart from a suffix of the disk log, with the membership in force there") {
  PersistedState ps;
  ps.hard_state = HardState{Term{3}, kNoNode, RaftIndex{12}};
  ps.offset = RaftIndex{10};
  ps.offset_term = Term{2};
  ps.base_membership = std::make_pair(RaftIndex{4}, Membership{{1, 2, 3, 4}, {}});
  ps.applied = RaftIndex{10};
  ps.entries = {entry(11, 3), entry(12, 3)};
  Node n(config(1, {1, 2, 3}), ps);
  CHECK(n.last_index().value == 12);
  CHECK(n.membership().voters.size() == 4);
  CHECK(n.term_at(RaftIndex{10}).value == 2);
  auto rds = drain(n);
  REQUIRE(!rds.empty());
  REQUIRE(rds[0].committed.size() == 2);  // 11 and 12: committed, not yet applied
  CHECK(rds[0].committed[0].index.value == 11);
}

TEST_CASE("membership entries carry member addresses when the glue keeps them; v1 bytes otherwise") {
  Membership plain{{1, 2, 3}, {}, {}};
  const std::string v1 = plain.encode();
  CHECK(static_cast<uint8_t>(v1[0]) == 1);
  CHECK(Membership::decode(v1) == plain);
  Membership with{{1, 2, 3}, {4}, {{1, "127.0.0.1:40911"}, {2, "127.0.0.1:40912"}, {3, "h3:1"}, {4, "h4:2"}}};
  const std::string v2 = with.encode();
  CHECK(static_cast<uint8_t>(v2[0]) == 2);
  auto back = Membership::decode(v2);
  REQUIRE(back.has_value());
  CHECK(*back == with);
  // Truncated or trailing bytes are refused.
  CHECK_FALSE(Membership::decode(v2.substr(0, v2.size() - 1)).has_value());
  CHECK_FALSE(Membership::decode(v2 + "x").has_value());
  // Addresses of non-members are dropped by normalize().
  Membership extra = with;
  extra.addresses[9] = "gone:1";
  extra.normalize();
  CHECK(extra == with);
}

TEST_CASE("§6: adding a learner with an address puts the address in the membership and its log entry") {
  Node n(config(1, {1, 2, 3}));
  make_leader(n, {2, 3});
  // Commit the leader's no-op so that a membership change is allowed.
  for (NodeId peer : {2u, 3u}) {
    Message ack = msg(MessageType::kPushResponse, peer, 1, n.term().value);
    ack.push_type = PushType::kAppend;
    ack.index = n.last_index();
    n.step(ack);
  }
  drain(n);
  REQUIRE(n.commit_index() == n.last_index());
  MembershipChange add{MembershipChangeType::kAddLearner, 4, "127.0.0.1:40914"};
  REQUIRE(n.propose_membership(add).ok());
  CHECK(n.membership().is_learner(4));
  REQUIRE(n.membership().addresses.count(4) == 1);
  CHECK(n.membership().addresses.at(4) == "127.0.0.1:40914");
  auto entry = Membership::decode(n.entry(n.last_index()).data);
  REQUIRE(entry.has_value());
  CHECK(entry->addresses.at(4) == "127.0.0.1:40914");
}
