// The client side of remoting: one connection per peer address, opened on first use and opened
// again after it breaks (reconnect), async requests matched to responses by opaque, a timeout per
// request, and oneway sends. Requests the peer sends us (a broker's NOTIFY_CONSUMER_IDS_CHANGED)
// go to our own Dispatcher.
//
// Every callback runs on the loop thread exactly once: with the response, or with an error
// (timeout, connect failure, connection closed before the answer).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/log.h"
#include "remoting/connection.h"
#include "runtime/event_loop.h"

namespace mq {

enum class RpcError { kTimeout, kConnectFailed, kConnectionClosed, kBadAddress };
const char* rpc_error_name(RpcError e);

using ResponseCallback = std::function<void(Result<RemotingCommand, RpcError>)>;

struct RemotingClientOptions {
  int64_t connect_timeout_ms = 3000;
  uint32_t max_frame_bytes = kDefaultMaxFrameBytes;
};

class RemotingClient {
 public:
  RemotingClient(EventLoop& loop, RemotingClientOptions options, Logger log);
  ~RemotingClient();  // fails every pending request with kConnectionClosed and closes connections

  Dispatcher& dispatcher() { return dispatcher_; }
  void invoke(const std::string& addr, RemotingCommand request, int64_t timeout_ms, ResponseCallback cb);
  void invoke_oneway(const std::string& addr, RemotingCommand request);
  void close(const std::string& addr);
  void close_all();
  size_t pending_count() const { return pending_.size(); }
  // True once nothing for `addr` waits to be written (or the peer is gone).
  bool idle_towards(const std::string& addr) const;
  EventLoop& loop() { return loop_; }

 private:
  struct Peer {
    std::shared_ptr<RemotingConnection> conn;  // null while connecting
    std::vector<RemotingCommand> queued;       // written once connected
    bool connecting = false;
  };
  struct Pending {
    int64_t deadline_ms;
    std::string addr;
    ResponseCallback cb;
  };

  Peer& peer_for(const std::string& addr);
  void send_command(const std::string& addr, RemotingCommand cmd);
  void on_connected(const std::string& addr, Result<std::shared_ptr<TcpConnection>, NetError> r);
  void on_response(RemotingCommand&& resp);
  void fail_peer(const std::string& addr, RpcError err, const std::string& why);
  void complete(int32_t opaque, Result<RemotingCommand, RpcError> r);
  void scan_timeouts();

  EventLoop& loop_;
  RemotingClientOptions options_;
  Logger log_;
  Dispatcher dispatcher_;
  std::unordered_map<std::string, Peer> peers_;
  std::unordered_map<int32_t, Pending> pending_;
  int32_t next_opaque_ = 1;
  Timer timeout_timer_;
  bool timer_running_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// Splits RocketMQ's `;`-separated address lists (namesrvAddr), dropping blanks and empty items.
std::vector<std::string> split_addr_list(const std::string& list);

// Drives a RemotingClient on a private loop, one request at a time: for command-line tools and
// tests, which have nothing else to do while they wait.
class BlockingClient {
 public:
  explicit BlockingClient(Logger log = Logger());
  ~BlockingClient();
  Result<RemotingCommand, RpcError> invoke(const std::string& addr, RemotingCommand request,
                                           int64_t timeout_ms = 5000);
  void invoke_oneway(const std::string& addr, RemotingCommand request);
  RemotingClient& client() { return *client_; }
  EventLoop& loop() { return loop_; }

 private:
  EventLoop loop_;
  std::unique_ptr<RemotingClient> client_;
};

}  // namespace mq
