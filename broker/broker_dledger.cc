// A DLedger broker's side of its Raft group (RocketMQ's DLedgerRoleChangeHandler and the send path
// of DLedgerCommitLog). The Raft work itself is broker/dledger_service.h; here the broker reacts:
//  * the leader, once ready, is brokerId 0 / SYNC_MASTER; every other member is a SLAVE with
//    brokerId selfId + 1 (n0 -> 1, n1 -> 2, ...), as RocketMQ registers them, and re-registers
//    with every NameServer at each change (a member never registers as 0 while not the ready
//    leader: RocketMQ #1464 lost routes that way);
//  * committed records wake long polls on every member, and teach a follower topics whose
//    config has not arrived from the leader yet;
//  * sends are encoded by the store (queue offsets assigned) and proposed; the producer is
//    answered when they commit.
#include "broker/broker.h"
#include "codec/codes.h"
#include "codec/fastjson.h"

namespace mq {

Result<Unit, std::string> Broker::open_dledger() {
  DLedgerOptions o;
  o.group = config_.dledger_group.empty() ? config_.broker_name : config_.dledger_group;
  o.self = config_.dledger_self_node;
  for (const auto& p : config_.dledger_peer_list) o.peers.push_back(DLedgerPeerAddress{p.node, p.id, p.addr()});
  o.preferred_leader = config_.dledger_preferred_node;
  o.join = config_.dledger_join_group;
  o.dir = config_.dledger_dir();
  o.data_file_size = config_.store.mapped_file_size_commit_log;
  o.sync_flush = config_.store.flush_disk_type == store::FlushDiskType::kSyncFlush;
  o.flush_interval_ms = config_.store.flush_interval_commit_log_ms;
  o.tick_ms = config_.dledger_tick_ms;
  o.heartbeat_interval_ms = config_.dledger_heartbeat_interval_ms;
  o.election_timeout_ms = config_.dledger_election_timeout_ms;
  o.max_wait_ack_ms = config_.dledger_max_wait_ack_ms;
  o.checkpoint_interval_ms = config_.dledger_checkpoint_interval_ms;
  o.max_frame_bytes = static_cast<uint32_t>(config_.max_frame_bytes);
  o.seed = static_cast<uint64_t>(clock_.monotonic_ms()) * 0x9E3779B97F4A7C15ULL ^ (uint64_t{o.self} << 32) ^
           static_cast<uint64_t>(::getpid());
  DLedgerService::Callbacks cb;
  cb.on_committed = [this](const store::CommittedRecord& r) { on_dledger_committed(r); };
  cb.on_role_change = [this](raft::Role, bool ready, raft::NodeId) { on_dledger_role_change(ready); };
  cb.store_full_reason = [this] {
    return store_ && store_->is_disk_full() ? store_->disk_full_reason() : std::string();
  };
  // Until the first election says otherwise this member is a follower.
  config_.broker_role = BrokerRole::kSlave;
  config_.broker_id = static_cast<int64_t>(std::max<uint32_t>(config_.dledger_self_node + 1, 1));
  dledger_ = std::make_unique<DLedgerService>(loop_, strand_, fs_, clock_, log_, std::move(o), std::move(cb));
  return dledger_->open();
}

void Broker::register_dledger_processors() {
  server_.register_handler(request_code::kDLedgerGetGroupStatus, [this](const RequestContext& ctx, RemotingCommand&) {
    if (!dledger_) return ctx.respond_code(response_code::kSystemError, "not a DLedger broker");
    RemotingCommand resp;
    resp.code = response_code::kSuccess;
    resp.body = dledger_->status_json().dump(-1, ' ', false, kJsonReplace);
    ctx.respond(std::move(resp));
  });
  server_.register_handler(request_code::kDLedgerTransferLeadership, [this](const RequestContext& ctx, RemotingCommand& req) {
    if (!dledger_) return ctx.respond_code(response_code::kSystemError, "not a DLedger broker");
    const std::string* target = req.ext_fields.find("transfereeId");
    if (!target || target->empty()) return ctx.respond_code(response_code::kSystemError, "transfereeId missing");
    auto r = dledger_->transfer_leadership(*target);
    if (!r.ok()) return ctx.respond_code(response_code::kSystemError, r.detail());
    ctx.respond_code(response_code::kSuccess);
  });
  server_.register_handler(request_code::kDLedgerChangeMembership, [this](const RequestContext& ctx, RemotingCommand& req) {
    if (!dledger_) return ctx.respond_code(response_code::kSystemError, "not a DLedger broker");
    const std::string* type = req.ext_fields.find("changeType");
    const std::string* id = req.ext_fields.find("memberId");
    const std::string* addr = req.ext_fields.find("memberAddr");
    if (!type || !id) return ctx.respond_code(response_code::kSystemError, "changeType and memberId are required");
    DLedgerService::MembershipOp op;
    if (*type == "addLearner") op = DLedgerService::MembershipOp::kAddLearner;
    else if (*type == "promote") op = DLedgerService::MembershipOp::kPromote;
    else if (*type == "remove") op = DLedgerService::MembershipOp::kRemove;
    else return ctx.respond_code(response_code::kSystemError, "changeType must be addLearner, promote or remove");
    auto r = dledger_->change_membership(op, *id, addr ? *addr : std::string());
    if (!r.ok()) return ctx.respond_code(response_code::kSystemError, r.detail());
    ctx.respond_code(response_code::kSuccess);
  });
  server_.register_handler(request_code::kDLedgerInjectFault, [this](const RequestContext& ctx, RemotingCommand& req) {
    if (!dledger_ || !config_.dledger_fault_injection_enable)
      return ctx.respond_code(response_code::kNoPermission, "fault injection is off (dLegerFaultInjectionEnable)");
    const std::string* isolate = req.ext_fields.find("isolate");
    dledger_->set_isolated(isolate && *isolate == "true");
    ctx.respond_code(response_code::kSuccess);
  });
}

void Broker::on_dledger_role_change(bool leader_ready) {
  const BrokerRole was_role = config_.broker_role;
  const int64_t was_id = config_.broker_id;
  if (leader_ready) {
    config_.broker_role = BrokerRole::kSyncMaster;
    config_.broker_id = 0;
    // Offsets consumers committed on the previous leader since this member's last sync (up to a
    // second's worth) are taken over, so that a leadership change never rolls a consumer back
    // (RocketMQ #3210: the preferred leader returned with offsets a whole sync period old).
    if (!master_addr_.empty() && state_ == BrokerState::kRunning) take_offsets_from(master_addr_);
    master_addr_.clear();
  } else {
    config_.broker_role = BrokerRole::kSlave;
    config_.broker_id = static_cast<int64_t>(std::max<uint32_t>(config_.dledger_self_node + 1, 1));
    // master_addr_ stays until the next registration response names the new leader: during an
    // election it is the previous leader, whose offsets a new leader takes over.
  }
  if (was_role == config_.broker_role && was_id == config_.broker_id) return;
  log_.info(std::string("DLedger role change: now ") + broker_role_name(config_.broker_role) + ", brokerId " +
            std::to_string(config_.broker_id));
  if (state_ != BrokerState::kRunning) return;  // start() registers once everything is up
  update_master_services();
  // A deposed leader's entry as brokerId 0 goes when it registers under its new id (the
  // NameServer keeps one id per address), unless the new leader replaced it first.
  register_with_namesrv(false);
  if (is_slave()) sync_from_master();
}

void Broker::take_offsets_from(const std::string& addr) {
  std::weak_ptr<bool> alive = alive_;
  outer_client_.invoke(addr, RemotingCommand::request(request_code::kGetAllConsumerOffset), 3000,
                       [this, alive, addr](Result<RemotingCommand, RpcError> r) {
                         if (alive.expired() || state_ != BrokerState::kRunning) return;
                         ConsumerOffsetManager previous;
                         if (!r.ok() || r->code != response_code::kSuccess || !previous.load_json_text(r->body).ok()) {
                           log_.info("previous leader " + addr + " did not hand over consumer offsets (" +
                                     (r.ok() ? r->remark.value_or("") : r.detail()) + "); keeping the last synced ones");
                           return;
                         }
                         int taken = 0;
                         for (const auto& [key, queues] : previous.table()) {
                           auto at = key.find('@');
                           const std::string topic = key.substr(0, at), group = key.substr(at + 1);
                           for (const auto& [queue_id, offset] : queues)
                             if (offset > offsets_.query(group, topic, queue_id)) {
                               offsets_.commit(group, topic, queue_id, offset);
                               ++taken;
                             }
                         }
                         if (taken > 0) {
                           offsets_.mark_dirty();
                           persist_metadata();
                           log_.info("took " + std::to_string(taken) + " newer consumer offsets from the previous leader " + addr);
                         }
                       });
}

void Broker::on_dledger_committed(const store::CommittedRecord& r) {
  if (!r.has_unit) return;
  if (is_slave()) learn_replicated_topic(r.topic, r.queue_id);
  pull_holds_.notify_message_arriving(r.topic, r.queue_id, r.queue_offset + 1);
}

void Broker::propose_send(const RequestContext& ctx, std::vector<std::string> records, store::PutMessageResult base,
                          HostAddress store_host, int32_t queue_id, bool batch, const std::string& uniq_key,
                          const std::string& topic) {
  std::weak_ptr<bool> alive = alive_;
  dledger_->propose(std::move(records), std::move(base), store_host,
                    [this, alive, ctx, queue_id, batch, uniq_key](store::PutMessageResult r) {
                      if (alive.expired()) return;
                      if (r.ok()) stats_.on_put(r.msg_num);
                      answer_put(ctx, r, queue_id, batch, uniq_key, put_status_code(r.status));
                    });
}

}  // namespace mq
