// A broker's metadata tables, in RocketMQ's JSON shapes under <storePathRootDir>/config/:
//   topics.json             {"dataVersion":{...},"topicConfigTable":{"<topic>":{TopicConfig}}}
//   subscriptionGroup.json  {"dataVersion":{...},"subscriptionGroupTable":{"<group>":{...}}}
//   consumerOffset.json     {"offsetTable":{"<topic>@<group>":{<queueId>:<offset>,...}}}  (unquoted
//                           integer keys, as fastjson writes them; quoted ones are accepted too)
// The tables live on the loop thread. Each change marks the table dirty; the broker writes the
// JSON text on its worker strand (temp file, fsync, rename, previous file kept as .bak), so a crash
// leaves either the old or the new file, never a torn one.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/result.h"
#include "codec/route_data.h"

namespace mq {

inline constexpr const char* kAutoCreateTopicKeyTopic = "TBW102";

class TopicConfigManager {
 public:
  // Adds the built-in topics RocketMQ adds at start (SELF_TEST_TOPIC, TBW102 when auto-create is
  // on, the cluster and broker name topics, OFFSET_MOVED_EVENT, SCHEDULE_TOPIC_XXXX, the reply topic).
  void add_system_topics(const std::string& cluster, const std::string& broker_name, bool auto_create_topic,
                         int32_t default_topic_queue_nums, int64_t now_ms);
  const TopicConfig* find(const std::string& topic) const;
  // Creates or replaces a topic (UPDATE_AND_CREATE_TOPIC) and bumps the data version.
  void put(const TopicConfig& config, int64_t now_ms);
  bool remove(const std::string& topic, int64_t now_ms);
  // Auto-creation on send (createTopicInSendMessageMethod): from `default_topic` if it exists and
  // has PERM_INHERIT. Returns the new config, or nothing.
  std::optional<TopicConfig> create_in_send(const std::string& topic, const std::string& default_topic,
                                            int32_t queue_nums, int32_t topic_sys_flag, int64_t now_ms);
  // %RETRY%<group> topics (one queue, read-write), created on consumer heartbeat.
  std::optional<TopicConfig> create_retry_topic(const std::string& topic, int32_t queue_nums, int64_t now_ms);

  const std::map<std::string, TopicConfig>& table() const { return table_; }
  const DataVersion& data_version() const { return data_version_; }
  TopicConfigWrapper wrapper() const;
  std::string to_json_text() const;
  Result<Unit, int> load_json_text(const std::string& text);
  bool take_dirty() { return std::exchange(dirty_, false); }
  void mark_dirty() { dirty_ = true; }

 private:
  void bump(int64_t now_ms);
  std::map<std::string, TopicConfig> table_;
  DataVersion data_version_;
  bool dirty_ = false;
};

struct SubscriptionGroupConfig {
  std::string group_name;
  bool consume_enable = true;
  bool consume_from_min_enable = true;
  bool consume_broadcast_enable = true;
  int32_t retry_queue_nums = 1;
  int32_t retry_max_times = 16;
  int64_t broker_id = 0;
  int64_t which_broker_when_consume_slowly = 1;
  bool notify_consumer_ids_changed_enable = true;
  nlohmann::json to_json() const;
  static SubscriptionGroupConfig from_json(const nlohmann::json& j);
};

class SubscriptionGroupManager {
 public:
  void add_system_groups(int64_t now_ms);
  const SubscriptionGroupConfig* find(const std::string& group) const;
  // Finds the group, creating it with defaults when `auto_create` (autoCreateSubscriptionGroup).
  const SubscriptionGroupConfig* find_or_create(const std::string& group, bool auto_create, int64_t now_ms);
  void put(const SubscriptionGroupConfig& config, int64_t now_ms);
  bool remove(const std::string& group, int64_t now_ms);
  const std::map<std::string, SubscriptionGroupConfig>& table() const { return table_; }
  const DataVersion& data_version() const { return data_version_; }
  std::string to_json_text() const;
  Result<Unit, int> load_json_text(const std::string& text);
  bool take_dirty() { return std::exchange(dirty_, false); }
  void mark_dirty() { dirty_ = true; }

 private:
  std::map<std::string, SubscriptionGroupConfig> table_;
  DataVersion data_version_;
  bool dirty_ = false;
};

class ConsumerOffsetManager {
 public:
  void commit(const std::string& group, const std::string& topic, int32_t queue_id, int64_t offset);
  // -1 when nothing was committed.
  int64_t query(const std::string& group, const std::string& topic, int32_t queue_id) const;
  const std::map<std::string, std::map<int32_t, int64_t>>& table() const { return table_; }
  // Groups with offsets for `topic` (RocketMQ's whichGroupByTopic).
  std::vector<std::string> groups_of_topic(const std::string& topic) const;
  // Topics `group` has offsets for, its retry topic among them (RocketMQ's whichTopicByConsumer).
  std::vector<std::string> topics_of_group(const std::string& group) const;
  void remove_topic(const std::string& topic);
  void remove_group(const std::string& group);
  std::string to_json_text() const;
  Result<Unit, int> load_json_text(const std::string& text);
  bool take_dirty() { return std::exchange(dirty_, false); }
  void mark_dirty() { dirty_ = true; }

 private:
  std::map<std::string, std::map<int32_t, int64_t>> table_;  // "topic@group" -> queue -> offset
  bool dirty_ = false;
};

// Reads a metadata file, falling back to `path.bak` when the main file is missing or is not valid
// JSON (RocketMQ's ConfigManager does the same).
std::optional<std::string> read_config_file(const std::string& path);

}  // namespace mq
