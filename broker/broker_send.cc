// SEND_MESSAGE (10), SEND_MESSAGE_V2 (310) and SEND_BATCH_MESSAGE (320): RocketMQ's
// SendMessageProcessor checks in its order, the append, and the answer (at once, or after the fsync
// that covers the message under SYNC_FLUSH).

#include "broker/broker.h"
#include "codec/codes.h"
#include "codec/header_reader.h"
#include "codec/message.h"
#include "codec/send_header.h"

namespace mq {

namespace {
namespace rc = response_code;

bool valid_topic_chars(const std::string& topic) {
  if (topic.empty()) return false;
  // ASCII letters and digits (std::isalnum in the C locale, without a call per character).
  for (char c : topic)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '%' || c == '|' ||
          c == '_' || c == '-'))
      return false;
  return true;
}

bool send_forbidden(const std::string& topic) {
  return topic == "SCHEDULE_TOPIC_XXXX" || topic == "RMQ_SYS_TRANS_HALF_TOPIC" || topic == "RMQ_SYS_TRANS_OP_HALF_TOPIC" ||
         topic == "TRANS_CHECK_MAX_TIME_TOPIC" || topic == "SELF_TEST_TOPIC" || topic == "OFFSET_MOVED_EVENT";
}

// Appends `name=value` to a properties string, keeping the client's bytes as they were.
void append_property(std::string& props, std::string_view name, std::string_view value) {
  if (!props.empty() && props.back() != kPropertySeparator) props.push_back(kPropertySeparator);
  props.append(name);
  props.push_back(kNameValueSeparator);
  props.append(value);
}

}  // namespace

int32_t put_status_code(store::PutMessageStatus s) {
  using S = store::PutMessageStatus;
  switch (s) {
    case S::kPutOk: return rc::kSuccess;
    case S::kFlushDiskTimeout: return rc::kFlushDiskTimeout;
    case S::kFlushSlaveTimeout: return rc::kFlushSlaveTimeout;
    case S::kSlaveNotAvailable: return rc::kSlaveNotAvailable;
    case S::kMessageIllegal:
    case S::kPropertiesSizeExceeded: return rc::kMessageIllegal;
    case S::kServiceNotAvailable: return rc::kServiceNotAvailable;
    case S::kOsPageCacheBusy: return rc::kSystemBusy;
    case S::kCreateMappedFileFailed:
    case S::kInSyncReplicasNotEnough:
    case S::kUnknownError: return rc::kSystemError;
  }
  return rc::kSystemError;
}

void Broker::handle_send(const RequestContext& ctx, RemotingCommand& req) {
  if (dledger_ && !dledger_->leader_ready())
    return ctx.respond_code(rc::kServiceNotAvailable,
                            "service not available now. DLedger member is not the leader (leader: " +
                                (dledger_->leader_id().empty() ? std::string("unknown") : dledger_->leader_id()) + ")");
  if (is_slave())
    return ctx.respond_code(rc::kSystemBusy, "[REJECTREQUEST]system busy, start flow control for a while");
  // Controller mode: fewer in-sync replicas than minInSyncReplicas refuses the put before it is
  // stored (RocketMQ's IN_SYNC_REPLICAS_NOT_ENOUGH, answered as SYSTEM_ERROR).
  if (as_master_ && !as_master_->enough_in_sync())
    return ctx.respond_code(rc::kSystemError, "in-sync replicas not enough");
  SendMessageRequestHeader h;
  std::string error;
  if (!decode_send_request_header(req, h, error)) return ctx.respond_code(rc::kSystemError, error);
  if ((config_.broker_permission & perm::kWrite) == 0)
    return ctx.respond_code(rc::kNoPermission, "the broker[" + config_.broker_name + "] sending message is forbidden");
  if (h.topic.size() > kMaxTopicLengthV1)
    return ctx.respond_code(rc::kMessageIllegal, "message topic length too long " + std::to_string(h.topic.size()));
  if (!valid_topic_chars(h.topic))
    return ctx.respond_code(rc::kSystemError, "topic[" + h.topic + "] contains illegal characters");
  if (send_forbidden(h.topic))
    return ctx.respond_code(rc::kNoPermission, "Sending message to topic[" + h.topic + "] is forbidden.");

  const TopicConfig* tc = topics_.find(h.topic);
  if (tc == nullptr) {
    std::optional<TopicConfig> created;
    if (h.topic.rfind("%RETRY%", 0) == 0) {
      created = topics_.create_retry_topic(h.topic, 1, now_ms());
    } else if (config_.auto_create_topic_enable) {
      created = topics_.create_in_send(h.topic, h.default_topic, h.default_topic_queue_nums, 0, now_ms());
    }
    if (created) {
      log_.info("auto-created topic " + h.topic + " with " + std::to_string(created->write_queue_nums) + " queues");
      persist_metadata();
      register_with_namesrv(false);
    }
    tc = topics_.find(h.topic);
    if (tc == nullptr)
      return ctx.respond_code(rc::kTopicNotExist, "topic[" + h.topic + "] not exist, apply first please!");
  }
  if ((tc->perm & perm::kWrite) == 0)
    return ctx.respond_code(rc::kNoPermission, "the topic[" + h.topic + "] sending message is forbidden");
  int32_t queue_id = h.queue_id;
  int32_t queues = std::max(tc->read_queue_nums, tc->write_queue_nums);
  if (queue_id < 0) queue_id = static_cast<int32_t>(stats_.put_total() % std::max(tc->write_queue_nums, 1));
  if (queue_id >= queues)
    return ctx.respond_code(rc::kSystemError, "request queueId[" + std::to_string(queue_id) + "] is illegal, topic:" +
                                                  h.topic + " topicQueueNums:" + std::to_string(queues));
  if (h.topic.rfind("%RETRY%", 0) == 0 && !h.batch) {
    // A consumer's own retry (its send-back failed): past the limit it is a dead letter.
    int32_t code = rc::kSuccess;
    std::string why;
    auto redirect = dead_letter_redirect(h.topic, h.reconsume_times, h.max_reconsume_times, code, why);
    if (code != rc::kSuccess) return ctx.respond_code(code, why);
    if (redirect) {
      log_.info("message of " + h.topic + " reconsumed " + std::to_string(h.reconsume_times) + " times: to " +
                redirect->first);
      h.topic = redirect->first;
      queue_id = redirect->second;
    }
  }
  if (req.body.size() > static_cast<size_t>(config_.store.max_message_size))
    return ctx.respond_code(rc::kMessageIllegal, "message body size " + std::to_string(req.body.size()) +
                                                     " exceeds maxMessageSize " +
                                                     std::to_string(config_.store.max_message_size));

  auto born = HostAddress::parse_v4(ctx.peer_address());
  auto stored_at = HostAddress::parse_v4(config_.broker_addr());
  append_property(h.properties, property::kCluster, config_.broker_cluster_name);
  std::string uniq_key(find_property(h.properties, property::kUniqKey).value_or(""));
  bool wait_store = find_property(h.properties, property::kWaitStoreMsgOk).value_or("true") != "false";

  store::PutMessageResult r;
  if (h.batch) {
    store::BatchToStore b;
    b.topic = h.topic;
    b.queue_id = queue_id;
    b.sys_flag = h.sys_flag;
    b.born_timestamp = h.born_timestamp;
    if (born) b.born_host = *born;
    if (stored_at) b.store_host = *stored_at;
    b.reconsume_times = h.reconsume_times;
    b.body = std::move(req.body);
    b.properties = std::move(h.properties);
    if (dledger_) {
      std::vector<std::string> records;
      r = store_->encode_messages(b, now_ms(), records);
      if (r.ok()) return propose_send(ctx, std::move(records), r, b.store_host, queue_id, true, uniq_key, h.topic);
    } else {
      r = store_->put_messages(b, now_ms());
    }
  } else {
    store::MessageToStore m;
    m.topic = h.topic;
    m.queue_id = queue_id;
    m.flag = h.flag;
    m.body = std::move(req.body);
    m.sys_flag = h.sys_flag;
    m.born_timestamp = h.born_timestamp;
    if (born) m.born_host = *born;
    if (stored_at) m.store_host = *stored_at;
    m.reconsume_times = h.reconsume_times;
    m.properties = std::move(h.properties);
    // A transactional send (TRAN_MSG=true) is held back as a half message until END_TRANSACTION.
    if (auto tran = find_property(m.properties, property::kTransactionPrepared);
        tran && (*tran == "true" || *tran == "TRUE" || *tran == "True")) {
      if (config_.reject_transaction_message)
        return ctx.respond_code(rc::kNoPermission,
                                "the broker[" + config_.broker_name + "] sending transaction message is forbidden");
      TransactionalMessageService::to_half_message(m);
      // The system topics exist once used (RocketMQ creates them on first use too).
      create_topic_for_send_back(kTransHalfTopic, 1, perm::kReadWrite);
      create_topic_for_send_back(kTransOpHalfTopic, 1, perm::kReadWrite);
    }
    if (dledger_) {
      std::vector<std::string> records;
      r = store_->encode_message(m, now_ms(), records);
      if (r.ok()) return propose_send(ctx, std::move(records), r, m.store_host, queue_id, false, uniq_key, h.topic);
    } else {
      r = store_->put_message(m, now_ms());
    }
  }
  if (r.ok()) {
    maybe_precreate();
    stats_.on_put(r.msg_num);
    pull_holds_.notify_message_arriving(h.topic, queue_id, r.logics_offset + r.msg_num);
  }
  if (!r.ok()) return answer_put(ctx, r, queue_id, h.batch, uniq_key, put_status_code(r.status));
  // Durability (SYNC_FLUSH, SYNC_MASTER) and replication: broker_replication.cc.
  complete_put(ctx, r, queue_id, h.batch, uniq_key, wait_store);
}

void Broker::answer_put(const RequestContext& ctx, const store::PutMessageResult& r, int32_t queue_id, bool batch,
                        const std::string& uniq_key, int32_t code) {
  RemotingCommand resp;
  resp.code = code;
  if (code == rc::kSuccess || code == rc::kFlushDiskTimeout || code == rc::kFlushSlaveTimeout ||
      code == rc::kSlaveNotAvailable) {
    std::string ids;
    for (size_t i = 0; i < r.msg_ids.size(); ++i) {
      if (i) ids.push_back(',');
      ids += r.msg_ids[i];
    }
    resp.ext_fields.set("msgId", std::move(ids));
    resp.ext_fields.set("queueId", queue_id);
    resp.ext_fields.set("queueOffset", r.logics_offset);
    if (!uniq_key.empty() && !batch) resp.ext_fields.set("transactionId", uniq_key);
    if (code == rc::kFlushDiskTimeout) resp.remark = "flush disk timeout";
  } else {
    resp.remark = std::string(store::put_message_status_name(r.status)) + (r.detail.empty() ? "" : ": " + r.detail);
    // RocketMQ's remark starts "service not available now." and names the disk usage when the
    // disk is full ("the broker's disk is full [CL: 0.97 CQ: 0.97 INDEX: 0.97]"); ours says which
    // of the causes it is.
    if (code == rc::kServiceNotAvailable)
      resp.remark = "service not available now. " + (r.detail.empty() ? store_->write_refusal_reason() : r.detail);
  }
  // The Java client reads these two unconditionally.
  resp.ext_fields.set("MSG_REGION", config_.region_id);
  resp.ext_fields.set_bool("TRACE_ON", config_.trace_topic_enable);
  ctx.respond(std::move(resp));
}

}  // namespace mq
