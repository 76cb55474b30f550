// libFuzzer target for every decoder that reads bytes from the network or a peer: the frame
// splitter, JSON and ROCKETMQ headers, fastjson bodies, message records, batch bodies, register
// bodies (plain and compressed). Built and run by scripts/fuzz.sh (clang, ASan, UBSan); the
// doctest suite runs a seeded random corpus through the same decoders on every test run.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "codec/fastjson.h"
#include "codec/message.h"
#include "codec/remoting_command.h"
#include "codec/route_data.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  mq::FrameSplitter splitter(1 << 20);
  (void)splitter.feed(in, [](std::string_view frame) { (void)mq::decode_frame(frame); });
  (void)mq::decode_json_header(in);
  (void)mq::decode_binary_header(in);
  (void)mq::parse_fastjson(in);
  (void)mq::decode_records(in);
  (void)mq::decode_batch(in);
  (void)mq::decode_properties(in);
  (void)mq::decode_offset_msg_id(in);
  (void)mq::decode_register_broker_body(in, false, 401);
  (void)mq::decode_register_broker_body(in, true, 401);
  (void)mq::TopicRouteData::parse(in);
  return 0;
}
