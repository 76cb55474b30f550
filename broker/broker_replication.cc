// Replication glue of a broker (see broker/ha_service.h for the protocol ends):
//  * a master listens on haListenPort and pushes its CommitLog to slaves; SYNC_MASTER puts are
//    answered once a slave acknowledged them (in parallel with the SYNC_FLUSH fsync, as RocketMQ
//    4.9 combines its flush and replica futures);
//  * a slave replicates into its own store, wakes long polls for what arrived, acknowledges what
//    it has (with SYNC_FLUSH: what it has flushed), and every slaveSyncInterval copies topics,
//    consumer offsets, delay offsets and subscription groups from its master (RocketMQ's
//    SlaveSynchronize). Offsets that clients committed on the slave while the master was away are
//    carried back to the master when it returns (when they are ahead of the master's).
#include <unistd.h>

#include "base/file_util.h"
#include "broker/broker.h"
#include "codec/codes.h"

namespace mq {

namespace {
namespace rc = response_code;
constexpr int64_t kSyncTimeoutMs = 3000;
}  // namespace

void Broker::ReplicaArrivals::dispatch(const MessageRecord& record, int64_t) {
  if (!enabled) return;
  arrivals_.emplace_back(std::string(record.topic), record.queue_id, record.queue_offset + 1);
}

Result<Unit, std::string> Broker::start_replication() {
  long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  total_memory_bytes_ = pages > 0 && page > 0 ? static_cast<int64_t>(pages) * page : (int64_t{8} << 30);
  HaOptions o;
  o.transfer_batch_bytes = config_.ha_transfer_batch_size;
  o.heartbeat_interval_ms = config_.ha_send_heartbeat_interval_ms;
  o.housekeeping_interval_ms = config_.ha_housekeeping_interval_ms;
  o.max_gap_not_in_sync_bytes = config_.ha_max_gap_not_in_sync_bytes;
  o.mapped_file_size_commit_log = config_.store.mapped_file_size_commit_log;
  if (is_dledger()) {
    // Raft replicates the log. A follower still copies topics, groups and consumer offsets from
    // the leader (RocketMQ's slave sync), every second at most, so that a failover rolls
    // consumers back by no more than about a second (Java DLedger brokers: 10 s).
    uint64_t every = static_cast<uint64_t>(std::min<int64_t>(config_.slave_sync_interval_ms, 1000));
    slave_sync_timer_.start(every, every, [this] { sync_from_master(); });
    return Unit{};
  }
  if (is_controller_mode()) {
    // The role comes from the controller (start_controller_mode); slave metadata sync runs while
    // this broker is a slave.
    uint64_t every = static_cast<uint64_t>(config_.slave_sync_interval_ms);
    slave_sync_timer_.start(std::min<uint64_t>(every, 3000), every, [this] { sync_from_master(); });
    return Unit{};
  }
  if (!is_slave()) {
    ha_master_ = std::make_unique<HaMaster>(loop_, *store_, o, clock_, log_);
    auto port = ha_master_->start("0.0.0.0", config_.effective_ha_listen_port());
    if (!port.ok()) {
      ha_master_.reset();
      return make_error(std::string(), port.detail());
    }
    return Unit{};
  }
  (void)replica_arrivals_.take();  // what recovery re-dispatched
  HaSlave::Callbacks cb;
  cb.ack_offset = [this] {
    return config_.store.flush_disk_type == store::FlushDiskType::kSyncFlush ? store_->flushed_offset()
                                                                            : store_->max_phy_offset();
  };
  cb.on_applied = [this](int64_t new_end) { on_replicated(new_end); };
  ha_slave_ = std::make_unique<HaSlave>(loop_, *store_, o, clock_, log_, std::move(cb));
  ha_slave_->set_master(config_.ha_master_address);
  ha_slave_->start();
  uint64_t every = static_cast<uint64_t>(config_.slave_sync_interval_ms);
  slave_sync_timer_.start(std::min<uint64_t>(every, 3000), every, [this] { sync_from_master(); });
  return Unit{};
}

void Broker::stop_replication() {
  slave_sync_timer_.stop();
  stop_controller_mode();
  if (ha_slave_) ha_slave_->stop();
  if (ha_master_) ha_master_->stop();
}

void Broker::wait_for_flush(int64_t end_offset, std::function<void(bool)> fn) {
  uint64_t token = next_flush_token_++;
  group_commit_.add(token, end_offset, clock_.monotonic_ms() + config_.store.sync_flush_timeout_ms);
  flush_waiters_[token] = std::move(fn);
  run_flush(false);
}

void Broker::complete_put(const RequestContext& ctx, const store::PutMessageResult& r, int32_t queue_id, bool batch,
                          const std::string& uniq_key, bool wait_store) {
  if (ha_master_) ha_master_->notify_new_data();
  if (as_master_) as_master_->notify_new_data();
  if (!wait_store) return answer_put(ctx, r, queue_id, batch, uniq_key, rc::kSuccess);
  std::weak_ptr<bool> alive = alive_;
  await_durable(r.end_offset, [this, alive, ctx, r, queue_id, batch, uniq_key](int32_t code) {
    if (!alive.expired()) answer_put(ctx, r, queue_id, batch, uniq_key, code);
  });
}

void Broker::await_durable(int64_t end_offset, std::function<void(int32_t code)> fn) {
  bool sync_flush = config_.store.flush_disk_type == store::FlushDiskType::kSyncFlush;
  bool sync_master = config_.broker_role == BrokerRole::kSyncMaster && (ha_master_ != nullptr || as_master_ != nullptr);
  if (!sync_flush && !sync_master) return fn(rc::kSuccess);

  // Both waits run at once; the answer goes out when both are in (the first failure decides).
  struct Pending {
    int left = 0;
    int32_t code = rc::kSuccess;
    std::function<void(int32_t)> fn;
  };
  auto pending = std::make_shared<Pending>();
  pending->left = (sync_flush ? 1 : 0) + (sync_master ? 1 : 0);
  pending->fn = std::move(fn);
  auto finish = [pending](int32_t code) {
    if (pending->code == rc::kSuccess) pending->code = code;
    if (--pending->left == 0) pending->fn(pending->code);
  };
  if (sync_flush) wait_for_flush(end_offset, [finish](bool ok) { finish(ok ? rc::kSuccess : rc::kFlushDiskTimeout); });
  if (sync_master && as_master_) {
    // Controller mode (reference 5.5): the SyncStateSet or inSyncReplicas decide; slaveTimeout.
    as_master_->wait_for_replicas(end_offset, clock_.monotonic_ms() + config_.slave_timeout_ms,
                                  [finish](bool ok) { finish(ok ? rc::kSuccess : rc::kFlushSlaveTimeout); });
  } else if (sync_master) {
    if (!ha_master_->slave_ok(end_offset)) {
      finish(rc::kSlaveNotAvailable);
    } else {
      ha_master_->wait_for_slave(end_offset, clock_.monotonic_ms() + config_.store.sync_flush_timeout_ms,
                                 [finish](bool ok) { finish(ok ? rc::kSuccess : rc::kFlushSlaveTimeout); });
    }
  }
}

void Broker::on_replicated(int64_t new_end) {
  for (auto& [topic, queue_id, next_offset] : replica_arrivals_.take()) {
    learn_replicated_topic(topic, queue_id);
    pull_holds_.notify_message_arriving(topic, queue_id, next_offset);
  }
  if (config_.store.flush_disk_type == store::FlushDiskType::kSyncFlush) {
    std::weak_ptr<bool> alive = alive_;
    wait_for_flush(new_end, [this, alive](bool) {
      if (!alive.expired() && ha_slave_) ha_slave_->report_if_moved();
    });
  }
}

void Broker::learn_replicated_topic(const std::string& topic, int32_t queue_id) {
  // Messages of a topic can reach the slave before the topic's config does (metadata is synced
  // every slaveSyncInterval; RocketMQ's slave answers TOPIC_NOT_EXIST meanwhile). A master that
  // dies in that window would leave those messages unreadable here, so the slave takes the topic
  // from the messages themselves until the master's config replaces it at the next sync.
  const TopicConfig* known = topics_.find(topic);
  if (known != nullptr && known->read_queue_nums > queue_id) return;
  TopicConfig c;
  if (known != nullptr) c = *known;
  c.topic_name = topic;
  c.read_queue_nums = c.write_queue_nums = queue_id + 1;  // more than any queue seen so far
  if (known == nullptr) c.perm = perm::kReadWrite;
  topics_.put(c, now_ms());
  log_.info("topic " + topic + " (" + std::to_string(c.read_queue_nums) +
            " queues) learned from replicated messages, until the master's topic config arrives");
}

void Broker::on_register_response(const RemotingCommand& resp) {
  if (!is_slave()) return;
  if (is_controller_mode()) {
    // The NameServer names the master's HA address once the new master registered.
    const std::string* ha_addr = resp.ext_fields.find("haServerAddr");
    if (as_client_ && ha_addr && !ha_addr->empty()) as_client_->set_master(*ha_addr);
    return;
  }
  const std::string* master = resp.ext_fields.find("masterAddr");
  if (master && !master->empty() && *master != master_addr_) {
    log_.info("master broker address: " + *master);
    master_addr_ = *master;
  }
  const std::string* ha_addr = resp.ext_fields.find("haServerAddr");
  if (ha_slave_ && config_.ha_master_address.empty() && ha_addr && !ha_addr->empty()) ha_slave_->set_master(*ha_addr);
}

void Broker::sync_from_master() {
  if (!is_slave() || master_addr_.empty() || state_ != BrokerState::kRunning) return;
  std::weak_ptr<bool> alive = alive_;
  auto ask = [this, alive](int32_t code, std::function<void(const std::string& body)> apply) {
    outer_client_.invoke(master_addr_, RemotingCommand::request(code), kSyncTimeoutMs,
                         [this, alive, code, apply](Result<RemotingCommand, RpcError> r) {
                           if (alive.expired() || state_ != BrokerState::kRunning) return;
                           if (!r.ok() || r->code != rc::kSuccess) {
                             log_.debug("slave sync (code " + std::to_string(code) + ") from " + master_addr_ +
                                        " failed: " + (r.ok() ? r->remark.value_or("") : r.detail()));
                             return;
                           }
                           apply(r->body);
                         });
  };
  ask(request_code::kGetAllTopicConfig, [this](const std::string& body) {
    TopicConfigManager fresh;
    if (!fresh.load_json_text(body).ok() || fresh.data_version() == topics_.data_version()) return;
    topics_ = std::move(fresh);
    topics_.mark_dirty();
    persist_metadata();
    register_with_namesrv(false);
  });
  ask(request_code::kGetAllSubscriptionGroupConfig, [this](const std::string& body) {
    SubscriptionGroupManager fresh;
    if (!fresh.load_json_text(body).ok() || fresh.data_version() == groups_.data_version()) return;
    groups_ = std::move(fresh);
    groups_.mark_dirty();
    persist_metadata();
  });
  ask(request_code::kGetAllConsumerOffset, [this](const std::string& body) {
    ConsumerOffsetManager master;
    if (!master.load_json_text(body).ok()) return;
    // Offsets clients committed here while the master was away go back to it when they are ahead.
    // An entry is forgotten only once the master has it (acknowledged, or already as far); a
    // lost request is sent again at the next sync round.
    std::weak_ptr<bool> alive_now = alive_;
    for (auto kit = offsets_committed_on_slave_.begin(); kit != offsets_committed_on_slave_.end();) {
      const std::string key = kit->first;
      auto at = key.find('@');
      std::string topic = key.substr(0, at), group = key.substr(at + 1);
      for (auto qit = kit->second.begin(); qit != kit->second.end();) {
        auto [queue_id, offset] = *qit;
        if (master.query(group, topic, queue_id) >= offset) {
          qit = kit->second.erase(qit);
          continue;
        }
        master.commit(group, topic, queue_id, offset);
        RemotingCommand req = RemotingCommand::request(request_code::kUpdateConsumerOffset);
        req.ext_fields.set("consumerGroup", group);
        req.ext_fields.set("topic", topic);
        req.ext_fields.set("queueId", queue_id);
        req.ext_fields.set("commitOffset", offset);
        outer_client_.invoke(master_addr_, std::move(req), kSyncTimeoutMs,
                             [this, alive_now, key, queue_id, offset](Result<RemotingCommand, RpcError> r) {
                               if (alive_now.expired() || !r.ok() || r->code != rc::kSuccess) return;
                               auto k = offsets_committed_on_slave_.find(key);
                               if (k == offsets_committed_on_slave_.end()) return;
                               auto q = k->second.find(queue_id);
                               if (q != k->second.end() && q->second == offset) k->second.erase(q);
                               if (k->second.empty()) offsets_committed_on_slave_.erase(k);
                               log_.info("carried consumer offset " + key + ":" + std::to_string(queue_id) + "=" +
                                         std::to_string(offset) + " back to the master");
                             });
        ++qit;
      }
      kit = kit->second.empty() ? offsets_committed_on_slave_.erase(kit) : std::next(kit);
    }
    for (const auto& [key, queues] : master.table()) {
      auto at = key.find('@');
      for (const auto& [queue_id, offset] : queues)
        offsets_.commit(key.substr(at + 1), key.substr(0, at), queue_id, offset);
    }
    offsets_.mark_dirty();
    persist_metadata();
  });
  ask(request_code::kGetAllDelayOffset, [this](const std::string& body) {
    if (body.empty()) return;
    std::string path = config_.store.store_path_root_dir + "/config/delayOffset.json";
    Logger log = log_;
    strand_->submit([path, body, log] {
      std::string err = write_file_atomically(path, body);
      if (!err.empty()) log.error("delay offsets not persisted: " + err);
    });
  });
  // Ours (a Java master answers "not supported", which the sync ignores).
  ask(request_code::kGetAllTimerOffset, [this](const std::string& body) {
    if (body.empty()) return;
    std::string path = config_.store.store_path_root_dir + "/config/timerOffset.json";
    Logger log = log_;
    strand_->submit([path, body, log] {
      std::string err = write_file_atomically(path, body);
      if (!err.empty()) log.error("timer offsets not persisted: " + err);
    });
  });
}

}  // namespace mq
