#include "client/consumer.h"

#include <algorithm>
#include <chrono>
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

ClientOutcome<Unit> to_consumed_message(const MessageRecord& r, std::string_view broker_name, ConsumedMessage& out,
                                        std::string& body_scratch) {
  out.topic = r.topic;
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

ReceivedMessage to_received(const ConsumedMessage& m) {
  ReceivedMessage r;
  r.topic = m.topic;
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
  r.born_timestamp = m.born_timestamp;
  r.store_timestamp = m.store_timestamp;
  return r;
}

struct Consumer::QueueState {
  MessageQueue mq;
  int64_t next_offset = -1;    // next pull; -1 until the starting offset is known
  int64_t commit_offset = -1;  // consumed, held in memory; -1 = none
  int64_t suggest_broker_id = 0;
  bool dropped = false;
  std::unique_ptr<Timer> delay;  // retries after errors
};

Consumer::Consumer(EventLoop& loop, ConsumerOptions options, Logger log)
    : loop_(loop),
      options_(std::move(options)),
      log_(std::move(log)),
      client_ip_(options_.client_ip.empty() ? local_ipv4_address() : options_.client_ip),
      client_id_(make_client_id(client_ip_, options_.instance_name.empty() ? default_instance_name()
                                                                           : options_.instance_name)),
      rpc_(std::make_unique<RemotingClient>(loop, RemotingClientOptions{}, log_)),
      routes_(std::make_unique<TopicRouteCache>(*rpc_, split_addr_list(options_.name_servers),
                                                options_.rpc_timeout_ms, log_)),
      rebalance_timer_(loop),
      persist_timer_(loop),
      heartbeat_timer_(loop),
      route_timer_(loop),
      random_(std::random_device{}()) {
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
}

Consumer::~Consumer() {
  closing_ = true;
  destroyed_ = true;
  for (auto& [mq, st] : queues_) {
    st->dropped = true;
    st->delay.reset();
  }
  routes_->shutdown();
  rpc_.reset();
  queues_.clear();
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
  for (auto& mq : mine) {
    if (queues_.contains(mq)) continue;
    changed = true;
    auto st = std::make_shared<QueueState>();
    st->mq = mq;
    st->delay = std::make_unique<Timer>(loop_);
    queues_.emplace(mq, st);
    log_.info("now consuming " + mq.to_string());
    query_offset(st);
  }
  // As Java's messageQueueChanged: brokers we now pull from must know our subscription.
  if (changed) send_heartbeat(nullptr);
}

void Consumer::drop_queue(const QueuePtr& st) {
  log_.info("no longer consuming " + st->mq.to_string());
  commit_offset(st);
  st->dropped = true;
  st->delay.reset();
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
      if (first || st->mq.topic.starts_with("%RETRY%")) {
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
  if (st->commit_offset < 0) st->commit_offset = offset;
  pull(st);
}

void Consumer::pull_later(const QueuePtr& st, int64_t delay_ms) {
  if (st->dropped || closing_ || !st->delay) return;
  std::weak_ptr<QueueState> weak = st;
  st->delay->start(static_cast<uint64_t>(delay_ms), 0, [this, weak] {
    auto s = weak.lock();
    if (!s || s->dropped || closing_) return;
    if (s->next_offset < 0)
      query_offset(s);
    else
      pull(s);
  });
}

void Consumer::pull(const QueuePtr& st) {
  if (st->dropped || closing_) return;
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
  std::string_view broker_name = st->mq.broker_name;
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
      const SubscriptionData* sub = subscription_of(st->mq.topic);
      ConsumedMessage msg;
      for (auto& rec : pr.records) {
        if (st->dropped) {
          // The handler shut us down mid-batch: what was delivered counts, the rest comes again.
          st->commit_offset = rec.queue_offset;
          return;
        }
        auto c = to_consumed_message(rec, broker_name, msg, body_scratch_);
        if (!c.ok()) {
          log_.error("skipping " + st->mq.to_string() + " offset " + std::to_string(rec.queue_offset) + ": " +
                     c.detail());
          continue;
        }
        if (sub != nullptr && !sub->matches_tag(msg.tags)) continue;
        ++delivered_;
        if (handler_) handler_(msg);
      }
      st->next_offset = pr.next_begin_offset;
      st->commit_offset = pr.next_begin_offset;
      if (!st->dropped) pull(st);
      return;
    }
    case PullResult::kNoNewMsg:
    case PullResult::kNoMatchedMsg:
      // Nothing is cached, so everything before nextBeginOffset is consumed (correctTagsOffset).
      st->next_offset = pr.next_begin_offset;
      st->commit_offset = pr.next_begin_offset;
      pull(st);
      return;
    case PullResult::kOffsetIllegal:
      log_.warn("offset " + std::to_string(st->next_offset) + " of " + st->mq.to_string() + " is illegal; moving to " +
                std::to_string(pr.next_begin_offset));
      st->next_offset = pr.next_begin_offset;
      st->commit_offset = pr.next_begin_offset;
      commit_offset(st);
      pull_later(st, options_.pull_delay_on_error_ms);
      return;
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
  closing_ = true;
  rebalance_timer_.stop();
  persist_timer_.stop();
  heartbeat_timer_.stop();
  route_timer_.stop();
  for (auto& [mq, st] : queues_) {
    st->dropped = true;
    st->delay.reset();
  }
  // Sent after the oneway commits on the same connections, so its answer also means they left.
  routes_->send_to_all_brokers(loop_, make_unregister_request(client_id_, "", options_.group), options_.rpc_timeout_ms,
                               std::move(done));
}

BlockingConsumer::BlockingConsumer(ConsumerOptions options, Logger log)
    : consumer_(std::make_unique<Consumer>(loop_, std::move(options), std::move(log))) {
  consumer_->set_handler([this](const ConsumedMessage& m) { buffer_.push_back(to_received(m)); });
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
