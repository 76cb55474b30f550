// PULL_MESSAGE (11): RocketMQ's PullMessageProcessor checks, the read, the status mapping, and long
// polling (a pull that finds nothing is held until a message arrives or its suspend time ends).
#include "broker/broker.h"
#include "codec/codes.h"
#include "codec/header_reader.h"

namespace mq {

namespace {
namespace rc = response_code;
constexpr int32_t kPullCommitOffset = 0x1;
constexpr int32_t kPullSuspend = 0x2;
constexpr int32_t kPullSubscription = 0x4;
// A client may ask to be held for any time; we hold at most this long.
constexpr int64_t kMaxSuspendMs = 60'000;
}  // namespace

void Broker::handle_pull(const RequestContext& ctx, RemotingCommand& req, bool allow_suspend) {
  if (!store_ || state_ != BrokerState::kRunning) return ctx.respond_code(rc::kServiceNotAvailable, "broker is stopping");
  HeaderReader h(req.ext_fields);
  std::string group = h.str("consumerGroup");
  std::string topic = h.str("topic");
  int32_t queue_id = h.i32("queueId");
  int64_t queue_offset = h.i64("queueOffset");
  int32_t max_msg_nums = h.i32("maxMsgNums");
  int32_t sys_flag = h.i32("sysFlag");
  int64_t commit_offset = h.i64_or("commitOffset", -1);
  int64_t suspend_ms = h.i64_or("suspendTimeoutMillis", 15'000);
  int64_t sub_version = h.i64_or("subVersion", 0);
  std::string expression = h.opt_str("subscription").value_or("*");
  if (!h.ok()) return ctx.respond_code(rc::kSystemError, h.error());

  if ((config_.broker_permission & perm::kRead) == 0)
    return ctx.respond_code(rc::kNoPermission, "the broker[" + config_.broker_name + "] pulling message is forbidden");
  const SubscriptionGroupConfig* gc = groups_.find_or_create(group, config_.auto_create_subscription_group, now_ms());
  if (gc == nullptr)
    return ctx.respond_code(rc::kSubscriptionGroupNotExist, "subscription group [" + group + "] does not exist");
  if (!gc->consume_enable) return ctx.respond_code(rc::kNoPermission, "subscription group no permission, " + group);
  const TopicConfig* tc = topics_.find(topic);
  if (tc == nullptr) return ctx.respond_code(rc::kTopicNotExist, "topic[" + topic + "] not exist, apply first please!");
  if ((tc->perm & perm::kRead) == 0)
    return ctx.respond_code(rc::kNoPermission, "the topic[" + topic + "] pulling message is forbidden");
  if (queue_id < 0 || queue_id >= tc->read_queue_nums)
    return ctx.respond_code(rc::kSystemError, "queueId[" + std::to_string(queue_id) + "] is illegal, topic:[" + topic +
                                                  "] topicConfig.readQueueNums:[" +
                                                  std::to_string(tc->read_queue_nums) + "]");

  SubscriptionData sub;
  if (sys_flag & kPullSubscription) {
    sub = SubscriptionData::from_expression(topic, expression, sub_version);
  } else {
    const ConsumerGroupInfo* info = clients_.consumer_group(group);
    if (info == nullptr) return ctx.respond_code(rc::kSubscriptionNotExist, "the consumer's group info not exist");
    auto it = info->subscriptions.find(topic);
    if (it == info->subscriptions.end())
      return ctx.respond_code(rc::kSubscriptionNotExist, "the consumer's subscription not exist");
    if (it->second.sub_version < sub_version)
      return ctx.respond_code(rc::kSubscriptionNotLatest, "the consumer's subscription not latest");
    sub = it->second;
  }
  store::TagsCodeFilter filter;
  if (!sub.matches_all()) {
    filter = [codes = sub.code_set](int64_t code) { return codes.count(static_cast<int32_t>(code)) > 0; };
  }

  int32_t max_nums = std::clamp(max_msg_nums, 1, config_.max_transfer_count_on_message_in_memory);
  store::GetMessageResult got =
      store_->get_message(topic, queue_id, queue_offset, max_nums, config_.max_transfer_bytes_on_message_in_memory, filter);
  stats_.on_get(got.status == store::GetMessageStatus::kFound, static_cast<int64_t>(got.messages.size()));

  RemotingCommand resp;
  using S = store::GetMessageStatus;
  switch (got.status) {
    case S::kFound:
      resp.code = rc::kSuccess;
      break;
    case S::kNoMatchedMessage:
    case S::kMessageWasRemoving:
      resp.code = rc::kPullRetryImmediately;
      break;
    case S::kNoMatchedLogicQueue:
    case S::kNoMessageInQueue:
      resp.code = queue_offset != 0 ? rc::kPullOffsetMoved : rc::kPullNotFound;
      break;
    case S::kOffsetFoundNull:
    case S::kOffsetOverflowOne:
      resp.code = rc::kPullNotFound;
      break;
    case S::kOffsetOverflowBadly:
    case S::kOffsetTooSmall:
      resp.code = rc::kPullOffsetMoved;
      break;
  }
  if (is_slave() && resp.code == rc::kPullOffsetMoved) resp.code = rc::kPullRetryImmediately;

  // Slave reads (RocketMQ's rules): a pull reading far behind the CommitLog end (more than
  // accessMessageInMemoryMaxRatio of the machine's memory, so likely from disk) is sent to the
  // group's whichBrokerWhenConsumeSlowly when slaveReadEnable; a slave without slaveReadEnable
  // sends readers back to the master. Unlike RocketMQ, it keeps serving while its master is
  // unreachable, so consumers go on reading when the master is down.
  bool suggest_slave = false;
  if (!got.messages.empty()) {
    int64_t behind = store_->max_phy_offset() - got.messages.back().commit_log_offset;
    suggest_slave = behind > total_memory_bytes_ / 100 * config_.access_message_in_memory_max_ratio;
  }
  int64_t suggest_broker_id = 0;
  if (config_.slave_read_enable) suggest_broker_id = suggest_slave ? gc->which_broker_when_consume_slowly : gc->broker_id;
  if (is_slave() && !config_.slave_read_enable && master_reachable()) resp.code = rc::kPullRetryImmediately;

  if ((sys_flag & kPullCommitOffset) && allow_suspend && !is_slave() && commit_offset >= 0)
    offsets_.commit(group, topic, queue_id, commit_offset);

  if (resp.code == rc::kPullNotFound && allow_suspend && (sys_flag & kPullSuspend)) {
    int64_t hold_ms = config_.long_polling_enable ? std::clamp<int64_t>(suspend_ms, 0, kMaxSuspendMs)
                                                  : config_.short_polling_time_ms;
    std::weak_ptr<bool> alive = alive_;
    pull_holds_.hold(topic, queue_id, queue_offset, clock_.monotonic_ms() + hold_ms,
                     [this, alive, ctx, held = std::move(req)]() mutable {
                       if (alive.expired()) return;
                       handle_pull(ctx, held, false);
                     });
    return;
  }

  resp.ext_fields.set("suggestWhichBrokerId", suggest_broker_id);
  resp.ext_fields.set("nextBeginOffset", got.next_begin_offset);
  resp.ext_fields.set("minOffset", got.min_offset);
  resp.ext_fields.set("maxOffset", got.max_offset);
  resp.remark = store::get_message_status_name(got.status);
  if (resp.code == rc::kSuccess) resp.body = std::move(got.buffer);
  ctx.respond(std::move(resp));
}

}  // namespace mq
