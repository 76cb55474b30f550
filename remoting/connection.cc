#include "remoting/connection.h"

#include <exception>

#include "codec/codes.h"

namespace mq {

RequestContext::RequestContext(std::weak_ptr<RemotingConnection> conn, const RemotingCommand& req)
    : conn_(std::move(conn)),
      opaque_(req.opaque),
      version_(req.version),
      serialize_type_(req.serialize_type),
      oneway_(req.is_oneway()) {
  if (auto c = conn_.lock()) {
    peer_ = c->peer_address();
    connection_id_ = c->id();
  } else {
    connection_id_ = 0;
  }
}

void RequestContext::respond(RemotingCommand resp) const {
  if (oneway_) return;
  auto c = conn_.lock();
  if (!c || !c->is_open()) return;
  resp.opaque = opaque_;
  resp.flag |= kFlagResponse;
  resp.serialize_type = serialize_type_;
  c->send(resp);
}

void RequestContext::respond_code(int32_t code, std::string remark) const {
  RemotingCommand r;
  r.code = code;
  if (!remark.empty()) r.remark = std::move(remark);
  respond(std::move(r));
}

void Dispatcher::dispatch(const RequestContext& ctx, RemotingCommand& request, const Logger& log) const {
  auto it = handlers_.find(request.code);
  if (it == handlers_.end()) {
    ctx.respond_code(response_code::kRequestCodeNotSupported,
                     " request type " + std::to_string(request.code) + " not supported");
    return;
  }
  try {
    it->second(ctx, request);
  } catch (const std::exception& e) {
    log.error("request code " + std::to_string(request.code) + " from " + ctx.peer_address() +
              " failed: " + e.what());
    ctx.respond_code(response_code::kSystemError, e.what());
  }
}

RemotingConnection::RemotingConnection(EventLoop& loop, std::shared_ptr<TcpConnection> tcp,
                                       uint32_t max_frame_bytes, Logger log)
    : loop_(loop), tcp_(std::move(tcp)), splitter_(max_frame_bytes), log_(std::move(log)) {
  last_active_ms_ = loop_.now_ms();
}

void RemotingConnection::start(Hooks hooks) {
  hooks_ = std::move(hooks);
  std::weak_ptr<RemotingConnection> weak = shared_from_this();
  tcp_->start(TcpConnection::Handlers{
      [weak](std::string_view data) {
        if (auto self = weak.lock()) self->on_data(data);
      },
      [weak](const std::string& why) {
        if (auto self = weak.lock()) {
          auto on_close = std::move(self->hooks_.on_close);
          self->hooks_ = {};
          if (on_close) on_close(*self, why);
        }
      }});
}

void RemotingConnection::on_data(std::string_view data) {
  auto self = shared_from_this();
  last_active_ms_ = loop_.now_ms();
  auto r = splitter_.feed(data, [this](std::string_view frame) {
    if (tcp_->is_open()) on_frame(frame);
  });
  if (!r.ok()) {
    log_.warn("closing connection from " + peer_address() + ": " + r.detail());
    close(r.detail());
  }
}

void RemotingConnection::on_frame(std::string_view frame) {
  auto cmd = decode_frame(frame);
  if (!cmd.ok()) {
    log_.warn("closing connection from " + peer_address() + ": " + codec_error_name(cmd.code()) + ": " +
              cmd.detail());
    close(cmd.detail());
    return;
  }
  if (cmd->is_response()) {
    if (hooks_.on_response) hooks_.on_response(std::move(*cmd));
    return;
  }
  if (hooks_.dispatcher == nullptr) {
    RequestContext(weak_from_this(), *cmd)
        .respond_code(response_code::kRequestCodeNotSupported,
                      " request type " + std::to_string(cmd->code) + " not supported");
    return;
  }
  RequestContext ctx(weak_from_this(), *cmd);
  hooks_.dispatcher->dispatch(ctx, *cmd, log_);
}

void RemotingConnection::send(const RemotingCommand& cmd) {
  if (!tcp_->is_open()) return;
  last_active_ms_ = loop_.now_ms();
  encode_frame_to(cmd, tcp_->pending_output());
  tcp_->commit_write();
}

void RemotingConnection::close(const std::string& why) { tcp_->close(why); }

}  // namespace mq
