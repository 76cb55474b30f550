// RocketMQ 4.9 message semantics of the client, against the fake NameServer and brokers: consuming
// later (CONSUMER_SEND_MSG_BACK and its fallback to %RETRY%<group>), retry-topic messages shown
// with their original topic, orderly consumption under broker locks with local retries,
// transactional sends (half message, END_TRANSACTION, CHECK_TRANSACTION_STATE) and
// RESET_CONSUMER_CLIENT_OFFSET. Pure pieces (headers, bodies, property rewriting) first.
#include <doctest/doctest.h>

#include <atomic>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "client/transaction_producer.h"
#include "tests/client/fake_broker.h"

using namespace mq;
using namespace mq::test;

namespace {

std::string props(const PropertyList& l) { return encode_properties(l); }

// A stored record decoded into a ConsumedMessage (views into `record` and `scratch`).
ConsumedMessage consumed(const std::string& record, std::string& scratch, std::string_view broker = "broker-a") {
  auto r = decode_record(record);
  REQUIRE(r.ok());
  ConsumedMessage m;
  REQUIRE(to_consumed_message(*r, broker, m, scratch).ok());
  return m;
}

std::string field(const RemotingCommand& c, std::string_view key) {
  const std::string* v = c.ext_fields.find(key);
  return v ? *v : std::string("<absent>");
}

struct Delivery {
  std::string body;
  std::string topic;
  std::string queue_topic;
  std::string broker_name;
  int32_t queue_id = 0;
  int64_t queue_offset = 0;
  int32_t reconsume_times = 0;
};

Delivery delivery(const ConsumedMessage& m) {
  return Delivery{std::string(m.body), std::string(m.topic), std::string(m.queue_topic), std::string(m.broker_name),
                  m.queue_id, m.queue_offset, m.reconsume_times};
}

int64_t commit_log_offset_of(const SendResult& r) {
  auto id = decode_offset_msg_id(r.offset_msg_id);
  REQUIRE(id.ok());
  return id->commit_log_offset;
}

FakeBroker& broker_of(World& w, const std::string& name) { return name == "broker-a" ? *w.a : *w.b; }

}  // namespace

// --- Pure pieces -----------------------------------------------------------------------------

TEST_CASE("rewrite_properties replaces in place, appends new names, drops removed ones") {
  std::string p = props({{"A", "1"}, {"TRAN_MSG", "true"}, {"B", "2"}, {"A", "3"}});
  std::string out = rewrite_properties(p, {{"A", "9"}, {"C", "7"}}, {"TRAN_MSG"});
  auto list = decode_properties(out);
  REQUIRE(list.size() == 3);
  CHECK(list[0] == std::pair<std::string_view, std::string_view>{"A", "9"});
  CHECK(list[1] == std::pair<std::string_view, std::string_view>{"B", "2"});
  CHECK(list[2] == std::pair<std::string_view, std::string_view>{"C", "7"});
}

TEST_CASE("send-back header and the fallback retry message, as Java's push consumer builds them") {
  World w;  // only for a store host
  w.a->put("%RETRY%cg", 0, "payload",
           props({{"TAGS", "TagA"}, {"UNIQ_KEY", "U1"}, {"RETRY_TOPIC", "T"}, {"TRAN_MSG", "true"}, {"WAIT", "false"}}),
           /*flag=*/5, 0, 1'700'000'000'000, /*reconsume_times=*/2);
  std::string scratch;
  ConsumedMessage m = consumed(w.a->queues[{"%RETRY%cg", 0}][0], scratch);
  CHECK(m.topic == "%RETRY%cg");
  reset_retry_topic(m, "other");  // only the group's own retry topic is reset
  CHECK(m.topic == "%RETRY%cg");
  reset_retry_topic(m, "cg");
  CHECK(m.topic == "T");
  CHECK(m.queue_topic == "%RETRY%cg");
  CHECK(m.reconsume_times == 2);

  auto h = send_msg_back_header(m, "cg", 16);
  RemotingCommand req = make_send_msg_back_request(h);
  CHECK(req.code == 36);
  CHECK(field(req, "offset") == std::to_string(m.commit_log_offset));
  CHECK(field(req, "group") == "cg");
  CHECK(field(req, "delayLevel") == "0");
  CHECK(field(req, "originMsgId") == "U1");
  CHECK(field(req, "originTopic") == "T");
  CHECK(field(req, "unitMode") == "false");
  CHECK(field(req, "maxReconsumeTimes") == "16");
  std::vector<std::string> order;
  for (auto& [k, v] : req.ext_fields.entries()) order.push_back(k);
  CHECK(order == std::vector<std::string>{"offset", "group", "delayLevel", "originMsgId", "originTopic", "unitMode",
                                          "maxReconsumeTimes"});

  RawMessage r = retry_resend_message(m, "cg", m.reconsume_times + 1, 16);
  CHECK(r.topic == "%RETRY%cg");
  CHECK(r.body == "payload");
  CHECK(r.flag == 5);
  CHECK(r.reconsume_times == 3);
  CHECK(r.max_reconsume_times == 16);
  CHECK(find_property(r.properties, "RETRY_TOPIC") == "T");
  CHECK(find_property(r.properties, "RECONSUME_TIME") == "3");
  CHECK(find_property(r.properties, "MAX_RECONSUME_TIMES") == "16");
  CHECK(find_property(r.properties, "DELAY") == "5");  // 3 + the reconsume count it was consumed with
  CHECK(find_property(r.properties, "ORIGIN_MESSAGE_ID") == "U1");
  CHECK(find_property(r.properties, "UNIQ_KEY") == "U1");  // keeps its msgId
  CHECK(find_property(r.properties, "TAGS") == "TagA");
  CHECK(find_property(r.properties, "WAIT") == "false");
  CHECK_FALSE(find_property(r.properties, "TRAN_MSG").has_value());
}

TEST_CASE("lock bodies, lock answers and reset-offset bodies") {
  std::vector<MessageQueue> mqs = {{"T", "broker-a", 0}, {"T", "broker-a", 1}};
  auto body = nlohmann::json::parse(encode_lock_batch_body("cg", "127.0.0.1@x", mqs));
  CHECK(body["consumerGroup"] == "cg");
  CHECK(body["clientId"] == "127.0.0.1@x");
  REQUIRE(body["mqSet"].size() == 2);
  CHECK(body["mqSet"][1] == nlohmann::json{{"brokerName", "broker-a"}, {"queueId", 1}, {"topic", "T"}});

  auto ok = parse_lock_batch_response(R"({"lockOKMQSet":[{"topic":"T","brokerName":"broker-a","queueId":1}]})");
  REQUIRE(ok.ok());
  REQUIRE(ok->size() == 1);
  CHECK((*ok)[0] == MessageQueue{"T", "broker-a", 1});
  CHECK(parse_lock_batch_response("{}")->empty());
  CHECK_FALSE(parse_lock_batch_response("").ok());
  CHECK_FALSE(parse_lock_batch_response(R"({"lockOKMQSet":[{"topic":"T"}]})").ok());

  // fastjson writes MessageQueue map keys as objects.
  auto reset = parse_reset_offset_body(
      R"({"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"T"}:12,{"brokerName":"broker-b","queueId":3,"topic":"T"}:"7"}})");
  REQUIRE_MESSAGE(reset.ok(), reset.detail());
  std::map<MessageQueue, int64_t> table(reset->begin(), reset->end());
  CHECK(table.size() == 2);
  CHECK(table[MessageQueue{"T", "broker-a", 0}] == 12);
  CHECK(table[MessageQueue{"T", "broker-b", 3}] == 7);
  CHECK_FALSE(parse_reset_offset_body(R"({"offsetTable":{"nope":1}})").ok());
  // ResetOffsetBodyForC.
  auto list = parse_reset_offset_body(
      R"({"offsetTable":[{"brokerName":"broker-a","offset":5,"queueId":1,"topic":"T"}]})");
  REQUIRE_MESSAGE(list.ok(), list.detail());
  REQUIRE(list->size() == 1);
  CHECK((*list)[0].first == MessageQueue{"T", "broker-a", 1});
  CHECK((*list)[0].second == 5);
  CHECK_FALSE(parse_reset_offset_body(R"({"offsetTable":[{"brokerName":"broker-a","queueId":1,"topic":"T"}]})").ok());
}

TEST_CASE("END_TRANSACTION header fields and states") {
  CHECK(commit_or_rollback_of(LocalTransactionState::kCommit) == 8);
  CHECK(commit_or_rollback_of(LocalTransactionState::kRollback) == 12);
  CHECK(commit_or_rollback_of(LocalTransactionState::kUnknown) == 0);
  CHECK(std::string(local_transaction_state_name(LocalTransactionState::kUnknown)) == "UNKNOW");
  EndTransactionRequestHeader h;
  h.producer_group = "pg";
  h.tran_state_table_offset = 4;
  h.commit_log_offset = 1234;
  h.commit_or_rollback = 12;
  h.msg_id = "U";
  RemotingCommand req = make_end_transaction_request(h, std::string("why"));
  CHECK(req.code == 37);
  CHECK(field(req, "producerGroup") == "pg");
  CHECK(field(req, "tranStateTableOffset") == "4");
  CHECK(field(req, "commitLogOffset") == "1234");
  CHECK(field(req, "commitOrRollback") == "12");
  CHECK(field(req, "fromTransactionCheck") == "false");
  CHECK(field(req, "msgId") == "U");
  CHECK(field(req, "transactionId") == "<absent>");
  CHECK(req.remark == "why");

  RemotingCommand check = RemotingCommand::request(39);
  check.ext_fields.set("tranStateTableOffset", int64_t{3});
  check.ext_fields.set("commitLogOffset", int64_t{99});
  check.ext_fields.set("transactionId", std::string("X"));
  auto ch = parse_check_transaction_state_header(check);
  REQUIRE(ch.ok());
  CHECK(ch->tran_state_table_offset == 3);
  CHECK(ch->commit_log_offset == 99);
  CHECK(ch->transaction_id == "X");
  CHECK_FALSE(parse_check_transaction_state_header(RemotingCommand::request(39)).ok());
}

// --- Concurrent consumer: consuming later ----------------------------------------------------

TEST_CASE("reconsume-later goes back with CONSUMER_SEND_MSG_BACK; the offset waits for the answer") {
  World w;
  Producer p(w.loop, w.producer_options());
  p.start();
  auto bad = w.send(p, msg("bad"));
  REQUIRE(bad.ok());
  auto good = w.send(p, msg("good"));
  REQUIRE(good.ok());
  FakeBroker& home = broker_of(w, bad->queue.broker_name);
  home.hold_send_backs = true;

  Consumer c(w.loop, w.consumer_options());
  c.subscribe("T");
  std::vector<Delivery> got;
  c.set_listener([&](const ConsumedMessage& m) {
    got.push_back(delivery(m));
    return m.body == "bad" ? ConsumeStatus::kReconsumeLater : ConsumeStatus::kConsumeSuccess;
  });
  w.a->consumer_ids = w.b->consumer_ids = {c.client_id()};
  c.start();
  REQUIRE(w.run_until([&] { return got.size() == 2 && home.held_send_backs.size() == 1; }));

  RemotingCommand& sb = home.send_backs.at(0);
  CHECK(field(sb, "offset") == std::to_string(commit_log_offset_of(*bad)));
  CHECK(field(sb, "group") == "cg");
  CHECK(field(sb, "delayLevel") == "0");
  CHECK(field(sb, "originMsgId") == bad->msg_id);
  CHECK(field(sb, "originTopic") == "T");
  CHECK(field(sb, "unitMode") == "false");
  CHECK(field(sb, "maxReconsumeTimes") == "16");
  // Not consumed yet: the queue's offset stays at the message until the broker took it.
  w.run_for(150);
  CHECK(c.offset_of(bad->queue) == bad->queue_offset);
  CHECK(c.offset_of(good->queue) == good->queue_offset + 1);

  home.held_send_backs.at(0).respond_code(0);
  REQUIRE(w.run_until([&] { return c.offset_of(bad->queue) == bad->queue_offset + 1; }));
  REQUIRE(w.run_until([&] { return home.committed[{"T", bad->queue.queue_id}] == bad->queue_offset + 1; }));
  CHECK(c.sent_back() == 1);
  CHECK(c.resent_to_retry_topic() == 0);
  CHECK(got.size() == 2);  // delivered once; the broker's retry topic has it now
  w.shutdown(c);
  w.shutdown(p);
}

TEST_CASE("a failed send-back is sent to %RETRY%group by the consumer, and comes back with its topic") {
  World w;
  w.extra_topics["%RETRY%cg"] = 1;  // the consumer pulls the retry topic too
  Producer p(w.loop, w.producer_options());
  p.start();
  auto sent = w.send(p, msg("flaky"));
  REQUIRE(sent.ok());
  w.a->fail_send_backs = w.b->fail_send_backs = true;

  auto o = w.consumer_options();
  Consumer c(w.loop, o);
  c.subscribe("T");
  std::vector<Delivery> got;
  c.set_listener([&](const ConsumedMessage& m) {
    got.push_back(delivery(m));
    return got.size() == 1 ? ConsumeStatus::kReconsumeLater : ConsumeStatus::kConsumeSuccess;
  });
  w.a->consumer_ids = w.b->consumer_ids = {c.client_id()};
  c.start();
  REQUIRE(w.run_until([&] { return got.size() == 2; }));
  CHECK(w.a->send_backs.size() + w.b->send_backs.size() == 1);
  CHECK(c.sent_back() == 0);
  CHECK(c.resent_to_retry_topic() == 1);

  // What the consumer's own producer sent.
  const RemotingCommand* resend = nullptr;
  for (FakeBroker* fb : {w.a.get(), w.b.get()})
    for (auto& s : fb->sends)
      if (field(s, "b") == "%RETRY%cg") resend = &s;
  REQUIRE(resend != nullptr);
  CHECK(field(*resend, "a") == "CLIENT_INNER_PRODUCER");
  CHECK(field(*resend, "j") == "1");
  CHECK(field(*resend, "l") == "16");
  CHECK(resend->body == "flaky");
  std::string rp = field(*resend, "i");
  CHECK(find_property(rp, "RETRY_TOPIC") == "T");
  CHECK(find_property(rp, "RECONSUME_TIME") == "1");
  CHECK(find_property(rp, "MAX_RECONSUME_TIMES") == "16");
  CHECK(find_property(rp, "DELAY") == "3");
  CHECK(find_property(rp, "ORIGIN_MESSAGE_ID") == sent->msg_id);
  CHECK(find_property(rp, "UNIQ_KEY") == sent->msg_id);
  CHECK(find_property(rp, "TAGS") == "TagA");
  CHECK(find_property(rp, "color") == "blue");

  // The retry came back from %RETRY%cg, shown as a message of T, consumed once before.
  CHECK(got[0].topic == "T");
  CHECK(got[0].reconsume_times == 0);
  CHECK(got[1].body == "flaky");
  CHECK(got[1].topic == "T");
  CHECK(got[1].queue_topic == "%RETRY%cg");
  CHECK(got[1].reconsume_times == 1);
  // The original queue moved past the message once the resend was stored.
  REQUIRE(w.run_until([&] { return c.offset_of(sent->queue) == sent->queue_offset + 1; }));
  w.shutdown(c);
  w.shutdown(p);
}

TEST_CASE("when nobody takes a message back, it is consumed here again later") {
  World w;
  Producer p(w.loop, w.producer_options());
  p.start();
  auto sent = w.send(p, msg("stuck"));
  REQUIRE(sent.ok());
  for (FakeBroker* fb : {w.a.get(), w.b.get()}) fb->fail_send_backs = fb->fail_sends = true;
  auto o = w.consumer_options();
  o.consume_retry_later_ms = 50;
  Consumer c(w.loop, o);
  c.subscribe("T");
  std::vector<Delivery> got;
  c.set_listener([&](const ConsumedMessage& m) {
    got.push_back(delivery(m));
    return got.size() < 3 ? ConsumeStatus::kReconsumeLater : ConsumeStatus::kConsumeSuccess;
  });
  w.a->consumer_ids = w.b->consumer_ids = {c.client_id()};
  c.start();
  REQUIRE(w.run_until([&] { return got.size() == 3; }));
  CHECK(got[0].reconsume_times == 0);
  CHECK(got[1].reconsume_times == 1);  // Java counts the failed hand-back as a consumption
  CHECK(got[2].reconsume_times == 2);
  CHECK(got[2].topic == "T");
  CHECK(w.a->send_backs.size() + w.b->send_backs.size() == 2);
  REQUIRE(w.run_until([&] { return c.offset_of(sent->queue) == sent->queue_offset + 1; }));
  w.shutdown(c);
  w.shutdown(p);
}

TEST_CASE("a retry-topic message is shown with its original topic and sent back with it; exceptions count as later") {
  World w;
  w.extra_topics["%RETRY%cg"] = 1;
  int64_t phys = w.a->put("%RETRY%cg", 0, "again",
                          props({{"TAGS", "TagZ"}, {"UNIQ_KEY", "0A0B0C"}, {"RETRY_TOPIC", "T"},
                                 {"ORIGIN_MESSAGE_ID", "0A0B0C"}}),
                          0, 0, 1'700'000'000'000, /*reconsume_times=*/2);
  Consumer c(w.loop, w.consumer_options());
  c.subscribe("T", "TagA");  // the retry topic is taken whole, whatever the tags
  std::vector<Delivery> got;
  c.set_listener([&](const ConsumedMessage& m) -> ConsumeStatus {
    got.push_back(delivery(m));
    throw std::runtime_error("listener bug");
  });
  w.a->consumer_ids = w.b->consumer_ids = {c.client_id()};
  c.start();
  REQUIRE(w.run_until([&] { return w.a->send_backs.size() == 1; }));
  REQUIRE(got.size() == 1);
  CHECK(got[0].topic == "T");
  CHECK(got[0].queue_topic == "%RETRY%cg");
  CHECK(got[0].broker_name == "broker-a");
  CHECK(got[0].reconsume_times == 2);
  auto& sb = w.a->send_backs[0];
  CHECK(field(sb, "offset") == std::to_string(phys));
  CHECK(field(sb, "originTopic") == "T");
  CHECK(field(sb, "originMsgId") == "0A0B0C");
  REQUIRE(w.run_until([&] { return c.offset_of(MessageQueue{"%RETRY%cg", "broker-a", 0}) == 1; }));
  w.shutdown(c);
}

// --- Orderly consumer ------------------------------------------------------------------------

TEST_CASE("orderly: queues are locked before they are pulled, unlocked queues are left alone, shutdown unlocks") {
  World w;
  for (int q = 0; q < 2; ++q)
    for (int i = 0; i < 2; ++i) {
      w.a->put("T", q, "a" + std::to_string(q) + "-" + std::to_string(i), props({{"TAGS", "TagA"}}));
      w.b->put("T", q, "b" + std::to_string(q) + "-" + std::to_string(i), props({{"TAGS", "TagA"}}));
    }
  w.b->refuse_locks = true;  // another member holds broker-b's queues
  auto o = w.consumer_options();
  o.orderly = true;
  o.rebalance_lock_interval_ms = 100;
  o.pull_delay_on_error_ms = 20;
  Consumer c(w.loop, o);
  c.subscribe("T");
  std::vector<Delivery> got;
  c.set_listener([&](const ConsumedMessage& m) {
    got.push_back(delivery(m));
    return ConsumeStatus::kConsumeSuccess;
  });
  w.a->consumer_ids = w.b->consumer_ids = {c.client_id()};
  c.start();
  REQUIRE(w.run_until([&] { return got.size() == 4; }));
  w.run_for(300);  // time for broker-b's queues to be (wrongly) read
  CHECK(got.size() == 4);
  for (auto& d : got) CHECK(d.broker_name == "broker-a");
  // In queue order within each queue.
  std::map<int32_t, std::vector<std::string>> per_queue;
  for (auto& d : got) per_queue[d.queue_id].push_back(d.body);
  CHECK(per_queue[0] == std::vector<std::string>{"a0-0", "a0-1"});
  CHECK(per_queue[1] == std::vector<std::string>{"a1-0", "a1-1"});

  CHECK(w.b->pulls == 0);
  auto first = [](const std::vector<std::string>& ev, std::string_view prefix) {
    for (size_t i = 0; i < ev.size(); ++i)
      if (ev[i].starts_with(prefix)) return static_cast<int64_t>(i);
    return int64_t{-1};
  };
  REQUIRE(first(w.a->events, "lock") >= 0);
  CHECK(first(w.a->events, "lock") < first(w.a->events, "pull T"));
  auto lock_body = nlohmann::json::parse(w.a->lock_requests.at(0).body);
  CHECK(lock_body["consumerGroup"] == "cg");
  CHECK(lock_body["clientId"] == c.client_id());
  CHECK(lock_body["mqSet"].size() == 2);
  CHECK(c.is_locked(MessageQueue{"T", "broker-a", 0}));
  CHECK_FALSE(c.is_locked(MessageQueue{"T", "broker-b", 0}));
  CHECK(c.owned_queues().size() == 4);
  CHECK(w.a->lock_requests.size() >= 3);  // renewed every rebalance_lock_interval_ms

  size_t unlocks_before = w.a->unlock_requests.size();
  CHECK(unlocks_before == 0);
  w.shutdown(c);
  REQUIRE(w.a->unlock_requests.size() == 1);
  auto unlock_body = nlohmann::json::parse(w.a->unlock_requests[0].body);
  CHECK(unlock_body["consumerGroup"] == "cg");
  CHECK(unlock_body["mqSet"].size() == 2);
  // Committed first, then unlocked.
  CHECK(w.a->events.back() == "unlock");
  CHECK(w.a->committed[{"T", 0}] == 2);
  CHECK(w.a->committed[{"T", 1}] == 2);
}

TEST_CASE("orderly: a lost lock stops delivery until it is granted again") {
  World w;
  auto o = w.consumer_options();
  o.orderly = true;
  o.rebalance_lock_interval_ms = 50;
  o.rebalance_lock_max_live_ms = 200;
  o.pull_delay_on_error_ms = 20;
  Consumer c(w.loop, o);
  c.subscribe("T");
  std::vector<Delivery> got;
  c.set_listener([&](const ConsumedMessage& m) {
    got.push_back(delivery(m));
    return ConsumeStatus::kConsumeSuccess;
  });
  w.a->consumer_ids = w.b->consumer_ids = {c.client_id()};
  c.start();
  MessageQueue a0{"T", "broker-a", 0};
  REQUIRE(w.run_until([&] { return w.a->parked_for("T") == 2 && w.b->parked_for("T") == 2; }));
  w.a->put("T", 0, "first", props({{"TAGS", "TagA"}}));
  REQUIRE(w.run_until([&] { return got.size() == 1; }));

  w.a->refuse_locks = true;  // someone else took broker-a's queues
  REQUIRE(w.run_until([&] { return !c.is_locked(a0); }));
  w.a->put("T", 0, "second", props({{"TAGS", "TagA"}}));  // answers the parked pull
  w.run_for(300);
  CHECK(got.size() == 1);  // held, not delivered without the lock
  CHECK(c.offset_of(a0) == 1);

  w.a->refuse_locks = false;
  REQUIRE(w.run_until([&] { return got.size() == 2; }));
  CHECK(got[1].body == "second");
  w.shutdown(c);
}

TEST_CASE("orderly: reconsume-later retries the same message locally, in place; the offset waits") {
  World w;
  for (int i = 0; i < 3; ++i) w.a->put("T", 0, "m" + std::to_string(i), props({{"TAGS", "TagA"}}));
  auto o = w.consumer_options();
  o.orderly = true;
  o.suspend_current_queue_ms = 100;
  Consumer c(w.loop, o);
  c.subscribe("T");
  std::vector<Delivery> got;
  int m1_failures = 0;
  c.set_listener([&](const ConsumedMessage& m) {
    got.push_back(delivery(m));
    if (m.body == "m1" && m1_failures < 2) {
      ++m1_failures;
      return ConsumeStatus::kReconsumeLater;
    }
    return ConsumeStatus::kConsumeSuccess;
  });
  w.a->consumer_ids = w.b->consumer_ids = {c.client_id()};
  c.start();
  MessageQueue a0{"T", "broker-a", 0};
  REQUIRE(w.run_until([&] { return got.size() == 2; }));
  CHECK(c.offset_of(a0) == 1);  // m1 is suspended: nothing past it counts
  REQUIRE(w.run_until([&] { return got.size() == 5; }));
  std::vector<std::pair<std::string, int32_t>> seen;
  for (auto& d : got) seen.emplace_back(d.body, d.reconsume_times);
  CHECK(seen == std::vector<std::pair<std::string, int32_t>>{{"m0", 0}, {"m1", 0}, {"m1", 1}, {"m1", 2}, {"m2", 0}});
  CHECK(c.offset_of(a0) == 3);
  CHECK(w.a->send_backs.empty());  // orderly retries stay local
  CHECK(c.resent_to_retry_topic() == 0);
  w.shutdown(c);
}

TEST_CASE("orderly: at max_reconsume_times the message goes to the retry topic for the DLQ, and the queue goes on") {
  World w;
  w.a->put("T", 0, "poison", props({{"TAGS", "TagA"}, {"UNIQ_KEY", "P1"}}));
  w.a->put("T", 0, "next", props({{"TAGS", "TagA"}}));
  auto o = w.consumer_options();
  o.orderly = true;
  o.suspend_current_queue_ms = 20;
  o.max_reconsume_times = 2;
  Consumer c(w.loop, o);
  c.subscribe("T");
  std::vector<Delivery> got;
  c.set_listener([&](const ConsumedMessage& m) {
    got.push_back(delivery(m));
    return m.body == "poison" ? ConsumeStatus::kReconsumeLater : ConsumeStatus::kConsumeSuccess;
  });
  w.a->consumer_ids = w.b->consumer_ids = {c.client_id()};
  c.start();
  REQUIRE(w.run_until([&] { return got.size() == 4; }));
  std::vector<std::pair<std::string, int32_t>> seen;
  for (auto& d : got) seen.emplace_back(d.body, d.reconsume_times);
  CHECK(seen == std::vector<std::pair<std::string, int32_t>>{{"poison", 0}, {"poison", 1}, {"poison", 2}, {"next", 0}});
  CHECK(c.resent_to_retry_topic() == 1);
  const RemotingCommand* resend = nullptr;
  for (FakeBroker* fb : {w.a.get(), w.b.get()})
    for (auto& s : fb->sends)
      if (field(s, "b") == "%RETRY%cg") resend = &s;
  REQUIRE(resend != nullptr);
  CHECK(field(*resend, "j") == "2");  // at the maximum: the broker dead-letters it
  CHECK(field(*resend, "l") == "2");
  std::string rp = field(*resend, "i");
  CHECK(find_property(rp, "RECONSUME_TIME") == "2");
  CHECK(find_property(rp, "DELAY") == "5");
  CHECK(find_property(rp, "RETRY_TOPIC") == "T");
  CHECK(find_property(rp, "UNIQ_KEY") == "P1");
  REQUIRE(w.run_until([&] { return c.offset_of(MessageQueue{"T", "broker-a", 0}) == 2; }));
  w.shutdown(c);
}

// --- Offsets reset by the broker -------------------------------------------------------------

TEST_CASE("RESET_CONSUMER_CLIENT_OFFSET moves owned queues and pulls start over from there") {
  World w;
  for (int i = 0; i < 3; ++i) w.a->put("T", 0, "r" + std::to_string(i), props({{"TAGS", "TagA"}}));
  Consumer c(w.loop, w.consumer_options());
  c.subscribe("T");
  std::vector<Delivery> got;
  c.set_listener([&](const ConsumedMessage& m) {
    got.push_back(delivery(m));
    return ConsumeStatus::kConsumeSuccess;
  });
  w.a->consumer_ids = w.b->consumer_ids = {c.client_id()};
  c.start();
  MessageQueue a0{"T", "broker-a", 0};
  REQUIRE(w.run_until([&] { return got.size() == 3 && w.a->parked_for("T") == 2; }));
  CHECK(c.offset_of(a0) == 3);

  auto reset = [&](const std::string& group, int64_t offset) {
    RemotingCommand req = RemotingCommand::request(220);
    req.ext_fields.set("topic", std::string("T"));
    req.ext_fields.set("group", group);
    req.ext_fields.set("timestamp", int64_t{0});
    req.ext_fields.set_bool("isForce", true);
    req.body = R"({"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"T"}:)" + std::to_string(offset) + "}}";
    w.a->send_to_client(std::move(req));
  };
  reset("someone-else", 0);  // not our group: ignored
  w.run_for(100);
  CHECK(got.size() == 3);

  reset("cg", 1);
  REQUIRE(w.run_until([&] { return got.size() == 5; }));
  CHECK(got[3].body == "r1");
  CHECK(got[4].body == "r2");
  bool pulled_from_one = false;
  for (auto& p : w.a->pull_requests)
    pulled_from_one |= field(p, "topic") == "T" && field(p, "queueId") == "0" && field(p, "queueOffset") == "1";
  CHECK(pulled_from_one);
  REQUIRE(w.run_until([&] { return c.offset_of(a0) == 3; }));
  w.run_for(150);
  CHECK(got.size() == 5);  // the parked pull of the old state delivered nothing twice
  w.shutdown(c);
}

// --- Transactional producer ------------------------------------------------------------------

TEST_CASE("transactions: half message, local transaction, END_TRANSACTION for commit, rollback and unknown") {
  World w;
  std::vector<std::string> executed;
  std::any seen_arg;
  TransactionProducer p(
      w.loop, w.producer_options(),
      [&](const Message& m, const SendResult& half, const std::any& arg) {
        executed.push_back(m.body);
        seen_arg = arg;
        CHECK(half.status == SendStatus::kSendOk);
        if (m.body == "commit") return LocalTransactionState::kCommit;
        if (m.body == "rollback") return LocalTransactionState::kRollback;
        if (m.body == "throw") throw std::runtime_error("db down");
        return LocalTransactionState::kUnknown;
      },
      [](const ConsumedMessage&) { return LocalTransactionState::kUnknown; });
  p.start();
  auto send = [&](std::string body) {
    std::optional<ClientOutcome<TransactionSendResult>> out;
    Message m = msg(std::move(body));
    m.delay_time_level = 3;  // ignored for half messages
    p.send_message_in_transaction(std::move(m), std::any(42),
                                  [&](ClientOutcome<TransactionSendResult> r) { out.emplace(std::move(r)); });
    w.loop.run_until([&] { return out.has_value(); });
    REQUIRE(out->ok());
    return **out;
  };
  struct Case {
    std::string body;
    LocalTransactionState state;
    std::string flag;
  };
  for (const Case& k : {Case{"commit", LocalTransactionState::kCommit, "8"},
                        Case{"rollback", LocalTransactionState::kRollback, "12"},
                        Case{"unknown", LocalTransactionState::kUnknown, "0"},
                        Case{"throw", LocalTransactionState::kUnknown, "0"}}) {
    CAPTURE(k.body);
    TransactionSendResult r = send(k.body);
    CHECK(r.local_transaction_state == k.state);
    CHECK(r.end_transaction_sent);
    FakeBroker& home = broker_of(w, r.send_result.queue.broker_name);
    const RemotingCommand& half = home.sends.back();
    CHECK((std::stoi(field(half, "f")) & 0x4) == 0x4);
    CHECK(find_property(field(half, "i"), "TRAN_MSG") == "true");
    CHECK(find_property(field(half, "i"), "PGROUP") == "pg");
    CHECK_FALSE(find_property(field(half, "i"), "DELAY").has_value());
    size_t before = home.end_transactions.size();
    REQUIRE(w.run_until([&] { return home.end_transactions.size() == before + 1; }));
    const RemotingCommand& end = home.end_transactions.back();
    CHECK(end.is_oneway());
    CHECK(field(end, "producerGroup") == "pg");
    CHECK(field(end, "tranStateTableOffset") == std::to_string(r.send_result.queue_offset));
    CHECK(field(end, "commitLogOffset") == std::to_string(commit_log_offset_of(r.send_result)));
    CHECK(field(end, "commitOrRollback") == k.flag);
    CHECK(field(end, "fromTransactionCheck") == "false");
    CHECK(field(end, "msgId") == r.send_result.msg_id);
    CHECK(field(end, "transactionId") == r.send_result.msg_id);  // the fake broker answers UNIQ_KEY
    if (k.body == "throw")
      CHECK(end.remark.value_or("").find("db down") != std::string::npos);
    else if (k.body == "unknown")
      CHECK(end.remark.has_value());
    else
      CHECK_FALSE(end.remark.has_value());
  }
  CHECK(executed == std::vector<std::string>{"commit", "rollback", "unknown", "throw"});
  CHECK(std::any_cast<int>(seen_arg) == 42);
  // The group's connections were announced right away (not after the 30 s heartbeat period).
  bool announced = false;
  for (auto& hb : w.a->heartbeat_bodies) {
    auto j = nlohmann::json::parse(hb);
    for (auto& pd : j["producerDataSet"]) announced |= pd["groupName"] == "pg";
  }
  CHECK(announced);
  bool done = false;
  p.shutdown([&] { done = true; });
  w.loop.run_until([&] { return done; });
}

TEST_CASE("transactions: CHECK_TRANSACTION_STATE is answered by the check-back on the same connection") {
  World w;
  std::vector<std::string> checked;
  LocalTransactionState answer = LocalTransactionState::kCommit;
  TransactionProducer p(
      w.loop, w.producer_options(),
      [](const Message&, const SendResult&, const std::any&) { return LocalTransactionState::kUnknown; },
      [&](const ConsumedMessage& half) {
        checked.push_back(std::string(half.body));
        CHECK(half.topic == "T");
        CHECK(half.property("PGROUP") == "pg");
        return answer;
      });
  p.start();
  std::optional<ClientOutcome<TransactionSendResult>> out;
  p.send_message_in_transaction(msg("pending"), {},
                                [&](ClientOutcome<TransactionSendResult> r) { out.emplace(std::move(r)); });
  w.loop.run_until([&] { return out.has_value(); });
  REQUIRE(out->ok());
  const SendResult& half = (*out)->send_result;
  FakeBroker& home = broker_of(w, half.queue.broker_name);
  REQUIRE(w.run_until([&] { return home.end_transactions.size() == 1; }));
  const std::string& record = home.queues[{"T", half.queue.queue_id}].at(static_cast<size_t>(half.queue_offset));

  auto check = [&](int64_t tran_offset, int64_t phys) {
    RemotingCommand req = RemotingCommand::request(39);
    req.ext_fields.set("tranStateTableOffset", tran_offset);
    req.ext_fields.set("commitLogOffset", phys);
    req.ext_fields.set("msgId", half.offset_msg_id);
    req.ext_fields.set("transactionId", std::string("TX-") + std::to_string(tran_offset));
    req.ext_fields.set("offsetMsgId", half.offset_msg_id);
    req.body = record;
    home.send_to_client(std::move(req));
  };
  check(77, commit_log_offset_of(half));
  REQUIRE(w.run_until([&] { return home.end_transactions.size() == 2; }));
  const RemotingCommand& end = home.end_transactions.back();
  CHECK(end.is_oneway());
  CHECK(field(end, "producerGroup") == "pg");
  CHECK(field(end, "tranStateTableOffset") == "77");
  CHECK(field(end, "commitLogOffset") == std::to_string(commit_log_offset_of(half)));
  CHECK(field(end, "commitOrRollback") == "8");
  CHECK(field(end, "fromTransactionCheck") == "true");
  CHECK(field(end, "msgId") == half.msg_id);  // the record's UNIQ_KEY
  CHECK(field(end, "transactionId") == "TX-77");
  CHECK(checked == std::vector<std::string>{"pending"});
  CHECK(p.checks_answered() == 1);

  answer = LocalTransactionState::kRollback;
  check(78, commit_log_offset_of(half));
  REQUIRE(w.run_until([&] { return home.end_transactions.size() == 3; }));
  CHECK(field(home.end_transactions.back(), "commitOrRollback") == "12");

  // A check for another producer group is not ours to answer.
  std::string other_record;
  {
    auto r = decode_record(record);
    REQUIRE(r.ok());
    std::string other_props = rewrite_properties(r->properties, {{"PGROUP", "other"}});
    MessageRecord copy = *r;
    copy.properties = other_props;
    REQUIRE(encode_record(copy, other_record).ok());
  }
  RemotingCommand foreign = RemotingCommand::request(39);
  foreign.ext_fields.set("tranStateTableOffset", int64_t{1});
  foreign.ext_fields.set("commitLogOffset", int64_t{1});
  foreign.body = other_record;
  home.send_to_client(std::move(foreign));
  w.run_for(150);
  CHECK(home.end_transactions.size() == 3);
  CHECK(p.checks_answered() == 2);
  bool done = false;
  p.shutdown([&] { done = true; });
  w.loop.run_until([&] { return done; });
}

// --- Blocking wrappers, as integration tests use them ----------------------------------------

TEST_CASE("blocking wrappers: a consumer that answers reconsume-later, a transactional producer") {
  std::unique_ptr<World> w;
  std::atomic<bool> ready{false}, stop{false};
  std::string ns;
  std::atomic<int> end_transactions{0}, send_backs{0};
  std::thread t([&] {
    w = std::make_unique<World>();
    ns = w->namesrv_addr;
    w->a->consumer_ids = w->b->consumer_ids = {"127.0.0.1@blocking"};
    ready = true;
    {
      Timer tick(w->loop);
      tick.start(5, 5, [&] {
        end_transactions = static_cast<int>(w->a->end_transactions.size() + w->b->end_transactions.size());
        send_backs = static_cast<int>(w->a->send_backs.size() + w->b->send_backs.size());
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
    po.group = "pg";
    BlockingTransactionProducer p(
        po, [](const Message&, const SendResult&, const std::any&) { return LocalTransactionState::kCommit; },
        [](const ConsumedMessage&) { return LocalTransactionState::kCommit; });
    auto r = p.send_message_in_transaction(msg("tx"));
    REQUIRE_MESSAGE(r.ok(), r.detail());
    CHECK(r->local_transaction_state == LocalTransactionState::kCommit);
    p.run_for(2000, [&] { return end_transactions.load() == 1; });
    CHECK(end_transactions == 1);

    ConsumerOptions co;
    co.name_servers = ns;
    co.group = "cg";
    co.client_ip = "127.0.0.1";
    co.instance_name = "blocking";
    co.consume_from_where = ConsumeFromWhere::kFirstOffset;
    BlockingConsumer c(co);
    c.subscribe("T");
    c.set_listener([](const ReceivedMessage& m) {
      return m.reconsume_times == 0 ? ConsumeStatus::kReconsumeLater : ConsumeStatus::kConsumeSuccess;
    });
    CHECK(c.start(5000));
    auto got = c.poll(1, 5000);
    REQUIRE(got.size() == 1);
    CHECK(got[0].body == "tx");  // the fake broker stores half messages as plain ones
    CHECK(got[0].reconsume_times == 0);
    c.poll(1, 300);
    CHECK(send_backs == 1);
  }
  stop = true;
  t.join();
}
