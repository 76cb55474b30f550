#include "runtime/tcp.h"

#include <uv.h>

#include <array>
#include <atomic>
#include <charconv>

#include "base/check.h"

namespace mq {

namespace {
std::atomic<uint64_t> next_connection_id{1};
constexpr size_t kReadBufferBytes = 64 * 1024;

std::string sockaddr_text(const sockaddr_storage& ss) {
  char ip[INET6_ADDRSTRLEN] = {0};
  int port = 0;
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    uv_ip4_name(a, ip, sizeof ip);
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    uv_ip6_name(a, ip, sizeof ip);
    port = ntohs(a->sin6_port);
  }
  return std::string(ip) + ":" + std::to_string(port);
}

std::string peer_of(uv_tcp_t* h) {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getpeername(h, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  return sockaddr_text(ss);
}

int resolve(const std::string& host, int port, sockaddr_storage& out) {
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&out)) == 0) return 0;
  if (uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&out)) == 0) return 0;
  if (host == "localhost") return uv_ip4_addr("127.0.0.1", port, reinterpret_cast<sockaddr_in*>(&out));
  return UV_EINVAL;
}
}  // namespace

// Owns the uv handle and, while the socket is open, the connection itself.
struct TcpConnection::HandleBox {
  uv_tcp_t tcp;
  std::shared_ptr<TcpConnection> self;
};

struct WriteReq {
  uv_write_t req;
  std::weak_ptr<TcpConnection> conn;
};

std::shared_ptr<TcpConnection> TcpConnection::adopt(uv_tcp_t* handle) {
  std::shared_ptr<TcpConnection> c(new TcpConnection());
  c->box_ = reinterpret_cast<HandleBox*>(handle);
  c->box_->self = c;
  c->box_->tcp.data = c->box_;
  c->id_ = next_connection_id.fetch_add(1);
  c->peer_address_ = peer_of(handle);
  uv_tcp_nodelay(handle, 1);
  return c;
}

TcpConnection::~TcpConnection() = default;

void TcpConnection::start(Handlers handlers) {
  handlers_ = std::move(handlers);
  if (closing_) return;
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&box_->tcp),
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* box = static_cast<HandleBox*>(h->data);
        auto& rb = box->self->read_buf_;
        if (rb.size() < kReadBufferBytes) rb.resize(kReadBufferBytes);
        *buf = uv_buf_init(rb.data(), static_cast<unsigned>(rb.size()));
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
        TcpConnection::on_read(s, static_cast<long>(nread), buf);
      });
}

void TcpConnection::on_read(uv_stream_t* stream, long nread, const void* bufp) {
  auto* box = static_cast<HandleBox*>(stream->data);
  if (box == nullptr || !box->self) return;
  std::shared_ptr<TcpConnection> self = box->self;  // stays alive through the handler
  if (nread > 0) {
    const auto* buf = static_cast<const uv_buf_t*>(bufp);
    if (!self->closing_ && self->handlers_.on_data)
      run_guarded("a connection's data handler",
                  [&] { self->handlers_.on_data(std::string_view(buf->base, static_cast<size_t>(nread))); });
  } else if (nread < 0) {
    self->close(nread == UV_EOF ? "peer closed the connection" : std::string("read error: ") + uv_strerror(static_cast<int>(nread)));
  }
}

void TcpConnection::write(std::string_view data) {
  if (closing_) return;
  out_.append(data);
  commit_write();
}

void TcpConnection::commit_write() {
  if (closing_) {
    out_.clear();
    return;
  }
  // A uv_write in flight flushes the rest when it completes; a scheduled flush is still to come.
  if (write_in_flight_ || flush_scheduled_ || out_.empty()) return;
  EventLoop& loop = EventLoop::of(box_->tcp.loop);
  if (last_write_epoch_ != loop.flush_epoch()) {
    last_write_epoch_ = loop.flush_epoch();
    flush();
    return;
  }
  flush_scheduled_ = true;
  loop.flush_at_next_point(weak_from_this());
}

void TcpConnection::flush_deferred() {
  flush_scheduled_ = false;
  if (closing_ || write_in_flight_) return;
  last_write_epoch_ = EventLoop::of(box_->tcp.loop).flush_epoch();
  flush();
}

void TcpConnection::flush() {
  if (closing_ || out_.empty()) return;
  // Try a direct write first. A uv_write that completes at once still costs a write request, a
  // callback on the next loop iteration and, in libuv 1.44, an epoll_ctl(MOD) when that callback
  // stops the POLLOUT watcher: one syscall more per request than the write itself. Only what the
  // socket did not take goes through uv_write.
  int n = uv_try_write(reinterpret_cast<uv_stream_t*>(&box_->tcp),
                       std::array<uv_buf_t, 1>{uv_buf_init(out_.data(), static_cast<unsigned>(out_.size()))}.data(), 1);
  if (n == static_cast<int>(out_.size())) {
    out_.clear();
    if (out_.capacity() > 4 * 1024 * 1024) std::string().swap(out_);
    return;
  }
  if (n < 0 && n != UV_EAGAIN) {
    close(std::string("write failed: ") + uv_strerror(n));
    return;
  }
  if (n > 0) {
    writing_.assign(out_, static_cast<size_t>(n));
  } else {
    writing_.swap(out_);
  }
  out_.clear();
  auto* w = new WriteReq;
  w->conn = shared_from_this();
  uv_buf_t buf = uv_buf_init(writing_.data(), static_cast<unsigned>(writing_.size()));
  write_in_flight_ = true;
  int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&box_->tcp), &buf, 1,
                    &TcpConnection::on_write);
  if (rc != 0) {
    delete w;
    write_in_flight_ = false;
    close(std::string("write failed: ") + uv_strerror(rc));
  }
}

void TcpConnection::on_write(uv_write_t* req, int status) {
  auto* w = reinterpret_cast<WriteReq*>(req);
  std::shared_ptr<TcpConnection> self = w->conn.lock();
  delete w;
  if (!self) return;
  self->write_in_flight_ = false;
  self->writing_.clear();
  if (status != 0) {
    self->close(std::string("write error: ") + uv_strerror(status));
    return;
  }
  if (self->writing_.capacity() > 4 * 1024 * 1024) std::string().swap(self->writing_);
  self->flush();
}

void TcpConnection::close(const std::string& why) {
  if (closing_) return;
  // Best effort: frames queued for the next flush point (answers given just before the close, such
  // as the held pulls a stopping broker answers) go to the socket if it takes them now.
  if (!out_.empty() && !write_in_flight_ && box_ != nullptr)
    (void)uv_try_write(reinterpret_cast<uv_stream_t*>(&box_->tcp),
                       std::array<uv_buf_t, 1>{uv_buf_init(out_.data(), static_cast<unsigned>(out_.size()))}.data(), 1);
  closing_ = true;
  close_reason_ = why;
  uv_close(reinterpret_cast<uv_handle_t*>(&box_->tcp), [](uv_handle_t* h) {
    auto* box = static_cast<HandleBox*>(h->data);
    std::shared_ptr<TcpConnection> self = std::move(box->self);
    delete box;
    self->box_ = nullptr;
    auto on_close = std::move(self->handlers_.on_close);
    self->handlers_ = {};
    if (on_close) run_guarded("a connection's close handler", [&] { on_close(self->close_reason_); });
  });
}

TcpListener::~TcpListener() { close(); }

void TcpListener::close() {
  if (handle_ == nullptr) return;
  handle_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(handle_), [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
  handle_ = nullptr;
}

Result<int, NetError> TcpListener::listen(const std::string& host, int port,
                                          std::function<void(std::shared_ptr<TcpConnection>)> on_connection) {
  sockaddr_storage addr{};
  if (resolve(host, port, addr) != 0)
    return make_error(NetError::kFailed, "cannot parse listen address " + host);
  handle_ = new uv_tcp_t;
  uv_tcp_init(loop_.raw(), handle_);
  handle_->data = this;
  int rc = uv_tcp_bind(handle_, reinterpret_cast<sockaddr*>(&addr), 0);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(handle_), 1024, &TcpListener::on_connection);
  if (rc != 0) {
    close();
    return make_error(NetError::kFailed, "cannot listen on " + host + ":" + std::to_string(port) + ": " + uv_strerror(rc));
  }
  sockaddr_storage bound{};
  int len = sizeof bound;
  uv_tcp_getsockname(handle_, reinterpret_cast<sockaddr*>(&bound), &len);
  port_ = ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                           : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  on_connection_ = std::move(on_connection);
  return port_;
}

void TcpListener::on_connection(uv_stream_t* server, int status) {
  auto* self = static_cast<TcpListener*>(server->data);
  if (self == nullptr || status != 0) return;
  auto* box = new TcpConnection::HandleBox;
  uv_tcp_init(server->loop, &box->tcp);
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&box->tcp)) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&box->tcp), [](uv_handle_t* h) {
      delete reinterpret_cast<TcpConnection::HandleBox*>(h);
    });
    return;
  }
  auto conn = TcpConnection::adopt(&box->tcp);
  run_guarded("an accept handler", [&] { self->on_connection_(std::move(conn)); });
}

struct TcpConnectAttempt::Req {
  uv_connect_t req;
  TcpConnection::HandleBox* box;
  std::function<void(Result<std::shared_ptr<TcpConnection>, NetError>)> done;
  std::string target;
  std::shared_ptr<TcpConnectAttempt> attempt;
  bool cancelled = false;
};

namespace {
void close_connecting_box(TcpConnection::HandleBox* box) {
  auto* h = reinterpret_cast<uv_handle_t*>(&box->tcp);
  if (uv_is_closing(h)) return;
  uv_close(h, [](uv_handle_t* handle) { delete reinterpret_cast<TcpConnection::HandleBox*>(handle); });
}

void on_connect(uv_connect_t* r, int status) {
  auto* cr = reinterpret_cast<TcpConnectAttempt::Req*>(r);
  cr->attempt->req_ = nullptr;
  auto done = std::move(cr->done);
  std::string target = std::move(cr->target);
  bool cancelled = cr->cancelled;
  if (status == 0 && cancelled) status = UV_ECANCELED;  // cancelled after the kernel connected
  if (status != 0) {
    // A cancelled attempt's socket is closing already; its close callback frees the box.
    close_connecting_box(cr->box);
    delete cr;
    std::string why = cancelled ? std::string("cancelled") : std::string(uv_strerror(status));
    run_guarded("a connect handler", [&] {
      done(make_error(NetError::kFailed, "connect to " + target + " failed: " + why));
    });
    return;
  }
  auto conn = TcpConnection::adopt(&cr->box->tcp);
  delete cr;
  run_guarded("a connect handler", [&] { done(std::move(conn)); });
}
}  // namespace

void TcpConnectAttempt::cancel() {
  if (req_ == nullptr || req_->cancelled) return;
  req_->cancelled = true;
  // libuv then completes the connect request with UV_ECANCELED (before the close callback).
  close_connecting_box(req_->box);
}

std::shared_ptr<TcpConnectAttempt> tcp_connect(
    EventLoop& loop, const std::string& host, int port,
    std::function<void(Result<std::shared_ptr<TcpConnection>, NetError>)> done) {
  auto attempt = std::make_shared<TcpConnectAttempt>();
  sockaddr_storage addr{};
  std::string target = host + ":" + std::to_string(port);
  if (resolve(host, port, addr) != 0) {
    loop.post([done = std::move(done), target] {
      done(make_error(NetError::kFailed, "cannot parse address " + target));
    });
    return attempt;
  }
  auto* req = new TcpConnectAttempt::Req;
  req->box = new TcpConnection::HandleBox;
  req->done = std::move(done);
  req->target = target;
  req->attempt = attempt;
  uv_tcp_init(loop.raw(), &req->box->tcp);
  req->box->tcp.data = nullptr;
  int rc = uv_tcp_connect(&req->req, &req->box->tcp, reinterpret_cast<sockaddr*>(&addr), &on_connect);
  if (rc != 0) {
    close_connecting_box(req->box);
    auto d = std::move(req->done);
    delete req;
    loop.post([d = std::move(d), target, rc] {
      d(make_error(NetError::kFailed, "connect to " + target + " failed: " + uv_strerror(rc)));
    });
    return attempt;
  }
  attempt->req_ = req;
  return attempt;
}

bool split_host_port(std::string_view addr, std::string& host, int& port) {
  size_t colon = addr.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view p = addr.substr(colon + 1);
  int v = 0;
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
  if (ec != std::errc() || ptr != p.data() + p.size() || v <= 0 || v > 65535) return false;
  host.assign(addr.substr(0, colon));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  port = v;
  return true;
}

}  // namespace mq
