#include "client/producer.h"

#include <unistd.h>

#include <chrono>
#include <optional>
#include <random>

#include "codec/codes.h"
#include "codec/header_reader.h"
#include "codec/route_data.h"

namespace mq {

namespace {

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool valid_topic_name(std::string_view t) {
  if (t.empty() || t.size() > kMaxTopicLengthV1) return false;
  for (char c : t) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '%' || c == '|' ||
              c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool reserved_property(std::string_view name) {
  return name == property::kKeys || name == property::kTags || name == property::kWaitStoreMsgOk ||
         name == property::kDelayTimeLevel || name == property::kUniqKey;
}

bool has_separator(std::string_view s) {
  return s.find(kNameValueSeparator) != std::string_view::npos || s.find(kPropertySeparator) != std::string_view::npos;
}

std::optional<std::string> check_message(const Message& m, const std::string& create_topic_key, size_t max_bytes) {
  if (!valid_topic_name(m.topic)) return "topic '" + m.topic + "' is empty, too long or has characters outside [%|a-zA-Z0-9_-]";
  if (m.topic == create_topic_key) return "topic " + m.topic + " is the auto-create template and cannot take messages";
  if (m.body.empty()) return std::string("the message body length is zero");
  if (m.body.size() > max_bytes)
    return "the message body size " + std::to_string(m.body.size()) + " is over the limit " + std::to_string(max_bytes);
  if (has_separator(m.tags) || has_separator(m.keys)) return std::string("tags and keys may not contain \\x01 or \\x02");
  for (auto& [k, v] : m.user_properties) {
    if (k.empty() || reserved_property(k)) return "user property name '" + k + "' is empty or reserved";
    if (has_separator(k) || has_separator(v)) return "user property '" + k + "' contains \\x01 or \\x02";
  }
  return std::nullopt;
}

}  // namespace

const char* send_status_name(SendStatus s) {
  switch (s) {
    case SendStatus::kSendOk: return "SEND_OK";
    case SendStatus::kFlushDiskTimeout: return "FLUSH_DISK_TIMEOUT";
    case SendStatus::kFlushSlaveTimeout: return "FLUSH_SLAVE_TIMEOUT";
    case SendStatus::kSlaveNotAvailable: return "SLAVE_NOT_AVAILABLE";
  }
  return "?";
}

std::string build_message_properties(const Message& m, const std::string& uniq_key) {
  // encode_properties of (user properties, KEYS, UNIQ_KEY, WAIT, TAGS, DELAY), written directly.
  std::string s;
  size_t n = uniq_key.size() + m.keys.size() + m.tags.size() + 48;
  for (auto& [k, v] : m.user_properties) n += k.size() + v.size() + 2;
  s.reserve(n);
  auto add = [&s](std::string_view k, std::string_view v) {
    if (!s.empty()) s.push_back(kPropertySeparator);
    s.append(k);
    s.push_back(kNameValueSeparator);
    s.append(v);
  };
  for (auto& [k, v] : m.user_properties) add(k, v);
  if (!m.keys.empty()) add(property::kKeys, m.keys);
  add(property::kUniqKey, uniq_key);
  add(property::kWaitStoreMsgOk, m.wait_store_msg_ok ? "true" : "false");
  if (!m.tags.empty()) add(property::kTags, m.tags);
  if (m.delay_time_level > 0) add(property::kDelayTimeLevel, std::to_string(m.delay_time_level));
  return s;
}

bool should_compress(size_t body_bytes, size_t compress_over_bytes) { return body_bytes >= compress_over_bytes; }

bool is_retriable_send_code(int32_t code) {
  switch (code) {
    case response_code::kTopicNotExist:
    case response_code::kServiceNotAvailable:
    case response_code::kSystemError:
    case response_code::kNoPermission:
    case 204:  // NO_BUYER_ID
    case 205:  // NOT_IN_CURRENT_UNIT
      return true;
    default:
      return false;
  }
}

ClientOutcome<SendResult> parse_send_response(const RemotingCommand& resp, const MessageQueue& mq,
                                              const std::string& uniq_ids) {
  SendResult r;
  switch (resp.code) {
    case response_code::kSuccess: r.status = SendStatus::kSendOk; break;
    case response_code::kFlushDiskTimeout: r.status = SendStatus::kFlushDiskTimeout; break;
    case response_code::kFlushSlaveTimeout: r.status = SendStatus::kFlushSlaveTimeout; break;
    case response_code::kSlaveNotAvailable: r.status = SendStatus::kSlaveNotAvailable; break;
    default:
      return client_error(ClientFailure::kBroker,
                          "broker " + mq.broker_name + " answered code " + std::to_string(resp.code) + ": " +
                              resp.remark.value_or(""),
                          resp.code);
  }
  HeaderReader h(resp.ext_fields);
  r.offset_msg_id = h.str("msgId");
  int32_t queue_id = h.i32("queueId");
  r.queue_offset = h.i64("queueOffset");
  if (!h.ok()) return client_error(ClientFailure::kBadResponse, "send response from " + mq.broker_name + ": " + h.error());
  r.queue = MessageQueue{mq.topic, mq.broker_name, queue_id};
  r.msg_id = uniq_ids;
  r.region_id = h.opt_str("MSG_REGION").value_or("DefaultRegion");
  r.transaction_id = h.opt_str("transactionId").value_or("");
  return r;
}

const MessageQueue* TopicPublishInfo::select(const std::string& avoid_broker) {
  if (queues.empty()) return nullptr;
  size_t n = queues.size();
  if (!avoid_broker.empty()) {
    for (size_t i = 0; i < n; ++i) {
      const MessageQueue& q = queues[next_index++ % n];
      if (q.broker_name != avoid_broker) return &q;
    }
  }
  return &queues[next_index++ % n];
}

struct Producer::SendContext {
  uint64_t id = 0;
  std::string topic;
  std::string body;        // as sent: compressed, or the batch encoding
  std::string properties;  // header `i`
  int32_t sys_flag = 0;
  int32_t flag = 0;
  int32_t reconsume_times = 0;
  int32_t max_reconsume_times = -1;
  bool batch = false;
  std::string uniq_ids;
  int64_t deadline_ms = 0;  // loop clock
  int attempts = 0;
  MessageQueue mq;
  std::string last_broker;
  bool done = false;
  SendCallback cb;
};

Producer::Producer(EventLoop& loop, ProducerOptions options, Logger log)
    : loop_(loop),
      options_(std::move(options)),
      log_(std::move(log)),
      client_ip_(options_.client_ip.empty() ? local_ipv4_address() : options_.client_ip),
      client_id_(make_client_id(client_ip_, options_.instance_name.empty() ? default_instance_name()
                                                                           : options_.instance_name)),
      rpc_(std::make_unique<RemotingClient>(loop, remoting_options(options_.connect_timeout_ms), log_)),
      routes_(std::make_unique<TopicRouteCache>(*rpc_, split_addr_list(options_.name_servers),
                                                options_.rpc_timeout_ms, log_)),
      uniq_(client_ip_, static_cast<uint32_t>(getpid()), static_cast<int32_t>(std::random_device{}())),
      random_start_(std::random_device{}()),
      route_timer_(loop),
      heartbeat_timer_(loop) {
  routes_->set_retry_interval_ms(options_.route_retry_interval_ms);
}

Producer::~Producer() {
  closing_ = true;
  destroyed_ = true;
  started_ = false;
  route_timer_.stop();
  heartbeat_timer_.stop();
  // Callbacks that run from here on see closing_ and end their sends with kShutdown.
  routes_->shutdown();
  rpc_.reset();
  auto left = std::move(in_flight_);
  in_flight_.clear();
  for (auto& [id, ctx] : left) {
    if (ctx->done) continue;
    ctx->done = true;
    ctx->cb(client_error(ClientFailure::kShutdown, "producer destroyed"));
  }
}

void Producer::start() {
  if (started_ || closing_) return;
  started_ = true;
  route_timer_.start(static_cast<uint64_t>(options_.route_refresh_interval_ms),
                     static_cast<uint64_t>(options_.route_refresh_interval_ms), [this] { refresh_routes(); });
  heartbeat_timer_.start(1000, static_cast<uint64_t>(options_.heartbeat_interval_ms), [this] { send_heartbeat(); });
}

void Producer::fail_later(SendCallback cb, Error<ClientFailure> err) {
  // Never call back inside send(): the caller may hold locks or be mid-iteration.
  loop_.post([cb = std::move(cb), err = std::move(err)]() mutable { cb(std::move(err)); });
}

void Producer::send(Message msg, SendCallback cb) {
  if (!started_ || closing_) {
    fail_later(std::move(cb), client_error(ClientFailure::kShutdown, "producer is not running"));
    return;
  }
  if (auto bad = check_message(msg, options_.create_topic_key, options_.max_message_size_bytes)) {
    fail_later(std::move(cb), client_error(ClientFailure::kBadArgument, *bad));
    return;
  }
  auto ctx = std::make_shared<SendContext>();
  ctx->topic = std::move(msg.topic);
  ctx->uniq_ids = uniq_.next();
  ctx->properties = build_message_properties(msg, ctx->uniq_ids);
  ctx->flag = msg.flag;
  // Java marks the half message of a transaction by this property alone (sendKernelImpl).
  for (auto& [k, v] : msg.user_properties)
    if (k == client_property::kTransactionPrepared && v == "true") ctx->sys_flag |= sysflag::kTransactionPreparedType;
  if (should_compress(msg.body.size(), options_.compress_over_bytes)) {
    ctx->body = zlib_deflate(msg.body, options_.compress_level);
    ctx->sys_flag |= kCompressedSysFlag;
  } else {
    ctx->body = std::move(msg.body);
  }
  ctx->cb = std::move(cb);
  begin(std::move(ctx));
}

void Producer::send_raw(RawMessage msg, SendCallback cb) {
  if (!started_ || closing_) {
    fail_later(std::move(cb), client_error(ClientFailure::kShutdown, "producer is not running"));
    return;
  }
  std::optional<std::string> bad;
  if (!valid_topic_name(msg.topic)) bad = "topic '" + msg.topic + "' is empty, too long or has bad characters";
  else if (msg.body.empty()) bad = "the message body length is zero";
  else if (msg.body.size() > options_.max_message_size_bytes) bad = "the message body is over maxMessageSize";
  if (bad) {
    fail_later(std::move(cb), client_error(ClientFailure::kBadArgument, *bad));
    return;
  }
  auto ctx = std::make_shared<SendContext>();
  ctx->topic = std::move(msg.topic);
  auto uniq = find_property(msg.properties, property::kUniqKey);
  if (uniq && !uniq->empty()) {
    ctx->uniq_ids = std::string(*uniq);
    ctx->properties = std::move(msg.properties);
  } else {
    ctx->uniq_ids = uniq_.next();
    ctx->properties = rewrite_properties(msg.properties, {{std::string(property::kUniqKey), ctx->uniq_ids}});
  }
  if (find_property(ctx->properties, client_property::kTransactionPrepared) == "true")
    ctx->sys_flag |= sysflag::kTransactionPreparedType;
  ctx->flag = msg.flag;
  ctx->reconsume_times = msg.reconsume_times;
  ctx->max_reconsume_times = msg.max_reconsume_times;
  if (should_compress(msg.body.size(), options_.compress_over_bytes)) {
    ctx->body = zlib_deflate(msg.body, options_.compress_level);
    ctx->sys_flag |= kCompressedSysFlag;
  } else {
    ctx->body = std::move(msg.body);
  }
  ctx->cb = std::move(cb);
  begin(std::move(ctx));
}

void Producer::register_request_handler(int32_t code, RequestHandler handler) {
  rpc_->dispatcher().register_handler(code, std::move(handler));
}

void Producer::invoke_oneway(const std::string& addr, RemotingCommand request) {
  if (destroyed_) return;
  rpc_->invoke_oneway(addr, std::move(request));
}

void Producer::send_batch(std::vector<Message> msgs, SendCallback cb) {
  if (!started_ || closing_) {
    fail_later(std::move(cb), client_error(ClientFailure::kShutdown, "producer is not running"));
    return;
  }
  if (msgs.empty()) {
    fail_later(std::move(cb), client_error(ClientFailure::kBadArgument, "empty batch"));
    return;
  }
  for (auto& m : msgs) {
    std::optional<std::string> bad = check_message(m, options_.create_topic_key, options_.max_message_size_bytes);
    if (!bad && m.topic != msgs[0].topic) bad = "all messages of a batch must have the same topic";
    if (!bad && m.delay_time_level > 0) bad = "batch messages may not be delayed";
    if (!bad && m.topic.starts_with("%RETRY%")) bad = "batches may not go to retry topics";
    if (bad) {
      fail_later(std::move(cb), client_error(ClientFailure::kBadArgument, *bad));
      return;
    }
  }
  auto ctx = std::make_shared<SendContext>();
  ctx->topic = msgs[0].topic;
  ctx->batch = true;
  std::vector<std::string> props;
  props.reserve(msgs.size());
  for (auto& m : msgs) {
    std::string id = uniq_.next();
    props.push_back(build_message_properties(m, id));
    if (!ctx->uniq_ids.empty()) ctx->uniq_ids += ',';
    ctx->uniq_ids += id;
  }
  std::vector<BatchItem> items;
  items.reserve(msgs.size());
  for (size_t i = 0; i < msgs.size(); ++i) items.push_back(BatchItem{msgs[i].flag, msgs[i].body, props[i]});
  ctx->body = encode_batch(items);
  if (ctx->body.size() > options_.max_message_size_bytes) {
    fail_later(std::move(cb), client_error(ClientFailure::kBadArgument, "batch body over maxMessageSize"));
    return;
  }
  // The batch itself carries only WAIT (MessageBatch's constructor default), as 4.9.4 sends it.
  ctx->properties = encode_properties({{std::string(property::kWaitStoreMsgOk), "true"}});
  ctx->cb = std::move(cb);
  begin(std::move(ctx));
}

void Producer::begin(std::shared_ptr<SendContext> ctx) {
  ctx->id = next_send_id_++;
  ctx->deadline_ms = loop_.now_ms() + options_.send_timeout_ms;
  in_flight_.emplace(ctx->id, ctx);
  attempt(std::move(ctx));
}

void Producer::with_publish_info(const std::string& topic,
                                 std::function<void(ClientOutcome<TopicPublishInfo*>)> cb) {
  auto it = publish_.find(topic);
  if (it != publish_.end() && !it->second.queues.empty()) {
    cb(&it->second);
    return;
  }
  routes_->fetch(topic, [this, topic, cb = std::move(cb)](ClientOutcome<RoutePtr> r) mutable {
    if (destroyed_) {
      cb(client_error(ClientFailure::kShutdown, "producer destroyed"));
      return;
    }
    if (r.ok()) {
      auto queues = publish_queues(topic, **r);
      if (!queues.empty()) {
        TopicPublishInfo& info = publish_[topic];
        if (info.queues.empty() && info.next_index == 0) info.next_index = random_start_++;
        info.queues = std::move(queues);
        info.from_default_topic = false;
        heartbeat_new_masters();
        cb(&info);
        return;
      }
    } else if (r.code().kind == ClientFailure::kRpc || r.code().kind == ClientFailure::kTimeout) {
      // No NameServer answered: the send fails now, as Java's "No route info of this topic"
      // (the route cache spaces the next lookup; sending along TBW102 would need one too).
      cb(client_error(ClientFailure::kNoRoute, "No route info of this topic: " + topic + " (" + r.detail() + ")"));
      return;
    } else if (r.code().kind != ClientFailure::kNoRoute) {
      cb(r.error());
      return;
    }
    // No route of its own: send along TBW102's route and let the broker create the topic.
    routes_->get(options_.create_topic_key, [this, topic, cb = std::move(cb)](ClientOutcome<RoutePtr> d) {
      if (!d.ok()) {
        cb(client_error(d.code().kind == ClientFailure::kNoRoute ? ClientFailure::kNoRoute : d.code().kind,
                        "no route info of topic " + topic + " (" + d.detail() + ")", d.code().response_code));
        return;
      }
      auto queues = publish_queues(topic, **d, options_.default_topic_queue_nums);
      if (queues.empty()) {
        cb(client_error(ClientFailure::kNoRoute, "no writable master queue for topic " + topic));
        return;
      }
      TopicPublishInfo& info = publish_[topic];
      if (info.queues.empty() && info.next_index == 0) info.next_index = random_start_++;
      info.queues = std::move(queues);
      info.from_default_topic = true;
      heartbeat_new_masters();
      cb(&info);
    });
  });
}

void Producer::attempt(std::shared_ptr<SendContext> ctx) {
  if (ctx->done) return;
  if (destroyed_) {
    finish(ctx, client_error(ClientFailure::kShutdown, "producer destroyed"));
    return;
  }
  if (loop_.now_ms() >= ctx->deadline_ms) {
    finish(ctx, client_error(ClientFailure::kTimeout, "send of " + ctx->topic + " timed out after " +
                                                          std::to_string(ctx->attempts) + " attempt(s)"));
    return;
  }
  std::string topic = ctx->topic;
  with_publish_info(topic, [this, ctx](ClientOutcome<TopicPublishInfo*> info) mutable {
    if (!info.ok()) {
      finish(ctx, info.error());
      return;
    }
    const MessageQueue* mq = (*info)->select(ctx->last_broker);
    std::string addr = mq ? routes_->master_addr(mq->broker_name) : std::string();
    ++ctx->attempts;
    if (mq == nullptr || addr.empty()) {
      if (mq) ctx->mq = *mq;
      on_attempt_failed(ctx, client_error(ClientFailure::kNoRoute, "no master address for a queue of " + ctx->topic));
      return;
    }
    ctx->mq = *mq;
    SendMessageRequestHeader h;
    h.producer_group = options_.group;
    h.topic = ctx->topic;
    h.default_topic = options_.create_topic_key;
    h.default_topic_queue_nums = options_.default_topic_queue_nums;
    h.queue_id = mq->queue_id;
    h.sys_flag = ctx->sys_flag;
    h.born_timestamp = wall_ms();
    h.flag = ctx->flag;
    h.properties = ctx->properties;
    h.reconsume_times = ctx->reconsume_times;
    h.max_reconsume_times = ctx->max_reconsume_times;
    h.batch = ctx->batch;
    int64_t budget = ctx->deadline_ms - loop_.now_ms();
    if (budget < 1) budget = 1;
    rpc_->invoke(addr, make_send_request(std::move(h), ctx->body), budget, [this, ctx](Result<RemotingCommand, RpcError> r) {
      if (ctx->done) return;
      if (destroyed_) {
        finish(ctx, client_error(ClientFailure::kShutdown, "producer destroyed"));
        return;
      }
      if (!r.ok()) {
        auto kind = r.code() == RpcError::kTimeout ? ClientFailure::kTimeout : ClientFailure::kRpc;
        on_attempt_failed(ctx, client_error(kind, r.detail()));
        return;
      }
      auto res = parse_send_response(*r, ctx->mq, ctx->uniq_ids);
      if (res.ok()) {
        bool stored_not_ok = res->status != SendStatus::kSendOk;
        if (stored_not_ok && options_.retry_another_broker_when_not_store_ok &&
            ctx->attempts < 1 + options_.retry_times_when_send_failed) {
          ctx->last_broker = ctx->mq.broker_name;
          attempt(ctx);
          return;
        }
        finish(ctx, std::move(res));
        return;
      }
      if (res.code().kind == ClientFailure::kBroker && is_retriable_send_code(res.code().response_code)) {
        on_attempt_failed(ctx, res.error());
        return;
      }
      finish(ctx, std::move(res));
    });
  });
}

void Producer::on_attempt_failed(std::shared_ptr<SendContext> ctx, Error<ClientFailure> err) {
  ctx->last_broker = ctx->mq.broker_name;
  log_.debug("send to " + ctx->mq.to_string() + " failed (attempt " + std::to_string(ctx->attempts) + "): " +
             err.detail);
  // The route may be stale (broker gone, topic moved): ask again in the background; the retry uses
  // what we have now.
  int64_t& last_refresh = last_failure_refresh_ms_[ctx->topic];
  if (!destroyed_ && loop_.now_ms() - last_refresh >= 1000) {  // at most once a second per topic
    last_refresh = loop_.now_ms();
    std::string topic = ctx->topic;
    routes_->fetch(topic, [this, topic](ClientOutcome<RoutePtr> r) {
      if (!r.ok() || (destroyed_)) return;
      auto queues = publish_queues(topic, **r);
      if (queues.empty()) return;
      TopicPublishInfo& info = publish_[topic];
      info.queues = std::move(queues);
      info.from_default_topic = false;
    });
  }
  bool budget_left = loop_.now_ms() < ctx->deadline_ms && err.code.kind != ClientFailure::kTimeout;
  if (budget_left && ctx->attempts < 1 + options_.retry_times_when_send_failed) {
    attempt(std::move(ctx));
    return;
  }
  finish(ctx, std::move(err));
}

void Producer::finish(const std::shared_ptr<SendContext>& ctx, ClientOutcome<SendResult> r) {
  if (ctx->done) return;
  ctx->done = true;
  in_flight_.erase(ctx->id);
  SendCallback cb = std::move(ctx->cb);
  cb(std::move(r));
}

void Producer::send_heartbeat() {
  if (closing_) return;
  for (auto& [name, addrs] : routes_->broker_addrs()) {
    auto m = addrs.find(0);
    if (m == addrs.end()) continue;  // producers heartbeat masters only
    heartbeat_to(m->second);
  }
}

void Producer::heartbeat_new_masters() {
  if (closing_ || !started_) return;
  for (auto& [name, addrs] : routes_->broker_addrs()) {
    auto m = addrs.find(0);
    if (m != addrs.end() && !heartbeated_masters_.contains(m->second)) heartbeat_to(m->second);
  }
}

void Producer::heartbeat_to(const std::string& addr) {
  heartbeated_masters_.insert(addr);
  rpc_->invoke(addr, make_heartbeat_request(encode_heartbeat_body(client_id_, {options_.group}, {})),
               options_.rpc_timeout_ms, [this, addr](Result<RemotingCommand, RpcError> r) {
                 if (destroyed_) return;
                 if (!r.ok()) log_.debug("heartbeat to " + addr + ": " + r.detail());
               });
}

void Producer::refresh_routes() {
  std::vector<std::string> topics;
  for (auto& [t, info] : publish_) topics.push_back(t);
  for (auto& topic : topics) {
    routes_->fetch(topic, [this, topic](ClientOutcome<RoutePtr> r) {
      if (!r.ok() || (destroyed_)) return;
      auto queues = publish_queues(topic, **r);
      if (queues.empty()) return;
      TopicPublishInfo& info = publish_[topic];
      info.queues = std::move(queues);
      info.from_default_topic = false;
    });
  }
}

void Producer::shutdown(std::function<void()> done) {
  closing_ = true;
  route_timer_.stop();
  heartbeat_timer_.stop();
  routes_->send_to_all_brokers(loop_, make_unregister_request(client_id_, options_.group, ""), options_.rpc_timeout_ms,
                               std::move(done));
}

BlockingProducer::BlockingProducer(ProducerOptions options, Logger log)
    : producer_(std::make_unique<Producer>(loop_, std::move(options), std::move(log))) {
  producer_->start();
}

BlockingProducer::~BlockingProducer() {
  bool done = false;
  producer_->shutdown([&done] { done = true; });
  loop_.run_until([&done] { return done; });
  producer_.reset();
  loop_.close_and_drain();
}

ClientOutcome<SendResult> BlockingProducer::send(Message msg) {
  std::optional<ClientOutcome<SendResult>> out;
  producer_->send(std::move(msg), [&out](ClientOutcome<SendResult> r) { out.emplace(std::move(r)); });
  loop_.run_until([&out] { return out.has_value(); });
  if (!out) return client_error(ClientFailure::kShutdown, "loop stopped before the send finished");
  return std::move(*out);
}

ClientOutcome<SendResult> BlockingProducer::send_batch(std::vector<Message> msgs) {
  std::optional<ClientOutcome<SendResult>> out;
  producer_->send_batch(std::move(msgs), [&out](ClientOutcome<SendResult> r) { out.emplace(std::move(r)); });
  loop_.run_until([&out] { return out.has_value(); });
  if (!out) return client_error(ClientFailure::kShutdown, "loop stopped before the send finished");
  return std::move(*out);
}

}  // namespace mq
