// Producer and consumer against an in-process fake NameServer and two fake brokers (remoting
// servers on loopback, all on one loop): retries on the other broker, time budgets, compression on
// the wire, long polling, rebalance on NOTIFY_CONSUMER_IDS_CHANGED and offset commits.
#include <doctest/doctest.h>

#include <map>
#include <set>
#include <atomic>
#include <optional>
#include <thread>

#include "base/hash.h"
#include "client/consumer.h"
#include "client/producer.h"
#include "client/shared_producer.h"
#include "codec/codes.h"
#include "codec/header_reader.h"
#include "codec/route_data.h"
#include "remoting/server.h"

using namespace mq;

namespace {

struct FakeBroker {
  std::string name;
  std::unique_ptr<RemotingServer> server;
  std::string addr;
  // Behaviour switches.
  bool fail_sends = false;
  bool swallow_sends = false;  // never answer
  bool amnesia = false;        // answer pulls SUBSCRIPTION_NOT_EXIST until the next heartbeat
  // What it saw.
  int send_requests = 0;
  std::vector<RemotingCommand> sends;
  int heartbeats = 0;
  std::string last_heartbeat;
  int unregisters = 0;
  std::map<int32_t, int64_t> committed;  // queueId -> offset (UPDATE_CONSUMER_OFFSET)
  std::map<int32_t, int64_t> pull_commits;  // queueId -> commitOffset carried by pulls
  int pulls = 0;
  std::vector<std::string> consumer_ids;
  // Storage: per queue, encoded records.
  std::map<int32_t, std::vector<std::string>> queues;
  int64_t commit_log_offset = 0;
  std::vector<std::pair<RequestContext, RemotingCommand>> parked_pulls;
  std::vector<RequestContext> swallowed;

  FakeBroker(EventLoop& loop, std::string broker_name) : name(std::move(broker_name)) {
    server = std::make_unique<RemotingServer>(loop, RemotingServerOptions{"127.0.0.1", 0}, Logger());
    auto on_send = [this](const RequestContext& ctx, RemotingCommand& req) {
      ++send_requests;
      if (swallow_sends) {
        swallowed.push_back(ctx);
        return;
      }
      if (fail_sends) {
        ctx.respond_code(response_code::kSystemError, "fake failure");
        return;
      }
      sends.push_back(req);
      HeaderReader h(req.ext_fields);
      int32_t qid = h.i32("e");
      std::string topic = h.str("b");
      std::string props = h.str("i");
      int32_t sys_flag = h.i32("f");
      int64_t born = h.i64("g");
      REQUIRE(h.ok());
      std::string first_id;
      int64_t first_offset = static_cast<int64_t>(queues[qid].size());
      auto store = [&](std::string_view body, std::string_view p, int32_t flag) {
        MessageRecord r;
        r.queue_id = qid;
        r.flag = flag;
        r.queue_offset = static_cast<int64_t>(queues[qid].size());
        r.physical_offset = commit_log_offset;
        r.sys_flag = sys_flag;
        r.born_timestamp = born;
        r.born_host = HostAddress::v4(127, 0, 0, 1, 5555);
        r.store_timestamp = born + 1;
        r.store_host = *HostAddress::parse_v4(addr);
        r.body = body;
        r.body_crc = rocketmq_crc32(body);
        r.topic = topic;
        r.properties = p;
        std::string out;
        REQUIRE(encode_record(r, out).ok());
        if (first_id.empty()) first_id = make_offset_msg_id(r.store_host, commit_log_offset);
        commit_log_offset += static_cast<int64_t>(out.size());
        queues[qid].push_back(std::move(out));
      };
      std::vector<std::string> joined;
      if (req.code == request_code::kSendBatchMessage) {
        auto items = decode_batch(req.body);
        REQUIRE(items.ok());
        for (auto& it : *items) {
          joined.push_back(join_batch_properties(it.properties, props));
          store(it.body, joined.back(), it.flag);
        }
      } else {
        store(req.body, props, h.i32("h"));
      }
      RemotingCommand resp;
      resp.ext_fields.set("msgId", first_id);
      resp.ext_fields.set("queueId", qid);
      resp.ext_fields.set("queueOffset", first_offset);
      resp.ext_fields.set("MSG_REGION", std::string("DefaultRegion"));
      resp.ext_fields.set("TRACE_ON", std::string("true"));
      ctx.respond(std::move(resp));
      wake(qid);
    };
    server->register_handler(request_code::kSendMessageV2, on_send);
    server->register_handler(request_code::kSendBatchMessage, on_send);
    server->register_handler(request_code::kHeartBeat, [this](const RequestContext& ctx, RemotingCommand& req) {
      ++heartbeats;
      amnesia = false;
      last_heartbeat = req.body;
      ctx.respond_code(0);
    });
    server->register_handler(request_code::kUnregisterClient, [this](const RequestContext& ctx, RemotingCommand&) {
      ++unregisters;
      ctx.respond_code(0);
    });
    server->register_handler(request_code::kGetConsumerListByGroup, [this](const RequestContext& ctx, RemotingCommand&) {
      RemotingCommand resp;
      resp.body = nlohmann::json{{"consumerIdList", consumer_ids}}.dump();
      ctx.respond(std::move(resp));
    });
    server->register_handler(request_code::kQueryConsumerOffset, [this](const RequestContext& ctx, RemotingCommand& req) {
      auto it = committed.find(std::stoi(*req.ext_fields.find("queueId")));
      if (it == committed.end()) {
        ctx.respond_code(response_code::kQueryNotFound, "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first");
        return;
      }
      RemotingCommand resp;
      resp.ext_fields.set("offset", it->second);
      ctx.respond(std::move(resp));
    });
    server->register_handler(request_code::kGetMaxOffset, [](const RequestContext& ctx, RemotingCommand&) {
      RemotingCommand resp;
      resp.ext_fields.set("offset", int64_t{0});
      ctx.respond(std::move(resp));
    });
    server->register_handler(request_code::kUpdateConsumerOffset, [this](const RequestContext&, RemotingCommand& req) {
      HeaderReader h(req.ext_fields);
      committed[h.i32("queueId")] = h.i64("commitOffset");
    });
    server->register_handler(request_code::kPullMessage, [this](const RequestContext& ctx, RemotingCommand& req) {
      ++pulls;
      if (amnesia) {
        ctx.respond_code(response_code::kSubscriptionNotExist, "the consumer's subscription not exist");
        return;
      }
      HeaderReader h(req.ext_fields);
      if (h.i32("sysFlag") & pull_sysflag::kCommitOffset) pull_commits[h.i32("queueId")] = h.i64("commitOffset");
      if (!answer_pull(ctx, req, false)) parked_pulls.emplace_back(ctx, req);
    });
    auto port = server->start();
    REQUIRE(port.ok());
    addr = "127.0.0.1:" + std::to_string(*port);
  }

  // Answers when there is something (or when `final`); false = park it (long polling).
  bool answer_pull(const RequestContext& ctx, RemotingCommand& req, bool final) {
    HeaderReader h(req.ext_fields);
    int32_t qid = h.i32("queueId");
    int64_t off = h.i64("queueOffset");
    auto& q = queues[qid];
    RemotingCommand resp;
    resp.ext_fields.set("suggestWhichBrokerId", int64_t{0});
    resp.ext_fields.set("minOffset", int64_t{0});
    resp.ext_fields.set("maxOffset", static_cast<int64_t>(q.size()));
    if (off < static_cast<int64_t>(q.size())) {
      int64_t end = std::min<int64_t>(static_cast<int64_t>(q.size()), off + h.i32("maxMsgNums"));
      for (int64_t i = off; i < end; ++i) resp.body += q[static_cast<size_t>(i)];
      resp.code = 0;
      resp.remark = "FOUND";
      resp.ext_fields.set("nextBeginOffset", end);
      ctx.respond(std::move(resp));
      return true;
    }
    if (!final) return false;
    resp.code = response_code::kPullNotFound;
    resp.ext_fields.set("nextBeginOffset", off);
    ctx.respond(std::move(resp));
    return true;
  }

  void wake(int32_t qid) {
    auto parked = std::move(parked_pulls);
    parked_pulls.clear();
    for (auto& [ctx, req] : parked) {
      if (std::stoi(*req.ext_fields.find("queueId")) == qid)
        answer_pull(ctx, req, true);
      else
        parked_pulls.emplace_back(ctx, req);
    }
  }
};

struct World {
  EventLoop loop;
  std::unique_ptr<RemotingServer> namesrv;
  std::string namesrv_addr;
  std::unique_ptr<FakeBroker> a, b;
  int route_requests = 0;

  World() {
    a = std::make_unique<FakeBroker>(loop, "broker-a");
    b = std::make_unique<FakeBroker>(loop, "broker-b");
    namesrv = std::make_unique<RemotingServer>(loop, RemotingServerOptions{"127.0.0.1", 0}, Logger());
    namesrv->register_handler(request_code::kGetRouteinfoByTopic, [this](const RequestContext& ctx, RemotingCommand& req) {
      ++route_requests;
      std::string topic = *req.ext_fields.find("topic");
      if (topic != "T" && topic != "TBW102") {
        ctx.respond_code(response_code::kTopicNotExist, "No topic route info in name server for the topic: " + topic);
        return;
      }
      TopicRouteData r;
      r.queue_datas = {QueueData{"broker-a", 2, 2, topic == "TBW102" ? 7 : 6, 0},
                       QueueData{"broker-b", 2, 2, topic == "TBW102" ? 7 : 6, 0}};
      r.broker_datas = {BrokerData{"c", "broker-a", {{0, a->addr}}}, BrokerData{"c", "broker-b", {{0, b->addr}}}};
      RemotingCommand resp;
      resp.body = encode_route_body(r, true);
      ctx.respond(std::move(resp));
    });
    auto port = namesrv->start();
    REQUIRE(port.ok());
    namesrv_addr = "127.0.0.1:" + std::to_string(*port);
  }
  ~World() {
    a->parked_pulls.clear();
    b->parked_pulls.clear();
    a->swallowed.clear();
    b->swallowed.clear();
    a.reset();
    b.reset();
    namesrv.reset();
    loop.close_and_drain();
  }
  ProducerOptions producer_options() {
    ProducerOptions o;
    o.name_servers = "127.0.0.1:1;" + namesrv_addr;  // the first NameServer is dead: skipped
    o.group = "pg";
    o.client_ip = "127.0.0.1";
    return o;
  }
  ConsumerOptions consumer_options() {
    ConsumerOptions o;
    o.name_servers = namesrv_addr;
    o.group = "cg";
    o.client_ip = "127.0.0.1";
    o.consume_from_where = ConsumeFromWhere::kFirstOffset;
    o.persist_offset_interval_ms = 100;
    return o;
  }
  ClientOutcome<SendResult> send(Producer& p, Message m) {
    std::optional<ClientOutcome<SendResult>> out;
    p.send(std::move(m), [&](ClientOutcome<SendResult> r) { out.emplace(std::move(r)); });
    loop.run_until([&] { return out.has_value(); });
    REQUIRE(out.has_value());
    return std::move(*out);
  }
  void shutdown(Producer& p) {
    bool done = false;
    p.shutdown([&] { done = true; });
    loop.run_until([&] { return done; });
  }
  void shutdown(Consumer& c) {
    bool done = false;
    c.shutdown([&] { done = true; });
    loop.run_until([&] { return done; });
  }
};

Message msg(std::string body, std::string tags = "TagA") {
  Message m;
  m.topic = "T";
  m.body = std::move(body);
  m.tags = std::move(tags);
  m.keys = "k1 k2";
  m.user_properties = {{"color", "blue"}};
  return m;
}

}  // namespace

TEST_CASE("sends go round robin over both brokers; a failing broker is retried around") {
  World w;
  Producer p(w.loop, w.producer_options());
  p.start();
  for (int i = 0; i < 8; ++i) {
    auto r = w.send(p, msg("m" + std::to_string(i)));
    REQUIRE_MESSAGE(r.ok(), r.detail());
    CHECK(r->status == SendStatus::kSendOk);
    CHECK(r->msg_id.size() == 32);
    CHECK(r->offset_msg_id.size() == 32);
  }
  CHECK(w.a->sends.size() == 4);
  CHECK(w.b->sends.size() == 4);
  // The header as the broker saw it.
  auto& h = w.a->sends[0].ext_fields;
  CHECK(*h.find("a") == "pg");
  CHECK(*h.find("c") == "TBW102");
  CHECK(*h.find("d") == "4");
  CHECK(*h.find("m") == "false");
  auto props = *h.find("i");
  CHECK(find_property(props, "TAGS") == "TagA");
  CHECK(find_property(props, "KEYS") == "k1 k2");
  CHECK(find_property(props, "color") == "blue");
  CHECK(find_property(props, "UNIQ_KEY").has_value());

  w.a->fail_sends = true;
  for (int i = 0; i < 6; ++i) {
    auto r = w.send(p, msg("after"));
    REQUIRE_MESSAGE(r.ok(), r.detail());
    CHECK(r->queue.broker_name == "broker-b");
  }
  CHECK(w.a->send_requests > 4);  // it was tried, failed, and the retry went to b
  w.b->fail_sends = true;
  auto r = w.send(p, msg("doomed"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.code().kind == ClientFailure::kBroker);
  CHECK(r.code().response_code == response_code::kSystemError);
  w.shutdown(p);
  CHECK(w.a->unregisters == 1);
  CHECK(w.b->unregisters == 1);
}

TEST_CASE("a send that gets no answer ends with kTimeout within its budget") {
  World w;
  auto o = w.producer_options();
  o.send_timeout_ms = 300;
  Producer p(w.loop, o);
  p.start();
  w.a->swallow_sends = true;
  w.b->swallow_sends = true;
  auto t0 = w.loop.now_ms();
  auto r = w.send(p, msg("x"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.code().kind == ClientFailure::kTimeout);
  CHECK(w.loop.now_ms() - t0 < 2000);
  CHECK(w.a->send_requests + w.b->send_requests == 1);  // the budget was spent on the first try
}

TEST_CASE("bad messages are refused before anything is sent; callbacks never run inside send()") {
  World w;
  Producer p(w.loop, w.producer_options());
  p.start();
  bool called = false;
  Message bad = msg("");
  p.send(bad, [&](ClientOutcome<SendResult> r) {
    called = true;
    CHECK(r.code().kind == ClientFailure::kBadArgument);
  });
  CHECK_FALSE(called);
  w.loop.run_until([&] { return called; });
  Message m = msg("x");
  m.topic = "bad topic";
  CHECK(w.send(p, m).code().kind == ClientFailure::kBadArgument);
  m.topic = "TBW102";
  CHECK(w.send(p, m).code().kind == ClientFailure::kBadArgument);
  CHECK(w.a->send_requests + w.b->send_requests == 0);
}

TEST_CASE("large bodies travel compressed with sysFlag 769; batches travel as code 320") {
  World w;
  Producer p(w.loop, w.producer_options());
  p.start();
  std::string big(5000, 'z');
  auto r = w.send(p, msg(big));
  REQUIRE(r.ok());
  auto& sent = (r->queue.broker_name == "broker-a" ? w.a : w.b)->sends.back();
  CHECK(*sent.ext_fields.find("f") == "769");
  CHECK(sent.body.size() < 200);
  CHECK(*zlib_inflate(sent.body, 1 << 20) == big);

  std::vector<Message> batch;
  for (int i = 0; i < 3; ++i) batch.push_back(msg("b" + std::to_string(i), "TagB"));
  std::optional<ClientOutcome<SendResult>> out;
  p.send_batch(batch, [&](ClientOutcome<SendResult> res) { out.emplace(std::move(res)); });
  w.loop.run_until([&] { return out.has_value(); });
  REQUIRE(out->ok());
  CHECK(std::count((*out)->msg_id.begin(), (*out)->msg_id.end(), ',') == 2);
  auto& bs = ((*out)->queue.broker_name == "broker-a" ? w.a : w.b)->sends.back();
  CHECK(bs.code == request_code::kSendBatchMessage);
  CHECK(*bs.ext_fields.find("m") == "true");
  CHECK(*bs.ext_fields.find("f") == "0");
  auto items = decode_batch(bs.body);
  REQUIRE(items.ok());
  CHECK(items->size() == 3);
}

TEST_CASE("consumer: heartbeat, rebalance, long polling wakes on a send, tags filter, offsets commit") {
  World w;
  Producer p(w.loop, w.producer_options());
  p.start();
  Consumer c(w.loop, w.consumer_options());
  c.subscribe("T", "TagA || TagC");
  std::vector<ReceivedMessage> got;
  c.set_handler([&](const ConsumedMessage& m) { got.push_back(to_received(m)); });
  w.a->consumer_ids = {c.client_id()};
  w.b->consumer_ids = {c.client_id()};
  c.start();
  w.loop.run_until([&] { return c.rebalance_rounds() > 0 && w.a->parked_pulls.size() + w.b->parked_pulls.size() == 4; });
  CHECK(c.owned_queues().size() == 4);
  CHECK(w.a->heartbeats + w.b->heartbeats >= 2);
  auto hb = nlohmann::json::parse(w.a->last_heartbeat);
  CHECK(hb["consumerDataSet"][0]["groupName"] == "cg");
  CHECK(hb["consumerDataSet"][0]["subscriptionDataSet"].size() == 2);  // T and %RETRY%cg

  // Parked pulls are answered when messages arrive.
  REQUIRE(w.send(p, msg("one", "TagA")).ok());
  REQUIRE(w.send(p, msg("two", "TagB")).ok());  // filtered out by the client
  REQUIRE(w.send(p, msg(std::string(6000, 'q'), "TagC")).ok());
  w.loop.run_until([&] { return got.size() == 2; });
  REQUIRE(got.size() == 2);
  std::map<std::string, ReceivedMessage> by_body;
  for (auto& m : got) by_body[m.body] = m;
  REQUIRE(by_body.contains("one"));
  REQUIRE(by_body.contains(std::string(6000, 'q')));  // inflated again
  auto& one = by_body["one"];
  CHECK(one.topic == "T");
  CHECK(one.tags == "TagA");
  CHECK(one.keys == "k1 k2");
  CHECK(one.property("color") == "blue");
  CHECK(one.msg_id.size() == 32);
  CHECK(one.offset_msg_id.size() == 32);
  CHECK(one.msg_id != one.offset_msg_id);

  // Offsets: committed by the periodic oneway update (every 100 ms here).
  w.loop.run_until([&] { return w.a->committed.size() + w.b->committed.size() >= 4; });
  int64_t total = 0;
  for (auto& [q, off] : w.a->committed) total += off;
  for (auto& [q, off] : w.b->committed) total += off;
  CHECK(total == 3);  // every message, delivered or filtered, is behind the committed offsets

  // A second member joins: the broker notifies, we rebalance down to half the queues.
  w.a->consumer_ids = {c.client_id(), "zzz@other"};
  w.b->consumer_ids = {c.client_id(), "zzz@other"};
  uint64_t rounds = c.rebalance_rounds();
  for (auto& [ctx, req] : w.a->parked_pulls) {
    RemotingCommand notify = RemotingCommand::request(request_code::kNotifyConsumerIdsChanged);
    notify.ext_fields.set("consumerGroup", std::string("cg"));
    auto conn = ctx.connection();
    REQUIRE(conn);
    w.a->server->send_oneway(*conn, notify);
    break;
  }
  w.loop.run_until([&] { return c.rebalance_rounds() > rounds; });
  CHECK(c.owned_queues().size() == 2);

  w.shutdown(c);
  w.shutdown(p);
  CHECK(w.a->unregisters >= 1);
}

TEST_CASE("committed offsets keep a later member of the group from getting messages again") {
  World w;
  Producer p(w.loop, w.producer_options());
  p.start();
  for (int i = 0; i < 6; ++i) REQUIRE(w.send(p, msg("old" + std::to_string(i))).ok());
  auto first = std::make_unique<Consumer>(w.loop, w.consumer_options());
  first->subscribe("T");
  int got_first = 0;
  first->set_handler([&](const ConsumedMessage&) { ++got_first; });
  w.a->consumer_ids = w.b->consumer_ids = {first->client_id()};
  first->start();
  w.loop.run_until([&] { return got_first == 6; });
  w.shutdown(*first);  // commits (oneway) before UNREGISTER_CLIENT
  first.reset();
  int64_t committed = 0;
  for (auto& [q, off] : w.a->committed) committed += off;
  for (auto& [q, off] : w.b->committed) committed += off;
  CHECK(committed == 6);

  Consumer second(w.loop, w.consumer_options());  // CONSUME_FROM_FIRST_OFFSET, but offsets exist
  second.subscribe("T");
  std::vector<std::string> bodies;
  second.set_handler([&](const ConsumedMessage& m) { bodies.emplace_back(m.body); });
  w.a->consumer_ids = w.b->consumer_ids = {second.client_id()};
  second.start();
  w.loop.run_until([&] { return w.a->parked_pulls.size() + w.b->parked_pulls.size() == 4; });
  REQUIRE(w.send(p, msg("new")).ok());
  w.loop.run_until([&] { return !bodies.empty(); });
  CHECK(bodies == std::vector<std::string>{"new"});
  w.shutdown(second);
  w.shutdown(p);
}

TEST_CASE("a broker that forgot our subscription gets a heartbeat at once, and pulls resume") {
  World w;
  Producer p(w.loop, w.producer_options());
  p.start();
  auto o = w.consumer_options();
  o.pull_delay_on_error_ms = 20;
  Consumer c(w.loop, o);
  c.subscribe("T");
  int got = 0;
  c.set_handler([&](const ConsumedMessage&) { ++got; });
  w.a->consumer_ids = w.b->consumer_ids = {c.client_id()};
  c.start();
  w.loop.run_until([&] { return w.a->parked_pulls.size() + w.b->parked_pulls.size() == 4; });
  // Broker a "restarts": it answers the parked pulls and forgets every subscription.
  int heartbeats = w.a->heartbeats;
  w.a->amnesia = true;
  for (auto& [ctx, req] : w.a->parked_pulls) w.a->answer_pull(ctx, req, true);
  w.a->parked_pulls.clear();
  w.loop.run_until([&] { return !w.a->amnesia; });
  CHECK(w.a->heartbeats == heartbeats + 1);  // long before the 30 s timer
  w.loop.run_until([&] { return w.a->parked_pulls.size() == 2; });
  for (int i = 0; i < 4; ++i) REQUIRE(w.send(p, msg("after restart")).ok());
  w.loop.run_until([&] { return got == 4; });
  w.shutdown(c);
  w.shutdown(p);
}

TEST_CASE("blocking wrappers drive a private loop") {
  // The fake world runs on its own thread's loop; the blocking clients run theirs here.
  std::unique_ptr<World> w;
  std::atomic<bool> ready{false}, stop{false};
  std::string ns;
  std::thread t([&] {
    w = std::make_unique<World>();
    ns = w->namesrv_addr;
    w->a->consumer_ids = {"127.0.0.1@1"};
    w->b->consumer_ids = {"127.0.0.1@1"};
    ready = true;
    {
      Timer tick(w->loop);
      tick.start(5, 5, [&] {
        if (stop) w->loop.stop();
      });
      w->loop.run();
    }
    w.reset();
  });
  while (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  {
    ProducerOptions po;
    po.name_servers = ns;
    po.client_ip = "127.0.0.1";
    BlockingProducer p(po);
    auto r = p.send(msg("blocking"));
    REQUIRE_MESSAGE(r.ok(), r.detail());
    ConsumerOptions co;
    co.name_servers = ns;
    co.group = "cg";
    co.client_ip = "127.0.0.1";
    co.instance_name = "1";
    co.consume_from_where = ConsumeFromWhere::kFirstOffset;
    BlockingConsumer c(co);
    c.subscribe("T");
    CHECK(c.start(5000));
    auto got = c.poll(1, 5000);
    REQUIRE(got.size() == 1);
    CHECK(got[0].body == "blocking");
    CHECK(got[0].msg_id == r->msg_id);
  }
  stop = true;
  t.join();
}

TEST_CASE("a shared producer serves many sending threads over one connection per broker") {
  // The fake world runs on its own thread; eight threads send through one SharedProducer at once.
  std::unique_ptr<World> w;
  std::atomic<bool> ready{false}, stop{false};
  std::string ns;
  std::atomic<int> sends_seen{0}, unregisters_seen{0};
  std::thread t([&] {
    w = std::make_unique<World>();
    ns = w->namesrv_addr;
    ready = true;
    {
      Timer tick(w->loop);
      tick.start(5, 5, [&] {
        if (stop) w->loop.stop();
      });
      w->loop.run();
    }
    sends_seen = w->a->send_requests + w->b->send_requests;
    unregisters_seen = w->a->unregisters + w->b->unregisters;
    w.reset();
  });
  while (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  constexpr int kThreads = 8;
  constexpr int kPerThread = 25;
  std::vector<std::vector<std::string>> ids(kThreads);
  std::atomic<int> failures{0};
  std::string client_id;
  {
    ProducerOptions po;
    po.name_servers = ns;
    po.client_ip = "127.0.0.1";
    po.group = "pg";
    SharedProducer p(po);
    client_id = p.client_id();
    std::vector<std::thread> senders;
    for (int s = 0; s < kThreads; ++s)
      senders.emplace_back([&, s] {
        for (int i = 0; i < kPerThread; ++i) {
          auto r = p.send(msg("t" + std::to_string(s) + "-" + std::to_string(i)));
          if (!r.ok()) {
            ++failures;
            continue;
          }
          ids[static_cast<size_t>(s)].push_back(r->msg_id);
        }
      });
    for (auto& s : senders) s.join();
    // All eight threads went over one connection to each broker (the loop of the world reads it).
    std::atomic<int> conns_a{-1}, conns_b{-1};
    w->loop.post([&] {
      conns_a = static_cast<int>(w->a->server->connection_count());
      conns_b = static_cast<int>(w->b->server->connection_count());
    });
    while (conns_a < 0 || conns_b < 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    CHECK(conns_a == 1);
    CHECK(conns_b == 1);
    std::vector<Message> batch = {msg("b1"), msg("b2")};
    auto r = p.send_batch(std::move(batch));
    CHECK_MESSAGE(r.ok(), r.detail());
  }  // destruction says goodbye to both brokers
  stop = true;
  t.join();
  CHECK(failures == 0);
  CHECK(sends_seen == kThreads * kPerThread + 1);
  CHECK(unregisters_seen == 2);
  std::set<std::string> distinct;
  for (auto& v : ids) distinct.insert(v.begin(), v.end());
  CHECK(distinct.size() == static_cast<size_t>(kThreads * kPerThread));
  CHECK(client_id.starts_with("127.0.0.1@"));
}
