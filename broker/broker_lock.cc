// LOCK_BATCH_MQ (41) and UNLOCK_BATCH_MQ (42): queue locks for orderly consumers
// (broker/rebalance_lock_manager.h). Bodies are RocketMQ's LockBatchRequestBody /
// UnlockBatchRequestBody {"consumerGroup","clientId","mqSet":[{"topic","brokerName","queueId"}]}
// and LockBatchResponseBody {"lockOKMQSet":[...]}.
#include "broker/broker.h"
#include "codec/codes.h"
#include "codec/fastjson.h"

namespace mq {

namespace {
namespace rc = response_code;

struct LockBatchRequest {
  std::string group;
  std::string client_id;
  std::vector<LockedQueue> queues;
};

bool parse_lock_body(const std::string& body, LockBatchRequest& out, std::string& why) {
  auto j = parse_fastjson(body);
  if (!j.ok() || !j->is_object()) {
    why = "body is not JSON";
    return false;
  }
  out.group = json_string(*j, "consumerGroup");
  out.client_id = json_string(*j, "clientId");
  if (out.group.empty() || out.client_id.empty()) {
    why = "consumerGroup and clientId are required";
    return false;
  }
  auto set = j->find("mqSet");
  if (set != j->end() && !set->is_null()) {
    if (!set->is_array()) {
      why = "mqSet is not a list";
      return false;
    }
    for (const auto& q : *set) {
      if (!q.is_object()) {
        why = "mqSet holds a non-object";
        return false;
      }
      out.queues.push_back(LockedQueue{json_string(q, "topic"), json_string(q, "brokerName"),
                                       static_cast<int32_t>(json_int(q, "queueId"))});
    }
  }
  return true;
}

}  // namespace

void Broker::register_lock_processors() {
  server_.register_handler(request_code::kLockBatchMq, [this](const RequestContext& ctx, RemotingCommand& req) {
    LockBatchRequest body;
    std::string why;
    if (!parse_lock_body(req.body, body, why)) return ctx.respond_code(rc::kSystemError, "LOCK_BATCH_MQ: " + why);
    auto locked = locks_.try_lock_batch(body.group, body.queues, body.client_id, clock_.monotonic_ms());
    if (locked.size() < body.queues.size()) {
      for (const auto& q : body.queues)
        if (std::find(locked.begin(), locked.end(), q) == locked.end())
          log_.debug("queue lock refused: " + q.topic + "/" + std::to_string(q.queue_id) + " of group " + body.group +
                     " is held by " + locks_.holder(body.group, q, clock_.monotonic_ms()) + ", asked by " +
                     body.client_id);
    }
    nlohmann::json set = nlohmann::json::array();
    for (const auto& q : locked) set.push_back({{"brokerName", q.broker_name}, {"queueId", q.queue_id}, {"topic", q.topic}});
    RemotingCommand resp;
    resp.code = rc::kSuccess;
    resp.body = nlohmann::json{{"lockOKMQSet", set}}.dump(-1, ' ', false, kJsonReplace);
    ctx.respond(std::move(resp));
  });
  server_.register_handler(request_code::kUnlockBatchMq, [this](const RequestContext& ctx, RemotingCommand& req) {
    LockBatchRequest body;
    std::string why;
    if (!parse_lock_body(req.body, body, why)) return ctx.respond_code(rc::kSystemError, "UNLOCK_BATCH_MQ: " + why);
    locks_.unlock_batch(body.group, body.queues, body.client_id);
    ctx.respond_code(rc::kSuccess);
  });
}

}  // namespace mq
