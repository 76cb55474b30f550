#include "raft/node.h"

#include <algorithm>

#include "base/check.h"

namespace mq::raft {

namespace {
RaftIndex min_index(RaftIndex a, RaftIndex b) { return a < b ? a : b; }
RaftIndex max_index(RaftIndex a, RaftIndex b) { return a < b ? b : a; }
size_t entry_bytes(const Entry& e) { return e.data.size() + 48; }
}  // namespace

const char* to_string(Role r) {
  switch (r) {
    case Role::kFollower: return "follower";
    case Role::kPreCandidate: return "pre-candidate";
    case Role::kCandidate: return "candidate";
    case Role::kLeader: return "leader";
  }
  return "?";
}

const char* to_string(ProposeError e) {
  switch (e) {
    case ProposeError::kNotLeader: return "not leader";
    case ProposeError::kTransferring: return "leadership transfer in progress";
    case ProposeError::kPendingFull: return "too many uncommitted entries";
    case ProposeError::kMembershipPending: return "a membership change is pending";
    case ProposeError::kLeaderNotReady: return "leader has not committed an entry of its term";
    case ProposeError::kNotCaughtUp: return "learner has not caught up";
    case ProposeError::kInvalidArgument: return "invalid argument";
  }
  return "?";
}

Node::Node(NodeConfig config, PersistedState persisted)
    : cfg_(std::move(config)), id_(cfg_.id), rng_(cfg_.seed ^ (uint64_t{cfg_.id} << 32)) {
  MQ_CHECK(id_ != kNoNode, "node id must be set");
  MQ_CHECK(cfg_.election_ticks > cfg_.heartbeat_ticks && cfg_.heartbeat_ticks > 0,
           "election_ticks must exceed heartbeat_ticks > 0");
  MQ_CHECK(cfg_.max_inflight_pushes > 0 && cfg_.max_push_entries > 0, "pipeline must be open");
  Membership boot = cfg_.bootstrap;
  boot.normalize();
  MQ_CHECK(!boot.voters.empty(), "bootstrap membership needs a voter");
  memberships_.emplace_back(RaftIndex{0}, std::move(boot));

  offset_ = persisted.offset;
  offset_term_ = persisted.offset_term;
  MQ_CHECK(offset_.value >= 0 && (offset_.value > 0 || offset_term_.value == 0), "bad log offset");
  if (persisted.base_membership) {
    MQ_CHECK(persisted.base_membership->first <= offset_, "base membership beyond the offset");
    memberships_.push_back(*persisted.base_membership);
  }
  log_ = std::move(persisted.entries);
  // Entries are made durable before the hard state (see the header), so a crash in between can
  // leave entries of a term the hard state has not recorded. The node was in that term, and any
  // vote it cast in it was persisted by an earlier Ready, so adopting the term without a vote is
  // safe.
  term_ = persisted.hard_state.term;
  vote_ = persisted.hard_state.vote;
  if (last_term() > term_) {
    term_ = last_term();
    vote_ = kNoNode;
  }
  for (size_t i = 0; i < log_.size(); ++i) {
    const Entry& e = log_[i];
    MQ_CHECK(e.index.value == offset_.value + static_cast<int64_t>(i + 1), "persisted log must be contiguous");
    MQ_CHECK((i == 0 ? offset_term_ : log_[i - 1].term) <= e.term, "log terms must not decrease");
    if (e.type == EntryType::kMembership) {
      auto m = Membership::decode(e.data);
      MQ_CHECK(m.has_value(), "undecodable membership entry");
      memberships_.emplace_back(e.index, std::move(*m));
    }
  }
  commit_ = persisted.hard_state.commit;
  MQ_CHECK(commit_ <= last_index(), "persisted commit beyond the persisted log");
  applied_ = persisted.applied;
  MQ_CHECK(applied_ <= last_index(), "applied beyond the persisted log");
  MQ_CHECK(applied_ >= offset_, "a node starts from a suffix only past what it applied");
  // Whatever the state machine applied was committed, even if the hard state lags.
  if (applied_ > commit_) commit_ = applied_;
  unstable_from_ = next_index(last_index());
  persisted_last_ = last_index();
  prev_hard_state_ = HardState{term_, vote_, commit_};
  pending_membership_index_ = membership_index();
  become_follower(term_, kNoNode);
}

// ---------------------------------------------------------------------------------------------
// Role transitions

void Node::reset_election_timer() {
  election_elapsed_ = 0;
  // Randomized in [election_ticks, 2 * election_ticks) so split votes resolve (§5.2).
  randomized_election_ticks_ =
      cfg_.election_ticks + static_cast<int>(rng_.uniform(0, cfg_.election_ticks - 1));
}

void Node::become_follower(Term term, NodeId leader) {
  if (term != term_) {
    MQ_CHECK(term > term_, "terms only grow");
    term_ = term;
    vote_ = kNoNode;
  }
  role_ = Role::kFollower;
  lead_ = leader;
  votes_.clear();
  progress_.clear();
  abort_transfer();
  heartbeat_elapsed_ = 0;
  reset_election_timer();
}

void Node::become_pre_candidate() {
  // A pre-candidate changes neither term nor vote: losing a pre-vote leaves no trace (§9.6).
  role_ = Role::kPreCandidate;
  lead_ = kNoNode;
  votes_.clear();
  progress_.clear();
  reset_election_timer();
}

void Node::become_candidate() {
  role_ = Role::kCandidate;
  term_ = Term{term_.value + 1};
  vote_ = id_;
  lead_ = kNoNode;
  votes_.clear();
  progress_.clear();
  reset_election_timer();
}

void Node::become_leader() {
  MQ_CHECK(role_ == Role::kCandidate, "only a candidate becomes leader");
  role_ = Role::kLeader;
  lead_ = id_;
  votes_.clear();
  heartbeat_elapsed_ = 0;
  preferred_elapsed_ = 0;
  reset_election_timer();
  progress_.clear();
  for (NodeId peer : membership().members()) {
    Progress& pr = progress_[peer];
    pr.next = next_index(last_index());
    if (peer == id_) pr.match = persisted_last_;
  }
  progress_[id_].recent_active = true;
  // Entries of earlier terms are committed only through an entry of this term (§5.4.2), and a
  // membership change must wait for it too; the empty entry makes both happen promptly.
  pending_membership_index_ = next_index(last_index());
  append_local({Entry{}});
}

void Node::start_campaign(bool pre_vote, bool transfer) {
  if (!membership().is_voter(id_)) return;
  if (pre_vote) {
    become_pre_candidate();
  } else {
    become_candidate();
  }
  const Term vote_term = pre_vote ? Term{term_.value + 1} : term_;
  const MessageType type = pre_vote ? MessageType::kPreVote : MessageType::kVote;
  votes_[id_] = true;
  if (membership().voters.size() == 1) {
    // Alone in the group: the own vote is a quorum.
    if (pre_vote) {
      start_campaign(false, transfer);
    } else {
      become_leader();
    }
    return;
  }
  for (NodeId peer : membership().voters) {
    if (peer == id_) continue;
    Message m;
    m.type = type;
    m.to = peer;
    m.term = vote_term;
    m.index = last_index();
    m.log_term = last_term();
    m.transfer = transfer;
    send(std::move(m));
  }
}

void Node::campaign() {
  if (role_ == Role::kLeader) return;
  start_campaign(cfg_.pre_vote, false);
}

void Node::compact(RaftIndex index) {
  MQ_CHECK(!ready_outstanding_, "compact between ready() and advance()");
  index = min_index(index, min_index(applied_, persisted_last_));
  if (index <= offset_) return;
  offset_term_ = term_at(index);
  log_.erase(log_.begin(), log_.begin() + (index.value - offset_.value));
  offset_ = index;
}

void Node::fetched(NodeId peer, std::vector<Entry> entries) {
  MQ_CHECK(!ready_outstanding_, "fetched between ready() and advance()");
  if (role_ != Role::kLeader) return;
  auto it = progress_.find(peer);
  if (it == progress_.end() || !it->second.fetching) return;
  Progress& pr = it->second;
  pr.fetching = false;
  const RaftIndex prev = prev_index(pr.next);
  Term prev_term;
  size_t skip = 0;
  if (prev.value > 0) {
    if (entries.empty() || entries.front().index != prev) return;  // stale answer
    prev_term = entries.front().term;
    skip = 1;
  } else if (!entries.empty() && entries.front().index.value != 1) {
    return;
  }
  if (prev == offset_) MQ_CHECK(prev_term == offset_term_, "fetched entry differs from the log");
  if (pr.state == ProgressState::kProbe) {
    if (pr.probe_sent) return;
    Message m;
    m.type = MessageType::kPush;
    m.push_type = PushType::kCompare;
    m.to = peer;
    m.index = prev;
    m.log_term = prev_term;
    m.commit = min_index(commit_, prev);
    pr.probe_sent = true;
    pr.stall_ticks = 0;
    send(std::move(m));
    return;
  }
  entries.erase(entries.begin(), entries.begin() + static_cast<long>(skip));
  if (entries.empty() || pr.inflight.size() >= cfg_.max_inflight_pushes) return;
  for (size_t i = 0; i < entries.size(); ++i)
    MQ_CHECK(entries[i].index.value == pr.next.value + static_cast<int64_t>(i), "fetched entries not contiguous");
  Message m;
  m.type = MessageType::kPush;
  m.push_type = pr.needs_truncate ? PushType::kTruncate : PushType::kAppend;
  m.to = peer;
  m.index = prev;
  m.log_term = prev_term;
  m.commit = commit_;
  m.entries = std::move(entries);
  const RaftIndex last = m.entries.back().index;
  pr.needs_truncate = false;
  pr.next = next_index(last);
  pr.inflight.push_back(last);
  pr.commit_sent = max_index(pr.commit_sent, min_index(commit_, last));
  send(std::move(m));
  while (send_push(peer)) {
  }
}

// ---------------------------------------------------------------------------------------------
// Time

void Node::tick() {
  MQ_CHECK(!ready_outstanding_, "tick between ready() and advance()");
  if (role_ == Role::kLeader) {
    tick_leader();
  } else {
    tick_election();
  }
}

void Node::tick_election() {
  ++election_elapsed_;
  if (election_elapsed_ >= randomized_election_ticks_) {
    election_elapsed_ = 0;
    if (membership().is_voter(id_)) {
      start_campaign(cfg_.pre_vote, false);
    } else {
      // A node that cannot campaign still forgets a silent leader; otherwise its lease would
      // never expire and it would ignore the voters that need it (its own view of the
      // membership may be stale: it can be a voter in the group's newer configuration).
      lead_ = kNoNode;
    }
  }
}

void Node::tick_leader() {
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  if (election_elapsed_ >= cfg_.election_ticks) {
    election_elapsed_ = 0;
    if (cfg_.check_quorum) {
      if (!quorum_active()) {
        // Clients must not stay stuck on a leader that cannot commit (check-quorum).
        become_follower(term_, kNoNode);
        return;
      }
      for (auto& [peer, pr] : progress_) pr.recent_active = (peer == id_);
    }
  }
  if (lead_transferee_ != kNoNode && ++transfer_elapsed_ >= cfg_.election_ticks) abort_transfer();

  if (heartbeat_elapsed_ >= cfg_.heartbeat_ticks) {
    heartbeat_elapsed_ = 0;
    broadcast_heartbeat();
  }

  // DLedger re-sends a push not acknowledged within maxPushTimeOutMs; a lost push would otherwise
  // stall a pipeline whose follower never sees a gap.
  for (auto& [peer, pr] : progress_) {
    if (peer == id_) continue;
    bool outstanding =
        pr.fetching || (pr.state == ProgressState::kProbe ? pr.probe_sent : !pr.inflight.empty());
    if (!outstanding) {
      pr.stall_ticks = 0;
      continue;
    }
    if (++pr.stall_ticks < cfg_.push_retry_ticks) continue;
    pr.stall_ticks = 0;
    pr.fetching = false;
    if (pr.state == ProgressState::kProbe) {
      pr.probe_sent = false;
    } else {
      pr.inflight.clear();
      pr.next = next_index(pr.match);
    }
    send_push(peer);
  }

  if (cfg_.preferred_leader != kNoNode && ++preferred_elapsed_ >= cfg_.preferred_check_ticks) {
    preferred_elapsed_ = 0;
    check_preferred_leader();
  }
}

bool Node::quorum_active() const {
  const Membership& mem = membership();
  size_t active = 0;
  for (NodeId v : mem.voters) {
    auto it = progress_.find(v);
    if (it != progress_.end() && it->second.recent_active) ++active;
  }
  return active >= mem.quorum();
}

// ---------------------------------------------------------------------------------------------
// Messages

void Node::send(Message m) {
  m.from = id_;
  if (m.term.value == 0 && m.type != MessageType::kPreVote) m.term = term_;
  msgs_.push_back(std::move(m));
}

void Node::step(const Message& m) {
  MQ_CHECK(!ready_outstanding_, "step between ready() and advance()");
  MQ_CHECK(m.to == id_, "message for another node");
  if (m.from == id_) return;

  if (m.term > term_) {
    const bool vote_request = m.type == MessageType::kVote || m.type == MessageType::kPreVote;
    if (vote_request && !m.transfer && cfg_.check_quorum && lead_ != kNoNode &&
        election_elapsed_ < cfg_.election_ticks) {
      // Leader lease: we heard from a live leader recently, so this candidate is probably a node
      // that was cut off; ignoring it keeps the group stable (§6, disruptive servers).
      return;
    }
    if (m.type == MessageType::kPreVote) {
      // A pre-vote at a higher term changes nothing here.
    } else if (m.type == MessageType::kPreVoteResponse && !m.reject) {
      // Granted pre-votes carry the term we asked for, not a newer one.
    } else if (m.type == MessageType::kHeartbeat || m.type == MessageType::kPush ||
               m.type == MessageType::kTimeoutNow) {
      become_follower(m.term, m.from);
    } else {
      become_follower(m.term, kNoNode);
    }
  } else if (m.term < term_) {
    if ((cfg_.check_quorum || cfg_.pre_vote) &&
        (m.type == MessageType::kHeartbeat || m.type == MessageType::kPush)) {
      // A deposed leader that we ignore would keep its clients waiting forever; tell it our term.
      Message r;
      r.type = MessageType::kHeartbeatResponse;
      r.to = m.from;
      send(std::move(r));
    } else if (m.type == MessageType::kPreVote || m.type == MessageType::kVote) {
      // §5.1: reject with our term. Staying silent can livelock two candidates whose terms rise in
      // step while each ignores the other's stale requests (seen with a voter that does not yet
      // know it belongs to a newer configuration).
      Message r;
      r.type = m.type == MessageType::kVote ? MessageType::kVoteResponse : MessageType::kPreVoteResponse;
      r.to = m.from;
      r.term = term_;
      r.reject = true;
      send(std::move(r));
    }
    return;
  }

  switch (m.type) {
    case MessageType::kPreVote:
    case MessageType::kVote:
      handle_vote_request(m);
      return;
    case MessageType::kPreVoteResponse:
    case MessageType::kVoteResponse:
      handle_vote_response(m);
      return;
    case MessageType::kHeartbeat:
    case MessageType::kPush:
      if (role_ == Role::kLeader) return;  // cannot happen: one leader per term
      if (role_ != Role::kFollower) become_follower(term_, m.from);
      lead_ = m.from;
      election_elapsed_ = 0;
      if (m.type == MessageType::kPush) {
        handle_push(m);
      } else {
        handle_heartbeat(m);
      }
      return;
    case MessageType::kPushResponse:
      if (role_ == Role::kLeader) handle_push_response(m);
      return;
    case MessageType::kHeartbeatResponse:
      if (role_ == Role::kLeader) handle_heartbeat_response(m);
      return;
    case MessageType::kTimeoutNow:
      // The leader caught us up and steps aside: campaign at once, no pre-vote, and tell voters to
      // skip their lease (DLedger's take-leadership vote).
      if (role_ != Role::kLeader && membership().is_voter(id_)) start_campaign(false, true);
      return;
  }
}

bool Node::is_up_to_date(RaftIndex last, Term lt) const {
  // §5.4.1: compare last terms, then lengths.
  return lt > last_term() || (lt == last_term() && last >= last_index());
}

void Node::handle_vote_request(const Message& m) {
  const bool pre = m.type == MessageType::kPreVote;
  // One vote per term (§5.2); a pre-vote for a future term is only a question.
  const bool can_vote = vote_ == m.from || (vote_ == kNoNode && lead_ == kNoNode) ||
                        (pre && m.term > term_);
  Message r;
  r.type = pre ? MessageType::kPreVoteResponse : MessageType::kVoteResponse;
  r.to = m.from;
  if (can_vote && is_up_to_date(m.index, m.log_term)) {
    r.term = m.term;
    if (!pre) {
      // The vote goes into the hard state of this Ready, so it is durable before the reply leaves.
      vote_ = m.from;
      election_elapsed_ = 0;
    }
  } else {
    r.term = term_;
    r.reject = true;
  }
  send(std::move(r));
}

void Node::handle_vote_response(const Message& m) {
  const bool pre = m.type == MessageType::kPreVoteResponse;
  if ((pre && role_ != Role::kPreCandidate) || (!pre && role_ != Role::kCandidate)) return;
  votes_.emplace(m.from, !m.reject);
  size_t granted = 0, rejected = 0;
  const Membership& mem = membership();
  for (NodeId v : mem.voters) {
    auto it = votes_.find(v);
    if (it == votes_.end()) continue;
    (it->second ? granted : rejected) += 1;
  }
  if (granted >= mem.quorum()) {
    if (pre) {
      start_campaign(false, false);
    } else {
      become_leader();
    }
  } else if (rejected > mem.voters.size() - mem.quorum()) {
    become_follower(term_, kNoNode);
  }
}

bool Node::matches(RaftIndex index, Term term) const {
  return index <= last_index() && term_at(index) == term;
}

Term Node::term_at(RaftIndex i) const {
  if (i == offset_) return offset_term_;
  MQ_CHECK(i > offset_ && i <= last_index(), "term_at out of range");
  return log_[static_cast<size_t>(i.value - offset_.value - 1)].term;
}

const Entry& Node::entry(RaftIndex i) const {
  MQ_CHECK(i > offset_ && i <= last_index(), "entry not in memory");
  return log_[static_cast<size_t>(i.value - offset_.value - 1)];
}

RaftIndex Node::find_conflict_by_term(RaftIndex index, Term term) const {
  // The largest index <= `index` whose term is <= `term`: everything after it in the other log
  // belongs to terms we do not share, so one round trip skips a whole term (§5.3 optimization).
  index = min_index(index, last_index());
  // Below the compaction offset we cannot tell; the probe there settles it.
  while (index > offset_ && term_at(index) > term) index = prev_index(index);
  return index;
}

void Node::handle_push(const Message& m) {
  if (m.push_type == PushType::kCommit) {
    commit_to(min_index(m.commit, last_index()));
    return;
  }
  Message r;
  r.type = MessageType::kPushResponse;
  r.to = m.from;
  r.push_type = m.push_type;
  if (m.index < commit_) {
    // Everything up to our commit index matches any leader's log (§5.4 Leader Completeness).
    r.index = commit_;
    send(std::move(r));
    return;
  }
  if (!matches(m.index, m.log_term)) {
    RaftIndex hint = find_conflict_by_term(m.index, m.log_term);
    r.index = m.index;
    r.reject = true;
    r.reject_hint = hint;
    r.hint_term = term_at(hint);
    send(std::move(r));
    return;
  }
  RaftIndex last_new{m.index.value + static_cast<int64_t>(m.entries.size())};
  for (size_t i = 0; i < m.entries.size(); ++i) {
    const Entry& e = m.entries[i];
    MQ_CHECK(e.index.value == m.index.value + static_cast<int64_t>(i) + 1, "push entries not contiguous");
    if (e.index <= last_index()) {
      if (term_at(e.index) == e.term) continue;  // already have it (duplicate or re-send)
      // Only a conflicting suffix is removed; a matching entry may already be committed (§5.3).
      MQ_CHECK(e.index > commit_, "leader overwrote a committed entry");
      truncate_log_from(e.index);
    }
    append_to_log(e);
  }
  commit_to(min_index(m.commit, last_new));
  r.index = last_new;
  send(std::move(r));
}

void Node::handle_heartbeat(const Message& m) {
  commit_to(min_index(m.commit, last_index()));
  Message r;
  r.type = MessageType::kHeartbeatResponse;
  r.to = m.from;
  send(std::move(r));
}

void Node::handle_push_response(const Message& m) {
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;
  Progress& pr = it->second;
  pr.recent_active = true;
  if (m.reject) {
    if (pr.state == ProgressState::kReplicate) {
      if (m.index <= pr.match) return;  // stale
    } else if (m.index != prev_index(pr.next)) {
      return;  // answers a probe we no longer wait for
    }
    RaftIndex probe = m.reject_hint;
    if (m.hint_term.value > 0) probe = find_conflict_by_term(m.reject_hint, m.hint_term);
    pr.state = ProgressState::kProbe;
    pr.inflight.clear();
    pr.probe_sent = false;
    pr.fetching = false;
    pr.needs_truncate = true;
    pr.stall_ticks = 0;
    pr.next = max_index(min_index(m.index, next_index(probe)), next_index(pr.match));
    send_push(m.from);
    return;
  }
  if (m.index > pr.match) {
    pr.match = m.index;
    pr.stall_ticks = 0;
    if (pr.state == ProgressState::kProbe) {
      pr.state = ProgressState::kReplicate;
      pr.probe_sent = false;
      pr.fetching = false;
      pr.inflight.clear();
      pr.next = next_index(pr.match);
    }
    while (!pr.inflight.empty() && pr.inflight.front() <= pr.match) pr.inflight.pop_front();
    if (pr.next <= pr.match) pr.next = next_index(pr.match);
    if (maybe_commit()) after_commit_advanced();
  } else if (pr.state == ProgressState::kProbe && m.index == prev_index(pr.next)) {
    // A compare that matched at an index we already knew: leave probing all the same.
    pr.state = ProgressState::kReplicate;
    pr.probe_sent = false;
    pr.fetching = false;
    pr.inflight.clear();
    pr.next = next_index(pr.match);
  }
  if (role_ != Role::kLeader) return;  // a committed membership change may have removed us
  auto again = progress_.find(m.from);
  if (again == progress_.end()) return;
  while (send_push(m.from)) {
  }
  if (m.from == lead_transferee_ && again->second.match == last_index()) send_timeout_now(m.from);
  if (again->second.inflight.empty() && again->second.commit_sent < min_index(commit_, again->second.match))
    send_commit(m.from);
}

void Node::handle_heartbeat_response(const Message& m) {
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;
  Progress& pr = it->second;
  pr.recent_active = true;
  if (pr.match < last_index() && pr.state == ProgressState::kProbe) pr.probe_sent = false;
  while (send_push(m.from)) {
  }
}

bool Node::send_push(NodeId to) {
  auto it = progress_.find(to);
  if (it == progress_.end() || to == id_) return false;
  Progress& pr = it->second;
  Message m;
  m.type = MessageType::kPush;
  m.to = to;
  m.commit = commit_;
  if (pr.fetching) return false;
  if (pr.state == ProgressState::kProbe) {
    if (pr.probe_sent) return false;
    if (prev_index(pr.next) < offset_) {
      // The term to compare with was compacted: read it back from disk first.
      pr.fetching = true;
      pr.stall_ticks = 0;
      fetches_.push_back(LogFetch{to, prev_index(pr.next), prev_index(pr.next)});
      return false;
    }
    // COMPARE: find where the follower's log matches ours before streaming.
    m.push_type = PushType::kCompare;
    m.index = prev_index(pr.next);
    m.log_term = term_at(m.index);
    m.commit = min_index(commit_, m.index);
    pr.probe_sent = true;
    pr.stall_ticks = 0;
    send(std::move(m));
    return true;
  }
  if (pr.inflight.size() >= cfg_.max_inflight_pushes) return false;
  if (pr.next > last_index()) return false;
  if (pr.next <= offset_) {
    // Entries the follower needs were compacted: the glue reads them back (fetched()).
    const int64_t last = std::min(offset_.value, pr.next.value - 1 + static_cast<int64_t>(cfg_.max_push_entries));
    pr.fetching = true;
    pr.stall_ticks = 0;
    fetches_.push_back(LogFetch{to, prev_index(pr.next), RaftIndex{last}});
    return false;
  }
  m.push_type = pr.needs_truncate ? PushType::kTruncate : PushType::kAppend;
  m.index = prev_index(pr.next);
  m.log_term = term_at(m.index);
  size_t bytes = 0;
  for (RaftIndex i = pr.next; i <= last_index() && m.entries.size() < cfg_.max_push_entries;
       i = next_index(i)) {
    const Entry& e = entry(i);
    if (!m.entries.empty() && bytes + entry_bytes(e) > cfg_.max_push_bytes) break;
    bytes += entry_bytes(e);
    m.entries.push_back(e);
  }
  const RaftIndex last = m.entries.back().index;
  pr.needs_truncate = false;
  pr.next = next_index(last);
  pr.inflight.push_back(last);
  pr.commit_sent = max_index(pr.commit_sent, min_index(commit_, last));
  send(std::move(m));
  return true;
}

void Node::send_commit(NodeId to) {
  Progress& pr = progress_.at(to);
  Message m;
  m.type = MessageType::kPush;
  m.push_type = PushType::kCommit;
  m.to = to;
  m.commit = min_index(commit_, pr.match);
  pr.commit_sent = m.commit;
  send(std::move(m));
}

void Node::broadcast_heartbeat() {
  for (auto& [peer, pr] : progress_) {
    if (peer == id_) continue;
    Message m;
    m.type = MessageType::kHeartbeat;
    m.to = peer;
    // Only what the follower is known to share with us: its log may still hold a conflicting
    // suffix beyond pr.match.
    m.commit = min_index(commit_, pr.match);
    pr.commit_sent = max_index(pr.commit_sent, m.commit);
    send(std::move(m));
  }
}

void Node::send_timeout_now(NodeId to) {
  Message m;
  m.type = MessageType::kTimeoutNow;
  m.to = to;
  m.index = last_index();
  m.log_term = last_term();
  send(std::move(m));
}

bool Node::maybe_commit() {
  // DLedger's QuorumAckChecker: the highest index held by a quorum of voters, counting the
  // leader's own entries only once persisted. Only an entry of the current term is committed this
  // way; earlier ones follow it (§5.4.2).
  const Membership& mem = membership();
  std::vector<RaftIndex> matches;
  matches.reserve(mem.voters.size());
  for (NodeId v : mem.voters) {
    auto it = progress_.find(v);
    matches.push_back(it == progress_.end() ? RaftIndex{0} : it->second.match);
  }
  std::sort(matches.begin(), matches.end(), [](RaftIndex a, RaftIndex b) { return a > b; });
  RaftIndex candidate = matches[mem.quorum() - 1];
  if (candidate > commit_ && term_at(candidate) == term_) {
    commit_ = candidate;
    return true;
  }
  return false;
}

void Node::commit_to(RaftIndex index) {
  if (index > commit_) {
    MQ_CHECK(index <= last_index(), "commit beyond the log");
    commit_ = index;
  }
}

void Node::after_commit_advanced() {
  // A leader removed by a membership change leads until that change commits, then steps aside
  // and hands over to the most up-to-date voter so the group does not wait for a timeout.
  if (!membership().is_voter(id_) && commit_ >= membership_index()) {
    NodeId best = kNoNode;
    RaftIndex best_match;
    for (auto& [peer, pr] : progress_) {
      if (peer != id_ && membership().is_voter(peer) && (best == kNoNode || pr.match > best_match)) {
        best = peer;
        best_match = pr.match;
      }
    }
    if (best != kNoNode && best_match == last_index()) send_timeout_now(best);
    become_follower(term_, kNoNode);
    return;
  }
  if (!cfg_.push_commit_on_advance) return;
  for (auto& [peer, pr] : progress_) {
    if (peer == id_ || !pr.inflight.empty() || pr.state != ProgressState::kReplicate) continue;
    if (pr.commit_sent < min_index(commit_, pr.match)) send_commit(peer);
  }
}

// ---------------------------------------------------------------------------------------------
// Log

void Node::append_to_log(Entry e) {
  MQ_CHECK(e.index == next_index(last_index()), "log append out of order");
  MQ_CHECK(e.term >= last_term(), "log terms must not decrease");
  const bool membership_entry = e.type == EntryType::kMembership;
  log_.push_back(std::move(e));
  if (membership_entry) {
    const Entry& added = log_.back();
    auto m = Membership::decode(added.data);
    MQ_CHECK(m.has_value(), "undecodable membership entry");
    memberships_.emplace_back(added.index, std::move(*m));
    on_membership_changed();
  }
}

void Node::truncate_log_from(RaftIndex index) {
  MQ_CHECK(index > commit_, "truncating committed entries");
  MQ_CHECK(index.value >= 1 && index <= last_index(), "truncate out of range");
  MQ_CHECK(index > offset_, "truncating compacted entries");
  log_.resize(static_cast<size_t>(index.value - offset_.value - 1));
  if (unstable_from_ > index) unstable_from_ = index;
  if (persisted_last_ >= index) persisted_last_ = prev_index(index);
  bool membership_dropped = false;
  while (memberships_.back().first >= index) {
    memberships_.pop_back();
    membership_dropped = true;
  }
  // A configuration takes effect when appended, so losing its entry reverts it (§6).
  if (membership_dropped) on_membership_changed();
}

void Node::on_membership_changed() {
  if (role_ != Role::kLeader) {
    if (!membership().is_voter(id_) && role_ != Role::kFollower) become_follower(term_, lead_);
    return;
  }
  const Membership& mem = membership();
  for (auto it = progress_.begin(); it != progress_.end();) {
    if (!mem.contains(it->first) && it->first != id_) {
      if (it->first == lead_transferee_) abort_transfer();
      it = progress_.erase(it);
    } else {
      ++it;
    }
  }
  for (NodeId peer : mem.members()) {
    if (progress_.count(peer)) continue;
    Progress& pr = progress_[peer];
    pr.next = last_index();  // the membership entry itself is in flight; start probing at it
    pr.recent_active = true;
  }
}

void Node::append_local(std::vector<Entry> entries) {
  for (Entry& e : entries) {
    e.term = term_;
    e.index = next_index(last_index());
    append_to_log(std::move(e));
  }
  for (auto& [peer, pr] : progress_) {
    if (peer == id_) continue;
    while (send_push(peer)) {
    }
  }
  // A single-voter group commits as soon as the leader persists (advance()).
}

Result<RaftIndex, ProposeError> Node::check_can_propose(size_t count) const {
  if (role_ != Role::kLeader) return make_error(ProposeError::kNotLeader, "not leader");
  if (lead_transferee_ != kNoNode) return make_error(ProposeError::kTransferring, "transferring");
  const uint64_t uncommitted = static_cast<uint64_t>(last_index().value - commit_.value);
  if (uncommitted + count > cfg_.max_uncommitted_entries)
    return make_error(ProposeError::kPendingFull, "pending requests full");
  return RaftIndex{0};
}

Result<RaftIndex, ProposeError> Node::propose(std::string data) {
  MQ_CHECK(!ready_outstanding_, "propose between ready() and advance()");
  auto ok = check_can_propose(1);
  if (!ok) return ok;
  Entry e;
  e.data = std::move(data);
  std::vector<Entry> v;
  v.push_back(std::move(e));
  append_local(std::move(v));
  return last_index();
}

Result<RaftIndex, ProposeError> Node::propose_batch(std::vector<std::string> data) {
  MQ_CHECK(!ready_outstanding_, "propose between ready() and advance()");
  if (data.empty()) return make_error(ProposeError::kInvalidArgument, "empty batch");
  auto ok = check_can_propose(data.size());
  if (!ok) return ok;
  std::vector<Entry> v(data.size());
  for (size_t i = 0; i < data.size(); ++i) v[i].data = std::move(data[i]);
  append_local(std::move(v));
  return last_index();
}

Result<RaftIndex, ProposeError> Node::propose_membership(MembershipChange change) {
  MQ_CHECK(!ready_outstanding_, "propose between ready() and advance()");
  auto ok = check_can_propose(1);
  if (!ok) return ok;
  // One change at a time, and only after this leader committed an entry of its own term:
  // otherwise two leaders could each add a change to different old configurations whose
  // majorities do not overlap (the single-server change bug, Ongaro 2015).
  if (pending_membership_index_ > commit_ || membership_index() > commit_)
    return make_error(ProposeError::kMembershipPending, "membership change pending");
  if (term_at(commit_) != term_)
    return make_error(ProposeError::kLeaderNotReady, "no entry of this term committed yet");
  Membership next = membership();
  switch (change.type) {
    case MembershipChangeType::kAddLearner:
      if (change.node == kNoNode || next.contains(change.node))
        return make_error(ProposeError::kInvalidArgument, "already a member");
      next.learners.push_back(change.node);
      if (!change.address.empty()) next.addresses[change.node] = change.address;
      break;
    case MembershipChangeType::kPromote: {
      if (!next.is_learner(change.node))
        return make_error(ProposeError::kInvalidArgument, "not a learner");
      auto it = progress_.find(change.node);
      // A voter that cannot yet acknowledge new entries would only lower availability.
      if (it == progress_.end() || it->second.match < commit_)
        return make_error(ProposeError::kNotCaughtUp, "learner behind the commit index");
      std::erase(next.learners, change.node);
      next.voters.push_back(change.node);
      break;
    }
    case MembershipChangeType::kRemove:
      if (!next.contains(change.node))
        return make_error(ProposeError::kInvalidArgument, "not a member");
      std::erase(next.learners, change.node);
      std::erase(next.voters, change.node);
      if (next.voters.empty())
        return make_error(ProposeError::kInvalidArgument, "cannot remove the last voter");
      break;
    default:
      return make_error(ProposeError::kInvalidArgument, "unknown change");
  }
  next.normalize();
  Entry e;
  e.type = EntryType::kMembership;
  e.data = next.encode();
  std::vector<Entry> v;
  v.push_back(std::move(e));
  append_local(std::move(v));
  pending_membership_index_ = last_index();
  return last_index();
}

// ---------------------------------------------------------------------------------------------
// Leadership transfer

Result<Unit, ProposeError> Node::transfer_leadership(NodeId target) {
  MQ_CHECK(!ready_outstanding_, "transfer between ready() and advance()");
  if (role_ != Role::kLeader) return make_error(ProposeError::kNotLeader, "not leader");
  if (target == id_) return Unit{};
  if (!membership().is_voter(target))
    return make_error(ProposeError::kInvalidArgument, "target is not a voter");
  if (lead_transferee_ == target) return Unit{};
  lead_transferee_ = target;
  transfer_elapsed_ = 0;
  Progress& pr = progress_.at(target);
  if (pr.match == last_index()) {
    send_timeout_now(target);
  } else {
    send_push(target);
  }
  return Unit{};
}

void Node::abort_transfer() {
  lead_transferee_ = kNoNode;
  transfer_elapsed_ = 0;
}

void Node::check_preferred_leader() {
  const NodeId p = cfg_.preferred_leader;
  if (p == id_ || lead_transferee_ != kNoNode || !membership().is_voter(p)) return;
  auto it = progress_.find(p);
  if (it == progress_.end() || !it->second.recent_active) return;
  const uint64_t lag = static_cast<uint64_t>(last_index().value - it->second.match.value);
  if (lag >= cfg_.transfer_max_lag_entries) return;
  (void)transfer_leadership(p);
}

std::optional<RaftIndex> Node::match_of(NodeId peer) const {
  auto it = progress_.find(peer);
  if (it == progress_.end()) return std::nullopt;
  return it->second.match;
}

// ---------------------------------------------------------------------------------------------
// Ready / advance

bool Node::has_ready() const {
  if (!msgs_.empty() || !fetches_.empty()) return true;
  if (unstable_from_ <= last_index()) return true;
  if (commit_ > applied_) return true;
  return !(HardState{term_, vote_, commit_} == prev_hard_state_);
}

Ready Node::ready() {
  MQ_CHECK(!ready_outstanding_, "ready() twice without advance()");
  ready_outstanding_ = true;
  Ready rd;
  HardState hs{term_, vote_, commit_};
  if (!(hs == prev_hard_state_)) rd.hard_state = hs;
  if (unstable_from_ <= last_index())
    rd.entries.assign(log_.begin() + (unstable_from_.value - offset_.value - 1), log_.end());
  rd.messages = std::move(msgs_);
  msgs_.clear();
  if (commit_ > applied_)
    rd.committed.assign(log_.begin() + (applied_.value - offset_.value),
                        log_.begin() + (commit_.value - offset_.value));
  rd.fetches = std::move(fetches_);
  fetches_.clear();
  rd.role = role_;
  rd.leader = lead_;
  return rd;
}

void Node::advance(const Ready& rd) {
  MQ_CHECK(ready_outstanding_, "advance() without ready()");
  ready_outstanding_ = false;
  if (rd.hard_state) prev_hard_state_ = *rd.hard_state;
  if (!rd.entries.empty()) {
    unstable_from_ = next_index(rd.entries.back().index);
    persisted_last_ = rd.entries.back().index;
  }
  if (!rd.committed.empty()) applied_ = rd.committed.back().index;
  if (role_ == Role::kLeader && !rd.entries.empty()) {
    Progress& self = progress_[id_];
    if (persisted_last_ > self.match) self.match = persisted_last_;
    if (maybe_commit()) after_commit_advanced();
  }
}

}  // namespace mq::raft
