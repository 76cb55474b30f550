#include "controller/controller_service.h"

#include <algorithm>

#include "codec/codes.h"
#include "codec/controller_data.h"

namespace mq {

namespace {
// How long a proposal waits for its commit (RocketMQ's scheduler waits 5 s).
constexpr int64_t kCommitWaitMs = 5000;
// RocketMQ waits 3 s between the tries of a controller-triggered election.
constexpr int64_t kElectionRetryMs = 3000;

std::string field(const ExtFields& h, std::string_view key) {
  const std::string* v = h.find(key);
  return v ? *v : std::string();
}

bool is_scheduled_code(int32_t code) {
  switch (code) {
    case request_code::kControllerAlterSyncStateSet:
    case request_code::kControllerElectMaster:
    case request_code::kControllerRegisterBroker:
    case request_code::kControllerGetReplicaInfo:
    case request_code::kControllerGetSyncStateData:
    case request_code::kCleanBrokerData:
    case request_code::kControllerGetNextBrokerId:
    case request_code::kControllerApplyBrokerId:
      return true;
    default:
      return false;
  }
}
}  // namespace

ControllerService::ControllerService(EventLoop& loop, std::shared_ptr<WorkerPool::Strand> strand,
                                     store::FileSystem& fs, const Clock& clock, Logger log, ControllerConfig config)
    : loop_(loop),
      strand_(std::move(strand)),
      fs_(fs),
      clock_(clock),
      log_(std::move(log)),
      config_(std::move(config)),
      tables_(config_.enable_elect_unclean_master),
      scan_broker_timer_(loop),
      scan_master_timer_(loop),
      retry_timer_(loop) {}

ControllerService::~ControllerService() {
  shutdown();
  *alive_ = false;
}

Result<int, std::string> ControllerService::start() {
  const BrokerConfig::DLedgerPeer* self = config_.self();
  if (self == nullptr) return make_error(std::string(), "controllerDLegerSelfId is not among controllerDLegerPeers");
  DLedgerOptions o;
  o.group = config_.dleger_group;
  o.self = self->node;
  for (const auto& p : config_.peer_list) o.peers.push_back(DLedgerPeerAddress{p.node, p.id, p.addr()});
  o.dir = config_.store_path + "/dledger-" + config_.dleger_self_id;
  o.data_file_size = config_.mapped_file_size_bytes;
  // The tables must survive a power loss once a broker was told about them: every commit is
  // fsync'd (the controller writes a few entries per failover, not a message stream).
  o.sync_flush = true;
  o.heartbeat_interval_ms = config_.heartbeat_interval_ms;
  o.election_timeout_ms = config_.election_timeout_ms;
  o.tick_ms = std::max<int64_t>(5, std::min<int64_t>(25, config_.heartbeat_interval_ms / 4));
  o.max_wait_ack_ms = kCommitWaitMs;
  o.seed = 0x5eed0000ull + self->node;
  dledger_ = std::make_unique<DLedgerService>(loop_, strand_, fs_, clock_, log_, o, DLedgerService::Callbacks{});
  auto opened = dledger_->open();
  if (!opened.ok()) return make_error(std::string(), opened.detail());
  auto started = dledger_->start(*this);
  if (!started.ok()) return make_error(std::string(), started.detail());
  register_handlers();
  RemotingClientOptions co;
  co.connect_timeout_ms = 3000;
  notify_client_ = std::make_unique<RemotingClient>(loop_, co, log_);
  started_ = true;

  std::weak_ptr<bool> alive = alive_;
  auto every = [](int64_t ms) { return static_cast<uint64_t>(std::max<int64_t>(ms, 1)); };
  scan_broker_timer_.start(std::min<uint64_t>(2000, every(config_.scan_not_active_broker_interval_ms)),
                           every(config_.scan_not_active_broker_interval_ms), [this] {
                             for (const auto& key : heartbeats_.scan_expired(clock_.monotonic_ms())) {
                               log_.info("broker " + key.broker_name + " id " + std::to_string(key.broker_id) +
                                         " missed its heartbeats: inactive");
                               on_broker_inactive(key);
                             }
                           });
  scan_master_timer_.start(every(config_.scan_inactive_master_interval_ms),
                           every(config_.scan_inactive_master_interval_ms), [this] { scan_inactive_masters(); });
  retry_timer_.start(500, 500, [this] { run_due_retries(); });
  log_.info("controller " + config_.dleger_self_id + " of group " + config_.dleger_group + " on port " +
            std::to_string(dledger_->raft_port()) + ", tables replayed from " + std::to_string(applied_entries_) +
            " entries");
  return dledger_->raft_port();
}

void ControllerService::shutdown() {
  if (!started_) return;
  started_ = false;
  scan_broker_timer_.stop();
  scan_master_timer_.stop();
  retry_timer_.stop();
  if (notify_client_) notify_client_->close_all();
  // Requests still queued get no answer; their senders time out and retry elsewhere.
  jobs_.clear();
  if (dledger_) dledger_->shutdown();
}

// ---------------------------------------------------------------------------------------------
// The replicated state

Result<int64_t, std::string> ControllerService::apply(int64_t pos, std::string& data) {
  auto r = tables_.apply(data);
  if (!r.ok()) {
    // An entry this build cannot read is skipped, not fatal: every member skips it alike.
    ++bad_entries_;
    log_.error("controller log entry at " + std::to_string(pos) + " not applied: " + r.detail());
  } else {
    ++applied_entries_;
  }
  return int64_t{0};
}

void ControllerService::on_leader_ready_changed(bool ready) {
  leader_ready_ = ready;
  log_.info(std::string("controller ") + config_.dleger_self_id + (ready ? " is the leader" : " is not the leader"));
  if (ready) {
    // Masters that died while no leader watched (or before this one took over).
    std::weak_ptr<bool> alive = alive_;
    loop_.post([this, alive] {
      if (!alive.expired() && leader_ready_) scan_inactive_masters();
    });
  } else {
    election_retries_.clear();
  }
}

// ---------------------------------------------------------------------------------------------
// Requests

void ControllerService::register_handlers() {
  RemotingServer* server = dledger_->server();
  server->register_handler(request_code::kBrokerHeartbeat, [this](const RequestContext& ctx, RemotingCommand& req) { on_heartbeat(ctx, req); });
  server->register_handler(request_code::kControllerGetMetadataInfo,
                           [this](const RequestContext& ctx, RemotingCommand& req) { on_metadata(ctx, req); });
  server->register_handler(request_code::kGetControllerConfig,
                           [this](const RequestContext& ctx, RemotingCommand& req) { on_get_config(ctx, req); });
  server->register_handler(request_code::kUpdateControllerConfig,
                           [this](const RequestContext& ctx, RemotingCommand& req) { on_update_config(ctx, req); });
  for (int32_t code : {request_code::kControllerAlterSyncStateSet, request_code::kControllerElectMaster, request_code::kControllerRegisterBroker,
                       request_code::kControllerGetReplicaInfo, request_code::kControllerGetSyncStateData, request_code::kCleanBrokerData,
                       request_code::kControllerGetNextBrokerId, request_code::kControllerApplyBrokerId}) {
    server->register_handler(code, [this](const RequestContext& ctx, RemotingCommand& req) {
      if (!leader_ready_) return ctx.respond_code(response_code::kControllerNotLeader, "The controller is not in leader state");
      Job job;
      job.code = req.code;
      job.request = std::move(req);
      job.ctx = std::make_shared<RequestContext>(ctx);
      enqueue(std::move(job));
    });
  }
  server->set_on_connection_closed([this](RemotingConnection& conn) {
    for (const auto& key : heartbeats_.on_channel_closed(conn.id())) {
      log_.info("broker " + key.broker_name + " id " + std::to_string(key.broker_id) +
                ": its connection closed, inactive");
      on_broker_inactive(key);
    }
  });
}

void ControllerService::on_heartbeat(const RequestContext& ctx, RemotingCommand& req) {
  auto r = heartbeats_.on_heartbeat(req.ext_fields, ctx.connection_id(), clock_.monotonic_ms());
  if (!r.ok()) return ctx.respond_code(r.error().code, "heartbeat without brokerId");
  ctx.respond_code(response_code::kSuccess, "Heart beat success");
}

std::string ControllerService::peers_text() const {
  std::string out;
  for (const auto& p : config_.peer_list) out += p.id + ":" + p.addr() + ";";
  return out;
}

void ControllerService::on_metadata(const RequestContext& ctx, RemotingCommand& req) {
  RemotingCommand resp = RemotingCommand::response_to(req, response_code::kSuccess);
  resp.ext_fields.set("group", config_.dleger_group);
  std::string leader_id = dledger_->leader_id();
  if (!leader_id.empty()) {
    resp.ext_fields.set("controllerLeaderId", leader_id);
    resp.ext_fields.set("controllerLeaderAddress", dledger_->peer_address(dledger_->leader()));
  }
  resp.ext_fields.set("isLeader", dledger_->role() == raft::Role::kLeader ? "true" : "false");
  resp.ext_fields.set("peers", peers_text());
  ctx.respond(std::move(resp));
}

void ControllerService::on_get_config(const RequestContext& ctx, RemotingCommand& req) {
  RemotingCommand resp = RemotingCommand::response_to(req, response_code::kSuccess);
  resp.body = config_.to_properties();
  ctx.respond(std::move(resp));
}

void ControllerService::on_update_config(const RequestContext& ctx, RemotingCommand& req) {
  auto pairs = parse_properties_text(req.body);
  bool black_listed = false;
  std::string err = config_.update_live(pairs, black_listed);
  if (!err.empty()) return ctx.respond_code(black_listed ? response_code::kNoPermission : response_code::kSystemError, err);
  tables_.set_elect_unclean(config_.enable_elect_unclean_master);
  // Persisted where RocketMQ keeps it (configStorePath), so a restart keeps the change.
  auto persisted = update_config_file(config_.config_store_path, pairs);
  if (!persisted.ok()) log_.warn("controller config not persisted to " + config_.config_store_path + ": " + persisted.detail());
  log_.info("controller config updated: " + req.body);
  ctx.respond_code(response_code::kSuccess);
}

void ControllerService::enqueue(Job job) {
  jobs_.push_back(std::move(job));
  run_next();
}

controller::ControllerResult ControllerService::compute(const Job& job) const {
  const int64_t now = clock_.monotonic_ms();
  const auto& h = job.request.ext_fields;
  switch (job.code) {
    case request_code::kControllerAlterSyncStateSet: return tables_.alter_sync_state_set(h, job.request.body, heartbeats_, now);
    case request_code::kControllerElectMaster: return tables_.elect_master(h, heartbeats_, now);
    case request_code::kControllerRegisterBroker: return tables_.register_broker(h, heartbeats_, now);
    case request_code::kControllerGetReplicaInfo: return tables_.get_replica_info(h);
    case request_code::kControllerGetSyncStateData: return tables_.get_sync_state_data(job.request.body, heartbeats_, now);
    case request_code::kCleanBrokerData: return tables_.clean_broker_data(h, heartbeats_, now);
    case request_code::kControllerGetNextBrokerId: return tables_.get_next_broker_id(h);
    case request_code::kControllerApplyBrokerId: return tables_.apply_broker_id(h);
    default: {
      controller::ControllerResult r;
      r.code = response_code::kSystemError;
      r.remark = "not set any response code";
      return r;
    }
  }
}

void ControllerService::run_next() {
  while (!job_running_ && !jobs_.empty()) {
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    if (!leader_ready_) {
      controller::ControllerResult r;
      r.code = response_code::kControllerNotLeader;
      r.remark = "The controller is not in leader state";
      finish(job, r);
      continue;
    }
    controller::ControllerResult result = compute(job);
    std::vector<std::string> events = result.events;
    if (events.empty() && config_.process_read_event && is_scheduled_code(job.code))
      events.push_back(encode_event(ReadEvent{}));
    if (events.empty()) {
      finish(job, result);
      continue;
    }
    job_running_ = true;
    auto shared_job = std::make_shared<Job>(std::move(job));
    std::weak_ptr<bool> alive = alive_;
    dledger_->propose(std::move(events), store::PutMessageResult{}, HostAddress{},
                      [this, alive, shared_job, result](store::PutMessageResult put) {
                        if (alive.expired()) return;
                        job_running_ = false;
                        if (put.ok()) {
                          finish(*shared_job, result);
                        } else {
                          controller::ControllerResult failed;
                          failed.code = put.status == store::PutMessageStatus::kServiceNotAvailable
                                            ? response_code::kControllerNotLeader
                                            : response_code::kSystemError;
                          failed.remark = "the controller log did not commit the change: " + put.detail;
                          finish(*shared_job, failed);
                        }
                        run_next();
                      });
  }
}

void ControllerService::finish(Job& job, const controller::ControllerResult& result) {
  if (job.ctx) {
    RemotingCommand resp = RemotingCommand::response_to(job.request, result.code);
    if (!result.remark.empty()) resp.remark = result.remark;
    resp.ext_fields = result.header;
    resp.body = result.body;
    job.ctx->respond(std::move(resp));
  }
  if (job.done) job.done(result);
  if (job.code == request_code::kControllerElectMaster && result.code == response_code::kSuccess && config_.notify_broker_role_changed)
    notify_role_change(field(job.request.ext_fields, "brokerName"));
}

// ---------------------------------------------------------------------------------------------
// Failover

void ControllerService::on_broker_inactive(const controller::BrokerKey& key) {
  if (!leader_ready_) return;
  if (!tables_.is_master(key.broker_name, key.broker_id)) return;
  log_.warn("master " + key.broker_name + " id " + std::to_string(key.broker_id) + " is inactive: electing a new one");
  elect_for(key.broker_name, config_.elect_master_max_retry_count);
}

void ControllerService::elect_for(const std::string& broker_name, int attempts_left) {
  Job job;
  job.code = request_code::kControllerElectMaster;
  job.request = RemotingCommand::request(request_code::kControllerElectMaster);
  job.request.ext_fields.set("clusterName", "");
  job.request.ext_fields.set("brokerName", broker_name);
  job.request.ext_fields.set("brokerId", "-1");
  job.request.ext_fields.set("designateElect", "false");
  job.request.ext_fields.set("invokeTime", std::to_string(clock_.now_ms()));
  std::weak_ptr<bool> alive = alive_;
  job.done = [this, alive, broker_name, attempts_left](const controller::ControllerResult& r) {
    if (alive.expired()) return;
    if (r.code == response_code::kSuccess) {
      election_retries_.erase(broker_name);
      log_.info("elected master " + field(r.header, "masterBrokerId") + " (" + field(r.header, "masterAddress") + ") of " +
                broker_name + ", epoch " + field(r.header, "masterEpoch"));
      return;
    }
    log_.warn("election for " + broker_name + " failed (code " + std::to_string(r.code) + (r.remark.empty() ? "" : ": " + r.remark) + ")" +
              (attempts_left > 0 ? ", trying again" : ", giving up until the next scan"));
    if (attempts_left > 0) election_retries_[broker_name] = {clock_.monotonic_ms() + kElectionRetryMs, attempts_left - 1};
    else election_retries_.erase(broker_name);
  };
  enqueue(std::move(job));
}

void ControllerService::run_due_retries() {
  if (!leader_ready_) return;
  const int64_t now = clock_.monotonic_ms();
  std::vector<std::pair<std::string, int>> due;
  for (auto it = election_retries_.begin(); it != election_retries_.end();) {
    if (it->second.first <= now) {
      due.emplace_back(it->first, it->second.second);
      it = election_retries_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [name, left] : due) elect_for(name, left);
}

void ControllerService::scan_inactive_masters() {
  if (!leader_ready_) return;
  for (const auto& name : tables_.sets_with_dead_master(heartbeats_, clock_.monotonic_ms())) {
    if (election_retries_.count(name)) continue;
    log_.warn("the master of " + name + " is not alive while a member is: electing a new one");
    elect_for(name, 0);
  }
}

void ControllerService::notify_role_change(const std::string& broker_name) {
  auto notice = tables_.role_change_notice(broker_name, heartbeats_, clock_.monotonic_ms());
  if (!notice) return;
  for (const auto& addr : notice->addresses) {
    RemotingCommand req = RemotingCommand::request(request_code::kNotifyBrokerRoleChanged);
    req.ext_fields = notice->header;
    req.body = notice->body;
    notify_client_->invoke_oneway(addr, std::move(req));
  }
}

nlohmann::json ControllerService::status_json() const {
  nlohmann::json j;
  j["selfId"] = config_.dleger_self_id;
  j["leaderReady"] = leader_ready_;
  j["appliedEntries"] = applied_entries_;
  j["badEntries"] = bad_entries_;
  j["liveBrokers"] = heartbeats_.size();
  j["queuedRequests"] = jobs_.size();
  if (dledger_) j["raft"] = dledger_->status_json();
  j["tables"] = tables_.status_json();
  return j;
}

}  // namespace mq
