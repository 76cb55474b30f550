// A controller-mode broker's glue (RocketMQ 5.x's ReplicasManager role changes and the store-level
// switch of reference 6.5). broker/replicas_manager.h talks to the controllers; here the broker
// acts on what they decide:
//  * master (epoch E): the AutoSwitch HA client stops, a record cut short at the log's end is
//    dropped, epoch entries at or above E go and (E, CommitLog end) is appended, the broker becomes
//    brokerId 0 / SYNC_MASTER with an AutoSwitch HA master on haListenPort, starts the services
//    only a master runs and registers with every NameServer at once;
//  * slave of M: the HA master stops, the broker becomes a SLAVE registered under its controller
//    id, asks M for its HA address (EXCHANGE_BROKER_HA_INFO; the NameServer's answer to the next
//    registration names it too) and replicates from there, truncating to the consistent point in
//    the handshake; metadata (topics, groups, offsets) is synced from M.
// Requests served here: NOTIFY_BROKER_ROLE_CHANGED (from a controller), GET_BROKER_EPOCH_CACHE
// (mqadmin getBrokerEpoch) and EXCHANGE_BROKER_HA_INFO (a slave asking its master).
#include "base/file_util.h"
#include "broker/broker.h"
#include "codec/codes.h"
#include "codec/controller_data.h"

namespace mq {

namespace {
namespace rc = response_code;
constexpr int32_t kExchangeBrokerHaInfo = 906;
}  // namespace

AutoSwitchHaOptions Broker::autoswitch_options() const {
  AutoSwitchHaOptions o;
  o.transfer_batch_bytes = config_.ha_transfer_batch_size;
  o.heartbeat_interval_ms = config_.ha_send_heartbeat_interval_ms;
  o.housekeeping_interval_ms = config_.ha_housekeeping_interval_ms;
  o.max_time_slave_not_catchup_ms = config_.ha_max_time_slave_not_catchup_ms;
  o.check_sync_state_set_period_ms = config_.check_sync_state_set_period_ms;
  o.mapped_file_size_commit_log = config_.store.mapped_file_size_commit_log;
  o.all_ack_in_sync_state_set = config_.all_ack_in_sync_state_set;
  o.in_sync_replicas = config_.in_sync_replicas;
  o.min_in_sync_replicas = config_.min_in_sync_replicas;
  o.sync_from_last_file = config_.sync_from_last_file;
  o.async_learner = config_.async_learner;
  return o;
}

Result<Unit, std::string> Broker::open_controller_mode() {
  auto e = store::EpochFile::open(fs_, config_.epoch_file_path());
  if (!e.ok()) return make_error(std::string(), "epoch file " + config_.epoch_file_path() + ": " + e.detail());
  epochs_ = std::make_unique<store::EpochFile>(std::move(*e));
  if (!epochs_->load_warning().empty()) log_.warn("epoch file: " + epochs_->load_warning());
  return Unit{};
}

void Broker::start_controller_mode() {
  RemotingClientOptions co;
  co.connect_timeout_ms = 3000;
  controller_client_ = std::make_unique<RemotingClient>(loop_, co, log_);
  // A controller pushes role changes on the connection this broker opened to it.
  controller_client_->dispatcher().register_handler(
      request_code::kNotifyBrokerRoleChanged, [this](const RequestContext&, RemotingCommand& req) {
        if (replicas_) replicas_->on_role_change_notice(req);
      });
  ReplicasManagerOptions o;
  o.cluster_name = config_.broker_cluster_name;
  o.broker_name = config_.broker_name;
  o.broker_addr = config_.broker_addr();
  o.controller_addrs = split_addr_list(config_.controller_addr);
  o.heartbeat_interval_ms = config_.broker_heartbeat_interval_ms;
  o.heartbeat_timeout_ms = config_.controller_heartbeat_timeout_ms;
  o.sync_broker_metadata_period_ms = config_.sync_broker_metadata_period_ms;
  o.sync_controller_metadata_period_ms = config_.sync_controller_metadata_period_ms;
  o.election_priority = config_.broker_election_priority;
  ReplicasManager::Callbacks cb;
  cb.local_state = [this] {
    ReplicasManager::LocalState s;
    s.last_epoch = epochs_ ? epochs_->last_epoch() : -1;
    s.max_offset = store_ ? store_->max_phy_offset() : 0;
    s.confirm_offset = as_master_ ? as_master_->confirm_offset() : as_client_ ? as_client_->confirm_offset() : s.max_offset;
    return s;
  };
  cb.become_master = [this](int32_t epoch, const SyncStateSet& sss) { become_controller_master(epoch, sss); };
  cb.become_slave = [this](int64_t id, const std::string& addr, int32_t epoch) { become_controller_slave(id, addr, epoch); };
  cb.sync_state_set_changed = [this](const SyncStateSet& sss) {
    if (as_master_) as_master_->set_sync_state_set(sss);
  };
  replicas_ = std::make_unique<ReplicasManager>(loop_, *controller_client_,
                                                store::BrokerIdentityFiles(fs_, config_.broker_identity_path()), clock_,
                                                log_, std::move(o), std::move(cb));
  replicas_->start();
}

void Broker::stop_controller_mode() {
  if (replicas_) replicas_->shutdown();
  if (as_master_) as_master_->stop();
  if (as_client_) as_client_->stop();
  if (controller_client_) controller_client_->close_all();
}

void Broker::become_controller_master(int32_t epoch, const SyncStateSet& sss) {
  if (state_ != BrokerState::kRunning || !store_ || !epochs_) return;
  const bool already = controller_role_known_ && !is_slave() && as_master_ != nullptr;
  if (!already) {
    if (as_client_) {
      as_client_->stop();
      as_client_.reset();
    }
    // A record the last batch delivered only in part is not this master's to keep.
    if (store_->max_phy_offset() > store_->dispatched_offset()) {
      drain_own_disk_work();
      auto cut = store_->truncate_commit_log(store_->dispatched_offset());
      if (!cut.ok()) log_.error("cannot cut the partial record at the log's end: " + cut.detail());
    }
  }
  // Entries starting at the log's end hold no data (an epoch nobody wrote in) and would block the
  // new one, whose start offset must be above them; RocketMQ drops them the same way.
  if (auto t = epochs_->truncate_suffix_from(store_->max_phy_offset()); !t.ok()) log_.warn("epoch file: " + t.detail());
  if (auto r = epochs_->remove_epochs_at_or_above(epoch); !r.ok()) log_.warn("epoch file: " + r.detail());
  if (auto a = epochs_->append(epoch, store_->max_phy_offset()); !a.ok())
    log_.error("epoch file: cannot record epoch " + std::to_string(epoch) + " at " +
               std::to_string(store_->max_phy_offset()) + ": " + a.detail());
  controller_role_known_ = true;
  if (already) {
    as_master_->set_sync_state_set(sss);
    register_with_namesrv(false);
    return;
  }
  replica_arrivals_.enabled = false;
  (void)replica_arrivals_.take();
  config_.broker_role = BrokerRole::kSyncMaster;
  config_.broker_id = 0;
  master_addr_.clear();
  AutoSwitchHaMaster::Callbacks cb;
  cb.alter_sync_state_set = [this](std::set<int64_t> proposed, std::function<void(std::optional<SyncStateSet>)> done) {
    if (!replicas_) return done(std::nullopt);
    replicas_->alter_sync_state_set(std::move(proposed), std::move(done));
  };
  as_master_ = std::make_unique<AutoSwitchHaMaster>(loop_, *store_, *epochs_, autoswitch_options(), clock_, log_,
                                                    replicas_->broker_id(), sss, std::move(cb));
  auto port = as_master_->start("0.0.0.0", config_.effective_ha_listen_port());
  if (!port.ok()) log_.error("controller mode master: " + port.detail() + " (slaves cannot replicate)");
  log_.info("controller mode: now the master (epoch " + std::to_string(epoch) + ", commit log end " +
            std::to_string(store_->max_phy_offset()) + ")");
  update_master_services();
  register_with_namesrv(false);
}

void Broker::become_controller_slave(int64_t master_id, const std::string& master_addr, int32_t epoch) {
  if (state_ != BrokerState::kRunning || !store_ || !epochs_) return;
  if (as_master_) {
    as_master_->stop();
    as_master_.reset();
  }
  controller_role_known_ = true;
  config_.broker_role = BrokerRole::kSlave;
  config_.broker_id = replicas_ ? replicas_->broker_id() : config_.broker_id;
  master_addr_ = master_addr;
  replica_arrivals_.enabled = true;
  if (!as_client_) {
    AutoSwitchHaClient::Callbacks cb;
    cb.ack_offset = [this] {
      return config_.store.flush_disk_type == store::FlushDiskType::kSyncFlush ? store_->flushed_offset()
                                                                              : store_->max_phy_offset();
    };
    cb.on_applied = [this](int64_t new_end) { on_replicated(new_end); };
    cb.truncate = [this](int64_t offset) {
      // The store must have itself to itself: this broker's queued disk jobs (flushes) run first.
      drain_own_disk_work();
      (void)replica_arrivals_.take();
      return store_->truncate_commit_log(offset);
    };
    as_client_ = std::make_unique<AutoSwitchHaClient>(loop_, *store_, *epochs_, autoswitch_options(), clock_, log_,
                                                      replicas_ ? replicas_->broker_id() : config_.broker_id,
                                                      std::move(cb));
    as_client_->start();
  }
  log_.info("controller mode: now a slave of broker id " + std::to_string(master_id) + " (" + master_addr + "), epoch " +
            std::to_string(epoch));
  fetch_master_ha_address();
  update_master_services();
  register_with_namesrv(false);
  sync_from_master();
}

void Broker::fetch_master_ha_address() {
  if (master_addr_.empty()) return;
  std::weak_ptr<bool> alive = alive_;
  const std::string asked = master_addr_;
  outer_client_.invoke(asked, RemotingCommand::request(kExchangeBrokerHaInfo), 3000,
                       [this, alive, asked](Result<RemotingCommand, RpcError> r) {
                         if (alive.expired() || !as_client_ || asked != master_addr_) return;
                         if (!r.ok() || r->code != rc::kSuccess) {
                           log_.info("master " + asked + " did not name its HA address (" +
                                     (r.ok() ? r->remark.value_or("code " + std::to_string(r->code)) : r.detail()) +
                                     "); waiting for the NameServer to name it");
                           return;
                         }
                         const std::string* ha = r->ext_fields.find("masterHaAddress");
                         if (ha && !ha->empty()) as_client_->set_master(*ha);
                       });
}

void Broker::register_controller_processors() {
  server_.register_handler(request_code::kNotifyBrokerRoleChanged, [this](const RequestContext& ctx, RemotingCommand& req) {
    if (replicas_) replicas_->on_role_change_notice(req);
    ctx.respond_code(rc::kSuccess);
  });
  server_.register_handler(request_code::kGetBrokerEpochCache, [this](const RequestContext& ctx, RemotingCommand&) {
    if (!is_controller_mode() || !epochs_ || !store_)
      return ctx.respond_code(rc::kSystemError, "this broker is not in controller mode");
    EpochEntryCache cache;
    cache.cluster_name = config_.broker_cluster_name;
    cache.broker_name = config_.broker_name;
    cache.broker_id = config_.broker_id;
    for (const auto& e : epochs_->entries()) cache.epoch_list.push_back(EpochEntry{e.epoch, e.start_offset, e.end_offset});
    cache.max_offset = store_->max_phy_offset();
    RemotingCommand resp;
    resp.code = rc::kSuccess;
    resp.body = cache.to_json();
    ctx.respond(std::move(resp));
  });
  server_.register_handler(kExchangeBrokerHaInfo, [this](const RequestContext& ctx, RemotingCommand&) {
    RemotingCommand resp;
    resp.code = rc::kSuccess;
    if (!is_slave()) {
      resp.ext_fields.set("masterHaAddress", config_.ha_server_addr());
      resp.ext_fields.set("masterFlushOffset", store_ ? store_->flushed_offset() : int64_t{0});
      resp.ext_fields.set("masterAddress", config_.broker_addr());
    }
    ctx.respond(std::move(resp));
  });
}

}  // namespace mq
