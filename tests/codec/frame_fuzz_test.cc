// A short, seeded fuzz run of the frame splitter and header decoders: random bytes and mutations
// of valid frames must never crash, hang or read out of bounds (run under ASan to see the latter);
// each input either decodes or is refused with a reason.
#include <doctest/doctest.h>

#include "base/clock.h"
#include "codec/fastjson.h"
#include "codec/remoting_command.h"

using namespace mq;

namespace {
std::string valid_frame(Random& rng) {
  RemotingCommand c = RemotingCommand::request(static_cast<int32_t>(rng.uniform(0, 400)));
  c.serialize_type = rng.chance(1, 2) ? SerializeType::kJson : SerializeType::kRocketMQ;
  c.opaque = static_cast<int32_t>(rng.uniform(-1000, 1000));
  int n = static_cast<int>(rng.uniform(0, 5));
  for (int i = 0; i < n; ++i) c.ext_fields.set("k" + std::to_string(i), std::string(static_cast<size_t>(rng.uniform(0, 20)), 'v'));
  if (rng.chance(1, 3)) c.remark = "remark";
  c.body.assign(static_cast<size_t>(rng.uniform(0, 64)), 'b');
  return encode_frame(c);
}
}  // namespace

TEST_CASE("fuzz: mutated frames never crash the splitter or the decoders") {
  Random rng(20261122);
  int decoded = 0, refused = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string data;
    int frames = static_cast<int>(rng.uniform(1, 3));
    for (int i = 0; i < frames; ++i) data += valid_frame(rng);
    int mutations = static_cast<int>(rng.uniform(0, 6));
    for (int m = 0; m < mutations && !data.empty(); ++m) {
      size_t at = static_cast<size_t>(rng.uniform(0, static_cast<int64_t>(data.size()) - 1));
      switch (rng.uniform(0, 3)) {
        case 0: data[at] = static_cast<char>(rng.next_u64()); break;
        case 1: data.erase(at, static_cast<size_t>(rng.uniform(1, 8))); break;
        case 2: data.insert(at, std::string(static_cast<size_t>(rng.uniform(1, 8)), static_cast<char>(rng.next_u64()))); break;
        default: data.resize(at); break;
      }
    }
    FrameSplitter s(4096);
    size_t at = 0;
    while (at < data.size()) {
      size_t chunk = static_cast<size_t>(rng.uniform(1, 64));
      auto r = s.feed(std::string_view(data).substr(at, chunk), [&](std::string_view f) {
        if (decode_frame(f).ok()) {
          ++decoded;
        } else {
          ++refused;
        }
      });
      if (!r.ok()) {
        ++refused;
        break;
      }
      at += chunk;
    }
  }
  CHECK(decoded > 1000);
  CHECK(refused > 1000);
}

TEST_CASE("fuzz: random bytes as JSON headers and bodies") {
  Random rng(7);
  const std::string alphabet = "{}[]\":,0123456789-.eEtruefalsn \\u\x01\xC3\xA9abc";
  for (int iter = 0; iter < 20000; ++iter) {
    std::string s;
    size_t n = static_cast<size_t>(rng.uniform(0, 40));
    for (size_t i = 0; i < n; ++i) s.push_back(alphabet[static_cast<size_t>(rng.uniform(0, static_cast<int64_t>(alphabet.size()) - 1))]);
    (void)decode_json_header(s);
    (void)decode_binary_header(s);
    (void)parse_fastjson(s);
  }
  CHECK(true == decode_json_header(R"({"code":0})").ok());
}
