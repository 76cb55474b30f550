// Store helpers of the fuzz targets that open a MessageStore on the in-memory file system
// (fuzz_store_recovery, fuzz_ha): a small configuration and a read-back of everything the store
// says it has, checking that what it hands out decodes.
#pragma once
#include <cstdint>
#include <string>

#include "codec/message.h"
#include "store/message_store.h"
#include "tests/fuzz/fuzz_util.h"

namespace mq::fuzz {

inline store::MessageStoreConfig small_store_config(int64_t commit_log_file_size, int64_t cq_units, bool check_crc) {
  store::MessageStoreConfig c;
  c.store_path_root_dir = "/s";
  c.mapped_file_size_commit_log = commit_log_file_size;
  c.mapped_file_size_consume_queue = cq_units * store::kCqUnitSize;
  c.check_crc_on_recover = check_crc;
  c.append_by_mmap = false;
  c.max_message_size = 64 * 1024;
  return c;
}

// Reads every queue and a stretch of the commit log back; returns the number of records seen.
inline int read_back(store::MessageStore& s) {
  int seen = 0;
  for (const auto& [topic, queue_id] : s.queues()) {
    int64_t lo = s.min_offset_in_queue(topic, queue_id);
    int64_t hi = s.max_offset_in_queue(topic, queue_id);
    (void)s.offset_in_queue_by_time(topic, queue_id, 1);
    (void)s.message_store_timestamp(topic, queue_id, lo);
    int64_t off = lo;
    for (int round = 0; round < 4 && off < hi; ++round) {
      auto r = s.get_message(topic, queue_id, off, 32, 256 * 1024);
      if (r.status != store::GetMessageStatus::kFound) break;
      DecodeOptions no_crc;
      no_crc.check_crc = false;
      auto recs = decode_records(r.buffer, no_crc);
      if (!recs.ok()) std::fprintf(stderr, "read_back: %s at queue offset %lld, %zu bytes\n", recs.detail().c_str(), static_cast<long long>(off), r.buffer.size());
      FUZZ_CHECK(recs.ok());
      seen += static_cast<int>(recs->size());
      if (r.next_begin_offset <= off) break;
      off = r.next_begin_offset;
    }
  }
  (void)s.earliest_message_time();
  int64_t min = s.min_phy_offset();
  if (auto bytes = s.read_commit_log(min, 64 * 1024); bytes.ok()) (void)decode_entry(*bytes);
  (void)s.message_by_offset(min);
  return seen;
}

inline store::MessageToStore fuzz_message(const std::string& topic, int32_t queue_id) {
  store::MessageToStore m;
  m.topic = topic;
  m.queue_id = queue_id;
  m.body = "fuzz";
  m.born_timestamp = 1700000000000;
  m.born_host = HostAddress::v4(10, 0, 0, 9, 50000);
  m.store_host = HostAddress::v4(127, 0, 0, 1, 10911);
  m.properties = encode_properties({{"TAGS", "TagA"}, {"KEYS", "k1 k2"}, {"UNIQ_KEY", "FUZZ0001"}});
  return m;
}

}  // namespace mq::fuzz
