// MessageStore::truncate_commit_log (controller mode: a slave cut back at the consistent point,
// reference rocketmq-controller.md 6.3-6.5): a cut at any boundary, in the last segment or an older
// one, leaves CommitLog and ConsumeQueue files byte-identical to a store that never held the cut
// messages, once the same messages follow; refusals change nothing and an offset past the end is a
// no-op; a restart after a clean stop, a kill -9 or an OS crash (torn or not, fault-injecting file
// system) recovers exactly the truncated log plus what was made durable after it, never the old
// tail; a slave truncated and fed a new master's different bytes at the same offsets ends up as
// that master; a slave's incomplete tail is cut at its dispatch cursor; the IndexFile indexes the
// records appended at the cut offsets and its stale entries find nothing; a failed fsync part way
// stops the store and a restart finds a prefix of the old log; mapped segments on the real file
// system.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "store/checkpoint.h"
#include "store/fault_fs.h"
#include "store/index_service.h"
#include "store/message_store.h"
#include "tests/store/test_util.h"

using namespace mq;
using namespace mq::store;

namespace {

Logger quiet_log() { return Logger(std::make_shared<LogSink>(stderr, LogLevel::kError), "[truncate-test]"); }

constexpr int64_t kBaseMs = 1'700'000'000'000;

MessageStoreConfig config(const std::string& root, int64_t cl_size = 1024, int64_t cq_units = 5) {
  MessageStoreConfig c;
  c.store_path_root_dir = root;
  c.mapped_file_size_commit_log = cl_size;
  c.mapped_file_size_consume_queue = cq_units * kCqUnitSize;
  return c;
}

// One message of a run. "old" and "new" runs differ in body, so a message of the cut tail is
// recognised wherever it turns up.
struct Spec {
  std::string topic;
  int32_t queue_id;
  std::string body;
  std::string key;
};

Spec spec(const std::string& run, int i, int queues = 3) {
  static const char* const kTopics[] = {"TA", "TB"};
  return Spec{kTopics[i % 2], static_cast<int32_t>((i / 2) % queues),
              run + "-" + std::to_string(i) + "-" + std::string(static_cast<size_t>(i * 37 % 230), 'x'),
              run + "k" + std::to_string(i)};
}

MessageToStore to_store(const Spec& s) {
  MessageToStore m;
  m.topic = s.topic;
  m.queue_id = s.queue_id;
  m.body = s.body;
  m.born_timestamp = kBaseMs - 1;
  m.born_host = HostAddress::v4(10, 0, 0, 9, 50000);
  m.store_host = HostAddress::v4(127, 0, 0, 1, 10911);
  m.properties = encode_properties({{"KEYS", s.key}, {"UNIQ_KEY", "U" + s.key}, {"TAGS", "t"}});
  return m;
}

PutMessageResult put(MessageStore& s, const Spec& m, int64_t now_ms) {
  auto r = s.put_message(to_store(m), now_ms);
  REQUIRE_MESSAGE(r.ok(), r.detail);
  return r;
}

// Every record in the CommitLog, in order, read the way HA transfer reads it.
std::vector<MessageRecord> log_records(MessageStore& s, std::vector<std::string>& keep) {
  std::vector<MessageRecord> out;
  const int64_t seg = s.config().mapped_file_size_commit_log;
  int64_t off = s.min_phy_offset();
  while (off < s.max_phy_offset()) {
    auto bytes = s.read_commit_log(off, static_cast<size_t>(seg));
    REQUIRE(bytes.ok());
    REQUIRE_FALSE(bytes->empty());
    keep.push_back(std::move(*bytes));
    auto e = decode_entry(keep.back());
    REQUIRE_MESSAGE(e.ok(), "at ", off);
    if (e->blank) {
      off = (off / seg + 1) * seg;
      continue;
    }
    CHECK(e->message.physical_offset == off);
    out.push_back(e->message);
    off += e->size;
  }
  return out;
}

std::vector<std::string> log_bodies(MessageStore& s) {
  std::vector<std::string> keep, out;
  for (const auto& r : log_records(s, keep)) out.emplace_back(r.body);
  return out;
}

// Bodies of one queue via get_message, checking the queue offsets are dense from 0.
std::vector<std::string> queue_bodies(MessageStore& s, const std::string& topic, int32_t qid) {
  std::vector<std::string> out;
  int64_t off = s.min_offset_in_queue(topic, qid);
  CHECK(off == 0);
  while (true) {
    auto g = s.get_message(topic, qid, off, 32, 1 << 20);
    if (g.status != GetMessageStatus::kFound) {
      CHECK((g.status == GetMessageStatus::kOffsetOverflowOne || g.status == GetMessageStatus::kNoMessageInQueue ||
             g.status == GetMessageStatus::kNoMatchedLogicQueue));
      break;
    }
    auto recs = decode_records(g.buffer);
    REQUIRE(recs.ok());
    for (const auto& r : *recs) {
      CHECK(r.queue_offset == static_cast<int64_t>(out.size()));
      out.emplace_back(r.body);
    }
    off = g.next_begin_offset;
  }
  CHECK(static_cast<int64_t>(out.size()) == s.max_offset_in_queue(topic, qid));
  return out;
}

// The log and every queue hold exactly `want`, in order.
void check_contents(MessageStore& s, const std::vector<Spec>& want, int queues = 3) {
  std::vector<std::string> bodies;
  for (const auto& m : want) bodies.push_back(m.body);
  CHECK(log_bodies(s) == bodies);
  for (const char* topic : {"TA", "TB"}) {
    for (int32_t q = 0; q < queues; ++q) {
      std::vector<std::string> in_queue;
      for (const auto& m : want)
        if (m.topic == topic && m.queue_id == q) in_queue.push_back(m.body);
      CAPTURE(topic);
      CAPTURE(q);
      CHECK(queue_bodies(s, topic, q) == in_queue);
    }
  }
}

// Relative path -> bytes of every file under root/sub.
void collect(FileSystem& fs, const std::string& dir, const std::string& rel, std::map<std::string, std::string>& out) {
  if (!fs.is_directory(dir)) return;
  auto names = fs.list(dir);
  REQUIRE(names.ok());
  for (const auto& n : *names) {
    std::string path = join_path(dir, n), r = rel + "/" + n;
    if (fs.is_directory(path)) {
      collect(fs, path, r, out);
      continue;
    }
    auto f = fs.open(path, false);
    REQUIRE(f.ok());
    std::string data(static_cast<size_t>((*f)->size()), '\0');
    auto got = (*f)->read_at(0, data.data(), data.size());
    REQUIRE(got.ok());
    data.resize(*got);
    out[r] = std::move(data);
  }
}

std::map<std::string, std::string> store_files(FileSystem& fs, const std::string& root) {
  std::map<std::string, std::string> out;
  for (const char* sub : {"commitlog", "consumequeue"}) collect(fs, join_path(root, sub), sub, out);
  return out;
}

bool all_zero(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == 0; });
}

// The CommitLog and ConsumeQueue files of `got` are those of `want`, byte for byte; `got` may also
// hold files of zeros (an emptied queue, a segment kept empty at the cut).
void check_same_files(const std::map<std::string, std::string>& got, const std::map<std::string, std::string>& want) {
  for (const auto& [path, bytes] : want) {
    CAPTURE(path);
    auto it = got.find(path);
    REQUIRE(it != got.end());
    REQUIRE(it->second.size() == bytes.size());
    auto diff = std::mismatch(bytes.begin(), bytes.end(), it->second.begin());
    CHECK_MESSAGE(diff.first == bytes.end(), "first difference at byte ", diff.first - bytes.begin());
  }
  for (const auto& [path, bytes] : got) {
    CAPTURE(path);
    if (!want.count(path)) CHECK(all_zero(bytes));
  }
}

int64_t count_in_queue(const std::vector<Spec>& msgs, const std::string& topic, int32_t q) {
  return std::count_if(msgs.begin(), msgs.end(), [&](const Spec& m) { return m.topic == topic && m.queue_id == q; });
}

// The commit log segment names in a store.
std::set<std::string> segments(FileSystem& fs, const std::string& root) {
  auto names = fs.list(root + "/commitlog");
  REQUIRE(names.ok());
  return std::set<std::string>(names->begin(), names->end());
}

std::vector<Spec> specs(const std::string& run, int from, int to) {
  std::vector<Spec> out;
  for (int i = from; i < to; ++i) out.push_back(spec(run, i));
  return out;
}

}  // namespace

TEST_CASE("truncate in the last segment: reads, queue offsets and later puts as if the cut messages never existed") {
  FaultInjectingFileSystem fs;
  MessageStore s(config("/s", 64 * 1024), fs, quiet_log());
  REQUIRE(s.open().ok());
  auto old = specs("old", 0, 30);
  std::vector<PutMessageResult> puts;
  for (int i = 0; i < 30; ++i) puts.push_back(put(s, old[static_cast<size_t>(i)], kBaseMs + i));
  REQUIRE(s.flush().ok());
  const int64_t old_end = s.max_phy_offset();
  const int k = 17;
  const int64_t cut = puts[k].wrote_offset;
  REQUIRE(s.is_message_boundary(cut));
  REQUIRE(s.truncate_commit_log(cut).ok());

  CHECK(s.max_phy_offset() == cut);
  CHECK(s.flushed_offset() == cut);
  CHECK(s.dispatched_offset() == cut);
  CHECK(s.is_writable());
  std::vector<Spec> kept(old.begin(), old.begin() + k);
  for (const char* topic : {"TA", "TB"})
    for (int32_t q = 0; q < 3; ++q) CHECK(s.max_offset_in_queue(topic, q) == count_in_queue(kept, topic, q));
  check_contents(s, kept);
  // The cut messages are gone from every read path.
  for (int i = k; i < 30; ++i) {
    CAPTURE(i);
    CHECK_FALSE(s.message_by_offset(puts[i].wrote_offset).ok());
    CHECK_FALSE(s.read_record(puts[i].wrote_offset, puts[i].wrote_bytes).ok());
    auto g = s.get_message(old[static_cast<size_t>(i)].topic, old[static_cast<size_t>(i)].queue_id, puts[i].logics_offset, 32, 1 << 20);
    CHECK(g.status != GetMessageStatus::kFound);
  }
  CHECK(s.read_commit_log(cut, 1 << 20).value().empty());
  CHECK_FALSE(s.message_by_offset(cut).ok());
  // The checkpoint's dispatch mark is not left past the cut.
  {
    auto cp = StoreCheckpoint::open(fs, "/s/checkpoint");
    REQUIRE(cp.ok());
    CHECK((*cp)->dispatched_phy_offset() <= cut);
  }
  // Nothing of the cut tail is left in the segment's bytes.
  {
    auto files = store_files(fs, "/s");
    const std::string& seg = files.at("commitlog/" + offset_to_file_name(0));
    CHECK(all_zero(seg.substr(static_cast<size_t>(cut))));
    CHECK(old_end > cut);
  }

  // Puts continue at the cut with the next queue offsets: the same bytes as a store that never
  // held the cut messages.
  FaultInjectingFileSystem rfs;
  MessageStore r(config("/s", 64 * 1024), rfs, quiet_log());
  REQUIRE(r.open().ok());
  for (int i = 0; i < k; ++i) put(r, old[static_cast<size_t>(i)], kBaseMs + i);
  auto fresh = specs("new", 0, 12);
  for (int j = 0; j < 12; ++j) {
    auto a = put(s, fresh[static_cast<size_t>(j)], kBaseMs + 1000 + j);
    auto b = put(r, fresh[static_cast<size_t>(j)], kBaseMs + 1000 + j);
    CHECK(a.wrote_offset == b.wrote_offset);
    CHECK(a.logics_offset == b.logics_offset);
    if (j == 0) CHECK(a.wrote_offset == cut);
  }
  kept.insert(kept.end(), fresh.begin(), fresh.end());
  check_contents(s, kept);
  check_same_files(store_files(fs, "/s"), store_files(rfs, "/s"));
}

TEST_CASE("truncate across segments: later segments and ConsumeQueue files go, pre-created files too") {
  FaultInjectingFileSystem fs;
  MessageStore s(config("/s", 1024, 4), fs, quiet_log());
  REQUIRE(s.open().ok());
  auto old = specs("old", 0, 60);
  std::vector<PutMessageResult> puts;
  for (int i = 0; i < 60; ++i) puts.push_back(put(s, old[static_cast<size_t>(i)], kBaseMs + i));
  REQUIRE(s.precreate_next_file().ok());
  REQUIRE(s.flush().ok());
  REQUIRE(segments(fs, "/s").size() >= 8);
  // A record in the second segment, not its first.
  int k = 0;
  while (puts[k].wrote_offset < 1024 || puts[k - 1].wrote_offset < 1024) ++k;
  const int64_t cut = puts[k].wrote_offset;
  REQUIRE(cut < 2048);
  REQUIRE(s.truncate_commit_log(cut).ok());
  CHECK(segments(fs, "/s") == std::set<std::string>{offset_to_file_name(0), offset_to_file_name(1024)});
  CHECK(s.max_phy_offset() == cut);
  CHECK(s.needs_precreate());
  std::vector<Spec> kept(old.begin(), old.begin() + k);
  check_contents(s, kept);
  // ConsumeQueue files past the last kept unit are gone (4 units per file).
  for (const char* topic : {"TA", "TB"})
    for (int32_t q = 0; q < 3; ++q) {
      auto names = fs.list(std::string("/s/consumequeue/") + topic + "/" + std::to_string(q));
      REQUIRE(names.ok());
      const int64_t units = count_in_queue(kept, topic, q);
      CHECK(static_cast<int64_t>(names->size()) <= units / 4 + 1);
    }

  FaultInjectingFileSystem rfs;
  MessageStore r(config("/s", 1024, 4), rfs, quiet_log());
  REQUIRE(r.open().ok());
  for (int i = 0; i < k; ++i) put(r, old[static_cast<size_t>(i)], kBaseMs + i);
  auto fresh = specs("new", 0, 40);
  for (int j = 0; j < 40; ++j) {
    auto a = put(s, fresh[static_cast<size_t>(j)], kBaseMs + 1000 + j);
    auto b = put(r, fresh[static_cast<size_t>(j)], kBaseMs + 1000 + j);
    CHECK(a.wrote_offset == b.wrote_offset);
    CHECK(a.logics_offset == b.logics_offset);
  }
  kept.insert(kept.end(), fresh.begin(), fresh.end());
  check_contents(s, kept);
  check_same_files(store_files(fs, "/s"), store_files(rfs, "/s"));

  // And it reopens (no gap left by the pre-created segment) to the same log.
  REQUIRE(s.shutdown().ok());
  MessageStore again(config("/s", 1024, 4), fs, quiet_log());
  auto rep = again.open();
  REQUIRE_MESSAGE(rep.ok(), (rep.ok() ? "" : rep.detail()));
  check_contents(again, kept);
}

TEST_CASE("every boundary: a cut after record k equals a store that only ever held records 0..k-1") {
  // Cut at the end of record k-1: the start of record k, or the BLANK ending a segment when record
  // k opened the next one (k = 0: everything).
  const int n = 36;
  auto old = specs("old", 0, n);
  auto fresh = specs("new", 0, 14);
  for (int k = 0; k <= n; ++k) {
    CAPTURE(k);
    FaultInjectingFileSystem fs;
    MessageStore s(config("/s", 1024, 3), fs, quiet_log());
    REQUIRE(s.open().ok());
    std::vector<PutMessageResult> puts;
    for (int i = 0; i < n; ++i) puts.push_back(put(s, old[static_cast<size_t>(i)], kBaseMs + i));
    if (k % 3 == 0) REQUIRE(s.precreate_next_file().ok());
    if (k % 2 == 0) REQUIRE(s.flush().ok());
    const int64_t cut = k == 0 ? 0 : puts[k - 1].end_offset;
    REQUIRE(s.is_message_boundary(cut));
    REQUIRE(s.truncate_commit_log(cut).ok());
    CHECK(s.max_phy_offset() == cut);
    std::vector<Spec> kept(old.begin(), old.begin() + k);
    check_contents(s, kept);

    FaultInjectingFileSystem rfs;
    MessageStore r(config("/s", 1024, 3), rfs, quiet_log());
    REQUIRE(r.open().ok());
    for (int i = 0; i < k; ++i) put(r, old[static_cast<size_t>(i)], kBaseMs + i);
    for (int j = 0; j < 14; ++j) {
      auto a = put(s, fresh[static_cast<size_t>(j)], kBaseMs + 1000 + j);
      auto b = put(r, fresh[static_cast<size_t>(j)], kBaseMs + 1000 + j);
      REQUIRE(a.wrote_offset == b.wrote_offset);
      REQUIRE(a.logics_offset == b.logics_offset);
    }
    kept.insert(kept.end(), fresh.begin(), fresh.end());
    check_contents(s, kept);
    check_same_files(store_files(fs, "/s"), store_files(rfs, "/s"));
  }
}

TEST_CASE("a cut at a segment start keeps the BLANK before it; the next put opens that segment") {
  FaultInjectingFileSystem fs;
  MessageStore s(config("/s", 1024), fs, quiet_log());
  REQUIRE(s.open().ok());
  auto old = specs("old", 0, 30);
  std::vector<PutMessageResult> puts;
  for (int i = 0; i < 30; ++i) puts.push_back(put(s, old[static_cast<size_t>(i)], kBaseMs + i));
  int k = 1;
  while (puts[k].wrote_offset % 1024 != 0) ++k;
  const int64_t cut = puts[k].wrote_offset;
  REQUIRE(puts[k - 1].end_offset < cut);  // a BLANK sits between
  REQUIRE(s.truncate_commit_log(cut).ok());
  CHECK(s.max_phy_offset() == cut);
  check_contents(s, std::vector<Spec>(old.begin(), old.begin() + k));
  auto p = put(s, spec("new", 0), kBaseMs + 1000);
  CHECK(p.wrote_offset == cut);
  REQUIRE(s.shutdown().ok());
  MessageStore again(config("/s", 1024), fs, quiet_log());
  REQUIRE(again.open().ok());
  auto want = std::vector<Spec>(old.begin(), old.begin() + k);
  want.push_back(spec("new", 0));
  check_contents(again, want);
}

TEST_CASE("refusals change nothing; an offset at or past the end is a no-op") {
  FaultInjectingFileSystem fs;
  MessageStore s(config("/s", 1024), fs, quiet_log());
  {
    auto r = s.truncate_commit_log(0);  // not open
    REQUIRE_FALSE(r.ok());
    CHECK(r.code() == IoError::kIo);
  }
  REQUIRE(s.open().ok());
  auto old = specs("old", 0, 30);
  std::vector<PutMessageResult> puts;
  for (int i = 0; i < 30; ++i) puts.push_back(put(s, old[static_cast<size_t>(i)], kBaseMs + i));
  REQUIRE(s.flush().ok());
  const int64_t end = s.max_phy_offset();
  const auto before = store_files(fs, "/s");

  // Boundaries: every record start, every BLANK, every segment start, the end.
  std::set<int64_t> boundaries{end};
  for (const auto& p : puts) {
    boundaries.insert(p.wrote_offset);
    boundaries.insert(p.end_offset);  // the next record or a BLANK
  }
  for (int64_t seg = 0; seg < end; seg += 1024) boundaries.insert(seg);
  for (int64_t off = -3; off <= end + 3; ++off) {
    CAPTURE(off);
    CHECK(s.is_message_boundary(off) == (boundaries.count(off) > 0));
  }
  // A BLANK's zeros, the middle of a record, a header's bytes, below the start.
  int64_t blank = -1;
  for (size_t i = 1; i < puts.size() && blank < 0; ++i)
    if (puts[i].wrote_offset != puts[i - 1].end_offset) blank = puts[i - 1].end_offset;
  REQUIRE(blank > 0);
  for (int64_t off : {puts[5].wrote_offset + 1, puts[5].wrote_offset + 4, puts[5].wrote_offset + 8,
                      puts[5].wrote_offset + puts[5].wrote_bytes / 2, blank + 8, blank + 20, end - 1, int64_t{-1}}) {
    CAPTURE(off);
    auto r = s.truncate_commit_log(off);
    REQUIRE_FALSE(r.ok());
    CHECK(r.code() == IoError::kCorrupt);
    CHECK(s.max_phy_offset() == end);
    CHECK(s.is_writable());
  }
  for (int64_t off : {end, end + 1, end + 5000}) REQUIRE(s.truncate_commit_log(off).ok());
  CHECK(s.max_phy_offset() == end);
  CHECK(store_files(fs, "/s") == before);
  check_contents(s, old);
}

TEST_CASE("truncate to the first offset empties the log; queue offsets start again at 0") {
  FaultInjectingFileSystem fs;
  MessageStore s(config("/s", 1024), fs, quiet_log());
  REQUIRE(s.open().ok());
  auto old = specs("old", 0, 25);
  for (int i = 0; i < 25; ++i) put(s, old[static_cast<size_t>(i)], kBaseMs + i);
  REQUIRE(s.truncate_commit_log(0).ok());
  CHECK(s.max_phy_offset() == 0);
  CHECK(s.min_phy_offset() == 0);
  CHECK(s.earliest_message_time() == -1);
  for (const char* topic : {"TA", "TB"})
    for (int32_t q = 0; q < 3; ++q) {
      CHECK(s.max_offset_in_queue(topic, q) == 0);
      CHECK(s.get_message(topic, q, 0, 32, 1 << 20).status == GetMessageStatus::kNoMessageInQueue);
    }
  auto p = put(s, spec("new", 3), kBaseMs + 100);
  CHECK(p.wrote_offset == 0);
  CHECK(p.logics_offset == 0);
  // A second cut, then a kill -9 (the page cache survives) and a restart.
  put(s, spec("new", 4), kBaseMs + 101);
  auto third = put(s, spec("new", 5), kBaseMs + 102);
  REQUIRE(s.truncate_commit_log(third.wrote_offset).ok());
  MessageStore again(config("/s", 1024), fs, quiet_log());
  auto rep = again.open();
  REQUIRE(rep.ok());
  CHECK(rep->abnormal);
  check_contents(again, {spec("new", 3), spec("new", 4)});
}

TEST_CASE("a restart after a truncation recovers exactly the truncated log: clean stop, kill -9, OS crash") {
  enum class Stop { kClean, kKill, kOsCrash, kOsCrashTorn };
  for (Stop stop : {Stop::kClean, Stop::kKill, Stop::kOsCrash, Stop::kOsCrashTorn}) {
    for (bool older_segment : {false, true}) {
      CAPTURE(static_cast<int>(stop));
      CAPTURE(older_segment);
      FaultInjectingFileSystem fs;
      Random rng(7 + static_cast<uint64_t>(stop));
      auto old = specs("old", 0, 50);
      std::vector<PutMessageResult> puts;
      int64_t cut = 0;
      int k = 0;
      {
        MessageStore s(config("/s", 2048, 4), fs, quiet_log());
        REQUIRE(s.open().ok());
        for (int i = 0; i < 50; ++i) {
          puts.push_back(put(s, old[static_cast<size_t>(i)], kBaseMs + i));
          if (i % 7 == 0) REQUIRE(s.flush().ok());
        }
        REQUIRE(s.flush().ok());  // the old tail is durable: it must not come back
        k = older_segment ? 9 : 46;
        cut = puts[k].wrote_offset;
        REQUIRE((cut / 2048 < s.max_phy_offset() / 2048) == older_segment);
        REQUIRE(s.truncate_commit_log(cut).ok());
        if (stop == Stop::kClean) REQUIRE(s.shutdown().ok());
      }
      if (stop == Stop::kOsCrash) fs.crash();
      if (stop == Stop::kOsCrashTorn) fs.crash(&rng);
      MessageStore s(config("/s", 2048, 4), fs, quiet_log());
      auto rep = s.open();
      REQUIRE_MESSAGE(rep.ok(), (rep.ok() ? "" : rep.detail()));
      CHECK(rep->abnormal == (stop != Stop::kClean));
      CHECK(rep->commit_log_end == cut);
      CHECK(s.max_phy_offset() == cut);
      std::vector<Spec> kept(old.begin(), old.begin() + k);
      check_contents(s, kept);
      auto p = put(s, spec("new", 0), kBaseMs + 1000);
      CHECK(p.wrote_offset == cut);
      CHECK(p.logics_offset == count_in_queue(kept, "TA", 0));
    }
  }
}

TEST_CASE("after a cut, records from a clock behind the old one's lose no ConsumeQueue unit in an OS crash") {
  // The checkpoint's timestamp comes from the cut records; the new ones are older, so the
  // timestamp rule alone would start abnormal recovery at the newest segment. The dispatch mark,
  // moved back to the cut (and only forward again by a flush that synced the units), keeps the
  // re-dispatch start at or before every record whose units were not synced.
  FaultInjectingFileSystem fs;
  auto old = specs("old", 0, 60);
  auto fresh = specs("new", 0, 60);
  const int k = 5;
  {
    MessageStore s(config("/s", 1024, 4), fs, quiet_log());
    REQUIRE(s.open().ok());
    std::vector<PutMessageResult> puts;
    for (int i = 0; i < 60; ++i) puts.push_back(put(s, old[static_cast<size_t>(i)], kBaseMs + i));
    REQUIRE(s.flush().ok());  // checkpoint: the old records' time, the mark at their end
    REQUIRE(s.truncate_commit_log(puts[k].wrote_offset).ok());
    for (int j = 0; j < 60; ++j) put(s, fresh[static_cast<size_t>(j)], kBaseMs - 3'600'000 + j);
    REQUIRE(s.max_phy_offset() > puts[k].wrote_offset + 4 * 1024);  // more than three segments
    REQUIRE(s.flush_commit_log().ok());  // group commit: the CommitLog only
  }
  fs.crash();
  MessageStore s(config("/s", 1024, 4), fs, quiet_log());
  auto rep = s.open();
  REQUIRE_MESSAGE(rep.ok(), (rep.ok() ? "" : rep.detail()));
  CHECK(rep->abnormal);
  std::vector<Spec> want(old.begin(), old.begin() + k);
  want.insert(want.end(), fresh.begin(), fresh.end());
  check_contents(s, want);
}

TEST_CASE("crash sweep: after a cut and new puts, recovery finds the kept records, then new ones, never the old tail") {
  for (uint64_t seed = 1; seed <= 120; ++seed) {
    CAPTURE(seed);
    Random rng(seed);
    FaultInjectingFileSystem fs;
    const int64_t seg = rng.chance(1, 2) ? 1024 : 2048;
    const int n = static_cast<int>(rng.uniform(1, 60));
    auto old = specs("old", 0, n);
    std::vector<Spec> kept, fresh;
    size_t durable = 0;  // of `fresh`: the first `durable` were flushed
    {
      MessageStore s(config("/s", seg, 4), fs, quiet_log());
      REQUIRE(s.open().ok());
      std::vector<PutMessageResult> puts;
      for (int i = 0; i < n; ++i) {
        puts.push_back(put(s, old[static_cast<size_t>(i)], kBaseMs + i));
        if (rng.chance(1, 5)) REQUIRE(s.flush().ok());
      }
      if (rng.chance(1, 2)) REQUIRE(s.flush().ok());
      if (rng.chance(1, 3)) REQUIRE(s.precreate_next_file().ok());
      // A record start, a record end (maybe a BLANK) or the end of the log.
      const int k = static_cast<int>(rng.uniform(0, n));
      int64_t cut = k == n ? s.max_phy_offset() : rng.chance(1, 2) || k == 0 ? puts[k].wrote_offset : puts[k - 1].end_offset;
      // A cut at the end is a no-op and syncs nothing; the kept records must be durable for the
      // checks below, as a real cut makes them.
      if (k == n) REQUIRE(s.flush_commit_log().ok());
      REQUIRE(s.truncate_commit_log(cut).ok());
      REQUIRE(s.max_phy_offset() == cut);
      kept.assign(old.begin(), old.begin() + k);
      // Sometimes a second, deeper cut.
      if (k > 0 && rng.chance(1, 4)) {
        const int k2 = static_cast<int>(rng.uniform(0, k - 1));
        REQUIRE(s.truncate_commit_log(puts[k2].wrote_offset).ok());
        kept.resize(static_cast<size_t>(k2));
      }
      // A new master's clock may be behind the old one's.
      const int64_t new_base_ms = rng.chance(1, 2) ? kBaseMs + 1000 : kBaseMs - 1'000'000;
      const int m = static_cast<int>(rng.uniform(0, 40));
      for (int j = 0; j < m; ++j) {
        fresh.push_back(spec("new", j));
        put(s, fresh.back(), new_base_ms + j);
        if (rng.chance(1, 6)) {
          REQUIRE((rng.chance(1, 2) ? s.flush() : s.flush_commit_log()).ok());
          durable = fresh.size();
        }
        if (rng.chance(1, 10)) REQUIRE(s.precreate_next_file().ok());
      }
      switch (rng.uniform(0, 3)) {
        case 0:
          REQUIRE(s.shutdown().ok());
          durable = fresh.size();
          break;
        case 1:
          durable = fresh.size();  // kill -9: the page cache keeps everything
          break;
        case 2:
          break;
        default:
          break;
      }
    }
    // An OS crash (the store object is gone, as after kill -9): only synced bytes count, torn or not.
    if (durable < fresh.size()) fs.crash(rng.chance(1, 2) ? &rng : nullptr);
    MessageStore s(config("/s", seg, 4), fs, quiet_log());
    auto rep = s.open();
    REQUIRE_MESSAGE(rep.ok(), (rep.ok() ? "" : rep.detail()));
    // kept records, then a prefix of the new ones holding at least the durable ones.
    auto bodies = log_bodies(s);
    REQUIRE(bodies.size() >= kept.size() + durable);
    REQUIRE(bodies.size() <= kept.size() + fresh.size());
    std::vector<Spec> want = kept;
    want.insert(want.end(), fresh.begin(), fresh.begin() + static_cast<std::ptrdiff_t>(bodies.size() - kept.size()));
    check_contents(s, want);
    for (const auto& b : bodies) {
      const bool from_old_run = b.rfind("old-", 0) == 0;
      const bool kept_one = std::any_of(kept.begin(), kept.end(), [&](const Spec& m) { return m.body == b; });
      CHECK((!from_old_run || kept_one));
    }
    // And the store goes on from there.
    auto p = s.put_message(to_store(spec("after", 0)), kBaseMs + 5000);
    REQUIRE(p.ok());
    CHECK(p.wrote_offset == s.max_phy_offset() - p.wrote_bytes);
  }
}

namespace {

// The CommitLog bytes of `m` from `from` to its end.
std::string commit_log_bytes(MessageStore& m, int64_t from) {
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

// Appends `bytes` (starting at commit log offset `from`) in chunks of 1 byte to 3 KiB.
void replicate(MessageStore& s, int64_t from, std::string_view bytes, Random& rng) {
  size_t done = 0;
  while (done < bytes.size()) {
    size_t n = std::min(bytes.size() - done, static_cast<size_t>(rng.chance(1, 4) ? rng.uniform(1, 40) : rng.uniform(1, 3000)));
    auto r = s.append_replicated(from + static_cast<int64_t>(done), bytes.substr(done, n), 0);
    REQUIRE_MESSAGE(r.ok(), r.detail());
    done += n;
  }
}

}  // namespace

TEST_CASE("slave: truncated at the consistent point, then fed the new master's different bytes at the same offsets") {
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    CAPTURE(seed);
    Random rng(seed);
    // Old master A; the slave S copied all of it; the new master B had A's log up to the point,
    // then took different messages.
    FaultInjectingFileSystem afs, sfs, bfs;
    MessageStore a(config("/a", 2048, 4), afs, quiet_log());
    MessageStore sl(config("/s", 2048, 4), sfs, quiet_log());
    MessageStore b(config("/b", 2048, 4), bfs, quiet_log());
    REQUIRE(a.open().ok());
    REQUIRE(sl.open().ok());
    REQUIRE(b.open().ok());
    auto old = specs("old", 0, 60);
    std::vector<PutMessageResult> puts;
    for (int i = 0; i < 60; ++i) puts.push_back(put(a, old[static_cast<size_t>(i)], kBaseMs + i));
    const std::string a_log = commit_log_bytes(a, 0);
    replicate(sl, 0, a_log, rng);
    REQUIRE(sl.max_phy_offset() == a.max_phy_offset());
    const int k = static_cast<int>(rng.uniform(0, 55));
    const int64_t point = puts[k].wrote_offset;
    replicate(b, 0, std::string_view(a_log).substr(0, static_cast<size_t>(point)), rng);
    auto fresh = specs("new", 0, 45);
    for (int j = 0; j < 45; ++j) put(b, fresh[static_cast<size_t>(j)], kBaseMs + 2000 + j);

    // The HA handshake: cut at the consistent point, then transfer from there.
    REQUIRE(sl.is_message_boundary(point));
    REQUIRE(sl.truncate_commit_log(point).ok());
    CHECK(sl.max_phy_offset() == point);
    // The old master's next chunk no longer fits; the new master's does.
    CHECK_FALSE(sl.append_replicated(a.max_phy_offset(), "x", 0).ok());
    replicate(sl, point, commit_log_bytes(b, point), rng);
    CHECK(sl.max_phy_offset() == b.max_phy_offset());
    CHECK(sl.dispatched_offset() == b.max_phy_offset());
    std::vector<Spec> want(old.begin(), old.begin() + k);
    want.insert(want.end(), fresh.begin(), fresh.end());
    check_contents(sl, want);
    check_contents(b, want);
    check_same_files(store_files(sfs, "/s"), store_files(bfs, "/b"));
    for (const char* topic : {"TA", "TB"})
      for (int32_t q = 0; q < 3; ++q) CHECK(sl.max_offset_in_queue(topic, q) == b.max_offset_in_queue(topic, q));

    // A kill -9 (odd seeds) or an OS crash after the slave flushed: still the new master's log.
    REQUIRE(sl.flush().ok());
    if (seed % 2 == 0) sfs.crash(&rng);
    MessageStore again(config("/s", 2048, 4), sfs, quiet_log());
    auto rep = again.open();
    REQUIRE(rep.ok());
    CHECK(rep->abnormal);
    check_contents(again, want);
    check_same_files(store_files(sfs, "/s"), store_files(bfs, "/b"));
  }
}

TEST_CASE("slave: an incomplete replicated tail is cut at the dispatch cursor") {
  FaultInjectingFileSystem afs, sfs, bfs;
  MessageStore a(config("/a", 2048, 4), afs, quiet_log());
  MessageStore sl(config("/s", 2048, 4), sfs, quiet_log());
  MessageStore b(config("/b", 2048, 4), bfs, quiet_log());
  REQUIRE(a.open().ok());
  REQUIRE(sl.open().ok());
  REQUIRE(b.open().ok());
  auto old = specs("old", 0, 30);
  std::vector<PutMessageResult> puts;
  for (int i = 0; i < 30; ++i) puts.push_back(put(a, old[static_cast<size_t>(i)], kBaseMs + i));
  const std::string a_log = commit_log_bytes(a, 0);
  // The slave got A's log up to the middle of record 20.
  const int64_t point = puts[20].wrote_offset;
  REQUIRE(sl.append_replicated(0, std::string_view(a_log).substr(0, static_cast<size_t>(point + puts[20].wrote_bytes / 2)), 0).ok());
  CHECK(sl.dispatched_offset() == point);
  CHECK(sl.max_phy_offset() > point);
  CHECK(sl.is_message_boundary(point));
  CHECK_FALSE(sl.is_message_boundary(point + 1));
  CHECK(sl.is_message_boundary(sl.max_phy_offset()));  // the end of the log, a no-op to cut there
  REQUIRE(sl.truncate_commit_log(sl.max_phy_offset()).ok());
  REQUIRE(sl.truncate_commit_log(point).ok());
  CHECK(sl.max_phy_offset() == point);
  // The new master B has A's first 20 records, then others.
  Random rng(3);
  replicate(b, 0, std::string_view(a_log).substr(0, static_cast<size_t>(point)), rng);
  auto fresh = specs("new", 0, 20);
  for (int j = 0; j < 20; ++j) put(b, fresh[static_cast<size_t>(j)], kBaseMs + 2000 + j);
  replicate(sl, point, commit_log_bytes(b, point), rng);
  std::vector<Spec> want(old.begin(), old.begin() + 20);
  want.insert(want.end(), fresh.begin(), fresh.end());
  check_contents(sl, want);
  check_same_files(store_files(sfs, "/s"), store_files(bfs, "/b"));
}

TEST_CASE("the IndexFile after a cut: records appended at the cut offsets are found, stale entries find nothing") {
  FaultInjectingFileSystem fs;
  IndexConfig ic;
  ic.dir = "/s/index";
  ic.max_hash_slot_num = 64;
  ic.max_index_num = 1000;
  IndexService idx(ic, fs, quiet_log());
  REQUIRE(idx.load().ok());
  MessageStore s(config("/s", 4096), fs, quiet_log());
  s.add_dispatcher(&idx);
  REQUIRE(s.open().ok());
  auto old = specs("old", 0, 30);
  std::vector<PutMessageResult> puts;
  for (int i = 0; i < 30; ++i) puts.push_back(put(s, old[static_cast<size_t>(i)], kBaseMs + i));
  const int k = 12;
  const int64_t cut = puts[k].wrote_offset;
  const int64_t index_end = idx.files().back()->end_phy_offset();
  REQUIRE(index_end > cut);
  REQUIRE(s.truncate_commit_log(cut).ok());
  CHECK(idx.files().back()->end_phy_offset() < cut);  // moved back: new records get indexed
  CHECK(idx.error_reason().empty());

  // What QUERY_MESSAGE does: read the record at each offset the index names, keep true matches.
  auto lookup = [&](const Spec& m) {
    std::vector<int64_t> found;
    auto r = idx.query_offset(m.topic, m.key, 32, 0, INT64_MAX);
    REQUIRE(r.ok());
    for (int64_t off : r->phy_offsets) {
      auto bytes = s.message_by_offset(off);
      if (!bytes.ok()) continue;
      auto rec = decode_record(*bytes);
      REQUIRE(rec.ok());
      CHECK(rec->physical_offset == off);
      if (rec->topic == m.topic && find_property(rec->properties, property::kKeys) == m.key) found.push_back(off);
    }
    return found;
  };
  for (int i = 0; i < k; ++i) CHECK(lookup(old[static_cast<size_t>(i)]) == std::vector<int64_t>{puts[i].wrote_offset});
  for (int i = k; i < 30; ++i) {
    CAPTURE(i);
    CHECK(lookup(old[static_cast<size_t>(i)]).empty());
  }
  // New records of other sizes over the cut offsets: indexed, and the old keys still find nothing
  // (their entries now point into the middle of new records, or at records with other keys).
  std::vector<PutMessageResult> news;
  for (int j = 0; j < 25; ++j) {
    Spec m = spec("new", j);
    m.body += std::string(static_cast<size_t>(j * 13 % 70), 'y');
    news.push_back(put(s, m, kBaseMs + 1000 + j));
    CHECK(lookup(m) == std::vector<int64_t>{news.back().wrote_offset});
  }
  for (int i = k; i < 30; ++i) {
    CAPTURE(i);
    CHECK(lookup(old[static_cast<size_t>(i)]).empty());
    // Where an old record started inside a new one, the bytes there are not handed out.
    bool starts_new = std::any_of(news.begin(), news.end(), [&](const PutMessageResult& p) { return p.wrote_offset == puts[i].wrote_offset; });
    if (!starts_new && puts[i].wrote_offset < s.max_phy_offset()) CHECK_FALSE(s.message_by_offset(puts[i].wrote_offset).ok());
  }
  REQUIRE(s.shutdown().ok());
  REQUIRE(idx.shutdown().ok());
}

TEST_CASE("a failed fsync part way stops the store; a restart finds the cut or a longer prefix of the old log") {
  for (bool os_crash : {false, true}) {
    CAPTURE(os_crash);
    FaultInjectingFileSystem fs;
    auto old = specs("old", 0, 40);
    std::vector<PutMessageResult> puts;
    const int k = 8;
    {
      MessageStore s(config("/s", 1024), fs, quiet_log());
      REQUIRE(s.open().ok());
      for (int i = 0; i < 40; ++i) puts.push_back(put(s, old[static_cast<size_t>(i)], kBaseMs + i));
      REQUIRE(s.flush().ok());
      fs.fail_syncs_after(0);
      auto r = s.truncate_commit_log(puts[k].wrote_offset);
      REQUIRE_FALSE(r.ok());
      CHECK(r.code() == IoError::kIo);
      CHECK_FALSE(s.is_writable());
      CHECK(s.writability_reason().find("truncate the commit log") != std::string::npos);
      CHECK(s.put_message(to_store(spec("new", 0)), kBaseMs + 100).status == PutMessageStatus::kServiceNotAvailable);
      CHECK_FALSE(s.truncate_commit_log(0).ok());
      fs.clear_faults();
    }
    if (os_crash) fs.crash();
    MessageStore s(config("/s", 1024), fs, quiet_log());
    auto rep = s.open();
    REQUIRE_MESSAGE(rep.ok(), (rep.ok() ? "" : rep.detail()));
    auto bodies = log_bodies(s);
    REQUIRE(bodies.size() >= static_cast<size_t>(k));
    std::vector<Spec> want(old.begin(), old.begin() + static_cast<std::ptrdiff_t>(bodies.size()));
    check_contents(s, want);
    if (!os_crash) CHECK(bodies.size() == static_cast<size_t>(k));  // the zeros were in the page cache
  }
}

TEST_CASE("mapped segments on the real file system: cut in the mapped last segment and in an older one") {
  for (bool older_segment : {false, true}) {
    CAPTURE(older_segment);
    test::TempDir dir;
    test::TempDir ref;
    PosixFileSystem fs;
    auto cfg = config(dir.path(), 16 * 1024, 8);
    REQUIRE(cfg.append_by_mmap);
    auto old = specs("old", 0, 120);
    std::vector<PutMessageResult> puts;
    int k = 0;
    {
      MessageStore s(cfg, fs, quiet_log());
      REQUIRE(s.open().ok());
      for (int i = 0; i < 120; ++i) {
        puts.push_back(put(s, old[static_cast<size_t>(i)], kBaseMs + i));
        if (s.needs_precreate()) REQUIRE(s.precreate_next_file().ok());
      }
      REQUIRE(s.flush().ok());
      k = older_segment ? 20 : 117;
      REQUIRE((puts[k].wrote_offset / cfg.mapped_file_size_commit_log <
               s.max_phy_offset() / cfg.mapped_file_size_commit_log) == older_segment);
      REQUIRE(s.truncate_commit_log(puts[k].wrote_offset).ok());
      for (int j = 0; j < 30; ++j) {
        put(s, spec("new", j), kBaseMs + 1000 + j);
        if (s.needs_precreate()) REQUIRE(s.precreate_next_file().ok());
      }
      // kill -9: no shutdown.
    }
    std::vector<Spec> want(old.begin(), old.begin() + k);
    auto fresh = specs("new", 0, 30);
    want.insert(want.end(), fresh.begin(), fresh.end());
    MessageStore s(cfg, fs, quiet_log());
    auto rep = s.open();
    REQUIRE_MESSAGE(rep.ok(), (rep.ok() ? "" : rep.detail()));
    CHECK(rep->abnormal);
    check_contents(s, want);
    REQUIRE(s.shutdown().ok());
    // The same files as a store that only ever held `want` (same puts, same times).
    MessageStore r(config(ref.path(), 16 * 1024, 8), fs, quiet_log());
    REQUIRE(r.open().ok());
    for (int i = 0; i < k; ++i) put(r, old[static_cast<size_t>(i)], kBaseMs + i);
    for (int j = 0; j < 30; ++j) put(r, fresh[static_cast<size_t>(j)], kBaseMs + 1000 + j);
    REQUIRE(r.shutdown().ok());
    check_same_files(store_files(fs, dir.path()), store_files(fs, ref.path()));
  }
}
