#include "remoting/client.h"

#include <algorithm>
#include <optional>

namespace mq {

const char* rpc_error_name(RpcError e) {
  switch (e) {
    case RpcError::kTimeout: return "timeout";
    case RpcError::kConnectFailed: return "connect failed";
    case RpcError::kConnectionClosed: return "connection closed";
    case RpcError::kBadAddress: return "bad address";
  }
  return "?";
}

RemotingClient::RemotingClient(EventLoop& loop, RemotingClientOptions options, Logger log)
    : loop_(loop), options_(options), log_(std::move(log)), timeout_timer_(loop) {}

RemotingClient::~RemotingClient() {
  *alive_ = false;
  destroying_ = true;
  close_all();
  // A callback may send again (the next NameServer of a list): nothing connects any more, and
  // the request fails here too.
  while (!pending_.empty()) {
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto& [opaque, p] : pending) p.cb(make_error(RpcError::kConnectionClosed, "client shut down"));
  }
  for (auto& [addr, peer] : peers_) {
    if (peer.conn) peer.conn->close("client shut down");
    if (peer.attempt) peer.attempt->cancel();
  }
}

RemotingClientStats RemotingClient::stats() const {
  return RemotingClientStats{connect_attempts_.load(std::memory_order_relaxed),
                             connect_failures_.load(std::memory_order_relaxed),
                             backoff_failures_.load(std::memory_order_relaxed)};
}

RemotingClient::Peer& RemotingClient::peer_for(const std::string& addr) {
  Peer& peer = peers_[addr];
  if (peer.conn || peer.connecting || destroying_) return peer;
  std::string host;
  int port = 0;
  if (!split_host_port(addr, host, port)) return peer;  // caller checks and fails the request
  peer.connecting = true;
  peer.connect_id = next_connect_id_++;
  peer.connect_deadline_ms = loop_.fresh_now_ms() + options_.connect_timeout_ms;
  connect_attempts_.fetch_add(1, std::memory_order_relaxed);
  std::weak_ptr<bool> alive = alive_;
  uint64_t id = peer.connect_id;
  // tcp_connect never calls back inside itself, so `peer` stays valid until it returns.
  peer.attempt = tcp_connect(loop_, host, port, [this, alive, addr, id](Result<std::shared_ptr<TcpConnection>, NetError> r) {
    if (alive.expired()) {
      if (r.ok()) (*r)->close("client gone");
      return;
    }
    on_connected(addr, id, std::move(r));
  });
  ensure_timer();
  return peer;
}

void RemotingClient::on_connected(const std::string& addr, uint64_t connect_id,
                                  Result<std::shared_ptr<TcpConnection>, NetError> r) {
  auto it = peers_.find(addr);
  if (it == peers_.end() || !it->second.connecting || it->second.connect_id != connect_id) {
    // A connect given up (timeout, close) whose callback came anyway.
    if (r.ok()) (*r)->close("peer no longer wanted");
    return;
  }
  if (!r.ok()) {
    note_connect_failure(addr, r.detail());
    fail_peer(addr, RpcError::kConnectFailed, r.detail());
    return;
  }
  backoff_.erase(addr);
  Peer& peer = it->second;
  peer.connecting = false;
  peer.attempt.reset();
  peer.conn = std::make_shared<RemotingConnection>(loop_, std::move(*r), options_.max_frame_bytes, log_);
  RemotingConnection::Hooks hooks;
  hooks.dispatcher = &dispatcher_;
  hooks.on_response = [this](RemotingCommand&& resp) { on_response(std::move(resp)); };
  std::weak_ptr<bool> alive = alive_;
  uint64_t conn_id = peer.conn->id();
  hooks.on_close = [this, alive, addr, conn_id](RemotingConnection&, const std::string& why) {
    if (alive.expired()) return;
    auto pit = peers_.find(addr);
    if (pit == peers_.end() || !pit->second.conn || pit->second.conn->id() != conn_id) return;
    fail_peer(addr, RpcError::kConnectionClosed, why);
  };
  peer.conn->start(std::move(hooks));
  auto queued = std::move(peer.queued);
  peer.queued.clear();
  for (auto& cmd : queued) peer.conn->send(cmd);
}

void RemotingClient::note_connect_failure(const std::string& addr, const std::string& why) {
  connect_failures_.fetch_add(1, std::memory_order_relaxed);
  Backoff& b = backoff_[addr];
  b.delay_ms = b.delay_ms == 0 ? options_.reconnect_backoff_initial_ms
                               : std::min(b.delay_ms * 2, options_.reconnect_backoff_max_ms);
  b.next_attempt_ms = loop_.fresh_now_ms() + b.delay_ms;
  b.last_error = why;
  log_.debug("connect to " + addr + " failed (" + why + "); next attempt in " + std::to_string(b.delay_ms) + " ms");
}

std::string RemotingClient::backing_off(const std::string& addr) {
  auto b = backoff_.find(addr);
  if (b == backoff_.end()) return {};
  auto p = peers_.find(addr);
  if (p != peers_.end() && (p->second.conn || p->second.connecting)) return {};
  int64_t wait = b->second.next_attempt_ms - loop_.fresh_now_ms();
  if (wait <= 0) return {};
  return "connect to " + addr + " failed (" + b->second.last_error + "); not retried for another " +
         std::to_string(wait) + " ms";
}

void RemotingClient::fail_soon(const std::string& addr, ResponseCallback cb, RpcError err, std::string why) {
  // Held as pending, so the destructor fails it if the client goes first; the posted completion
  // then finds nothing.
  int32_t opaque = next_opaque_++;
  if (next_opaque_ == INT32_MAX) next_opaque_ = 1;
  pending_[opaque] = Pending{INT64_MAX, addr, std::move(cb)};
  std::weak_ptr<bool> alive = alive_;
  loop_.post([this, alive, opaque, err, why = std::move(why)] {
    if (alive.expired()) return;
    complete(opaque, make_error(err, why));
  });
}

void RemotingClient::ensure_timer() {
  if (timer_running_) return;
  timer_running_ = true;
  timeout_timer_.start(10, 10, [this] { scan_timeouts(); });
}

void RemotingClient::fail_peer(const std::string& addr, RpcError err, const std::string& why) {
  auto it = peers_.find(addr);
  if (it == peers_.end()) return;
  Peer peer = std::move(it->second);
  peers_.erase(it);
  if (peer.conn) peer.conn->close(why);
  // A connect in progress owns a live socket: close it (its callback then finds no peer).
  if (peer.attempt) peer.attempt->cancel();
  std::vector<int32_t> doomed;
  for (auto& [opaque, p] : pending_)
    if (p.addr == addr) doomed.push_back(opaque);
  for (int32_t opaque : doomed)
    complete(opaque, make_error(err, std::string(rpc_error_name(err)) + " (" + addr + "): " + why));
}

void RemotingClient::send_command(const std::string& addr, RemotingCommand cmd) {
  Peer& peer = peer_for(addr);
  if (peer.conn) {
    peer.conn->send(cmd);
  } else if (peer.connecting) {
    peer.queued.push_back(std::move(cmd));
  }
}

bool RemotingClient::idle_towards(const std::string& addr) const {
  auto it = peers_.find(addr);
  if (it == peers_.end()) return true;
  return it->second.conn && it->second.conn->pending_write_bytes() == 0;
}

void RemotingClient::invoke(const std::string& addr, RemotingCommand request, int64_t timeout_ms,
                            ResponseCallback cb) {
  std::string host;
  int port = 0;
  if (!split_host_port(addr, host, port)) {
    fail_soon(addr, std::move(cb), RpcError::kBadAddress, "bad address '" + addr + "'");
    return;
  }
  if (std::string why = backing_off(addr); !why.empty()) {
    backoff_failures_.fetch_add(1, std::memory_order_relaxed);
    fail_soon(addr, std::move(cb), RpcError::kConnectFailed, std::string(rpc_error_name(RpcError::kConnectFailed)) + " (" + addr + "): " + why);
    return;
  }
  int32_t opaque = next_opaque_++;
  if (next_opaque_ == INT32_MAX) next_opaque_ = 1;
  request.opaque = opaque;
  request.flag &= ~(kFlagResponse | kFlagOneway);
  pending_[opaque] = Pending{loop_.fresh_now_ms() + timeout_ms, addr, std::move(cb)};
  ensure_timer();
  send_command(addr, std::move(request));
}

void RemotingClient::invoke_oneway(const std::string& addr, RemotingCommand request) {
  std::string host;
  int port = 0;
  if (!split_host_port(addr, host, port)) return;
  if (!backing_off(addr).empty()) {
    backoff_failures_.fetch_add(1, std::memory_order_relaxed);
    return;  // oneway: nobody to tell
  }
  int32_t opaque = next_opaque_++;
  if (next_opaque_ == INT32_MAX) next_opaque_ = 1;
  request.opaque = opaque;
  request.flag = (request.flag & ~kFlagResponse) | kFlagOneway;
  send_command(addr, std::move(request));
}

void RemotingClient::on_response(RemotingCommand&& resp) {
  auto it = pending_.find(resp.opaque);
  if (it == pending_.end()) {
    log_.debug("response with unknown opaque " + std::to_string(resp.opaque) + " dropped");
    return;
  }
  complete(resp.opaque, std::move(resp));
}

void RemotingClient::complete(int32_t opaque, Result<RemotingCommand, RpcError> r) {
  auto it = pending_.find(opaque);
  if (it == pending_.end()) return;
  ResponseCallback cb = std::move(it->second.cb);
  pending_.erase(it);
  // The timeout timer keeps running while requests come and go; scan_timeouts stops it after a
  // tick with nothing pending. A synchronous sender otherwise starts and stops it per request.
  cb(std::move(r));
}

void RemotingClient::scan_timeouts() {
  int64_t now = loop_.now_ms();
  std::vector<std::string> stuck;
  bool connecting = false;
  for (auto& [addr, peer] : peers_) {
    if (!peer.connecting) continue;
    connecting = true;
    if (peer.connect_deadline_ms <= now) stuck.push_back(addr);
  }
  for (auto& addr : stuck) {
    std::string why = "connect timed out after " + std::to_string(options_.connect_timeout_ms) + " ms";
    note_connect_failure(addr, why);
    fail_peer(addr, RpcError::kConnectFailed, why);
  }
  if (pending_.empty() && !connecting) {
    timer_running_ = false;
    timeout_timer_.stop();
    return;
  }
  std::vector<int32_t> expired;
  for (auto& [opaque, p] : pending_)
    if (p.deadline_ms <= now) expired.push_back(opaque);
  for (int32_t opaque : expired) {
    auto it = pending_.find(opaque);
    if (it == pending_.end()) continue;
    std::string addr = it->second.addr;
    complete(opaque, make_error(RpcError::kTimeout, "no response from " + addr + " in time"));
  }
}

void RemotingClient::close(const std::string& addr) { fail_peer(addr, RpcError::kConnectionClosed, "closed by caller"); }

void RemotingClient::close_all() {
  std::vector<std::string> addrs;
  for (auto& [a, p] : peers_) addrs.push_back(a);
  for (auto& a : addrs) close(a);
}

std::vector<std::string> split_addr_list(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(';', start);
    if (end == std::string::npos) end = list.size();
    std::string a = list.substr(start, end - start);
    while (!a.empty() && a.front() == ' ') a.erase(a.begin());
    while (!a.empty() && a.back() == ' ') a.pop_back();
    if (!a.empty()) out.push_back(a);
    start = end + 1;
  }
  return out;
}

BlockingClient::BlockingClient(Logger log)
    : client_(std::make_unique<RemotingClient>(loop_, RemotingClientOptions{}, std::move(log))) {}

BlockingClient::~BlockingClient() {
  client_.reset();
  loop_.close_and_drain();
}

Result<RemotingCommand, RpcError> BlockingClient::invoke(const std::string& addr, RemotingCommand request,
                                                         int64_t timeout_ms) {
  std::optional<Result<RemotingCommand, RpcError>> out;
  client_->invoke(addr, std::move(request), timeout_ms, [&out](Result<RemotingCommand, RpcError> r) { out.emplace(std::move(r)); });
  loop_.run_until([&out] { return out.has_value(); });
  if (!out) return make_error(RpcError::kTimeout, "loop stopped before a response");
  return std::move(*out);
}

void BlockingClient::invoke_oneway(const std::string& addr, RemotingCommand request) {
  client_->invoke_oneway(addr, std::move(request));
  // Wait until the frame has left (or the connection failed), so the caller may exit at once.
  loop_.run_until([this, &addr] { return client_->idle_towards(addr); });
}

}  // namespace mq
