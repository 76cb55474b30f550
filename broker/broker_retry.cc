// Consumer retries and dead letters (RocketMQ's SendMessageProcessor.consumerSendMsgBack and
// handleRetryAndDLQ).
//
// A consumer that fails a message sends CONSUMER_SEND_MSG_BACK (36) with the message's commit log
// offset. The broker reads the message and writes a copy: to %RETRY%<group> with delay level
// 3 + reconsumeTimes (or the level the request names), so that it comes back through the schedule
// queues after 10 s, 30 s, 1 min, ...; or, once the message was reconsumed maxReconsumeTimes
// times (the request's, else the group's retryMaxTimes) or the request asks for a negative level,
// to %DLQ%<group>, which is created write-only (perm 2) so that no normal subscription reads it.
// The copy carries reconsumeTimes + 1, RETRY_TOPIC (the topic the message was first sent to) and
// ORIGIN_MESSAGE_ID (the first message's offset id), keeps the properties (and so UNIQ_KEY, the
// id applications see), and is stored by this broker (its store host).
//
// When the send-back fails, Java clients send the message themselves to %RETRY%<group> with
// reconsumeTimes already incremented; such a send is redirected to the DLQ the same way once
// reconsumeTimes reaches the limit (handle_send calls retry_or_dead_letter_topic).
#include <algorithm>
#include <random>

#include "broker/broker.h"
#include "codec/codes.h"
#include "codec/header_reader.h"
#include "codec/message.h"

namespace mq {

namespace {
namespace rc = response_code;

constexpr const char* kRetryPrefix = "%RETRY%";
constexpr const char* kDlqPrefix = "%DLQ%";
constexpr int32_t kDlqNumsPerGroup = 1;

}  // namespace

const TopicConfig* Broker::create_topic_for_send_back(const std::string& topic, int32_t queue_nums, int32_t perm) {
  if (const TopicConfig* tc = topics_.find(topic)) return tc;
  TopicConfig c;
  c.topic_name = topic;
  c.read_queue_nums = c.write_queue_nums = queue_nums;
  c.perm = perm;
  topics_.put(c, now_ms());
  log_.info("created " + topic + " (" + std::to_string(queue_nums) + " queue, perm " + std::to_string(perm) + ")");
  persist_metadata();
  register_with_namesrv(false);
  return topics_.find(topic);
}

std::optional<std::pair<std::string, int32_t>> Broker::dead_letter_redirect(const std::string& topic,
                                                                         int32_t reconsume_times,
                                                                         int32_t max_reconsume_times,
                                                                         int32_t& code, std::string& why) {
  code = rc::kSuccess;
  if (topic.rfind(kRetryPrefix, 0) != 0) return std::nullopt;
  const std::string group = topic.substr(std::string(kRetryPrefix).size());
  const SubscriptionGroupConfig* g = groups_.find_or_create(group, config_.auto_create_subscription_group, now_ms());
  if (g == nullptr) {
    code = rc::kSubscriptionGroupNotExist;
    why = "subscription group not exist, " + group;
    return std::nullopt;
  }
  const int32_t max_times = max_reconsume_times >= 0 ? max_reconsume_times : g->retry_max_times;
  if (reconsume_times < max_times) return std::nullopt;
  const std::string dlq = kDlqPrefix + group;
  if (create_topic_for_send_back(dlq, kDlqNumsPerGroup, perm::kWrite) == nullptr) {
    code = rc::kSystemError;
    why = "topic[" + dlq + "] not exist";
    return std::nullopt;
  }
  return std::make_pair(dlq, 0);
}

void Broker::register_retry_processors() {
  server_.register_handler(request_code::kConsumerSendMsgBack, [this](const RequestContext& ctx, RemotingCommand& req) {
    handle_send_back(ctx, req);
  });
}

void Broker::handle_send_back(const RequestContext& ctx, RemotingCommand& req) {
  if (dledger_ && !dledger_->leader_ready())
    return ctx.respond_code(rc::kServiceNotAvailable, "service not available now. DLedger member is not the leader");
  if (is_slave())
    return ctx.respond_code(rc::kSystemBusy, "[REJECTREQUEST]system busy, start flow control for a while");
  HeaderReader h(req.ext_fields);
  const int64_t offset = h.i64("offset");
  const std::string group = h.str("group");
  const int32_t delay_level_asked = static_cast<int32_t>(std::clamp<int64_t>(h.opt_i64("delayLevel").value_or(0), -1, 1000));
  int32_t max_reconsume = static_cast<int32_t>(std::clamp<int64_t>(h.opt_i64("maxReconsumeTimes").value_or(-1), -1, 1000000));
  if (!h.ok()) return ctx.respond_code(rc::kSystemError, h.error());
  int32_t delay_level = delay_level_asked;

  const SubscriptionGroupConfig* g = groups_.find_or_create(group, config_.auto_create_subscription_group, now_ms());
  if (g == nullptr)
    return ctx.respond_code(rc::kSubscriptionGroupNotExist, "subscription group not exist, " + group);
  if ((config_.broker_permission & perm::kWrite) == 0)
    return ctx.respond_code(rc::kNoPermission, "the broker[" + config_.broker_name + "] sending message is forbidden");
  if (g->retry_queue_nums <= 0) return ctx.respond_code(rc::kSuccess);  // retries are off for this group
  if (max_reconsume < 0) max_reconsume = g->retry_max_times;
  const int32_t retry_queue_nums = g->retry_queue_nums;

  std::string topic = kRetryPrefix + group;
  thread_local std::minstd_rand rng{std::random_device{}()};
  int32_t queue_id = static_cast<int32_t>(rng() % static_cast<uint32_t>(retry_queue_nums));
  const TopicConfig* tc = create_topic_for_send_back(topic, retry_queue_nums, perm::kReadWrite);
  if (tc == nullptr) return ctx.respond_code(rc::kSystemError, "topic[" + topic + "] not exist");
  if ((tc->perm & perm::kWrite) == 0)
    return ctx.respond_code(rc::kNoPermission, "the topic[" + topic + "] sending message is forbidden");

  auto bytes = store_->message_by_offset(offset);
  if (!bytes.ok())
    return ctx.respond_code(rc::kSystemError, "look message by offset failed, " + std::to_string(offset) + ": " + bytes.detail());
  auto rec = decode_record(*bytes, DecodeOptions{.check_crc = false});
  if (!rec.ok())
    return ctx.respond_code(rc::kSystemError, "look message by offset failed, " + std::to_string(offset) + ": " + rec.detail());

  const std::string retry_topic(find_property(rec->properties, property::kRetryTopic).value_or(rec->topic));
  const bool dead = rec->reconsume_times >= max_reconsume || delay_level < 0;
  PropertyList put = {{std::string(property::kRetryTopic), retry_topic}};
  if (dead) {
    topic = kDlqPrefix + group;
    queue_id = 0;
    if (create_topic_for_send_back(topic, kDlqNumsPerGroup, perm::kWrite) == nullptr)
      return ctx.respond_code(rc::kSystemError, "topic[" + topic + "] not exist");
  } else {
    if (delay_level == 0) delay_level = 3 + rec->reconsume_times;
    put.emplace_back(std::string(property::kDelayTimeLevel), std::to_string(delay_level));
  }
  // The first message's offset id, kept through every retry (the client's originMsgId is its
  // msgId, usually UNIQ_KEY, which the properties carry anyway).
  std::string origin = std::string(find_property(rec->properties, property::kOriginMessageId).value_or(""));
  if (origin.empty()) origin = make_offset_msg_id(rec->store_host, rec->physical_offset);
  put.emplace_back(std::string(property::kOriginMessageId), origin);
  put.emplace_back(std::string(property::kWaitStoreMsgOk), "false");

  store::MessageToStore m;
  m.topic = topic;
  m.queue_id = queue_id;
  m.flag = rec->flag;
  m.body = std::string(rec->body);
  m.sys_flag = rec->sys_flag;
  m.born_timestamp = rec->born_timestamp;
  m.born_host = rec->born_host;
  if (auto self = HostAddress::parse_v4(config_.broker_addr())) m.store_host = *self;
  m.reconsume_times = rec->reconsume_times + 1;
  m.properties = edit_properties(rec->properties, put, dead ? std::initializer_list<std::string_view>{property::kDelayTimeLevel}
                                                             : std::initializer_list<std::string_view>{});
  if (dead)
    log_.info("message " + origin + " of group " + group + " reconsumed " + std::to_string(rec->reconsume_times) +
              " times: to " + topic);
  std::vector<store::MessageToStore> msgs;
  msgs.push_back(std::move(m));
  std::weak_ptr<bool> alive = alive_;
  put_internal(std::move(msgs), true, [ctx, alive](size_t stored, const store::PutMessageResult& r) {
    if (alive.expired()) return;
    if (stored == 1 && r.ok()) return ctx.respond_code(rc::kSuccess);
    ctx.respond_code(rc::kSystemError, std::string(store::put_message_status_name(r.status)) +
                                           (r.detail.empty() ? "" : ": " + r.detail));
  });
}

}  // namespace mq
