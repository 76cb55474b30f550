// JSON bodies shared by brokers, the NameServer and clients: DataVersion, TopicConfig,
// the topic config wrapper of REGISTER_BROKER (plain and zlib-compressed), QueueData, BrokerData,
// TopicRouteData and ClusterInfo. Field names and shapes are RocketMQ's (see the reference, 3.4-3.7).
//
// Compressed REGISTER_BROKER body (broker option compressedRegister): a zlib stream whose inflated
// content is int32 length + DataVersion JSON, int32 topic count, then per topic int32 length + the
// text "topicName readQueueNums writeQueueNums perm topicFilterType[ attributesJSON]", then int32
// length + filterServerList JSON (and, for version >= 413, a topic-queue-mapping section we skip).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"

namespace mq {

struct DataVersion {
  int64_t counter = 0;
  int64_t state_version = 0;
  int64_t timestamp = 0;
  bool operator==(const DataVersion&) const = default;
  nlohmann::json to_json() const;
  static DataVersion from_json(const nlohmann::json& j);
};

struct TopicConfig {
  std::string topic_name;
  int32_t read_queue_nums = 16;
  int32_t write_queue_nums = 16;
  int32_t perm = 6;
  std::string topic_filter_type = "SINGLE_TAG";
  int32_t topic_sys_flag = 0;
  bool order = false;
  bool operator==(const TopicConfig&) const = default;
  nlohmann::json to_json() const;
  static TopicConfig from_json(const nlohmann::json& j);
};

struct TopicConfigWrapper {
  DataVersion data_version;
  std::map<std::string, TopicConfig> topic_config_table;
  std::vector<std::string> filter_server_list;
};

enum class BodyError { kInvalid };

// The REGISTER_BROKER body: RegisterBrokerBody JSON, its compressed form, or (version < 37) a bare
// TopicConfigSerializeWrapper.
Result<TopicConfigWrapper, BodyError> decode_register_broker_body(std::string_view body, bool compressed,
                                                                  int32_t request_version);
std::string encode_register_broker_body(const TopicConfigWrapper& w, bool compressed);

struct QueueData {
  std::string broker_name;
  int32_t read_queue_nums = 0;
  int32_t write_queue_nums = 0;
  int32_t perm = 6;
  int32_t topic_sys_flag = 0;
  bool operator==(const QueueData&) const = default;
  nlohmann::json to_json() const;
  static QueueData from_json(const nlohmann::json& j);
};

struct BrokerData {
  std::string cluster;
  std::string broker_name;
  std::map<int64_t, std::string> broker_addrs;  // brokerId -> "ip:port"; 0 is the master
  nlohmann::json to_json() const;
  static BrokerData from_json(const nlohmann::json& j);
};

struct TopicRouteData {
  std::vector<QueueData> queue_datas;
  std::vector<BrokerData> broker_datas;
  std::string order_topic_conf;
  nlohmann::json to_json() const;
  static Result<TopicRouteData, BodyError> parse(std::string_view body);
};

// The body text of a route: keys of brokerAddrs quoted for version >= 401 (V4_9_4) or when the
// client asked for standard JSON, unquoted (fastjson's plain form) otherwise.
std::string encode_route_body(const TopicRouteData& route, bool standard_json);

struct ClusterInfo {
  std::map<std::string, BrokerData> broker_addr_table;
  std::map<std::string, std::vector<std::string>> cluster_addr_table;
  static Result<ClusterInfo, BodyError> parse(std::string_view body);
};

// Inflates a zlib stream, refusing more than `max_bytes` of output.
Result<std::string, BodyError> zlib_inflate(std::string_view in, size_t max_bytes);
std::string zlib_deflate(std::string_view in, int level = 9);

}  // namespace mq
