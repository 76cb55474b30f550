#include "bench/broker/null_broker.h"

#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <vector>

#include "base/hash.h"
#include "client/client_common.h"
#include "codec/codes.h"
#include "codec/fastjson.h"
#include "codec/header_reader.h"
#include "codec/message.h"
#include "codec/route_data.h"
#include "remoting/client.h"
#include "remoting/server.h"

namespace mq::bench {

namespace {

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct QueueStore {
  std::vector<std::string> records;  // encoded, index = queue offset
  int64_t max_offset = 0;            // counts dropped ones too
};

struct ParkedPull {
  RequestContext ctx;
  std::string topic;
  int32_t queue_id;
  int64_t offset;
  int32_t max_nums;
  int64_t deadline_ms;
};

class NullBroker {
 public:
  NullBroker(EventLoop& loop, const NullBrokerOptions& o)
      : loop_(loop),
        o_(o),
        server_(loop, RemotingServerOptions{o.host, o.port}, Logger().with_prefix("[" + o.broker_name + "]")),
        namesrv_(loop, RemotingClientOptions{}, Logger()),
        register_timer_(loop),
        poll_timer_(loop) {
    topics_.insert(o.topic);
    store_host_ = *HostAddress::parse_v4(o.host + ":" + std::to_string(o.port));
    auto on_send = [this](const RequestContext& ctx, RemotingCommand& req) { handle_send(ctx, req); };
    server_.register_handler(request_code::kSendMessageV2, on_send);
    server_.register_handler(request_code::kSendBatchMessage, on_send);
    server_.register_handler(request_code::kPullMessage,
                             [this](const RequestContext& ctx, RemotingCommand& req) { handle_pull(ctx, req); });
    server_.register_handler(request_code::kHeartBeat, [this](const RequestContext& ctx, RemotingCommand& req) {
      auto body = parse_fastjson(req.body);
      if (body.ok() && body->contains("consumerDataSet")) {
        std::string cid = json_string(*body, "clientID");
        for (auto& c : (*body)["consumerDataSet"]) members_[json_string(c, "groupName")].insert(cid);
      }
      ctx.respond_code(0);
    });
    server_.register_handler(request_code::kUnregisterClient, [this](const RequestContext& ctx, RemotingCommand& req) {
      const std::string* cid = req.ext_fields.find("clientID");
      const std::string* g = req.ext_fields.find("consumerGroup");
      if (cid && g) members_[*g].erase(*cid);
      ctx.respond_code(0);
    });
    server_.register_handler(request_code::kGetConsumerListByGroup,
                             [this](const RequestContext& ctx, RemotingCommand& req) {
                               const std::string* g = req.ext_fields.find("consumerGroup");
                               std::vector<std::string> ids;
                               if (g)
                                 for (auto& id : members_[*g]) ids.push_back(id);
                               RemotingCommand resp;
                               resp.body = nlohmann::json{{"consumerIdList", ids}}.dump(-1, ' ', false, kJsonReplace);
                               ctx.respond(std::move(resp));
                             });
    server_.register_handler(request_code::kQueryConsumerOffset,
                             [this](const RequestContext& ctx, RemotingCommand& req) {
                               auto it = offsets_.find(offset_key(req));
                               if (it == offsets_.end()) {
                                 ctx.respond_code(response_code::kQueryNotFound, "Not found");
                                 return;
                               }
                               RemotingCommand resp;
                               resp.ext_fields.set("offset", it->second);
                               ctx.respond(std::move(resp));
                             });
    server_.register_handler(request_code::kUpdateConsumerOffset,
                             [this](const RequestContext& ctx, RemotingCommand& req) {
                               HeaderReader h(req.ext_fields);
                               offsets_[offset_key(req)] = h.i64("commitOffset");
                               ctx.respond_code(0);
                             });
    server_.register_handler(request_code::kGetMaxOffset, [this](const RequestContext& ctx, RemotingCommand& req) {
      HeaderReader h(req.ext_fields);
      auto& q = queues_[{h.str("topic"), h.i32("queueId")}];
      RemotingCommand resp;
      resp.ext_fields.set("offset", q.max_offset);
      ctx.respond(std::move(resp));
    });
  }

  bool start() {
    auto p = server_.start();
    if (!p.ok()) {
      std::fprintf(stderr, "null broker: cannot listen on %s:%d: %s\n", o_.host.c_str(), o_.port, p.detail().c_str());
      return false;
    }
    register_all();
    register_timer_.start(30'000, 30'000, [this] { register_all(); });
    poll_timer_.start(1000, 1000, [this] { expire_pulls(); });
    std::printf("null broker %s listening on %s:%d, topic %s with %d queues\n", o_.broker_name.c_str(),
                o_.host.c_str(), o_.port, o_.topic.c_str(), o_.queues);
    std::fflush(stdout);
    return true;
  }

  void stop() {
    register_timer_.stop();
    poll_timer_.stop();
    for (auto& p : parked_) answer(p, true);
    parked_.clear();
    server_.stop();
  }

 private:
  static std::string offset_key(const RemotingCommand& req) {
    const std::string* t = req.ext_fields.find("topic");
    const std::string* g = req.ext_fields.find("consumerGroup");
    const std::string* q = req.ext_fields.find("queueId");
    return (t ? *t : "") + "@" + (g ? *g : "") + "#" + (q ? *q : "");
  }

  void register_all() {
    TopicConfigWrapper w;
    w.data_version = DataVersion{1, 0, wall_ms()};
    TopicConfig t;
    t.read_queue_nums = t.write_queue_nums = o_.queues;
    for (auto& name : topics_) {
      t.topic_name = name;
      w.topic_config_table[name] = t;
    }
    TopicConfig tbw = t;
    tbw.topic_name = "TBW102";
    tbw.perm = 7;
    w.topic_config_table["TBW102"] = tbw;
    for (auto& ns : split_addr_list(o_.name_servers)) {
      RemotingCommand req = RemotingCommand::request(request_code::kRegisterBroker);
      req.ext_fields.set("brokerName", o_.broker_name);
      req.ext_fields.set("brokerAddr", o_.host + ":" + std::to_string(o_.port));
      req.ext_fields.set("clusterName", o_.cluster);
      req.ext_fields.set("haServerAddr", o_.host + ":" + std::to_string(o_.port + 1));
      req.ext_fields.set("brokerId", int64_t{0});
      req.ext_fields.set_bool("compressed", false);
      req.ext_fields.set("bodyCrc32", int32_t{0});
      req.body = encode_register_broker_body(w, false);
      namesrv_.invoke(ns, std::move(req), 3000, [ns](Result<RemotingCommand, RpcError> r) {
        if (!r.ok() || r->code != 0)
          std::fprintf(stderr, "null broker: register with %s failed: %s\n", ns.c_str(),
                       r.ok() ? std::to_string(r->code).c_str() : r.detail().c_str());
      });
    }
  }

  void handle_send(const RequestContext& ctx, RemotingCommand& req) {
    HeaderReader h(req.ext_fields);
    std::string topic = h.str("b");
    int32_t qid = h.i32("e");
    int32_t sys_flag = h.i32("f");
    int64_t born = h.i64("g");
    int32_t flag = h.i32("h");
    std::string props = h.opt_str("i").value_or("");
    if (!h.ok() || qid < 0 || qid >= o_.queues) {
      ctx.respond_code(response_code::kSystemError, h.ok() ? "bad queueId" : h.error());
      return;
    }
    if (topics_.insert(topic).second) register_all();  // auto-create, as autoCreateTopicEnable does
    QueueStore& q = queues_[{topic, qid}];
    int64_t first_offset = q.max_offset;
    std::string first_id;
    auto store = [&](std::string_view body, std::string_view p, int32_t f) {
      MessageRecord r;
      r.queue_id = qid;
      r.flag = f;
      r.queue_offset = q.max_offset;
      r.physical_offset = commit_log_offset_;
      r.sys_flag = sys_flag;
      r.born_timestamp = born;
      r.born_host = HostAddress::v4(127, 0, 0, 1, 0);
      r.store_timestamp = wall_ms();
      r.store_host = store_host_;
      r.body = body;
      r.topic = topic;
      r.properties = p;
      std::string out;
      if (!encode_record(r, out).ok()) return;
      if (first_id.empty()) first_id = make_offset_msg_id(store_host_, commit_log_offset_);
      commit_log_offset_ += static_cast<int64_t>(out.size());
      ++q.max_offset;
      if (kept_bytes_ + out.size() <= o_.keep_bytes) {
        kept_bytes_ += out.size();
        q.records.push_back(std::move(out));
      }
    };
    if (req.code == request_code::kSendBatchMessage) {
      auto items = decode_batch(req.body);
      if (!items.ok()) {
        ctx.respond_code(response_code::kMessageIllegal, "bad batch body");
        return;
      }
      for (auto& it : *items) store(it.body, join_batch_properties(it.properties, props), it.flag);
    } else {
      store(req.body, props, flag);
    }
    RemotingCommand resp;
    resp.ext_fields.set("msgId", first_id);
    resp.ext_fields.set("queueId", qid);
    resp.ext_fields.set("queueOffset", first_offset);
    resp.ext_fields.set("MSG_REGION", std::string("DefaultRegion"));
    resp.ext_fields.set("TRACE_ON", std::string("true"));
    ctx.respond(std::move(resp));
    if (!parked_.empty()) wake(topic, qid);
  }

  void handle_pull(const RequestContext& ctx, RemotingCommand& req) {
    HeaderReader h(req.ext_fields);
    ParkedPull p{ctx, h.str("topic"), h.i32("queueId"), h.i64("queueOffset"), h.i32("maxMsgNums"),
                 loop_.now_ms() + h.i64_or("suspendTimeoutMillis", 15000)};
    if (!h.ok()) {
      ctx.respond_code(response_code::kSystemError, h.error());
      return;
    }
    int32_t sys_flag = h.i32("sysFlag");
    if (sys_flag & 1) {
      const std::string* g = req.ext_fields.find("consumerGroup");
      offsets_[p.topic + "@" + (g ? *g : "") + "#" + std::to_string(p.queue_id)] = h.i64("commitOffset");
    }
    if (!answer(p, (sys_flag & 2) == 0)) parked_.push_back(std::move(p));
  }

  // Answers with messages, or (when `final`) with PULL_NOT_FOUND; false = nothing to say yet.
  bool answer(const ParkedPull& p, bool final) {
    QueueStore& q = queues_[{p.topic, p.queue_id}];
    RemotingCommand resp;
    resp.ext_fields.set("suggestWhichBrokerId", int64_t{0});
    resp.ext_fields.set("minOffset", int64_t{0});
    resp.ext_fields.set("maxOffset", q.max_offset);
    // Records are kept from offset 0 until the byte cap is reached.
    int64_t kept_end = static_cast<int64_t>(q.records.size());
    if (p.offset < kept_end && p.offset >= 0) {
      int64_t end = std::min<int64_t>(kept_end, p.offset + std::max(1, p.max_nums));
      size_t bytes = 0;
      int64_t i = p.offset;
      for (; i < end && bytes < 256 * 1024; ++i) {
        resp.body += q.records[static_cast<size_t>(i)];
        bytes += q.records[static_cast<size_t>(i)].size();
      }
      resp.code = 0;
      resp.remark = "FOUND";
      resp.ext_fields.set("nextBeginOffset", i);
      p.ctx.respond(std::move(resp));
      return true;
    }
    if (p.offset > q.max_offset || p.offset < 0) {
      resp.code = response_code::kPullOffsetMoved;
      resp.ext_fields.set("nextBeginOffset", q.max_offset);
      p.ctx.respond(std::move(resp));
      return true;
    }
    if (p.offset < q.max_offset) {
      // Dropped (beyond keep_bytes): skip ahead.
      resp.code = response_code::kPullRetryImmediately;
      resp.ext_fields.set("nextBeginOffset", q.max_offset);
      p.ctx.respond(std::move(resp));
      return true;
    }
    if (!final) return false;
    resp.code = response_code::kPullNotFound;
    resp.remark = "OFFSET_OVERFLOW_ONE";
    resp.ext_fields.set("nextBeginOffset", p.offset);
    p.ctx.respond(std::move(resp));
    return true;
  }

  void wake(const std::string& topic, int32_t qid) {
    std::vector<ParkedPull> keep;
    for (auto& p : parked_) {
      if (p.topic == topic && p.queue_id == qid && answer(p, false)) continue;
      keep.push_back(std::move(p));
    }
    parked_ = std::move(keep);
  }

  void expire_pulls() {
    int64_t now = loop_.now_ms();
    std::vector<ParkedPull> keep;
    for (auto& p : parked_) {
      if (p.deadline_ms <= now) {
        answer(p, true);
        continue;
      }
      keep.push_back(std::move(p));
    }
    parked_ = std::move(keep);
  }

  EventLoop& loop_;
  NullBrokerOptions o_;
  RemotingServer server_;
  RemotingClient namesrv_;
  Timer register_timer_;
  Timer poll_timer_;
  HostAddress store_host_;
  std::map<std::pair<std::string, int32_t>, QueueStore> queues_;
  std::set<std::string> topics_;
  std::map<std::string, std::set<std::string>> members_;
  std::map<std::string, int64_t> offsets_;
  std::vector<ParkedPull> parked_;
  int64_t commit_log_offset_ = 0;
  size_t kept_bytes_ = 0;
};

}  // namespace

int run_null_broker(const NullBrokerOptions& options) {
  EventLoop loop;
  int rc = 0;
  {
    NullBroker broker(loop, options);
    if (!broker.start()) {
      rc = 1;
    } else {
      SignalWatcher signals(loop, [&loop](int) { loop.stop(); });
      Timer limit(loop);
      if (options.run_seconds > 0)
        limit.start(static_cast<uint64_t>(options.run_seconds) * 1000, 0, [&loop] { loop.stop(); });
      loop.run();
      broker.stop();
      loop.run_until([] { return true; });
    }
  }
  loop.close_and_drain();
  return rc;
}

}  // namespace mq::bench
