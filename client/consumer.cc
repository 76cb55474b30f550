#include "client/consumer.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <climits>
#include <random>

#include "codec/codes.h"
#include "codec/fastjson.h"
#include "codec/header_reader.h"
#include "codec/route_data.h"

namespace mq {

namespace {
int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
// Inflated bodies may exceed maxMessageSize (that limit is on the compressed bytes).
constexpr size_t kMaxInflatedBodyBytes = 256u * 1024 * 1024;
}  // namespace

std::vector<MessageQueue> allocate_averagely(const std::string& client_id, const std::vector<std::string>& cid_all,
                                             const std::vector<MessageQueue>& mq_all) {
  std::vector<MessageQueue> out;
  auto it = std::find(cid_all.begin(), cid_all.end(), client_id);
  if (it == cid_all.end() || mq_all.empty()) return out;
  size_t index = static_cast<size_t>(it - cid_all.begin());
  size_t m = mq_all.size(), n = cid_all.size();
  size_t mod = m % n;
  size_t average = m <= n ? 1 : (mod > 0 && index < mod ? m / n + 1 : m / n);
  size_t start = (mod > 0 && index < mod) ? index * average : index * average + mod;
  if (start >= m) return out;
  size_t range = std::min(average, m - start);
  for (size_t i = 0; i < range; ++i) out.push_back(mq_all[(start + i) % m]);
  return out;
}

RemotingCommand make_pull_request(const PullRequestHeader& h) {
  RemotingCommand req = RemotingCommand::request(request_code::kPullMessage);
  ExtFields& f = req.ext_fields;
  f.set("consumerGroup", h.consumer_group);
  f.set("topic", h.topic);
  f.set("queueId", h.queue_id);
  f.set("queueOffset", h.queue_offset);
  f.set("maxMsgNums", h.max_msg_nums);
  f.set("sysFlag", h.sys_flag);
  f.set("commitOffset", h.commit_offset);
  f.set("suspendTimeoutMillis", h.suspend_timeout_ms);
  if (h.subscription) f.set("subscription", *h.subscription);
  f.set("subVersion", h.sub_version);
  f.set("expressionType", h.expression_type);
  return req;
}

ClientOutcome<PullResult> parse_pull_response(const RemotingCommand& resp, bool check_crc) {
  PullResult r;
  switch (resp.code) {
    case response_code::kSuccess: r.status = PullResult::kFound; break;
    case response_code::kPullNotFound: r.status = PullResult::kNoNewMsg; break;
    case response_code::kPullRetryImmediately: r.status = PullResult::kNoMatchedMsg; break;
    case response_code::kPullOffsetMoved: r.status = PullResult::kOffsetIllegal; break;
    default:
      return client_error(ClientFailure::kBroker,
                          "pull answered code " + std::to_string(resp.code) + ": " + resp.remark.value_or(""),
                          resp.code);
  }
  HeaderReader h(resp.ext_fields);
  r.next_begin_offset = h.i64("nextBeginOffset");
  r.min_offset = h.i64("minOffset");
  r.max_offset = h.i64("maxOffset");
  r.suggest_which_broker_id = h.i64_or("suggestWhichBrokerId", 0);
  if (!h.ok()) return client_error(ClientFailure::kBadResponse, "pull response: " + h.error());
  if (r.status == PullResult::kFound) {
    auto recs = decode_records(resp.body, DecodeOptions{check_crc});
    if (!recs.ok())
      return client_error(ClientFailure::kBadResponse,
                          std::string("pull body does not decode: ") + message_error_name(recs.code()));
    r.records = std::move(*recs);
  }
  return r;
}

const char* consume_status_name(ConsumeStatus s) {
  switch (s) {
    case ConsumeStatus::kConsumeSuccess: return "CONSUME_SUCCESS";
    case ConsumeStatus::kReconsumeLater: return "RECONSUME_LATER";
  }
  return "?";
}

ClientOutcome<Unit> to_consumed_message(const MessageRecord& r, std::string_view broker_name, ConsumedMessage& out,
                                        std::string& body_scratch) {
  out.topic = r.topic;
  out.queue_topic = r.topic;
  out.broker_name = broker_name;
  out.queue_id = r.queue_id;
  out.queue_offset = r.queue_offset;
  out.commit_log_offset = r.physical_offset;
  out.properties = r.properties;
  out.uniq_key = find_property(r.properties, property::kUniqKey).value_or(std::string_view());
  out.tags = find_property(r.properties, property::kTags).value_or(std::string_view());
  out.keys = find_property(r.properties, property::kKeys).value_or(std::string_view());
  out.flag = r.flag;
  out.sys_flag = r.sys_flag;
  out.reconsume_times = r.reconsume_times;
  out.born_timestamp = r.born_timestamp;
  out.store_timestamp = r.store_timestamp;
  out.born_host = r.born_host;
  out.store_host = r.store_host;
  out.body = r.body;
  if ((r.sys_flag & sysflag::kCompressed) != 0) {
    int32_t type = r.sys_flag & sysflag::kCompressionTypeMask;
    if (type != 0 && type != 0x300)
      return client_error(ClientFailure::kBadResponse, "unsupported compression type " + std::to_string(type >> 8));
    auto inflated = zlib_inflate(r.body, kMaxInflatedBodyBytes);
    if (!inflated.ok()) return client_error(ClientFailure::kBadResponse, "compressed body does not inflate");
    body_scratch = std::move(*inflated);
    out.body = body_scratch;
  }
  return Unit{};
}

void reset_retry_topic(ConsumedMessage& m, const std::string& group) {
  if (m.queue_topic != retry_topic(group)) return;
  auto original = find_property(m.properties, client_property::kRetryTopic);
  if (original && !original->empty()) m.topic = *original;
}

RemotingCommand make_send_msg_back_request(const ConsumerSendMsgBackRequestHeader& h) {
  RemotingCommand req = RemotingCommand::request(request_code::kConsumerSendMsgBack);
  ExtFields& f = req.ext_fields;
  f.set("offset", h.offset);
  f.set("group", h.group);
  f.set("delayLevel", h.delay_level);
  f.set("originMsgId", h.origin_msg_id);
  f.set("originTopic", h.origin_topic);
  f.set_bool("unitMode", h.unit_mode);
  f.set("maxReconsumeTimes", h.max_reconsume_times);
  return req;
}

ConsumerSendMsgBackRequestHeader send_msg_back_header(const ConsumedMessage& m, const std::string& group,
                                                      int32_t max_reconsume_times) {
  ConsumerSendMsgBackRequestHeader h;
  h.offset = m.commit_log_offset;
  h.group = group;
  // ConsumeConcurrentlyContext.delayLevelWhenNextConsume: 0 lets the broker choose.
  h.delay_level = 0;
  h.origin_msg_id = m.msg_id();
  h.origin_topic = std::string(m.topic);
  h.unit_mode = false;
  h.max_reconsume_times = max_reconsume_times;
  return h;
}

RawMessage retry_resend_message(const ConsumedMessage& m, const std::string& group, int32_t reconsume_times,
                                int32_t max_reconsume_times) {
  RawMessage r;
  r.topic = retry_topic(group);
  r.body = std::string(m.body);
  r.flag = m.flag;
  // A retry keeps the id of the first delivery. (Java's concurrent fallback loses this property
  // when the original lacks it, by replacing the property map after setting it; the orderly path
  // and the broker's own send-back keep it, and so do we.)
  auto origin = find_property(m.properties, client_property::kOriginMessageId);
  std::string origin_id = origin && !origin->empty() ? std::string(*origin) : m.msg_id();
  // The UNIQ_KEY stays, so the retry keeps its msgId; TRAN_MSG must not make it a half message.
  r.properties = rewrite_properties(m.properties,
                                 {{std::string(client_property::kOriginMessageId), origin_id},
                                  {std::string(client_property::kRetryTopic), std::string(m.topic)},
                                  {std::string(client_property::kReconsumeTime), std::to_string(reconsume_times)},
                                  {std::string(client_property::kMaxReconsumeTimes), std::to_string(max_reconsume_times)},
                                  {std::string(property::kDelayTimeLevel), std::to_string(3 + m.reconsume_times)}},
                                 {client_property::kTransactionPrepared});
  r.reconsume_times = reconsume_times;
  r.max_reconsume_times = max_reconsume_times;
  return r;
}

namespace {
nlohmann::json mq_json(const MessageQueue& mq) {
  return nlohmann::json{{"brokerName", mq.broker_name}, {"queueId", mq.queue_id}, {"topic", mq.topic}};
}
bool mq_from_json(const nlohmann::json& j, MessageQueue& out) {
  if (!j.is_object()) return false;
  out.topic = json_string(j, "topic");
  out.broker_name = json_string(j, "brokerName");
  out.queue_id = static_cast<int32_t>(json_int(j, "queueId", -1));
  return !out.topic.empty() && !out.broker_name.empty() && out.queue_id >= 0;
}
}  // namespace

std::string encode_lock_batch_body(const std::string& group, const std::string& client_id,
                                   const std::vector<MessageQueue>& mqs) {
  nlohmann::json j;
  j["clientId"] = client_id;
  j["consumerGroup"] = group;
  j["mqSet"] = nlohmann::json::array();
  for (auto& mq : mqs) j["mqSet"].push_back(mq_json(mq));
  return j.dump(-1, ' ', false, kJsonReplace);
}

ClientOutcome<std::vector<MessageQueue>> parse_lock_batch_response(std::string_view body) {
  auto j = parse_fastjson(body);
  if (!j.ok() || !j->is_object()) return client_error(ClientFailure::kBadResponse, "lock response body is not a JSON object");
  std::vector<MessageQueue> out;
  auto it = j->find("lockOKMQSet");
  if (it == j->end() || it->is_null()) return out;
  if (!it->is_array()) return client_error(ClientFailure::kBadResponse, "lockOKMQSet is not an array");
  for (auto& e : *it) {
    MessageQueue mq;
    if (!mq_from_json(e, mq)) return client_error(ClientFailure::kBadResponse, "lockOKMQSet holds a bad MessageQueue");
    out.push_back(std::move(mq));
  }
  return out;
}

ClientOutcome<std::vector<std::pair<MessageQueue, int64_t>>> parse_reset_offset_body(std::string_view body) {
  auto j = parse_fastjson(body);
  if (!j.ok() || !j->is_object()) return client_error(ClientFailure::kBadResponse, "ResetOffsetBody is not a JSON object");
  std::vector<std::pair<MessageQueue, int64_t>> out;
  auto table = j->find("offsetTable");
  if (table == j->end() || table->is_null()) return out;
  auto read_offset = [](const nlohmann::json& value, int64_t& offset) {
    if (value.is_number_integer()) {
      offset = value.get<int64_t>();
      return true;
    }
    if (!value.is_string()) return false;
    auto& s = value.get_ref<const std::string&>();
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), offset);
    return ec == std::errc() && p == s.data() + s.size() && !s.empty();
  };
  if (table->is_array()) {
    // ResetOffsetBodyForC, which brokers send when the reset was asked for by a C++ client:
    // [{"brokerName":..,"offset":..,"queueId":..,"topic":..}].
    for (auto& e : *table) {
      MessageQueue mq;
      int64_t offset = 0;
      if (!mq_from_json(e, mq) || !e.contains("offset") || !read_offset(e["offset"], offset))
        return client_error(ClientFailure::kBadResponse, "offsetTable entry is not a MessageQueue with an offset");
      out.emplace_back(std::move(mq), offset);
    }
    return out;
  }
  if (!table->is_object()) return client_error(ClientFailure::kBadResponse, "offsetTable is not an object");
  for (auto& [key, value] : table->items()) {
    // parse_fastjson turned each MessageQueue key into its JSON text.
    auto k = parse_fastjson(key);
    MessageQueue mq;
    if (!k.ok() || !mq_from_json(*k, mq))
      return client_error(ClientFailure::kBadResponse, "offsetTable key is not a MessageQueue: " + key);
    int64_t offset = 0;
    if (!read_offset(value, offset)) return client_error(ClientFailure::kBadResponse, "offsetTable value is not an integer");
    out.emplace_back(std::move(mq), offset);
  }
  return out;
}

ReceivedMessage to_received(const ConsumedMessage& m) {
  ReceivedMessage r;
  r.topic = m.topic;
  r.queue_topic = m.queue_topic;
  r.broker_name = m.broker_name;
  r.queue_id = m.queue_id;
  r.queue_offset = m.queue_offset;
  r.msg_id = m.msg_id();
  r.offset_msg_id = m.offset_msg_id();
  r.tags = m.tags;
  r.keys = m.keys;
  r.properties = m.properties;
  r.body = m.body;
  r.flag = m.flag;
  r.reconsume_times = m.reconsume_times;
  r.commit_log_offset = m.commit_log_offset;
  r.born_timestamp = m.born_timestamp;
  r.store_timestamp = m.store_timestamp;
  return r;
}

struct Consumer::HeldMessage {
  int64_t queue_offset = 0;
  std::string record;  // the record as pulled, decoded again for each delivery
  int32_t reconsume_times = 0;
  bool in_flight = false;        // orderly: its dead-letter resend is under way
  std::unique_ptr<Timer> later;  // concurrent: consume_retry_later_ms after a failed send-back
};

struct Consumer::QueueState {
  MessageQueue mq;
  int64_t next_offset = -1;    // next pull; -1 until the starting offset is known
  int64_t commit_offset = -1;  // consumed, held in memory; -1 = none
  int64_t suggest_broker_id = 0;
  bool dropped = false;
  std::unique_ptr<Timer> delay;  // retries after errors
  // Concurrent: everything before consumed_to was delivered; `waiting` holds the deliveries
  // answered kReconsumeLater until a send-back (or our own retry-topic send) took them over.
  int64_t consumed_to = -1;
  std::map<int64_t, HeldMessage> waiting;
  // Orderly: the broker lock, and the pulled messages not yet consumed, in queue order.
  bool locked = false;
  int64_t last_lock_ms = 0;
  bool previously_locked = false;  // the offset is read from the broker at the first lock
  std::deque<HeldMessage> held;
  std::unique_ptr<Timer> consume_timer;  // suspend, or wait for the lock
};

Consumer::Consumer(EventLoop& loop, ConsumerOptions options, Logger log)
    : loop_(loop),
      options_(std::move(options)),
      log_(std::move(log)),
      client_ip_(options_.client_ip.empty() ? local_ipv4_address() : options_.client_ip),
      client_id_(make_client_id(client_ip_, options_.instance_name.empty() ? default_instance_name()
                                                                           : options_.instance_name)),
      rpc_(std::make_unique<RemotingClient>(loop, remoting_options(options_.connect_timeout_ms), log_)),
      routes_(std::make_unique<TopicRouteCache>(*rpc_, split_addr_list(options_.name_servers),
                                                options_.rpc_timeout_ms, log_)),
      rebalance_timer_(loop),
      persist_timer_(loop),
      heartbeat_timer_(loop),
      route_timer_(loop),
      lock_timer_(loop),
      random_(std::random_device{}()) {
  routes_->set_retry_interval_ms(options_.route_retry_interval_ms);
  rpc_->dispatcher().register_handler(
      request_code::kNotifyConsumerIdsChanged, [this](const RequestContext&, RemotingCommand& req) {
        const std::string* g = req.ext_fields.find("consumerGroup");
        if (g != nullptr && *g != options_.group) return;
        if (started_ && !closing_) {
          log_.info("group membership changed: rebalancing");
          rebalance();
        }
        // Like the Java client: no answer (the broker sends it oneway).
      });
  rpc_->dispatcher().register_handler(
      client_request_code::kResetConsumerClientOffset, [this](const RequestContext& ctx, RemotingCommand& req) {
        // Java answers nothing either (ClientRemotingProcessor.resetOffset returns null).
        HeaderReader h(req.ext_fields);
        std::string topic = h.str("topic");
        std::string group = h.str("group");
        if (!h.ok()) {
          log_.warn("RESET_CONSUMER_CLIENT_OFFSET from " + ctx.peer_address() + ": " + h.error());
          return;
        }
        if (group != options_.group || !started_ || closing_) return;
        auto offsets = parse_reset_offset_body(req.body);
        if (!offsets.ok()) {
          log_.warn("RESET_CONSUMER_CLIENT_OFFSET from " + ctx.peer_address() + ": " + offsets.detail());
          return;
        }
        log_.info("offsets of " + topic + " reset by " + ctx.peer_address());
        reset_offsets(topic, *offsets);
      });
}

Consumer::~Consumer() {
  closing_ = true;
  destroyed_ = true;
  for (auto& [mq, st] : queues_) {
    st->dropped = true;
    st->delay.reset();
    st->consume_timer.reset();
    st->waiting.clear();
    st->held.clear();
  }
  // Its callbacks see destroyed_ and do nothing.
  inner_producer_.reset();
  routes_->shutdown();
  rpc_.reset();
  queues_.clear();
}

void Consumer::set_handler(MessageHandler handler) {
  if (!handler) {
    listener_ = nullptr;
    return;
  }
  listener_ = [handler = std::move(handler)](const ConsumedMessage& m) {
    handler(m);
    return ConsumeStatus::kConsumeSuccess;
  };
}

void Consumer::subscribe(const std::string& topic, const std::string& expression) {
  int64_t version = wall_ms();
  for (auto& s : subscriptions_)
    if (s.topic == topic) {
      s = SubscriptionData::build(topic, expression, version);
      return;
    }
  subscriptions_.push_back(SubscriptionData::build(topic, expression, version));
}

const SubscriptionData* Consumer::subscription_of(const std::string& topic) const {
  for (auto& s : subscriptions_)
    if (s.topic == topic) return &s;
  return nullptr;
}

void Consumer::start() {
  if (started_ || closing_) return;
  started_ = true;
  // CLUSTERING consumers also own the group's retry topic.
  if (!subscription_of(retry_topic(options_.group)))
    subscriptions_.push_back(SubscriptionData::build(retry_topic(options_.group), "*", wall_ms()));
  route_timer_.start(static_cast<uint64_t>(options_.route_refresh_interval_ms),
                     static_cast<uint64_t>(options_.route_refresh_interval_ms), [this] { routes_->refresh_all(); });
  heartbeat_timer_.start(static_cast<uint64_t>(options_.heartbeat_interval_ms),
                         static_cast<uint64_t>(options_.heartbeat_interval_ms), [this] { send_heartbeat(nullptr); });
  persist_timer_.start(static_cast<uint64_t>(options_.persist_offset_interval_ms),
                       static_cast<uint64_t>(options_.persist_offset_interval_ms), [this] { persist_all(); });
  rebalance_timer_.start(static_cast<uint64_t>(options_.rebalance_interval_ms),
                         static_cast<uint64_t>(options_.rebalance_interval_ms), [this] { rebalance(); });
  if (options_.orderly) {
    // Renews the broker locks well within their 60 s life (ConsumeMessageOrderlyService.start).
    lock_timer_.start(std::min<uint64_t>(1000, static_cast<uint64_t>(options_.rebalance_lock_interval_ms)),
                      static_cast<uint64_t>(options_.rebalance_lock_interval_ms), [this] { lock_all(); });
  }
  lookup_routes_then([this] { send_heartbeat([this] { rebalance(); }); });
}

void Consumer::lookup_routes_then(std::function<void()> next) {
  auto left = std::make_shared<size_t>(subscriptions_.size());
  auto shared_next = std::make_shared<std::function<void()>>(std::move(next));
  for (auto& s : subscriptions_) {
    routes_->fetch(s.topic, [this, left, shared_next, topic = s.topic](ClientOutcome<RoutePtr> r) {
      if (destroyed_) return;
      if (!r.ok() && topic != retry_topic(options_.group)) log_.warn("route of " + topic + ": " + r.detail());
      if (--*left == 0 && !closing_) (*shared_next)();
    });
  }
}

void Consumer::send_heartbeat(std::function<void()> done) {
  if (closing_) return;
  ConsumerData cd;
  cd.group_name = options_.group;
  cd.consume_from_where = options_.consume_from_where == ConsumeFromWhere::kFirstOffset ? "CONSUME_FROM_FIRST_OFFSET"
                                                                                        : "CONSUME_FROM_LAST_OFFSET";
  cd.subscriptions = subscriptions_;
  std::string body = encode_heartbeat_body(client_id_, {}, {cd});
  std::vector<std::string> addrs;
  for (auto& [name, ids] : routes_->broker_addrs())
    for (auto& [id, addr] : ids) addrs.push_back(addr);  // consumers heartbeat slaves too
  if (addrs.empty()) {
    if (done) done();
    return;
  }
  auto left = std::make_shared<size_t>(addrs.size());
  auto shared_done = std::make_shared<std::function<void()>>(std::move(done));
  for (auto& addr : addrs) {
    rpc_->invoke(addr, make_heartbeat_request(body), options_.rpc_timeout_ms,
                 [this, addr, left, shared_done](Result<RemotingCommand, RpcError> r) {
                   if (destroyed_) return;
                   if (!r.ok())
                     log_.warn("heartbeat to " + addr + ": " + r.detail());
                   else if (r->code != response_code::kSuccess)
                     log_.warn("heartbeat to " + addr + " answered " + std::to_string(r->code) + " " +
                               r->remark.value_or(""));
                   if (--*left == 0 && *shared_done && !closing_) (*shared_done)();
                 });
  }
}

void Consumer::rebalance() {
  if (closing_ || !started_) return;
  if (rebalancing_) {
    rebalance_again_ = true;
    return;
  }
  rebalancing_ = true;
  auto left = std::make_shared<size_t>(subscriptions_.size());
  for (auto& s : subscriptions_) {
    rebalance_topic(s.topic, [this, left] {
      if (--*left != 0 || destroyed_) return;
      rebalancing_ = false;
      ++rebalance_rounds_;
      if (rebalance_again_) {
        rebalance_again_ = false;
        rebalance();
      }
    });
  }
}

void Consumer::rebalance_topic(const std::string& topic, std::function<void()> done) {
  routes_->get(topic, [this, topic, done = std::move(done)](ClientOutcome<RoutePtr> r) mutable {
    if (destroyed_) return;
    if (closing_) {
      done();
      return;
    }
    if (!r.ok()) {
      // The retry topic has no route until a broker created it from our heartbeat.
      if (topic != retry_topic(options_.group)) log_.warn("rebalance " + topic + ": " + r.detail());
      done();
      return;
    }
    RoutePtr route = *r;
    std::vector<MessageQueue> mq_all = subscribe_queues(topic, *route);
    if (mq_all.empty() || route->broker_datas.empty()) {
      apply_assignment(topic, {});
      done();
      return;
    }
    const BrokerData& bd = route->broker_datas[random_++ % route->broker_datas.size()];
    std::string addr = routes_->find_broker_addr(bd.broker_name, 0, false);
    RemotingCommand req = RemotingCommand::request(request_code::kGetConsumerListByGroup);
    req.ext_fields.set("consumerGroup", options_.group);
    rpc_->invoke(addr, std::move(req), options_.rpc_timeout_ms,
                 [this, topic, mq_all = std::move(mq_all), done = std::move(done)](
                     Result<RemotingCommand, RpcError> resp) mutable {
                   if (destroyed_) return;
                   if (closing_) {
                     done();
                     return;
                   }
                   if (!resp.ok() || resp->code != response_code::kSuccess) {
                     log_.warn("consumer list of " + options_.group + " for " + topic + ": " +
                               (resp.ok() ? "code " + std::to_string(resp->code) : resp.detail()));
                     done();
                     return;
                   }
                   std::vector<std::string> cids;
                   auto body = parse_fastjson(resp->body);
                   if (body.ok() && body->is_object() && body->contains("consumerIdList") &&
                       (*body)["consumerIdList"].is_array()) {
                     for (auto& c : (*body)["consumerIdList"])
                       if (c.is_string()) cids.push_back(c.get<std::string>());
                   }
                   std::sort(cids.begin(), cids.end());
                   apply_assignment(topic, allocate_averagely(client_id_, cids, mq_all));
                   done();
                 });
  });
}

void Consumer::apply_assignment(const std::string& topic, const std::vector<MessageQueue>& mine) {
  std::set<MessageQueue> wanted(mine.begin(), mine.end());
  std::vector<QueuePtr> doomed;
  for (auto& [mq, st] : queues_)
    if (mq.topic == topic && !wanted.contains(mq)) doomed.push_back(st);
  for (auto& st : doomed) drop_queue(st);
  bool changed = !doomed.empty();
  std::vector<QueuePtr> fresh;
  for (auto& mq : mine) {
    if (queues_.contains(mq)) continue;
    changed = true;
    auto st = std::make_shared<QueueState>();
    st->mq = mq;
    st->delay = std::make_unique<Timer>(loop_);
    st->consume_timer = std::make_unique<Timer>(loop_);
    queues_.emplace(mq, st);
    log_.info("now consuming " + mq.to_string());
    fresh.push_back(st);
  }
  if (options_.orderly) {
    // Nothing of a queue is read before its lock is ours (RebalanceImpl locks each new queue).
    if (!fresh.empty()) {
      std::vector<std::weak_ptr<QueueState>> weak(fresh.begin(), fresh.end());
      lock_queues(fresh, [this, weak = std::move(weak)] {
        for (auto& w : weak)
          if (auto st = w.lock()) resume(st);
      });
    }
  } else {
    for (auto& st : fresh) query_offset(st);
  }
  // As Java's messageQueueChanged: brokers we now pull from must know our subscription.
  if (changed) send_heartbeat(nullptr);
}

void Consumer::drop_queue(const QueuePtr& st) {
  log_.info("no longer consuming " + st->mq.to_string());
  commit_offset(st);
  // After the commit, on the same connection: the next owner locks and reads the offset after it.
  if (options_.orderly) unlock_oneway({st->mq});
  st->dropped = true;
  st->delay.reset();
  st->consume_timer.reset();
  st->waiting.clear();
  st->held.clear();
  queues_.erase(st->mq);
}

std::string Consumer::offset_broker_addr(const std::string& broker_name) const {
  return routes_->find_broker_addr(broker_name, 0, false);
}

void Consumer::query_offset(const QueuePtr& st) {
  if (st->dropped || closing_) return;
  std::string addr = offset_broker_addr(st->mq.broker_name);
  if (addr.empty()) {
    pull_later(st, options_.pull_delay_on_error_ms);
    return;
  }
  RemotingCommand req = RemotingCommand::request(request_code::kQueryConsumerOffset);
  req.ext_fields.set("consumerGroup", options_.group);
  req.ext_fields.set("topic", st->mq.topic);
  req.ext_fields.set("queueId", st->mq.queue_id);
  rpc_->invoke(addr, std::move(req), options_.rpc_timeout_ms, [this, st, addr](Result<RemotingCommand, RpcError> r) {
    if (destroyed_ || st->dropped) return;
    if (r.ok() && r->code == response_code::kSuccess) {
      HeaderReader h(r->ext_fields);
      int64_t off = h.i64("offset");
      if (h.ok()) {
        start_at(st, off);
        return;
      }
    }
    if (r.ok() && r->code == response_code::kQueryNotFound) {
      // No committed offset: consume_from_where decides.
      bool first = options_.consume_from_where == ConsumeFromWhere::kFirstOffset;
      if (first || st->mq.topic.starts_with(kRetryTopicPrefix)) {
        start_at(st, 0);
        return;
      }
      RemotingCommand max_req = RemotingCommand::request(request_code::kGetMaxOffset);
      max_req.ext_fields.set("topic", st->mq.topic);
      max_req.ext_fields.set("queueId", st->mq.queue_id);
      rpc_->invoke(addr, std::move(max_req), options_.rpc_timeout_ms, [this, st](Result<RemotingCommand, RpcError> m) {
        if (destroyed_ || st->dropped) return;
        if (m.ok() && m->code == response_code::kSuccess) {
          HeaderReader h(m->ext_fields);
          int64_t off = h.i64("offset");
          if (h.ok()) {
            start_at(st, off);
            return;
          }
        }
        log_.warn("max offset of " + st->mq.to_string() + " unknown; asking again later");
        pull_later(st, options_.pull_delay_on_error_ms);
      });
      return;
    }
    log_.warn("offset of " + st->mq.to_string() + " unknown (" +
              (r.ok() ? "code " + std::to_string(r->code) : r.detail()) + "); asking again later");
    pull_later(st, options_.pull_delay_on_error_ms);
  });
}

void Consumer::start_at(const QueuePtr& st, int64_t offset) {
  st->next_offset = offset;
  st->consumed_to = offset;
  // An orderly queue read again at its first lock takes the broker's word over an older offset.
  if (st->commit_offset < 0 || options_.orderly) st->commit_offset = offset;
  pull(st);
}

void Consumer::resume(const QueuePtr& st) {
  if (st->dropped || closing_) return;
  if (options_.orderly) {
    if (!st->locked) {
      // DefaultMQPushConsumerImpl.pullMessage: "pull message later because not locked in broker".
      pull_later(st, options_.pull_delay_on_error_ms);
      return;
    }
    if (!st->previously_locked) {
      // Another member may have consumed the queue until it lost the lock: start from its offset.
      st->previously_locked = true;
      query_offset(st);
      return;
    }
    if (!st->held.empty()) {
      consume_orderly(st);
      return;
    }
  }
  if (st->next_offset < 0) {
    query_offset(st);
    return;
  }
  pull(st);
}

void Consumer::pull_later(const QueuePtr& st, int64_t delay_ms) {
  if (st->dropped || closing_ || !st->delay) return;
  std::weak_ptr<QueueState> weak = st;
  st->delay->start(static_cast<uint64_t>(delay_ms), 0, [this, weak] {
    auto s = weak.lock();
    if (!s || s->dropped || closing_) return;
    resume(s);
  });
}

void Consumer::pull(const QueuePtr& st) {
  if (st->dropped || closing_) return;
  if (options_.orderly && (!st->locked || !st->previously_locked || !st->held.empty())) {
    resume(st);
    return;
  }
  const SubscriptionData* sub = subscription_of(st->mq.topic);
  if (sub == nullptr) return;
  std::string addr = routes_->find_broker_addr(st->mq.broker_name, st->suggest_broker_id, false);
  if (addr.empty()) {
    pull_later(st, options_.pull_delay_on_error_ms);
    return;
  }
  PullRequestHeader h;
  h.consumer_group = options_.group;
  h.topic = st->mq.topic;
  h.queue_id = st->mq.queue_id;
  h.queue_offset = st->next_offset;
  h.max_msg_nums = options_.pull_batch_size;
  bool to_master = addr == routes_->master_addr(st->mq.broker_name);
  // A slave must not store offsets: Java clears the commit bit when it pulls from one.
  bool commit = st->commit_offset > 0 && to_master;
  h.sys_flag = (commit ? pull_sysflag::kCommitOffset : 0) | pull_sysflag::kSuspend;
  h.commit_offset = commit ? st->commit_offset : 0;
  h.suspend_timeout_ms = options_.suspend_timeout_ms;
  if (options_.post_subscription_when_pull) {
    h.sys_flag |= pull_sysflag::kSubscription;
    h.subscription = sub->sub_string;
  }
  h.sub_version = sub->sub_version;
  rpc_->invoke(addr, make_pull_request(h), options_.pull_timeout_ms, [this, st, addr](Result<RemotingCommand, RpcError> r) {
    if (destroyed_ || st->dropped) return;
    if (!r.ok()) {
      log_.debug("pull " + st->mq.to_string() + " from " + addr + ": " + r.detail());
      pull_later(st, options_.pull_delay_on_error_ms);
      return;
    }
    on_pull_result(st, parse_pull_response(*r, options_.check_crc), addr);
  });
}

void Consumer::on_pull_result(const QueuePtr& st, ClientOutcome<PullResult> r, const std::string& addr) {
  if (!r.ok()) {
    log_.warn("pull " + st->mq.to_string() + " from " + addr + ": " + r.detail());
    int32_t code = r.code().response_code;
    bool forgot_us = code == response_code::kSubscriptionNotExist || code == response_code::kSubscriptionNotLatest ||
                     code == response_code::kSubscriptionGroupNotExist;
    // A restarted broker knows nothing of us until our next heartbeat (up to 30 s away): send one
    // now, at most once a second, instead of failing pulls until then.
    if (forgot_us && loop_.now_ms() - last_forced_heartbeat_ms_ >= 1000) {
      last_forced_heartbeat_ms_ = loop_.now_ms();
      send_heartbeat(nullptr);
    }
    pull_later(st, options_.pull_delay_on_error_ms);
    return;
  }
  PullResult& pr = *r;
  st->suggest_broker_id = pr.suggest_which_broker_id;
  switch (pr.status) {
    case PullResult::kFound: {
      if (!options_.orderly) {
        deliver_concurrently(st, pr);
        return;
      }
      const SubscriptionData* sub = subscription_of(st->mq.topic);
      for (auto& rec : pr.records) {
        auto tags = find_property(rec.properties, property::kTags).value_or(std::string_view());
        if (sub != nullptr && !sub->matches_tag(tags)) continue;
        HeldMessage h;
        h.queue_offset = rec.queue_offset;
        h.reconsume_times = rec.reconsume_times;
        if (!encode_record(rec, h.record).ok()) {
          log_.error("skipping " + st->mq.to_string() + " offset " + std::to_string(rec.queue_offset) +
                     ": the record does not encode again");
          continue;
        }
        st->held.push_back(std::move(h));
      }
      st->next_offset = pr.next_begin_offset;
      consume_orderly(st);
      return;
    }
    case PullResult::kNoNewMsg:
    case PullResult::kNoMatchedMsg:
      // Nothing is cached, so everything before nextBeginOffset is consumed (correctTagsOffset).
      st->next_offset = pr.next_begin_offset;
      st->consumed_to = pr.next_begin_offset;
      if (options_.orderly)
        st->commit_offset = pr.next_begin_offset;
      else
        refresh_commit_offset(st);
      pull(st);
      return;
    case PullResult::kOffsetIllegal:
      log_.warn("offset " + std::to_string(st->next_offset) + " of " + st->mq.to_string() + " is illegal; moving to " +
                std::to_string(pr.next_begin_offset));
      st->next_offset = pr.next_begin_offset;
      st->consumed_to = pr.next_begin_offset;
      st->commit_offset = pr.next_begin_offset;
      commit_offset(st);
      pull_later(st, options_.pull_delay_on_error_ms);
      return;
  }
}

int32_t Consumer::max_reconsume_times() const {
  if (options_.max_reconsume_times != -1) return options_.max_reconsume_times;
  return options_.orderly ? INT32_MAX : 16;
}

ConsumeStatus Consumer::call_listener(const ConsumedMessage& m) {
  ++delivered_;
  if (!listener_) return ConsumeStatus::kConsumeSuccess;
  // Java counts a throwing listener as a failed consumption; and nothing may unwind into libuv.
  try {
    return listener_(m);
  } catch (const std::exception& e) {
    log_.warn("listener threw on " + m.msg_id() + " (" + std::string(m.topic) + "): " + e.what() +
              "; consuming it later");
  } catch (...) {
    log_.warn("listener threw on " + m.msg_id() + " (" + std::string(m.topic) + "); consuming it later");
  }
  return ConsumeStatus::kReconsumeLater;
}

bool Consumer::decode_held(const QueueState& st, const HeldMessage& h, ConsumedMessage& out, std::string& scratch) {
  auto rec = decode_record(h.record, DecodeOptions{false});
  if (!rec.ok()) return false;
  if (!to_consumed_message(*rec, st.mq.broker_name, out, scratch).ok()) return false;
  out.reconsume_times = h.reconsume_times;
  reset_retry_topic(out, options_.group);
  return true;
}

// --- Concurrent consumption ------------------------------------------------------------------

void Consumer::deliver_concurrently(const QueuePtr& st, PullResult& pr) {
  const SubscriptionData* sub = subscription_of(st->mq.topic);
  ConsumedMessage msg;
  for (auto& rec : pr.records) {
    if (st->dropped) {
      // The listener shut us down mid-batch: what was delivered counts, the rest comes again.
      st->consumed_to = rec.queue_offset;
      refresh_commit_offset(st);
      return;
    }
    auto c = to_consumed_message(rec, st->mq.broker_name, msg, body_scratch_);
    if (!c.ok()) {
      log_.error("skipping " + st->mq.to_string() + " offset " + std::to_string(rec.queue_offset) + ": " + c.detail());
      continue;
    }
    if (sub != nullptr && !sub->matches_tag(msg.tags)) continue;
    reset_retry_topic(msg, options_.group);
    if (call_listener(msg) == ConsumeStatus::kConsumeSuccess || st->dropped || closing_) continue;
    HeldMessage h;
    h.queue_offset = rec.queue_offset;
    h.reconsume_times = rec.reconsume_times;
    if (!encode_record(rec, h.record).ok()) {
      log_.error("cannot keep " + msg.msg_id() + " for a send-back; counting it as consumed");
      continue;
    }
    st->waiting.emplace(rec.queue_offset, std::move(h));
    send_back(st, rec.queue_offset);
  }
  st->next_offset = pr.next_begin_offset;
  st->consumed_to = pr.next_begin_offset;
  refresh_commit_offset(st);
  if (!st->dropped) pull(st);
}

void Consumer::refresh_commit_offset(const QueuePtr& st) {
  // ProcessQueue.removeMessage: the first message still held, else past everything delivered.
  int64_t off = st->consumed_to;
  if (!st->waiting.empty()) off = std::min(off, st->waiting.begin()->first);
  if (off >= 0) st->commit_offset = off;
}

void Consumer::send_back(const QueuePtr& st, int64_t queue_offset) {
  auto it = st->waiting.find(queue_offset);
  if (it == st->waiting.end()) return;
  ConsumedMessage m;
  std::string scratch;
  if (!decode_held(*st, it->second, m, scratch)) {
    st->waiting.erase(it);
    refresh_commit_offset(st);
    return;
  }
  std::weak_ptr<QueueState> weak = st;
  // The message goes back where it came from: the master of its queue's broker.
  std::string addr = routes_->master_addr(st->mq.broker_name);
  auto on_resent = [this, weak, queue_offset](bool ok) {
    auto s = weak.lock();
    if (!s || s->dropped || closing_) return;
    auto w = s->waiting.find(queue_offset);
    if (w == s->waiting.end()) return;
    if (ok) {
      s->waiting.erase(w);
      refresh_commit_offset(s);
      return;
    }
    // Nobody took it: consume it here again, as Java does with msgBackFailed.
    ++w->second.reconsume_times;
    consume_again_later(s, queue_offset);
  };
  if (addr.empty()) {
    log_.warn("no master address of " + st->mq.broker_name + " for a send-back; sending " + m.msg_id() +
              " to the retry topic");
    resend_to_retry_topic(m, m.reconsume_times + 1, on_resent);
    return;
  }
  rpc_->invoke(addr, make_send_msg_back_request(send_msg_back_header(m, options_.group, max_reconsume_times())),
               options_.send_back_timeout_ms,
               [this, weak, queue_offset, addr, on_resent](Result<RemotingCommand, RpcError> r) {
                 if (destroyed_) return;
                 auto s = weak.lock();
                 if (!s || s->dropped || closing_) return;
                 auto w = s->waiting.find(queue_offset);
                 if (w == s->waiting.end()) return;
                 if (r.ok() && r->code == response_code::kSuccess) {
                   ++sent_back_;
                   s->waiting.erase(w);
                   refresh_commit_offset(s);
                   return;
                 }
                 log_.warn("send-back of " + s->mq.to_string() + " offset " + std::to_string(queue_offset) + " to " +
                           addr + " failed (" +
                           (r.ok() ? "code " + std::to_string(r->code) + " " + r->remark.value_or("") : r.detail()) +
                           "); sending it to the retry topic ourselves");
                 // DefaultMQPushConsumerImpl.sendMessageBack's fallback.
                 ConsumedMessage again;
                 std::string scratch2;
                 if (!decode_held(*s, w->second, again, scratch2)) {
                   s->waiting.erase(w);
                   refresh_commit_offset(s);
                   return;
                 }
                 resend_to_retry_topic(again, again.reconsume_times + 1, on_resent);
               });
}

void Consumer::resend_to_retry_topic(const ConsumedMessage& m, int32_t reconsume_times,
                                     std::function<void(bool ok)> done) {
  RawMessage raw = retry_resend_message(m, options_.group, reconsume_times, max_reconsume_times());
  std::string id = m.msg_id();
  inner_producer().send_raw(std::move(raw), [this, id, done = std::move(done)](ClientOutcome<SendResult> r) {
    if (destroyed_) return;
    if (r.ok())
      ++resent_to_retry_topic_;
    else
      log_.warn("sending " + id + " to " + retry_topic(options_.group) + " failed: " + r.detail());
    done(r.ok());
  });
}

void Consumer::consume_again_later(const QueuePtr& st, int64_t queue_offset) {
  auto it = st->waiting.find(queue_offset);
  if (it == st->waiting.end()) return;
  if (!it->second.later) it->second.later = std::make_unique<Timer>(loop_);
  std::weak_ptr<QueueState> weak = st;
  it->second.later->start(static_cast<uint64_t>(options_.consume_retry_later_ms), 0, [this, weak, queue_offset] {
    auto s = weak.lock();
    if (!s || s->dropped || closing_) return;
    auto w = s->waiting.find(queue_offset);
    if (w == s->waiting.end()) return;
    ConsumedMessage m;
    std::string scratch;
    if (!decode_held(*s, w->second, m, scratch) || call_listener(m) == ConsumeStatus::kConsumeSuccess) {
      if (s->dropped) return;
      s->waiting.erase(w);  // destroys this timer: nothing of it is used after the callback
      refresh_commit_offset(s);
      return;
    }
    if (!s->dropped && !closing_) send_back(s, queue_offset);
  });
}

Producer& Consumer::inner_producer() {
  if (!inner_producer_) {
    ProducerOptions po;
    po.name_servers = options_.name_servers;
    po.group = std::string(kClientInnerProducerGroup);
    po.client_ip = client_ip_;
    // One client instance in Java's terms: the producer shows the consumer's clientID.
    po.instance_name = client_id_.substr(client_id_.find('@') + 1);
    po.rpc_timeout_ms = options_.rpc_timeout_ms;
    inner_producer_ = std::make_unique<Producer>(loop_, po, log_);
    inner_producer_->start();
  }
  return *inner_producer_;
}

// --- Orderly consumption ---------------------------------------------------------------------

bool Consumer::lock_is_fresh(const QueueState& st) const {
  return st.locked && loop_.now_ms() - st.last_lock_ms <= options_.rebalance_lock_max_live_ms;
}

bool Consumer::is_locked(const MessageQueue& mq) const {
  auto it = queues_.find(mq);
  return it != queues_.end() && lock_is_fresh(*it->second);
}

void Consumer::lock_queues(const std::vector<QueuePtr>& queues, std::function<void()> done) {
  std::map<std::string, std::vector<MessageQueue>> by_broker;
  for (auto& st : queues)
    if (!st->dropped) by_broker[st->mq.broker_name].push_back(st->mq);
  auto left = std::make_shared<size_t>(by_broker.size() + 1);
  auto shared_done = std::make_shared<std::function<void()>>(std::move(done));
  auto one_done = [this, left, shared_done] {
    if (--*left == 0 && *shared_done && !destroyed_ && !closing_) (*shared_done)();
  };
  for (auto& [broker, mqs] : by_broker) {
    std::string addr = routes_->master_addr(broker);  // only the master keeps locks
    if (addr.empty()) {
      log_.warn("no master of " + broker + " to lock " + std::to_string(mqs.size()) + " queue(s) on");
      one_done();
      continue;
    }
    RemotingCommand req = RemotingCommand::request(request_code::kLockBatchMq);
    req.body = encode_lock_batch_body(options_.group, client_id_, mqs);
    rpc_->invoke(addr, std::move(req), options_.lock_timeout_ms,
                 [this, addr, mqs, one_done](Result<RemotingCommand, RpcError> r) {
                   if (destroyed_) return;
                   ClientOutcome<std::vector<MessageQueue>> ok =
                       !r.ok() ? client_error(ClientFailure::kRpc, r.detail())
                       : r->code != response_code::kSuccess
                           ? client_error(ClientFailure::kBroker, "code " + std::to_string(r->code) + " " +
                                                                      r->remark.value_or(""), r->code)
                           : parse_lock_batch_response(r->body);
                   if (!ok.ok()) {
                     // Locks are left as they were; an old one runs out by rebalance_lock_max_live_ms.
                     log_.warn("LOCK_BATCH_MQ to " + addr + ": " + ok.detail());
                     one_done();
                     return;
                   }
                   std::set<MessageQueue> granted(ok->begin(), ok->end());
                   for (auto& mq : mqs) {
                     auto it = queues_.find(mq);
                     if (it == queues_.end()) continue;
                     QueueState& st = *it->second;
                     if (granted.contains(mq)) {
                       if (!st.locked) log_.info("locked " + mq.to_string());
                       st.locked = true;
                       st.last_lock_ms = loop_.now_ms();
                     } else {
                       if (st.locked) log_.warn("lost the lock of " + mq.to_string());
                       st.locked = false;
                     }
                   }
                   one_done();
                 });
  }
  one_done();
}

void Consumer::lock_all() {
  if (closing_ || !options_.orderly) return;
  std::vector<QueuePtr> all;
  for (auto& [mq, st] : queues_) all.push_back(st);
  if (!all.empty()) lock_queues(all, nullptr);
}

void Consumer::unlock_oneway(const std::vector<MessageQueue>& mqs) {
  std::map<std::string, std::vector<MessageQueue>> by_broker;
  for (auto& mq : mqs) by_broker[mq.broker_name].push_back(mq);
  for (auto& [broker, list] : by_broker) {
    std::string addr = routes_->master_addr(broker);
    if (addr.empty()) continue;
    RemotingCommand req = RemotingCommand::request(request_code::kUnlockBatchMq);
    req.body = encode_lock_batch_body(options_.group, client_id_, list);
    rpc_->invoke_oneway(addr, std::move(req));
  }
}

void Consumer::consume_orderly(const QueuePtr& st) {
  while (!st->held.empty()) {
    if (st->dropped || closing_) return;
    HeldMessage& h = st->held.front();
    if (h.in_flight) return;
    st->commit_offset = h.queue_offset;  // nothing past a message before it succeeded
    if (!lock_is_fresh(*st)) {
      try_lock_later_and_consume(st, 10);
      return;
    }
    ConsumedMessage m;
    std::string scratch;
    if (!decode_held(*st, h, m, scratch)) {
      log_.error("skipping " + st->mq.to_string() + " offset " + std::to_string(h.queue_offset) +
                 ": the held record does not decode");
      st->held.pop_front();
      continue;
    }
    ConsumeStatus status = call_listener(m);
    if (st->dropped || closing_) return;
    if (status == ConsumeStatus::kConsumeSuccess) {
      st->held.pop_front();
      continue;
    }
    std::weak_ptr<QueueState> weak = st;
    if (h.reconsume_times >= max_reconsume_times()) {
      // ConsumeMessageOrderlyService.checkReconsumeTimes: with the count at the maximum, the broker
      // puts it in the DLQ; the queue goes on once it is there.
      h.in_flight = true;
      int64_t off = h.queue_offset;
      resend_to_retry_topic(m, h.reconsume_times, [this, weak, off](bool ok) {
        auto s = weak.lock();
        if (!s || s->dropped || closing_ || s->held.empty() || s->held.front().queue_offset != off) return;
        HeldMessage& first = s->held.front();
        first.in_flight = false;
        if (ok) {
          s->held.pop_front();
          consume_orderly(s);
          return;
        }
        ++first.reconsume_times;
        s->consume_timer->start(static_cast<uint64_t>(options_.suspend_current_queue_ms), 0, [this, weak] {
          if (auto q = weak.lock(); q && !q->dropped) consume_orderly(q);
        });
      });
      return;
    }
    ++h.reconsume_times;
    st->consume_timer->start(static_cast<uint64_t>(options_.suspend_current_queue_ms), 0, [this, weak] {
      if (auto q = weak.lock(); q && !q->dropped) consume_orderly(q);
    });
    return;
  }
  if (st->dropped || closing_) return;
  st->commit_offset = st->next_offset;
  pull(st);
}

void Consumer::try_lock_later_and_consume(const QueuePtr& st, int64_t delay_ms) {
  std::weak_ptr<QueueState> weak = st;
  st->consume_timer->start(static_cast<uint64_t>(delay_ms), 0, [this, weak] {
    auto s = weak.lock();
    if (!s || s->dropped || closing_) return;
    lock_queues({s}, [this, weak] {
      auto q = weak.lock();
      if (!q || q->dropped || closing_) return;
      // ConsumeMessageOrderlyService.tryLockLaterAndReconsume: soon when locked, else in 3 s.
      uint64_t next_ms = lock_is_fresh(*q) ? 10 : 3000;
      q->consume_timer->start(next_ms, 0, [this, weak] {
        if (auto r = weak.lock(); r && !r->dropped) consume_orderly(r);
      });
    });
  });
}

// --- Offsets -----------------------------------------------------------------------------------

void Consumer::reset_offsets(const std::string& topic, const std::vector<std::pair<MessageQueue, int64_t>>& offsets) {
  for (auto& [mq, offset] : offsets) {
    if (mq.topic != topic) continue;
    auto it = queues_.find(mq);
    if (it == queues_.end()) continue;
    QueuePtr old = it->second;
    // A fresh state: the old one's pull in flight, held messages and timers are forgotten with it.
    auto st = std::make_shared<QueueState>();
    st->mq = mq;
    st->delay = std::make_unique<Timer>(loop_);
    st->consume_timer = std::make_unique<Timer>(loop_);
    st->locked = old->locked;
    st->last_lock_ms = old->last_lock_ms;
    st->previously_locked = old->previously_locked;
    st->next_offset = offset;
    st->consumed_to = offset;
    st->commit_offset = offset;
    old->dropped = true;
    old->delay.reset();
    old->consume_timer.reset();
    old->waiting.clear();
    old->held.clear();
    it->second = st;
    log_.info("offset of " + mq.to_string() + " reset to " + std::to_string(offset));
    commit_offset(st);
    resume(st);
  }
}

void Consumer::commit_offset(const QueuePtr& st) {
  if (st->commit_offset < 0) return;
  std::string addr = offset_broker_addr(st->mq.broker_name);
  if (addr.empty()) return;
  RemotingCommand req = RemotingCommand::request(request_code::kUpdateConsumerOffset);
  req.ext_fields.set("consumerGroup", options_.group);
  req.ext_fields.set("topic", st->mq.topic);
  req.ext_fields.set("queueId", st->mq.queue_id);
  req.ext_fields.set("commitOffset", st->commit_offset);
  rpc_->invoke_oneway(addr, std::move(req));
}

void Consumer::persist_all() {
  for (auto& [mq, st] : queues_) commit_offset(st);
}

std::vector<MessageQueue> Consumer::owned_queues() const {
  std::vector<MessageQueue> out;
  for (auto& [mq, st] : queues_) out.push_back(mq);
  return out;
}

int64_t Consumer::offset_of(const MessageQueue& mq) const {
  auto it = queues_.find(mq);
  return it == queues_.end() ? -1 : it->second->commit_offset;
}

void Consumer::shutdown(std::function<void()> done) {
  if (closing_) {
    loop_.post(std::move(done));
    return;
  }
  persist_all();
  // After the commits on the same connections, so the next owner reads them once it has the lock.
  if (options_.orderly) unlock_oneway(owned_queues());
  closing_ = true;
  rebalance_timer_.stop();
  persist_timer_.stop();
  heartbeat_timer_.stop();
  route_timer_.stop();
  lock_timer_.stop();
  for (auto& [mq, st] : queues_) {
    st->dropped = true;
    st->delay.reset();
    st->consume_timer.reset();
    st->waiting.clear();
    st->held.clear();
  }
  auto left = std::make_shared<int>(inner_producer_ ? 2 : 1);
  auto shared_done = std::make_shared<std::function<void()>>(std::move(done));
  auto one_done = [left, shared_done] {
    if (--*left == 0 && *shared_done) (*shared_done)();
  };
  if (inner_producer_) inner_producer_->shutdown(one_done);
  // Sent after the oneway commits on the same connections, so its answer also means they left.
  routes_->send_to_all_brokers(loop_, make_unregister_request(client_id_, "", options_.group), options_.rpc_timeout_ms,
                               one_done);
}

BlockingConsumer::BlockingConsumer(ConsumerOptions options, Logger log)
    : consumer_(std::make_unique<Consumer>(loop_, std::move(options), std::move(log))) {
  consumer_->set_listener([this](const ConsumedMessage& m) {
    buffer_.push_back(to_received(m));
    return decide_ ? decide_(buffer_.back()) : ConsumeStatus::kConsumeSuccess;
  });
}

BlockingConsumer::~BlockingConsumer() {
  bool done = false;
  consumer_->shutdown([&done] { done = true; });
  loop_.run_until([&done] { return done; });
  consumer_.reset();
  loop_.close_and_drain();
}

void BlockingConsumer::subscribe(const std::string& topic, const std::string& expression) {
  consumer_->subscribe(topic, expression);
}

void BlockingConsumer::set_listener(std::function<ConsumeStatus(const ReceivedMessage&)> decide) {
  decide_ = std::move(decide);
}

bool BlockingConsumer::start(int64_t timeout_ms) {
  consumer_->start();
  bool expired = false;
  Timer t(loop_);
  t.start(static_cast<uint64_t>(timeout_ms), 0, [&expired] { expired = true; });
  loop_.run_until([&] { return expired || consumer_->rebalance_rounds() > 0; });
  return consumer_->rebalance_rounds() > 0;
}

std::vector<ReceivedMessage> BlockingConsumer::poll(size_t max_messages, int64_t timeout_ms) {
  if (buffer_.size() < max_messages) {
    bool expired = false;
    Timer t(loop_);
    t.start(static_cast<uint64_t>(timeout_ms), 0, [&expired] { expired = true; });
    loop_.run_until([&] { return expired || buffer_.size() >= max_messages; });
  }
  std::vector<ReceivedMessage> out;
  while (!buffer_.empty() && out.size() < max_messages) {
    out.push_back(std::move(buffer_.front()));
    buffer_.pop_front();
  }
  return out;
}

}  // namespace mq
