#include "namesrv/route_info_manager.h"

#include "codec/codes.h"

namespace mq {

RegisterBrokerResult RouteInfoManager::register_broker(const RegisterBrokerRequest& req) {
  cluster_addr_table_[req.cluster_name].insert(req.broker_name);

  bool register_first = false;
  auto [bit, created] = broker_addr_table_.try_emplace(req.broker_name);
  BrokerData& bd = bit->second;
  if (created) {
    bd.cluster = req.cluster_name;
    bd.broker_name = req.broker_name;
    register_first = true;
  }
  // A slave promoted to master (or the reverse) keeps its address under a new id: drop the old id.
  for (auto it = bd.broker_addrs.begin(); it != bd.broker_addrs.end();) {
    if (it->second == req.broker_addr && it->first != req.broker_id) {
      it = bd.broker_addrs.erase(it);
    } else {
      ++it;
    }
  }
  auto old = bd.broker_addrs.find(req.broker_id);
  if (old == bd.broker_addrs.end() || old->second.empty()) register_first = true;
  bd.broker_addrs[req.broker_id] = req.broker_addr;

  if (req.broker_id == 0) {
    auto live = live_.find(req.broker_addr);
    bool changed = register_first || live == live_.end() || !(live->second.data_version == req.topics.data_version);
    if (changed) {
      for (const auto& [name, tc] : req.topics.topic_config_table) {
        QueueData q;
        q.broker_name = req.broker_name;
        q.read_queue_nums = tc.read_queue_nums;
        q.write_queue_nums = tc.write_queue_nums;
        q.perm = tc.perm;
        q.topic_sys_flag = tc.topic_sys_flag;
        topic_queue_table_[name][req.broker_name] = q;
      }
    }
  }

  LiveInfo& info = live_[req.broker_addr];
  info.last_update_ms = clock_.monotonic_ms();
  info.data_version = req.topics.data_version;
  info.ha_server_addr = req.ha_server_addr;
  info.connection_id = req.connection_id;
  info.cluster = req.cluster_name;
  info.broker_name = req.broker_name;

  RegisterBrokerResult result;
  if (req.broker_id != 0) {
    auto master = bd.broker_addrs.find(0);
    if (master != bd.broker_addrs.end()) {
      auto mlive = live_.find(master->second);
      if (mlive != live_.end()) {
        result.master_addr = master->second;
        result.ha_server_addr = mlive->second.ha_server_addr;
      }
    }
  }
  return result;
}

void RouteInfoManager::remove_broker_addr(const std::string& broker_addr) {
  auto live = live_.find(broker_addr);
  std::string broker_name;
  if (live != live_.end()) {
    broker_name = live->second.broker_name;
    live_.erase(live);
  }
  for (auto it = broker_addr_table_.begin(); it != broker_addr_table_.end();) {
    BrokerData& bd = it->second;
    if (!broker_name.empty() && bd.broker_name != broker_name) {
      ++it;
      continue;
    }
    for (auto a = bd.broker_addrs.begin(); a != bd.broker_addrs.end();) {
      if (a->second == broker_addr) {
        a = bd.broker_addrs.erase(a);
      } else {
        ++a;
      }
    }
    if (!bd.broker_addrs.empty()) {
      ++it;
      continue;
    }
    // The group is gone: out of its cluster and out of every topic.
    std::string name = bd.broker_name;
    for (auto c = cluster_addr_table_.begin(); c != cluster_addr_table_.end();) {
      c->second.erase(name);
      if (c->second.empty()) {
        c = cluster_addr_table_.erase(c);
      } else {
        ++c;
      }
    }
    for (auto t = topic_queue_table_.begin(); t != topic_queue_table_.end();) {
      t->second.erase(name);
      if (t->second.empty()) {
        t = topic_queue_table_.erase(t);
      } else {
        ++t;
      }
    }
    it = broker_addr_table_.erase(it);
  }
}

void RouteInfoManager::unregister_broker(const std::string& cluster, const std::string& broker_addr,
                                         const std::string& broker_name, int64_t broker_id) {
  auto live = live_.find(broker_addr);
  if (live != live_.end() && live->second.broker_name != broker_name) return;
  (void)cluster;
  (void)broker_id;
  remove_broker_addr(broker_addr);
}

std::vector<std::string> RouteInfoManager::on_connection_closed(uint64_t connection_id) {
  std::vector<std::string> gone;
  for (const auto& [addr, info] : live_)
    if (connection_id != 0 && info.connection_id == connection_id) gone.push_back(addr);
  for (const auto& a : gone) remove_broker_addr(a);
  return gone;
}

std::vector<std::string> RouteInfoManager::scan_not_active_brokers() {
  std::vector<std::string> gone;
  int64_t now = clock_.monotonic_ms();
  for (const auto& [addr, info] : live_)
    if (now - info.last_update_ms > broker_expired_ms_) gone.push_back(addr);
  for (const auto& a : gone) remove_broker_addr(a);
  return gone;
}

bool RouteInfoManager::is_data_version_changed(const std::string& broker_addr, const DataVersion& version) {
  auto it = live_.find(broker_addr);
  if (it == live_.end()) return true;
  it->second.last_update_ms = clock_.monotonic_ms();
  return !(it->second.data_version == version);
}

std::optional<DataVersion> RouteInfoManager::data_version_of(const std::string& broker_addr) const {
  auto it = live_.find(broker_addr);
  if (it == live_.end()) return std::nullopt;
  return it->second.data_version;
}

std::optional<TopicRouteData> RouteInfoManager::pickup_topic_route(const std::string& topic) const {
  auto t = topic_queue_table_.find(topic);
  if (t == topic_queue_table_.end() || t->second.empty()) return std::nullopt;
  TopicRouteData route;
  for (const auto& [name, q] : t->second) {
    route.queue_datas.push_back(q);
    auto b = broker_addr_table_.find(name);
    if (b != broker_addr_table_.end()) route.broker_datas.push_back(b->second);
  }
  if (route.broker_datas.empty()) return std::nullopt;
  return route;
}

nlohmann::json RouteInfoManager::cluster_info_json() const {
  nlohmann::json brokers = nlohmann::json::object();
  for (const auto& [name, bd] : broker_addr_table_) brokers[name] = bd.to_json();
  nlohmann::json clusters = nlohmann::json::object();
  for (const auto& [cluster, names] : cluster_addr_table_) clusters[cluster] = names;
  return nlohmann::json{{"brokerAddrTable", brokers}, {"clusterAddrTable", clusters}};
}

std::vector<std::string> RouteInfoManager::all_topics() const {
  std::vector<std::string> out;
  for (const auto& [t, _] : topic_queue_table_) out.push_back(t);
  return out;
}

std::vector<std::string> RouteInfoManager::topics_by_cluster(const std::string& cluster) const {
  std::vector<std::string> out;
  auto c = cluster_addr_table_.find(cluster);
  if (c == cluster_addr_table_.end()) return out;
  for (const auto& [t, by_broker] : topic_queue_table_) {
    for (const auto& name : c->second) {
      if (by_broker.count(name)) {
        out.push_back(t);
        break;
      }
    }
  }
  return out;
}

void RouteInfoManager::delete_topic(const std::string& topic, const std::string& cluster) {
  auto t = topic_queue_table_.find(topic);
  if (t == topic_queue_table_.end()) return;
  if (cluster.empty()) {
    topic_queue_table_.erase(t);
    return;
  }
  auto c = cluster_addr_table_.find(cluster);
  if (c != cluster_addr_table_.end())
    for (const auto& name : c->second) t->second.erase(name);
  if (t->second.empty()) topic_queue_table_.erase(t);
}

int RouteInfoManager::wipe_write_perm(const std::string& broker_name) {
  int n = 0;
  for (auto& [topic, by_broker] : topic_queue_table_) {
    auto q = by_broker.find(broker_name);
    if (q == by_broker.end()) continue;
    q->second.perm &= ~perm::kWrite;
    ++n;
  }
  return n;
}

int RouteInfoManager::add_write_perm(const std::string& broker_name) {
  int n = 0;
  for (auto& [topic, by_broker] : topic_queue_table_) {
    auto q = by_broker.find(broker_name);
    if (q == by_broker.end()) continue;
    q->second.perm |= perm::kWrite;
    ++n;
  }
  return n;
}

}  // namespace mq
