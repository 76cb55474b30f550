// The clients a broker knows: producer groups and consumer groups with their connections and
// subscriptions, fed by HEART_BEAT and UNREGISTER_CLIENT and emptied when connections close or go
// silent (channelExpiredTimeout, 120 s). Pure bookkeeping on the loop thread: it reports membership
// changes to its caller, which sends NOTIFY_CONSUMER_IDS_CHANGED.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mq {

class RemotingConnection;

struct SubscriptionData {
  std::string topic;
  std::string sub_string = "*";
  std::string expression_type = "TAG";
  std::set<std::string> tags_set;
  std::set<int32_t> code_set;
  int64_t sub_version = 0;
  bool class_filter_mode = false;
  bool matches_all() const { return sub_string.empty() || sub_string == "*"; }
  nlohmann::json to_json() const;
  static SubscriptionData from_json(const nlohmann::json& j);
  // Builds one from a tag expression ("*", "TagA || TagB"), as the client does.
  static SubscriptionData from_expression(const std::string& topic, const std::string& expression, int64_t version);
};

struct ClientChannel {
  std::string client_id;
  std::string client_addr;
  std::string language = "JAVA";
  int32_t version = 0;
  int64_t last_update_ms = 0;
  std::weak_ptr<RemotingConnection> connection;
};

struct ConsumerGroupInfo {
  std::string group_name;
  std::string consume_type = "CONSUME_PASSIVELY";
  std::string message_model = "CLUSTERING";
  std::string consume_from_where = "CONSUME_FROM_LAST_OFFSET";
  std::map<std::string, SubscriptionData> subscriptions;  // by topic
  std::map<uint64_t, ClientChannel> channels;              // by connection id
  std::vector<std::string> client_ids() const;
};

struct HeartbeatResult {
  std::vector<std::string> groups_changed;  // consumer groups whose membership changed
  std::vector<std::string> consumer_groups;  // every consumer group in the heartbeat
  std::vector<std::pair<std::string, SubscriptionData>> subscriptions;  // (group, sub) received
};

class ClientManager {
 public:
  // Applies a HEART_BEAT body (already parsed). Returns what changed. Times here are monotonic
  // (Clock::monotonic_ms): they only measure silence.
  HeartbeatResult heartbeat(const nlohmann::json& body, uint64_t connection_id, std::weak_ptr<RemotingConnection> conn,
                            const std::string& client_addr, const std::string& language, int32_t version,
                            int64_t now_ms);
  // Removes a client from the named groups (UNREGISTER_CLIENT). Returns consumer groups changed.
  std::vector<std::string> unregister(uint64_t connection_id, const std::string& producer_group,
                                      const std::string& consumer_group);
  // Forgets a connection everywhere. Returns consumer groups whose membership changed.
  std::vector<std::string> on_connection_closed(uint64_t connection_id);
  // Drops channels silent longer than `expired_ms`. Returns (consumer groups changed, channels dropped).
  std::pair<std::vector<std::string>, std::vector<std::weak_ptr<RemotingConnection>>> scan_expired(int64_t now_ms,
                                                                                                   int64_t expired_ms);

  const ConsumerGroupInfo* consumer_group(const std::string& group) const;
  const std::map<std::string, ConsumerGroupInfo>& consumer_groups() const { return consumers_; }
  const std::map<std::string, std::map<uint64_t, ClientChannel>>& producer_groups() const { return producers_; }
  size_t connection_count() const;

 private:
  std::map<std::string, ConsumerGroupInfo> consumers_;
  std::map<std::string, std::map<uint64_t, ClientChannel>> producers_;
};

}  // namespace mq
