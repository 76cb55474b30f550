// Broker metadata files under <store root>/config, in RocketMQ's JSON shapes (reference 5.2-5.5):
//   topics.json             {"dataVersion":{...},"topicConfigTable":{"T":{"topicName":"T",...}}}
//   consumerOffset.json     {"offsetTable":{"topic@group":{0:12,1:7}}}
//   subscriptionGroup.json  {"dataVersion":{...},"subscriptionGroupTable":{"G":{...}}}
//   delayOffset.json        {"offsetTable":{1:3,2:0}}
// Java writes them with fastjson, which leaves integer map keys UNQUOTED ({0:12}); that is not
// JSON, so reading goes through a small pre-pass (quote_bare_keys) that quotes a number standing
// where an object key belongs. We write standard JSON with quoted keys, which fastjson reads too.
// Unknown keys are ignored on read (versions add fields), as RocketMQ does.
//
// Persisting follows RocketMQ's MixAll.string2File, made crash-safe: the new content goes to
// <file>.tmp and is fsync'd, the previous content is copied to <file>.bak (fsync'd), then .tmp is
// renamed over <file> and the directory fsync'd. After a crash at any point either <file> or
// <file>.bak holds a complete version; loading falls back to .bak when <file> is missing, empty or
// unparsable. Errors name the file; nlohmann exceptions never escape.
//
// Threading: plain functions; the broker calls them on its worker pool with a snapshot of its
// tables.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "base/result.h"
#include "store/file.h"

namespace mq::store {

enum class MetadataError {
  kNotFound,  // neither the file nor its .bak exists
  kParse,     // present but not in the expected shape
  kIo,        // read or write failed
};

template <typename T>
using MetadataResult = Result<T, MetadataError>;

// Quotes integer object keys ({0:1} -> {"0":1}) outside strings; everything else is unchanged.
std::string quote_bare_keys(std::string_view text);

struct DataVersion {
  int64_t counter = 0;
  int64_t state_version = 0;
  int64_t timestamp = 0;
  bool operator==(const DataVersion&) const = default;
};

struct TopicConfig {
  std::string topic_name;
  int32_t read_queue_nums = 16;
  int32_t write_queue_nums = 16;
  int32_t perm = 6;  // PERM_READ | PERM_WRITE
  std::string topic_filter_type = "SINGLE_TAG";
  int32_t topic_sys_flag = 0;
  bool order = false;
  std::map<std::string, std::string> attributes;
  bool operator==(const TopicConfig&) const = default;
};

struct TopicConfigTable {
  DataVersion data_version;
  std::map<std::string, TopicConfig> topics;
  bool operator==(const TopicConfigTable&) const = default;
};

struct ConsumerOffsetTable {
  // "topic@group" -> queue id -> committed offset.
  std::map<std::string, std::map<int32_t, int64_t>> offsets;
  bool operator==(const ConsumerOffsetTable&) const = default;
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
  bool operator==(const SubscriptionGroupConfig&) const = default;
};

struct SubscriptionGroupTable {
  DataVersion data_version;
  std::map<std::string, SubscriptionGroupConfig> groups;
  bool operator==(const SubscriptionGroupTable&) const = default;
};

struct DelayOffsetTable {
  // delay level -> next ConsumeQueue offset of SCHEDULE_TOPIC_XXXX queue level-1.
  std::map<int32_t, int64_t> offsets;
  bool operator==(const DelayOffsetTable&) const = default;
};

// Text <-> tables. `source` names the input in error details.
std::string encode_topics(const TopicConfigTable& t);
MetadataResult<TopicConfigTable> decode_topics(std::string_view text, const std::string& source);
std::string encode_consumer_offsets(const ConsumerOffsetTable& t);
MetadataResult<ConsumerOffsetTable> decode_consumer_offsets(std::string_view text,
                                                            const std::string& source);
std::string encode_subscription_groups(const SubscriptionGroupTable& t);
MetadataResult<SubscriptionGroupTable> decode_subscription_groups(std::string_view text,
                                                                  const std::string& source);
std::string encode_delay_offsets(const DelayOffsetTable& t);
MetadataResult<DelayOffsetTable> decode_delay_offsets(std::string_view text,
                                                      const std::string& source);

// Writes `content` to path with the .tmp / .bak / rename sequence above.
MetadataResult<Unit> persist_config_file(FileSystem& fs, const std::string& path,
                                         std::string_view content);

// Loads path (or path.bak) and decodes it with the matching decode_* function.
MetadataResult<TopicConfigTable> load_topics(FileSystem& fs, const std::string& path);
MetadataResult<ConsumerOffsetTable> load_consumer_offsets(FileSystem& fs, const std::string& path);
MetadataResult<SubscriptionGroupTable> load_subscription_groups(FileSystem& fs,
                                                                const std::string& path);
MetadataResult<DelayOffsetTable> load_delay_offsets(FileSystem& fs, const std::string& path);

// The conventional paths under a store root (RocketMQ's BrokerPathConfigHelper).
std::string topics_path(const std::string& store_root);
std::string consumer_offset_path(const std::string& store_root);
std::string subscription_group_path(const std::string& store_root);
std::string delay_offset_path(const std::string& store_root);

}  // namespace mq::store
