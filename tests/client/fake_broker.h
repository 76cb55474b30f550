// An in-process fake NameServer and two fake brokers (remoting servers on loopback, all on one
// loop) for the client tests: they store what producers send (per topic and queue), answer pulls
// with long polling, keep offsets, grant queue locks, take send-backs and transaction outcomes,
// and remember what they saw. Broker-initiated requests (CHECK_TRANSACTION_STATE,
// RESET_CONSUMER_CLIENT_OFFSET, NOTIFY_CONSUMER_IDS_CHANGED) go out on the last connection a client
// used.
#pragma once
#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/hash.h"
#include "client/consumer.h"
#include "client/producer.h"
#include "codec/codes.h"
#include "codec/fastjson.h"
#include "codec/header_reader.h"
#include "codec/route_data.h"
#include "remoting/server.h"

namespace mq::test {

using QueueKey = std::pair<std::string, int32_t>;  // topic, queueId

struct FakeBroker {
  std::string name;
  std::unique_ptr<RemotingServer> server;
  std::string addr;
  // Behaviour switches.
  bool fail_sends = false;
  bool swallow_sends = false;  // never answer
  bool amnesia = false;        // answer pulls SUBSCRIPTION_NOT_EXIST until the next heartbeat
  bool fail_send_backs = false;  // CONSUMER_SEND_MSG_BACK answers SYSTEM_ERROR
  bool hold_send_backs = false;  // CONSUMER_SEND_MSG_BACK waits in held_send_backs for an answer
  bool refuse_locks = false;     // LOCK_BATCH_MQ grants nothing
  // What it saw.
  int send_requests = 0;
  std::vector<RemotingCommand> sends;
  int heartbeats = 0;
  std::string last_heartbeat;
  std::vector<std::string> heartbeat_bodies;
  int unregisters = 0;
  std::map<QueueKey, int64_t> committed;     // UPDATE_CONSUMER_OFFSET
  std::map<QueueKey, int64_t> pull_commits;  // commitOffset carried by pulls
  int pulls = 0;
  std::vector<RemotingCommand> pull_requests;
  std::vector<std::string> consumer_ids;
  std::vector<RemotingCommand> send_backs;
  std::vector<RequestContext> held_send_backs;
  std::vector<RemotingCommand> end_transactions;
  std::vector<RemotingCommand> lock_requests;
  std::vector<RemotingCommand> unlock_requests;
  std::vector<std::string> events;  // "lock", "unlock", "pull <topic> <queueId>", "commit <topic> <queueId>"
  std::weak_ptr<RemotingConnection> last_client_conn;
  // Storage: per queue, encoded records.
  std::map<QueueKey, std::vector<std::string>> queues;
  int64_t commit_log_offset = 0;
  std::vector<std::pair<RequestContext, RemotingCommand>> parked_pulls;
  std::vector<RequestContext> swallowed;

  FakeBroker(EventLoop& loop, std::string broker_name) : name(std::move(broker_name)) {
    server = std::make_unique<RemotingServer>(loop, RemotingServerOptions{"127.0.0.1", 0}, Logger());
    auto on_send = [this](const RequestContext& ctx, RemotingCommand& req) {
      ++send_requests;
      last_client_conn = ctx.connection();
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
      int32_t reconsume_times = static_cast<int32_t>(h.i64_or("j", 0));
      REQUIRE(h.ok());
      std::string first_id;
      int64_t first_offset = static_cast<int64_t>(queues[{topic, qid}].size());
      std::vector<std::string> joined;
      if (req.code == request_code::kSendBatchMessage) {
        auto items = decode_batch(req.body);
        REQUIRE(items.ok());
        for (auto& it : *items) {
          joined.push_back(join_batch_properties(it.properties, props));
          int64_t phys = put(topic, qid, it.body, joined.back(), it.flag, sys_flag, born, reconsume_times);
          if (first_id.empty()) first_id = make_offset_msg_id(*HostAddress::parse_v4(addr), phys);
        }
      } else {
        int64_t phys = put(topic, qid, req.body, props, h.i32("h"), sys_flag, born, reconsume_times);
        first_id = make_offset_msg_id(*HostAddress::parse_v4(addr), phys);
      }
      RemotingCommand resp;
      resp.ext_fields.set("msgId", first_id);
      resp.ext_fields.set("queueId", qid);
      resp.ext_fields.set("queueOffset", first_offset);
      resp.ext_fields.set("MSG_REGION", std::string("DefaultRegion"));
      resp.ext_fields.set("TRACE_ON", std::string("true"));
      if (auto uniq = find_property(props, "UNIQ_KEY"); uniq && req.code != request_code::kSendBatchMessage)
        resp.ext_fields.set("transactionId", std::string(*uniq));
      ctx.respond(std::move(resp));
    };
    server->register_handler(request_code::kSendMessageV2, on_send);
    server->register_handler(request_code::kSendBatchMessage, on_send);
    server->register_handler(request_code::kHeartBeat, [this](const RequestContext& ctx, RemotingCommand& req) {
      ++heartbeats;
      amnesia = false;
      last_heartbeat = req.body;
      heartbeat_bodies.push_back(req.body);
      last_client_conn = ctx.connection();
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
      auto it = committed.find(key_of(req));
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
      committed[key_of(req)] = h.i64("commitOffset");
      events.push_back("commit " + *req.ext_fields.find("topic") + " " + *req.ext_fields.find("queueId"));
    });
    server->register_handler(request_code::kPullMessage, [this](const RequestContext& ctx, RemotingCommand& req) {
      ++pulls;
      pull_requests.push_back(req);
      last_client_conn = ctx.connection();
      events.push_back("pull " + *req.ext_fields.find("topic") + " " + *req.ext_fields.find("queueId"));
      if (amnesia) {
        ctx.respond_code(response_code::kSubscriptionNotExist, "the consumer's subscription not exist");
        return;
      }
      HeaderReader h(req.ext_fields);
      if (h.i32("sysFlag") & pull_sysflag::kCommitOffset) pull_commits[key_of(req)] = h.i64("commitOffset");
      if (!answer_pull(ctx, req, false)) parked_pulls.emplace_back(ctx, req);
    });
    server->register_handler(request_code::kConsumerSendMsgBack, [this](const RequestContext& ctx, RemotingCommand& req) {
      send_backs.push_back(req);
      if (hold_send_backs) {
        held_send_backs.push_back(ctx);
        return;
      }
      if (fail_send_backs) {
        ctx.respond_code(response_code::kSystemError, "fake send-back failure");
        return;
      }
      ctx.respond_code(0);
    });
    server->register_handler(request_code::kEndTransaction, [this](const RequestContext& ctx, RemotingCommand& req) {
      end_transactions.push_back(req);
      if (!ctx.oneway()) ctx.respond_code(0);
    });
    server->register_handler(request_code::kLockBatchMq, [this](const RequestContext& ctx, RemotingCommand& req) {
      lock_requests.push_back(req);
      events.push_back("lock");
      auto body = nlohmann::json::parse(req.body);
      nlohmann::json granted = nlohmann::json::array();
      if (!refuse_locks) granted = body["mqSet"];
      RemotingCommand resp;
      resp.body = nlohmann::json{{"lockOKMQSet", granted}}.dump();
      ctx.respond(std::move(resp));
    });
    server->register_handler(request_code::kUnlockBatchMq, [this](const RequestContext& ctx, RemotingCommand& req) {
      unlock_requests.push_back(req);
      events.push_back("unlock");
      if (!ctx.oneway()) ctx.respond_code(0);
    });
    auto port = server->start();
    REQUIRE(port.ok());
    addr = "127.0.0.1:" + std::to_string(*port);
  }

  static QueueKey key_of(const RemotingCommand& req) {
    return {*req.ext_fields.find("topic"), std::stoi(*req.ext_fields.find("queueId"))};
  }

  // Stores one record as a send would; returns its commit log offset. Wakes parked pulls.
  int64_t put(const std::string& topic, int32_t qid, std::string_view body, std::string_view props, int32_t flag = 0,
              int32_t sys_flag = 0, int64_t born = 1'700'000'000'000, int32_t reconsume_times = 0) {
    auto& q = queues[{topic, qid}];
    MessageRecord r;
    r.queue_id = qid;
    r.flag = flag;
    r.queue_offset = static_cast<int64_t>(q.size());
    r.physical_offset = commit_log_offset;
    r.sys_flag = sys_flag;
    r.born_timestamp = born;
    r.born_host = HostAddress::v4(127, 0, 0, 1, 5555);
    r.store_timestamp = born + 1;
    r.store_host = *HostAddress::parse_v4(addr);
    r.reconsume_times = reconsume_times;
    r.body = body;
    r.body_crc = rocketmq_crc32(body);
    r.topic = topic;
    r.properties = props;
    std::string out;
    REQUIRE(encode_record(r, out).ok());
    int64_t phys = commit_log_offset;
    commit_log_offset += static_cast<int64_t>(out.size());
    q.push_back(std::move(out));
    wake(topic, qid);
    return phys;
  }

  // Answers when there is something (or when `final`); false = park it (long polling).
  bool answer_pull(const RequestContext& ctx, RemotingCommand& req, bool final) {
    HeaderReader h(req.ext_fields);
    int64_t off = h.i64("queueOffset");
    auto& q = queues[key_of(req)];
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

  void wake(const std::string& topic, int32_t qid) {
    auto parked = std::move(parked_pulls);
    parked_pulls.clear();
    for (auto& [ctx, req] : parked) {
      if (key_of(req) == QueueKey{topic, qid})
        answer_pull(ctx, req, true);
      else
        parked_pulls.emplace_back(ctx, req);
    }
  }

  // A request to the client that last talked to us (oneway, as brokers send them).
  void send_to_client(RemotingCommand req) {
    auto conn = last_client_conn.lock();
    REQUIRE(conn);
    server->send_oneway(*conn, std::move(req));
  }

  size_t parked_for(const std::string& topic) const {
    size_t n = 0;
    for (auto& [ctx, req] : parked_pulls) n += *req.ext_fields.find("topic") == topic;
    return n;
  }
};

struct World {
  EventLoop loop;
  std::unique_ptr<RemotingServer> namesrv;
  std::string namesrv_addr;
  std::unique_ptr<FakeBroker> a, b;
  int route_requests = 0;
  // Topics the NameServer knows besides T and TBW102, with their queue count on each broker
  // (%RETRY%cg: 1, as brokers create retry topics).
  std::map<std::string, int32_t> extra_topics;

  World() {
    a = std::make_unique<FakeBroker>(loop, "broker-a");
    b = std::make_unique<FakeBroker>(loop, "broker-b");
    namesrv = std::make_unique<RemotingServer>(loop, RemotingServerOptions{"127.0.0.1", 0}, Logger());
    namesrv->register_handler(request_code::kGetRouteinfoByTopic, [this](const RequestContext& ctx, RemotingCommand& req) {
      ++route_requests;
      std::string topic = *req.ext_fields.find("topic");
      int32_t nums = topic == "T" || topic == "TBW102" ? 2 : 0;
      if (auto it = extra_topics.find(topic); it != extra_topics.end()) nums = it->second;
      if (nums == 0) {
        ctx.respond_code(response_code::kTopicNotExist, "No topic route info in name server for the topic: " + topic);
        return;
      }
      TopicRouteData r;
      int32_t perm = topic == "TBW102" ? 7 : 6;
      r.queue_datas = {QueueData{"broker-a", nums, nums, perm, 0}, QueueData{"broker-b", nums, nums, perm, 0}};
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
    a->held_send_backs.clear();
    b->held_send_backs.clear();
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
  // Runs the loop until `pred` or `timeout_ms` (the loop clock); returns pred().
  bool run_until(const std::function<bool()>& pred, int64_t timeout_ms = 10'000) {
    bool expired = false;
    Timer t(loop);
    t.start(static_cast<uint64_t>(timeout_ms), 0, [&expired] { expired = true; });
    loop.run_until([&] { return expired || pred(); });
    return pred();
  }
  void run_for(int64_t ms) {
    bool expired = false;
    Timer t(loop);
    t.start(static_cast<uint64_t>(ms), 0, [&expired] { expired = true; });
    loop.run_until([&] { return expired; });
  }
};

inline Message msg(std::string body, std::string tags = "TagA") {
  Message m;
  m.topic = "T";
  m.body = std::move(body);
  m.tags = std::move(tags);
  m.keys = "k1 k2";
  m.user_properties = {{"color", "blue"}};
  return m;
}

}  // namespace mq::test
