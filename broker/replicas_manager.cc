#include "broker/replicas_manager.h"

#include <algorithm>

#include "codec/codes.h"

namespace mq {

namespace {
std::string field(const RemotingCommand& c, std::string_view key) {
  const std::string* v = c.ext_fields.find(key);
  return v ? *v : std::string();
}

std::optional<int64_t> field_int(const RemotingCommand& c, std::string_view key) {
  const std::string* v = c.ext_fields.find(key);
  if (v == nullptr || v->empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  long long x = std::strtoll(v->c_str(), &end, 10);
  if (errno != 0 || end == v->c_str() || *end != 0) return std::nullopt;
  return static_cast<int64_t>(x);
}

std::string describe(const Result<RemotingCommand, RpcError>& r) {
  if (!r.ok()) return "no answer (" + r.detail() + ")";
  return "code " + std::to_string(r->code) + (r->remark ? " " + *r->remark : std::string());
}
}  // namespace

const char* replicas_phase_name(ReplicasManager::Phase p) {
  switch (p) {
    case ReplicasManager::Phase::kDiscoverLeader: return "DISCOVER_CONTROLLER_LEADER";
    case ReplicasManager::Phase::kRegisterId: return "REGISTER_BROKER_ID";
    case ReplicasManager::Phase::kRegister: return "REGISTER_TO_CONTROLLER";
    case ReplicasManager::Phase::kElect: return "ELECT_MASTER";
    case ReplicasManager::Phase::kRunning: return "RUNNING";
    case ReplicasManager::Phase::kStopped: return "STOPPED";
  }
  return "?";
}

ReplicasManager::ReplicasManager(EventLoop& loop, RemotingClient& client, store::BrokerIdentityFiles identity,
                                 const Clock& clock, Logger log, ReplicasManagerOptions options, Callbacks callbacks)
    : loop_(loop),
      client_(client),
      identity_(std::move(identity)),
      clock_(clock),
      log_(std::move(log)),
      opt_(std::move(options)),
      cb_(std::move(callbacks)),
      heartbeat_timer_(loop),
      poll_timer_(loop),
      metadata_timer_(loop),
      retry_timer_(loop) {}

ReplicasManager::~ReplicasManager() {
  shutdown();
  *alive_ = false;
}

void ReplicasManager::start() {
  phase_ = Phase::kDiscoverLeader;
  auto every = [](int64_t ms) { return static_cast<uint64_t>(std::max<int64_t>(ms, 1)); };
  heartbeat_timer_.start(every(opt_.heartbeat_interval_ms), every(opt_.heartbeat_interval_ms), [this] { send_heartbeats(); });
  poll_timer_.start(every(opt_.sync_broker_metadata_period_ms), every(opt_.sync_broker_metadata_period_ms), [this] { poll(); });
  metadata_timer_.start(every(opt_.sync_controller_metadata_period_ms), every(opt_.sync_controller_metadata_period_ms),
                        [this] { discover_leader([](bool) {}); });
  step();
}

void ReplicasManager::shutdown() {
  if (phase_ == Phase::kStopped) return;
  phase_ = Phase::kStopped;
  heartbeat_timer_.stop();
  poll_timer_.stop();
  metadata_timer_.stop();
  retry_timer_.stop();
}

void ReplicasManager::retry_later(const std::string& why) {
  if (phase_ == Phase::kStopped) return;
  if (why != last_error_) log_.warn(std::string("controller registration (") + replicas_phase_name(phase_) + "): " + why +
                                    "; trying again every " + std::to_string(opt_.start_retry_ms) + " ms");
  last_error_ = why;
  step_running_ = false;
  retry_timer_.start(static_cast<uint64_t>(std::max<int64_t>(opt_.start_retry_ms, 1)), 0, [this] { step(); });
}

void ReplicasManager::step() {
  if (step_running_) return;
  step_running_ = true;
  switch (phase_) {
    case Phase::kDiscoverLeader:
      return discover_leader([this](bool found) {
        if (!found) return retry_later("no controller names a leader (controllerAddr " + std::to_string(opt_.controller_addrs.size()) + " addresses)");
        phase_ = Phase::kRegisterId;
        step_running_ = false;
        step();
      });
    case Phase::kRegisterId: return register_id();
    case Phase::kRegister: return register_broker();
    case Phase::kElect: return elect();
    case Phase::kRunning:
    case Phase::kStopped: step_running_ = false; return;
  }
}

void ReplicasManager::discover_leader(std::function<void(bool)> done) {
  struct Round {
    size_t left = 0;
    bool found = false;
    std::function<void(bool)> done;
  };
  auto round = std::make_shared<Round>();
  round->left = opt_.controller_addrs.size();
  round->done = std::move(done);
  if (round->left == 0) return round->done(false);
  std::weak_ptr<bool> alive = alive_;
  for (const auto& addr : opt_.controller_addrs) {
    client_.invoke(addr, RemotingCommand::request(request_code::kControllerGetMetadataInfo), opt_.request_timeout_ms,
                   [this, alive, round](Result<RemotingCommand, RpcError> r) {
                     if (alive.expired()) return;
                     --round->left;
                     if (!round->found && r.ok() && r->code == 0) {
                       std::string leader = field(*r, controller_field::kControllerLeaderAddress);
                       if (!leader.empty()) {
                         round->found = true;
                         if (leader != leader_addr_) log_.info("controller leader: " + leader);
                         leader_addr_ = leader;
                         return round->done(true);
                       }
                     }
                     if (round->left == 0 && !round->found) round->done(false);
                   });
  }
}

void ReplicasManager::call_leader(RemotingCommand req, std::function<void(Result<RemotingCommand, RpcError>)> done) {
  if (leader_addr_.empty()) return done(make_error(RpcError::kBadAddress, std::string("no controller leader known")));
  std::weak_ptr<bool> alive = alive_;
  client_.invoke(leader_addr_, std::move(req), opt_.request_timeout_ms,
                 [this, alive, done = std::move(done)](Result<RemotingCommand, RpcError> r) {
                   if (alive.expired()) return;
                   if (!r.ok() || r->code == response_code::kControllerNotLeader) discover_leader([](bool) {});
                   done(std::move(r));
                 });
}

void ReplicasManager::register_id() {
  auto loaded = identity_.load(opt_.cluster_name, opt_.broker_name);
  if (!loaded.ok()) return retry_later("broker identity files: " + loaded.detail());
  for (const auto& w : loaded->warnings) log_.warn("broker identity: " + w);
  if (loaded->identity) {
    broker_id_ = loaded->identity->broker_id;
    phase_ = Phase::kRegister;
    return register_broker();
  }
  if (loaded->temp) return apply_id(loaded->temp->broker_id, loaded->temp->register_check_code);
  RemotingCommand req = RemotingCommand::request(request_code::kControllerGetNextBrokerId);
  req.ext_fields.set("clusterName", opt_.cluster_name);
  req.ext_fields.set("brokerName", opt_.broker_name);
  call_leader(std::move(req), [this](Result<RemotingCommand, RpcError> r) {
    if (!r.ok() || r->code != 0) return retry_later("CONTROLLER_GET_NEXT_BROKER_ID: " + describe(r));
    auto id = field_int(*r, controller_field::kNextBrokerId);
    if (!id || *id < kFirstBrokerControllerId) return retry_later("CONTROLLER_GET_NEXT_BROKER_ID: no usable nextBrokerId");
    std::string check_code = opt_.broker_addr + ";" + std::to_string(clock_.now_ms());
    auto w = identity_.write_temp({opt_.cluster_name, opt_.broker_name, *id, check_code});
    if (!w.ok()) return retry_later("writing " + identity_.temp_path() + ": " + w.detail());
    apply_id(*id, check_code);
  });
}

void ReplicasManager::apply_id(int64_t id, std::string check_code) {
  RemotingCommand req = RemotingCommand::request(request_code::kControllerApplyBrokerId);
  req.ext_fields.set("clusterName", opt_.cluster_name);
  req.ext_fields.set("brokerName", opt_.broker_name);
  req.ext_fields.set("appliedBrokerId", id);
  req.ext_fields.set("registerCheckCode", check_code);
  call_leader(std::move(req), [this, id](Result<RemotingCommand, RpcError> r) {
    if (!r.ok()) return retry_later("CONTROLLER_APPLY_BROKER_ID " + std::to_string(id) + ": " + describe(r));
    if (r->code != 0) {
      // Someone else holds the id (or the controller refused it): start over with a new one.
      (void)identity_.remove_temp();
      return retry_later("CONTROLLER_APPLY_BROKER_ID " + std::to_string(id) + " refused: " + describe(r));
    }
    auto w = identity_.write_identity({opt_.cluster_name, opt_.broker_name, id});
    if (!w.ok()) return retry_later("writing " + identity_.identity_path() + ": " + w.detail());
    (void)identity_.remove_temp();
    broker_id_ = id;
    log_.info("controller broker id " + std::to_string(id) + " applied and saved in " + identity_.identity_path());
    phase_ = Phase::kRegister;
    register_broker();
  });
}

void ReplicasManager::register_broker() {
  RemotingCommand req = RemotingCommand::request(request_code::kControllerRegisterBroker);
  req.ext_fields.set("clusterName", opt_.cluster_name);
  req.ext_fields.set("brokerName", opt_.broker_name);
  req.ext_fields.set("brokerId", broker_id_);
  req.ext_fields.set("brokerAddress", opt_.broker_addr);
  req.ext_fields.set("invokeTime", clock_.now_ms());
  call_leader(std::move(req), [this](Result<RemotingCommand, RpcError> r) {
    if (!r.ok() || r->code != 0) return retry_later("CONTROLLER_REGISTER_BROKER: " + describe(r));
    send_heartbeats();
    auto master = field_int(*r, controller_field::kMasterBrokerId);
    if (master && *master >= kFirstBrokerControllerId) {
      auto sss = SyncStateSet::parse(r->body);
      handle_master_info(master, field(*r, controller_field::kMasterAddress),
                         static_cast<int32_t>(field_int(*r, controller_field::kMasterEpoch).value_or(0)),
                         sss.ok() ? std::optional<SyncStateSet>(*sss) : std::nullopt);
      phase_ = Phase::kRunning;
      step_running_ = false;
      last_error_.clear();
      return;
    }
    phase_ = Phase::kElect;
    elect();
  });
}

void ReplicasManager::elect() {
  RemotingCommand req = RemotingCommand::request(request_code::kControllerElectMaster);
  req.ext_fields.set("clusterName", opt_.cluster_name);
  req.ext_fields.set("brokerName", opt_.broker_name);
  req.ext_fields.set("brokerId", broker_id_);
  req.ext_fields.set("designateElect", "false");
  req.ext_fields.set("invokeTime", clock_.now_ms());
  call_leader(std::move(req), [this](Result<RemotingCommand, RpcError> r) {
    if (!r.ok() || (r->code != 0 && r->code != response_code::kControllerMasterStillExist))
      return retry_later("CONTROLLER_ELECT_MASTER: " + describe(r));
    auto master = field_int(*r, controller_field::kMasterBrokerId);
    if (!master) return retry_later("CONTROLLER_ELECT_MASTER named no master");
    auto body = ElectMasterResponseBody::parse(r->body);
    std::optional<SyncStateSet> sss;
    if (body.ok()) {
      SyncStateSet s;
      s.members = body->sync_state_set;
      s.epoch = static_cast<int32_t>(field_int(*r, controller_field::kSyncStateSetEpoch).value_or(0));
      sss = s;
    }
    handle_master_info(master, field(*r, controller_field::kMasterAddress),
                       static_cast<int32_t>(field_int(*r, controller_field::kMasterEpoch).value_or(0)), sss);
    if (phase_ == Phase::kElect) phase_ = Phase::kRunning;
    step_running_ = false;
    last_error_.clear();
  });
}

void ReplicasManager::poll() {
  if (phase_ != Phase::kRunning) return;
  RemotingCommand req = RemotingCommand::request(request_code::kControllerGetReplicaInfo);
  req.ext_fields.set("brokerName", opt_.broker_name);
  call_leader(std::move(req), [this](Result<RemotingCommand, RpcError> r) {
    if (phase_ != Phase::kRunning || !r.ok()) return;
    if (r->code == response_code::kControllerBrokerMetadataNotExist) {
      // The controller lost the set (CLEAN_BROKER_DATA, wiped storage): register again; RocketMQ
      // does the same and keeps its id.
      log_.warn("the controller does not know broker-set " + opt_.broker_name + ": registering again");
      phase_ = Phase::kRegister;
      return step();
    }
    if (r->code != 0) return;
    auto sss = SyncStateSet::parse(r->body);
    auto master = field_int(*r, controller_field::kMasterBrokerId);
    const int32_t epoch = static_cast<int32_t>(field_int(*r, controller_field::kMasterEpoch).value_or(0));
    if (!master && epoch > master_epoch_) {
      // The set has no master at a newer epoch: offer itself (repeated each poll until one exists).
      phase_ = Phase::kElect;
      return step();
    }
    handle_master_info(master, field(*r, controller_field::kMasterAddress), epoch,
                       sss.ok() ? std::optional<SyncStateSet>(*sss) : std::nullopt);
  });
}

void ReplicasManager::send_heartbeats() {
  if (broker_id_ < kFirstBrokerControllerId || phase_ == Phase::kStopped) return;
  LocalState s = cb_.local_state ? cb_.local_state() : LocalState{};
  for (const auto& addr : opt_.controller_addrs) {
    RemotingCommand hb = RemotingCommand::request(request_code::kBrokerHeartbeat);
    hb.ext_fields.set("clusterName", opt_.cluster_name);
    hb.ext_fields.set("brokerAddr", opt_.broker_addr);
    hb.ext_fields.set("brokerName", opt_.broker_name);
    hb.ext_fields.set("brokerId", broker_id_);
    hb.ext_fields.set("epoch", s.last_epoch);
    hb.ext_fields.set("maxOffset", s.max_offset);
    hb.ext_fields.set("confirmOffset", s.confirm_offset);
    hb.ext_fields.set("heartbeatTimeoutMills", opt_.heartbeat_timeout_ms);
    hb.ext_fields.set("electionPriority", opt_.election_priority);
    client_.invoke_oneway(addr, std::move(hb));
  }
}

void ReplicasManager::handle_master_info(std::optional<int64_t> master_id, const std::string& master_addr,
                                         int32_t master_epoch, std::optional<SyncStateSet> sss) {
  if (!master_id || *master_id < kFirstBrokerControllerId) return;
  if (master_epoch > master_epoch_) {
    master_epoch_ = master_epoch;
    master_id_ = master_id;
    master_addr_ = master_addr;
    ++role_changes_;
    if (*master_id == broker_id_) {
      sss_ = sss.value_or(SyncStateSet{{broker_id_}, 0});
      log_.info("controller: this broker (id " + std::to_string(broker_id_) + ") is the master, epoch " +
                std::to_string(master_epoch));
      if (cb_.become_master) cb_.become_master(master_epoch, sss_);
    } else {
      log_.info("controller: master is id " + std::to_string(*master_id) + " (" + master_addr + "), epoch " +
                std::to_string(master_epoch) + "; this broker (id " + std::to_string(broker_id_) + ") is a slave");
      if (cb_.become_slave) cb_.become_slave(*master_id, master_addr, master_epoch);
    }
    return;
  }
  if (master_epoch == master_epoch_ && is_master() && sss && sss->epoch > sss_.epoch) {
    sss_ = *sss;
    if (cb_.sync_state_set_changed) cb_.sync_state_set_changed(sss_);
  }
}

void ReplicasManager::on_role_change_notice(const RemotingCommand& req) {
  if (broker_id_ < kFirstBrokerControllerId) return;
  auto sss = SyncStateSet::parse(req.body);
  handle_master_info(field_int(req, controller_field::kMasterBrokerId), field(req, controller_field::kMasterAddress),
                     static_cast<int32_t>(field_int(req, controller_field::kMasterEpoch).value_or(0)),
                     sss.ok() ? std::optional<SyncStateSet>(*sss) : std::nullopt);
  if (phase_ != Phase::kRunning && phase_ != Phase::kStopped && master_id_) {
    phase_ = Phase::kRunning;
    retry_timer_.stop();
    step_running_ = false;
  }
}

void ReplicasManager::alter_sync_state_set(std::set<int64_t> proposed,
                                           std::function<void(std::optional<SyncStateSet>)> done) {
  if (!is_master()) return done(std::nullopt);
  RemotingCommand req = RemotingCommand::request(request_code::kControllerAlterSyncStateSet);
  req.ext_fields.set("brokerName", opt_.broker_name);
  req.ext_fields.set("masterBrokerId", broker_id_);
  req.ext_fields.set("masterEpoch", master_epoch_);
  req.ext_fields.set("invokeTime", clock_.now_ms());
  req.body = SyncStateSet{proposed, sss_.epoch}.to_json();
  const int32_t epoch_then = master_epoch_;
  call_leader(std::move(req), [this, proposed, epoch_then, done](Result<RemotingCommand, RpcError> r) {
    if (!r.ok() || r->code != 0 || master_epoch_ != epoch_then) {
      log_.info("SyncStateSet change refused: " + describe(r));
      return done(std::nullopt);
    }
    auto body = SyncStateSet::parse(r->body);
    SyncStateSet confirmed;
    if (body.ok()) {
      confirmed = *body;
    } else {
      confirmed.members = proposed;
      confirmed.epoch = static_cast<int32_t>(field_int(*r, controller_field::kNewSyncStateSetEpoch).value_or(sss_.epoch + 1));
    }
    if (confirmed.epoch > sss_.epoch) sss_ = confirmed;
    done(sss_);
  });
}

nlohmann::json ReplicasManager::status_json() const {
  nlohmann::json j;
  j["phase"] = replicas_phase_name(phase_);
  j["controllerLeader"] = leader_addr_;
  j["brokerControllerId"] = broker_id_;
  j["masterEpoch"] = master_epoch_;
  if (master_id_) j["masterBrokerId"] = *master_id_;
  j["masterAddress"] = master_addr_;
  j["syncStateSet"] = std::vector<int64_t>(sss_.members.begin(), sss_.members.end());
  j["syncStateSetEpoch"] = sss_.epoch;
  j["roleChanges"] = role_changes_;
  if (!last_error_.empty()) j["lastError"] = last_error_;
  return j;
}

}  // namespace mq
