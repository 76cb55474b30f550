// Producer and consumer against an in-process fake NameServer and two fake brokers (remoting
// servers on loopback, all on one loop; tests/client/fake_broker.h): retries on the other broker,
// time budgets, compression on the wire, long polling, rebalance on NOTIFY_CONSUMER_IDS_CHANGED and
// offset commits.
#include <doctest/doctest.h>

#include <atomic>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "client/shared_producer.h"
#include "tests/client/fake_broker.h"

using namespace mq;
using namespace mq::test;

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
