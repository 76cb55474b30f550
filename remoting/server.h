// A remoting server: accepts connections on one port and dispatches their requests. It closes
// connections idle for longer than `idle_close_ms` (RocketMQ's serverChannelMaxIdleTimeSeconds,
// 120 s) and tells its owner when any connection closes (the NameServer drops that broker's routes,
// a broker forgets that client's channels).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "base/log.h"
#include "remoting/connection.h"
#include "runtime/event_loop.h"
#include "runtime/tcp.h"

namespace mq {

struct RemotingServerOptions {
  std::string listen_host = "0.0.0.0";
  int listen_port = 0;
  uint32_t max_frame_bytes = kDefaultMaxFrameBytes;
  int64_t idle_close_ms = 120'000;
};

class RemotingServer {
 public:
  RemotingServer(EventLoop& loop, RemotingServerOptions options, Logger log);
  ~RemotingServer();

  Dispatcher& dispatcher() { return dispatcher_; }
  void register_handler(int32_t code, RequestHandler handler) {
    dispatcher_.register_handler(code, std::move(handler));
  }
  void set_on_connection_closed(std::function<void(RemotingConnection&)> fn) { on_closed_ = std::move(fn); }

  // Binds and starts accepting. Returns the bound port (the configured one, or the one picked
  // for port 0).
  Result<int, NetError> start();
  // Stops accepting and closes every connection.
  void stop();
  int port() const { return listener_.port(); }
  size_t connection_count() const { return connections_.size(); }
  // Sends a oneway request to one connected peer (e.g. NOTIFY_CONSUMER_IDS_CHANGED).
  void send_oneway(RemotingConnection& conn, RemotingCommand request);

 private:
  void scan_idle();

  EventLoop& loop_;
  RemotingServerOptions options_;
  Logger log_;
  Dispatcher dispatcher_;
  TcpListener listener_;
  Timer idle_timer_;
  std::unordered_map<uint64_t, std::shared_ptr<RemotingConnection>> connections_;
  std::function<void(RemotingConnection&)> on_closed_;
  int32_t next_opaque_ = 0;
};

}  // namespace mq
