// One remoting connection, in either role: it splits the byte stream into frames, hands requests
// to a Dispatcher and responses to its owner, and writes commands as frames.
//
// Bad input handling: an invalid frame length (negative, below 4, above the configured maximum) is
// refused before anything is buffered, and a frame whose header cannot be decoded cannot be
// answered (its opaque is unknown); both close this connection with a warning naming the peer and
// the reason. Nothing else is affected. Exceptions thrown by a handler are caught here and become
// SYSTEM_ERROR responses, so none crosses into libuv.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "base/log.h"
#include "codec/remoting_command.h"
#include "runtime/event_loop.h"
#include "runtime/tcp.h"

namespace mq {

class RemotingConnection;

// What a handler gets with a request: enough to answer it now or later (long polling).
class RequestContext {
 public:
  RequestContext(std::weak_ptr<RemotingConnection> conn, const RemotingCommand& req);
  // Sends `resp` as the answer: copies the opaque and serialize type, sets the response flag. Does
  // nothing for a oneway request or a closed connection.
  void respond(RemotingCommand resp) const;
  // Shorthand for an answer with only a code and a remark.
  void respond_code(int32_t code, std::string remark = {}) const;
  bool oneway() const { return oneway_; }
  int32_t request_version() const { return version_; }
  std::shared_ptr<RemotingConnection> connection() const { return conn_.lock(); }
  const std::string& peer_address() const { return peer_; }
  uint64_t connection_id() const { return connection_id_; }

 private:
  std::weak_ptr<RemotingConnection> conn_;
  int32_t opaque_;
  int32_t version_;
  SerializeType serialize_type_;
  bool oneway_;
  std::string peer_;
  uint64_t connection_id_;
};

using RequestHandler = std::function<void(const RequestContext& ctx, RemotingCommand& request)>;

// Routes requests by code. Codes without a handler get REQUEST_CODE_NOT_SUPPORTED with RocketMQ's
// remark (" request type N not supported").
class Dispatcher {
 public:
  void register_handler(int32_t code, RequestHandler handler) { handlers_[code] = std::move(handler); }
  void unregister_handler(int32_t code) { handlers_.erase(code); }
  void dispatch(const RequestContext& ctx, RemotingCommand& request, const Logger& log) const;

 private:
  std::unordered_map<int32_t, RequestHandler> handlers_;
};

class RemotingConnection : public std::enable_shared_from_this<RemotingConnection> {
 public:
  struct Hooks {
    const Dispatcher* dispatcher = nullptr;                       // requests from the peer
    std::function<void(RemotingCommand&& response)> on_response;  // responses to our requests
    std::function<void(RemotingConnection&, const std::string& why)> on_close;
  };

  RemotingConnection(EventLoop& loop, std::shared_ptr<TcpConnection> tcp, uint32_t max_frame_bytes, Logger log);
  void start(Hooks hooks);
  void send(const RemotingCommand& cmd);
  void close(const std::string& why);
  bool is_open() const { return tcp_->is_open(); }
  const std::string& peer_address() const { return tcp_->peer_address(); }
  uint64_t id() const { return tcp_->id(); }
  // Loop time of the last frame read or written (for idle close).
  int64_t last_active_ms() const { return last_active_ms_; }
  size_t pending_write_bytes() const { return tcp_->pending_write_bytes(); }

 private:
  void on_data(std::string_view data);
  void on_frame(std::string_view frame);

  EventLoop& loop_;
  std::shared_ptr<TcpConnection> tcp_;
  FrameSplitter splitter_;
  Logger log_;
  Hooks hooks_;
  int64_t last_active_ms_ = 0;
};

}  // namespace mq
