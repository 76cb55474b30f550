// IndexFile / IndexService (store/index_file.h, store/index_service.h): lookups in the index files
// the Java 4.9.4 broker wrote (fixtures java494-store and java494-store-killed), byte equality of the
// files we build from the same CommitLog records, roll-over, time ranges, idempotent re-dispatch
// (also after torn puts and on Java's own files), truncate_dirty, expiry, flush and crashes on the
// fault-injecting file system, and damaged files.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "base/bytes.h"
#include "base/clock.h"
#include "base/hash.h"
#include "store/fault_fs.h"
#include "store/index_service.h"
#include "store/message_store.h"
#include "tests/store/test_util.h"

using namespace mq;
using namespace mq::store;
using json = nlohmann::json;

namespace {

Logger quiet_log() { return Logger(std::make_shared<LogSink>(stderr, LogLevel::kError), "[index-test]"); }

json load_manifest(const std::string& name) {
  std::ifstream in(std::string(MQ_FIXTURES_DIR) + "/" + name);
  REQUIRE(in.good());
  return json::parse(in);
}

// The fixture brokers' maxHashSlotNum and maxIndexNum.
IndexConfig java_index_config(const std::string& root) {
  IndexConfig c;
  c.dir = root + "/index";
  c.max_hash_slot_num = 50;
  c.max_index_num = 200;
  return c;
}

MessageStoreConfig java_store_config(const std::string& root) {
  MessageStoreConfig c;
  c.store_path_root_dir = root;
  c.mapped_file_size_commit_log = 65536;
  c.mapped_file_size_consume_queue = 600;
  return c;
}

// A record as the dispatcher sees it; the MessageRecord views point into this object.
struct TestRecord {
  std::string topic;
  std::string properties;
  int64_t offset = 0;
  int64_t store_ts = 0;
  int32_t sys_flag = 0;
  MessageRecord view() const {
    MessageRecord r;
    r.topic = topic;
    r.properties = properties;
    r.physical_offset = offset;
    r.store_timestamp = store_ts;
    r.sys_flag = sys_flag;
    return r;
  }
};

TestRecord make_record(const std::string& topic, int64_t offset, int64_t store_ts,
                       const std::string& uniq, const std::string& keys = "") {
  PropertyList p;
  p.emplace_back("TAGS", "TagA");
  if (!keys.empty()) p.emplace_back("KEYS", keys);
  if (!uniq.empty()) p.emplace_back("UNIQ_KEY", uniq);
  return TestRecord{topic, encode_properties(p), offset, store_ts, 0};
}

std::string read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Index file names under dir, sorted.
std::vector<std::string> index_names(const std::string& dir) {
  std::vector<std::string> names;
  for (auto& e : std::filesystem::directory_iterator(dir)) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

// Every index file's bytes, in name order (through the FileSystem, so the fault-injecting one too).
std::vector<std::string> all_bytes(FileSystem& fs, const IndexService& idx) {
  std::vector<std::string> out;
  for (auto& f : idx.files()) out.push_back(read_whole_file(fs, f->path()).value());
  return out;
}

std::vector<int64_t> lookup(const IndexService& idx, const std::string& topic, const std::string& key,
                            int max_num = 1000, int64_t begin = 0, int64_t end = INT64_MAX) {
  auto r = idx.query_offset(topic, key, max_num, begin, end);
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.detail()));
  return r->phy_offsets;
}

bool strictly_descending(const std::vector<int64_t>& v) {
  for (size_t i = 1; i < v.size(); ++i)
    if (v[i] >= v[i - 1]) return false;
  return true;
}

// (topic, key) -> commit log offsets, from the clean manifest's stored_records (delayed messages:
// the SCHEDULE_TOPIC_XXXX record and the re-delivered one, each under its own topic).
std::map<std::pair<std::string, std::string>, std::set<int64_t>> expected_clean(const json& man) {
  std::map<std::pair<std::string, std::string>, std::set<int64_t>> want;
  for (const auto& sent : man["sent"]) {
    std::vector<std::string> keys{sent["uniq_key"].get<std::string>()};
    for (const auto& k : sent["keys_list"]) keys.push_back(k.get<std::string>());
    for (const auto& sr : sent["stored_records"])
      for (const auto& k : keys)
        want[{sr["topic"].get<std::string>(), k}].insert(sr["commitLogOffset"].get<int64_t>());
  }
  return want;
}

}  // namespace

TEST_CASE("index key hash: Java's String.hashCode over UTF-16, abs, Integer.MIN_VALUE -> 0") {
  CHECK(java_string_hash("polygenelubricants") == INT32_MIN);
  CHECK(index_key_hash("polygenelubricants") == 0);
  CHECK(index_key_hash("TopicTest#abc") == std::abs(java_string_hash("TopicTest#abc")));
  // "a" = 97; a negative hash is made positive.
  CHECK(index_key_hash("a") == 97);
  int32_t neg = java_string_hash("FixtureTopicA#7F0000013E0A5FFD2B276C7613790000");
  CHECK(index_key_hash("FixtureTopicA#7F0000013E0A5FFD2B276C7613790000") == (neg < 0 ? -neg : neg));
  // UTF-16 code units: U+1F389 is a surrogate pair (0xD83C 0xDF89); U+952E one unit.
  CHECK(java_string_hash("\xF0\x9F\x8E\x89") == 0xD83C * 31 + 0xDF89);
  CHECK(java_string_hash("\xE9\x94\xAE") == 0x952E);
  CHECK(index_file_size(5000000, 20000000) == 420000040);
  CHECK(index_file_size(50, 200) == 4240);
}

TEST_CASE("index file names: local yyyyMMddHHmmssSSS, always after the last one") {
  std::string n = index_file_name_for(1795310877613);
  CHECK(is_index_file_name(n));
  CHECK(n.substr(n.size() - 3) == "613");
  CHECK(next_index_file_name(1795310877613, "") == n);
  // Same millisecond, or a clock that went back: the last name + 1 ms, carrying into the date.
  CHECK(next_index_file_name(1795310877613, n) > n);
  CHECK(next_index_file_name(0, "20261231235959999") == "20270101000000000");
  CHECK(next_index_file_name(0, "20240228235959999") == "20240229000000000");
  CHECK(next_index_file_name(0, "20261122012757613") == "20261122012757614");
  CHECK_FALSE(is_index_file_name("2026112201275761"));
  CHECK_FALSE(is_index_file_name("2026112201275761x"));
}

TEST_CASE("Java 4.9.4 clean store: its index files answer every UNIQ_KEY and KEYS lookup") {
  auto man = load_manifest("java494-store.manifest.json");
  test::TempDir tmp;
  std::string root = tmp.path() + "/store";
  test::copy_tree(std::string(MQ_FIXTURES_DIR) + "/java494-store", root);
  PosixFileSystem fs;
  IndexService idx(java_index_config(root), fs, quiet_log());
  REQUIRE(idx.load().ok());
  auto files = idx.files();
  REQUIRE(files.size() == 4);
  // 199, 199, 199 and 49 entries (README of the fixtures): indexCount is one more.
  CHECK(files[0]->index_count() == 200);
  CHECK(files[1]->index_count() == 200);
  CHECK(files[2]->index_count() == 200);
  CHECK(files[3]->index_count() == 50);
  for (size_t i = 1; i < files.size(); ++i) {
    CHECK(files[i]->begin_phy_offset() >= files[i - 1]->end_phy_offset());
    CHECK(files[i]->begin_timestamp_ms() >= files[i - 1]->end_timestamp_ms());
  }

  auto want = expected_clean(man);
  CHECK(want.size() == 646);  // one index entry per key of every record (no two share a key)
  for (const auto& [tk, offsets] : want) {
    CAPTURE(tk.first);
    CAPTURE(tk.second);
    auto got = lookup(idx, tk.first, tk.second);
    CHECK(strictly_descending(got));
    CHECK(std::set<int64_t>(got.begin(), got.end()) == offsets);
  }
  CHECK(lookup(idx, "FixtureTopicA", "no-such-key").empty());
  // Keys are per topic.
  CHECK(lookup(idx, "FixtureTopicB_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "A-key-1").empty());

  // The last-update values QUERY_MESSAGE reports are the last file's end.
  auto r = idx.query_offset("FixtureTopicA", "A-key-1", 32, 0, INT64_MAX);
  REQUIRE(r.ok());
  CHECK(r->index_last_update_phyoffset == files.back()->end_phy_offset());
  CHECK(r->index_last_update_timestamp == files.back()->end_timestamp_ms());
  CHECK(r->index_last_update_phyoffset < 6 * 65536 + 56626);  // where the last record starts
  REQUIRE(idx.shutdown().ok());
}

TEST_CASE("Java 4.9.4 store after kill -9: its index finds every acknowledged message") {
  auto man = load_manifest("java494-store-killed.manifest.json");
  test::TempDir tmp;
  std::string root = tmp.path() + "/store";
  test::copy_tree(std::string(MQ_FIXTURES_DIR) + "/java494-store-killed", root);
  PosixFileSystem fs;
  IndexService idx(java_index_config(root), fs, quiet_log());
  REQUIRE(idx.load().ok());
  REQUIRE(idx.files().size() == 2);
  CHECK(idx.files()[0]->index_count() - 1 + idx.files()[1]->index_count() - 1 == 341);
  // The store, to check each offset the index returns the way a caller must: read the record.
  MessageStore store(java_store_config(root), fs, quiet_log());
  REQUIRE(store.open().ok());
  int acknowledged = 0;
  for (const auto& sent : man["sent"]) {
    if (sent["outcome"] != "acknowledged") continue;
    ++acknowledged;
    CAPTURE(sent["seq"].get<int>());
    auto id = decode_offset_msg_id(sent["send_result"]["offsetMsgId"].get<std::string>());
    REQUIRE(id.ok());
    // The first record of a delayed message is parked in SCHEDULE_TOPIC_XXXX.
    std::string topic = sent["delay_level"].get<int>() > 0 ? "SCHEDULE_TOPIC_XXXX" : sent["topic"].get<std::string>();
    std::vector<std::string> keys{sent["uniq_key"].get<std::string>()};
    for (const auto& k : sent["keys_list"]) keys.push_back(k.get<std::string>());
    for (const auto& k : keys) {
      CAPTURE(k);
      auto got = lookup(idx, topic, k);
      CHECK(strictly_descending(got));
      CHECK(std::find(got.begin(), got.end(), id->commit_log_offset) != got.end());
      for (int64_t off : got) {
        auto bytes = store.message_by_offset(off);
        REQUIRE(bytes.ok());
        auto m = decode_record(*bytes);
        REQUIRE(m.ok());
        CHECK(m->topic == topic);
        bool has = find_property(m->properties, "UNIQ_KEY") == std::optional<std::string_view>(k);
        if (auto kv = find_property(m->properties, "KEYS"))
          for (size_t p = 0; p <= kv->size();) {
            size_t sp = std::min(kv->find(' ', p), kv->size());
            has = has || kv->substr(p, sp - p) == k;
            p = sp + 1;
          }
        CHECK(has);
      }
    }
  }
  CHECK(acknowledged == 150);
  // The message in flight at the kill was never stored, so never indexed.
  CHECK(lookup(idx, "FixtureKillTopic", man["in_flight_at_kill"]["uniq_key"].get<std::string>()).empty());
  REQUIRE(store.shutdown().ok());
}

namespace {

// Rebuilds a fixture's index from its CommitLog with our IndexService (ConsumeQueues and index
// deleted, so MessageStore::open re-dispatches every record) and compares the files with Java's.
void rebuild_and_compare(const std::string& fixture, bool killed, size_t want_files, int64_t want_records) {
  test::TempDir tmp;
  std::string root = tmp.path() + "/store";
  test::copy_tree(std::string(MQ_FIXTURES_DIR) + "/" + fixture, root);
  std::filesystem::remove_all(root + "/index");
  std::filesystem::remove_all(root + "/consumequeue");
  PosixFileSystem fs;
  IndexService idx(java_index_config(root), fs, quiet_log());
  REQUIRE(idx.load().ok());
  MessageStore store(java_store_config(root), fs, quiet_log());
  store.add_dispatcher(&idx);
  auto rep = store.open();
  REQUIRE_MESSAGE(rep.ok(), (rep.ok() ? "" : rep.detail()));
  CHECK(rep->abnormal == killed);
  CHECK(rep->redispatched == want_records);
  CHECK(idx.error_reason().empty());
  REQUIRE(idx.flush().ok());

  std::string java_dir = std::string(MQ_FIXTURES_DIR) + "/" + fixture + "/index";
  auto java_names = index_names(java_dir);
  auto ours = idx.files();
  REQUIRE(java_names.size() == want_files);
  REQUIRE(ours.size() == want_files);
  for (size_t i = 0; i < want_files; ++i) {
    CAPTURE(java_names[i]);
    CAPTURE(ours[i]->name());
    std::string want = read_file_bytes(java_dir + "/" + java_names[i]);
    std::string got = read_file_bytes(ours[i]->path());
    REQUIRE(want.size() == 4240);
    REQUIRE(got.size() == want.size());
    // Byte for byte: header, slots, items, and the zeros after the last item.
    for (size_t pos = 0; pos < want.size(); pos += 20) {
      CAPTURE(pos);
      REQUIRE(got.substr(pos, 20) == want.substr(pos, 20));
    }
    // Ours is named by the store time of the record that needed it, Java's by its wall clock at
    // that moment: both local yyyyMMddHHmmssSSS, the same order. The instants are within the
    // dispatch delay; the text also depends on the time zone of the machine.
    CHECK(is_index_file_name(ours[i]->name()));
    if (i > 0) CHECK(ours[i]->name() > ours[i - 1]->name());
  }
  REQUIRE(store.shutdown().ok());
  REQUIRE(idx.shutdown().ok());
}

// Opens a fixture copy with its Java index files loaded (force_abnormal: ConsumeQueues deleted and
// `abort` created, so every record is re-dispatched); recovery re-dispatches records into Java's
// files, which must not change (Java's own rule would add the last record's keys again).
void redispatch_into_java_files(const std::string& fixture, bool force_abnormal, int64_t want_records) {
  test::TempDir tmp;
  std::string root = tmp.path() + "/store";
  test::copy_tree(std::string(MQ_FIXTURES_DIR) + "/" + fixture, root);
  if (force_abnormal) {
    std::filesystem::remove_all(root + "/consumequeue");
    std::ofstream(root + "/abort").put('\0');
  }
  PosixFileSystem fs;
  IndexService idx(java_index_config(root), fs, quiet_log());
  REQUIRE(idx.load().ok());
  auto before = all_bytes(fs, idx);
  MessageStore store(java_store_config(root), fs, quiet_log());
  store.add_dispatcher(&idx);
  auto rep = store.open();
  REQUIRE_MESSAGE(rep.ok(), (rep.ok() ? "" : rep.detail()));
  CHECK(rep->redispatched == want_records);
  auto tc = idx.truncate_dirty(store.max_phy_offset());
  REQUIRE(tc.ok());
  CHECK(*tc == 0);
  CHECK(all_bytes(fs, idx) == before);
  // And the next record continues Java's last file.
  MessageToStore m;
  m.topic = "FixtureTopicA";
  m.body = "from C++";
  m.store_host = HostAddress::v4(127, 0, 0, 1, 10911);
  m.properties = encode_properties({{"UNIQ_KEY", "CPP-UNIQ-1"}, {"KEYS", "cpp-key"}});
  auto p = store.put_message(m, 1795310999999);
  REQUIRE(p.ok());
  CHECK(lookup(idx, "FixtureTopicA", "CPP-UNIQ-1") == std::vector<int64_t>{p.wrote_offset});
  CHECK(lookup(idx, "FixtureTopicA", "cpp-key") == std::vector<int64_t>{p.wrote_offset});
  CHECK(idx.files().size() == before.size());
  REQUIRE(store.shutdown().ok());
  REQUIRE(idx.shutdown().ok());
}

}  // namespace

TEST_CASE("index rebuilt from the Java clean store's CommitLog is byte-identical to Java's files") {
  rebuild_and_compare("java494-store", false, 4, 290);
}

TEST_CASE("index rebuilt from the Java killed store's CommitLog is byte-identical to Java's files") {
  rebuild_and_compare("java494-store-killed", true, 2, 152);
}

TEST_CASE("re-dispatching the Java stores' records into Java's own index files changes nothing") {
  SUBCASE("clean store, every record re-dispatched") { redispatch_into_java_files("java494-store", true, 290); }
  SUBCASE("store after kill -9 (abnormal recovery)") { redispatch_into_java_files("java494-store-killed", false, 152); }
}

namespace {

constexpr int64_t kT0 = 1700000000000;

// Records at offsets 1000 + 100 i, store time kT0 + 1500 i ms, UNIQ_KEY U<i> and KEYS "k<i> shared".
std::vector<TestRecord> sample_records(int n, const std::string& topic = "T") {
  std::vector<TestRecord> out;
  for (int i = 0; i < n; ++i)
    out.push_back(make_record(topic, 1000 + 100 * i, kT0 + 1500 * i, "U" + std::to_string(i),
                              "k" + std::to_string(i) + " shared"));
  return out;
}

void dispatch_all(IndexService& idx, const std::vector<TestRecord>& recs) {
  for (const auto& r : recs) REQUIRE(idx.build_index(r.view()).ok());
}

IndexConfig small_config(const std::string& dir, int32_t slots, int32_t items, bool mmap = true) {
  IndexConfig c;
  c.dir = dir;
  c.max_hash_slot_num = slots;
  c.max_index_num = items;
  c.use_mmap = mmap;
  return c;
}

}  // namespace

TEST_CASE("index roll-over: a full file (indexCount == maxIndexNum) is followed by a new one") {
  for (bool fault_fs : {false, true}) {
    CAPTURE(fault_fs);
    test::TempDir tmp;
    PosixFileSystem posix;
    FaultInjectingFileSystem fault;
    FileSystem& fs = fault_fs ? static_cast<FileSystem&>(fault) : posix;
    const std::string dir = (fault_fs ? std::string("/store") : tmp.path()) + "/index";
    IndexService idx(small_config(dir, 4, 6), fs, quiet_log());  // 5 items per file
    REQUIRE(idx.load().ok());
    auto recs = sample_records(7);  // 3 keys each: 21 items = 5 + 5 + 5 + 5 + 1
    dispatch_all(idx, recs);
    auto files = idx.files();
    REQUIRE(files.size() == 5);
    for (size_t i = 0; i + 1 < files.size(); ++i) {
      CHECK(files[i]->is_write_full());
      CHECK(files[i]->index_count() == 6);
      CHECK(files[i + 1]->name() > files[i]->name());
    }
    CHECK(files[4]->index_count() == 2);
    // Record 1 (offset 1100) straddles files 0 and 1: U1, k1 in file 0, "shared" in file 1.
    auto h1 = files[1]->header();
    CHECK(h1.begin_phy_offset == 1100);
    CHECK(h1.begin_timestamp_ms == kT0 + 1500);
    CHECK(files[0]->end_phy_offset() == 1100);
    // File 3 starts with record 5 (offset 1500): its first item's timeDiff is measured from the
    // previous file's end (record 4, 1.5 s earlier), as Java does, although beginTimestamp is then
    // record 5's own store time.
    auto h3 = files[3]->header();
    CHECK(h3.begin_phy_offset == 1500);
    CHECK(h3.begin_timestamp_ms == kT0 + 7500);
    auto first = files[3]->read_item(1);
    REQUIRE(first.ok());
    CHECK(first->phy_offset == 1500);
    CHECK(first->time_diff_s == 1);
    CHECK(first->prev_index == 0);
    // hashSlotCount counts puts that found their slot empty (4.9.4).
    for (auto& f : files) {
      std::set<int32_t> slots_used;
      for (int32_t n = 1; n < f->index_count(); ++n) slots_used.insert(f->read_item(n)->key_hash % 4);
      CHECK(f->header().hash_slot_count == static_cast<int32_t>(slots_used.size()));
    }
    // Lookups cross files, newest first.
    CHECK(lookup(idx, "T", "shared") == std::vector<int64_t>{1600, 1500, 1400, 1300, 1200, 1100, 1000});
    for (const auto& r : recs) {
      int64_t i = (r.offset - 1000) / 100;
      CHECK(lookup(idx, "T", "U" + std::to_string(i)) == std::vector<int64_t>{r.offset});
      CHECK(lookup(idx, "T", "k" + std::to_string(i)) == std::vector<int64_t>{r.offset});
    }
    // Reloaded from disk, the same answers.
    REQUIRE(idx.shutdown().ok());
    IndexService again(small_config(dir, 4, 6), fs, quiet_log());
    REQUIRE(again.load().ok());
    REQUIRE(again.files().size() == 5);
    CHECK(lookup(again, "T", "shared").size() == 7);
  }
}

TEST_CASE("index files are the same bytes through the mapping, by pwrite and on the fault-injecting fs") {
  auto recs = sample_records(40);
  std::vector<std::vector<std::string>> images;
  test::TempDir tmp;
  PosixFileSystem posix;
  FaultInjectingFileSystem fault;
  for (int mode = 0; mode < 3; ++mode) {
    FileSystem& fs = mode == 2 ? static_cast<FileSystem&>(fault) : posix;
    std::string dir = (mode == 2 ? std::string("/x") : tmp.path() + "/m" + std::to_string(mode)) + "/index";
    IndexService idx(small_config(dir, 7, 30, mode == 0), fs, quiet_log());
    REQUIRE(idx.load().ok());
    dispatch_all(idx, recs);
    images.push_back(all_bytes(fs, idx));
    REQUIRE(idx.shutdown().ok());
  }
  REQUIRE(images[0].size() == 5);  // 120 items, 29 per file
  CHECK(images[0] == images[1]);
  CHECK(images[0] == images[2]);
}

TEST_CASE("index lookups filter by store time (to the second) and stop at max_num") {
  test::TempDir tmp;
  PosixFileSystem fs;
  IndexService idx(small_config(tmp.path() + "/index", 16, 100), fs, quiet_log());
  REQUIRE(idx.load().ok());
  std::vector<TestRecord> recs;
  for (int i = 0; i < 10; ++i)  // every 10 s, all with key K
    recs.push_back(make_record("T", 100 * i, kT0 + 10000 * i, "U" + std::to_string(i), "K"));
  dispatch_all(idx, recs);
  CHECK(lookup(idx, "T", "K") == std::vector<int64_t>{900, 800, 700, 600, 500, 400, 300, 200, 100, 0});
  CHECK(lookup(idx, "T", "K", 1000, kT0 + 25000, kT0 + 55000) == std::vector<int64_t>{500, 400, 300});
  CHECK(lookup(idx, "T", "K", 1000, kT0 + 30000, kT0 + 30000) == std::vector<int64_t>{300});
  CHECK(lookup(idx, "T", "K", 1000, kT0 + 90001, INT64_MAX).empty());
  CHECK(lookup(idx, "T", "K", 1000, 0, kT0 - 1).empty());
  CHECK(lookup(idx, "T", "K", 2) == std::vector<int64_t>{900, 800});
  CHECK(lookup(idx, "T", "K", 0).empty());
  // Times are kept in whole seconds from beginTimestamp: 10.7 s reads as 10 s.
  recs.push_back(make_record("T", 5000, kT0 + 90700, "late", "K2"));
  dispatch_all(idx, {recs.back()});
  CHECK(lookup(idx, "T", "K2", 10, kT0 + 90000, kT0 + 90000) == std::vector<int64_t>{5000});
  CHECK(lookup(idx, "T", "K2", 10, kT0 + 90001, INT64_MAX).empty());
}

TEST_CASE("index: what is indexed (UNIQ_KEY, KEYS tokens, ROLLBACK skipped, messageIndexEnable)") {
  test::TempDir tmp;
  PosixFileSystem fs;
  IndexService idx(small_config(tmp.path() + "/index", 16, 100), fs, quiet_log());
  REQUIRE(idx.load().ok());
  auto a = make_record("T", 0, kT0, "UA", "  a  b ");
  auto prepared = make_record("T", 100, kT0, "UP", "p");
  prepared.sys_flag = sysflag::kTransactionPreparedType;
  auto commit = make_record("T", 200, kT0, "UC", "c");
  commit.sys_flag = sysflag::kTransactionCommitType;
  auto rollback = make_record("T", 300, kT0, "UR", "r");
  rollback.sys_flag = sysflag::kTransactionRollbackType;
  auto no_keys = make_record("T", 400, kT0, "");
  auto utf8 = make_record("T", 500, kT0, "", "\xE9\x94\xAE-\xF0\x9F\x8E\x89");
  dispatch_all(idx, {a, prepared, commit, rollback, no_keys, utf8});
  CHECK(lookup(idx, "T", "UA") == std::vector<int64_t>{0});
  CHECK(lookup(idx, "T", "a") == std::vector<int64_t>{0});
  CHECK(lookup(idx, "T", "b") == std::vector<int64_t>{0});
  CHECK(lookup(idx, "T", "").empty());
  CHECK(lookup(idx, "T", "p") == std::vector<int64_t>{100});
  CHECK(lookup(idx, "T", "c") == std::vector<int64_t>{200});
  CHECK(lookup(idx, "T", "r").empty());
  CHECK(lookup(idx, "T", "UR").empty());
  CHECK(lookup(idx, "T", "\xE9\x94\xAE-\xF0\x9F\x8E\x89") == std::vector<int64_t>{500});
  CHECK(idx.files()[0]->index_count() == 1 + 3 + 2 + 2 + 1);
  // The key with hash Integer.MIN_VALUE lands in slot 0 (keyHash 0).
  auto f = idx.files()[0];
  REQUIRE(f->put_key("polygenelubricants", 600, kT0).value());
  CHECK(f->read_slot(0).value() == f->index_count() - 1);
  std::vector<int64_t> out;
  REQUIRE(f->select_phy_offset(out, "polygenelubricants", 10, 0, INT64_MAX).ok());
  CHECK(out == std::vector<int64_t>{600});

  IndexConfig off = small_config(tmp.path() + "/index2", 16, 100);
  off.enable = false;
  IndexService disabled(off, fs, quiet_log());
  REQUIRE(disabled.load().ok());
  dispatch_all(disabled, {a});
  CHECK(disabled.files().empty());
  CHECK(lookup(disabled, "T", "UA").empty());
}

TEST_CASE("index re-dispatch is idempotent: same records twice, after reload, after torn puts") {
  auto recs = sample_records(13);  // 39 items; with 5 per file records straddle files
  test::TempDir tmp;
  PosixFileSystem fs;
  // The reference: every record once.
  std::vector<std::string> clean;
  {
    IndexService idx(small_config(tmp.path() + "/ref", 3, 6), fs, quiet_log());
    REQUIRE(idx.load().ok());
    dispatch_all(idx, recs);
    clean = all_bytes(fs, idx);
    REQUIRE(clean.size() == 8);
    // Twice in a row, in one run: nothing changes.
    dispatch_all(idx, recs);
    CHECK(all_bytes(fs, idx) == clean);
    for (const auto& r : recs) dispatch_all(idx, {r});
    CHECK(all_bytes(fs, idx) == clean);
    CHECK(lookup(idx, "T", "shared").size() == recs.size());
    REQUIRE(idx.shutdown().ok());
  }
  SUBCASE("reloaded, then everything re-dispatched") {
    IndexService idx(small_config(tmp.path() + "/ref", 3, 6), fs, quiet_log());
    REQUIRE(idx.load().ok());
    dispatch_all(idx, recs);
    CHECK(all_bytes(fs, idx) == clean);
  }
  SUBCASE("a record cut short after any of its keys, then recovery re-dispatches all") {
    // Record 8's keys straddle files 4 and 5 (5 items per file); record 9's do not. A record cut
    // after k keys is dispatched as the same record with only its first k keys.
    for (int victim : {8, 9}) {
      for (int cut = 1; cut <= 2; ++cut) {
        CAPTURE(victim);
        CAPTURE(cut);
        std::string dir = tmp.path() + "/cut" + std::to_string(victim) + "-" + std::to_string(cut);
        {
          IndexService idx(small_config(dir, 3, 6), fs, quiet_log());
          REQUIRE(idx.load().ok());
          dispatch_all(idx, std::vector<TestRecord>(recs.begin(), recs.begin() + victim));
          TestRecord partial = recs[static_cast<size_t>(victim)];
          PropertyList p{{"UNIQ_KEY", "U" + std::to_string(victim)}};
          if (cut == 2) p.emplace_back("KEYS", "k" + std::to_string(victim));
          partial.properties = encode_properties(p);
          dispatch_all(idx, {partial});
          REQUIRE(idx.shutdown().ok());
        }
        IndexService idx(small_config(dir, 3, 6), fs, quiet_log());
        REQUIRE(idx.load().ok());
        dispatch_all(idx, recs);
        auto got = all_bytes(fs, idx);
        REQUIRE(got.size() == clean.size());
        for (size_t i = 0; i < got.size(); ++i) CHECK_MESSAGE(got[i] == clean[i], "file " << i);
      }
    }
  }
  SUBCASE("a kill -9 between a record's item/slot writes and its header write") {
    // The state a crash leaves after the items and slots of record 9 were written but before its
    // header was: put record 9, then put back the header from before it.
    std::string dir = tmp.path() + "/torn";
    {
      IndexService idx(small_config(dir, 3, 20), fs, quiet_log());
      REQUIRE(idx.load().ok());
      dispatch_all(idx, std::vector<TestRecord>(recs.begin(), recs.begin() + 9));
      auto path = idx.files().back()->path();
      REQUIRE(idx.shutdown().ok());
      std::string header = read_file_bytes(path).substr(0, 40);
      IndexService more(small_config(dir, 3, 20), fs, quiet_log());
      REQUIRE(more.load().ok());
      dispatch_all(more, {recs[9]});
      REQUIRE(more.shutdown().ok());
      auto f = fs.open(path, false);
      REQUIRE(f.ok());
      REQUIRE((*f)->write_at(0, header.data(), header.size()).ok());
    }
    std::vector<std::string> want;
    {
      IndexService ref(small_config(tmp.path() + "/ref20", 3, 20), fs, quiet_log());
      REQUIRE(ref.load().ok());
      dispatch_all(ref, recs);
      want = all_bytes(fs, ref);
      REQUIRE(ref.shutdown().ok());
    }
    IndexService idx(small_config(dir, 3, 20), fs, quiet_log());
    REQUIRE(idx.load().ok());
    dispatch_all(idx, recs);
    CHECK(all_bytes(fs, idx) == want);
    // Every chain is whole: all 13 records under "shared" (3 slots, so chains are shared too).
    CHECK(lookup(idx, "T", "shared").size() == 13);
  }
}

TEST_CASE("index truncate_dirty: entries past the recovered CommitLog end do not block new records") {
  test::TempDir tmp;
  PosixFileSystem fs;
  IndexService idx(small_config(tmp.path() + "/index", 5, 8), fs, quiet_log());  // 7 items per file
  REQUIRE(idx.load().ok());
  auto recs = sample_records(6);  // 18 items: 7 + 7 + 4
  dispatch_all(idx, recs);
  REQUIRE(idx.files().size() == 3);
  // Nothing past the end: nothing changes.
  CHECK(idx.truncate_dirty(2000).value() == 0);
  // The CommitLog lost records 3.. (offsets 1300..): an OS crash with the index pages newer.
  auto changed = idx.truncate_dirty(1300);
  REQUIRE(changed.ok());
  CHECK(*changed == 2);  // file 2 (only records 4, 5) and file 1 (record 2's last keys survive)
  CHECK(idx.files()[1]->end_phy_offset() == 1200);
  CHECK(idx.files()[2]->end_phy_offset() == 1200);
  // New records at the lost offsets are indexed (without truncate_dirty they would be skipped).
  auto fresh = make_record("T", 1300, kT0 + 100000, "NEW", "fresh");
  dispatch_all(idx, {fresh});
  CHECK(lookup(idx, "T", "NEW") == std::vector<int64_t>{1300});
  CHECK(lookup(idx, "T", "fresh") == std::vector<int64_t>{1300});
  // The stale entry for the old record 3 is still answered: callers check the record they read.
  CHECK(lookup(idx, "T", "U3") == std::vector<int64_t>{1300});
  CHECK(lookup(idx, "T", "U2") == std::vector<int64_t>{1200});
}

TEST_CASE("index expiry deletes leading files below the CommitLog min offset, never the last") {
  test::TempDir tmp;
  PosixFileSystem fs;
  IndexService idx(small_config(tmp.path() + "/index", 5, 4), fs, quiet_log());  // 3 items per file
  REQUIRE(idx.load().ok());
  dispatch_all(idx, sample_records(4));  // 12 items: 4 files; ends 1000, 1100, 1200, 1300
  auto files = idx.files();
  REQUIRE(files.size() == 4);
  CHECK(idx.delete_expired_files(1000) == 0);
  CHECK(idx.delete_expired_files(1150) == 2);
  CHECK_FALSE(std::filesystem::exists(files[0]->path()));
  CHECK_FALSE(std::filesystem::exists(files[1]->path()));
  CHECK(idx.files().size() == 2);
  CHECK(idx.delete_expired_files(INT64_MAX) == 1);  // the last file stays
  CHECK(idx.files().size() == 1);
  CHECK(std::filesystem::exists(files[3]->path()));
  CHECK(lookup(idx, "T", "U3") == std::vector<int64_t>{1300});
  CHECK(lookup(idx, "T", "U0").empty());
  // A file removed while a lookup holds it is still readable by that holder.
  std::vector<int64_t> out;
  REQUIRE(files[0]->select_phy_offset(out, "T#U0", 10, 0, INT64_MAX).ok());
  CHECK(out == std::vector<int64_t>{1000});
}

TEST_CASE("index flush and crashes on the fault-injecting file system") {
  FaultInjectingFileSystem fs;
  auto recs = sample_records(30);
  const std::string dir = "/store/index";
  {
    IndexService idx(small_config(dir, 7, 16), fs, quiet_log());
    REQUIRE(idx.load().ok());
    dispatch_all(idx, std::vector<TestRecord>(recs.begin(), recs.begin() + 20));
    auto ts = idx.flush();
    REQUIRE(ts.ok());
    CHECK(*ts == recs[19].store_ts);
    CHECK(idx.flush().value() == recs[19].store_ts);  // nothing new
    dispatch_all(idx, std::vector<TestRecord>(recs.begin() + 20, recs.end()));
    // Crash: the unsynced puts vanish (files created since then read as empty).
    fs.crash();
  }
  IndexService idx(small_config(dir, 7, 16), fs, quiet_log());
  REQUIRE(idx.load().ok());
  for (int i = 0; i < 20; ++i) CHECK(lookup(idx, "T", "U" + std::to_string(i)).size() == 1);
  CHECK(lookup(idx, "T", "U25").empty());
  // Recovery re-dispatches from some earlier point: what is there is skipped, the rest added.
  dispatch_all(idx, std::vector<TestRecord>(recs.begin() + 5, recs.end()));
  for (int i = 0; i < 30; ++i) CHECK(lookup(idx, "T", "U" + std::to_string(i)).size() == 1);
  CHECK(lookup(idx, "T", "shared").size() == 30);

  SUBCASE("a failed fsync is an error") {
    dispatch_all(idx, {make_record("T", 99999, kT0 + 999999, "Z")});
    fs.fail_syncs_after(0);
    CHECK_FALSE(idx.flush().ok());
    fs.clear_faults();
    CHECK(idx.flush().ok());  // the file stayed dirty, so this sync covers it
  }
  SUBCASE("a failed write stops indexing and says why") {
    dispatch_all(idx, {make_record("T", 99990, kT0 + 999999, "V")});  // the last file has room
    REQUIRE_FALSE(idx.files().back()->is_write_full());
    fs.fail_writes_after(0);
    CHECK_FALSE(idx.build_index(make_record("T", 99999, kT0 + 999999, "Z").view()).ok());
    fs.clear_faults();
    CHECK_FALSE(idx.error_reason().empty());
    CHECK_FALSE(idx.build_index(make_record("T", 100000, kT0 + 999999, "Y").view()).ok());
  }
  SUBCASE("a full disk when a file must be created: an error, retried at the next record") {
    // Fill the last file, then leave no room for another.
    int64_t off = 200000;
    while (!idx.files().back()->is_write_full()) {
      dispatch_all(idx, {make_record("T", off, kT0 + 999999, "F" + std::to_string(off))});
      ++off;
    }
    fs.set_capacity_bytes(0);
    auto r = idx.build_index(make_record("T", off++, kT0 + 999999, "X").view());
    CHECK_FALSE(r.ok());
    CHECK(r.code() == IoError::kNoSpace);
    CHECK_FALSE(idx.error_reason().empty());
    fs.clear_faults();
    REQUIRE(idx.build_index(make_record("T", off, kT0 + 999999, "W").view()).ok());
    CHECK(idx.error_reason().empty());
    CHECK(lookup(idx, "T", "W") == std::vector<int64_t>{off});
  }
}

TEST_CASE("index after torn OS crashes: load works, lookups terminate, re-dispatch completes") {
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    CAPTURE(seed);
    FaultInjectingFileSystem fs;
    Random rng(seed);
    auto recs = sample_records(60);
    const std::string dir = "/s/index";
    {
      IndexService idx(small_config(dir, 5, 300), fs, quiet_log());  // 4 KiB blocks hold items
      REQUIRE(idx.load().ok());
      size_t flushed_at = rng.uniform(0, 40);
      for (size_t i = 0; i < recs.size(); ++i) {
        dispatch_all(idx, {recs[i]});
        if (i == flushed_at) REQUIRE(idx.flush().ok());
      }
      fs.crash(&rng);
    }
    IndexService idx(small_config(dir, 5, 300), fs, quiet_log());
    auto loaded = idx.load();
    REQUIRE_MESSAGE(loaded.ok(), (loaded.ok() ? "" : loaded.detail()));
    REQUIRE(idx.truncate_dirty(1000 + 100 * 60).ok());
    dispatch_all(idx, recs);
    for (int i = 0; i < 60; i += 7) (void)lookup(idx, "T", "U" + std::to_string(i));
    auto all = lookup(idx, "T", "shared");
    CHECK(all.size() <= 200);
  }
}

TEST_CASE("damaged index files: clear errors on load, bounded lookups, no crash") {
  test::TempDir tmp;
  PosixFileSystem fs;
  const std::string dir = tmp.path() + "/index";
  std::filesystem::create_directories(dir);
  std::string java_file = std::string(MQ_FIXTURES_DIR) + "/java494-store/index/20261122012757613";
  auto put_file = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(dir + "/" + name, std::ios::binary | std::ios::trunc) << bytes;
  };

  SUBCASE("cut short") {
    put_file("20261122012757613", read_file_bytes(java_file).substr(0, 1000));
    IndexService idx(java_index_config(tmp.path()), fs, quiet_log());
    auto r = idx.load();
    REQUIRE_FALSE(r.ok());
    CHECK(r.code() == IoError::kCorrupt);
    CHECK(r.detail().find("20261122012757613") != std::string::npos);
    CHECK(r.detail().find("1000 bytes") != std::string::npos);
  }
  SUBCASE("written with other settings") {
    put_file("20261122012757613", read_file_bytes(java_file));
    IndexService idx(small_config(dir, 60, 200), fs, quiet_log());
    auto r = idx.load();
    REQUIRE_FALSE(r.ok());
    CHECK(r.code() == IoError::kCorrupt);
    CHECK(r.detail().find("maxHashSlotNum=60") != std::string::npos);
  }
  SUBCASE("indexCount beyond maxIndexNum") {
    std::string b = read_file_bytes(java_file);
    put_be32(reinterpret_cast<uint8_t*>(b.data()) + 36, 201);
    put_file("20261122012757613", b);
    IndexService idx(java_index_config(tmp.path()), fs, quiet_log());
    auto r = idx.load();
    REQUIRE_FALSE(r.ok());
    CHECK(r.code() == IoError::kCorrupt);
    CHECK(r.detail().find("indexCount 201") != std::string::npos);
  }
  SUBCASE("empty file (a crash while it was created): a new file with the previous file's end") {
    put_file("20261122012757613", read_file_bytes(java_file));
    put_file("20261122012758000", "");
    put_file("README.txt", "not an index file");
    IndexService idx(java_index_config(tmp.path()), fs, quiet_log());
    REQUIRE(idx.load().ok());
    auto files = idx.files();
    REQUIRE(files.size() == 2);
    CHECK(files[1]->file_size() == 4240);
    CHECK(files[1]->index_count() == 1);
    CHECK(files[1]->end_phy_offset() == files[0]->end_phy_offset());
    CHECK(files[1]->begin_timestamp_ms() == files[0]->end_timestamp_ms());
    // A record the first file holds is not indexed again.
    auto r = make_record("FixtureTopicA", files[0]->end_phy_offset() - 1, 1, "again");
    dispatch_all(idx, {r});
    CHECK(files[1]->index_count() == 1);
  }
  SUBCASE("garbage slots and chains: cycles, out-of-range and negative values end the walk") {
    std::string b = read_file_bytes(java_file);
    auto* p = reinterpret_cast<uint8_t*>(b.data());
    auto item_at = [&](int n) { return p + 40 + 50 * 4 + n * 20; };
    // A cycle 7 -> 5 -> 7 (Java would spin on it), a self-loop, a pointer past indexCount, a
    // negative timeDiff, and slots pointing anywhere.
    int32_t h = index_key_hash("FixtureTopicA#cycle");
    put_be32(p + 40 + (h % 50) * 4, 7);
    put_be32(item_at(7), static_cast<uint32_t>(h + 1));
    put_be32(item_at(7) + 16, 5);
    put_be32(item_at(5), static_cast<uint32_t>(h + 1));
    put_be32(item_at(5) + 16, 7);
    put_be32(item_at(9) + 16, 9);
    put_be32(item_at(11) + 16, 100000);
    put_be32(item_at(13) + 12, 0x80000000u);
    for (int s = 0; s < 50; s += 3) put_be32(p + 40 + s * 4, static_cast<uint32_t>(s * 977 - 20000));
    put_file("20261122012757613", b);
    IndexService idx(java_index_config(tmp.path()), fs, quiet_log());
    REQUIRE(idx.load().ok());
    CHECK(lookup(idx, "FixtureTopicA", "cycle").empty());
    for (int i = 0; i < 300; ++i) (void)lookup(idx, "FixtureTopicA", "probe-" + std::to_string(i));
    // Puts into damaged slots still chain only to counted items.
    for (int i = 0; i < 5; ++i) {
      auto r = make_record("FixtureTopicA", 1000000 + i, 1795310880000, "fresh-" + std::to_string(i));
      CHECK(idx.build_index(r.view()).ok());
    }
    for (int i = 0; i < 5; ++i)
      CHECK(lookup(idx, "FixtureTopicA", "fresh-" + std::to_string(i)) == std::vector<int64_t>{1000000 + i});
  }
  SUBCASE("every byte flipped in turn: load and lookups never crash") {
    std::string orig = read_file_bytes(java_file);
    for (size_t pos = 0; pos < orig.size(); pos += 7) {
      std::string b = orig;
      b[pos] = static_cast<char>(b[pos] ^ 0xA5);
      put_file("20261122012757613", b);
      IndexService idx(java_index_config(tmp.path()), fs, quiet_log());
      auto r = idx.load();
      if (!r.ok()) {
        CHECK(r.code() == IoError::kCorrupt);
        continue;
      }
      (void)lookup(idx, "FixtureTopicA", "A-key-1");
      (void)lookup(idx, "FixtureTopicA", "7F0000013E0A5FFD2B276C7613790000", 1000, 0, INT64_MAX);
    }
  }
}

TEST_CASE("index: flush and expiry on a worker thread while the owner dispatches and looks up") {
  test::TempDir tmp;
  PosixFileSystem fs;
  IndexService idx(small_config(tmp.path() + "/index", 11, 40), fs, quiet_log());
  REQUIRE(idx.load().ok());
  auto recs = sample_records(400);
  std::atomic<bool> done{false};
  std::atomic<int> flushes{0};
  std::atomic<int> deleted{0};
  std::thread worker([&] {
    while (!done.load()) {
      auto r = idx.flush();
      CHECK(r.ok());
      ++flushes;
      deleted += idx.delete_expired_files(1000 + 100 * 150);  // records below 150 expire
    }
  });
  for (size_t i = 0; i < recs.size(); ++i) {
    REQUIRE(idx.build_index(recs[i].view()).ok());
    if (i % 7 == 0) {
      auto got = lookup(idx, "T", "U" + std::to_string(i));
      CHECK((got == std::vector<int64_t>{recs[i].offset} || i < 150));
    }
  }
  // On a loaded machine the worker may not have had a turn while the owner dispatched: give it a
  // bounded one, so the checks below judge the service, not the scheduler.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while ((flushes.load() == 0 || deleted.load() == 0) && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  done.store(true);
  worker.join();
  CHECK(flushes.load() > 0);
  CHECK(deleted.load() > 0);
  REQUIRE(idx.flush().ok());
  CHECK(idx.flush().value() == recs.back().store_ts);
  for (size_t i = 150; i < recs.size(); ++i)
    CHECK(lookup(idx, "T", "U" + std::to_string(i)) == std::vector<int64_t>{recs[i].offset});
}
