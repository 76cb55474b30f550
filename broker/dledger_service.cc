#include "broker/dledger_service.h"

#include <algorithm>

#include "base/bytes.h"
#include "codec/message.h"
#include "raft/wire.h"

namespace mq {

namespace {
// Where RocketMQ's record keeps its own commit log offset (after TOTALSIZE, MAGICCODE, BODYCRC,
// QUEUEID, FLAG and QUEUEOFFSET).
constexpr size_t kPhysicalOffsetField = 28;
// Entries kept in the core's memory behind the applied index, for followers a little behind;
// older ones are read back from disk when needed.
constexpr int64_t kRetainedEntries = 4096;

// True when `body` is one whole message record (the entries of a DLedger broker are; no-ops and
// membership entries are not).
bool is_message_record(const char* body, size_t len) {
  if (len < kPhysicalOffsetField + 8) return false;
  const auto* p = reinterpret_cast<const uint8_t*>(body);
  return get_be32(p) == len && (get_be32(p + 4) == kMessageMagicV1 || get_be32(p + 4) == kMessageMagicV2);
}

int64_t ticks(int64_t ms, int64_t tick_ms) { return std::max<int64_t>(1, ms / std::max<int64_t>(tick_ms, 1)); }

// The broker's MessageStore as the group's state machine: a committed entry is a message record
// that the store dispatches to its ConsumeQueues at its CommitLog offset (pos + 48).
class MessageStoreStateMachine final : public DLedgerStateMachine {
 public:
  MessageStoreStateMachine(store::MessageStore& store, std::function<void(const store::CommittedRecord&)> on_committed)
      : store_(store), on_committed_(std::move(on_committed)) {}
  int64_t applied_pos() const override { return store_.dispatched_offset(); }
  Result<int64_t, std::string> apply(int64_t pos, std::string& record) override {
    const int64_t offset = pos + 48;
    // The Ready's copy of the entry is ours to patch as the append hook patched the disk's.
    if (is_message_record(record.data(), record.size()))
      put_be64(reinterpret_cast<uint8_t*>(record.data()) + kPhysicalOffsetField, static_cast<uint64_t>(offset));
    auto r = store_.dispatch_committed(offset, record);
    if (!r.ok()) return make_error(std::string(), r.detail());
    if (on_committed_) on_committed_(*r);
    return static_cast<int64_t>(r->size);
  }
  void on_leader_ready_changed(bool) override {
    // Offsets handed out to proposals of another term mean nothing now: start from the queues.
    store_.reset_queue_offsets();
  }
  bool entries_are_messages() const override { return true; }

 private:
  store::MessageStore& store_;
  std::function<void(const store::CommittedRecord&)> on_committed_;
};
}  // namespace

DLedgerService::DLedgerService(EventLoop& loop, std::shared_ptr<WorkerPool::Strand> strand, store::FileSystem& fs,
                               const Clock& clock, Logger log, DLedgerOptions options, Callbacks callbacks)
    : loop_(loop),
      strand_(std::move(strand)),
      fs_(fs),
      clock_(clock),
      log_(std::move(log)),
      opt_(std::move(options)),
      cb_(std::move(callbacks)),
      tick_timer_(loop),
      flush_timer_(loop) {
  for (const auto& p : opt_.peers) book_[p.node] = p;
}

DLedgerService::~DLedgerService() {
  shutdown();
  *alive_ = false;
}

const DLedgerPeerAddress* DLedgerService::peer(raft::NodeId n) const {
  auto it = book_.find(n);
  return it == book_.end() ? nullptr : &it->second;
}

void DLedgerService::refresh_address_book() {
  if (node_->membership_index() == book_membership_index_) return;
  book_membership_index_ = node_->membership_index();
  for (const auto& [node, addr] : node_->membership().addresses) {
    auto& entry = book_[node];
    if (entry.id.empty()) entry.id = "n" + std::to_string(node);
    entry.node = node;
    if (entry.addr != addr) {
      if (!entry.addr.empty()) log_.info("member " + entry.id + " now at " + addr);
      entry.addr = addr;
    }
  }
  log_.info("DLedger membership: " + raft::to_string(node_->membership()));
}

std::string DLedgerService::peer_name(raft::NodeId n) const {
  const auto* p = peer(n);
  return p ? p->id : std::to_string(n);
}

std::string DLedgerService::leader_id() const {
  raft::NodeId l = leader();
  return l == raft::kNoNode ? std::string() : peer_name(l);
}

Result<Unit, std::string> DLedgerService::open() {
  raft::DiskLogOptions o;
  o.data_file_size = opt_.data_file_size;
  // DLedgerCommitLog's append hook: the record learns its own commit log offset as it lands.
  o.append_hook = [this](const raft::Entry& e, int64_t pos, char* body, size_t len) {
    positions_[e.index.value] = pos;
    if (sm_ && sm_->entries_are_messages() && e.type == raft::EntryType::kNormal && is_message_record(body, len))
      put_be64(reinterpret_cast<uint8_t*>(body) + kPhysicalOffsetField, static_cast<uint64_t>(pos + 48));
  };
  auto log = raft::DiskLog::open(fs_, opt_.dir, std::move(o));
  if (!log.ok()) return make_error(std::string(), "DLedger log " + opt_.dir + ": " + log.detail());
  disk_log_ = std::move(*log);
  start_pos_.store(disk_log_->start_pos(), std::memory_order_release);
  const auto& rec = disk_log_->recovery();
  log_.info("DLedger log " + opt_.dir + ": " + std::to_string(rec.entries) + " entries, end pos " +
            std::to_string(disk_log_->end_pos()) +
            (rec.stopped_because.empty() ? std::string()
                                         : ", torn tail cut (" + rec.stopped_because + ", " +
                                               std::to_string(rec.discarded_bytes) + " bytes)"));
  return Unit{};
}

store::IoResult<std::string> DLedgerService::read(int64_t offset, size_t n) const {
  auto r = disk_log_->read_raw(offset, n);
  if (!r.ok()) return make_error(store::IoError::kNotFound, r.detail());
  return std::move(*r);
}

std::string DLedgerService::peer_address(raft::NodeId n) const {
  const DLedgerPeerAddress* p = peer(n);
  return p ? p->addr : std::string();
}

Result<Unit, std::string> DLedgerService::start(store::MessageStore& store) {
  store_sm_ = std::make_unique<MessageStoreStateMachine>(store, cb_.on_committed);
  return start(*store_sm_);
}

Result<Unit, std::string> DLedgerService::start(DLedgerStateMachine& sm) {
  sm_ = &sm;
  // Resume applying after the newest entry the state machine already holds (for the store: the
  // newest the ConsumeQueues reference).
  RaftIndex applied{0};
  if (!disk_log_->empty() && sm.applied_pos() > 0) {
    auto next = disk_log_->index_at_or_after_pos(sm.applied_pos());
    applied = next.ok() ? raft::prev_index(*next) : disk_log_->last_index();
    if (applied < raft::prev_index(disk_log_->first_index())) applied = raft::prev_index(disk_log_->first_index());
  }
  auto ps = raft::load_persisted(*disk_log_, applied);
  if (!ps.ok()) return make_error(std::string(), "DLedger state in " + opt_.dir + ": " + ps.detail());
  // What the queues reference was committed when it was dispatched, even if the checkpoint
  // written after it did not survive.
  if (ps->hard_state.commit < applied) ps->hard_state.commit = applied;
  persisted_hs_ = ps->hard_state;
  checkpointed_commit_ = ps->hard_state.commit;

  raft::NodeConfig cfg;
  cfg.id = opt_.self;
  for (const auto& p : opt_.peers) {
    if (opt_.join && p.node == opt_.self) continue;
    cfg.bootstrap.voters.push_back(p.node);
    cfg.bootstrap.addresses[p.node] = p.addr;
  }
  cfg.bootstrap.normalize();
  cfg.heartbeat_ticks = static_cast<int>(ticks(opt_.heartbeat_interval_ms, opt_.tick_ms));
  cfg.election_ticks = static_cast<int>(ticks(opt_.election_timeout_ms, opt_.tick_ms));
  cfg.push_retry_ticks = static_cast<int>(ticks(1000, opt_.tick_ms));
  cfg.preferred_leader = opt_.preferred_leader;
  cfg.preferred_check_ticks = static_cast<int>(ticks(1000, opt_.tick_ms));
  cfg.seed = opt_.seed;
  cfg.max_inflight_pushes = 64;
  cfg.max_push_bytes = 256 * 1024;
  // Followers learn commits from the next push or heartbeat (every dLegerHeartbeatIntervalMs):
  // a commit push to each follower per commit would double their wake-ups under load.
  cfg.push_commit_on_advance = false;
  const size_t loaded = ps->entries.size();
  node_ = std::make_unique<raft::Node>(cfg, std::move(*ps));
  refresh_address_book();

  RemotingServerOptions so;
  const DLedgerPeerAddress* self = peer(opt_.self);
  if (!self) return make_error(std::string(), "self id not in dLegerPeers");
  auto colon = self->addr.rfind(':');
  so.listen_port = colon == std::string::npos ? 0 : std::atoi(self->addr.c_str() + colon + 1);
  so.max_frame_bytes = opt_.max_frame_bytes;
  so.idle_close_ms = 0;
  server_ = std::make_unique<RemotingServer>(loop_, so, log_);
  for (int t = 1; t <= static_cast<int>(raft::MessageType::kTimeoutNow); ++t) {
    server_->register_handler(raft::request_code(static_cast<raft::MessageType>(t)),
                              [this](const RequestContext& ctx, RemotingCommand& req) {
                                auto d = raft::decode_message(req.code, req.body);
                                if (!d.ok()) {
                                  log_.warn("malformed Raft message from " + ctx.peer_address() + ": " + d.detail());
                                  if (auto c = ctx.connection()) c->close("malformed Raft message");
                                  return;
                                }
                                if (d->group != opt_.group || d->message.to != opt_.self || !peer(d->message.from)) {
                                  log_.warn("Raft message for group '" + d->group + "' node " +
                                            std::to_string(d->message.to) + " from " + ctx.peer_address() +
                                            " is not for this node (group '" + opt_.group + "')");
                                  return;
                                }
                                feed(std::move(d->message));
                              });
  }
  auto port = server_->start();
  if (!port.ok()) return make_error(std::string(), "DLedger port " + self->addr + " (dLegerPeers): " + port.detail());
  RemotingClientOptions co;
  co.connect_timeout_ms = std::max<int64_t>(opt_.election_timeout_ms, 200);
  co.max_frame_bytes = opt_.max_frame_bytes;
  client_ = std::make_unique<RemotingClient>(loop_, co, log_);

  last_checkpoint_ms_ = clock_.monotonic_ms();
  tick_timer_.start(static_cast<uint64_t>(opt_.tick_ms), static_cast<uint64_t>(opt_.tick_ms), [this] { on_tick(); });
  if (!opt_.sync_flush) {
    uint64_t every = static_cast<uint64_t>(std::max<int64_t>(opt_.flush_interval_ms, 1));
    flush_timer_.start(every, every, [this] { flush_data(false); });
  }
  log_.info("DLedger group " + opt_.group + " member " + peer_name(opt_.self) + " on port " + std::to_string(*port) +
            ": term " + std::to_string(node_->term().value) + ", log [" +
            std::to_string(disk_log_->first_index().value) + ", " + std::to_string(disk_log_->last_index().value) +
            "], commit " + std::to_string(node_->commit_index().value) + ", applied " +
            std::to_string(applied.value) + ", " + std::to_string(loaded) + " entries to re-apply or confirm");
  pump();  // entries committed before the restart are applied without waiting for a leader
  return Unit{};
}

void DLedgerService::shutdown() {
  if (!node_) return;
  tick_timer_.stop();
  flush_timer_.stop();
  if (server_) server_->stop();
  if (client_) client_->close_all();
  fail_pending(store::PutMessageStatus::kServiceNotAvailable, "broker shutting down");
  inbox_.clear();
  if (disk_log_ && !broken_) {
    auto job = disk_log_->prepare_sync();
    auto r = job.run();
    if (!r.ok()) log_.error("DLedger data sync at shutdown: " + r.detail());
    auto c = raft::save_checkpoint(fs_, opt_.dir, disk_log_->last_index(), node_->commit_index());
    if (!c.ok()) log_.error("DLedger checkpoint at shutdown: " + c.detail());
  }
  node_.reset();
  sm_ = nullptr;
}

// ---------------------------------------------------------------------------------------------
// Inputs

void DLedgerService::on_tick() {
  if (!waiting_for_space_ && !broken_ && cb_.store_full_reason)
    if (std::string full = cb_.store_full_reason(); !full.empty()) wait_for_space(nullptr, "the broker's store: " + full);
  if (waiting_for_space_) {
    expire_pending();
    recheck_space();
    return;
  }
  feed(Input{0});
  expire_pending();
  const int64_t now = clock_.monotonic_ms();
  if (now - last_checkpoint_ms_ >= opt_.checkpoint_interval_ms) {
    last_checkpoint_ms_ = now;
    flush_data(true);
  }
}

void DLedgerService::set_isolated(bool isolated) {
  if (isolated != isolated_) log_.warn(std::string("fault injection: Raft traffic ") + (isolated ? "cut" : "restored"));
  isolated_ = isolated;
}

void DLedgerService::feed(Input in) {
  // While the disk is full the member is silent, as if it were down: the leader keeps resending
  // what this follower lacks, and a leader's followers elect another once its heartbeats stop.
  if (!node_ || broken_ || waiting_for_space_) return;
  if (isolated_ && std::holds_alternative<raft::Message>(in)) return;
  inbox_.push_back(std::move(in));
  schedule_pump();
}

void DLedgerService::schedule_pump() {
  if (pump_scheduled_) return;
  pump_scheduled_ = true;
  std::weak_ptr<bool> alive = alive_;
  loop_.at_flush_point([this, alive] {
    if (alive.expired()) return;
    pump_scheduled_ = false;
    pump();
  });
}

void DLedgerService::propose(std::vector<std::string> records, store::PutMessageResult base, HostAddress store_host,
                             ProposeCallback cb) {
  auto p = std::make_shared<Pending>();
  p->result = std::move(base);
  p->store_host = store_host;
  p->cb = std::move(cb);
  p->deadline_ms = clock_.monotonic_ms() + opt_.max_wait_ack_ms;
  if (!node_ || broken_ || waiting_for_space_ || !leader_ready_) {
    return complete(*p, store::PutMessageStatus::kServiceNotAvailable,
                    broken_ ? broken_reason_
                    : waiting_for_space_ ? space_reason_
                            : "DLedger member " + peer_name(opt_.self) + " is not the leader (leader: " +
                                  (leader_id().empty() ? std::string("unknown") : leader_id()) + ")");
  }
  proposal_inbox_.emplace_back(std::move(records), std::move(p));
  schedule_pump();
}

void DLedgerService::pump() {
  if (pumping_ || !node_) return;
  pumping_ = true;
  while (!broken_ && !waiting_for_space_) {
    // A Ready whose writes met a full disk is finished before anything new is stepped.
    if (!persist_in_flight_ && !unpersisted_ready_) {
      while (!inbox_.empty()) {
        Input in = std::move(inbox_.front());
        inbox_.pop_front();
        if (auto* m = std::get_if<raft::Message>(&in)) {
          node_->step(*m);
        } else if (auto* mr = std::get_if<MembershipRequest>(&in)) {
          auto r = node_->propose_membership(mr->change);
          if (!r.ok()) log_.warn(std::string("membership change refused: ") + raft::to_string(r.error().code));
        } else if (auto* t = std::get_if<TransferRequest>(&in)) {
          auto r = node_->transfer_leadership(t->target);
          if (!r.ok()) log_.warn("leadership transfer to " + peer_name(t->target) + " refused: " + raft::to_string(r.error().code));
        } else {
          node_->tick();
        }
      }
      while (!proposal_inbox_.empty()) {
        auto [records, p] = std::move(proposal_inbox_.front());
        proposal_inbox_.pop_front();
        if (!leader_ready_) {
          complete(*p, store::PutMessageStatus::kServiceNotAvailable, "leadership lost");
          continue;
        }
        const size_t n = records.size();
        auto r = node_->propose_batch(std::move(records));
        if (!r.ok()) {
          // PENDING_FULL is back-pressure (RocketMQ: OS_PAGECACHE_BUSY), the rest "not available".
          complete(*p,
                   r.error().code == raft::ProposeError::kPendingFull ? store::PutMessageStatus::kOsPageCacheBusy
                                                                      : store::PutMessageStatus::kServiceNotAvailable,
                   std::string("DLedger: ") + raft::to_string(r.error().code));
          continue;
        }
        p->last = *r;
        p->first = RaftIndex{r->value - static_cast<int64_t>(n) + 1};
        p->term = node_->term();
        pending_[p->first.value] = p;
      }
    }
    if (persist_in_flight_) break;
    std::shared_ptr<raft::Ready> rd;
    if (unpersisted_ready_) {
      rd = std::move(unpersisted_ready_);  // written again now that there is room
    } else {
      if (!node_->has_ready()) break;
      rd = std::make_shared<raft::Ready>(node_->ready());
    }
    if (!rd->entries.empty()) {
      auto a = disk_log_->append(rd->entries);
      if (!a.ok()) {
        if (a.code() == raft::DiskError::kNoSpace) {
          wait_for_space(std::move(rd), "DLedger log append: " + a.detail());
        } else {
          stop_writes("DLedger log append: " + a.detail());
        }
        break;
      }
    }
    if (rd->hard_state &&
        (rd->hard_state->term != persisted_hs_.term || rd->hard_state->vote != persisted_hs_.vote)) {
      auto s = raft::save_hard_state(fs_, opt_.dir, *rd->hard_state, [this](raft::NodeId n) { return peer_name(n); });
      if (!s.ok()) {
        if (s.code() == raft::DiskError::kNoSpace) {
          wait_for_space(std::move(rd), "DLedger currterm: " + s.detail());
        } else {
          stop_writes("DLedger currterm: " + s.detail());
        }
        break;
      }
    }
    if (rd->hard_state) persisted_hs_ = *rd->hard_state;
    if (opt_.sync_flush && !rd->entries.empty()) {
      persist_in_flight_ = true;
      auto job = std::make_shared<raft::DiskLog::SyncJob>(disk_log_->prepare_sync());
      auto result = std::make_shared<Result<int64_t, raft::DiskError>>(make_error(raft::DiskError::kIo, "not run"));
      std::weak_ptr<bool> alive = alive_;
      strand_->submit([job, result] { *result = job->run(); },
                      [this, alive, rd, result] {
                        if (alive.expired() || !node_) return;
                        persist_in_flight_ = false;
                        if (!result->ok()) return stop_writes("DLedger log fsync: " + result->detail());
                        finish_ready(std::move(*rd));
                        pump();
                      });
      break;
    }
    finish_ready(std::move(*rd));
  }
  pumping_ = false;
}

void DLedgerService::finish_ready(raft::Ready rd) {
  for (const auto& m : rd.messages) send(m);
  // advance() looks only at the last committed index, which applying leaves as it is.
  apply(rd.committed);
  node_->advance(rd);
  refresh_address_book();
  for (const auto& f : rd.fetches) {
    std::vector<raft::Entry> entries;
    bool ok = true;
    for (RaftIndex i = f.prev.value > 0 ? f.prev : RaftIndex{1}; i <= f.last; i = raft::next_index(i)) {
      auto e = disk_log_->read(i);
      if (!e.ok()) {
        log_.warn("reading entry " + std::to_string(i.value) + " for " + peer_name(f.peer) + ": " + e.detail());
        ok = false;
        break;
      }
      entries.push_back(std::move(*e));
    }
    if (ok) node_->fetched(f.peer, std::move(entries));
  }
  const RaftIndex applied = node_->applied_index();
  if (applied.value - node_->log_offset().value > 2 * kRetainedEntries)
    node_->compact(RaftIndex{applied.value - kRetainedEntries});
  check_role();
}

void DLedgerService::send(const raft::Message& m) {
  const DLedgerPeerAddress* p = peer(m.to);
  if (!p || isolated_) return;
  RemotingCommand cmd = RemotingCommand::request(raft::request_code(m.type));
  cmd.body = raft::encode_message(opt_.group, m);
  client_->invoke_oneway(p->addr, std::move(cmd));
}

int64_t DLedgerService::pos_of(RaftIndex index) {
  auto it = positions_.find(index.value);
  if (it != positions_.end()) return it->second;
  auto p = disk_log_->pos_of(index);
  return p.ok() ? *p : -1;
}

void DLedgerService::apply(std::vector<raft::Entry>& committed) {
  for (auto& e : committed) {
    // The send this index belongs to, if this leader proposed it.
    std::shared_ptr<Pending> p;
    if (!pending_.empty()) {
      auto it = pending_.upper_bound(e.index.value);
      if (it != pending_.begin()) {
        --it;
        if (e.index <= it->second->last) p = it->second;
      }
    }
    if (p && e.term != p->term) {
      // A newer leader overwrote the send before it committed.
      pending_.erase(p->first.value);
      complete(*p, store::PutMessageStatus::kServiceNotAvailable, "leadership changed before the send committed");
      p.reset();
    }
    if (e.type != raft::EntryType::kNormal || e.data.empty()) continue;
    const int64_t pos = pos_of(e.index);
    if (pos < 0) {
      stop_writes("no position for committed entry " + std::to_string(e.index.value));
      return;
    }
    const int64_t offset = pos + 48;
    auto r = sm_->apply(pos, e.data);
    if (!r.ok()) {
      log_.error("committed entry " + std::to_string(e.index.value) + " not applied: " + r.detail());
      if (p) {
        pending_.erase(p->first.value);
        complete(*p, store::PutMessageStatus::kUnknownError, r.detail());
      }
      continue;
    }
    if (p) {
      if (e.index == p->first) p->result.wrote_offset = offset;
      p->result.wrote_bytes += static_cast<int32_t>(*r);
      if (sm_->entries_are_messages()) p->result.msg_ids.push_back(make_offset_msg_id(p->store_host, offset));
      p->result.end_offset = offset + *r;
      if (e.index == p->last) {
        pending_.erase(p->first.value);
        complete(*p, store::PutMessageStatus::kPutOk, "");
      }
    }
  }
  if (!committed.empty())
    positions_.erase(positions_.begin(), positions_.upper_bound(committed.back().index.value));
}

void DLedgerService::complete(Pending& p, store::PutMessageStatus status, const std::string& detail) {
  if (!p.cb) return;
  p.result.status = status;
  if (status != store::PutMessageStatus::kPutOk) {
    p.result.detail = detail;
    p.result.msg_ids.clear();
  }
  auto cb = std::move(p.cb);
  p.cb = nullptr;
  cb(std::move(p.result));
}

void DLedgerService::fail_pending(store::PutMessageStatus status, const std::string& detail) {
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& [_, p] : pending) complete(*p, status, detail);
  auto queued = std::move(proposal_inbox_);
  proposal_inbox_.clear();
  for (auto& [_, p] : queued) complete(*p, status, detail);
}

void DLedgerService::expire_pending() {
  const int64_t now = clock_.monotonic_ms();
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second->deadline_ms > now) {
      ++it;
      continue;
    }
    auto p = it->second;
    it = pending_.erase(it);
    // DLedger's WAIT_QUORUM_ACK_TIMEOUT; the entries may still commit later.
    complete(*p, store::PutMessageStatus::kInSyncReplicasNotEnough,
             "no quorum acknowledged the send within " + std::to_string(opt_.max_wait_ack_ms) + " ms");
  }
}

void DLedgerService::check_role() {
  const raft::Role role = node_->role();
  const raft::NodeId leader = node_->leader();
  // Ready once everything committed up to an entry of its own term is applied; then ready for the
  // rest of the term (later commits are applied a cycle after they commit when the leader's own
  // persist completes the quorum, e.g. in a group of one: that lag must not flap the role).
  bool ready = false;
  if (role == raft::Role::kLeader) {
    ready = ready_term_ == node_->term() ||
            (node_->commit_index().value > 0 && node_->term_at(node_->commit_index()) == node_->term() &&
             node_->applied_index() == node_->commit_index());
  }
  ready_term_ = ready ? node_->term() : Term{};
  if (ready != leader_ready_) {
    leader_ready_ = ready;
    sm_->on_leader_ready_changed(ready);
  }
  if (role_reported_ && role == last_role_ && leader == last_leader_ && ready == last_ready_) return;
  role_reported_ = true;
  last_role_ = role;
  last_leader_ = leader;
  last_ready_ = ready;
  log_.info(std::string("DLedger role ") + raft::to_string(role) + (ready ? " (ready)" : "") + ", term " +
            std::to_string(node_->term().value) + ", leader " + (leader_id().empty() ? "unknown" : leader_id()));
  if (cb_.on_role_change) cb_.on_role_change(role, ready, leader);
}

// ---------------------------------------------------------------------------------------------
// Durability

void DLedgerService::flush_data(bool and_checkpoint) {
  if (flush_running_ || broken_ || !disk_log_ || !node_) return;
  flush_running_ = true;
  auto job = std::make_shared<raft::DiskLog::SyncJob>(disk_log_->prepare_sync());
  auto result = std::make_shared<Result<int64_t, raft::DiskError>>(make_error(raft::DiskError::kIo, "not run"));
  const bool checkpoint = and_checkpoint && node_->commit_index() != checkpointed_commit_;
  const RaftIndex end = disk_log_->last_index(), commit = node_->commit_index();
  std::string dir = opt_.dir;
  store::FileSystem* fs = &fs_;
  auto cp_result = std::make_shared<Result<Unit, raft::DiskError>>(Unit{});
  std::weak_ptr<bool> alive = alive_;
  strand_->submit(
      [job, result, checkpoint, fs, dir, end, commit, cp_result] {
        *result = job->run();
        // The checkpoint may only claim what the data files hold durably.
        if (checkpoint && result->ok()) *cp_result = raft::save_checkpoint(*fs, dir, end, commit);
      },
      [this, alive, result, cp_result, checkpoint, commit] {
        if (alive.expired()) return;
        flush_running_ = false;
        if (!result->ok()) return stop_writes("DLedger log fsync: " + result->detail());
        if (!cp_result->ok()) log_.warn("DLedger checkpoint: " + cp_result->detail());
        else if (checkpoint) checkpointed_commit_ = commit;
      });
}

// A full disk is not a broken one: the writes that failed changed nothing (DiskLog::append rolls
// back; the term file is replaced by rename), so the member stops stepping and waits (`rd` is null
// when the broker's store reported the full disk first). Once the disk has room for a new data
// file and index units, the same Ready is written again and the cycle goes on as if the writes had
// been slow. Meanwhile the member neither votes nor acknowledges, so the others carry on without
// it (a leader loses its leadership after one election timeout).
void DLedgerService::wait_for_space(std::shared_ptr<raft::Ready> rd, const std::string& why) {
  unpersisted_ready_ = std::move(rd);
  waiting_for_space_ = true;
  space_reason_ = "the DLedger log's disk is full (" + why + "); the member resumes when space returns";
  log_.error("DLedger member pauses (no votes, no appends): " + space_reason_);
  inbox_.clear();
  // Sends already proposed or queued keep their queue offsets and stay: they are written when the
  // member resumes (their producers get the usual timeout answer meanwhile). New sends are refused.
  // The broker stops registering as the group's master, so the NameServer's route follows
  // whichever member the others elect; the next role check reports the real role again.
  if (cb_.on_role_change) cb_.on_role_change(raft::Role::kFollower, false, raft::kNoNode);
  last_role_ = raft::Role::kFollower;
  last_ready_ = false;
  last_leader_ = raft::kNoNode;
}

void DLedgerService::recheck_space() {
  auto space = probe_ ? probe_(opt_.dir) : std::nullopt;
  // Room for the next data file and some index units (index files are sparse: a new one is only
  // made every five million entries, and it fills 32 bytes per entry).
  const int64_t needed = opt_.data_file_size + kIndexRoomBytes;
  if (space && space->available_bytes < needed) return;
  if (cb_.store_full_reason && !cb_.store_full_reason().empty()) return;
  waiting_for_space_ = false;
  log_.info("DLedger log's disk has room again (" +
            (space ? std::to_string(space->available_bytes / (1024 * 1024)) + " MiB free" : std::string("not measurable")) +
            "): writing the paused entries and resuming");
  space_reason_.clear();
  pump();
}

void DLedgerService::stop_writes(const std::string& why) {
  if (broken_) return;
  broken_ = true;
  broken_reason_ = why;
  log_.error("DLedger member stops (no votes, no appends) after a disk failure: " + why);
  tick_timer_.stop();
  flush_timer_.stop();
  if (server_) server_->stop();
  fail_pending(store::PutMessageStatus::kServiceNotAvailable, why);
  leader_ready_ = false;
  if (cb_.on_role_change) cb_.on_role_change(raft::Role::kFollower, false, raft::kNoNode);
}

// ---------------------------------------------------------------------------------------------
// Admin

Result<Unit, std::string> DLedgerService::transfer_leadership(const std::string& peer_id) {
  if (!node_ || broken_) return make_error(std::string(), "DLedger member not running");
  const DLedgerPeerAddress* target = nullptr;
  for (const auto& [n, p] : book_)
    if (p.id == peer_id && node_->membership().is_voter(n)) target = &p;
  if (!target) return make_error(std::string(), "unknown member " + peer_id);
  if (node_->role() != raft::Role::kLeader) return make_error(std::string(), "not the leader");
  if (target->node == opt_.self) return Unit{};
  if (!persist_in_flight_ && !pumping_) {
    auto r = node_->transfer_leadership(target->node);
    if (!r.ok()) return make_error(std::string(), std::string("transfer refused: ") + raft::to_string(r.error().code));
  } else {
    // Between ready() and advance() the core takes no input: the transfer starts after this cycle.
    inbox_.push_back(Input{TransferRequest{target->node}});
  }
  pump();
  return Unit{};
}

int DLedgerService::delete_expired(int64_t now_ms, int64_t reserved_ms, bool forcibly, int max_files) {
  if (!node_ || broken_ || persist_in_flight_ || pumping_) return 0;
  // Only what the state machine has: everything after the applied index stays.
  const RaftIndex keep = raft::next_index(node_->applied_index());
  int64_t keep_from = disk_log_->end_pos();
  if (keep <= disk_log_->last_index()) {
    auto p = disk_log_->pos_of(keep);
    if (!p.ok()) return 0;
    keep_from = *p;
  }
  auto r = disk_log_->delete_leading_files(
      keep_from, [&](int64_t mtime_ms) { return forcibly || mtime_ms + reserved_ms <= now_ms; }, max_files);
  if (!r.ok()) {
    log_.error("DLedger data file expiry: " + r.detail());
    return 0;
  }
  if (*r > 0) {
    start_pos_.store(disk_log_->start_pos(), std::memory_order_release);
    log_.info("expiry deleted " + std::to_string(*r) + " DLedger data files; the log now starts at entry " +
              std::to_string(disk_log_->first_index().value) + ", position " + std::to_string(disk_log_->start_pos()));
  }
  return *r;
}

Result<Unit, std::string> DLedgerService::change_membership(MembershipOp op, const std::string& peer_id,
                                                           const std::string& addr) {
  if (!node_ || broken_) return make_error(std::string(), "DLedger member not running");
  if (node_->role() != raft::Role::kLeader) return make_error(std::string(), "not the leader (leader: " + leader_id() + ")");
  auto node = raft::parse_peer_id(peer_id);
  if (!node) return make_error(std::string(), "bad member id '" + peer_id + "' (letters then digits, e.g. n3)");
  raft::MembershipChange change{};
  change.node = *node;
  switch (op) {
    case MembershipOp::kAddLearner: {
      change.type = raft::MembershipChangeType::kAddLearner;
      std::string host;
      int port = 0;
      auto colon = addr.rfind(':');
      if (colon == std::string::npos || colon == 0 || (port = std::atoi(addr.c_str() + colon + 1)) <= 0 || port > 65535)
        return make_error(std::string(), "bad member address '" + addr + "' (host:port)");
      for (const auto& [n, p] : book_)
        if (p.addr == addr && node_->membership().contains(n))
          return make_error(std::string(), "address " + addr + " is member " + p.id + "'s");
      change.address = addr;
      break;
    }
    case MembershipOp::kPromote: change.type = raft::MembershipChangeType::kPromote; break;
    case MembershipOp::kRemove: change.type = raft::MembershipChangeType::kRemove; break;
  }
  if (op == MembershipOp::kAddLearner) {
    auto& entry = book_[change.node];
    entry.node = change.node;
    entry.id = peer_id;
    entry.addr = addr;
  }
  if (persist_in_flight_ || pumping_) {
    // Between ready() and advance() the core takes no input: the change is proposed after this cycle.
    inbox_.push_back(Input{MembershipRequest{change}});
    schedule_pump();
    return Unit{};
  }
  auto r = node_->propose_membership(change);
  if (!r.ok()) return make_error(std::string(), std::string("membership change refused: ") + raft::to_string(r.error().code));
  log_.info("membership change proposed at index " + std::to_string(r->value) + ": " + peer_id);
  schedule_pump();
  return Unit{};
}

nlohmann::json DLedgerService::status_json() const {
  nlohmann::json j{{"group", opt_.group}, {"selfId", peer_name(opt_.self)}};
  if (!node_) return j;
  j["role"] = raft::to_string(node_->role());
  j["leaderReady"] = leader_ready_ && !waiting_for_space_;  // a paused leader takes no sends
  j["leaderId"] = leader_id();
  j["term"] = node_->term().value;
  j["commitIndex"] = node_->commit_index().value;
  j["appliedIndex"] = node_->applied_index().value;
  j["lastIndex"] = node_->last_index().value;
  j["raftPort"] = raft_port();
  if (isolated_) j["isolated"] = true;
  if (broken_) j["stoppedBecause"] = broken_reason_;
  if (waiting_for_space_) {
    j["diskFull"] = true;
    j["pausedBecause"] = space_reason_;
  }
  nlohmann::json members = nlohmann::json::array();
  const raft::Membership& ms = node_->membership();
  for (raft::NodeId n : ms.members()) {
    const DLedgerPeerAddress* p = peer(n);
    nlohmann::json m{{"id", p ? p->id : "n" + std::to_string(n)},
                     {"addr", p ? p->addr : std::string()},
                     {"voter", ms.is_voter(n)}};
    if (node_->role() == raft::Role::kLeader) {
      auto match = n == opt_.self ? std::optional<RaftIndex>(node_->last_index()) : node_->match_of(n);
      if (match) {
        m["matchIndex"] = match->value;
        m["lag"] = node_->last_index().value - match->value;
      }
    }
    members.push_back(std::move(m));
  }
  j["member"] = ms.contains(opt_.self);
  j["members"] = std::move(members);
  return j;
}

}  // namespace mq
