// Slave side of master-slave replication in the store: a master's raw CommitLog bytes appended to a
// slave with MessageStore::append_replicated in chunks of seeded random sizes (crossing records and
// segment ends) give the same CommitLog, byte-identical ConsumeQueue files and the same reads; bad
// starts are refused; a slave can start at the master's last segment; a slave cut off mid-record
// (kill -9 or clean shutdown) recovers to the last complete record and resumes; the Java 4.9.4
// fixture store replicated here rebuilds the Java broker's ConsumeQueue files byte for byte.
#include <doctest/doctest.h>

#include <filesystem>
#include <map>
#include <set>

#include "store/fault_fs.h"
#include "store/message_store.h"
#include "tests/store/test_util.h"

using namespace mq;
using namespace mq::store;
namespace stdfs = std::filesystem;

namespace {

constexpr int64_t kSegment = 64 * 1024;

Logger quiet_log() { return Logger(std::make_shared<LogSink>(stderr, LogLevel::kError), "[replication-test]"); }

MessageStoreConfig config(const std::string& root, int64_t cl_size = kSegment, int64_t cq_units = 16) {
  MessageStoreConfig c;
  c.store_path_root_dir = root;
  c.mapped_file_size_commit_log = cl_size;
  c.mapped_file_size_consume_queue = cq_units * kCqUnitSize;
  return c;
}

struct Seen : CommitLogDispatcher {
  std::map<int64_t, int64_t> tags_by_offset;
  void dispatch(const MessageRecord& r, int64_t tags) override { tags_by_offset[r.physical_offset] = tags; }
};

// Several topics and queues, bodies of 1 byte to 20 KiB, tags, a SCHEDULE_TOPIC_XXXX with delay
// levels (tag code = delivery time), prepared transactions (no ConsumeQueue unit), batches, an IPv6
// born host, and one record without properties (index 7). Enough for five or six 64 KiB segments.
void fill_master(MessageStore& m, uint64_t seed, int count = 160) {
  Random rng(seed);
  for (int i = 0; i < count; ++i) {
    int64_t now = 1700000000000 + i;
    int kind = i == 7 ? 0 : static_cast<int>(rng.uniform(0, 9));
    size_t body_len = rng.chance(1, 12) ? static_cast<size_t>(rng.uniform(8000, 20000))
                                        : static_cast<size_t>(rng.uniform(1, 3000));
    std::string body(body_len, static_cast<char>('a' + i % 26));
    PropertyList props{{"UNIQ_KEY", "K" + std::to_string(i)}};
    if (rng.chance(1, 2)) props.emplace_back("TAGS", "Tag" + std::to_string(rng.uniform(0, 4)));
    if (kind == 9) {
      BatchToStore b;
      b.topic = "RepBatch";
      b.queue_id = static_cast<int32_t>(rng.uniform(0, 1));
      b.born_host = HostAddress::v4(10, 0, 0, 2, 40000);
      b.store_host = HostAddress::v4(127, 0, 0, 1, 10911);
      std::vector<BatchItem> items;
      std::vector<std::string> item_props;
      int n = static_cast<int>(rng.uniform(2, 5));
      for (int k = 0; k < n; ++k) item_props.push_back(encode_properties({{"UNIQ_KEY", "B" + std::to_string(i * 10 + k)}}));
      for (int k = 0; k < n; ++k) items.push_back(BatchItem{0, std::string_view(body).substr(0, 200 + k), item_props[k]});
      b.body = encode_batch(items);
      b.properties = encode_properties({{"WAIT", "true"}});
      REQUIRE(m.put_messages(b, now).ok());
      continue;
    }
    MessageToStore msg;
    msg.topic = kind < 4 ? "RepA" : kind < 7 ? "RepB" : "SCHEDULE_TOPIC_XXXX";
    msg.queue_id = static_cast<int32_t>(rng.uniform(0, kind < 4 ? 3 : 2));
    if (kind >= 7) props.emplace_back("DELAY", std::to_string(msg.queue_id + 1));
    if (kind == 6) msg.sys_flag = sysflag::kTransactionPreparedType;
    msg.body = body;
    msg.born_timestamp = now - 5;
    msg.born_host = rng.chance(1, 10) ? HostAddress{{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, true, 5555}
                                      : HostAddress::v4(10, 0, 0, 1, 50000);
    msg.store_host = HostAddress::v4(127, 0, 0, 1, 10911);
    msg.properties = i == 7 ? std::string() : encode_properties(props);
    auto r = m.put_message(msg, now);
    REQUIRE_MESSAGE(r.ok(), r.detail);
  }
}

// The master's CommitLog bytes from `from` to its end, as HA transfer reads them.
std::string master_bytes(MessageStore& m, int64_t from) {
  std::string out;
  int64_t off = from;
  while (off < m.max_phy_offset()) {
    auto r = m.read_commit_log(off, 1 << 20);
    REQUIRE(r.ok());
    REQUIRE_FALSE(r->empty());
    out += *r;
    off += static_cast<int64_t>(r->size());
  }
  return out;
}

// Appends bytes (which start at commit log offset `from`) in chunks of 1 byte .. 40 KiB, with the
// broker's pre-creation after each one.
void replicate(MessageStore& s, int64_t from, std::string_view bytes, Random& rng) {
  size_t done = 0;
  while (done < bytes.size()) {
    size_t n = rng.chance(1, 4) ? static_cast<size_t>(rng.uniform(1, 64)) : static_cast<size_t>(rng.uniform(1, 40 * 1024));
    n = std::min(n, bytes.size() - done);
    int64_t at = from + static_cast<int64_t>(done);
    auto r = s.append_replicated(at, bytes.substr(done, n), 0);
    REQUIRE_MESSAGE(r.ok(), r.detail());
    done += n;
    REQUIRE(s.max_phy_offset() == at + static_cast<int64_t>(n));
    if (s.needs_precreate()) REQUIRE(s.precreate_next_file().ok());
  }
}

struct Read {
  int64_t queue_offset;
  int64_t commit_log_offset;
  int64_t tags_code;
  std::string bytes;
  bool operator==(const Read&) const = default;
};

std::vector<Read> read_queue(MessageStore& s, const std::string& topic, int32_t qid) {
  std::vector<Read> out;
  int64_t off = s.min_offset_in_queue(topic, qid);
  while (true) {
    auto g = s.get_message(topic, qid, off, 16, 1 << 20);
    if (g.status != GetMessageStatus::kFound) {
      CHECK(g.status == GetMessageStatus::kOffsetOverflowOne);
      break;
    }
    for (const auto& m : g.messages)
      out.push_back(Read{m.queue_offset, m.commit_log_offset, m.tags_code, g.buffer.substr(m.buffer_position, static_cast<size_t>(m.size))});
    off = g.next_begin_offset;
  }
  return out;
}

// Relative paths of every file under dir.
std::set<std::string> files_under(const std::string& dir) {
  std::set<std::string> out;
  if (!stdfs::exists(dir)) return out;
  for (auto& e : stdfs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out.insert(stdfs::relative(e.path(), dir).string());
  return out;
}

// Every ConsumeQueue file under want_root (byte for byte) and no other in got_root.
void check_consume_queue_files(const std::string& want_root, const std::string& got_root) {
  auto want = files_under(want_root + "/consumequeue");
  auto got = files_under(got_root + "/consumequeue");
  CHECK(want == got);
  CHECK_FALSE(want.empty());
  for (const auto& f : want) {
    CAPTURE(f);
    CHECK(test::read_file(want_root + "/consumequeue/" + f) == test::read_file(got_root + "/consumequeue/" + f));
  }
}

// Master and slave hold the same log and answer every read alike.
void check_same(MessageStore& master, const std::string& master_root, MessageStore& slave,
                const std::string& slave_root) {
  CHECK(slave.max_phy_offset() == master.max_phy_offset());
  CHECK(slave.min_phy_offset() == master.min_phy_offset());
  CHECK(slave.dispatched_offset() == slave.max_phy_offset());
  CHECK(slave.queues() == master.queues());
  for (auto& [topic, qid] : master.queues()) {
    CAPTURE(topic);
    CAPTURE(qid);
    CHECK(slave.min_offset_in_queue(topic, qid) == master.min_offset_in_queue(topic, qid));
    CHECK(slave.max_offset_in_queue(topic, qid) == master.max_offset_in_queue(topic, qid));
    CHECK(read_queue(slave, topic, qid) == read_queue(master, topic, qid));
  }
  check_consume_queue_files(master_root, slave_root);
  // The slave's segments are the master's, zero tails included (a pre-created one has no data yet).
  for (const auto& f : files_under(slave_root + "/commitlog")) {
    if (std::stoll(f) >= slave.max_phy_offset()) continue;
    CAPTURE(f);
    CHECK(test::read_file(slave_root + "/commitlog/" + f) == test::read_file(master_root + "/commitlog/" + f));
  }
}

// One entry of the master's log: a record or the BLANK ending a segment.
struct Entry {
  int64_t start;
  int64_t end;  // a BLANK ends at its segment's end
  bool blank;
  bool has_properties;
};

std::vector<Entry> entries_of(std::string_view log, int64_t segment) {
  std::vector<Entry> out;
  int64_t off = 0;
  while (off < static_cast<int64_t>(log.size())) {
    auto e = decode_entry(log.substr(static_cast<size_t>(off)), DecodeOptions{false});
    REQUIRE(e.ok());
    if (e->blank) {
      out.push_back(Entry{off, (off / segment + 1) * segment, true, false});
    } else {
      out.push_back(Entry{off, off + e->size, false, !e->message.properties.empty()});
    }
    off = out.back().end;
  }
  return out;
}

}  // namespace

TEST_CASE("replicated appends in random chunks rebuild the master's log, ConsumeQueues and reads") {
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    CAPTURE(seed);  // printed on failure: the generator seed for the master and the chunk sizes
    test::TempDir dir;
    PosixFileSystem fs;
    std::string mroot = dir.path() + "/master", sroot = dir.path() + "/slave";
    Seen master_seen, slave_seen;
    MessageStore master(config(mroot), fs, quiet_log());
    master.add_dispatcher(&master_seen);
    REQUIRE(master.open().ok());
    fill_master(master, seed);
    REQUIRE(master.max_phy_offset() > 4 * kSegment);
    MessageStoreConfig sc = config(sroot);
    sc.append_by_mmap = seed % 2 == 0;  // both append paths
    MessageStore slave(sc, fs, quiet_log());
    slave.add_dispatcher(&slave_seen);
    REQUIRE(slave.open().ok());
    Random rng(seed * 7919);
    replicate(slave, 0, master_bytes(master, 0), rng);
    check_same(master, mroot, slave, sroot);
    CHECK(slave_seen.tags_by_offset == master_seen.tags_by_offset);
    CHECK(slave.precreate_misses() == 1);  // only the first segment was not pre-created
    REQUIRE(slave.flush().ok());
    REQUIRE(slave.shutdown().ok());
    REQUIRE(master.shutdown().ok());
  }
}

TEST_CASE("a start that is not the end of the slave's log, or not a segment start, is refused") {
  test::TempDir dir;
  PosixFileSystem fs;
  MessageStore master(config(dir.path() + "/master"), fs, quiet_log());
  REQUIRE(master.open().ok());
  fill_master(master, 3, 40);
  std::string log = master_bytes(master, 0);
  std::string sroot = dir.path() + "/slave";
  MessageStore slave(config(sroot), fs, quiet_log());
  CHECK_FALSE(slave.append_replicated(0, log, 0).ok());  // not open yet
  REQUIRE(slave.open().ok());

  // Empty slave: only a segment start.
  for (int64_t bad : {int64_t{100}, kSegment + 1, -kSegment}) {
    CAPTURE(bad);
    auto r = slave.append_replicated(bad, std::string_view(log).substr(0, 500), 0);
    REQUIRE_FALSE(r.ok());
    CHECK(r.code() == IoError::kCorrupt);
    CHECK(r.detail().find(std::to_string(bad)) != std::string::npos);
  }
  CHECK(files_under(sroot + "/commitlog").empty());
  CHECK(slave.max_phy_offset() == 0);
  CHECK(slave.is_writable());

  // Then only the end of its log.
  REQUIRE(slave.append_replicated(0, std::string_view(log).substr(0, 1000), 0).ok());
  for (int64_t bad : {int64_t{0}, int64_t{999}, int64_t{1001}, kSegment}) {
    CAPTURE(bad);
    auto r = slave.append_replicated(bad, std::string_view(log).substr(0, 10), 0);
    REQUIRE_FALSE(r.ok());
    CHECK(r.detail().find(std::to_string(bad)) != std::string::npos);
    CHECK(r.detail().find("1000") != std::string::npos);
  }
  CHECK(slave.max_phy_offset() == 1000);
  CHECK(test::read_file(sroot + "/commitlog/" + offset_to_file_name(0)).substr(1000, 100) == std::string(100, '\0'));
  CHECK(slave.is_writable());

  // A full disk refuses like puts do, and stops refusing when it drops.
  ExpiryRequest full;
  full.disk_used_ratio = 0.95;
  slave.delete_expired_files(full);
  auto r = slave.append_replicated(1000, std::string_view(log).substr(1000, 10), 0);
  REQUIRE_FALSE(r.ok());
  CHECK(r.code() == IoError::kNoSpace);
  full.disk_used_ratio = 0.1;
  slave.delete_expired_files(full);
  REQUIRE(slave.append_replicated(1000, std::string_view(log).substr(1000), 0).ok());
  CHECK(slave.max_phy_offset() == master.max_phy_offset());
}

TEST_CASE("bytes that cannot be a record, or a failed write, stop the slave and say where") {
  FaultInjectingFileSystem fs;
  {
    MessageStore master(config("/m"), fs, quiet_log());
    REQUIRE(master.open().ok());
    fill_master(master, 5, 10);
    std::string log = master_bytes(master, 0);
    auto entries = entries_of(log, kSegment);
    int64_t boundary = entries[3].start;

    MessageStore slave(config("/s"), fs, quiet_log());
    REQUIRE(slave.open().ok());
    REQUIRE(slave.append_replicated(0, std::string_view(log).substr(0, static_cast<size_t>(boundary)), 0).ok());
    std::string garbage = std::string("\x00\x00\x01\x00\x12\x34\x56\x78", 8) + std::string(300, 'z');
    auto r = slave.append_replicated(boundary, garbage, 0);
    REQUIRE_FALSE(r.ok());
    CHECK(r.code() == IoError::kCorrupt);
    CHECK(r.detail().find("offset " + std::to_string(boundary)) != std::string::npos);
    CHECK_FALSE(slave.is_writable());
    CHECK(slave.writability_reason().find("bad magic") != std::string::npos);
    CHECK(slave.dispatched_offset() == boundary);
    CHECK_FALSE(slave.append_replicated(slave.max_phy_offset(), "x", 0).ok());

    // An impossible size (a record that could not fit its segment) too.
    MessageStore slave2(config("/s2"), fs, quiet_log());
    REQUIRE(slave2.open().ok());
    std::string huge = log.substr(0, 8);
    huge[0] = 0x7f;
    REQUIRE_FALSE(slave2.append_replicated(0, huge, 0).ok());
    CHECK(slave2.writability_reason().find("impossible size") != std::string::npos);

    // A failed write: nothing of it becomes visible.
    MessageStore slave3(config("/s3"), fs, quiet_log());
    REQUIRE(slave3.open().ok());
    REQUIRE(slave3.append_replicated(0, std::string_view(log).substr(0, 100), 0).ok());
    fs.fail_writes_after(0);
    auto w = slave3.append_replicated(100, std::string_view(log).substr(100, 100), 0);
    fs.clear_faults();
    REQUIRE_FALSE(w.ok());
    CHECK(slave3.max_phy_offset() == 100);
    CHECK_FALSE(slave3.is_writable());
  }
}

TEST_CASE("an empty slave starts at the master's last segment after the first ones expired") {
  test::TempDir dir;
  PosixFileSystem fs;
  std::string mroot = dir.path() + "/master", sroot = dir.path() + "/slave";
  MessageStore master(config(mroot), fs, quiet_log());
  REQUIRE(master.open().ok());
  fill_master(master, 11);
  // Enough records in the last segment for the slave to serve several queues.
  for (uint64_t more = 100; master.max_phy_offset() % kSegment < 30000; ++more) fill_master(master, more, 3);
  REQUIRE(master.flush().ok());
  ExpiryRequest req;
  req.now_ms = 4'000'000'000'000;  // everything is old by then
  req.manual = true;
  req.disk_used_ratio = 0.1;
  REQUIRE(master.delete_expired_files(req) > 0);
  REQUIRE(master.min_phy_offset() > 0);
  // What the HA master does for a slave whose log is empty.
  const int64_t start = master.max_phy_offset() - master.max_phy_offset() % kSegment;
  REQUIRE(start > 0);

  // The records of each master queue that the slave holds: those from `start` on.
  std::map<std::pair<std::string, int32_t>, std::vector<Read>> want;
  auto compute_want = [&] {
    want.clear();
    for (auto& [topic, qid] : master.queues())
      for (auto& r : read_queue(master, topic, qid))
        if (r.commit_log_offset >= start) want[{topic, qid}].push_back(r);
  };
  compute_want();
  REQUIRE(want.size() >= 3);

  auto check_slave = [&](MessageStore& slave) {
    CHECK(slave.min_phy_offset() == start);
    CHECK(slave.max_phy_offset() == master.max_phy_offset());
    CHECK(slave.queues().size() == want.size());
    for (auto& [key, records] : want) {
      CAPTURE(key.first);
      CAPTURE(key.second);
      CHECK(slave.min_offset_in_queue(key.first, key.second) == records.front().queue_offset);
      CHECK(slave.max_offset_in_queue(key.first, key.second) == master.max_offset_in_queue(key.first, key.second));
      CHECK(read_queue(slave, key.first, key.second) == records);
    }
  };
  {
    MessageStore slave(config(sroot), fs, quiet_log());
    REQUIRE(slave.open().ok());
    Random rng(42);
    replicate(slave, start, master_bytes(master, start), rng);
    CHECK(test::read_file(sroot + "/commitlog/" + offset_to_file_name(start)) ==
          test::read_file(mroot + "/commitlog/" + offset_to_file_name(start)));
    check_slave(slave);
    REQUIRE(slave.shutdown().ok());
  }
  {
    MessageStore slave(config(sroot), fs, quiet_log());
    REQUIRE(slave.open().ok());
    check_slave(slave);
    // New master data continues the slave's log.
    fill_master(master, 12, 20);
    compute_want();
    Random rng(43);
    int64_t end = slave.max_phy_offset();
    replicate(slave, end, master_bytes(master, end), rng);
    check_slave(slave);
  }  // without shutdown: abnormal recovery of a slave whose log starts mid-way
  MessageStore slave(config(sroot), fs, quiet_log());
  auto rep = slave.open();
  REQUIRE(rep.ok());
  CHECK(rep->abnormal);
  check_slave(slave);
}

TEST_CASE("a slave cut off mid-record (kill -9 or clean shutdown) resumes from its last complete record") {
  test::TempDir dir;
  PosixFileSystem fs;
  std::string mroot = dir.path() + "/master";
  MessageStore master(config(mroot), fs, quiet_log());
  REQUIRE(master.open().ok());
  fill_master(master, 21);
  const std::string log = master_bytes(master, 0);
  const auto entries = entries_of(log, kSegment);

  // Cut points, each with where recovery must end the slave's log.
  std::vector<std::pair<int64_t, int64_t>> cuts;
  int blanks = 0, with_properties = 0, without_properties = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    if (e.blank) {
      if (blanks++ < 2) {
        cuts.emplace_back(e.start + 3, e.start);  // inside the BLANK itself
        if (e.end - e.start > 8)  // in the zeros after it: the segment is complete
          cuts.emplace_back(e.start + 8 + (e.end - e.start - 8) / 2, e.end);
      }
      continue;
    }
    if (!e.has_properties) {
      ++without_properties;
      // A cut inside the topic's last byte looks complete but for that zero byte.
      cuts.emplace_back(e.end - 3, e.start);
      // Only PROPERTIESLEN missing: the bytes on disk already equal the master's (a zero length).
      cuts.emplace_back(e.end - 1, e.end);
      continue;
    }
    ++with_properties;
    if (with_properties == 2 || with_properties == 40 || i + 1 == entries.size()) {
      cuts.emplace_back(e.start + 2, e.start);   // inside TOTALSIZE
      cuts.emplace_back(e.start + 40, e.start);  // inside the fixed fields
      cuts.emplace_back(e.start + (e.end - e.start) / 2, e.start);
      cuts.emplace_back(e.end - 1, e.start);     // only the last property byte missing
      cuts.emplace_back(e.end, e.end);           // a record boundary
    }
  }
  CHECK(without_properties == 1);
  REQUIRE(blanks >= 2);

  for (bool clean : {false, true}) {
    for (auto [cut, want_end] : cuts) {
      CAPTURE(clean);
      CAPTURE(cut);
      std::string sroot = dir.path() + "/slave-" + std::to_string(clean) + "-" + std::to_string(cut);
      Random rng(static_cast<uint64_t>(cut));
      {
        MessageStore slave(config(sroot), fs, quiet_log());
        REQUIRE(slave.open().ok());
        replicate(slave, 0, std::string_view(log).substr(0, static_cast<size_t>(cut)), rng);
        if (clean) REQUIRE(slave.shutdown().ok());
      }  // without shutdown: as after kill -9 (abort stays, the page cache keeps the bytes)
      MessageStore slave(config(sroot), fs, quiet_log());
      auto rep = slave.open();
      REQUIRE_MESSAGE(rep.ok(), rep.detail());
      CHECK(rep->abnormal == !clean);
      CHECK(slave.max_phy_offset() == want_end);
      CHECK(slave.dispatched_offset() == want_end);
      // The master resends from there.
      int64_t from = slave.max_phy_offset();
      replicate(slave, from, std::string_view(log).substr(static_cast<size_t>(from)), rng);
      check_same(master, mroot, slave, sroot);
    }
  }
}

TEST_CASE("the Java 4.9.4 fixture store replicated into a fresh store gives the Java ConsumeQueue files") {
  const std::string fixture = std::string(MQ_FIXTURES_DIR) + "/java494-store";
  test::TempDir dir;
  PosixFileSystem fs;
  std::string mroot = dir.path() + "/master", sroot = dir.path() + "/slave";
  test::copy_tree(fixture, mroot);
  MessageStoreConfig mc = config(mroot, 65536, 30);  // the fixture broker's file sizes
  MessageStore master(mc, fs, quiet_log());
  REQUIRE(master.open().ok());
  REQUIRE(master.max_phy_offset() == 6 * 65536 + 56626);
  const std::string log = master_bytes(master, 0);
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    CAPTURE(seed);
    std::string root = sroot + std::to_string(seed);
    MessageStore slave(config(root, 65536, 30), fs, quiet_log());
    REQUIRE(slave.open().ok());
    Random rng(seed);
    replicate(slave, 0, log, rng);
    CHECK(slave.max_phy_offset() == master.max_phy_offset());
    check_consume_queue_files(fixture, root);
    for (auto& [topic, qid] : master.queues()) CHECK(read_queue(slave, topic, qid) == read_queue(master, topic, qid));
    REQUIRE(slave.shutdown().ok());
  }
}
