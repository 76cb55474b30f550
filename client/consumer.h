// A consumer that pulls like RocketMQ's push consumer (reference 10.2), so that to a broker it is
// one: consumeType CONSUME_PASSIVELY, messageModel CLUSTERING, subscriptions (plus %RETRY%<group>)
// in its heartbeats, offsets kept by the broker.
//
// Life of a consumer:
//  start: look up the routes of the subscribed topics, HEART_BEAT every broker of them, then
//    rebalance. Rebalance again every 20 s and whenever a broker sends NOTIFY_CONSUMER_IDS_CHANGED.
//  rebalance (per topic): readable queues of the route, sorted; group members from
//    GET_CONSUMER_LIST_BY_GROUP (one broker of the topic, chosen at random, as Java), sorted;
//    AllocateMessageQueueAveragely. New queues start at their committed offset
//    (QUERY_CONSUMER_OFFSET; QUERY_NOT_FOUND -> consume_from_where: the max offset via
//    GET_MAX_OFFSET (0 for the retry topic), or 0). Queues lost to another member are dropped and
//    their offset committed.
//  pulling: one PULL_MESSAGE in flight per owned queue, long-polling (SUSPEND, 15 s hold, 30 s RPC
//    timeout), COMMIT_OFFSET when an offset is held, SUBSCRIPTION only with
//    post_subscription_when_pull (Java's default is off: the broker uses the heartbeat's). FOUND ->
//    deliver, continue at nextBeginOffset; NOT_FOUND / RETRY_IMMEDIATELY -> continue at once;
//    OFFSET_MOVED -> jump to nextBeginOffset and commit it; errors -> retry after 1 s. The next
//    pull goes to suggestWhichBrokerId.
//  offsets: what the handler has returned from is consumed; offsets go out with
//    UPDATE_CONSUMER_OFFSET (oneway) every 5 s, in every pull, and at shutdown.
//  shutdown: stop pulling, commit, UNREGISTER_CLIENT.
//
// The handler runs on the loop thread, synchronously, once per message, in queue order. Message
// fields are views valid only during the call. Delivery is at-least-once across restarts and
// rebalances (offsets are committed after delivery, asynchronously).
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/log.h"
#include "client/client_common.h"
#include "client/topic_route_cache.h"
#include "codec/message.h"
#include "remoting/client.h"
#include "runtime/event_loop.h"

namespace mq {

enum class ConsumeFromWhere { kLastOffset, kFirstOffset };

struct ConsumerOptions {
  std::string name_servers;
  std::string group;
  std::string instance_name;
  std::string client_ip;
  ConsumeFromWhere consume_from_where = ConsumeFromWhere::kLastOffset;
  int32_t pull_batch_size = 32;
  int64_t suspend_timeout_ms = 15'000;
  int64_t pull_timeout_ms = 30'000;
  int64_t pull_delay_on_error_ms = 1000;
  int64_t rebalance_interval_ms = 20'000;
  int64_t persist_offset_interval_ms = 5000;
  int64_t heartbeat_interval_ms = 30'000;
  int64_t route_refresh_interval_ms = 30'000;
  int64_t rpc_timeout_ms = 3000;
  bool post_subscription_when_pull = false;
  bool check_crc = false;  // Java's consumer does not check body CRCs either
};

// One delivered message. Views point into the pull response (or an inflated copy of the body).
struct ConsumedMessage {
  std::string_view topic;
  std::string_view broker_name;
  int32_t queue_id = 0;
  int64_t queue_offset = 0;
  int64_t commit_log_offset = 0;
  std::string_view uniq_key;  // empty when the producer set none (ali-ons)
  std::string_view tags;
  std::string_view keys;
  std::string_view properties;  // the raw properties string
  std::string_view body;        // decompressed
  int32_t flag = 0;
  int32_t sys_flag = 0;
  int32_t reconsume_times = 0;
  int64_t born_timestamp = 0;
  int64_t store_timestamp = 0;
  HostAddress born_host;
  HostAddress store_host;

  std::optional<std::string_view> property(std::string_view name) const { return find_property(properties, name); }
  // Store host + commit log offset, as brokers report it.
  std::string offset_msg_id() const { return make_offset_msg_id(store_host, commit_log_offset); }
  // What Java shows as msgId: UNIQ_KEY, else the offsetMsgId.
  std::string msg_id() const { return uniq_key.empty() ? offset_msg_id() : std::string(uniq_key); }
};

using MessageHandler = std::function<void(const ConsumedMessage&)>;

// --- Pure pieces, exposed for tests ---------------------------------------------------------

// AllocateMessageQueueAveragely. Both lists must be sorted; a client missing from `cid_all` gets
// nothing.
std::vector<MessageQueue> allocate_averagely(const std::string& client_id, const std::vector<std::string>& cid_all,
                                             const std::vector<MessageQueue>& mq_all);

namespace pull_sysflag {
inline constexpr int32_t kCommitOffset = 0x1;
inline constexpr int32_t kSuspend = 0x2;
inline constexpr int32_t kSubscription = 0x4;
inline constexpr int32_t kClassFilter = 0x8;
}  // namespace pull_sysflag

struct PullRequestHeader {
  std::string consumer_group;
  std::string topic;
  int32_t queue_id = 0;
  int64_t queue_offset = 0;
  int32_t max_msg_nums = 32;
  int32_t sys_flag = 0;
  int64_t commit_offset = 0;
  int64_t suspend_timeout_ms = 15'000;
  std::optional<std::string> subscription;
  int64_t sub_version = 0;
  std::string expression_type = "TAG";
};
RemotingCommand make_pull_request(const PullRequestHeader& h);

struct PullResult {
  enum Status { kFound, kNoNewMsg, kNoMatchedMsg, kOffsetIllegal } status = kNoNewMsg;
  int64_t next_begin_offset = 0;
  int64_t min_offset = 0;
  int64_t max_offset = 0;
  int64_t suggest_which_broker_id = 0;
  std::vector<MessageRecord> records;  // views into the response body
};
// Codes 0 / 19 / 20 / 21 become a status; anything else is a kBroker failure.
ClientOutcome<PullResult> parse_pull_response(const RemotingCommand& resp, bool check_crc = false);

// Fills `out` from a pulled record; a compressed body is inflated into `body_scratch`.
// Fails (kBadResponse) only when a compressed body does not inflate.
ClientOutcome<Unit> to_consumed_message(const MessageRecord& r, std::string_view broker_name, ConsumedMessage& out,
                                        std::string& body_scratch);

// --- The consumer --------------------------------------------------------------------------

class Consumer {
 public:
  Consumer(EventLoop& loop, ConsumerOptions options, Logger log = Logger());
  ~Consumer();
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Before start(). `expression` is "*" or "TagA || TagB".
  void subscribe(const std::string& topic, const std::string& expression = "*");
  void set_handler(MessageHandler handler) { handler_ = std::move(handler); }
  void start();
  // Stops pulling, commits offsets (oneway), sends UNREGISTER_CLIENT to every broker, then `done`.
  void shutdown(std::function<void()> done);
  void rebalance_now() { rebalance(); }

  const std::string& client_id() const { return client_id_; }
  std::vector<MessageQueue> owned_queues() const;
  // Completed rebalance rounds (tests and tools wait on this).
  uint64_t rebalance_rounds() const { return rebalance_rounds_; }
  uint64_t delivered() const { return delivered_; }
  // The consumed offset held in memory for `mq` (-1 when none).
  int64_t offset_of(const MessageQueue& mq) const;
  EventLoop& loop() { return loop_; }

 private:
  struct QueueState;
  using QueuePtr = std::shared_ptr<QueueState>;

  void lookup_routes_then(std::function<void()> next);
  void send_heartbeat(std::function<void()> done);
  void rebalance();
  void rebalance_topic(const std::string& topic, std::function<void()> done);
  void apply_assignment(const std::string& topic, const std::vector<MessageQueue>& mine);
  void drop_queue(const QueuePtr& st);
  void query_offset(const QueuePtr& st);
  void start_at(const QueuePtr& st, int64_t offset);
  void pull(const QueuePtr& st);
  void pull_later(const QueuePtr& st, int64_t delay_ms);
  void on_pull_result(const QueuePtr& st, ClientOutcome<PullResult> r, const std::string& addr);
  void commit_offset(const QueuePtr& st);
  void persist_all();
  const SubscriptionData* subscription_of(const std::string& topic) const;
  std::string offset_broker_addr(const std::string& broker_name) const;

  EventLoop& loop_;
  ConsumerOptions options_;
  Logger log_;
  std::string client_ip_;
  std::string client_id_;
  std::unique_ptr<RemotingClient> rpc_;
  std::unique_ptr<TopicRouteCache> routes_;
  std::vector<SubscriptionData> subscriptions_;
  MessageHandler handler_;
  std::map<MessageQueue, QueuePtr> queues_;
  Timer rebalance_timer_;
  Timer persist_timer_;
  Timer heartbeat_timer_;
  Timer route_timer_;
  bool started_ = false;
  bool closing_ = false;
  bool destroyed_ = false;
  bool rebalancing_ = false;
  bool rebalance_again_ = false;
  uint64_t rebalance_rounds_ = 0;
  uint64_t delivered_ = 0;
  uint32_t random_ = 0;
  int64_t last_forced_heartbeat_ms_ = -1'000'000;
  std::string body_scratch_;
};

// An owning copy of a delivered message, for the blocking wrapper.
struct ReceivedMessage {
  std::string topic;
  std::string broker_name;
  int32_t queue_id = 0;
  int64_t queue_offset = 0;
  std::string msg_id;
  std::string offset_msg_id;
  std::string tags;
  std::string keys;
  std::string properties;
  std::string body;
  int32_t flag = 0;
  int64_t born_timestamp = 0;
  int64_t store_timestamp = 0;
  std::optional<std::string> property(std::string_view name) const {
    auto v = find_property(properties, name);
    return v ? std::optional<std::string>(std::string(*v)) : std::nullopt;
  }
};
ReceivedMessage to_received(const ConsumedMessage& m);

// Drives a Consumer on a private loop. Messages are buffered as they arrive (and so count as
// consumed: their offsets are committed) until poll() hands them out.
class BlockingConsumer {
 public:
  explicit BlockingConsumer(ConsumerOptions options, Logger log = Logger());
  ~BlockingConsumer();  // shutdown (commit, UNREGISTER_CLIENT) and a clean loop close
  void subscribe(const std::string& topic, const std::string& expression = "*");
  // Starts, and waits for the first rebalance round (false on timeout).
  bool start(int64_t timeout_ms = 10'000);
  // Runs the loop until `max_messages` are buffered or `timeout_ms` passed; returns up to that many.
  std::vector<ReceivedMessage> poll(size_t max_messages, int64_t timeout_ms);
  Consumer& consumer() { return *consumer_; }

 private:
  EventLoop loop_;
  std::unique_ptr<Consumer> consumer_;
  std::deque<ReceivedMessage> buffer_;
};

}  // namespace mq
