// What the crash helper writes and the crash test checks: message content is a function of seq.
#pragma once
#include <string>

#include "codec/message.h"
#include "store/message_store.h"

namespace mq::crash_test {

inline store::MessageStoreConfig config(const std::string& dir) {
  store::MessageStoreConfig c;
  c.store_path_root_dir = dir;
  c.mapped_file_size_commit_log = 64 * 1024;
  c.mapped_file_size_consume_queue = 3000 * store::kCqUnitSize;
  return c;
}

inline std::string body(int64_t seq) {
  std::string b = "seq=" + std::to_string(seq) + ";";
  uint64_t x = static_cast<uint64_t>(seq) * 0x9E3779B97F4A7C15ULL + 1;
  size_t len = static_cast<size_t>((seq * 7919) % 1500);
  for (size_t i = 0; i < len; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b.push_back(static_cast<char>(x));
  }
  return b;
}

inline store::MessageToStore message(int64_t seq) {
  store::MessageToStore m;
  m.topic = "CrashTopic";
  m.queue_id = static_cast<int32_t>(seq % 3);
  m.body = body(seq);
  m.born_host = HostAddress::v4(127, 0, 0, 1, 40000);
  m.store_host = HostAddress::v4(127, 0, 0, 1, 10911);
  m.properties = encode_properties({{"UNIQ_KEY", std::to_string(seq)}, {"TAGS", "t" + std::to_string(seq % 5)}});
  return m;
}

}  // namespace mq::crash_test
