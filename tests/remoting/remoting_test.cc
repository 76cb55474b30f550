// Server and client on one loop over loopback TCP: dispatch, unknown codes, oneway, timeouts,
// reconnect, and hostile bytes that must close only the offending connection.
#include <doctest/doctest.h>

#include <optional>

#include "base/bytes.h"
#include "codec/codes.h"
#include "remoting/client.h"
#include "remoting/server.h"

using namespace mq;

namespace {
struct Fixture {
  EventLoop loop;
  std::unique_ptr<RemotingServer> server;
  std::unique_ptr<RemotingClient> client;
  int port = 0;
  int oneway_seen = 0;
  int closed_seen = 0;
  std::vector<RequestContext> parked;

  Fixture() {
    server = std::make_unique<RemotingServer>(loop, RemotingServerOptions{"127.0.0.1", 0, 1024, 120000}, Logger());
    server->register_handler(1000, [](const RequestContext& ctx, RemotingCommand& req) {
      RemotingCommand r;
      r.ext_fields.set("echo", *req.ext_fields.find("v"));
      r.body = req.body;
      ctx.respond(std::move(r));
    });
    server->register_handler(1001, [this](const RequestContext& ctx, RemotingCommand&) {
      ++oneway_seen;
      ctx.respond_code(0, "must not be sent for oneway");
    });
    server->register_handler(1002, [this](const RequestContext& ctx, RemotingCommand&) { parked.push_back(ctx); });
    server->register_handler(1003, [](const RequestContext&, RemotingCommand&) { throw std::runtime_error("boom"); });
    server->set_on_connection_closed([this](RemotingConnection&) { ++closed_seen; });
    auto p = server->start();
    REQUIRE(p.ok());
    port = *p;
    client = std::make_unique<RemotingClient>(loop, RemotingClientOptions{}, Logger());
  }
  ~Fixture() {
    parked.clear();
    client.reset();
    server.reset();
    loop.close_and_drain();
  }
  std::string addr() const { return "127.0.0.1:" + std::to_string(port); }
  Result<RemotingCommand, RpcError> call(RemotingCommand req, int64_t timeout_ms = 2000) {
    std::optional<Result<RemotingCommand, RpcError>> out;
    client->invoke(addr(), std::move(req), timeout_ms, [&](Result<RemotingCommand, RpcError> r) { out.emplace(std::move(r)); });
    loop.run_until([&] { return out.has_value(); });
    REQUIRE(out.has_value());
    return std::move(*out);
  }
};
}  // namespace

TEST_CASE("request and response are matched by opaque; unknown codes are named") {
  Fixture f;
  RemotingCommand req = RemotingCommand::request(1000);
  req.ext_fields.set("v", std::string("hello"));
  req.body = "payload";
  auto r = f.call(req);
  REQUIRE(r.ok());
  CHECK(r->code == 0);
  CHECK(r->is_response());
  CHECK(*r->ext_fields.find("echo") == "hello");
  CHECK(r->body == "payload");
  auto u = f.call(RemotingCommand::request(4242));
  REQUIRE(u.ok());
  CHECK(u->code == response_code::kRequestCodeNotSupported);
  CHECK(*u->remark == " request type 4242 not supported");
  auto e = f.call(RemotingCommand::request(1003));
  REQUIRE(e.ok());
  CHECK(e->code == response_code::kSystemError);
  CHECK(*e->remark == "boom");
}

TEST_CASE("oneway requests run the handler and get no response") {
  Fixture f;
  f.client->invoke_oneway(f.addr(), RemotingCommand::request(1001));
  RemotingCommand req = RemotingCommand::request(1000);
  req.ext_fields.set("v", std::string("after"));
  auto r = f.call(req);  // ordered after the oneway on the same connection
  REQUIRE(r.ok());
  CHECK(f.oneway_seen == 1);
  CHECK(*r->ext_fields.find("echo") == "after");
}

TEST_CASE("a request without an answer times out; a late answer is dropped") {
  Fixture f;
  auto r = f.call(RemotingCommand::request(1002), 50);
  REQUIRE_FALSE(r.ok());
  CHECK(r.code() == RpcError::kTimeout);
  REQUIRE(f.parked.size() == 1);
  f.parked[0].respond_code(0);  // late: nobody waits any more
  RemotingCommand req = RemotingCommand::request(1000);
  req.ext_fields.set("v", std::string("x"));
  CHECK(f.call(req).ok());
}

TEST_CASE("connect failure is reported, and the client reconnects once the server is back") {
  Fixture f;
  int port = f.port;
  f.server->stop();
  f.loop.run_until([&] { return f.server->connection_count() == 0; });
  auto r = f.call(RemotingCommand::request(1000));
  REQUIRE_FALSE(r.ok());
  CHECK(r.code() == RpcError::kConnectFailed);
  // A new server on the same port: the client opens a new connection by itself.
  f.server = std::make_unique<RemotingServer>(f.loop, RemotingServerOptions{"127.0.0.1", port, 1024, 120000}, Logger());
  f.server->register_handler(1000, [](const RequestContext& ctx, RemotingCommand&) { ctx.respond_code(0); });
  REQUIRE(f.server->start().ok());
  // The failed connect started a back-off (100 ms for a first failure): requests in it fail at
  // once without a connect; the first one after it connects again.
  std::optional<Result<RemotingCommand, RpcError>> again;
  int fast_failures = 0;
  int64_t start_ms = f.loop.fresh_now_ms();
  while (f.loop.fresh_now_ms() - start_ms < 5000) {
    again = f.call(RemotingCommand::request(1000));
    if (again->ok()) break;
    if (again->code() != RpcError::kConnectFailed)
      FAIL_CHECK("expected kConnectFailed while backing off, got ", rpc_error_name(again->code()), ": ", again->detail());
    ++fast_failures;
  }
  int64_t took_ms = f.loop.fresh_now_ms() - start_ms;
  std::string last = again->ok() ? std::string("ok") : again->detail();
  REQUIRE_MESSAGE(again->ok(), "expected a reconnect within 5 s, last: ", last);
  CHECK((*again)->code == 0);
  CHECK_MESSAGE(took_ms < 1000, "expected the reconnect after the 100 ms back-off, took ", took_ms, " ms");
  auto st = f.client->stats();
  CHECK_MESSAGE(st.connect_attempts == 2, "expected one failed connect and one good one, got ", st.connect_attempts,
                " (", fast_failures, " requests failed at once in between)");
  CHECK(st.backoff_failures == static_cast<uint64_t>(fast_failures));
}

TEST_CASE("hostile bytes close only the offending connection") {
  Fixture f;
  RemotingCommand ok_req = RemotingCommand::request(1000);
  ok_req.ext_fields.set("v", std::string("alive"));
  REQUIRE(f.call(ok_req).ok());

  auto send_raw = [&](std::string bytes) {
    std::optional<std::string> closed_why;
    std::shared_ptr<TcpConnection> conn;
    tcp_connect(f.loop, "127.0.0.1", f.port, [&](Result<std::shared_ptr<TcpConnection>, NetError> r) {
      REQUIRE(r.ok());
      conn = *r;
      conn->start({[](std::string_view) {}, [&](const std::string& why) { closed_why = why; }});
      conn->write(bytes);
    });
    f.loop.run_until([&] { return closed_why.has_value(); });
    return closed_why.value_or("");
  };
  std::string oversize;
  ByteWriter(oversize).u32(1 << 30);
  std::string negative;
  ByteWriter(negative).u32(0xFFFFFFFF);
  std::string bad_json;
  ByteWriter w(bad_json);
  w.u32(4 + 5);
  w.u32(5);
  w.raw("{oops");
  std::string bad_type;
  ByteWriter w2(bad_type);
  w2.u32(4 + 2);
  w2.u32((9u << 24) | 2);
  w2.raw("{}");
  for (auto& bytes : {oversize, negative, bad_json, bad_type, std::string(64, 'G')}) {
    CHECK(send_raw(bytes) == "peer closed the connection");
  }
  // The well-behaved client's connection is untouched.
  auto r = f.call(ok_req);
  REQUIRE(r.ok());
  CHECK(*r->ext_fields.find("echo") == "alive");
}
