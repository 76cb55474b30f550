// The producer (DefaultMQProducer's behaviour, reference 10.1), asynchronous on a caller's loop.
//
// A send: look the topic up (route cache; no route -> TBW102's route capped at
// defaultTopicQueueNums, and the broker auto-creates the topic), pick a queue round robin over the
// writable queues of master brokers, avoiding the broker of the previous failed attempt, and send
// SEND_MESSAGE_V2 (310) or, for a batch, SEND_BATCH_MESSAGE (320), with the Java client's short
// header keys. Up to 1 + retry_times_when_send_failed attempts share one time budget
// (send_timeout_ms); an attempt is retried after a network failure or a broker code Java retries
// (1 SYSTEM_ERROR, 14 SERVICE_NOT_AVAILABLE, 16 NO_PERMISSION, 17 TOPIC_NOT_EXIST, 204, 205), and
// the route of the topic is fetched again in the background. FLUSH_DISK_TIMEOUT,
// FLUSH_SLAVE_TIMEOUT and SLAVE_NOT_AVAILABLE mean the message is stored: they are results, not
// errors.
//
// Each message gets UNIQ_KEY (its msgId) and WAIT; single bodies of compress_over_bytes (4096) or
// more are deflated (zlib level 5) with sysFlag COMPRESSED | ZLIB type (769, as 4.9.4 writes);
// batches are never compressed. A message whose TRAN_MSG property is "true" is a transactional half
// message and travels with sysFlag TRANSACTION_PREPARED (0x4), as Java's sendKernelImpl decides
// (TransactionProducer sets that property; see transaction_producer.h).
//
// Heartbeats (HEART_BEAT with this producer group in producerDataSet) go to every master every
// heartbeat_interval_ms, and at once to a master first seen in a route: a broker checking a
// transaction asks a connection of the producer group, and only heartbeats tell it which ones are.
//
// Faults (as the Java client, which fails such sends with MQClientException "No route info of
// this topic"): when no NameServer answers a topic's lookup, the send fails at once with kNoRoute,
// and further sends of that topic fail at once too until route_retry_interval_ms (1 s) has passed;
// the route timer keeps refreshing known topics every 30 s. A broker that refuses or times out is
// retried with back-off (remoting/client.h: 100 ms doubling to 1 s; attempts meanwhile fail at once
// with kRpc and the retry goes to another broker when there is one). Shutdown and destruction
// cancel connects in progress, so the loop closes whatever state connections are in.
//
// Threads: every call on the loop thread. Each send callback runs exactly once on the loop thread,
// never inside send() itself. Destroying a Producer fails what is in flight with kShutdown;
// shutdown() first says goodbye to the brokers (UNREGISTER_CLIENT).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/log.h"
#include "client/client_common.h"
#include "client/topic_route_cache.h"
#include "codec/message.h"
#include "codec/send_header.h"
#include "remoting/client.h"
#include "runtime/event_loop.h"

namespace mq {

struct Message {
  std::string topic;
  std::string body;
  std::string tags;
  std::string keys;  // space-separated business keys
  int32_t flag = 0;
  int32_t delay_time_level = 0;  // 0 = not delayed
  bool wait_store_msg_ok = true;
  PropertyList user_properties;
};

enum class SendStatus { kSendOk, kFlushDiskTimeout, kFlushSlaveTimeout, kSlaveNotAvailable };
const char* send_status_name(SendStatus s);

struct SendResult {
  SendStatus status = SendStatus::kSendOk;
  std::string msg_id;         // UNIQ_KEY (comma-joined for a batch)
  std::string offset_msg_id;  // store host + commit log offset (comma-joined for a batch)
  MessageQueue queue;
  int64_t queue_offset = 0;   // of the first message of a batch
  std::string region_id;
  std::string transaction_id;
};

using SendCallback = std::function<void(ClientOutcome<SendResult>)>;

// A message sent with a properties string built elsewhere: a consumed message sent again to
// %RETRY%<group> (the consumer's send-back fallback), which keeps its UNIQ_KEY and so its msgId.
// For retry topics the header carries reconsumeTimes (j) and maxReconsumeTimes (l), which Java's
// producer takes from the RECONSUME_TIME and MAX_RECONSUME_TIMES properties.
struct RawMessage {
  std::string topic;
  std::string body;        // uncompressed: compressed on the way like any single send
  std::string properties;  // complete, UNIQ_KEY included (one is added when missing)
  int32_t flag = 0;
  int32_t reconsume_times = 0;
  int32_t max_reconsume_times = -1;  // -1: not sent
};

struct ProducerOptions {
  std::string name_servers;  // "host:port;host:port"
  std::string group = "DEFAULT_PRODUCER";
  std::string instance_name;  // empty: "<pid>#<nanotime>"
  std::string client_ip;      // empty: first non-loopback IPv4
  std::string create_topic_key = "TBW102";
  int32_t default_topic_queue_nums = 4;
  int64_t send_timeout_ms = 3000;
  int32_t retry_times_when_send_failed = 2;
  bool retry_another_broker_when_not_store_ok = false;
  size_t compress_over_bytes = 4096;
  int compress_level = 5;
  size_t max_message_size_bytes = 4 * 1024 * 1024;
  int64_t route_refresh_interval_ms = 30'000;
  int64_t heartbeat_interval_ms = 30'000;
  int64_t rpc_timeout_ms = 3000;  // NameServer, heartbeat, unregister
  // Faults (see the header comments of remoting/client.h and client/topic_route_cache.h): a connect
  // is given up after connect_timeout_ms, an unreachable address is retried with back-off (100 ms
  // doubling to 1 s; requests fail at once meanwhile), and a topic no NameServer answered for is
  // looked up again at most every route_retry_interval_ms (sends fail at once with kNoRoute).
  int64_t connect_timeout_ms = 3000;
  int64_t route_retry_interval_ms = 1000;
};


// The properties string of one message, with UNIQ_KEY set to `uniq_key`.
std::string build_message_properties(const Message& m, const std::string& uniq_key);

// Whether a body is compressed, and the sysFlag that says so (4.9.4: COMPRESSED | ZLIB type).
inline constexpr int32_t kCompressedSysFlag = sysflag::kCompressed | 0x300;
bool should_compress(size_t body_bytes, size_t compress_over_bytes);

// Reads a send response. Codes 0/10/11/12 are results; others are kBroker failures.
ClientOutcome<SendResult> parse_send_response(const RemotingCommand& resp, const MessageQueue& mq,
                                              const std::string& uniq_ids);
// Broker codes after which the Java client tries again (on another broker when it can).
bool is_retriable_send_code(int32_t code);

// Java's TopicPublishInfo: the queues and a round-robin index starting at a random point.
struct TopicPublishInfo {
  std::vector<MessageQueue> queues;
  uint32_t next_index = 0;
  bool from_default_topic = false;  // built from TBW102's route
  // selectOneMessageQueue(lastBrokerName): round robin, skipping `avoid_broker` when another
  // broker has a queue.
  const MessageQueue* select(const std::string& avoid_broker);
};

class Producer {
 public:
  Producer(EventLoop& loop, ProducerOptions options, Logger log = Logger());
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Starts the route-refresh and heartbeat timers. Sends are accepted only after start().
  void start();
  // UNREGISTER_CLIENT to every known broker, then `done` (after at most rpc_timeout_ms). Sends
  // still in flight finish normally; new ones fail with kShutdown.
  void shutdown(std::function<void()> done);

  void send(Message msg, SendCallback cb);
  // All messages of one topic; one SEND_BATCH_MESSAGE, one queue.
  void send_batch(std::vector<Message> msgs, SendCallback cb);
  // Sends `msg` as it is (see RawMessage); the same queue selection, retries and time budget.
  void send_raw(RawMessage msg, SendCallback cb);
  // Handles requests a broker sends on this producer's connections (CHECK_TRANSACTION_STATE).
  void register_request_handler(int32_t code, RequestHandler handler);
  // A oneway request on this producer's connection to `addr` (END_TRANSACTION).
  void invoke_oneway(const std::string& addr, RemotingCommand request);

  const std::string& client_id() const { return client_id_; }
  const ProducerOptions& options() const { return options_; }
  EventLoop& loop() { return loop_; }
  TopicRouteCache& routes() { return *routes_; }
  size_t in_flight() const { return in_flight_.size(); }
  // Connect attempts and failures towards NameServers and brokers (any thread, while alive).
  RemotingClientStats rpc_stats() const { return rpc_->stats(); }

 private:
  struct SendContext;
  void begin(std::shared_ptr<SendContext> ctx);
  void with_publish_info(const std::string& topic, std::function<void(ClientOutcome<TopicPublishInfo*>)> cb);
  void attempt(std::shared_ptr<SendContext> ctx);
  void on_attempt_failed(std::shared_ptr<SendContext> ctx, Error<ClientFailure> err);
  void finish(const std::shared_ptr<SendContext>& ctx, ClientOutcome<SendResult> r);
  void fail_later(SendCallback cb, Error<ClientFailure> err);
  void send_heartbeat();
  // Heartbeats masters no heartbeat has gone to yet (just learned from a route).
  void heartbeat_new_masters();
  void heartbeat_to(const std::string& addr);
  void refresh_routes();

  EventLoop& loop_;
  ProducerOptions options_;
  Logger log_;
  std::string client_ip_;
  std::string client_id_;
  std::unique_ptr<RemotingClient> rpc_;
  std::unique_ptr<TopicRouteCache> routes_;
  UniqIdGenerator uniq_;
  std::unordered_map<std::string, TopicPublishInfo> publish_;
  std::unordered_map<std::string, int64_t> last_failure_refresh_ms_;  // loop clock
  std::unordered_map<uint64_t, std::shared_ptr<SendContext>> in_flight_;
  std::set<std::string> heartbeated_masters_;
  uint64_t next_send_id_ = 1;
  uint32_t random_start_ = 0;
  Timer route_timer_;
  Timer heartbeat_timer_;
  bool started_ = false;
  bool closing_ = false;
  bool destroyed_ = false;  // set first thing in the destructor: callbacks end sends with kShutdown
};

// Drives a Producer on a private loop: for tools and tests that send one message at a time.
class BlockingProducer {
 public:
  explicit BlockingProducer(ProducerOptions options, Logger log = Logger());
  ~BlockingProducer();  // shutdown (UNREGISTER_CLIENT) and a clean loop close
  ClientOutcome<SendResult> send(Message msg);
  ClientOutcome<SendResult> send_batch(std::vector<Message> msgs);
  Producer& producer() { return *producer_; }

 private:
  EventLoop loop_;
  std::unique_ptr<Producer> producer_;
};

}  // namespace mq
