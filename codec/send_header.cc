#include "codec/send_header.h"

#include <algorithm>
#include <climits>

#include "codec/codes.h"
#include "codec/header_reader.h"

namespace mq {

RemotingCommand make_send_request(SendMessageRequestHeader&& h, std::string body) {
  RemotingCommand req = RemotingCommand::request(h.batch ? request_code::kSendBatchMessage : request_code::kSendMessageV2);
  ExtFields& f = req.ext_fields;
  f.set("a", std::move(h.producer_group));
  f.set("b", h.topic);
  f.set("c", std::move(h.default_topic));
  f.set("d", h.default_topic_queue_nums);
  f.set("e", h.queue_id);
  f.set("f", h.sys_flag);
  f.set("g", h.born_timestamp);
  f.set("h", h.flag);
  f.set("i", std::move(h.properties));
  f.set("j", h.reconsume_times);
  f.set_bool("k", h.unit_mode);
  if (h.topic.starts_with("%RETRY%") && h.max_reconsume_times >= 0) f.set("l", h.max_reconsume_times);
  f.set_bool("m", h.batch);
  req.body = std::move(body);
  return req;
}

RemotingCommand make_send_request(const SendMessageRequestHeader& h, std::string body) {
  return make_send_request(SendMessageRequestHeader(h), std::move(body));
}

bool decode_send_request_header(RemotingCommand& req, SendMessageRequestHeader& h, std::string& error) {
  bool v2 = req.code != request_code::kSendMessage;
  auto key = [v2](const char* short_key, const char* long_key) { return v2 ? short_key : long_key; };
  HeaderReader r(req.ext_fields);
  auto take = [&req](const char* k, std::string& out) {
    std::string* v = req.ext_fields.find(k);
    if (v == nullptr) return false;
    out = std::move(*v);
    return true;
  };
  take(key("a", "producerGroup"), h.producer_group);
  if (!take(key("b", "topic"), h.topic)) r.str(key("b", "topic"));  // records the missing field
  take(key("c", "defaultTopic"), h.default_topic);
  h.default_topic_queue_nums = static_cast<int32_t>(r.i64_or(key("d", "defaultTopicQueueNums"), 4));
  h.queue_id = r.i32(key("e", "queueId"));
  h.sys_flag = static_cast<int32_t>(r.i64_or(key("f", "sysFlag"), 0));
  h.born_timestamp = r.i64_or(key("g", "bornTimestamp"), 0);
  h.flag = static_cast<int32_t>(r.i64_or(key("h", "flag"), 0));
  take(key("i", "properties"), h.properties);
  h.reconsume_times = static_cast<int32_t>(r.i64_or(key("j", "reconsumeTimes"), 0));
  h.max_reconsume_times = static_cast<int32_t>(std::clamp<int64_t>(r.i64_or(key("l", "maxReconsumeTimes"), -1), -1, INT32_MAX));
  h.batch = req.code == request_code::kSendBatchMessage || r.boolean(key("m", "batch"));
  if (!r.ok()) {
    error = r.error();
    return false;
  }
  return true;
}

}  // namespace mq
