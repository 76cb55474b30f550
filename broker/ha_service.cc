#include "broker/ha_service.h"

#include <algorithm>

namespace mq {

namespace {
constexpr uint64_t kTickMs = 100;
}

// ---------------------------------------------------------------- master

HaMaster::HaMaster(EventLoop& loop, store::MessageStore& store, HaOptions options, const Clock& clock, Logger log)
    : loop_(loop), store_(store), options_(options), clock_(clock), log_(std::move(log)), listener_(loop), timer_(loop) {}

HaMaster::~HaMaster() {
  stop();
  *alive_ = false;
}

Result<int, std::string> HaMaster::start(const std::string& host, int port) {
  auto bound = listener_.listen(host, port, [this](std::shared_ptr<TcpConnection> c) { on_connection(std::move(c)); });
  if (!bound.ok()) return make_error(std::string(), "cannot listen on HA port " + std::to_string(port) + ": " + bound.detail());
  timer_.start(kTickMs, kTickMs, [this] { tick(); });
  log_.info("HA service listening on " + std::to_string(*bound));
  return *bound;
}

void HaMaster::stop() {
  listener_.close();
  timer_.stop();
  for (auto& [id, s] : slaves_)
    if (auto c = s.conn.lock()) c->close("master stopping");
  slaves_.clear();
  auto waiters = std::move(waiters_);
  waiters_.clear();
  for (auto& [offset, w] : waiters) w.done(false);
}

void HaMaster::on_connection(std::shared_ptr<TcpConnection> conn) {
  uint64_t id = conn->id();
  Slave& s = slaves_[id];
  s.conn = conn;
  s.address = conn->peer_address();
  s.last_read_ms = s.last_write_ms = clock_.monotonic_ms();
  log_.info("slave connected from " + s.address);
  std::weak_ptr<bool> alive = alive_;
  conn->start({[this, alive, id](std::string_view data) {
                 if (alive.expired()) return;
                 auto it = slaves_.find(id);
                 if (it == slaves_.end()) return;
                 it->second.last_read_ms = clock_.monotonic_ms();
                 if (auto offset = it->second.reports.feed(data)) on_report(it->second, *offset);
               },
               [this, alive, id](const std::string& why) {
                 if (alive.expired()) return;
                 auto it = slaves_.find(id);
                 if (it == slaves_.end()) return;
                 log_.info("slave " + it->second.address + " disconnected: " + why);
                 slaves_.erase(it);
               }});
}

void HaMaster::on_report(Slave& s, int64_t offset) {
  int64_t end = store_.max_phy_offset();
  if (s.next_transfer_offset < 0) {
    if (offset > end) {
      s.diverged = true;
      log_.error("slave " + s.address + " reports commit log offset " + std::to_string(offset) +
                 ", beyond this master's end " + std::to_string(end) + ": its log diverged; sending it no data");
      s.next_transfer_offset = end;
      // Tell it now where this log ends, so it sees the mismatch and stops.
      if (auto conn = s.conn.lock()) {
        std::string hb;
        ha::append_transfer_header(hb, end, 0);
        conn->write(hb);
        s.last_write_ms = clock_.monotonic_ms();
      }
    } else if (offset == 0) {
      // An empty slave starts at the newest segment, as RocketMQ does.
      int64_t seg = std::max<int64_t>(options_.mapped_file_size_commit_log, 1);
      s.next_transfer_offset = std::max(end - end % seg, store_.min_phy_offset());
    } else {
      s.next_transfer_offset = offset;
    }
    s.acked_offset = std::min(offset, end);
    s.start_offset = s.next_transfer_offset;
    log_.info("slave " + s.address + " starts at commit log offset " + std::to_string(s.next_transfer_offset));
  } else if (!s.diverged && offset > s.acked_offset) {
    s.acked_offset = std::min(offset, s.next_transfer_offset);
  }
  if (!s.diverged && s.acked_offset > push_to_slave_max_offset_) {
    push_to_slave_max_offset_ = s.acked_offset;
    complete_waiters();
  }
  push(s);
}

void HaMaster::push(Slave& s) {
  auto conn = s.conn.lock();
  if (!conn || !conn->is_open() || s.next_transfer_offset < 0 || s.diverged) return;
  while (s.next_transfer_offset < store_.max_phy_offset() &&
         s.next_transfer_offset - std::max(s.acked_offset, s.start_offset) < options_.window_bytes) {
    auto data = store_.read_commit_log(s.next_transfer_offset, static_cast<size_t>(options_.transfer_batch_bytes));
    if (!data.ok() || data->empty()) {
      std::string why = data.ok() ? "no data" : data.detail();
      log_.error("cannot read commit log at " + std::to_string(s.next_transfer_offset) + " for slave " + s.address +
                 " (" + why + "; the master keeps " + std::to_string(store_.min_phy_offset()) + ".." +
                 std::to_string(store_.max_phy_offset()) + "); closing the connection");
      conn->close("commit log unreadable at the slave's offset");
      return;
    }
    std::string frame;
    frame.reserve(ha::kTransferHeaderSize + data->size());
    ha::append_transfer_header(frame, s.next_transfer_offset, static_cast<int32_t>(data->size()));
    frame += *data;
    conn->write(frame);
    s.next_transfer_offset += static_cast<int64_t>(data->size());
    s.last_write_ms = clock_.monotonic_ms();
  }
}

void HaMaster::notify_new_data() {
  // Puts arrive in bursts (one per request of a read batch): push once after the burst, so a slave
  // gets one frame and sends one acknowledgement per burst instead of one per put.
  if (push_posted_ || slaves_.empty()) return;
  push_posted_ = true;
  std::weak_ptr<bool> alive = alive_;
  loop_.post([this, alive] {
    if (alive.expired()) return;
    push_posted_ = false;
    for (auto& [id, s] : slaves_) push(s);
  });
}

bool HaMaster::slave_ok(int64_t master_put_offset) const {
  int64_t best = -1;
  for (const auto& [id, s] : slaves_)
    if (!s.diverged && s.next_transfer_offset >= 0) best = std::max(best, s.acked_offset);
  return best >= 0 && master_put_offset - best < options_.max_gap_not_in_sync_bytes;
}

void HaMaster::wait_for_slave(int64_t end_offset, int64_t deadline_ms, std::function<void(bool)> done) {
  if (end_offset <= push_to_slave_max_offset_) return done(true);
  waiters_.emplace(end_offset, Waiter{deadline_ms, std::move(done)});
}

void HaMaster::complete_waiters() {
  while (!waiters_.empty() && waiters_.begin()->first <= push_to_slave_max_offset_) {
    auto fn = std::move(waiters_.begin()->second.done);
    waiters_.erase(waiters_.begin());
    fn(true);
  }
}

void HaMaster::tick() {
  int64_t now = clock_.monotonic_ms();
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
    if (now - s.last_read_ms > options_.housekeeping_interval_ms) {
      silent.push_back(conn);
      continue;
    }
    push(s);
    if (s.next_transfer_offset >= 0 && now - s.last_write_ms >= options_.heartbeat_interval_ms) {
      std::string hb;
      ha::append_transfer_header(hb, s.next_transfer_offset, 0);
      conn->write(hb);
      s.last_write_ms = now;
    }
  }
  for (auto& c : silent) c->close("slave silent for more than " + std::to_string(options_.housekeeping_interval_ms) + " ms");
}

nlohmann::json HaMaster::status() const {
  nlohmann::json slaves = nlohmann::json::array();
  for (const auto& [id, s] : slaves_)
    slaves.push_back({{"address", s.address},
                      {"ackOffset", s.acked_offset},
                      {"transferredOffset", s.next_transfer_offset},
                      {"diverged", s.diverged}});
  return {{"haPort", listener_.port()}, {"pushToSlaveMaxOffset", push_to_slave_max_offset_},
          {"slaves", slaves}, {"waitingPuts", waiters_.size()}};
}

// ---------------------------------------------------------------- slave

HaSlave::HaSlave(EventLoop& loop, store::MessageStore& store, HaOptions options, const Clock& clock, Logger log,
                 Callbacks callbacks)
    : loop_(loop), store_(store), options_(options), clock_(clock), log_(std::move(log)),
      callbacks_(std::move(callbacks)), timer_(loop) {}

HaSlave::~HaSlave() {
  stop();
  *alive_ = false;
}

void HaSlave::start() {
  stopped_ = false;
  timer_.start(kTickMs, kTickMs, [this] { tick(); });
}

void HaSlave::stop() {
  stopped_ = true;
  timer_.stop();
  drop("slave stopping");
}

void HaSlave::set_master(const std::string& ha_addr) {
  if (ha_addr.empty() || ha_addr == master_addr_) return;
  log_.info("master HA address " + (master_addr_.empty() ? std::string("set to ") : "changed from " + master_addr_ + " to ") + ha_addr);
  master_addr_ = ha_addr;
  drop("master address changed");
  last_connect_attempt_ms_ = -1'000'000;
}

void HaSlave::drop(const std::string& why) {
  ++connect_generation_;
  connecting_ = false;
  // A connect still in flight (to a blackholed master the kernel retries its SYN for minutes)
  // would hold a socket nobody could close, and keep the loop from closing.
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

void HaSlave::tick() {
  if (stopped_ || !diverged_.empty()) return;
  int64_t now = clock_.monotonic_ms();
  if (!conn_) {
    if (connecting_ && now - last_connect_attempt_ms_ > kConnectTimeoutMs) {
      std::string why = "cannot connect to master " + master_addr_ + " within " + std::to_string(kConnectTimeoutMs) + " ms";
      if (why != last_error_) log_.warn(why);
      last_error_ = why;
      drop("connect timeout");
    }
    if (!connecting_ && !master_addr_.empty() && now - last_connect_attempt_ms_ >= options_.reconnect_interval_ms) connect();
    return;
  }
  if (now - last_read_ms_ > options_.housekeeping_interval_ms) {
    log_.warn("master " + master_addr_ + " silent for more than " + std::to_string(options_.housekeeping_interval_ms) +
              " ms; reconnecting");
    drop("master silent");
    return;
  }
  if (now - last_report_ms_ >= options_.heartbeat_interval_ms) report();
}

void HaSlave::connect() {
  std::string host;
  int port = 0;
  last_connect_attempt_ms_ = clock_.monotonic_ms();
  if (!split_host_port(master_addr_, host, port)) {
    last_error_ = "bad master HA address " + master_addr_;
    return;
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
    reader_ = std::make_unique<ha::TransferReader>(std::max(options_.transfer_batch_bytes, 4 << 20));
    last_read_ms_ = clock_.monotonic_ms();
    last_reported_ = -1;
    last_error_.clear();
    conn_->start({[this, alive, gen](std::string_view data) {
                    if (!alive.expired() && gen == connect_generation_) on_data(data);
                  },
                  [this, alive, gen](const std::string& why) {
                    if (alive.expired() || gen != connect_generation_) return;
                    log_.warn("connection to master " + master_addr_ + " closed: " + why);
                    conn_.reset();
                    reader_.reset();
                  }});
    // The first report says where this slave's log ends; the master continues from there.
    int64_t end = store_.max_phy_offset();
    conn_->write(ha::encode_report(end));
    last_report_ms_ = clock_.monotonic_ms();
    log_.info("connected to master " + master_addr_ + ", replicating from commit log offset " + std::to_string(end));
  });
}

void HaSlave::on_data(std::string_view data) {
  last_read_ms_ = clock_.monotonic_ms();
  reader_->feed(data);
  bool applied = false;
  while (auto frame = reader_->next()) {
    int64_t end = store_.max_phy_offset();
    bool empty_store = end == 0 && store_.min_phy_offset() == 0;
    if (frame->body.empty()) {
      if (frame->offset != end && !empty_store) {
        diverged_ = "the master's log ends at " + std::to_string(frame->offset) + " but this slave's ends at " +
                    std::to_string(end) + ": the logs diverged; replication stopped (restart this slave after "
                    "removing or truncating its store)";
        log_.error(diverged_);
        drop("diverged");
        return;
      }
      continue;
    }
    auto r = store_.append_replicated(frame->offset, frame->body, clock_.now_ms());
    if (!r.ok()) {
      if (frame->offset != end && !empty_store) {
        diverged_ = "the master sent data at commit log offset " + std::to_string(frame->offset) +
                    " but this slave's log ends at " + std::to_string(end) + " (" + r.detail() +
                    "): the logs diverged; replication stopped";
        log_.error(diverged_);
      } else {
        last_error_ = "cannot append replicated data at " + std::to_string(frame->offset) + ": " + r.detail();
        log_.error(last_error_);
      }
      drop("append failed");
      return;
    }
    applied_bytes_ += static_cast<int64_t>(frame->body.size());
    applied = true;
  }
  if (!reader_->error().empty()) {
    last_error_ = reader_->error();
    log_.error("protocol error from master " + master_addr_ + ": " + last_error_);
    drop("protocol error");
    return;
  }
  if (applied) {
    if (callbacks_.on_applied) callbacks_.on_applied(store_.max_phy_offset());
    report_if_moved();
  }
}

void HaSlave::report() {
  if (!conn_) return;
  int64_t ack = callbacks_.ack_offset ? callbacks_.ack_offset() : store_.max_phy_offset();
  conn_->write(ha::encode_report(ack));
  last_reported_ = ack;
  last_report_ms_ = clock_.monotonic_ms();
}

void HaSlave::report_if_moved() {
  if (!conn_) return;
  int64_t ack = callbacks_.ack_offset ? callbacks_.ack_offset() : store_.max_phy_offset();
  if (ack != last_reported_) report();
}

nlohmann::json HaSlave::status() const {
  nlohmann::json j{{"masterHaAddress", master_addr_},
                   {"connected", conn_ != nullptr},
                   {"commitLogMaxOffset", store_.max_phy_offset()},
                   {"lastReportedOffset", last_reported_},
                   {"replicatedBytes", applied_bytes_}};
  if (!diverged_.empty()) j["diverged"] = diverged_;
  if (!last_error_.empty()) j["lastError"] = last_error_;
  return j;
}

}  // namespace mq
