#include "broker/broker_metadata.h"

#include "base/file_util.h"
#include "codec/codes.h"
#include "codec/fastjson.h"

namespace mq {

using nlohmann::json;

namespace {
void next_version(DataVersion& v, int64_t now_ms) {
  v.counter += 1;
  v.timestamp = now_ms;
}

TopicConfig make_topic(const std::string& name, int32_t read, int32_t write, int32_t perm) {
  TopicConfig c;
  c.topic_name = name;
  c.read_queue_nums = read;
  c.write_queue_nums = write;
  c.perm = perm;
  return c;
}
}  // namespace

void TopicConfigManager::add_system_topics(const std::string& cluster, const std::string& broker_name,
                                           bool auto_create_topic, int32_t default_topic_queue_nums, int64_t now_ms) {
  auto add = [this](const TopicConfig& c) {
    if (!table_.count(c.topic_name)) table_[c.topic_name] = c;
  };
  add(make_topic("SELF_TEST_TOPIC", 1, 1, perm::kReadWrite));
  if (auto_create_topic)
    add(make_topic(kAutoCreateTopicKeyTopic, default_topic_queue_nums, default_topic_queue_nums,
                   perm::kInherit | perm::kReadWrite));
  add(make_topic(cluster, 16, 16, perm::kInherit | perm::kReadWrite));
  add(make_topic(broker_name, 1, 1, perm::kInherit | perm::kReadWrite));
  add(make_topic("OFFSET_MOVED_EVENT", 1, 1, perm::kReadWrite));
  add(make_topic("SCHEDULE_TOPIC_XXXX", 18, 18, perm::kReadWrite));
  add(make_topic(cluster + "_REPLY_TOPIC", 1, 1, perm::kReadWrite));
  if (data_version_.timestamp == 0) data_version_.timestamp = now_ms;
}

const TopicConfig* TopicConfigManager::find(const std::string& topic) const {
  auto it = table_.find(topic);
  return it == table_.end() ? nullptr : &it->second;
}

void TopicConfigManager::bump(int64_t now_ms) {
  next_version(data_version_, now_ms);
  dirty_ = true;
}

void TopicConfigManager::put(const TopicConfig& config, int64_t now_ms) {
  table_[config.topic_name] = config;
  bump(now_ms);
}

bool TopicConfigManager::remove(const std::string& topic, int64_t now_ms) {
  if (table_.erase(topic) == 0) return false;
  bump(now_ms);
  return true;
}

std::optional<TopicConfig> TopicConfigManager::create_in_send(const std::string& topic, const std::string& default_topic,
                                                              int32_t queue_nums, int32_t topic_sys_flag, int64_t now_ms) {
  if (auto existing = find(topic)) return *existing;
  const TopicConfig* tmpl = find(default_topic);
  if (tmpl == nullptr || (tmpl->perm & perm::kInherit) == 0) return std::nullopt;
  int32_t n = std::min(queue_nums, tmpl->write_queue_nums);
  if (n <= 0) n = 1;
  TopicConfig c = make_topic(topic, n, n, tmpl->perm & ~perm::kInherit);
  c.topic_sys_flag = topic_sys_flag;
  put(c, now_ms);
  return c;
}

std::optional<TopicConfig> TopicConfigManager::create_retry_topic(const std::string& topic, int32_t queue_nums,
                                                                  int64_t now_ms) {
  if (find(topic) != nullptr) return std::nullopt;
  put(make_topic(topic, queue_nums, queue_nums, perm::kReadWrite), now_ms);
  return *find(topic);
}

TopicConfigWrapper TopicConfigManager::wrapper() const {
  TopicConfigWrapper w;
  w.data_version = data_version_;
  w.topic_config_table = table_;
  return w;
}

std::string TopicConfigManager::to_json_text() const {
  json table = json::object();
  for (const auto& [name, c] : table_) table[name] = c.to_json();
  return json{{"dataVersion", data_version_.to_json()}, {"topicConfigTable", table}}.dump(2, ' ', false, kJsonReplace);
}

Result<Unit, int> TopicConfigManager::load_json_text(const std::string& text) {
  auto j = parse_fastjson(text);
  if (!j.ok() || !j->is_object()) return make_error(0, "not a JSON object");
  if (auto it = j->find("dataVersion"); it != j->end()) data_version_ = DataVersion::from_json(*it);
  if (auto it = j->find("topicConfigTable"); it != j->end() && it->is_object())
    for (auto t = it->begin(); t != it->end(); ++t) {
      TopicConfig c = TopicConfig::from_json(t.value());
      if (c.topic_name.empty()) c.topic_name = t.key();
      table_[t.key()] = c;
    }
  return Unit{};
}

json SubscriptionGroupConfig::to_json() const {
  return json{{"groupName", group_name},
              {"consumeEnable", consume_enable},
              {"consumeFromMinEnable", consume_from_min_enable},
              {"consumeBroadcastEnable", consume_broadcast_enable},
              {"retryQueueNums", retry_queue_nums},
              {"retryMaxTimes", retry_max_times},
              {"brokerId", broker_id},
              {"whichBrokerWhenConsumeSlowly", which_broker_when_consume_slowly},
              {"notifyConsumerIdsChangedEnable", notify_consumer_ids_changed_enable}};
}

SubscriptionGroupConfig SubscriptionGroupConfig::from_json(const json& j) {
  SubscriptionGroupConfig c;
  c.group_name = json_string(j, "groupName");
  c.consume_enable = json_bool(j, "consumeEnable", true);
  c.consume_from_min_enable = json_bool(j, "consumeFromMinEnable", true);
  c.consume_broadcast_enable = json_bool(j, "consumeBroadcastEnable", true);
  c.retry_queue_nums = static_cast<int32_t>(json_int(j, "retryQueueNums", 1));
  c.retry_max_times = static_cast<int32_t>(json_int(j, "retryMaxTimes", 16));
  c.broker_id = json_int(j, "brokerId", 0);
  c.which_broker_when_consume_slowly = json_int(j, "whichBrokerWhenConsumeSlowly", 1);
  c.notify_consumer_ids_changed_enable = json_bool(j, "notifyConsumerIdsChangedEnable", true);
  return c;
}

void SubscriptionGroupManager::add_system_groups(int64_t now_ms) {
  for (const char* g : {"TOOLS_CONSUMER", "FILTERSRV_CONSUMER", "SELF_TEST_C_GROUP", "CID_ONS-HTTP-PROXY",
                        "CID_ONSAPI_PULL", "CID_ONSAPI_PERMISSION", "CID_ONSAPI_OWNER", "CID_RMQ_SYS_TRANS"}) {
    if (!table_.count(g)) {
      SubscriptionGroupConfig c;
      c.group_name = g;
      table_[g] = c;
    }
  }
  if (data_version_.timestamp == 0) data_version_.timestamp = now_ms;
}

const SubscriptionGroupConfig* SubscriptionGroupManager::find(const std::string& group) const {
  auto it = table_.find(group);
  return it == table_.end() ? nullptr : &it->second;
}

const SubscriptionGroupConfig* SubscriptionGroupManager::find_or_create(const std::string& group, bool auto_create,
                                                                        int64_t now_ms) {
  if (auto* c = find(group)) return c;
  if (!auto_create || group.empty()) return nullptr;
  SubscriptionGroupConfig c;
  c.group_name = group;
  put(c, now_ms);
  return find(group);
}

void SubscriptionGroupManager::put(const SubscriptionGroupConfig& config, int64_t now_ms) {
  table_[config.group_name] = config;
  next_version(data_version_, now_ms);
  dirty_ = true;
}

bool SubscriptionGroupManager::remove(const std::string& group, int64_t now_ms) {
  if (table_.erase(group) == 0) return false;
  next_version(data_version_, now_ms);
  dirty_ = true;
  return true;
}

std::string SubscriptionGroupManager::to_json_text() const {
  json table = json::object();
  for (const auto& [name, c] : table_) table[name] = c.to_json();
  return json{{"dataVersion", data_version_.to_json()}, {"subscriptionGroupTable", table}}.dump(2, ' ', false, kJsonReplace);
}

Result<Unit, int> SubscriptionGroupManager::load_json_text(const std::string& text) {
  auto j = parse_fastjson(text);
  if (!j.ok() || !j->is_object()) return make_error(0, "not a JSON object");
  if (auto it = j->find("dataVersion"); it != j->end()) data_version_ = DataVersion::from_json(*it);
  if (auto it = j->find("subscriptionGroupTable"); it != j->end() && it->is_object())
    for (auto t = it->begin(); t != it->end(); ++t) {
      SubscriptionGroupConfig c = SubscriptionGroupConfig::from_json(t.value());
      if (c.group_name.empty()) c.group_name = t.key();
      table_[t.key()] = c;
    }
  return Unit{};
}

void ConsumerOffsetManager::commit(const std::string& group, const std::string& topic, int32_t queue_id, int64_t offset) {
  int64_t& slot = table_[topic + "@" + group][queue_id];
  if (slot != offset) {
    slot = offset;
    dirty_ = true;
  }
}

int64_t ConsumerOffsetManager::query(const std::string& group, const std::string& topic, int32_t queue_id) const {
  auto it = table_.find(topic + "@" + group);
  if (it == table_.end()) return -1;
  auto q = it->second.find(queue_id);
  return q == it->second.end() ? -1 : q->second;
}

std::vector<std::string> ConsumerOffsetManager::groups_of_topic(const std::string& topic) const {
  std::vector<std::string> out;
  for (const auto& [key, _] : table_) {
    size_t at = key.rfind('@');
    if (at != std::string::npos && key.compare(0, at, topic) == 0 && at == topic.size()) out.push_back(key.substr(at + 1));
  }
  return out;
}

std::vector<std::string> ConsumerOffsetManager::topics_of_group(const std::string& group) const {
  std::vector<std::string> out;
  for (const auto& [key, _] : table_) {
    size_t at = key.rfind('@');
    if (at != std::string::npos && key.compare(at + 1, std::string::npos, group) == 0) out.push_back(key.substr(0, at));
  }
  return out;
}

void ConsumerOffsetManager::remove_topic(const std::string& topic) {
  for (auto it = table_.begin(); it != table_.end();) {
    size_t at = it->first.rfind('@');
    if (at == topic.size() && it->first.compare(0, at, topic) == 0) {
      it = table_.erase(it);
      dirty_ = true;
    } else {
      ++it;
    }
  }
}

void ConsumerOffsetManager::remove_group(const std::string& group) {
  for (auto it = table_.begin(); it != table_.end();) {
    size_t at = it->first.rfind('@');
    if (at != std::string::npos && it->first.substr(at + 1) == group) {
      it = table_.erase(it);
      dirty_ = true;
    } else {
      ++it;
    }
  }
}

std::string ConsumerOffsetManager::to_json_text() const {
  // fastjson writes the queue ids unquoted; Java's reader accepts that form, and so does ours.
  std::string out = "{\"offsetTable\":{";
  bool first_topic = true;
  for (const auto& [key, queues] : table_) {
    if (!first_topic) out += ",";
    first_topic = false;
    out += json(key).dump(-1, ' ', false, kJsonReplace) + ":{";
    bool first_queue = true;
    for (const auto& [id, off] : queues) {
      if (!first_queue) out += ",";
      first_queue = false;
      out += std::to_string(id) + ":" + std::to_string(off);
    }
    out += "}";
  }
  return out + "}}";
}

Result<Unit, int> ConsumerOffsetManager::load_json_text(const std::string& text) {
  auto j = parse_fastjson(text);
  if (!j.ok() || !j->is_object()) return make_error(0, "not a JSON object");
  if (auto it = j->find("offsetTable"); it != j->end() && it->is_object())
    for (auto t = it->begin(); t != it->end(); ++t) {
      if (!t.value().is_object()) continue;
      for (auto q = t.value().begin(); q != t.value().end(); ++q) {
        // A float beyond int64's range (1e300) is no offset either; converting it is undefined.
        const double d = q.value().is_number_float() ? q.value().get<double>() : 0.0;
        if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) continue;
        try {
          table_[t.key()][std::stoi(q.key())] = q.value().get<int64_t>();
        } catch (...) {
          // A non-numeric queue id or offset cannot come from RocketMQ; skip it.
        }
      }
    }
  return Unit{};
}

std::optional<std::string> read_config_file(const std::string& path) {
  for (const std::string& p : {path, path + ".bak"}) {
    auto text = read_whole_file(p);
    if (text && !text->empty() && parse_fastjson(*text).ok()) return text;
  }
  return std::nullopt;
}

}  // namespace mq
