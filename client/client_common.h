// What the producer and the consumer share: message queues, client identity (clientID and the
// UNIQ_KEY message id generator), subscriptions with their tag hash codes, the HEART_BEAT body and
// the UNREGISTER_CLIENT request, and the error type of client calls.
//
// Identity follows the Java client (reference 3.8, 4.5), because brokers and tools show these
// values and group members are told apart by clientID:
//   clientID = clientIP "@" instanceName, instanceName defaulting to "<pid>#<nanotime>";
//   UNIQ_KEY = upper-case hex of ip(4) | pid(i16) | per-instance random (Java: classloader hash, i32)
//              | ms since the start of the current month, local time (i32) | counter (i16).
#pragma once
#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "codec/remoting_command.h"
#include "remoting/client.h"

namespace mq {

// Why a client call failed. `response_code` is the broker's code for kBroker.
struct ClientFailure {
  enum Kind {
    kNoRoute,      // no route: no NameServer knows the topic (and no TBW102 fallback), or none
                   // answered ("No route info of this topic", as the Java client says)
    kRpc,          // connect failed / connection closed before the answer
    kTimeout,      // no answer within the call's time budget
    kBroker,       // the broker answered with a code that is not a success
    kBadArgument,  // refused before sending (empty body, bad topic, ...)
    kBadResponse,  // an answer we could not read
    kShutdown,     // the client was shut down before the call finished
  } kind = kRpc;
  int32_t response_code = 0;
};
const char* client_failure_name(ClientFailure::Kind k);

// The remoting options of a client's connections (connect timeout; back-off as remoting/client.h).
RemotingClientOptions remoting_options(int64_t connect_timeout_ms);

template <typename T>
using ClientOutcome = Result<T, ClientFailure>;

inline Error<ClientFailure> client_error(ClientFailure::Kind kind, std::string detail, int32_t code = 0) {
  return Error<ClientFailure>{ClientFailure{kind, code}, std::move(detail)};
}

// A queue of a topic on one broker (by brokerName: the master and its slaves share it). Ordered
// like Java's MessageQueue.compareTo: topic, brokerName, queueId; allocation depends on this order.
struct MessageQueue {
  std::string topic;
  std::string broker_name;
  int32_t queue_id = 0;
  auto operator<=>(const MessageQueue&) const = default;
  bool operator==(const MessageQueue&) const = default;
  std::string to_string() const;
};

struct MessageQueueHash {
  size_t operator()(const MessageQueue& q) const noexcept;
};

// The first non-loopback IPv4 address of this host, else 127.0.0.1 (UtilAll.getIP's preference).
std::string local_ipv4_address();
// "<pid>#<nanotime>" made unique within the process, as Java's changeInstanceNameToPID.
std::string default_instance_name();
std::string make_client_id(const std::string& client_ip, const std::string& instance_name);

// MessageClientIDSetter. One generator per client instance (the Java one is per class loader).
class UniqIdGenerator {
 public:
  UniqIdGenerator(const std::string& client_ip, uint32_t pid, int32_t instance_hash);
  // Reads the wall clock.
  std::string next();
  // Deterministic form for tests: `now_ms` is epoch ms, `month_start_ms` the start of its month.
  std::string next_at(int64_t now_ms);
  // Start of the month containing `epoch_ms`, in local time (Java's Calendar default zone).
  static int64_t month_start_ms(int64_t epoch_ms, int64_t* next_month_start_ms = nullptr);
  const std::string& fixed_prefix() const { return prefix_; }

 private:
  std::string prefix_;  // hex of ip | pid | hash
  int64_t start_ms_ = 0;
  int64_t next_start_ms_ = 0;
  uint16_t counter_ = 0;
};

// A subscription as the heartbeat carries it (SubscriptionData). "*" or "" means every tag;
// otherwise tags are split on "||" and trimmed, and codeSet holds their Java String.hashCode().
struct SubscriptionData {
  std::string topic;
  std::string sub_string = "*";
  std::vector<std::string> tags_set;
  std::vector<int32_t> code_set;
  int64_t sub_version = 0;
  std::string expression_type = "TAG";

  static SubscriptionData build(std::string topic, std::string_view expression, int64_t sub_version);
  bool all_tags() const { return tags_set.empty(); }
  // The client filters pulled messages by tag again, as Java's PullAPIWrapper does.
  bool matches_tag(std::string_view tag) const;
  nlohmann::json to_json() const;
};

struct ConsumerData {
  std::string group_name;
  std::string consume_type = "CONSUME_PASSIVELY";
  std::string message_model = "CLUSTERING";
  std::string consume_from_where = "CONSUME_FROM_LAST_OFFSET";
  std::vector<SubscriptionData> subscriptions;
  bool unit_mode = false;
};

// The HEART_BEAT (34) body, keys sorted as fastjson writes them.
std::string encode_heartbeat_body(const std::string& client_id, const std::vector<std::string>& producer_groups,
                                  const std::vector<ConsumerData>& consumers);
RemotingCommand make_heartbeat_request(std::string body);
// UNREGISTER_CLIENT (35); pass an empty group to leave its key out.
RemotingCommand make_unregister_request(const std::string& client_id, const std::string& producer_group,
                                        const std::string& consumer_group);

// The retry topic every CLUSTERING consumer group subscribes to.
inline std::string retry_topic(const std::string& group) { return "%RETRY%" + group; }
inline constexpr std::string_view kRetryTopicPrefix = "%RETRY%";

// Message properties the clients read or write beyond those the store uses (Java's MessageConst).
namespace client_property {
inline constexpr std::string_view kRetryTopic = "RETRY_TOPIC";              // original topic of a retry
inline constexpr std::string_view kOriginMessageId = "ORIGIN_MESSAGE_ID";   // first msgId of a retry
inline constexpr std::string_view kReconsumeTime = "RECONSUME_TIME";
inline constexpr std::string_view kMaxReconsumeTimes = "MAX_RECONSUME_TIMES";
inline constexpr std::string_view kTransactionPrepared = "TRAN_MSG";        // "true" on half messages
inline constexpr std::string_view kProducerGroup = "PGROUP";
inline constexpr std::string_view kTransactionId = "__transactionId__";
}  // namespace client_property

// Requests a broker sends to clients that codec/codes.h does not name (reference 2.3).
namespace client_request_code {
inline constexpr int32_t kResetConsumerClientOffset = 220;
}  // namespace client_request_code

// The group the consumer's own fallback producer sends with (Java's CLIENT_INNER_PRODUCER).
inline constexpr std::string_view kClientInnerProducerGroup = "CLIENT_INNER_PRODUCER";

// `properties` with each of `put` set (replacing every earlier value of that name, keeping the
// position of the first) and every name in `remove` dropped; pieces Java would drop stay dropped.
std::string rewrite_properties(std::string_view properties,
                               const std::vector<std::pair<std::string, std::string>>& put,
                               const std::vector<std::string_view>& remove = {});


}  // namespace mq
