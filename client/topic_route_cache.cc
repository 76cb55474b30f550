#include "client/topic_route_cache.h"

#include <algorithm>

#include "codec/codes.h"

namespace mq {

std::vector<MessageQueue> publish_queues(const std::string& topic, const TopicRouteData& route, int32_t queue_cap) {
  std::vector<MessageQueue> out;
  if (!route.order_topic_conf.empty()) {
    // "brokerA:4;brokerB:4": ordered topics name their queues explicitly.
    std::string_view conf = route.order_topic_conf;
    size_t pos = 0;
    while (pos < conf.size()) {
      size_t semi = conf.find(';', pos);
      std::string_view item = conf.substr(pos, semi == std::string_view::npos ? std::string_view::npos : semi - pos);
      size_t colon = item.find(':');
      if (colon != std::string_view::npos) {
        int n = std::atoi(std::string(item.substr(colon + 1)).c_str());
        for (int i = 0; i < n; ++i) out.push_back({topic, std::string(item.substr(0, colon)), i});
      }
      if (semi == std::string_view::npos) break;
      pos = semi + 1;
    }
    return out;
  }
  std::vector<const QueueData*> qds;
  for (auto& q : route.queue_datas) qds.push_back(&q);
  std::stable_sort(qds.begin(), qds.end(), [](auto* a, auto* b) { return a->broker_name < b->broker_name; });
  for (auto* q : qds) {
    if ((q->perm & perm::kWrite) == 0) continue;
    const BrokerData* bd = nullptr;
    for (auto& b : route.broker_datas)
      if (b.broker_name == q->broker_name) bd = &b;
    if (bd == nullptr || !bd->broker_addrs.contains(0)) continue;
    int32_t n = q->write_queue_nums;
    if (queue_cap > 0) n = std::min(n, queue_cap);
    for (int32_t i = 0; i < n; ++i) out.push_back({topic, q->broker_name, i});
  }
  return out;
}

std::vector<MessageQueue> subscribe_queues(const std::string& topic, const TopicRouteData& route) {
  std::vector<MessageQueue> out;
  for (auto& q : route.queue_datas) {
    if ((q.perm & perm::kRead) == 0) continue;
    for (int32_t i = 0; i < q.read_queue_nums; ++i) out.push_back({topic, q.broker_name, i});
  }
  std::sort(out.begin(), out.end());
  return out;
}

TopicRouteCache::TopicRouteCache(RemotingClient& rpc, std::vector<std::string> name_servers, int64_t timeout_ms,
                                 Logger log)
    : rpc_(rpc), name_servers_(std::move(name_servers)), timeout_ms_(timeout_ms), log_(std::move(log)) {}

TopicRouteCache::~TopicRouteCache() {
  *alive_ = false;
}

RoutePtr TopicRouteCache::cached(const std::string& topic) const {
  auto it = routes_.find(topic);
  return it == routes_.end() ? nullptr : it->second;
}

void TopicRouteCache::get(const std::string& topic, RouteCallback cb) {
  if (auto r = cached(topic)) {
    cb(r);
    return;
  }
  fetch(topic, std::move(cb));
}

void TopicRouteCache::fetch(const std::string& topic, RouteCallback cb) {
  if (shut_down_) {
    cb(client_error(ClientFailure::kShutdown, "route cache shut down"));
    return;
  }
  auto& waiters = waiting_[topic];
  waiters.push_back(std::move(cb));
  if (waiters.size() != 1) return;
  if (auto f = unanswered_.find(topic); f != unanswered_.end()) {
    int64_t wait = f->second.at_ms + retry_interval_ms_ - rpc_.loop().fresh_now_ms();
    if (wait > 0) {
      // Fail from the loop, not inside fetch(); fetches until then join this failure.
      std::string why = f->second.detail + " (not asked again for another " + std::to_string(wait) + " ms)";
      std::weak_ptr<bool> alive = alive_;
      rpc_.loop().post([this, alive, topic, why] {
        if (alive.expired() || shut_down_) return;
        finish(topic, client_error(ClientFailure::kRpc, why));
      });
      return;
    }
  }
  ask(topic, 0);
}

void TopicRouteCache::refresh_all() {
  std::vector<std::string> topics;
  for (auto& [t, r] : routes_) topics.push_back(t);
  for (auto& t : topics) fetch(t, [](ClientOutcome<RoutePtr>) {});
}

void TopicRouteCache::shutdown() {
  shut_down_ = true;
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& [t, cbs] : waiting)
    for (auto& cb : cbs) cb(client_error(ClientFailure::kShutdown, "route cache shut down"));
}

void TopicRouteCache::ask(const std::string& topic, size_t attempt) {
  if (name_servers_.empty()) {
    finish(topic, client_error(ClientFailure::kNoRoute, "no NameServer address configured"));
    return;
  }
  if (attempt >= name_servers_.size()) {
    std::string why = "no NameServer answered for topic " + topic + " (last: " + last_ns_error_ + ")";
    unanswered_[topic] = FailedLookup{rpc_.loop().fresh_now_ms(), why};
    finish(topic, client_error(ClientFailure::kRpc, why));
    return;
  }
  size_t idx = (good_ns_ + attempt) % name_servers_.size();
  RemotingCommand req = RemotingCommand::request(request_code::kGetRouteinfoByTopic);
  req.ext_fields.set("topic", topic);
  std::weak_ptr<bool> alive = alive_;
  ++lookups_sent_;
  rpc_.invoke(name_servers_[idx], std::move(req), timeout_ms_,
              [this, alive, topic, attempt, idx](Result<RemotingCommand, RpcError> r) {
                if (alive.expired() || shut_down_) return;
                if (!r.ok()) {
                  log_.debug("NameServer " + name_servers_[idx] + ": " + r.detail());
                  last_ns_error_ = r.detail();
                  ask(topic, attempt + 1);
                  return;
                }
                good_ns_ = idx;
                unanswered_.erase(topic);
                if (r->code == response_code::kTopicNotExist) {
                  finish(topic, client_error(ClientFailure::kNoRoute, "no route for topic " + topic, r->code));
                  return;
                }
                if (r->code != response_code::kSuccess) {
                  finish(topic, client_error(ClientFailure::kBroker,
                                             "route of " + topic + ": code " + std::to_string(r->code) + " " +
                                                 r->remark.value_or(""),
                                             r->code));
                  return;
                }
                auto parsed = TopicRouteData::parse(r->body);
                if (!parsed.ok()) {
                  finish(topic, client_error(ClientFailure::kBadResponse, "unreadable route body for " + topic));
                  return;
                }
                auto route = std::make_shared<const TopicRouteData>(std::move(*parsed));
                // A route names every live broker of a group, so it replaces what we knew of that
                // group (a dead master drops out and pulls fall back to its slave), as Java's
                // brokerAddrTable.put does.
                for (auto& b : route->broker_datas) broker_addrs_[b.broker_name] = b.broker_addrs;
                routes_[topic] = route;
                finish(topic, RoutePtr(route));
              });
}

void TopicRouteCache::finish(const std::string& topic, ClientOutcome<RoutePtr> r) {
  auto it = waiting_.find(topic);
  if (it == waiting_.end()) return;
  auto cbs = std::move(it->second);
  waiting_.erase(it);
  for (auto& cb : cbs) cb(r);
}

std::string TopicRouteCache::find_broker_addr(const std::string& broker_name, int64_t broker_id,
                                              bool only_this) const {
  auto it = broker_addrs_.find(broker_name);
  if (it == broker_addrs_.end() || it->second.empty()) return {};
  auto a = it->second.find(broker_id);
  if (a != it->second.end()) return a->second;
  if (only_this) return {};
  auto m = it->second.find(0);
  if (m != it->second.end()) return m->second;
  return it->second.begin()->second;
}

void TopicRouteCache::send_to_all_brokers(EventLoop& loop, const RemotingCommand& request, int64_t timeout_ms,
                                          std::function<void()> done) {
  std::vector<std::string> addrs;
  for (auto& [name, ids] : broker_addrs())
    for (auto& [id, addr] : ids) addrs.push_back(addr);
  if (addrs.empty()) {
    loop.post(std::move(done));
    return;
  }
  auto left = std::make_shared<size_t>(addrs.size());
  auto shared_done = std::make_shared<std::function<void()>>(std::move(done));
  for (auto& addr : addrs) {
    rpc_.invoke(addr, request, timeout_ms, [left, shared_done](Result<RemotingCommand, RpcError>) {
      if (--*left == 0 && *shared_done) {
        auto d = std::move(*shared_done);
        *shared_done = nullptr;
        d();
      }
    });
  }
}

}  // namespace mq
