#include "broker/broker.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <future>

#include "base/file_util.h"
#include "base/hash.h"
#include "codec/codes.h"

namespace mq {

const char* broker_state_name(BrokerState s) {
  switch (s) {
    case BrokerState::kCreated: return "CREATED";
    case BrokerState::kRunning: return "RUNNING";
    case BrokerState::kStopping: return "STOPPING";
    case BrokerState::kStopped: return "STOPPED";
    case BrokerState::kFailed: return "FAILED";
  }
  return "?";
}

namespace {
constexpr int64_t kHoldCheckIntervalMs = 100;
constexpr int64_t kHousekeepingIntervalMs = 5000;
// RocketMQ's flushDelayOffsetInterval.
constexpr int64_t kFlushDelayOffsetIntervalMs = 10000;
constexpr int64_t kRegisterTimeoutMs = 6000;

RemotingServerOptions server_options(const BrokerConfig& c, int32_t port) {
  RemotingServerOptions o;
  o.listen_host = "0.0.0.0";
  o.listen_port = port;
  o.max_frame_bytes = static_cast<uint32_t>(c.max_frame_bytes);
  o.idle_close_ms = 120'000;
  return o;
}
}  // namespace

Broker::Broker(BrokerServices services, BrokerConfig config)
    : loop_(services.loop),
      pool_(services.pool),
      outer_client_(services.outer_client),
      clock_(services.clock),
      namesrv_addr_(services.namesrv_addr.empty() ? config.namesrv_addr : services.namesrv_addr),
      config_(std::move(config)),
      log_(services.log_sink ? services.log_sink : default_log_sink(), "[" + config_.identity() + "]"),
      strand_(pool_.make_strand()),
      server_(loop_, server_options(config_, config_.listen_port), log_),
      flush_timer_(loop_),
      register_timer_(loop_),
      register_retry_timer_(loop_),
      housekeeping_timer_(loop_),
      hold_timer_(loop_),
      slave_sync_timer_(loop_),
      stats_timer_(loop_),
      delay_offset_timer_(loop_) {
  register_processors();
  // Message-semantics handlers (they replace placeholders register_processors may have set).
  register_retry_processors();
  register_lock_processors();
  register_transaction_processors();
  register_query_processors();
  register_schedule_processors();
  register_controller_processors();
  if (config_.effective_fast_listen_port() > 0) {
    fast_server_ = std::make_unique<RemotingServer>(loop_, server_options(config_, config_.effective_fast_listen_port()),
                                                    log_);
    fast_server_->dispatcher() = server_.dispatcher();
    fast_server_->dispatcher().unregister_handler(request_code::kPullMessage);
  }
}

Broker::~Broker() {
  if (state_ == BrokerState::kRunning) shutdown();
  *alive_ = false;
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

Result<Unit, std::string> Broker::start() {
  auto fail = [this](std::string why) -> Result<Unit, std::string> {
    state_ = BrokerState::kFailed;
    server_.stop();
    if (fast_server_) fast_server_->stop();
    flush_timer_.stop();
    register_timer_.stop();
    register_retry_timer_.stop();
    housekeeping_timer_.stop();
    hold_timer_.stop();
    stats_timer_.stop();
    delay_offset_timer_.stop();
    schedule_.reset();
    timers_.reset();
    transactions_.reset();
    stop_replication();
    ha_master_.reset();
    ha_slave_.reset();
    as_master_.reset();
    as_client_.reset();
    replicas_.reset();
    if (dledger_) dledger_->shutdown();
    if (store_) {
      (void)store_->shutdown();
      store_.reset();
    }
    index_.reset();
    dledger_.reset();
    if (lock_fd_ >= 0) {
      ::close(lock_fd_);
      lock_fd_ = -1;
    }
    log_.error("start failed: " + why);
    return make_error(std::string(), config_.identity() + " (" + config_.config_path + "): " + why);
  };
  const std::string& root = config_.store.store_path_root_dir;
  std::error_code ec;
  std::filesystem::create_directories(root, ec);
  if (ec) return fail("cannot create store directory " + root + ": " + ec.message());
  std::string lock_path = root + "/lock";
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) return fail("cannot open " + lock_path + ": " + std::strerror(errno));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0)
    return fail("store directory " + root + " is locked by another broker or process");

  boot_timestamp_ms_ = now_ms();
  if (is_dledger()) {
    // The role comes from the election; until then this member is a follower (RocketMQ's
    // DLedgerRoleChangeHandler treats a candidate like a follower).
    auto d = open_dledger();
    if (!d.ok()) return fail(d.detail());
    store_ = std::make_unique<store::MessageStore>(config_.store, fs_, log_, dledger_.get());
  } else {
    store_ = std::make_unique<store::MessageStore>(config_.store, fs_, log_);
  }
  if (is_controller_mode()) {
    // Fenced until the controller names a master: a slave that takes no writes.
    config_.broker_role = BrokerRole::kSlave;
    if (auto c = open_controller_mode(); !c.ok()) return fail(c.detail());
  }
  if (is_slave() && !is_dledger()) store_->add_dispatcher(&replica_arrivals_);
  {
    // The IndexFile (QUERY_MESSAGE by key): fed by dispatch, recovery included.
    store::IndexConfig ic;
    ic.dir = root + "/index";
    ic.max_hash_slot_num = config_.max_hash_slot_num;
    ic.max_index_num = config_.max_index_num;
    ic.enable = config_.message_index_enable;
    index_ = std::make_unique<store::IndexService>(ic, fs_, log_);
    if (auto l = index_->load(); !l.ok()) {
      // The index is derived data: one that cannot be read (other maxHashSlotNum/maxIndexNum, or
      // damaged) is set aside, not a reason to keep the broker down. New records are indexed
      // from here on; the old files stay for an operator to inspect.
      std::string aside = ic.dir + ".unreadable-" + std::to_string(now_ms());
      std::error_code rename_ec;
      std::filesystem::rename(ic.dir, aside, rename_ec);
      if (rename_ec) return fail("cannot open the index (" + l.detail() + ") nor set it aside: " + rename_ec.message());
      log_.error("index not opened (" + l.detail() + "): moved to " + aside + "; only new messages are indexed");
      index_ = std::make_unique<store::IndexService>(ic, fs_, log_);
      if (auto again = index_->load(); !again.ok()) return fail("cannot open the index: " + again.detail());
    }
    store_->add_dispatcher(index_.get());
  }
  auto opened = store_->open();
  if (!opened.ok()) {
    store_.reset();
    return fail("cannot open store: " + opened.detail());
  }
  if (auto t = index_->truncate_dirty(store_->max_phy_offset()); !t.ok())
    log_.warn("index: " + t.detail());
  if (opened->abnormal)
    log_.warn("abnormal recovery: commit log ends at " + std::to_string(opened->commit_log_end) + ", cut " +
              std::to_string(opened->truncated_bytes) + " torn bytes, re-dispatched " +
              std::to_string(opened->redispatched) + " records");

  std::string config_dir = root + "/config";
  struct Table {
    const char* name;
    std::function<Result<Unit, int>(const std::string&)> load;
  };
  for (const Table& t : {Table{"topics.json", [this](const std::string& s) { return topics_.load_json_text(s); }},
                         Table{"subscriptionGroup.json", [this](const std::string& s) { return groups_.load_json_text(s); }},
                         Table{"consumerOffset.json", [this](const std::string& s) { return offsets_.load_json_text(s); }}}) {
    std::string path = config_dir + "/" + t.name;
    if (auto text = read_config_file(path)) {
      auto r = t.load(*text);
      if (!r.ok()) return fail(path + ": " + r.detail());
    } else if (std::filesystem::exists(path)) {
      return fail(path + " (and its .bak) is not valid JSON");
    }
  }
  {
    std::string why;
    if (!store::parse_message_delay_level(config_.store.message_delay_level, &why))
      return fail("messageDelayLevel '" + config_.store.message_delay_level + "': " + why);
    Logger log = log_;
    std::weak_ptr<bool> alive = alive_;
    schedule_ = std::make_unique<ScheduleMessageService>(
        loop_, *store_, clock_, log_,
        [this, alive](std::vector<store::MessageToStore> msgs, std::function<void(size_t)> done) {
          if (alive.expired()) return;
          put_internal(std::move(msgs), false, [done = std::move(done)](size_t stored, const store::PutMessageResult&) {
            done(stored);
          });
        },
        [this, log, path = config_dir + "/delayOffset.json"](std::string text) {
          strand_->submit([path, text = std::move(text), log] {
            std::string err = write_file_atomically(path, text);
            if (!err.empty()) log.error("delay offsets not persisted: " + err);
          });
        });
    std::string path = config_dir + "/delayOffset.json";
    if (auto text = read_config_file(path)) {
      if (!schedule_->load(*text, &why)) return fail(path + ": " + why);
    } else if (std::filesystem::exists(path)) {
      return fail(path + " (and its .bak) is not valid JSON");
    }
    HostAddress self;
    if (auto a = HostAddress::parse_v4(config_.broker_addr())) self = *a;
    timers_ = std::make_unique<TimerMessageService>(
        *store_, loop_, clock_, log_, self,
        [this, alive](std::vector<store::MessageToStore> msgs, std::function<void(size_t)> done) {
          if (alive.expired()) return;
          put_internal(std::move(msgs), false, [done = std::move(done)](size_t stored, const store::PutMessageResult&) {
            done(stored);
          });
        },
        [this, log, path = config_dir + "/timerOffset.json"](std::string text) {
          strand_->submit([path, text = std::move(text), log] {
            std::string err = write_file_atomically(path, text);
            if (!err.empty()) log.error("timer offsets not persisted: " + err);
          });
        });
    path = config_dir + "/timerOffset.json";
    if (auto text = read_config_file(path)) {
      if (!timers_->load(*text, &why)) return fail(path + ": " + why);
    } else if (std::filesystem::exists(path)) {
      return fail(path + " (and its .bak) is not valid JSON");
    }
  }
  topics_.add_system_topics(config_.broker_cluster_name, config_.broker_name, config_.auto_create_topic_enable,
                            config_.default_topic_queue_nums, now_ms());
  open_transactions();  // after consumerOffset.json: its low-water marks are kept there
  groups_.add_system_groups(now_ms());

  auto port = server_.start();
  if (!port.ok()) return fail(port.detail());
  auto on_closed = [this](RemotingConnection& conn) {
    for (const auto& group : clients_.on_connection_closed(conn.id())) notify_consumer_ids_changed(group);
  };
  server_.set_on_connection_closed(on_closed);
  if (fast_server_) {
    auto fast = fast_server_->start();
    if (!fast.ok()) return fail("fast (VIP) port: " + fast.detail());
    fast_server_->set_on_connection_closed(on_closed);
  }

  if (dledger_) {
    if (auto r = dledger_->start(*store_); !r.ok()) return fail(r.detail());
  }
  if (auto r = start_replication(); !r.ok()) return fail(r.detail());

  uint64_t flush_every = static_cast<uint64_t>(std::max<int64_t>(config_.store.flush_interval_commit_log_ms, 10));
  flush_timer_.start(flush_every, flush_every, [this] { run_flush(true); });
  hold_timer_.start(kHoldCheckIntervalMs, kHoldCheckIntervalMs, [this] {
    // A full disk is measured again (at most every store::kDiskRecheckIntervalMs) even when no
    // put arrives, so the status clears by itself once space is back.
    if (store_ && !store_->takes_writes()) {
      const int64_t now = clock_.monotonic_ms();
      if (store_->is_disk_full() && now - last_usage_check_ms_ >= store::kDiskRecheckIntervalMs) {
        last_usage_check_ms_ = now;
        // One statvfs, only while the disk is full.
        store_->update_disk_usage(store::disk_used_ratio(config_.store.store_path_root_dir));
      }
      store_->recheck_disk_space(now_ms());
    }
    pull_holds_.expire(clock_.monotonic_ms());
    int64_t now = clock_.monotonic_ms();
    for (uint64_t token : group_commit_.expire(now)) {
      auto it = flush_waiters_.find(token);
      if (it == flush_waiters_.end()) continue;
      auto fn = std::move(it->second);
      flush_waiters_.erase(it);
      fn(false);
    }
  });
  housekeeping_timer_.start(kHousekeepingIntervalMs, kHousekeepingIntervalMs, [this] { housekeeping(); });
  auto sample_stats = [this] {
    const int64_t now = now_ms();
    time_t t = static_cast<time_t>(now / 1000);
    tm local{};
    localtime_r(&t, &local);
    stats_.sample(clock_.monotonic_ms(), (local.tm_year + 1900) * 1000 + local.tm_yday);
  };
  sample_stats();
  stats_timer_.start(1000, 1000, sample_stats);
  delay_offset_timer_.start(kFlushDelayOffsetIntervalMs, kFlushDelayOffsetIntervalMs, [this] {
    if (schedule_) schedule_->persist_if_changed();
    if (timers_) timers_->persist_if_changed();
  });
  uint64_t period = register_period_ms();
  register_timer_.start(period, period, [this] { register_with_namesrv(false); });
  state_ = BrokerState::kRunning;
  update_master_services();
  register_with_namesrv(false);
  if (is_controller_mode()) start_controller_mode();
  log_.info("started: " + std::string(broker_role_name(config_.broker_role)) + ", " +
            (config_.store.flush_disk_type == store::FlushDiskType::kSyncFlush ? "SYNC_FLUSH" : "ASYNC_FLUSH") +
            ", listening on " + std::to_string(*port) +
            (fast_server_ ? " (fast port " + std::to_string(fast_server_->port()) + ")" : std::string()) +
            ", store " + root + ", commit log max offset " + std::to_string(store_->max_phy_offset()));
  return Unit{};
}

void Broker::shutdown() {
  if (state_ != BrokerState::kRunning) return;
  state_ = BrokerState::kStopping;
  unregister_from_namesrv();
  // Held pulls are answered while their connections are still open: a Java client fails a
  // pending request early only when it closes the channel itself, so an unanswered held pull
  // would stall its queue for the full 30 s request timeout after the broker comes back.
  pull_holds_.clear();
  server_.stop();
  if (fast_server_) fast_server_->stop();
  flush_timer_.stop();
  register_timer_.stop();
  register_retry_timer_.stop();
  register_retry_armed_ = false;
  housekeeping_timer_.stop();
  hold_timer_.stop();
  stats_timer_.stop();
  delay_offset_timer_.stop();
  if (schedule_) schedule_->stop();  // persists its progress
  if (timers_) timers_->stop();
  if (transactions_) transactions_->stop_checks();
  stop_replication();
  pull_holds_.clear();
  // Wait for this broker's disk work, then flush and close the store on this thread. Only this
  // broker's strand: the pool is shared, and waiting for a neighbour's fsyncs (or a neighbour's
  // failing disk) here would stall every broker of the container for that long.
  drain_own_disk_work();
  for (auto& [token, fn] : flush_waiters_) fn(false);
  flush_waiters_.clear();
  (void)group_commit_.take_all();
  ha_master_.reset();
  ha_slave_.reset();
  as_master_.reset();
  as_client_.reset();
  persist_metadata();
  drain_own_disk_work();
  if (dledger_) dledger_->shutdown();
  auto r = store_->shutdown();
  if (!r.ok()) log_.error("store shutdown: " + r.detail());
  if (index_) {
    if (auto ir = index_->shutdown(); !ir.ok()) log_.error("index shutdown: " + ir.detail());
  }
  schedule_.reset();
  timers_.reset();
  transactions_.reset();
  store_.reset();
  index_.reset();
  dledger_.reset();
  if (lock_fd_ >= 0) {
    ::close(lock_fd_);
    lock_fd_ = -1;
  }
  state_ = BrokerState::kStopped;
  log_.info("stopped");
}

void Broker::drain_own_disk_work() {
  // The strand runs its tasks in order: once this one runs, every earlier one has. (Their `done`
  // callbacks run later on the loop and find alive_ gone if the broker is destroyed by then.)
  auto reached = std::make_shared<std::promise<void>>();
  auto f = reached->get_future();
  strand_->submit([reached] { reached->set_value(); });
  f.wait();
}

void Broker::run_flush(bool full) {
  if (!store_ || state_ != BrokerState::kRunning) return;
  if (flush_running_) {
    flush_again_ = true;
    flush_again_full_ = flush_again_full_ || full;
    return;
  }
  flush_running_ = true;
  flush_again_ = false;
  flush_again_full_ = false;
  auto result = std::make_shared<store::IoResult<int64_t>>(make_error(store::IoError::kIo, "not run"));
  store::MessageStore* store = store_.get();
  std::weak_ptr<bool> alive = alive_;
  store::IndexService* index = index_.get();
  Logger log = log_;
  strand_->submit([store, index, result, full, log] {
                    *result = full ? store->flush() : store->flush_commit_log();
                    if (full && index) {
                      if (auto f = index->flush(); !f.ok()) log.error("index flush failed: " + f.detail());
                    }
                  },
                  [this, alive, result] {
                    if (alive.expired()) return;
                    flush_running_ = false;
                    if (!result->ok()) {
                      log_.error("flush failed, broker stops taking writes: " + result->detail());
                      for (uint64_t token : group_commit_.take_all()) {
                        auto it = flush_waiters_.find(token);
                        if (it == flush_waiters_.end()) continue;
                        auto fn = std::move(it->second);
                        flush_waiters_.erase(it);
                        fn(false);
                      }
                      return;
                    }
                    for (uint64_t token : group_commit_.complete_up_to(**result)) {
                      auto it = flush_waiters_.find(token);
                      if (it == flush_waiters_.end()) continue;
                      auto fn = std::move(it->second);
                      flush_waiters_.erase(it);
                      fn(true);
                    }
                    if (!group_commit_.empty() || flush_again_) run_flush(flush_again_full_);
                  });
}

void Broker::maybe_precreate() {
  if (precreate_running_ || !store_ || !store_->needs_precreate()) return;
  // After a failure (a full disk) not again for a while: every put would otherwise queue a
  // fallocate that fails. The roll-over creates the segment itself if it is still missing then.
  if (clock_.monotonic_ms() < precreate_retry_at_ms_) return;
  precreate_running_ = true;
  store::MessageStore* store = store_.get();
  std::weak_ptr<bool> alive = alive_;
  Logger log = log_;
  auto failed = std::make_shared<bool>(false);
  strand_->submit(
      [store, log, failed] {
        auto r = store->precreate_next_file();
        if (!r.ok()) {
          *failed = true;
          log.warn("pre-creating the next commit log file failed: " + r.detail());
        }
      },
      [this, alive, failed] {
        if (alive.expired()) return;
        precreate_running_ = false;
        precreate_retry_at_ms_ = *failed ? clock_.monotonic_ms() + kPrecreateRetryDelayMs : 0;
      });
}

void Broker::persist_metadata() {
  std::string dir = config_.store.store_path_root_dir + "/config/";
  std::vector<std::pair<std::string, std::string>> writes;
  if (topics_.take_dirty()) writes.emplace_back(dir + "topics.json", topics_.to_json_text());
  if (groups_.take_dirty()) writes.emplace_back(dir + "subscriptionGroup.json", groups_.to_json_text());
  if (offsets_.take_dirty()) writes.emplace_back(dir + "consumerOffset.json", offsets_.to_json_text());
  if (writes.empty()) return;
  Logger log = log_;
  strand_->submit([writes = std::move(writes), log] {
    for (const auto& [path, text] : writes) {
      std::string err = write_file_atomically(path, text);
      if (!err.empty()) log.error("metadata not persisted: " + err);
    }
  });
}

void Broker::housekeeping() {
  // Monotonic time: a wall-clock jump must not make every client look silent (or never silent).
  auto [changed, dropped] = clients_.scan_expired(clock_.monotonic_ms(), config_.channel_expired_timeout_ms);
  for (auto& weak : dropped)
    if (auto conn = weak.lock()) conn->close("client channel expired");
  for (const auto& group : changed) notify_consumer_ids_changed(group);
  persist_metadata();
  // A slave keeps asking until the NameServer names its master (the master may start later).
  if (is_slave() && master_addr_.empty()) register_with_namesrv(false);
  if (store_) {
    time_t t = static_cast<time_t>(now_ms() / 1000);
    tm local{};
    localtime_r(&t, &local);
    store::ExpiryRequest req;
    req.now_ms = now_ms();
    req.is_delete_time = store_->is_delete_hour(local.tm_hour);
    if (dledger_ && (req.is_delete_time || last_disk_used_ratio_ * 100 > config_.store.disk_max_used_space_ratio)) {
      // The Raft log's files belong to the loop thread; the queues follow on the strand below.
      dledger_->delete_expired(req.now_ms, config_.store.file_reserved_time_hours * 3600 * 1000,
                               config_.store.clean_file_forcibly_enable &&
                                   last_disk_used_ratio_ * 100 > config_.store.disk_space_clean_forcibly_ratio,
                               config_.store.delete_commit_log_files_per_run);
    }
    // Measuring the disk and unlinking big files both block: run them on this broker's strand.
    std::string root = config_.store.store_path_root_dir;
    store::MessageStore* store = store_.get();
    store::IndexService* index = index_.get();
    Logger log = log_;
    auto ratio = std::make_shared<double>(0);
    std::weak_ptr<bool> alive = alive_;
    strand_->submit(
        [store, index, req, root, log, ratio]() mutable {
          req.disk_used_ratio = store::disk_used_ratio(root);
          *ratio = req.disk_used_ratio;
          int deleted = store->delete_expired_files(req);
          if (deleted > 0) log.info("deleted " + std::to_string(deleted) + " expired commit log files");
          if (index) {
            int gone = index->delete_expired_files(store->min_phy_offset());
            if (gone > 0) log.info("deleted " + std::to_string(gone) + " index files below the commit log's start");
          }
        },
        [this, alive, ratio] {
          if (!alive.expired()) last_disk_used_ratio_ = *ratio;
        });
  }
}

void Broker::register_with_namesrv(bool oneway) { register_with(split_addr_list(namesrv_addr_), oneway); }

void Broker::register_with(const std::vector<std::string>& addrs, bool oneway) {
  if (state_ != BrokerState::kRunning) return;
  // Controller mode: nothing is registered before the controller has named a master (RocketMQ's
  // isolated broker), so routes never point at a broker that cannot take writes or serve reads.
  if (controller_fenced()) return;
  TopicConfigWrapper w = topics_.wrapper();
  // A broker without read or write permission registers every topic with its own permission (RocketMQ's
  // registerBrokerAll), so routes tell clients not to send (or pull) there.
  if ((config_.broker_permission & perm::kReadWrite) != perm::kReadWrite)
    for (auto& [name, tc] : w.topic_config_table) tc.perm = config_.broker_permission;
  std::string body = encode_register_broker_body(w, config_.compressed_register);
  for (const auto& addr : addrs) {
    RemotingCommand req = RemotingCommand::request(request_code::kRegisterBroker);
    req.ext_fields.set("brokerName", config_.broker_name);
    req.ext_fields.set("brokerAddr", config_.broker_addr());
    req.ext_fields.set("clusterName", config_.broker_cluster_name);
    req.ext_fields.set("haServerAddr", config_.ha_server_addr());
    req.ext_fields.set("brokerId", config_.broker_id);
    req.ext_fields.set_bool("compressed", config_.compressed_register);
    req.ext_fields.set("bodyCrc32", int64_t{rocketmq_crc32(body)});
    req.body = body;
    if (oneway) {
      outer_client_.invoke_oneway(addr, std::move(req));
      continue;
    }
    std::weak_ptr<bool> alive = alive_;
    outer_client_.invoke(addr, std::move(req), kRegisterTimeoutMs, [this, alive, addr](Result<RemotingCommand, RpcError> r) {
      if (alive.expired()) return;
      if (!r.ok()) {
        log_.warn("register to name server " + addr + " failed: " + r.detail());
        retry_register_later(addr);
      } else if (r->code != response_code::kSuccess) {
        log_.warn("register to name server " + addr + " refused: code " + std::to_string(r->code) + " " +
                  r->remark.value_or(""));
        retry_register_later(addr);
      } else {
        register_failed_addrs_.erase(addr);
        if (register_failed_addrs_.empty()) register_retry_delay_ms_ = kFirstRegisterRetryDelayMs;
        on_register_response(*r);
      }
    });
  }
}

uint64_t Broker::register_period_ms() const {
  return static_cast<uint64_t>(std::clamp<int64_t>(config_.register_name_server_period_ms, 1000, 60'000));
}

void Broker::retry_register_later(const std::string& addr) {
  if (state_ != BrokerState::kRunning) return;
  register_failed_addrs_.insert(addr);
  if (register_retry_armed_) return;
  register_retry_armed_ = true;
  uint64_t delay = register_retry_delay_ms_;
  register_retry_delay_ms_ = std::min(register_period_ms(), delay * 2);
  register_retry_timer_.start(delay, 0, [this] {
    register_retry_armed_ = false;
    std::vector<std::string> addrs(register_failed_addrs_.begin(), register_failed_addrs_.end());
    register_with(addrs, false);
  });
}

void Broker::unregister_from_namesrv() {
  for (const auto& addr : split_addr_list(namesrv_addr_)) {
    RemotingCommand req = RemotingCommand::request(request_code::kUnregisterBroker);
    req.ext_fields.set("brokerName", config_.broker_name);
    req.ext_fields.set("brokerAddr", config_.broker_addr());
    req.ext_fields.set("clusterName", config_.broker_cluster_name);
    req.ext_fields.set("brokerId", config_.broker_id);
    Logger log = log_;
    outer_client_.invoke(addr, std::move(req), 3000, [log, addr](Result<RemotingCommand, RpcError> r) {
      if (!r.ok()) log.warn("unregister from name server " + addr + " failed: " + r.detail());
    });
  }
}

void Broker::notify_consumer_ids_changed(const std::string& group) {
  if (!config_.notify_consumer_ids_changed_enable) return;
  const ConsumerGroupInfo* info = clients_.consumer_group(group);
  if (info == nullptr) return;
  if (const auto* g = groups_.find(group); g != nullptr && !g->notify_consumer_ids_changed_enable) return;
  for (const auto& [id, ch] : info->channels) {
    auto conn = ch.connection.lock();
    if (!conn) continue;
    RemotingCommand req = RemotingCommand::request(request_code::kNotifyConsumerIdsChanged);
    req.ext_fields.set("consumerGroup", group);
    server_.send_oneway(*conn, std::move(req));
  }
}

nlohmann::json Broker::status_json() const {
  nlohmann::json j{{"identity", config_.identity()},
                   {"brokerName", config_.broker_name},
                   {"brokerId", config_.broker_id},
                   {"cluster", config_.broker_cluster_name},
                   {"role", broker_role_name(config_.broker_role)},
                   {"state", broker_state_name(state_)},
                   {"listenPort", server_.port()},
                   {"fastListenPort", fast_listen_port()},
                   {"storePathRootDir", config_.store.store_path_root_dir},
                   {"configPath", config_.config_path},
                   {"connections", server_.connection_count() + (fast_server_ ? fast_server_->connection_count() : 0)},
                   {"putTotal", stats_.put_total()},
                   {"getTotal", stats_.get_total()}};
  if (store_) {
    j["commitLogMaxOffset"] = store_->max_phy_offset();
    j["commitLogFlushedOffset"] = store_->flushed_offset();
    // writable: puts are taken now. diskFull: refused for lack of space, which clears by itself;
    // storeStopped: a write or fsync failed, which only a restart clears.
    j["writable"] = store_->takes_writes();
    j["diskFull"] = store_->is_disk_full();
    j["storeStopped"] = !store_->is_writable();
    if (!store_->takes_writes()) j["notWritableReason"] = store_->write_refusal_reason();
  }
  if (dledger_) j["dledger"] = dledger_->status_json();
  if (ha_master_) j["ha"] = ha_master_->status();
  if (ha_slave_) {
    j["ha"] = ha_slave_->status();
    j["ha"]["masterAddress"] = master_addr_;
  }
  if (is_controller_mode()) {
    nlohmann::json c = replicas_ ? replicas_->status_json() : nlohmann::json::object();
    c["fenced"] = controller_fenced();
    if (epochs_) c["lastEpoch"] = epochs_->last_epoch();
    j["controllerMode"] = c;
    if (as_master_) j["ha"] = as_master_->status();
    if (as_client_) {
      j["ha"] = as_client_->status();
      j["ha"]["masterAddress"] = master_addr_;
    }
  }
  return j;
}

}  // namespace mq
