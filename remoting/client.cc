#include "remoting/client.h"

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
  close_all();
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& [opaque, p] : pending) p.cb(make_error(RpcError::kConnectionClosed, "client shut down"));
}

RemotingClient::Peer& RemotingClient::peer_for(const std::string& addr) {
  Peer& peer = peers_[addr];
  if (peer.conn || peer.connecting) return peer;
  std::string host;
  int port = 0;
  if (!split_host_port(addr, host, port)) return peer;  // caller checks and fails the request
  peer.connecting = true;
  std::weak_ptr<bool> alive = alive_;
  tcp_connect(loop_, host, port, [this, alive, addr](Result<std::shared_ptr<TcpConnection>, NetError> r) {
    if (alive.expired()) {
      if (r.ok()) (*r)->close("client gone");
      return;
    }
    on_connected(addr, std::move(r));
  });
  return peer;
}

void RemotingClient::on_connected(const std::string& addr, Result<std::shared_ptr<TcpConnection>, NetError> r) {
  auto it = peers_.find(addr);
  if (it == peers_.end()) {
    if (r.ok()) (*r)->close("peer no longer wanted");
    return;
  }
  if (!r.ok()) {
    fail_peer(addr, RpcError::kConnectFailed, r.detail());
    return;
  }
  Peer& peer = it->second;
  peer.connecting = false;
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

void RemotingClient::fail_peer(const std::string& addr, RpcError err, const std::string& why) {
  auto it = peers_.find(addr);
  if (it == peers_.end()) return;
  Peer peer = std::move(it->second);
  peers_.erase(it);
  if (peer.conn) peer.conn->close(why);
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
    loop_.post([cb = std::move(cb), addr] { cb(make_error(RpcError::kBadAddress, "bad address '" + addr + "'")); });
    return;
  }
  int32_t opaque = next_opaque_++;
  if (next_opaque_ == INT32_MAX) next_opaque_ = 1;
  request.opaque = opaque;
  request.flag &= ~(kFlagResponse | kFlagOneway);
  pending_[opaque] = Pending{loop_.fresh_now_ms() + timeout_ms, addr, std::move(cb)};
  if (!timer_running_) {
    timer_running_ = true;
    timeout_timer_.start(10, 10, [this] { scan_timeouts(); });
  }
  send_command(addr, std::move(request));
}

void RemotingClient::invoke_oneway(const std::string& addr, RemotingCommand request) {
  std::string host;
  int port = 0;
  if (!split_host_port(addr, host, port)) return;
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
  if (pending_.empty()) {
    timer_running_ = false;
    timeout_timer_.stop();
    return;
  }
  int64_t now = loop_.now_ms();
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
