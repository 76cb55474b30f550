#include <doctest/doctest.h>

#include <vector>

#include "base/bytes.h"
#include "codec/header_reader.h"
#include "codec/json_lex.h"
#include "codec/message.h"
#include "codec/remoting_command.h"

using namespace mq;

namespace {
std::string frame_of(std::string_view header, std::string_view body, uint8_t type = 0) {
  std::string out;
  ByteWriter w(out);
  w.u32(static_cast<uint32_t>(4 + header.size() + body.size()));
  w.u32((uint32_t{type} << 24) | static_cast<uint32_t>(header.size()));
  w.raw(header);
  w.raw(body);
  return out;
}
}  // namespace

TEST_CASE("JSON header: strings, numbers and booleans in extFields all decode to text") {
  std::string header =
      R"({"code":310,"language":"JAVA","opaque":7,"flag":0,"version":121,)"
      R"("extFields":{"a":"PG","d":4,"k":false,"g":1795310000000,"x":"caf\u00e9","n":null}})";
  auto cmd = decode_json_header(header);
  REQUIRE(cmd.ok());
  CHECK(cmd->code == 310);
  CHECK(cmd->opaque == 7);
  CHECK(cmd->version == 121);
  CHECK(cmd->language == "JAVA");
  CHECK(*cmd->ext_fields.find("a") == "PG");
  CHECK(*cmd->ext_fields.find("d") == "4");
  CHECK(*cmd->ext_fields.find("k") == "false");
  CHECK(*cmd->ext_fields.find("g") == "1795310000000");
  CHECK(*cmd->ext_fields.find("x") == "caf\xC3\xA9");
  CHECK_FALSE(cmd->ext_fields.contains("n"));
  HeaderReader h(cmd->ext_fields);
  CHECK(h.i32("d") == 4);
  CHECK(h.i64("g") == 1795310000000);
  CHECK_FALSE(h.boolean("k"));
  CHECK(h.ok());
  h.str("missing");
  CHECK_FALSE(h.ok());
  CHECK(h.error() == "missing required header field 'missing'");
}

TEST_CASE("JSON header: unknown keys are ignored, bad input is refused with a reason") {
  CHECK(decode_json_header(R"({"code":1,"foo":{"bar":[1,2,{"x":null}]},"serializeTypeCurrentRPC":"JSON"})").ok());
  CHECK_FALSE(decode_json_header("").ok());
  CHECK_FALSE(decode_json_header("{").ok());
  CHECK_FALSE(decode_json_header("[1]").ok());
  CHECK_FALSE(decode_json_header(R"({"opaque":1})").ok());  // no code
  CHECK_FALSE(decode_json_header(R"({"code":"abc"})").ok());
  CHECK_FALSE(decode_json_header(R"({"code":99999999999})").ok());
  CHECK_FALSE(decode_json_header(R"({"code":1} x)").ok());
  CHECK_FALSE(decode_json_header(R"({"code":1,"extFields":{"a":[1]}})").ok());
  auto r = decode_json_header(R"({"code":1,"extFields":{"a":"x"})");
  REQUIRE_FALSE(r.ok());
  CHECK(r.code() == CodecError::kBadHeader);
}

TEST_CASE("JSON encode then decode keeps every field") {
  RemotingCommand c = RemotingCommand::request(105);
  c.opaque = 42;
  c.flag = kFlagOneway;
  c.remark = "quote \" and \\ and \x01 control";
  c.ext_fields.set("topic", std::string("T\x02opic"));
  c.ext_fields.set("queueId", int32_t{3});
  c.body = std::string("\0\1\2body", 7);
  std::string frame = encode_frame(c);
  auto d = decode_frame(std::string_view(frame).substr(4));
  REQUIRE(d.ok());
  CHECK(d->code == 105);
  CHECK(d->opaque == 42);
  CHECK(d->is_oneway());
  CHECK_FALSE(d->is_response());
  CHECK(*d->remark == *c.remark);
  CHECK(*d->ext_fields.find("topic") == "T\x02opic");
  CHECK(*d->ext_fields.find("queueId") == "3");
  CHECK(d->body == c.body);
}

TEST_CASE("ROCKETMQ binary header round trip and response mirrors serialize type") {
  RemotingCommand c = RemotingCommand::request(310);
  c.serialize_type = SerializeType::kRocketMQ;
  c.language = "JAVA";
  c.opaque = -5;
  c.remark = "r";
  c.ext_fields.set("a", std::string("group"));
  c.ext_fields.set("b", std::string(""));
  c.body = "hello";
  std::string frame = encode_frame(c);
  CHECK(static_cast<uint8_t>(frame[4]) == 1);
  auto d = decode_frame(std::string_view(frame).substr(4));
  REQUIRE(d.ok());
  CHECK(d->serialize_type == SerializeType::kRocketMQ);
  CHECK(d->code == 310);
  CHECK(d->language == "JAVA");
  CHECK(d->opaque == -5);
  CHECK(*d->remark == "r");
  CHECK(*d->ext_fields.find("a") == "group");
  CHECK(*d->ext_fields.find("b") == "");
  CHECK(d->body == "hello");
  RemotingCommand resp = RemotingCommand::response_to(*d, 0);
  CHECK(resp.serialize_type == SerializeType::kRocketMQ);
  CHECK(resp.opaque == -5);
  CHECK(resp.is_response());
}

TEST_CASE("binary header with lengths beyond the header is refused") {
  std::string h;
  ByteWriter w(h);
  w.u16(10);
  w.u8(0);
  w.u16(1);
  w.i32(1);
  w.i32(0);
  w.i32(1000);  // remark longer than the header
  CHECK_FALSE(decode_binary_header(h).ok());
  std::string h2;
  ByteWriter w2(h2);
  w2.u16(10);
  w2.u8(0);
  w2.u16(1);
  w2.i32(1);
  w2.i32(0);
  w2.i32(0);
  w2.i32(8);
  w2.u16(200);  // key length beyond the map area
  w2.raw("abcdef");
  CHECK_FALSE(decode_binary_header(h2).ok());
}

TEST_CASE("decode_frame refuses a header longer than the frame and unknown serialize types") {
  std::string f = frame_of(R"({"code":1})", "");
  // Corrupt the header length to exceed the frame.
  f[7] = 0x7F;
  auto r = decode_frame(std::string_view(f).substr(4));
  REQUIRE_FALSE(r.ok());
  CHECK(r.code() == CodecError::kBadHeaderLength);
  auto t = decode_frame(std::string_view(frame_of(R"({"code":1})", "", 7)).substr(4));
  REQUIRE_FALSE(t.ok());
  CHECK(t.code() == CodecError::kBadSerializeType);
}

TEST_CASE("FrameSplitter reassembles frames split at every byte boundary") {
  std::string stream;
  for (int i = 0; i < 3; ++i) {
    RemotingCommand c = RemotingCommand::request(100 + i);
    c.opaque = i;
    c.body = std::string(static_cast<size_t>(i * 7), 'x');
    encode_frame_to(c, stream);
  }
  for (size_t chunk = 1; chunk <= stream.size(); ++chunk) {
    FrameSplitter s;
    std::vector<int> codes;
    for (size_t at = 0; at < stream.size(); at += chunk) {
      auto r = s.feed(std::string_view(stream).substr(at, chunk), [&](std::string_view f) {
        auto d = decode_frame(f);
        REQUIRE(d.ok());
        codes.push_back(d->code);
      });
      REQUIRE(r.ok());
    }
    CHECK(codes == std::vector<int>{100, 101, 102});
    CHECK(s.buffered_bytes() == 0);
  }
}

TEST_CASE("FrameSplitter refuses negative and oversize lengths before buffering") {
  FrameSplitter s(1024);
  std::string neg = "\xFF\xFF\xFF\xF0";
  int frames = 0;
  auto r = s.feed(neg, [&](std::string_view) { ++frames; });
  REQUIRE_FALSE(r.ok());
  CHECK(r.code() == CodecError::kBadLength);
  FrameSplitter s2(1024);
  std::string big;
  ByteWriter w(big);
  w.u32(1025);
  auto r2 = s2.feed(big, [&](std::string_view) { ++frames; });
  REQUIRE_FALSE(r2.ok());
  CHECK(s2.describe_error().find("1025") != std::string::npos);
  CHECK(frames == 0);
}

TEST_CASE("plain_run agrees with a byte-by-byte scan at every length and position") {
  auto naive = [](std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
      auto u = static_cast<unsigned char>(s[i]);
      if (u == '"' || u == '\\' || u < 0x20) break;
      ++i;
    }
    return i;
  };
  const char stops[] = {'"', '\\', '\x00', '\x01', '\x1f'};
  const char plains[] = {' ', '!', '#', '[', ']', 'a', '\x7f', '\x80', '\xc3', '\xff'};
  for (size_t len = 0; len <= 24; ++len) {
    for (char fill : plains) {
      std::string s(len, fill);
      CHECK(json_lex::plain_run(s) == len);
      for (size_t at = 0; at < len; ++at) {
        for (char stop : stops) {
          std::string t = s;
          t[at] = stop;
          if (at + 1 < len) t[len - 1] = stop;  // a later stop must not hide the first
          CHECK(json_lex::plain_run(t) == naive(t));
        }
      }
    }
  }
}

TEST_CASE("JSON header text is exactly fastjson's, escapes included") {
  RemotingCommand c = RemotingCommand::request(310);
  c.opaque = -7;
  c.language = "JAVA";
  c.version = 401;
  c.ext_fields.set("i", std::string("KEYS\x01k\"1\x02WAIT\x01true\\\n\t\r\b\f\x1f"));
  c.ext_fields.set("g", int64_t{1795310000000});
  c.remark = "";
  CHECK(encode_json_header(c) ==
        R"({"code":310,"extFields":{"i":"KEYS\u0001k\"1\u0002WAIT\u0001true\\\n\t\r\b\f\u001f","g":"1795310000000"},)"
        R"("flag":0,"language":"JAVA","opaque":-7,"remark":"","serializeTypeCurrentRPC":"JSON","version":401})");
  // Appending to a buffer that already holds bytes keeps them and frames the rest correctly.
  std::string out = "prefix";
  encode_frame_to(c, out);
  CHECK(out.substr(0, 6) == "prefix");
  auto d = decode_frame(std::string_view(out).substr(10));
  REQUIRE(d.ok());
  CHECK(*d->ext_fields.find("i") == *c.ext_fields.find("i"));
}

TEST_CASE("JSON header: escaped keys, repeated keys and null values") {
  std::string h =
      R"({"code":1,"extFields":{"k\u0041":"v1","kA":"v2","n":null,"n2":"null","num":-12.5e3},"remark":"r\"x"})";
  auto d = decode_json_header(h);
  REQUIRE(d.ok());
  CHECK(d->ext_fields.size() == 3);
  CHECK(*d->ext_fields.find("kA") == "v2");
  CHECK_FALSE(d->ext_fields.contains("n"));
  CHECK(*d->ext_fields.find("n2") == "null");
  CHECK(*d->ext_fields.find("num") == "-12.5e3");
  CHECK(*d->remark == "r\"x");
  CHECK_FALSE(decode_json_header(R"({"code":1,"extFields":{"a":"unterminated})").ok());
  CHECK_FALSE(decode_json_header(R"({"code":1,"extFields":{"a\":"x"}})").ok());
}

TEST_CASE("find_property follows decode_properties: last match wins, malformed pieces skipped") {
  auto all = [](std::string_view props, std::string_view name) {
    std::optional<std::string_view> found;
    for (auto& [k, v] : decode_properties(props))
      if (k == name) found = v;
    return found;
  };
  const std::vector<std::string> cases = {
      "",
      "A\x01" "1",
      "A\x01" "1\x02" "B\x01" "2\x02" "A\x01" "3",
      "A\x01\x02" "A",
      "\x01" "A\x02" "AA\x01" "x",
      "A\x01" "1\x01" "2\x02",
      "AB\x01" "x\x02" "A\x01" "y\x02\x02",
      "A\x02" "A\x01" "\x02" "A\x01" "z",
  };
  for (const auto& p : cases) {
    for (std::string_view name : {"A", "AA", "AB", "B", "C"}) {
      CAPTURE(p);
      CAPTURE(name);
      CHECK(find_property(p, name) == all(p, name));
    }
  }
}

#include "codec/codes.h"
#include "codec/send_header.h"

TEST_CASE("send request header: V2 keys out, V2 and V1 field names in, required fields enforced") {
  SendMessageRequestHeader h;
  h.producer_group = "pg";
  h.topic = "T";
  h.queue_id = 3;
  h.sys_flag = 1;
  h.born_timestamp = 1795310000123;
  h.flag = 7;
  h.properties = "TAGS\x01" "a";
  h.reconsume_times = 2;
  h.max_reconsume_times = 16;
  RemotingCommand req = make_send_request(h, "body");
  CHECK(req.code == request_code::kSendMessageV2);
  CHECK(req.ext_fields.find("l") == nullptr);  // maxReconsumeTimes only for retry topics
  SendMessageRequestHeader back;
  std::string error;
  REQUIRE(decode_send_request_header(req, back, error));
  CHECK(back.producer_group == "pg");
  CHECK(back.topic == "T");
  CHECK(back.queue_id == 3);
  CHECK(back.sys_flag == 1);
  CHECK(back.born_timestamp == 1795310000123);
  CHECK(back.flag == 7);
  CHECK(back.properties == h.properties);
  CHECK(back.reconsume_times == 2);
  CHECK_FALSE(back.batch);

  h.topic = "%RETRY%g";
  h.batch = true;
  RemotingCommand retry = make_send_request(h, "");
  CHECK(retry.code == request_code::kSendBatchMessage);
  CHECK(*retry.ext_fields.find("l") == "16");

  RemotingCommand v1 = RemotingCommand::request(request_code::kSendMessage);
  v1.ext_fields.set("producerGroup", std::string("g1"));
  v1.ext_fields.set("topic", std::string("V1Topic"));
  v1.ext_fields.set("queueId", std::string("5"));
  SendMessageRequestHeader old;
  REQUIRE(decode_send_request_header(v1, old, error));
  CHECK(old.topic == "V1Topic");
  CHECK(old.queue_id == 5);
  CHECK(old.default_topic == "TBW102");  // absent: the default

  RemotingCommand no_topic = RemotingCommand::request(request_code::kSendMessageV2);
  no_topic.ext_fields.set("e", std::string("0"));
  SendMessageRequestHeader bad;
  CHECK_FALSE(decode_send_request_header(no_topic, bad, error));
  CHECK(error.find("'b'") != std::string::npos);
  RemotingCommand bad_queue = RemotingCommand::request(request_code::kSendMessageV2);
  bad_queue.ext_fields.set("b", std::string("T"));
  bad_queue.ext_fields.set("e", std::string("x1"));
  CHECK_FALSE(decode_send_request_header(bad_queue, bad, error));
}
