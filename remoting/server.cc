#include "remoting/server.h"

#include <vector>

namespace mq {

RemotingServer::RemotingServer(EventLoop& loop, RemotingServerOptions options, Logger log)
    : loop_(loop), options_(std::move(options)), log_(std::move(log)), listener_(loop), idle_timer_(loop) {}

RemotingServer::~RemotingServer() { stop(); }

Result<int, NetError> RemotingServer::start() {
  auto port = listener_.listen(options_.listen_host, options_.listen_port, [this](std::shared_ptr<TcpConnection> tcp) {
    auto conn = std::make_shared<RemotingConnection>(loop_, std::move(tcp), options_.max_frame_bytes, log_);
    connections_[conn->id()] = conn;
    RemotingConnection::Hooks hooks;
    hooks.dispatcher = &dispatcher_;
    hooks.on_close = [this](RemotingConnection& c, const std::string& why) {
      log_.debug("connection " + c.peer_address() + " closed: " + why);
      if (on_closed_) on_closed_(c);
      connections_.erase(c.id());
    };
    conn->start(std::move(hooks));
  });
  if (!port.ok()) return port;
  if (options_.idle_close_ms > 0) {
    uint64_t every = static_cast<uint64_t>(std::min<int64_t>(options_.idle_close_ms / 4 + 1, 10'000));
    idle_timer_.start(every, every, [this] { scan_idle(); });
  }
  return port;
}

void RemotingServer::stop() {
  listener_.close();
  idle_timer_.stop();
  std::vector<std::shared_ptr<RemotingConnection>> all;
  for (auto& [id, c] : connections_) all.push_back(c);
  for (auto& c : all) c->close("server stopping");
}

void RemotingServer::scan_idle() {
  int64_t now = loop_.now_ms();
  std::vector<std::shared_ptr<RemotingConnection>> idle;
  for (auto& [id, c] : connections_)
    if (now - c->last_active_ms() > options_.idle_close_ms) idle.push_back(c);
  for (auto& c : idle) {
    log_.info("closing idle connection " + c->peer_address());
    c->close("idle for more than " + std::to_string(options_.idle_close_ms) + " ms");
  }
}

void RemotingServer::send_oneway(RemotingConnection& conn, RemotingCommand request) {
  request.flag |= kFlagOneway;
  request.opaque = next_opaque_++;
  conn.send(request);
}

}  // namespace mq
