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
//  offsets: what the listener has returned kConsumeSuccess for (or what was handed back to the
//    broker) is consumed; the committed offset of a queue is that of its first message not yet
//    consumed. Offsets go out with UPDATE_CONSUMER_OFFSET (oneway) every 5 s, in every pull, and at
//    shutdown.
//  shutdown: stop pulling, commit, (orderly) UNLOCK_BATCH_MQ, UNREGISTER_CLIENT.
//
// Consuming later (ConsumeMessageConcurrentlyService, CLUSTERING): a message the listener answers
//  kReconsumeLater goes back to the broker it came from with CONSUMER_SEND_MSG_BACK (commit log
//  offset, group, delayLevel 0 = the broker picks 3 + reconsumeTimes, originMsgId, originTopic,
//  maxReconsumeTimes); the broker stores it again in %RETRY%<group> (or %DLQ%<group> past the
//  maximum). If that call fails, the consumer sends the message to %RETRY%<group> itself through
//  its own producer (group CLIENT_INNER_PRODUCER: RETRY_TOPIC, ORIGIN_MESSAGE_ID, RECONSUME_TIME =
//  reconsumeTimes + 1, DELAY = 3 + reconsumeTimes). Only when both fail is the message consumed
//  here again, consume_retry_later_ms later. Until one of these succeeded, the queue's offset stays
//  at the message. Messages pulled from %RETRY%<group> are shown with their original topic (the
//  RETRY_TOPIC property), as Java's resetRetryAndNamespace does.
//
// Orderly consumption (ConsumeMessageOrderlyService, options.orderly): a queue is consumed only
//  while this client holds its lock on the broker (LOCK_BATCH_MQ to the master): new queues are
//  locked as a rebalance assigns them and all queues again every rebalance_lock_interval_ms; a
//  lock not renewed for rebalance_lock_max_live_ms counts as lost here (the broker keeps it 60 s).
//  A queue's offset is read from the broker when it is first locked; an unlocked queue is neither
//  pulled nor delivered. Messages of a queue are delivered one at a time, each only after the
//  previous one succeeded, and a queue pulls again only once its last batch is consumed. On
//  kReconsumeLater (Java's SUSPEND_CURRENT_QUEUE_A_MOMENT) the same message is delivered again
//  suspend_current_queue_ms later with reconsume_times + 1; once reconsume_times reaches the
//  maximum the message is sent to %RETRY%<group> with that count, so the broker moves it to the
//  DLQ, and consumption goes on. Dropped queues are committed, then unlocked (UNLOCK_BATCH_MQ,
//  oneway); shutdown unlocks every queue.
//
// Faults: a route lookup no NameServer answered is not repeated for route_retry_interval_ms
//  (1 s; rebalances in between see the failure at once and keep their queues), a failed pull or
//  offset query retries its queue after pull_delay_on_error_ms (1 s; Java: 3 s), and connects to
//  an address that refused or timed out back off (remoting/client.h: 100 ms doubling to 1 s, the
//  requests failing at once meanwhile). shutdown() and the destructor close every connection and
//  cancel connects in progress, whatever state the brokers and NameServers are in; shutdown's
//  UNREGISTER_CLIENT waits at most rpc_timeout_ms for a broker that does not answer.
//
// Broker requests served: NOTIFY_CONSUMER_IDS_CHANGED (rebalance now) and
//  RESET_CONSUMER_CLIENT_OFFSET (an admin's offset reset: owned queues of the topic named in the
//  body start over at the given offsets, which are committed; pulls in flight are forgotten).
//
// The listener runs on the loop thread, synchronously, once per delivery, in queue order. Message
// fields are views valid only during the call. An exception from the listener counts as
// kReconsumeLater, as in Java. Delivery is at-least-once across restarts and rebalances (offsets
// are committed after delivery, asynchronously).
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
#include "client/producer.h"
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
  // Faults, as ProducerOptions: connect timeout, and the spacing of lookups of a topic after no
  // NameServer answered (rebalance and pulls then wait for the timers; pull errors wait
  // pull_delay_on_error_ms before the queue is pulled again).
  int64_t connect_timeout_ms = 3000;
  int64_t route_retry_interval_ms = 1000;
  bool post_subscription_when_pull = false;
  bool check_crc = false;  // Java's consumer does not check body CRCs either
  // MessageListenerOrderly instead of MessageListenerConcurrently (see above).
  bool orderly = false;
  // Java's maxReconsumeTimes: -1 means 16 for a concurrent consumer and no limit (INT32_MAX) for
  // an orderly one. Sent in CONSUMER_SEND_MSG_BACK; past it the broker dead-letters the message.
  int32_t max_reconsume_times = -1;
  int64_t send_back_timeout_ms = 5000;     // CONSUMER_SEND_MSG_BACK, as Java
  int64_t consume_retry_later_ms = 5000;   // Java's submitConsumeRequestLater after a failed send-back
  int64_t suspend_current_queue_ms = 1000;  // orderly: pause before a message is delivered again
  int64_t rebalance_lock_interval_ms = 20'000;   // orderly: lockAll period (REBALANCE_LOCK_INTERVAL)
  int64_t rebalance_lock_max_live_ms = 30'000;   // orderly: REBALANCE_LOCK_MAX_LIVE_TIME
  int64_t lock_timeout_ms = 1000;                // LOCK_BATCH_MQ, as Java
};

// What a listener answers for one message.
enum class ConsumeStatus {
  kConsumeSuccess,
  // Concurrent: hand it back for a later retry (RECONSUME_LATER). Orderly: deliver it again after
  // suspend_current_queue_ms (SUSPEND_CURRENT_QUEUE_A_MOMENT).
  kReconsumeLater,
};
const char* consume_status_name(ConsumeStatus s);

// One delivered message. Views point into the pull response (or an inflated copy of the body).
struct ConsumedMessage {
  // The message's topic: for a message pulled from %RETRY%<group>, its original one (RETRY_TOPIC).
  std::string_view topic;
  // The topic of the queue it was pulled from (broker_name, queue_id, queue_offset are that queue's).
  std::string_view queue_topic;
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
  // Times this message was consumed before (the broker's count, plus local retries when orderly).
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

// A listener that always succeeds (the original handler contract).
using MessageHandler = std::function<void(const ConsumedMessage&)>;
using MessageListener = std::function<ConsumeStatus(const ConsumedMessage&)>;

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
// resetRetryAndNamespace: a message of %RETRY%<group> gets its RETRY_TOPIC back as `topic`.
void reset_retry_topic(ConsumedMessage& m, const std::string& group);

// ConsumerSendMsgBackRequestHeader, fields in Java's order.
struct ConsumerSendMsgBackRequestHeader {
  int64_t offset = 0;  // commit log offset of the message
  std::string group;
  int32_t delay_level = 0;  // 0: the broker picks 3 + reconsumeTimes; < 0: straight to the DLQ
  std::string origin_msg_id;
  std::string origin_topic;
  bool unit_mode = false;
  int32_t max_reconsume_times = 16;
};
RemotingCommand make_send_msg_back_request(const ConsumerSendMsgBackRequestHeader& h);
// The send-back header Java's push consumer sends for `m` (delayLevel 0, unitMode false).
ConsumerSendMsgBackRequestHeader send_msg_back_header(const ConsumedMessage& m, const std::string& group,
                                                      int32_t max_reconsume_times);
// The message the consumer itself sends to %RETRY%<group> when CONSUMER_SEND_MSG_BACK failed
// (`reconsume_times` = the count to store: reconsumeTimes + 1 there, reconsumeTimes unchanged for
// an orderly consumer's dead-lettering) with DELAY = 3 + m.reconsume_times.
RawMessage retry_resend_message(const ConsumedMessage& m, const std::string& group, int32_t reconsume_times,
                                int32_t max_reconsume_times);

// LOCK_BATCH_MQ / UNLOCK_BATCH_MQ body (LockBatchRequestBody / UnlockBatchRequestBody).
std::string encode_lock_batch_body(const std::string& group, const std::string& client_id,
                                   const std::vector<MessageQueue>& mqs);
// LockBatchResponseBody's lockOKMQSet.
ClientOutcome<std::vector<MessageQueue>> parse_lock_batch_response(std::string_view body);
// ResetOffsetBody's offsetTable ({MessageQueue object key: offset}, fastjson style), or the list
// form brokers send when a C++ client asked for the reset ([{brokerName, offset, queueId, topic}]).
ClientOutcome<std::vector<std::pair<MessageQueue, int64_t>>> parse_reset_offset_body(std::string_view body);

// --- The consumer --------------------------------------------------------------------------

class Consumer {
 public:
  Consumer(EventLoop& loop, ConsumerOptions options, Logger log = Logger());
  ~Consumer();
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Before start(). `expression` is "*" or "TagA || TagB".
  void subscribe(const std::string& topic, const std::string& expression = "*");
  // Every message counts as consumed once the handler returns.
  void set_handler(MessageHandler handler);
  // The listener decides per message (see ConsumeStatus).
  void set_listener(MessageListener listener) { listener_ = std::move(listener); }
  void start();
  // Stops pulling, commits offsets (oneway), unlocks orderly queues (oneway), sends
  // UNREGISTER_CLIENT to every broker, then `done`.
  void shutdown(std::function<void()> done);
  void rebalance_now() { rebalance(); }
  // Orderly: LOCK_BATCH_MQ for every owned queue now (what the 20 s timer does).
  void lock_all_now() { lock_all(); }

  const std::string& client_id() const { return client_id_; }
  std::vector<MessageQueue> owned_queues() const;
  // Connect attempts and failures towards NameServers and brokers.
  RemotingClientStats rpc_stats() const { return rpc_->stats(); }
  // Completed rebalance rounds (tests and tools wait on this).
  uint64_t rebalance_rounds() const { return rebalance_rounds_; }
  uint64_t delivered() const { return delivered_; }
  // The consumed offset held in memory for `mq` (-1 when none).
  int64_t offset_of(const MessageQueue& mq) const;
  // Orderly: whether `mq` is owned and its broker lock is held and fresh.
  bool is_locked(const MessageQueue& mq) const;
  // Messages handed back to brokers: by CONSUMER_SEND_MSG_BACK, and by our own retry-topic sends.
  uint64_t sent_back() const { return sent_back_; }
  uint64_t resent_to_retry_topic() const { return resent_to_retry_topic_; }
  EventLoop& loop() { return loop_; }

 private:
  struct QueueState;
  struct HeldMessage;
  using QueuePtr = std::shared_ptr<QueueState>;

  void lookup_routes_then(std::function<void()> next);
  void send_heartbeat(std::function<void()> done);
  void rebalance();
  void rebalance_topic(const std::string& topic, std::function<void()> done);
  void apply_assignment(const std::string& topic, const std::vector<MessageQueue>& mine);
  void drop_queue(const QueuePtr& st);
  void query_offset(const QueuePtr& st);
  void start_at(const QueuePtr& st, int64_t offset);
  // Takes a queue up again after a pause: offset lookup, pull, or (orderly) wait for the lock.
  void resume(const QueuePtr& st);
  void pull(const QueuePtr& st);
  void pull_later(const QueuePtr& st, int64_t delay_ms);
  void on_pull_result(const QueuePtr& st, ClientOutcome<PullResult> r, const std::string& addr);
  void commit_offset(const QueuePtr& st);
  void persist_all();
  int32_t max_reconsume_times() const;
  ConsumeStatus call_listener(const ConsumedMessage& m);
  // A held message as the listener sees it; views into `h` and `scratch`.
  bool decode_held(const QueueState& st, const HeldMessage& h, ConsumedMessage& out, std::string& scratch);
  // Concurrent mode.
  void deliver_concurrently(const QueuePtr& st, PullResult& pr);
  void refresh_commit_offset(const QueuePtr& st);
  void send_back(const QueuePtr& st, int64_t queue_offset);
  void resend_to_retry_topic(const ConsumedMessage& m, int32_t reconsume_times, std::function<void(bool ok)> done);
  void consume_again_later(const QueuePtr& st, int64_t queue_offset);
  Producer& inner_producer();
  // Orderly mode.
  bool lock_is_fresh(const QueueState& st) const;
  void lock_queues(const std::vector<QueuePtr>& queues, std::function<void()> done);
  void lock_all();
  void unlock_oneway(const std::vector<MessageQueue>& mqs);
  void consume_orderly(const QueuePtr& st);
  void try_lock_later_and_consume(const QueuePtr& st, int64_t delay_ms);
  // RESET_CONSUMER_CLIENT_OFFSET.
  void reset_offsets(const std::string& topic, const std::vector<std::pair<MessageQueue, int64_t>>& offsets);
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
  MessageListener listener_;
  std::map<MessageQueue, QueuePtr> queues_;
  std::unique_ptr<Producer> inner_producer_;  // made on first use: the send-back fallback
  Timer rebalance_timer_;
  Timer persist_timer_;
  Timer heartbeat_timer_;
  Timer route_timer_;
  Timer lock_timer_;
  bool started_ = false;
  bool closing_ = false;
  bool destroyed_ = false;
  bool rebalancing_ = false;
  bool rebalance_again_ = false;
  uint64_t rebalance_rounds_ = 0;
  uint64_t delivered_ = 0;
  uint64_t sent_back_ = 0;
  uint64_t resent_to_retry_topic_ = 0;
  uint32_t random_ = 0;
  int64_t last_forced_heartbeat_ms_ = -1'000'000;
  std::string body_scratch_;
};

// An owning copy of a delivered message, for the blocking wrapper.
struct ReceivedMessage {
  std::string topic;
  std::string queue_topic;
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
  int32_t reconsume_times = 0;
  int64_t commit_log_offset = 0;
  int64_t born_timestamp = 0;
  int64_t store_timestamp = 0;
  std::optional<std::string> property(std::string_view name) const {
    auto v = find_property(properties, name);
    return v ? std::optional<std::string>(std::string(*v)) : std::nullopt;
  }
};
ReceivedMessage to_received(const ConsumedMessage& m);

// Drives a Consumer on a private loop. Deliveries are buffered as they arrive until poll() hands
// them out; by default each counts as consumed (its offset is committed), and set_listener() lets
// a test answer kReconsumeLater for some, whose deliveries are buffered all the same (so the
// retries show up in poll() with their reconsume_times).
class BlockingConsumer {
 public:
  explicit BlockingConsumer(ConsumerOptions options, Logger log = Logger());
  ~BlockingConsumer();  // shutdown (commit, UNREGISTER_CLIENT) and a clean loop close
  void subscribe(const std::string& topic, const std::string& expression = "*");
  // Before start(). Runs on this thread during start()/poll().
  void set_listener(std::function<ConsumeStatus(const ReceivedMessage&)> decide);
  // Starts, and waits for the first rebalance round (false on timeout).
  bool start(int64_t timeout_ms = 10'000);
  // Runs the loop until `max_messages` are buffered or `timeout_ms` passed; returns up to that many.
  std::vector<ReceivedMessage> poll(size_t max_messages, int64_t timeout_ms);
  Consumer& consumer() { return *consumer_; }

 private:
  EventLoop loop_;
  std::unique_ptr<Consumer> consumer_;
  std::deque<ReceivedMessage> buffer_;
  std::function<ConsumeStatus(const ReceivedMessage&)> decide_;
};

}  // namespace mq
