// The client side of remoting: one connection per peer address, opened on first use and opened
// again after it breaks (reconnect), async requests matched to responses by opaque, a timeout per
// request, and oneway sends. Requests the peer sends us (a broker's NOTIFY_CONSUMER_IDS_CHANGED)
// go to our own Dispatcher.
//
// Every callback runs on the loop thread exactly once: with the response, or with an error
// (timeout, connect failure, connection closed before the answer), never inside invoke() itself.
//
// Faults. A connect that has not completed after connect_timeout_ms (3 s, as RocketMQ's
// NettyRemotingClient) is abandoned and its socket closed; the requests waiting for it fail with
// kConnectFailed. An address whose connect failed is not tried again at once: the next attempt
// waits reconnect_backoff_initial_ms (100 ms), doubling after each failure up to
// reconnect_backoff_max_ms (1 s), and requests for it in the meantime fail at once with
// kConnectFailed instead of opening a socket. So a caller that retries in a loop against a dead
// NameServer or broker costs at most about one connect per address per second, and a peer that
// comes back is reconnected within a second. A successful connect forgets the back-off.
// Destroying the client (or close()) closes every connection and cancels every connect in
// progress, so the loop can always be closed afterwards, whatever state the peers were in.
#pragma once
#include <atomic>
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
  int64_t reconnect_backoff_initial_ms = 100;
  int64_t reconnect_backoff_max_ms = 1000;
  uint32_t max_frame_bytes = kDefaultMaxFrameBytes;
};

// What a client did towards its peers (readable from any thread).
struct RemotingClientStats {
  uint64_t connect_attempts = 0;   // sockets opened towards a peer
  uint64_t connect_failures = 0;   // refused, unreachable or timed out
  uint64_t backoff_failures = 0;   // requests failed at once: their peer's connect is backing off
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
  RemotingClientStats stats() const;
  // True once nothing for `addr` waits to be written (or the peer is gone).
  bool idle_towards(const std::string& addr) const;
  EventLoop& loop() { return loop_; }

 private:
  struct Peer {
    std::shared_ptr<RemotingConnection> conn;  // null while connecting
    std::vector<RemotingCommand> queued;       // written once connected
    bool connecting = false;
    uint64_t connect_id = 0;                   // tells this connect's callback from a stale one's
    int64_t connect_deadline_ms = 0;
    std::shared_ptr<TcpConnectAttempt> attempt;
  };
  struct Backoff {
    int64_t next_attempt_ms = 0;  // loop clock
    int64_t delay_ms = 0;
    std::string last_error;
  };
  struct Pending {
    int64_t deadline_ms;
    std::string addr;
    ResponseCallback cb;
  };

  Peer& peer_for(const std::string& addr);
  void send_command(const std::string& addr, RemotingCommand cmd);
  void on_connected(const std::string& addr, uint64_t connect_id, Result<std::shared_ptr<TcpConnection>, NetError> r);
  // Why a request for `addr` must fail now without a connect (empty: go ahead).
  std::string backing_off(const std::string& addr);
  void note_connect_failure(const std::string& addr, const std::string& why);
  // Registers `cb` under a new opaque and fails it from the loop (not inside the caller).
  void fail_soon(const std::string& addr, ResponseCallback cb, RpcError err, std::string why);
  void ensure_timer();
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
  std::unordered_map<std::string, Backoff> backoff_;
  int32_t next_opaque_ = 1;
  uint64_t next_connect_id_ = 1;
  std::atomic<uint64_t> connect_attempts_{0};
  std::atomic<uint64_t> connect_failures_{0};
  std::atomic<uint64_t> backoff_failures_{0};
  Timer timeout_timer_;
  bool timer_running_ = false;
  bool destroying_ = false;
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
