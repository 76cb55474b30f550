// libFuzzer target: the remoting layer's decoders, as a connection meets them. The input is a byte
// stream from a peer, delivered in chunks (the first byte picks the chunk size) to FrameSplitter;
// every frame goes through decode_frame (JSON and ROCKETMQ binary headers), and a command that
// decodes is read the way handlers read it (HeaderReader, the send-request header), re-encoded and
// decoded again: what we decoded we must be able to write, and read back the same. The raw input is
// also handed to the header decoders directly.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "codec/header_reader.h"
#include "codec/remoting_command.h"
#include "codec/send_header.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

void check_round_trip(const mq::RemotingCommand& c) {
  std::string frame = mq::encode_frame(c);
  FUZZ_CHECK(frame.size() >= 8);
  auto again = mq::decode_frame(std::string_view(frame).substr(4));
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->code == c.code);
  FUZZ_CHECK(again->opaque == c.opaque);
  FUZZ_CHECK(again->flag == c.flag);
  FUZZ_CHECK(again->version == c.version);
  FUZZ_CHECK(again->serialize_type == c.serialize_type);
  FUZZ_CHECK(again->body == c.body);
  FUZZ_CHECK(again->ext_fields.size() == c.ext_fields.size());
}

void use_command(mq::RemotingCommand& c) {
  check_round_trip(c);
  mq::HeaderReader h(c.ext_fields);
  for (const auto& [k, v] : c.ext_fields.entries()) {
    (void)h.i32(k);
    (void)h.i64_or(k, 0);
    (void)h.boolean(k);
    (void)h.opt_str(k);
  }
  (void)h.ok();
  auto resp = mq::RemotingCommand::response_to(c, 1, c.remark);
  (void)mq::encode_frame(resp);
  if (c.code == 10 || c.code == 310 || c.code == 320) {
    mq::SendMessageRequestHeader sh;
    std::string error;
    if (mq::decode_send_request_header(c, sh, error)) {
      auto req = mq::make_send_request(sh, c.body);
      (void)mq::encode_frame(req);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t chunk = size_t{1} + data[0] * size_t{7};
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);

  mq::FrameSplitter splitter(1 << 20);
  size_t frames = 0;
  for (size_t pos = 0; pos < in.size(); pos += chunk) {
    auto r = splitter.feed(in.substr(pos, chunk), [&](std::string_view frame) {
      ++frames;
      auto cmd = mq::decode_frame(frame);
      if (cmd.ok()) use_command(*cmd);
    });
    if (!r.ok()) break;
  }
  if (auto c = mq::decode_json_header(in); c.ok()) use_command(*c);
  if (auto c = mq::decode_binary_header(in); c.ok()) use_command(*c);
  // The whole input as one frame body (what the splitter would hand over for a matching length).
  if (auto c = mq::decode_frame(in); c.ok()) use_command(*c);
  return 0;
}
