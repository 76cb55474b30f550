// CommitLog + ConsumeQueue behaviour: appends, roll-over and BLANK, batches, ConsumeQueue units, tag
// filtering, every GetMessageStatus, recovery of torn tails, expiry, disk full, failed fsync,
// the SYNC_FLUSH claim on the fault-injecting file system, and DLedger mode (CommitLog read through the
// Raft log, queue offsets handed out at encode, units only for committed records).
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "base/hash.h"
#include "store/fault_fs.h"
#include "store/group_commit.h"
#include "store/message_store.h"
#include "tests/store/test_util.h"

using namespace mq;
using namespace mq::store;

namespace {

Logger quiet_log() { return Logger(std::make_shared<LogSink>(stderr, LogLevel::kError), "[store-test]"); }

MessageStoreConfig small_config(const std::string& root, int64_t cl_size = 4096, int64_t cq_units = 5) {
  MessageStoreConfig c;
  c.store_path_root_dir = root;
  c.mapped_file_size_commit_log = cl_size;
  c.mapped_file_size_consume_queue = cq_units * kCqUnitSize;
  return c;
}

MessageToStore make_msg(const std::string& topic, int32_t qid, const std::string& body,
                        const std::string& tags = "", const std::string& uniq = "") {
  MessageToStore m;
  m.topic = topic;
  m.queue_id = qid;
  m.body = body;
  m.born_timestamp = 1700000000000;
  m.born_host = HostAddress::v4(10, 0, 0, 9, 50000);
  m.store_host = HostAddress::v4(127, 0, 0, 1, 10911);
  PropertyList p;
  if (!tags.empty()) p.emplace_back("TAGS", tags);
  if (!uniq.empty()) p.emplace_back("UNIQ_KEY", uniq);
  m.properties = encode_properties(p);
  return m;
}

std::string body_for(int i) { return "body-" + std::to_string(i) + std::string(static_cast<size_t>(i % 50), 'x'); }

// Every record of a queue, via get_message.
std::vector<MessageRecord> read_all(MessageStore& s, const std::string& topic, int32_t qid,
                                    std::vector<std::string>& keep) {
  std::vector<MessageRecord> out;
  int64_t off = s.min_offset_in_queue(topic, qid);
  while (true) {
    auto r = s.get_message(topic, qid, off, 32, 1 << 20);
    if (r.status != GetMessageStatus::kFound) break;
    keep.push_back(r.buffer);
    auto recs = decode_records(keep.back());
    REQUIRE(recs.ok());
    for (auto& m : *recs) out.push_back(m);
    off = r.next_begin_offset;
  }
  return out;
}

}  // namespace

TEST_CASE("put and get: fields kept byte for byte, offsets, offsetMsgIds") {
  FaultInjectingFileSystem fs;
  MessageStore s(small_config("/s"), fs, quiet_log());
  REQUIRE(s.open().ok());
  auto m = make_msg("TopicA", 1, "hello", "TagA", "UNIQ1");
  m.flag = 7;
  m.sys_flag = sysflag::kCompressed;
  m.reconsume_times = 2;
  auto r = s.put_message(m, 1700000000123);
  REQUIRE(r.ok());
  CHECK(r.wrote_offset == 0);
  CHECK(r.logics_offset == 0);
  CHECK(r.msg_ids.size() == 1);
  CHECK(r.msg_ids[0] == make_offset_msg_id(m.store_host, 0));
  auto r2 = s.put_message(make_msg("TopicA", 1, "second"), 1700000000124);
  REQUIRE(r2.ok());
  CHECK(r2.wrote_offset == r.end_offset);
  CHECK(r2.logics_offset == 1);
  CHECK(s.max_offset_in_queue("TopicA", 1) == 2);
  CHECK(s.min_offset_in_queue("TopicA", 1) == 0);

  auto g = s.get_message("TopicA", 1, 0, 32, 1 << 20);
  REQUIRE(g.status == GetMessageStatus::kFound);
  CHECK(g.next_begin_offset == 2);
  CHECK(g.max_offset == 2);
  auto recs = decode_records(g.buffer);
  REQUIRE(recs.ok());
  REQUIRE(recs->size() == 2);
  const auto& d = (*recs)[0];
  CHECK(d.body == "hello");
  CHECK(d.flag == 7);
  CHECK(d.sys_flag == sysflag::kCompressed);
  CHECK(d.reconsume_times == 2);
  CHECK(d.born_host == m.born_host);
  CHECK(d.store_host == m.store_host);
  CHECK(d.store_timestamp == 1700000000123);
  CHECK(d.properties == m.properties);
  CHECK(d.body_crc == rocketmq_crc32("hello"));
  CHECK((*recs)[1].queue_offset == 1);
  CHECK(g.messages[1].tags_code == 0);
  CHECK(g.messages[0].tags_code == java_string_hash("TagA"));

  auto by_off = s.message_by_offset(r2.wrote_offset);
  REQUIRE(by_off.ok());
  CHECK(decode_record(*by_off)->body == "second");
  CHECK(s.earliest_message_time() == 1700000000123);
  CHECK(s.message_store_timestamp("TopicA", 1, 1) == 1700000000124);
  CHECK_FALSE(s.message_by_offset(r2.end_offset).ok());
  auto raw = s.read_commit_log(0, 1 << 20);
  REQUIRE(raw.ok());
  CHECK(raw->size() == static_cast<size_t>(r2.end_offset));
  CHECK(decode_records(*raw)->size() == 2);
  CHECK(s.read_commit_log(r2.end_offset, 100).value().empty());
  CHECK(s.read_commit_log(r.wrote_offset, 10).value().size() == 10);
}

TEST_CASE("segment roll-over writes a BLANK and never splits a record") {
  FaultInjectingFileSystem fs;
  MessageStore s(small_config("/s", 1024), fs, quiet_log());
  REQUIRE(s.open().ok());
  std::vector<PutMessageResult> puts;
  for (int i = 0; i < 40; ++i) {
    puts.push_back(s.put_message(make_msg("T", i % 2, body_for(i)), 1000 + i));
    REQUIRE(puts.back().ok());
    // A record never crosses a 1024-byte boundary.
    CHECK(puts.back().wrote_offset / 1024 == (puts.back().end_offset - 1) / 1024);
  }
  CHECK(s.max_phy_offset() > 3 * 1024);
  // The first file ends with a BLANK covering exactly the bytes left.
  int blanks = 0;
  for (int64_t file = 0; file + 1024 <= s.max_phy_offset() - 1024; file += 1024) {
    int64_t last_end = 0;
    for (auto& p : puts)
      if (p.wrote_offset / 1024 == file / 1024) last_end = p.end_offset;
    auto f = fs.open("/s/commitlog/" + offset_to_file_name(file), false);
    REQUIRE(f.ok());
    CHECK((*f)->size() == 1024);
    uint8_t b[8];
    REQUIRE((*f)->read_at(last_end - file, b, 8).value() == 8);
    auto e = decode_entry(std::string_view(reinterpret_cast<char*>(b), 8));
    REQUIRE(e.ok());
    CHECK(e->blank);
    CHECK(e->size == 1024 - (last_end - file));
    ++blanks;
  }
  CHECK(blanks >= 3);
  std::vector<std::string> keep;
  auto q0 = read_all(s, "T", 0, keep);
  auto q1 = read_all(s, "T", 1, keep);
  REQUIRE(q0.size() == 20);
  REQUIRE(q1.size() == 20);
  for (int i = 0; i < 20; ++i) {
    CHECK(q0[static_cast<size_t>(i)].body == body_for(2 * i));
    CHECK(q1[static_cast<size_t>(i)].queue_offset == i);
  }
  // Too large for any file.
  auto big = s.put_message(make_msg("T", 0, std::string(1100, 'z')), 1);
  CHECK(big.status == PutMessageStatus::kMessageIllegal);
}

TEST_CASE("pre-created segment is taken at roll-over") {
  FaultInjectingFileSystem fs;
  MessageStore s(small_config("/s", 1024), fs, quiet_log());
  REQUIRE(s.open().ok());
  REQUIRE(s.put_message(make_msg("T", 0, "x"), 1).ok());
  int64_t misses = s.precreate_misses();
  CHECK(s.needs_precreate());
  REQUIRE(s.precreate_next_file().ok());
  CHECK_FALSE(s.needs_precreate());
  CHECK(fs.exists("/s/commitlog/" + offset_to_file_name(1024)));
  for (int i = 0; s.max_phy_offset() <= 1024; ++i) REQUIRE(s.put_message(make_msg("T", 0, body_for(i)), 1).ok());
  CHECK(s.precreate_misses() == misses);
  CHECK(s.needs_precreate());
  // The next roll-over was not pre-created: it is created on the spot and counted.
  while (s.max_phy_offset() <= 2048) REQUIRE(s.put_message(make_msg("T", 0, "y"), 1).ok());
  CHECK(s.precreate_misses() == misses + 1);
}

TEST_CASE("batch: one record per member, consecutive queue offsets, batch properties joined") {
  FaultInjectingFileSystem fs;
  MessageStore s(small_config("/s", 8192), fs, quiet_log());
  REQUIRE(s.open().ok());
  REQUIRE(s.put_message(make_msg("B", 2, "before"), 5).ok());
  std::vector<BatchItem> items;
  std::vector<std::string> props, bodies;
  for (int i = 0; i < 6; ++i) bodies.push_back("m" + std::to_string(i));
  for (int i = 0; i < 6; ++i)
    props.push_back(encode_properties({{"TAGS", i % 2 ? "odd" : "even"}, {"UNIQ_KEY", "U" + std::to_string(i)}}) + "\x02");
  for (int i = 0; i < 6; ++i) items.push_back(BatchItem{i, bodies[static_cast<size_t>(i)], props[static_cast<size_t>(i)]});
  BatchToStore b;
  b.topic = "B";
  b.queue_id = 2;
  b.born_host = HostAddress::v4(1, 2, 3, 4, 5);
  b.store_host = HostAddress::v4(127, 0, 0, 1, 10911);
  b.body = encode_batch(items);
  b.properties = "CLUSTER\x01" "c\x02WAIT\x01true";
  auto r = s.put_messages(b, 10);
  REQUIRE(r.ok());
  CHECK(r.msg_num == 6);
  CHECK(r.logics_offset == 1);
  REQUIRE(r.msg_ids.size() == 6);
  CHECK(s.max_offset_in_queue("B", 2) == 7);
  auto g = s.get_message("B", 2, 1, 32, 1 << 20);
  REQUIRE(g.status == GetMessageStatus::kFound);
  auto recs = decode_records(g.buffer);
  REQUIRE(recs.ok());
  REQUIRE(recs->size() == 6);
  for (size_t i = 0; i < 6; ++i) {
    const auto& m = (*recs)[i];
    CHECK(m.queue_offset == static_cast<int64_t>(i) + 1);
    CHECK(m.flag == static_cast<int32_t>(i));
    CHECK(m.body == "m" + std::to_string(i));
    CHECK(m.properties == props[i] + "CLUSTER\x01" "c\x02WAIT\x01true");
    CHECK(make_offset_msg_id(m.store_host, m.physical_offset) == r.msg_ids[i]);
    CHECK(g.messages[i].tags_code == java_string_hash(i % 2 ? "odd" : "even"));
  }
  // A batch that does not fit the rest of the file moves whole to the next one.
  std::vector<BatchItem> big;
  std::string big_body(200, 'b');
  for (int i = 0; i < 25; ++i) big.push_back(BatchItem{0, big_body, ""});
  b.body = encode_batch(big);
  auto r2 = s.put_messages(b, 11);
  REQUIRE(r2.ok());
  CHECK(r2.wrote_offset == 8192);
  b.body = "garbage";
  CHECK(s.put_messages(b, 12).status == PutMessageStatus::kMessageIllegal);
  b.body = encode_batch(items);
  b.sys_flag = sysflag::kTransactionPreparedType;
  CHECK(s.put_messages(b, 12).status == PutMessageStatus::kMessageIllegal);
}

TEST_CASE("ConsumeQueue units on disk: 20 bytes, offset/size/tags hash, files of N units") {
  FaultInjectingFileSystem fs;
  MessageStore s(small_config("/s", 1 << 16, 5), fs, quiet_log());
  REQUIRE(s.open().ok());
  std::vector<PutMessageResult> puts;
  for (int i = 0; i < 12; ++i) puts.push_back(s.put_message(make_msg("Q", 0, body_for(i), "标签-ü"), 1));
  // Transaction PREPARED and ROLLBACK records get no unit and queue offset 0.
  auto prep = make_msg("Q", 0, "half");
  prep.sys_flag = sysflag::kTransactionPreparedType;
  auto pr = s.put_message(prep, 1);
  REQUIRE(pr.ok());
  CHECK(pr.logics_offset == 0);
  CHECK(s.max_offset_in_queue("Q", 0) == 12);
  for (int file = 0; file < 3; ++file) {
    auto f = fs.open("/s/consumequeue/Q/0/" + offset_to_file_name(file * 100), false);
    REQUIRE(f.ok());
    CHECK((*f)->size() == 100);
    for (int u = 0; u < 5 && file * 5 + u < 12; ++u) {
      uint8_t b[20];
      REQUIRE((*f)->read_at(u * 20, b, 20).value() == 20);
      const auto& p = puts[static_cast<size_t>(file * 5 + u)];
      CHECK(static_cast<int64_t>(get_be64(b)) == p.wrote_offset);
      CHECK(static_cast<int32_t>(get_be32(b + 8)) == p.wrote_bytes);
      CHECK(static_cast<int64_t>(get_be64(b + 12)) == java_string_hash("标签-ü"));
    }
  }
  CHECK_FALSE(fs.exists("/s/consumequeue/Q/0/" + offset_to_file_name(300)));
}

// Found by fuzz_store_recovery: a ConsumeQueue unit damaged on disk (here: pointing 4 bytes into its
// record) made get_message hand out bytes that are no message. Now such a unit is skipped like a
// removed message and the units after it still read.
TEST_CASE("a ConsumeQueue unit that does not point at a message of its size is skipped, not served") {
  FaultInjectingFileSystem fs;
  std::vector<PutMessageResult> puts;
  {
    MessageStore s(small_config("/s", 1 << 16, 5), fs, quiet_log());
    REQUIRE(s.open().ok());
    for (int i = 0; i < 3; ++i) puts.push_back(s.put_message(make_msg("D", 0, body_for(i)), 1));
    REQUIRE(s.shutdown().ok());
  }
  {
    auto f = fs.open("/s/consumequeue/D/0/" + offset_to_file_name(0), false);
    REQUIRE(f.ok());
    uint8_t b[8];
    put_be64(b, static_cast<uint64_t>(puts[0].wrote_offset + 4));
    REQUIRE((*f)->write_at(0, b, 8).ok());
    REQUIRE((*f)->sync().ok());
  }
  MessageStore s(small_config("/s", 1 << 16, 5), fs, quiet_log());
  REQUIRE(s.open().ok());
  auto r = s.get_message("D", 0, 0, 32, 1 << 20);
  REQUIRE(r.status == GetMessageStatus::kFound);
  auto recs = decode_records(r.buffer);
  REQUIRE(recs.ok());
  REQUIRE(recs->size() == 2);
  CHECK((*recs)[0].body == body_for(1));
  CHECK((*recs)[1].body == body_for(2));
  CHECK(r.next_begin_offset == 3);
}

TEST_CASE("tag filtering by hash code") {
  FaultInjectingFileSystem fs;
  MessageStore s(small_config("/s", 1 << 16, 100), fs, quiet_log());
  REQUIRE(s.open().ok());
  const char* tags[] = {"TagA", "TagB", "TagC", ""};
  for (int i = 0; i < 40; ++i) REQUIRE(s.put_message(make_msg("F", 0, body_for(i), tags[i % 4]), 1).ok());
  std::set<int64_t> want = {java_string_hash("TagA"), java_string_hash("TagC")};
  auto filter = [&](int64_t code) { return want.count(code) > 0; };
  auto g = s.get_message("F", 0, 0, 8, 1 << 20, filter);
  REQUIRE(g.status == GetMessageStatus::kFound);
  REQUIRE(g.messages.size() == 8);
  auto recs = decode_records(g.buffer);
  REQUIRE(recs.ok());
  for (const auto& m : *recs) {
    auto t = find_property(m.properties, "TAGS");
    REQUIRE(t.has_value());
    CHECK((*t == "TagA" || *t == "TagC"));
  }
  // 8 matches found among the first 15 units: next offset is right after the 8th match.
  CHECK(g.next_begin_offset == 15);
  std::set<int64_t> none = {java_string_hash("Nope")};
  auto n = s.get_message("F", 0, 0, 8, 1 << 20, [&](int64_t c) { return none.count(c) > 0; });
  CHECK(n.status == GetMessageStatus::kNoMatchedMessage);
  CHECK(n.next_begin_offset == 40);  // scanned to the end
}

TEST_CASE("every GetMessageStatus") {
  FaultInjectingFileSystem fs;
  REQUIRE(fs.create_directories("/s/consumequeue/Empty/0").ok());
  {
    auto f = fs.open("/s/consumequeue/Empty/0/" + offset_to_file_name(0), true);
    REQUIRE(f.ok());
    REQUIRE((*f)->truncate(100).ok());
  }
  MessageStore s(small_config("/s", 1024, 5), fs, quiet_log());
  REQUIRE(s.open().ok());
  for (int i = 0; i < 30; ++i) REQUIRE(s.put_message(make_msg("G", 0, body_for(i)), 1000).ok());
  REQUIRE(s.flush().ok());

  CHECK(s.get_message("Missing", 0, 0, 32, 1 << 20).status == GetMessageStatus::kNoMatchedLogicQueue);
  auto empty = s.get_message("Empty", 0, 3, 32, 1 << 20);
  CHECK(empty.status == GetMessageStatus::kNoMessageInQueue);
  CHECK(empty.next_begin_offset == 0);
  auto one = s.get_message("G", 0, 30, 32, 1 << 20);
  CHECK(one.status == GetMessageStatus::kOffsetOverflowOne);
  CHECK(one.next_begin_offset == 30);
  auto badly = s.get_message("G", 0, 99, 32, 1 << 20);
  CHECK(badly.status == GetMessageStatus::kOffsetOverflowBadly);
  CHECK(badly.next_begin_offset == 0);  // min offset is 0
  auto found = s.get_message("G", 0, 3, 4, 1 << 20);
  CHECK(found.status == GetMessageStatus::kFound);
  CHECK(found.messages.size() == 4);
  CHECK(found.next_begin_offset == 7);
  // Byte limit: the first record is always returned, later ones only while they fit.
  auto limited = s.get_message("G", 0, 0, 32, 1);
  CHECK(limited.messages.size() == 1);
  CHECK(limited.next_begin_offset == 1);

  // Expire the first commit log files: units pointing at them are "being removed" until their
  // ConsumeQueue file goes, and offsets below the new min are too small.
  ExpiryRequest req;
  req.now_ms = 1000;
  req.manual = true;
  req.disk_used_ratio = 0.80;  // above disk_space_clean_forcibly_ratio? no: 80 < 85, so age decides
  auto cfg = s.config();
  (void)cfg;
  // Files are young (mtime 0 + 72 h > now), so nothing goes without force.
  CHECK(s.delete_expired_files(req) == 0);
  req.disk_used_ratio = 0.86;  // forcibly
  int deleted = s.delete_expired_files(req);
  CHECK(deleted >= 1);
  int64_t min_phy = s.min_phy_offset();
  CHECK(min_phy > 0);
  int64_t min_q = s.min_offset_in_queue("G", 0);
  CHECK(min_q > 0);
  auto small = s.get_message("G", 0, 0, 32, 1 << 20);
  bool removing_or_small = small.status == GetMessageStatus::kOffsetTooSmall ||
                           small.status == GetMessageStatus::kMessageWasRemoving;
  CHECK(removing_or_small);
  if (small.status == GetMessageStatus::kOffsetTooSmall) CHECK(small.next_begin_offset == min_q);
  // Reading from the new min finds messages whose records still exist.
  auto after = s.get_message("G", 0, min_q, 32, 1 << 20);
  CHECK(after.status == GetMessageStatus::kFound);
  CHECK(after.messages.front().commit_log_offset >= min_phy);
  // A ConsumeQueue file whose units all point at deleted records is gone, so below it is too small.
  CHECK(s.get_message("G", 0, 0, 32, 1 << 20).status == GetMessageStatus::kOffsetTooSmall);
}

TEST_CASE("expiry inside a ConsumeQueue file: min offset moves to the first live unit") {
  FaultInjectingFileSystem fs;
  MessageStore s(small_config("/s", 1024, 100), fs, quiet_log());
  REQUIRE(s.open().ok());
  for (int i = 0; i < 20; ++i) REQUIRE(s.put_message(make_msg("W", 0, body_for(i)), 1000).ok());
  REQUIRE(s.flush().ok());
  ExpiryRequest req;
  req.now_ms = 1;
  req.disk_used_ratio = 0.86;
  REQUIRE(s.delete_expired_files(req) >= 1);
  // The ConsumeQueue file (100 units) also holds live units, so it stays; min offset moved.
  int64_t min_q = s.min_offset_in_queue("W", 0);
  CHECK(min_q > 0);
  CHECK(s.get_message("W", 0, 0, 32, 1 << 20).status == GetMessageStatus::kOffsetTooSmall);
}

TEST_CASE("offset by time: binary search over store timestamps") {
  FaultInjectingFileSystem fs;
  MessageStore s(small_config("/s", 1 << 16, 7), fs, quiet_log());
  REQUIRE(s.open().ok());
  for (int i = 0; i < 50; ++i) REQUIRE(s.put_message(make_msg("O", 0, body_for(i)), 10000 + 10 * i).ok());
  CHECK(s.offset_in_queue_by_time("O", 0, 0) == 0);
  CHECK(s.offset_in_queue_by_time("O", 0, 10000) == 0);
  CHECK(s.offset_in_queue_by_time("O", 0, 10001) == 1);
  CHECK(s.offset_in_queue_by_time("O", 0, 10250) == 25);
  CHECK(s.offset_in_queue_by_time("O", 0, 10490) == 49);
  CHECK(s.offset_in_queue_by_time("O", 0, 99999) == 50);
}

TEST_CASE("clean shutdown and reopen: no abort, everything back, queue offsets continue") {
  test::TempDir dir;
  PosixFileSystem fs;
  {
    MessageStore s(small_config(dir.path(), 2048, 10), fs, quiet_log());
    REQUIRE(s.open().ok());
    CHECK(fs.exists(dir.path() + "/abort"));
    for (int i = 0; i < 60; ++i) REQUIRE(s.put_message(make_msg("R", i % 3, body_for(i), "t"), 100 + i).ok());
    REQUIRE(s.precreate_next_file().ok());
    REQUIRE(s.shutdown().ok());
    CHECK_FALSE(fs.exists(dir.path() + "/abort"));
  }
  MessageStore s(small_config(dir.path(), 2048, 10), fs, quiet_log());
  auto rep = s.open();
  REQUIRE(rep.ok());
  CHECK_FALSE(rep->abnormal);
  CHECK(rep->redispatched == 0);
  for (int q = 0; q < 3; ++q) CHECK(s.max_offset_in_queue("R", q) == 20);
  auto p = s.put_message(make_msg("R", 1, "after"), 1000);
  REQUIRE(p.ok());
  CHECK(p.logics_offset == 20);
  std::vector<std::string> keep;
  auto all = read_all(s, "R", 1, keep);
  REQUIRE(all.size() == 21);
  CHECK(all.back().body == "after");
  CHECK(all[5].body == body_for(16));
}

// fuzz_store_recovery: abnormal recovery started at the newest file the checkpoint covers and so
// never checked a bad record in an older file that the next normal recovery (the last three files)
// does check; after a clean stop that recovery cut the log there, with the messages put meanwhile.
TEST_CASE("abnormal recovery checks at least the files a normal recovery checks (found by libFuzzer)") {
  FaultInjectingFileSystem fs;
  auto config = small_config("/s", 1024, 10);
  config.check_crc_on_recover = true;
  std::vector<PutMessageResult> puts;
  {
    MessageStore s(config, fs, quiet_log());
    REQUIRE(s.open().ok());
    for (int i = 0; i < 12; ++i) puts.push_back(s.put_message(make_msg("C", 0, body_for(i)), 10000 * (i + 1)));
    REQUIRE(puts.back().wrote_offset >= 1024);  // two segments; the checkpoint covers the second's start
    REQUIRE(s.shutdown().ok());
  }
  // A bad body byte in the first segment's second record, and a crash marker.
  {
    auto f = fs.open("/s/commitlog/" + offset_to_file_name(0), false);
    REQUIRE(f.ok());
    REQUIRE((*f)->write_at(puts[1].wrote_offset + 88, "#", 1).ok());
    REQUIRE(fs.open("/s/abort", true).ok());
  }
  int64_t end = 0;
  {
    MessageStore s(config, fs, quiet_log());
    auto rep = s.open();
    REQUIRE(rep.ok());
    CHECK(rep->abnormal);
    CHECK(rep->commit_log_end == puts[1].wrote_offset);
    CHECK(s.put_message(make_msg("C", 0, "after"), 200000).status == PutMessageStatus::kPutOk);
    end = s.max_phy_offset();
    REQUIRE(s.shutdown().ok());
  }
  MessageStore s(config, fs, quiet_log());
  auto rep = s.open();
  REQUIRE(rep.ok());
  CHECK_FALSE(rep->abnormal);
  CHECK(s.max_phy_offset() == end);
}

TEST_CASE("abnormal recovery: torn tail cut, ConsumeQueue units past the end dropped, missing units rebuilt") {
  FaultInjectingFileSystem fs;
  std::vector<PutMessageResult> puts;
  {
    MessageStore s(small_config("/s", 4096, 10), fs, quiet_log());
    REQUIRE(s.open().ok());
    for (int i = 0; i < 30; ++i) puts.push_back(s.put_message(make_msg("C", i % 2, body_for(i)), 1 + i));
  }  // no shutdown: abort stays
  // Tear the last record: keep its first half; the ConsumeQueue still has its unit.
  const auto& last = puts.back();
  {
    auto f = fs.open("/s/commitlog/" + offset_to_file_name(last.wrote_offset / 4096 * 4096), false);
    REQUIRE(f.ok());
    int64_t pos = last.wrote_offset % 4096 + last.wrote_bytes / 2;
    std::string zeros(static_cast<size_t>(last.wrote_bytes), '\0');
    REQUIRE((*f)->write_at(pos, zeros.data(), static_cast<size_t>(last.wrote_bytes - last.wrote_bytes / 2)).ok());
  }
  // Lose queue 0's ConsumeQueue entirely.
  auto names = fs.list("/s/consumequeue/C/0").value();
  for (auto& n : names) REQUIRE(fs.remove("/s/consumequeue/C/0/" + n).ok());
  MessageStore s(small_config("/s", 4096, 10), fs, quiet_log());
  auto rep = s.open();
  REQUIRE(rep.ok());
  CHECK(rep->abnormal);
  CHECK(rep->commit_log_end == last.wrote_offset);
  CHECK(rep->truncated_bytes > 0);
  CHECK(s.max_offset_in_queue("C", 0) == 15);
  CHECK(s.max_offset_in_queue("C", 1) == 14);  // the torn 30th message was queue 1's 15th
  std::vector<std::string> keep;
  auto q0 = read_all(s, "C", 0, keep);
  REQUIRE(q0.size() == 15);
  for (size_t i = 0; i < q0.size(); ++i) CHECK(q0[i].body == body_for(static_cast<int>(2 * i)));
  // The next put reuses the cut offset and continues queue 1 at 14.
  auto p = s.put_message(make_msg("C", 1, "new"), 99);
  REQUIRE(p.ok());
  CHECK(p.wrote_offset == last.wrote_offset);
  CHECK(p.logics_offset == 14);
}

TEST_CASE("SYNC_FLUSH claim: after an OS crash every flushed put survives, nothing torn") {
  for (uint64_t seed = 1; seed <= 150; ++seed) {
    CAPTURE(seed);
    Random rng(seed);
    FaultInjectingFileSystem fs;
    std::map<int64_t, std::string> acked;  // queue offset -> body (one queue)
    std::vector<std::pair<int64_t, std::string>> pending;
    int64_t acked_count = 0;
    int rounds = static_cast<int>(rng.uniform(1, 3));
    for (int round = 0; round < rounds; ++round) {
      MessageStore s(small_config("/s", 2048, 8), fs, quiet_log());
      auto opened = s.open();
      REQUIRE_MESSAGE(opened.ok(), (opened.ok() ? "" : opened.detail()));
      CHECK(s.max_offset_in_queue("S", 0) >= acked_count);
      GroupCommit gc;
      pending.clear();
      int n = static_cast<int>(rng.uniform(5, 60));
      for (int i = 0; i < n; ++i) {
        std::string body = "s" + std::to_string(seed) + "-" + std::to_string(round) + "-" + std::to_string(i) +
                           std::string(static_cast<size_t>(rng.uniform(0, 300)), 'q');
        auto r = s.put_message(make_msg("S", 0, body), 1000 + i);
        REQUIRE(r.ok());
        pending.emplace_back(r.logics_offset, body);
        gc.add(static_cast<uint64_t>(pending.size() - 1), r.end_offset, 1 << 30);
        if (rng.chance(1, 3)) {
          // Group commit fsyncs only the CommitLog; the interval flush does everything.
          auto f = rng.chance(1, 2) ? s.flush_commit_log() : s.flush();
          REQUIRE(f.ok());
          for (auto tok : gc.complete_up_to(*f)) {
            acked[pending[tok].first] = pending[tok].second;
            ++acked_count;
          }
        }
      }
      if (rng.chance(1, 2)) s.precreate_next_file().value();
      fs.crash(rng.chance(1, 2) ? &rng : nullptr);
    }
    MessageStore s(small_config("/s", 2048, 8), fs, quiet_log());
    auto rep = s.open();
    REQUIRE_MESSAGE(rep.ok(), (rep.ok() ? "" : rep.detail()));
    std::vector<std::string> keep;
    auto all = read_all(s, "S", 0, keep);
    std::map<int64_t, std::string> got;
    for (auto& m : all) got[m.queue_offset] = std::string(m.body);
    for (auto& [off, body] : acked) {
      REQUIRE(got.count(off));
      CHECK(got[off] == body);
    }
    // Nothing torn: queue offsets are dense and every record decoded with its CRC.
    int64_t expect = 0;
    for (auto& [off, _] : got) CHECK(off == expect++);
  }
}

TEST_CASE("after the clock jumps back, an OS crash loses no ConsumeQueue unit of a flushed put") {
  // Store timestamps are wall-clock time. Records written after a backward jump are stamped older
  // than the checkpoint, so the timestamp rule alone would start the re-dispatch at the newest file
  // and skip the units of earlier records whose CommitLog bytes were synced (SYNC_FLUSH) but whose
  // units were not. The checkpoint's dispatch mark keeps the start at or before them.
  FaultInjectingFileSystem fs;
  std::vector<std::string> bodies;
  {
    MessageStore s(small_config("/s", 2048, 8), fs, quiet_log());
    REQUIRE(s.open().ok());
    const int64_t before_jump_ms = 1'800'000'000'000;
    for (int i = 0; i < 5; ++i) {
      bodies.push_back("before-" + std::to_string(i));
      REQUIRE(s.put_message(make_msg("J", 0, bodies.back()), before_jump_ms + i).ok());
    }
    REQUIRE(s.flush().ok());  // checkpoint: timestamp before_jump_ms + 4
    const int64_t after_jump_ms = before_jump_ms - 3'600'000;
    for (int i = 0; i < 40; ++i) {  // several 2 KiB segments
      bodies.push_back("after-" + std::to_string(i) + std::string(100, 'a'));
      REQUIRE(s.put_message(make_msg("J", 0, bodies.back()), after_jump_ms + i).ok());
      if (i == 10) REQUIRE(s.flush().ok());  // the timestamp stays; the dispatch mark moves
    }
    REQUIRE(s.max_phy_offset() > 3 * 2048);  // four segments or more
    REQUIRE(s.flush_commit_log().ok());  // group commit: the CommitLog only
    fs.crash();
  }
  MessageStore s(small_config("/s", 2048, 8), fs, quiet_log());
  auto rep = s.open();
  REQUIRE_MESSAGE(rep.ok(), (rep.ok() ? "" : rep.detail()));
  CHECK(rep->abnormal);
  std::vector<std::string> keep;
  auto all = read_all(s, "J", 0, keep);
  REQUIRE_MESSAGE(all.size() == bodies.size(), "expected every synced put (", bodies.size(), ") back, got ", all.size());
  for (size_t i = 0; i < all.size(); ++i) CHECK(std::string(all[i].body) == bodies[i]);
}

TEST_CASE("disk full: puts get SERVICE_NOT_AVAILABLE, the store stays readable and reopens intact") {
  FaultInjectingFileSystem fs;
  fs.set_capacity_bytes(4096 * 2 + 4096 + 1000);  // two commit log files, checkpoint, some CQ
  std::vector<std::string> bodies;
  {
    MessageStore s(small_config("/s", 4096, 50), fs, quiet_log());
    REQUIRE(s.open().ok());
    PutMessageResult last;
    for (int i = 0; i < 200; ++i) {
      last = s.put_message(make_msg("D", 0, body_for(i)), 1);
      if (!last.ok()) break;
      bodies.push_back(body_for(i));
    }
    CHECK(last.status == PutMessageStatus::kServiceNotAvailable);
    CHECK(last.detail.find("disk full") != std::string::npos);
    CHECK(bodies.size() > 10);
    std::vector<std::string> keep;
    CHECK(read_all(s, "D", 0, keep).size() == bodies.size());
    (void)s.flush();
  }
  fs.clear_faults();
  MessageStore s(small_config("/s", 4096, 50), fs, quiet_log());
  REQUIRE(s.open().ok());
  std::vector<std::string> keep;
  auto all = read_all(s, "D", 0, keep);
  REQUIRE(all.size() == bodies.size());
  for (size_t i = 0; i < all.size(); ++i) CHECK(all[i].body == bodies[i]);
}

TEST_CASE("disk usage above the warning level refuses puts until it drops") {
  FaultInjectingFileSystem fs;
  MessageStore s(small_config("/s"), fs, quiet_log());
  REQUIRE(s.open().ok());
  ExpiryRequest req;
  req.disk_used_ratio = 0.95;
  s.delete_expired_files(req);
  CHECK(s.put_message(make_msg("D", 0, "x"), 1).status == PutMessageStatus::kServiceNotAvailable);
  req.disk_used_ratio = 0.5;
  s.delete_expired_files(req);
  CHECK(s.put_message(make_msg("D", 0, "x"), 1).ok());
}

TEST_CASE("a failed fsync is not retried: the store stops taking writes and says why") {
  FaultInjectingFileSystem fs;
  MessageStore s(small_config("/s"), fs, quiet_log());
  REQUIRE(s.open().ok());
  REQUIRE(s.put_message(make_msg("F", 0, "x"), 1).ok());
  fs.fail_syncs_after(0);
  auto f = s.flush();
  CHECK_FALSE(f.ok());
  CHECK_FALSE(s.is_writable());
  CHECK(s.writability_reason().find("fsync") != std::string::npos);
  auto p = s.put_message(make_msg("F", 0, "y"), 1);
  CHECK(p.status == PutMessageStatus::kServiceNotAvailable);
  fs.clear_faults();
  CHECK(s.put_message(make_msg("F", 0, "y"), 1).status == PutMessageStatus::kServiceNotAvailable);
  // Reads still work.
  CHECK(s.get_message("F", 0, 0, 1, 1 << 20).status == GetMessageStatus::kFound);
}

TEST_CASE("a failed write stops writes; nothing half-written becomes visible") {
  FaultInjectingFileSystem fs;
  MessageStore s(small_config("/s"), fs, quiet_log());
  REQUIRE(s.open().ok());
  REQUIRE(s.put_message(make_msg("F", 0, "x"), 1).ok());
  int64_t max = s.max_phy_offset();
  fs.fail_writes_after(0);
  auto p = s.put_message(make_msg("F", 0, "y"), 1);
  CHECK(p.status == PutMessageStatus::kUnknownError);
  CHECK(s.max_phy_offset() == max);
  CHECK(s.max_offset_in_queue("F", 0) == 1);
  CHECK_FALSE(s.is_writable());
}

TEST_CASE("expiry by age at deleteWhen; ConsumeQueue min offsets follow") {
  ManualClock clock(1'000'000);
  FaultInjectingFileSystem fs(&clock);
  MessageStore s(small_config("/s", 1024, 4), fs, quiet_log());
  REQUIRE(s.open().ok());
  for (int i = 0; i < 30; ++i) REQUIRE(s.put_message(make_msg("E", 0, body_for(i)), clock.now_ms()).ok());
  REQUIRE(s.flush().ok());
  clock.advance_ms(73LL * 3600 * 1000);
  REQUIRE(s.put_message(make_msg("E", 0, "fresh"), clock.now_ms()).ok());
  REQUIRE(s.flush().ok());
  ExpiryRequest req;
  req.now_ms = clock.now_ms();
  req.disk_used_ratio = 0.1;
  CHECK(s.delete_expired_files(req) == 0);  // not the hour, no disk pressure
  CHECK(s.is_delete_hour(4));
  CHECK_FALSE(s.is_delete_hour(5));
  req.is_delete_time = true;
  int deleted = s.delete_expired_files(req);
  CHECK(deleted >= 1);
  // The last file (with "fresh") is never deleted.
  int64_t min_q = s.min_offset_in_queue("E", 0);
  CHECK(min_q > 0);
  auto g = s.get_message("E", 0, min_q, 64, 1 << 20);
  REQUIRE(g.status == GetMessageStatus::kFound);
  CHECK(decode_records(g.buffer)->back().body == "fresh");
  CHECK(s.earliest_message_time() >= 1'000'000);
}

TEST_CASE("above diskSpaceCleanForciblyRatio young files go, unless cleanFileForciblyEnable is false") {
  for (bool forcible : {true, false}) {
    CAPTURE(forcible);
    ManualClock clock(1'000'000);
    FaultInjectingFileSystem fs(&clock);
    auto config = small_config("/s", 1024, 4);
    config.clean_file_forcibly_enable = forcible;
    MessageStore s(config, fs, quiet_log());
    REQUIRE(s.open().ok());
    for (int i = 0; i < 30; ++i) REQUIRE(s.put_message(make_msg("F", 0, body_for(i)), clock.now_ms()).ok());
    REQUIRE(s.flush().ok());
    ExpiryRequest req;
    req.now_ms = clock.now_ms();  // nothing is older than fileReservedTime
    req.disk_used_ratio = 0.97;
    const int deleted = s.delete_expired_files(req);
    if (forcible) {
      CHECK(deleted >= 1);
      CHECK(s.min_offset_in_queue("F", 0) > 0);
    } else {
      CHECK(deleted == 0);
      CHECK(s.min_offset_in_queue("F", 0) == 0);
    }
  }
}

TEST_CASE("GroupCommit: one flush completes every waiter it covers; timeouts") {
  GroupCommit gc;
  gc.add(1, 100, 5000);
  gc.add(2, 200, 5001);
  gc.add(3, 300, 5002);
  CHECK(gc.wanted_offset() == 300);
  CHECK(gc.complete_up_to(150) == std::vector<uint64_t>{1});
  CHECK(gc.complete_up_to(300) == std::vector<uint64_t>{2, 3});
  CHECK(gc.empty());
  gc.add(4, 400, 100);
  gc.add(5, 500, 200);
  CHECK(gc.expire(150) == std::vector<uint64_t>{4});
  CHECK(gc.take_all() == std::vector<uint64_t>{5});
}

TEST_CASE("dispatchers see every record at put and again at recovery") {
  struct Counter : CommitLogDispatcher {
    std::map<int64_t, int64_t> seen;  // commit log offset -> tags code
    void dispatch(const MessageRecord& r, int64_t tags) override { seen[r.physical_offset] = tags; }
  };
  FaultInjectingFileSystem fs;
  Counter c1;
  {
    MessageStore s(small_config("/s"), fs, quiet_log());
    s.add_dispatcher(&c1);
    REQUIRE(s.open().ok());
    for (int i = 0; i < 10; ++i) REQUIRE(s.put_message(make_msg("X", 0, body_for(i), "TagA"), 1).ok());
    auto half = make_msg("X", 0, "prepared");
    half.sys_flag = sysflag::kTransactionPreparedType;
    REQUIRE(s.put_message(half, 1).ok());
  }  // crash: abort stays
  CHECK(c1.seen.size() == 11);
  Counter c2;
  MessageStore s(small_config("/s"), fs, quiet_log());
  s.add_dispatcher(&c2);
  REQUIRE(s.open().ok());
  CHECK(c2.seen == c1.seen);
}

TEST_CASE("mmap and pwrite appends write identical files") {
  test::TempDir dir;
  PosixFileSystem fs;
  for (bool mmap : {true, false}) {
    auto cfg = small_config(dir.path() + (mmap ? "/m" : "/p"), 32768, 10);
    cfg.append_by_mmap = mmap;
    MessageStore s(cfg, fs, quiet_log());
    REQUIRE(s.open().ok());
    // Records above kMmapAppendMaxBytes take the pwrite path even on a mapped segment.
    for (int i = 0; i < 80; ++i)
      REQUIRE(s.put_message(make_msg("I", i % 2, i % 10 == 3 ? std::string(9000, 'L') : body_for(i), "t"), 100 + i).ok());
    REQUIRE(s.precreate_next_file().ok());
    for (int i = 80; i < 120; ++i) REQUIRE(s.put_message(make_msg("I", i % 2, body_for(i), "t"), 100 + i).ok());
    REQUIRE(s.shutdown().ok());
  }
  auto names = fs.list(dir.path() + "/m/commitlog").value();
  CHECK(names.size() >= 3);
  for (const auto& n : names) {
    auto a = read_whole_file(fs, dir.path() + "/m/commitlog/" + n);
    auto b = read_whole_file(fs, dir.path() + "/p/commitlog/" + n);
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    CHECK(*a == *b);
  }
  for (const char* q : {"0", "1"}) {
    auto cq = fs.list(dir.path() + "/m/consumequeue/I/" + q).value();
    for (const auto& n : cq)
      CHECK(read_whole_file(fs, dir.path() + "/m/consumequeue/I/" + q + "/" + n).value() ==
            read_whole_file(fs, dir.path() + "/p/consumequeue/I/" + q + "/" + n).value());
  }
}

TEST_CASE("byte limit counts only matching messages; a unit that does not fit starts the next pull") {
  FaultInjectingFileSystem fs;
  MessageStore s(small_config("/s", 1 << 16, 100), fs, quiet_log());
  REQUIRE(s.open().ok());
  for (int i = 0; i < 12; ++i) {
    bool big = i % 2 == 1;
    REQUIRE(s.put_message(make_msg("L", 0, std::string(big ? 3000 : 10, 'a'), big ? "Big" : "Small"), 1).ok());
  }
  int64_t small_code = java_string_hash("Small");
  auto only_small = [&](int64_t c) { return c == small_code; };
  // Big records are skipped by the filter and do not count against 1000 bytes.
  auto g = s.get_message("L", 0, 0, 32, 1000, only_small);
  REQUIRE(g.status == GetMessageStatus::kFound);
  CHECK(g.messages.size() == 6);
  CHECK(g.next_begin_offset == 12);
  // Without the filter: the first record always goes, the second (3000 B) does not fit.
  auto h = s.get_message("L", 0, 0, 32, 1000);
  REQUIRE(h.messages.size() == 1);
  CHECK(h.next_begin_offset == 1);
  auto k = s.get_message("L", 0, 1, 32, 1000);
  REQUIRE(k.messages.size() == 1);
  CHECK(k.messages[0].size > 3000);
  CHECK(k.next_begin_offset == 2);
}

TEST_CASE("worker calls (flush, precreate, expiry) run concurrently with appends and reads") {
  test::TempDir dir;
  PosixFileSystem fs;
  auto cfg = small_config(dir.path(), 8192, 64);
  MessageStore s(cfg, fs, quiet_log());
  REQUIRE(s.open().ok());
  std::atomic<bool> stop{false};
  std::atomic<int64_t> flushes{0}, expired{0};
  std::thread worker([&] {
    int n = 0;
    while (!stop.load()) {
      auto f = s.flush();
      if (!f.ok()) {  // REQUIRE would throw on this thread and terminate the run
        FAIL_CHECK("flush: " << f.error().detail);
        break;
      }
      ++flushes;
      if (s.needs_precreate()) (void)s.precreate_next_file();
      if (++n % 4 == 0) {
        ExpiryRequest req;
        req.disk_used_ratio = 0.86;  // forcible: delete whatever is flushed, except the last file
        expired += s.delete_expired_files(req);
      }
    }
  });
  // A failed REQUIRE below unwinds through here: stop and join the worker first, or the joinable
  // std::thread's destructor terminates the whole test binary.
  struct JoinOnExit {
    std::atomic<bool>& stop;
    std::thread& t;
    ~JoinOnExit() {
      stop = true;
      if (t.joinable()) t.join();
    }
  } join_on_exit{stop, worker};
  int64_t puts = 0, reads_found = 0;
  // Until the worker has expired files a few times; a slow disk only makes this take longer
  // (bounded by 30 s, then the expiry check below fails). Past the first 6000 puts the writer waits
  // for a worker round before each group of four: otherwise, when fsync is slow (a loaded CI host),
  // the writer rolls commit log files far faster than the worker flushes and expires them, and the
  // open files exceed a 1024-descriptor limit.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (int i = 0; i < 6000 || i % 4 != 0 || (expired.load() < 3 && std::chrono::steady_clock::now() < deadline);
       ++i) {
    if (i >= 6000 && i % 4 == 0) {
      int64_t seen = flushes.load();
      while (flushes.load() == seen && !stop.load() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::yield();
    }
    auto r = s.put_message(make_msg("Z", i % 4, body_for(i), "t", std::to_string(i)), 1000 + i);
    REQUIRE_MESSAGE(r.ok(), put_message_status_name(r.status) << ": " << r.detail << " / " << s.writability_reason());
    ++puts;
    if (i % 16 == 0) {
      int32_t q = i % 4;
      int64_t from = s.min_offset_in_queue("Z", q);
      auto g = s.get_message("Z", q, from, 8, 1 << 20);
      // Expiry racing with the read gives RocketMQ's "being removed" statuses, never garbage.
      bool ok_status = g.status == GetMessageStatus::kFound || g.status == GetMessageStatus::kMessageWasRemoving ||
                       g.status == GetMessageStatus::kOffsetTooSmall || g.status == GetMessageStatus::kOffsetFoundNull ||
                       // every record of this queue expired (right after a roll-over): nothing to read
                       (g.status == GetMessageStatus::kOffsetOverflowOne && g.min_offset == g.max_offset);
      CHECK_MESSAGE(ok_status, std::string(get_message_status_name(g.status)));
      if (g.status == GetMessageStatus::kFound) {
        ++reads_found;
        auto recs = decode_records(g.buffer);
        REQUIRE(recs.ok());
        for (const auto& m : *recs) {
          int seq = std::stoi(std::string(*find_property(m.properties, "UNIQ_KEY")));
          if (m.body != body_for(seq)) FAIL_CHECK("record " << seq << " differs");
        }
      }
    }
  }
  stop = true;
  worker.join();
  CHECK(flushes.load() > 0);
  CHECK(expired.load() >= 1);
  CHECK(reads_found > 0);
  MESSAGE("concurrent run: " << puts << " puts, " << flushes.load() << " flushes, " << expired.load()
                             << " files expired");
  // Whatever expiry left is intact and dense from each queue's min offset.
  for (int32_t q = 0; q < 4; ++q) {
    int64_t off = s.min_offset_in_queue("Z", q);
    CHECK(s.max_offset_in_queue("Z", q) == puts / 4);
    int64_t expect = off;
    while (true) {
      auto g = s.get_message("Z", q, off, 64, 1 << 20);
      if (g.status != GetMessageStatus::kFound) break;
      auto recs = decode_records(g.buffer);
      REQUIRE(recs.ok());
      for (const auto& m : *recs) CHECK(m.queue_offset == expect++);
      off = g.next_begin_offset;
    }
    CHECK(expect == puts / 4);
  }
  REQUIRE(s.shutdown().ok());
}

namespace {
// The Raft log's data files as the store sees them in DLedger mode: bytes at global offsets.
class FakeRaftLog final : public CommitLogReader {
 public:
  IoResult<std::string> read(int64_t offset, size_t n) const override {
    if (offset < 0 || offset + static_cast<int64_t>(n) > static_cast<int64_t>(bytes.size()))
      return make_error(IoError::kNotFound, "past the log");
    return bytes.substr(static_cast<size_t>(offset), n);
  }
  int64_t min_offset() const override { return 0; }
  // Appends a record as an entry would (48-byte header of filler first); returns its offset.
  int64_t commit(std::string record) {
    bytes.append(48, '\0');
    const int64_t offset = static_cast<int64_t>(bytes.size());
    put_be64(reinterpret_cast<uint8_t*>(record.data()) + 28, static_cast<uint64_t>(offset));
    bytes += record;
    return offset;
  }
  std::string bytes;
};
}  // namespace

TEST_CASE("DLedger mode: queue offsets handed out at encode, units only for committed records, restart resumes") {
  test::TempDir dir;
  PosixFileSystem fs;
  FakeRaftLog log;
  auto cfg = small_config(dir.path(), 1 << 20);
  std::vector<std::string> records;
  {
    MessageStore s(cfg, fs, quiet_log(), &log);
    REQUIRE(s.open().ok());
    CHECK(s.external_commit_log());
    CHECK_FALSE(fs.exists(dir.path() + "/commitlog"));
    // Puts are refused: messages go through the Raft log.
    CHECK(s.put_message(make_msg("T", 0, "direct"), 1000).status == PutMessageStatus::kServiceNotAvailable);
    auto a = s.encode_message(make_msg("T", 0, "first", "TagA"), 1000, records);
    auto b = s.encode_message(make_msg("T", 0, "second"), 1001, records);
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    CHECK(a.logics_offset == 0);
    CHECK(b.logics_offset == 1);
    REQUIRE(records.size() == 2);
    // Nothing is readable before it commits.
    CHECK(s.get_message("T", 0, 0, 8, 1 << 20).status != GetMessageStatus::kFound);
    const int64_t first = log.commit(records[0]);
    auto d = s.dispatch_committed(first, log.bytes.substr(static_cast<size_t>(first)));
    REQUIRE_MESSAGE(d.ok(), d.detail());
    CHECK(d->queue_offset == 0);
    CHECK(d->topic == "T");
    CHECK(s.max_phy_offset() == first + static_cast<int64_t>(records[0].size()));
    auto got = s.get_message("T", 0, 0, 8, 1 << 20);
    REQUIRE(got.status == GetMessageStatus::kFound);
    REQUIRE(got.messages.size() == 1);
    CHECK(got.messages[0].commit_log_offset == first);
    CHECK(got.buffer == log.bytes.substr(static_cast<size_t>(first)));
    // The second record never committed (a new leader overwrote it): offsets restart from the queue.
    s.reset_queue_offsets();
    std::vector<std::string> again;
    auto c = s.encode_message(make_msg("T", 0, "third"), 1002, again);
    REQUIRE(c.ok());
    CHECK(c.logics_offset == 1);
    // A record whose physical offset field disagrees with where it sits is corrupt: the store stops.
    std::string wrong = again[0];
    put_be64(reinterpret_cast<uint8_t*>(wrong.data()) + 28, 12345);
    log.bytes.append(48, '\0');
    const int64_t at = static_cast<int64_t>(log.bytes.size());
    log.bytes += wrong;
    auto bad = s.dispatch_committed(at, wrong);
    CHECK_FALSE(bad.ok());
    CHECK_FALSE(s.is_writable());
    REQUIRE(s.shutdown().ok());
  }
  {
    // A restart resumes after the newest record the queues reference; replaying it changes nothing.
    MessageStore s(cfg, fs, quiet_log(), &log);
    auto opened = s.open();
    REQUIRE(opened.ok());
    CHECK(s.dispatched_offset() == 48 + static_cast<int64_t>(records[0].size()));
    auto replay = s.dispatch_committed(48, log.bytes.substr(48, records[0].size()));
    REQUIRE(replay.ok());
    CHECK(s.max_offset_in_queue("T", 0) == 1);
    std::vector<std::string> next;
    auto e = s.encode_message(make_msg("T", 0, "after restart"), 2000, next);
    REQUIRE(e.ok());
    CHECK(e.logics_offset == 1);
    CHECK(s.earliest_message_time() == 1000);
    REQUIRE(s.shutdown().ok());
  }
}
