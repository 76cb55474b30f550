#include "broker/client_manager.h"

#include <set>

#include "base/hash.h"
#include "codec/fastjson.h"

namespace mq {

nlohmann::json SubscriptionData::to_json() const {
  return nlohmann::json{{"topic", topic},       {"subString", sub_string}, {"tagsSet", tags_set},
                        {"codeSet", code_set},  {"subVersion", sub_version}, {"expressionType", expression_type},
                        {"classFilterMode", class_filter_mode}};
}

SubscriptionData SubscriptionData::from_json(const nlohmann::json& j) {
  SubscriptionData s;
  s.topic = json_string(j, "topic");
  s.sub_string = json_string(j, "subString", "*");
  s.expression_type = json_string(j, "expressionType", "TAG");
  s.sub_version = json_int(j, "subVersion");
  s.class_filter_mode = json_bool(j, "classFilterMode");
  if (auto it = j.find("tagsSet"); it != j.end() && it->is_array())
    for (auto& t : *it)
      if (t.is_string()) s.tags_set.insert(t.get<std::string>());
  if (auto it = j.find("codeSet"); it != j.end() && it->is_array())
    for (auto& c : *it)
      if (c.is_number_integer()) s.code_set.insert(static_cast<int32_t>(c.get<int64_t>()));
  // Old or foreign clients may send tags without codes: derive them.
  if (s.code_set.empty())
    for (const auto& t : s.tags_set) s.code_set.insert(java_string_hash(t));
  return s;
}

SubscriptionData SubscriptionData::from_expression(const std::string& topic, const std::string& expression,
                                                   int64_t version) {
  SubscriptionData s;
  s.topic = topic;
  s.sub_version = version;
  std::string e = expression;
  auto trim = [](std::string x) {
    size_t b = x.find_first_not_of(" \t");
    if (b == std::string::npos) return std::string();
    return x.substr(b, x.find_last_not_of(" \t") - b + 1);
  };
  e = trim(e);
  if (e.empty() || e == "*") {
    s.sub_string = "*";
    return s;
  }
  s.sub_string = e;
  size_t start = 0;
  while (start <= e.size()) {
    size_t bar = e.find("||", start);
    std::string tag = trim(e.substr(start, bar == std::string::npos ? std::string::npos : bar - start));
    if (!tag.empty()) {
      s.tags_set.insert(tag);
      s.code_set.insert(java_string_hash(tag));
    }
    if (bar == std::string::npos) break;
    start = bar + 2;
  }
  return s;
}

std::vector<std::string> ConsumerGroupInfo::client_ids() const {
  std::set<std::string> ids;
  for (const auto& [id, ch] : channels) ids.insert(ch.client_id);
  return {ids.begin(), ids.end()};
}

HeartbeatResult ClientManager::heartbeat(const nlohmann::json& body, uint64_t connection_id,
                                         std::weak_ptr<RemotingConnection> conn, const std::string& client_addr,
                                         const std::string& language, int32_t version, int64_t now_ms) {
  HeartbeatResult result;
  ClientChannel ch;
  ch.client_id = json_string(body, "clientID");
  ch.client_addr = client_addr;
  ch.language = language;
  ch.version = version;
  ch.last_update_ms = now_ms;
  ch.connection = conn;
  if (auto it = body.find("producerDataSet"); it != body.end() && it->is_array()) {
    for (const auto& p : *it) {
      std::string group = json_string(p, "groupName");
      if (!group.empty()) producers_[group][connection_id] = ch;
    }
  }
  if (auto it = body.find("consumerDataSet"); it != body.end() && it->is_array()) {
    for (const auto& c : *it) {
      std::string group = json_string(c, "groupName");
      if (group.empty()) continue;
      ConsumerGroupInfo& info = consumers_[group];
      info.group_name = group;
      info.consume_type = json_string(c, "consumeType", info.consume_type);
      info.message_model = json_string(c, "messageModel", info.message_model);
      info.consume_from_where = json_string(c, "consumeFromWhere", info.consume_from_where);
      bool is_new = !info.channels.count(connection_id) || info.channels[connection_id].client_id != ch.client_id;
      info.channels[connection_id] = ch;
      if (is_new) result.groups_changed.push_back(group);
      result.consumer_groups.push_back(group);
      if (auto subs = c.find("subscriptionDataSet"); subs != c.end() && subs->is_array()) {
        for (const auto& sj : *subs) {
          SubscriptionData s = SubscriptionData::from_json(sj);
          if (s.topic.empty()) continue;
          auto old = info.subscriptions.find(s.topic);
          if (old == info.subscriptions.end() || old->second.sub_version <= s.sub_version) info.subscriptions[s.topic] = s;
          result.subscriptions.emplace_back(group, s);
        }
      }
    }
  }
  return result;
}

std::vector<std::string> ClientManager::unregister(uint64_t connection_id, const std::string& producer_group,
                                                   const std::string& consumer_group) {
  std::vector<std::string> changed;
  if (!producer_group.empty()) {
    auto p = producers_.find(producer_group);
    if (p != producers_.end()) {
      p->second.erase(connection_id);
      if (p->second.empty()) producers_.erase(p);
    }
  }
  if (!consumer_group.empty()) {
    auto c = consumers_.find(consumer_group);
    if (c != consumers_.end() && c->second.channels.erase(connection_id) > 0) {
      changed.push_back(consumer_group);
      if (c->second.channels.empty()) consumers_.erase(c);
    }
  }
  return changed;
}

std::vector<std::string> ClientManager::on_connection_closed(uint64_t connection_id) {
  std::vector<std::string> changed;
  for (auto p = producers_.begin(); p != producers_.end();) {
    p->second.erase(connection_id);
    p = p->second.empty() ? producers_.erase(p) : std::next(p);
  }
  for (auto c = consumers_.begin(); c != consumers_.end();) {
    if (c->second.channels.erase(connection_id) > 0) changed.push_back(c->first);
    c = c->second.channels.empty() ? consumers_.erase(c) : std::next(c);
  }
  return changed;
}

std::pair<std::vector<std::string>, std::vector<std::weak_ptr<RemotingConnection>>> ClientManager::scan_expired(
    int64_t now_ms, int64_t expired_ms) {
  std::vector<std::string> changed;
  std::vector<std::weak_ptr<RemotingConnection>> dropped;
  for (auto p = producers_.begin(); p != producers_.end();) {
    for (auto ch = p->second.begin(); ch != p->second.end();) {
      if (now_ms - ch->second.last_update_ms > expired_ms) {
        dropped.push_back(ch->second.connection);
        ch = p->second.erase(ch);
      } else {
        ++ch;
      }
    }
    p = p->second.empty() ? producers_.erase(p) : std::next(p);
  }
  for (auto c = consumers_.begin(); c != consumers_.end();) {
    bool any = false;
    for (auto ch = c->second.channels.begin(); ch != c->second.channels.end();) {
      if (now_ms - ch->second.last_update_ms > expired_ms) {
        dropped.push_back(ch->second.connection);
        ch = c->second.channels.erase(ch);
        any = true;
      } else {
        ++ch;
      }
    }
    if (any) changed.push_back(c->first);
    c = c->second.channels.empty() ? consumers_.erase(c) : std::next(c);
  }
  return {changed, dropped};
}

const ConsumerGroupInfo* ClientManager::consumer_group(const std::string& group) const {
  auto it = consumers_.find(group);
  return it == consumers_.end() ? nullptr : &it->second;
}

size_t ClientManager::connection_count() const {
  std::set<uint64_t> ids;
  for (const auto& [g, chs] : producers_)
    for (const auto& [id, ch] : chs) ids.insert(id);
  for (const auto& [g, info] : consumers_)
    for (const auto& [id, ch] : info.channels) ids.insert(id);
  return ids.size();
}

}  // namespace mq
