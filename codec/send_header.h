// SendMessageRequestHeader: the header of SEND_MESSAGE (10, full field names), SEND_MESSAGE_V2
// (310) and SEND_BATCH_MESSAGE (320), whose V2 form uses one-letter keys in the Java client's order:
//   a producerGroup  b topic  c defaultTopic  d defaultTopicQueueNums  e queueId  f sysFlag
//   g bornTimestamp  h flag  i properties  j reconsumeTimes  k unitMode  l maxReconsumeTimes
//   m batch
// The producer writes it and the broker reads it, so both use this one definition.
#pragma once
#include <cstdint>
#include <string>

#include "codec/remoting_command.h"

namespace mq {

struct SendMessageRequestHeader {
  std::string producer_group;
  std::string topic;
  std::string default_topic = "TBW102";
  int32_t default_topic_queue_nums = 4;
  int32_t queue_id = 0;
  int32_t sys_flag = 0;
  int64_t born_timestamp = 0;
  int32_t flag = 0;
  std::string properties;
  int32_t reconsume_times = 0;
  bool unit_mode = false;
  int32_t max_reconsume_times = -1;  // only sent (as `l`) for retry topics, as Java does
  bool batch = false;
};

// A SEND_MESSAGE_V2 (or, for a batch, SEND_BATCH_MESSAGE) request with V2 keys. The rvalue form
// moves the header's strings.
RemotingCommand make_send_request(const SendMessageRequestHeader& h, std::string body);
RemotingCommand make_send_request(SendMessageRequestHeader&& h, std::string body);

// Reads the header of a send request: V2 keys for codes 310/320, field names for code 10. Only
// topic and queueId are required: clients differ on the rest (ali-ons omits l and m) and RocketMQ
// 4.x tolerates that too. unitMode and maxReconsumeTimes (k, l) are left at their defaults: the
// broker has no use for them yet, and this runs once per send. The strings are moved out of the
// request's extFields. False with the reason in `error` when a required field is missing or a
// number is malformed.
bool decode_send_request_header(RemotingCommand& req, SendMessageRequestHeader& h, std::string& error);

}  // namespace mq
