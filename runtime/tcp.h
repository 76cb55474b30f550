// TCP on the shared loop: listeners, outgoing connections and connections with buffered writes.
//
// A TcpConnection keeps itself alive while its socket is open (the uv handle holds a shared_ptr to
// it), so owners may hold weak_ptrs. close() is idempotent; the on_close handler runs exactly once,
// from the close callback, after which no other handler runs. Writes: the first write between two
// of the loop's flush points (event_loop.h) goes to the socket at once with uv_try_write; later
// ones are coalesced and written at the next flush point, and while a uv_write of what the socket
// did not take is in flight, everything after it waits for it. So a lone answer costs one write
// syscall and a burst of frames to one peer few. All calls are loop-thread only.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"
#include "runtime/event_loop.h"

struct uv_tcp_s;
struct uv_write_s;
struct uv_stream_s;
struct uv_connect_s;

namespace mq {

enum class NetError { kFailed };

class TcpConnection : public std::enable_shared_from_this<TcpConnection> {
 public:
  struct Handlers {
    std::function<void(std::string_view data)> on_data;
    std::function<void(const std::string& why)> on_close;
  };

  ~TcpConnection();
  void start(Handlers handlers);
  void write(std::string_view data);
  // Encoding straight into the output buffer saves a copy: append to pending_output(), then call
  // commit_write() (which writes or schedules as write() does).
  std::string& pending_output() { return out_; }
  void commit_write();
  // Called by the loop at a flush point this connection asked for.
  void flush_deferred();
  // Closes the socket. Frames waiting for the next flush point are first offered to the socket
  // (what it does not take at once, and a write in flight, are dropped). `why` reaches on_close.
  void close(const std::string& why);
  bool is_open() const { return !closing_; }
  const std::string& peer_address() const { return peer_address_; }
  uint64_t id() const { return id_; }
  size_t pending_write_bytes() const { return out_.size() + writing_.size(); }

  // Internal: the allocation that holds the uv handle, and wrapping an initialised one (used by
  // the listener and by tcp_connect).
  struct HandleBox;
  static std::shared_ptr<TcpConnection> adopt(uv_tcp_s* handle);

 private:
  TcpConnection() = default;
  void flush();
  static void on_write(uv_write_s* req, int status);
  static void on_read(uv_stream_s* stream, long nread, const void* buf);

  HandleBox* box_ = nullptr;
  Handlers handlers_;
  std::string out_;
  std::string writing_;
  bool write_in_flight_ = false;
  bool flush_scheduled_ = false;
  uint64_t last_write_epoch_ = UINT64_MAX;  // flush epoch of the last direct write
  bool closing_ = false;
  std::string close_reason_;
  std::string peer_address_;
  std::string read_buf_;
  uint64_t id_ = 0;
};

class TcpListener {
 public:
  explicit TcpListener(EventLoop& loop) : loop_(loop) {}
  ~TcpListener();
  // Binds host:port (port 0 picks a free one) and accepts connections. Returns the bound port.
  Result<int, NetError> listen(const std::string& host, int port,
                               std::function<void(std::shared_ptr<TcpConnection>)> on_connection);
  int port() const { return port_; }
  void close();

 private:
  static void on_connection(uv_stream_s* server, int status);
  EventLoop& loop_;
  uv_tcp_s* handle_ = nullptr;
  std::function<void(std::shared_ptr<TcpConnection>)> on_connection_;
  int port_ = 0;
};

// A connect in progress, as tcp_connect returns it. Until `done` has run, the socket being
// connected is a live handle that only this object can close: an owner that goes away (or gives
// up after its connect timeout) must cancel() it, or the loop cannot close (a SYN to a blackholed
// address is retried by the kernel for minutes). After cancel(), `done` still runs exactly once,
// with an error saying "cancelled"; once `done` has run, cancel() does nothing.
class TcpConnectAttempt {
 public:
  void cancel();
  bool pending() const { return req_ != nullptr; }

  struct Req;  // internal: the uv_connect_t and the socket being connected
  Req* req_ = nullptr;
};

// Connects to host:port; `done` runs on the loop (never inside this call) with the connection or
// an error.
std::shared_ptr<TcpConnectAttempt> tcp_connect(
    EventLoop& loop, const std::string& host, int port,
    std::function<void(Result<std::shared_ptr<TcpConnection>, NetError>)> done);

// Splits "host:port"; false when the text is not of that form.
bool split_host_port(std::string_view addr, std::string& host, int& port);

}  // namespace mq
