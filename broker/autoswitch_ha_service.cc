#include "broker/autoswitch_ha_service.h"

#include <algorithm>

namespace mq {

namespace as = ha::autoswitch;

namespace {
constexpr uint64_t kTickMs = 100;

std::string ids_text(const std::set<int64_t>& ids) {
  std::string out = "{";
  for (int64_t id : ids) out += (out.size() > 1 ? "," : "") + std::to_string(id);
  return out + "}";
}
}  // namespace

// ---------------------------------------------------------------- master

AutoSwitchHaMaster::AutoSwitchHaMaster(EventLoop& loop, store::MessageStore& store, store::EpochFile& epochs,
                                       AutoSwitchHaOptions options, const Clock& clock, Logger log, int64_t self_id,
                                       SyncStateSet sync_state_set, Callbacks callbacks)
    : loop_(loop),
      store_(store),
      epochs_(epochs),
      opt_(options),
      clock_(clock),
      log_(std::move(log)),
      self_id_(self_id),
      sss_(std::move(sync_state_set)),
      cb_(std::move(callbacks)),
      listener_(loop),
      timer_(loop) {
  sss_.members.insert(self_id_);
  confirm_offset_ = store_.max_phy_offset();
}

AutoSwitchHaMaster::~AutoSwitchHaMaster() {
  stop();
  *alive_ = false;
}

Result<int, std::string> AutoSwitchHaMaster::start(const std::string& host, int port) {
  auto bound = listener_.listen(host, port, [this](std::shared_ptr<TcpConnection> c) { on_connection(std::move(c)); });
  if (!bound.ok()) return make_error(std::string(), "cannot listen on HA port " + std::to_string(port) + ": " + bound.detail());
  last_shrink_check_ms_ = clock_.monotonic_ms();
  timer_.start(kTickMs, kTickMs, [this] { tick(); });
  log_.info("AutoSwitch HA master listening on " + std::to_string(*bound) + ", SyncStateSet " + ids_text(sss_.members) +
            " epoch " + std::to_string(sss_.epoch));
  return *bound;
}

void AutoSwitchHaMaster::stop() {
  listener_.close();
  timer_.stop();
  auto slaves = std::move(slaves_);
  slaves_.clear();
  for (auto& [id, s] : slaves)
    if (auto c = s.conn.lock()) c->close("master stopping");
  auto waiters = std::move(waiters_);
  waiters_.clear();
  for (auto& [offset, w] : waiters) w.done(false);
}

void AutoSwitchHaMaster::on_connection(std::shared_ptr<TcpConnection> conn) {
  uint64_t id = conn->id();
  Slave& s = slaves_[id];
  s.conn = conn;
  s.address = conn->peer_address();
  s.last_read_ms = s.last_write_ms = clock_.monotonic_ms();
  log_.info("slave connected from " + s.address);
  std::weak_ptr<bool> alive = alive_;
  conn->start({[this, alive, id](std::string_view data) {
                 if (!alive.expired()) on_data(id, data);
               },
               [this, alive, id](const std::string& why) {
                 if (alive.expired()) return;
                 auto it = slaves_.find(id);
                 if (it == slaves_.end()) return;
                 log_.info("slave " + it->second.address + " (id " + std::to_string(it->second.slave_id) +
                           ") disconnected: " + why);
                 slaves_.erase(it);
                 check_shrink(true);
               }});
}

void AutoSwitchHaMaster::on_data(uint64_t id, std::string_view data) {
  auto it = slaves_.find(id);
  if (it == slaves_.end()) return;
  Slave& s = it->second;
  s.last_read_ms = clock_.monotonic_ms();
  s.reader.feed(data);
  while (auto frame = s.reader.next()) {
    if (auto* h = std::get_if<as::SlaveHandshake>(&*frame)) {
      s.slave_id = h->slave_broker_id;
      s.async_learner = h->async_learner;
      s.sync_from_last_file = h->sync_from_last_file;
      s.handshake_done = true;
      s.next_transfer_offset = -1;
      auto conn = s.conn.lock();
      if (!conn) return;
      conn->write(as::encode_handshake_reply(store_.max_phy_offset(), epochs_.last_epoch(), epochs_.entries()));
      s.last_write_ms = clock_.monotonic_ms();
      log_.info("slave " + s.address + " is broker id " + std::to_string(s.slave_id) +
                (s.async_learner ? " (async learner)" : ""));
    } else if (auto* r = std::get_if<as::SlaveReport>(&*frame)) {
      if (!s.handshake_done) {
        if (auto conn = s.conn.lock()) conn->close("offset report before the handshake");
        return;
      }
      on_report(s, r->max_offset);
      if (slaves_.find(id) == slaves_.end()) return;  // closed by on_report
    }
  }
  if (!s.reader.error().empty())
    if (auto conn = s.conn.lock()) conn->close(s.reader.error());
}

void AutoSwitchHaMaster::on_report(Slave& s, int64_t offset) {
  const int64_t end = store_.max_phy_offset();
  if (s.next_transfer_offset < 0) {
    if (offset > end) {
      // Truncation in the handshake should have prevented this: the slave holds more than this
      // master's log. It must reconnect and truncate again.
      log_.error("slave " + s.address + " reports offset " + std::to_string(offset) + " beyond this master's end " +
                 std::to_string(end) + "; closing its connection");
      if (auto conn = s.conn.lock()) conn->close("slave ahead of the master");
      return;
    }
    if (offset == 0) {
      int64_t seg = std::max<int64_t>(opt_.mapped_file_size_commit_log, 1);
      s.next_transfer_offset = s.sync_from_last_file ? std::max(end - end % seg, store_.min_phy_offset())
                                                     : store_.min_phy_offset();
    } else {
      s.next_transfer_offset = offset;
    }
    s.start_offset = s.next_transfer_offset;
    s.acked_offset = std::min(offset, end);
    log_.info("slave " + s.address + " (id " + std::to_string(s.slave_id) + ") starts at commit log offset " +
              std::to_string(s.next_transfer_offset));
  } else if (offset > s.acked_offset) {
    // Only what went out on this connection can be acknowledged; more would complete puts the
    // slave does not have.
    s.acked_offset = std::min(offset, s.next_transfer_offset);
  }
  // Caught up (reference 5.4): acknowledged everything up to the master's end at its last batch.
  if (!s.async_learner && s.acked_offset >= s.max_offset_at_last_transfer)
    note_caught_up(s.slave_id, s.acked_offset >= end ? clock_.monotonic_ms() : s.last_transfer_ms);
  if (ack_set().count(s.slave_id)) refresh_confirm_offset();
  maybe_expand(s);
  complete_waiters();
  push(s);
}

void AutoSwitchHaMaster::note_caught_up(int64_t slave_id, int64_t at_ms) {
  auto [it, added] = caught_up_ms_.emplace(slave_id, at_ms);
  if (!added) it->second = std::max(it->second, at_ms);
}

void AutoSwitchHaMaster::push(Slave& s) {
  auto conn = s.conn.lock();
  if (!conn || !conn->is_open() || s.next_transfer_offset < 0) return;
  while (s.next_transfer_offset < store_.max_phy_offset() &&
         s.next_transfer_offset - std::max(s.acked_offset, s.start_offset) < opt_.window_bytes) {
    auto entry = epochs_.find_entry_containing(s.next_transfer_offset);
    if (!entry) {
      log_.error("no epoch entry holds commit log offset " + std::to_string(s.next_transfer_offset) + " (slave " +
                 s.address + "); closing the connection");
      conn->close("no epoch for the transfer offset");
      return;
    }
    // A batch never crosses an epoch boundary: the slave records the epoch change between them.
    int64_t limit = std::min<int64_t>(opt_.transfer_batch_bytes, store_.max_phy_offset() - s.next_transfer_offset);
    if (entry->end_offset != store::kEpochOpenEnd) limit = std::min(limit, entry->end_offset - s.next_transfer_offset);
    if (limit <= 0) {
      conn->close("empty epoch range at the transfer offset");
      return;
    }
    auto data = store_.read_commit_log(s.next_transfer_offset, static_cast<size_t>(limit));
    if (!data.ok() || data->empty()) {
      std::string why = data.ok() ? "no data" : data.detail();
      log_.error("cannot read commit log at " + std::to_string(s.next_transfer_offset) + " for slave " + s.address +
                 " (" + why + "); closing the connection");
      conn->close("commit log unreadable at the slave's offset");
      return;
    }
    conn->write(as::encode_transfer(s.next_transfer_offset, entry->epoch, entry->start_offset, confirm_offset(), *data));
    s.next_transfer_offset += static_cast<int64_t>(data->size());
    s.max_offset_at_last_transfer = store_.max_phy_offset();
    s.last_transfer_ms = s.last_write_ms = clock_.monotonic_ms();
  }
  if (s.next_transfer_offset >= store_.max_phy_offset() && s.acked_offset >= store_.max_phy_offset() && !s.async_learner)
    note_caught_up(s.slave_id, clock_.monotonic_ms());
}

void AutoSwitchHaMaster::send_heartbeat(Slave& s, const std::shared_ptr<TcpConnection>& conn) {
  int32_t epoch = epochs_.last_epoch();
  int64_t epoch_start = 0;
  if (auto e = epochs_.find_entry_containing(s.next_transfer_offset)) {
    epoch = e->epoch;
    epoch_start = e->start_offset;
  } else if (auto last = epochs_.last_entry()) {
    epoch_start = last->start_offset;
  }
  std::string hb;
  as::append_transfer_header(hb, 0, s.next_transfer_offset, epoch, epoch_start, confirm_offset());
  conn->write(hb);
  s.last_write_ms = clock_.monotonic_ms();
}

void AutoSwitchHaMaster::notify_new_data() {
  if (push_posted_ || slaves_.empty()) return;
  push_posted_ = true;
  std::weak_ptr<bool> alive = alive_;
  loop_.post([this, alive] {
    if (alive.expired()) return;
    push_posted_ = false;
    for (auto& [id, s] : slaves_) push(s);
  });
}

std::set<int64_t> AutoSwitchHaMaster::ack_set() const {
  std::set<int64_t> out = sss_.members;
  if (proposed_) out.insert(proposed_->begin(), proposed_->end());
  return out;
}

int64_t AutoSwitchHaMaster::ack_of(int64_t slave_id) const {
  int64_t best = -1;
  for (const auto& [id, s] : slaves_)
    if (s.slave_id == slave_id && s.next_transfer_offset >= 0) best = std::max(best, s.acked_offset);
  return best;
}

bool AutoSwitchHaMaster::enough_in_sync() const {
  size_t n = std::max(sss_.members.size(), proposed_ ? proposed_->size() : size_t{0});
  return static_cast<int64_t>(n) >= opt_.min_in_sync_replicas;
}

bool AutoSwitchHaMaster::satisfied(int64_t end_offset) const {
  if (opt_.all_ack_in_sync_state_set) {
    for (int64_t id : ack_set()) {
      if (id == self_id_) continue;
      if (ack_of(id) < end_offset) return false;
    }
    return true;
  }
  int needed = opt_.in_sync_replicas - 1;
  if (needed <= 0) return true;
  int have = 0;
  for (const auto& [id, s] : slaves_)
    if (s.next_transfer_offset >= 0 && s.acked_offset >= end_offset) ++have;
  return have >= needed;
}

void AutoSwitchHaMaster::wait_for_replicas(int64_t end_offset, int64_t deadline_ms, std::function<void(bool)> done) {
  if (satisfied(end_offset)) return done(true);
  waiters_.emplace(end_offset, Waiter{deadline_ms, std::move(done)});
}

void AutoSwitchHaMaster::complete_waiters() {
  // Satisfaction is monotonic in the offset: once the smallest waiting one is not, none above is.
  while (!waiters_.empty() && satisfied(waiters_.begin()->first)) {
    auto fn = std::move(waiters_.begin()->second.done);
    waiters_.erase(waiters_.begin());
    fn(true);
  }
}

int64_t AutoSwitchHaMaster::confirm_offset() const {
  if (!opt_.all_ack_in_sync_state_set || sss_.members.size() <= 1) return store_.max_phy_offset();
  return confirm_offset_;
}

void AutoSwitchHaMaster::refresh_confirm_offset() {
  const int64_t end = store_.max_phy_offset();
  if (!opt_.all_ack_in_sync_state_set || sss_.members.size() <= 1) {
    confirm_offset_ = end;
    return;
  }
  int64_t lowest = end;
  for (int64_t id : ack_set()) {
    if (id == self_id_) continue;
    int64_t ack = ack_of(id);
    if (ack < 0) return;  // a member without a reporting connection: frozen (#6662)
    if (ack > 0) lowest = std::min(lowest, ack);
  }
  confirm_offset_ = lowest;
}

void AutoSwitchHaMaster::maybe_expand(const Slave& s) {
  if (s.async_learner || s.slave_id < 0 || sss_.members.count(s.slave_id) || proposed_) return;
  const int64_t need = opt_.all_ack_in_sync_state_set ? confirm_offset() : store_.max_phy_offset();
  if (s.acked_offset < need) return;
  if (auto last = epochs_.last_entry(); last && s.acked_offset < last->start_offset) return;
  std::set<int64_t> next = sss_.members;
  next.insert(s.slave_id);
  log_.info("slave " + std::to_string(s.slave_id) + " caught up (ack " + std::to_string(s.acked_offset) +
            "): proposing SyncStateSet " + ids_text(next));
  propose(std::move(next));
}

void AutoSwitchHaMaster::check_shrink(bool closed_now) {
  if (proposed_) {
    // One proposal at a time; a member's closed connection is dealt with once this one is answered.
    if (closed_now) shrink_after_proposal_ = true;
    return;
  }
  const int64_t now = clock_.monotonic_ms();
  std::set<int64_t> connected;
  for (const auto& [id, s] : slaves_)
    if (s.slave_id >= 0) connected.insert(s.slave_id);
  std::set<int64_t> next;
  for (int64_t id : sss_.members) {
    if (id == self_id_) {
      next.insert(id);
      continue;
    }
    auto it = caught_up_ms_.find(id);
    bool keep = it != caught_up_ms_.end() && now - it->second <= opt_.max_time_slave_not_catchup_ms &&
                connected.count(id) > 0;
    if (keep) next.insert(id);
  }
  if (next == sss_.members) return;
  log_.info(std::string(closed_now ? "a slave's connection closed" : "slaves fell behind") +
            ": proposing SyncStateSet " + ids_text(next) + " (was " + ids_text(sss_.members) + ")");
  propose(std::move(next));
}

void AutoSwitchHaMaster::propose(std::set<int64_t> proposed) {
  if (!cb_.alter_sync_state_set) return;
  proposed_ = proposed;
  std::weak_ptr<bool> alive = alive_;
  cb_.alter_sync_state_set(std::move(proposed), [this, alive](std::optional<SyncStateSet> confirmed) {
    if (alive.expired()) return;
    proposed_.reset();
    if (confirmed) set_sync_state_set(*confirmed);
    if (shrink_after_proposal_) {
      shrink_after_proposal_ = false;
      check_shrink(true);
    }
    complete_waiters();
  });
}

void AutoSwitchHaMaster::set_sync_state_set(const SyncStateSet& sss) {
  if (sss.epoch < sss_.epoch) return;
  // Until now the master alone confirmed: everything it has is confirmed, and a freeze starts there.
  if (sss_.members.size() <= 1 || !opt_.all_ack_in_sync_state_set) confirm_offset_ = store_.max_phy_offset();
  sss_ = sss;
  sss_.members.insert(self_id_);
  refresh_confirm_offset();
  log_.info("SyncStateSet " + ids_text(sss_.members) + " epoch " + std::to_string(sss_.epoch));
  complete_waiters();
}

void AutoSwitchHaMaster::tick() {
  const int64_t now = clock_.monotonic_ms();
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if (it->second.deadline_ms > now) {
      ++it;
      continue;
    }
    auto fn = std::move(it->second.done);
    it = waiters_.erase(it);
    fn(false);
  }
  std::vector<std::shared_ptr<TcpConnection>> silent;
  for (auto& [id, s] : slaves_) {
    auto conn = s.conn.lock();
    if (!conn) continue;
    if (now - s.last_read_ms > opt_.housekeeping_interval_ms) {
      silent.push_back(conn);
      continue;
    }
    push(s);
    if (s.next_transfer_offset >= 0 && now - s.last_write_ms >= opt_.heartbeat_interval_ms) send_heartbeat(s, conn);
  }
  for (auto& c : silent) c->close("slave silent for more than " + std::to_string(opt_.housekeeping_interval_ms) + " ms");
  if (now - last_shrink_check_ms_ >= opt_.check_sync_state_set_period_ms) {
    last_shrink_check_ms_ = now;
    check_shrink(false);
    // A slave that caught up while a change was in flight is proposed now.
    for (auto& [id, s] : slaves_)
      if (s.next_transfer_offset >= 0) maybe_expand(s);
  }
}

nlohmann::json AutoSwitchHaMaster::status() const {
  nlohmann::json slaves = nlohmann::json::array();
  for (const auto& [id, s] : slaves_) {
    auto it = caught_up_ms_.find(s.slave_id);
    slaves.push_back({{"address", s.address},
                      {"brokerId", s.slave_id},
                      {"ackOffset", s.acked_offset},
                      {"transferredOffset", s.next_transfer_offset},
                      {"inSync", sss_.members.count(s.slave_id) > 0},
                      {"asyncLearner", s.async_learner},
                      {"caughtUpAgoMs", it == caught_up_ms_.end() ? -1 : clock_.monotonic_ms() - it->second}});
  }
  return {{"haPort", listener_.port()},
          {"syncStateSet", std::vector<int64_t>(sss_.members.begin(), sss_.members.end())},
          {"syncStateSetEpoch", sss_.epoch},
          {"proposing", proposed_.has_value()},
          {"confirmOffset", confirm_offset()},
          {"slaves", slaves},
          {"waitingPuts", waiters_.size()}};
}

// ---------------------------------------------------------------- slave

AutoSwitchHaClient::AutoSwitchHaClient(EventLoop& loop, store::MessageStore& store, store::EpochFile& epochs,
                                       AutoSwitchHaOptions options, const Clock& clock, Logger log, int64_t self_id,
                                       Callbacks callbacks)
    : loop_(loop),
      store_(store),
      epochs_(epochs),
      opt_(options),
      clock_(clock),
      log_(std::move(log)),
      self_id_(self_id),
      cb_(std::move(callbacks)),
      timer_(loop) {}

AutoSwitchHaClient::~AutoSwitchHaClient() {
  stop();
  *alive_ = false;
}

void AutoSwitchHaClient::start() {
  stopped_ = false;
  timer_.start(kTickMs, kTickMs, [this] { tick(); });
  tick();
}

void AutoSwitchHaClient::stop() {
  stopped_ = true;
  timer_.stop();
  drop("slave stopping");
}

void AutoSwitchHaClient::set_master(const std::string& ha_addr) {
  if (ha_addr.empty() || ha_addr == master_addr_) return;
  log_.info("master HA address " + (master_addr_.empty() ? std::string("set to ") : "changed from " + master_addr_ + " to ") +
            ha_addr);
  master_addr_ = ha_addr;
  drop("master address changed");
  last_connect_attempt_ms_ = -1'000'000;
  if (!stopped_) tick();
}

void AutoSwitchHaClient::drop(const std::string& why) {
  ++connect_generation_;
  connecting_ = false;
  transferring_ = false;
  if (connect_attempt_) {
    connect_attempt_->cancel();
    connect_attempt_.reset();
  }
  if (conn_) {
    auto c = std::move(conn_);
    conn_.reset();
    c->close(why);
  }
  reader_.reset();
}

void AutoSwitchHaClient::tick() {
  if (stopped_) return;
  const int64_t now = clock_.monotonic_ms();
  if (!conn_) {
    if (connecting_ && now - last_connect_attempt_ms_ > kConnectTimeoutMs) {
      std::string why = "cannot connect to master " + master_addr_ + " within " + std::to_string(kConnectTimeoutMs) + " ms";
      if (why != last_error_) log_.warn(why);
      last_error_ = why;
      drop("connect timeout");
    }
    if (!connecting_ && !master_addr_.empty() && now - last_connect_attempt_ms_ >= opt_.reconnect_interval_ms) connect();
    return;
  }
  if (now - last_read_ms_ > opt_.housekeeping_interval_ms) {
    log_.warn("master " + master_addr_ + " silent for more than " + std::to_string(opt_.housekeeping_interval_ms) +
              " ms; reconnecting");
    drop("master silent");
    return;
  }
  if (transferring_ && now - last_report_ms_ >= opt_.heartbeat_interval_ms) report();
}

void AutoSwitchHaClient::connect() {
  std::string host;
  int port = 0;
  last_connect_attempt_ms_ = clock_.monotonic_ms();
  if (!split_host_port(master_addr_, host, port)) {
    last_error_ = "bad master HA address " + master_addr_;
    return;
  }
  // A record cut short at the tail (the last batch ended inside it) is dropped first: the master
  // resends it whole, and the handshake compares logs that end at a record boundary.
  if (store_.max_phy_offset() > store_.dispatched_offset() && store_.dispatched_offset() >= store_.min_phy_offset()) {
    auto cut = cb_.truncate ? cb_.truncate(store_.dispatched_offset()) : store_.truncate_commit_log(store_.dispatched_offset());
    if (!cut.ok()) {
      last_error_ = "cannot cut the partial record at the log's end: " + cut.detail();
      log_.error(last_error_);
      return;
    }
    (void)epochs_.truncate_suffix_from(store_.max_phy_offset());
  }
  connecting_ = true;
  uint64_t gen = ++connect_generation_;
  std::weak_ptr<bool> alive = alive_;
  connect_attempt_ = tcp_connect(loop_, host, port, [this, alive, gen](Result<std::shared_ptr<TcpConnection>, NetError> r) {
    if (alive.expired()) {
      if (r.ok()) (*r)->close("slave gone");
      return;
    }
    if (gen != connect_generation_ || stopped_) {
      if (r.ok()) (*r)->close("stale connect");
      return;
    }
    connecting_ = false;
    connect_attempt_.reset();
    if (!r.ok()) {
      std::string why = "cannot connect to master " + master_addr_;
      if (why != last_error_) log_.warn(why);
      last_error_ = why;
      return;
    }
    conn_ = *r;
    reader_ = std::make_unique<as::SlaveSideReader>(std::max(opt_.transfer_batch_bytes, as::kDefaultMaxTransferBodyBytes));
    last_read_ms_ = clock_.monotonic_ms();
    last_reported_ = -1;
    transferring_ = false;
    conn_->start({[this, alive, gen](std::string_view data) {
                    if (!alive.expired() && gen == connect_generation_) on_data(data);
                  },
                  [this, alive, gen](const std::string& why) {
                    if (alive.expired() || gen != connect_generation_) return;
                    log_.warn("connection to master " + master_addr_ + " closed: " + why);
                    conn_.reset();
                    reader_.reset();
                    transferring_ = false;
                  }});
    conn_->write(as::encode_slave_handshake({opt_.sync_from_last_file, opt_.async_learner, self_id_}));
    log_.info("connected to master " + master_addr_ + "; handshake sent (broker id " + std::to_string(self_id_) + ")");
  });
}

bool AutoSwitchHaClient::on_handshake_reply(const as::HandshakeReply& reply) {
  int64_t point = 0;
  const int64_t local_max = store_.max_phy_offset();
  if (!epochs_.empty()) {
    point = store::EpochFile::find_consistent_point(reply.entries, reply.master_max_offset, epochs_.entries(local_max),
                                                    local_max);
    if (point < 0) {
      last_error_ = "no epoch in common with master " + master_addr_ + " (its last epoch " +
                    std::to_string(reply.master_last_epoch) + ", ours " + std::to_string(epochs_.last_epoch()) +
                    "): cannot find where the logs agree";
      log_.error(last_error_);
      return false;
    }
    if (point < local_max) {
      auto cut = cb_.truncate ? cb_.truncate(point) : store_.truncate_commit_log(point);
      if (!cut.ok()) {
        last_error_ = "cannot truncate the commit log to " + std::to_string(point) + ": " + cut.detail();
        log_.error(last_error_);
        return false;
      }
      ++truncations_;
      log_.warn("commit log truncated from " + std::to_string(local_max) + " to " + std::to_string(point) +
                " (the consistent point with master " + master_addr_ + ")");
    }
    auto t = epochs_.truncate_suffix_from(point);
    if (!t.ok()) log_.warn("epoch file: " + t.detail());
  }
  transferring_ = true;
  last_error_.clear();
  // The first report fixes where the master starts sending, so it is the log end, whatever the
  // acknowledgements follow (the flushed offset with SYNC_FLUSH): anything less and the master
  // would send bytes this log already has, at an offset it does not end at.
  report(store_.max_phy_offset());
  return true;
}

bool AutoSwitchHaClient::on_transfer(as::TransferFrame& frame) {
  const int64_t end = store_.max_phy_offset();
  if (end != 0 && frame.offset != end) {
    last_error_ = "master " + master_addr_ + " sent offset " + std::to_string(frame.offset) + " but this log ends at " +
                  std::to_string(end);
    log_.warn(last_error_ + "; reconnecting");
    return false;
  }
  if (frame.epoch > epochs_.last_epoch()) {
    auto a = epochs_.append(frame.epoch, frame.epoch_start_offset);
    if (!a.ok()) {
      last_error_ = "epoch file: " + a.detail();
      log_.error(last_error_);
      return false;
    }
  }
  if (!frame.body.empty()) {
    auto r = store_.append_replicated(frame.offset, frame.body, clock_.now_ms());
    if (!r.ok()) {
      last_error_ = "cannot append replicated data at " + std::to_string(frame.offset) + ": " + r.detail();
      log_.error(last_error_);
      return false;
    }
    applied_bytes_ += static_cast<int64_t>(frame.body.size());
  }
  confirm_offset_ = std::min(frame.confirm_offset, store_.max_phy_offset());
  return true;
}

void AutoSwitchHaClient::on_data(std::string_view data) {
  last_read_ms_ = clock_.monotonic_ms();
  reader_->feed(data);
  bool applied = false;
  while (auto frame = reader_->next()) {
    if (auto* reply = std::get_if<as::HandshakeReply>(&*frame)) {
      if (!on_handshake_reply(*reply)) {
        drop("handshake failed");
        return;
      }
    } else if (auto* t = std::get_if<as::TransferFrame>(&*frame)) {
      if (!transferring_) {
        drop("transfer before the handshake reply");
        return;
      }
      bool had_body = !t->body.empty();
      if (!on_transfer(*t)) {
        drop("transfer refused");
        return;
      }
      applied = applied || had_body;
    }
  }
  if (reader_ && !reader_->error().empty()) {
    last_error_ = reader_->error();
    log_.error("protocol error from master " + master_addr_ + ": " + last_error_);
    drop("protocol error");
    return;
  }
  if (applied) {
    if (cb_.on_applied) cb_.on_applied(store_.max_phy_offset());
    report_if_moved();
  }
}

void AutoSwitchHaClient::report(std::optional<int64_t> offset) {
  if (!conn_ || !transferring_) return;
  int64_t ack = offset ? *offset : cb_.ack_offset ? cb_.ack_offset() : store_.max_phy_offset();
  conn_->write(as::encode_slave_report(ack));
  last_reported_ = ack;
  last_report_ms_ = clock_.monotonic_ms();
}

void AutoSwitchHaClient::report_if_moved() {
  if (!conn_ || !transferring_) return;
  int64_t ack = cb_.ack_offset ? cb_.ack_offset() : store_.max_phy_offset();
  if (ack != last_reported_) report();
}

nlohmann::json AutoSwitchHaClient::status() const {
  nlohmann::json j{{"masterHaAddress", master_addr_},
                   {"connected", conn_ != nullptr},
                   {"transferring", transferring_},
                   {"commitLogMaxOffset", store_.max_phy_offset()},
                   {"lastReportedOffset", last_reported_},
                   {"confirmOffset", confirm_offset_},
                   {"replicatedBytes", applied_bytes_},
                   {"truncations", truncations_},
                   {"lastEpoch", epochs_.last_epoch()}};
  if (!last_error_.empty()) j["lastError"] = last_error_;
  return j;
}

}  // namespace mq
