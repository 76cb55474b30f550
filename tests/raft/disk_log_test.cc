// The disk log (raft/disk_log.h) in a temporary directory: DLedger layout, rolling over files,
// truncation of a suffix, recovery that stops at a torn or CRC-failing entry, the stores of a real
// Java 4.9.4 DLedger group (fixtures/java494-dledger), currterm and checkpoint byte for byte, the
// append hook, sync jobs on another thread, and the fault-injecting file system.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "tests/store/test_util.h"
#include "tests/support/fixture_files.h"
#include "tests/support/temp_dir.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "base/bytes.h"
#include "base/clock.h"
#include "raft/disk_log.h"
#include "raft/entry_codec.h"
#include "raft/wire.h"
#include "store/fault_fs.h"

using namespace mq;
using namespace mq::raft;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

using mq::test::TempDir;

store::PosixFileSystem posix;

std::vector<Entry> make_entries(int64_t first, int64_t count, int64_t term, size_t body = 100) {
  std::vector<Entry> v;
  for (int64_t i = 0; i < count; ++i) {
    Entry e;
    e.index = RaftIndex{first + i};
    e.term = Term{term};
    e.data = std::string(body, static_cast<char>('a' + (first + i) % 26));
    e.data += std::to_string(first + i);
    v.push_back(e);
  }
  return v;
}

DiskLogOptions small() {
  DiskLogOptions o;
  o.data_file_size = 4096;   // a few dozen entries per file, so rolling is exercised
  o.index_file_size = 32 * 64;
  return o;
}

std::string data_file(const std::string& dir, int64_t start) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020lld", static_cast<long long>(start));
  return dir + "/data/" + buf;
}

void poke(const std::string& path, int64_t off, const std::string& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY);
  REQUIRE(fd >= 0);
  REQUIRE(::pwrite(fd, bytes.data(), bytes.size(), off) == static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

const std::string kFixtures = std::string(MQ_FIXTURES_DIR) + "/java494-dledger";

const json& manifest() {
  static const json m = json::parse(test::read_file(kFixtures + ".manifest.json"));
  return m;
}

// The fixture's DLedger directory of `node` copied under `tmp` and every file extended back to its
// manifest length (the fixture is stored without trailing zeros).
std::string copy_fixture_node(const TempDir& tmp, const std::string& node) {
  const std::string rel = node + "/dledger-" + node, dir = tmp.path() + "/dledger-" + node;
  test::copy_tree(kFixtures + "/" + rel, dir);
  const json& files = manifest()["files"];
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    const std::string key = rel + "/" + fs::relative(e.path(), dir).string();
    REQUIRE(files.contains(key));
    fs::resize_file(e.path(), files[key]["length"].get<uintmax_t>());
  }
  return dir;
}

DiskLogOptions java_options() {
  DiskLogOptions o;
  o.data_file_size = 65536;  // the fixture's mappedFileSizeCommitLog; index files keep the default
  return o;
}

std::string peer_n(NodeId id) { return "n" + std::to_string(id); }

// A commit log record's PHYSICALOFFSET (message format v1: after TOTALSIZE, MAGIC, BODYCRC,
// QUEUEID, FLAG and QUEUEOFFSET).
constexpr size_t kPhysicalOffsetAt = 28;

}  // namespace

TEST_CASE("DiskLog: append, read back, reopen; entries roll over files with BLANK padding") {
  TempDir d;
  auto entries = make_entries(1, 200, 1);
  {
    auto log = DiskLog::open(posix, d.path(), small());
    REQUIRE(log.ok());
    CHECK((*log)->empty());
    REQUIRE((*log)->append(entries).ok());
    REQUIRE((*log)->sync().ok());
    CHECK((*log)->last_index().value == 200);
    auto e = (*log)->read(RaftIndex{150});
    REQUIRE(e.ok());
    CHECK(*e == entries[149]);
  }
  auto log = DiskLog::open(posix, d.path(), small());
  REQUIRE(log.ok());
  CHECK((*log)->recovery().stopped_because.empty());
  CHECK((*log)->first_index().value == 1);
  CHECK((*log)->last_index().value == 200);
  auto all = (*log)->read_all();
  REQUIRE(all.ok());
  CHECK(*all == entries);
  // Several data files, each but the last ending in a BLANK record; pos is the global position.
  CHECK(fs::exists(data_file(d.path(), 4096)));
  auto pos = (*log)->pos_of(RaftIndex{1});
  REQUIRE(pos.ok());
  CHECK(*pos == 0);
  auto pos2 = (*log)->pos_of(RaftIndex{2});
  CHECK(*pos2 == static_cast<int64_t>(48 + entries[0].data.size()));
  std::ifstream f(data_file(d.path(), 0), std::ios::binary);
  std::string head(48, '\0');
  f.read(head.data(), 48);
  const auto* b = reinterpret_cast<const uint8_t*>(head.data());
  CHECK(get_be32(b) == 1);
  CHECK(get_be64(b + 8) == 0);  // DLedger index 0 = Raft index 1
  // Index unit of entry 2 at byte 32: magic | pos | size | index | term.
  std::ifstream idx(d.path() + "/index/00000000000000000000", std::ios::binary);
  std::string unit(64, '\0');
  idx.read(unit.data(), 64);
  const auto* u = reinterpret_cast<const uint8_t*>(unit.data()) + 32;
  CHECK(get_be32(u) == 1);
  CHECK(static_cast<int64_t>(get_be64(u + 4)) == *pos2);
  CHECK(get_be64(u + 16) == 1);
}

TEST_CASE("DiskLog: appending below the end overwrites the conflicting suffix") {
  TempDir d;
  auto log = DiskLog::open(posix, d.path(), small());
  REQUIRE(log.ok());
  REQUIRE((*log)->append(make_entries(1, 120, 1)).ok());
  auto replacement = make_entries(50, 10, 2, 7);
  REQUIRE((*log)->append(replacement).ok());
  REQUIRE((*log)->sync().ok());
  CHECK((*log)->last_index().value == 59);
  auto e = (*log)->read(RaftIndex{50});
  REQUIRE(e.ok());
  CHECK(e->term.value == 2);
  CHECK((*log)->read(RaftIndex{60}).code() == DiskError::kOutOfRange);
  // Appending after a gap is refused.
  CHECK((*log)->append(make_entries(70, 1, 2)).code() == DiskError::kOutOfRange);
  log->reset();
  auto again = DiskLog::open(posix, d.path(), small());
  REQUIRE(again.ok());
  CHECK((*again)->recovery().stopped_because.empty());
  CHECK((*again)->last_index().value == 59);
  auto all = (*again)->read_all();
  REQUIRE(all.ok());
  CHECK((*all)[48].term.value == 1);
  CHECK((*all)[49] == replacement[0]);
  // Truncating everything and starting over works too.
  REQUIRE((*again)->truncate_suffix(RaftIndex{1}).ok());
  CHECK((*again)->empty());
  REQUIRE((*again)->append(make_entries(1, 3, 5)).ok());
  CHECK((*again)->read(RaftIndex{3})->term.value == 5);
}

TEST_CASE("DiskLog: recovery stops at a torn tail and discards it") {
  TempDir d;
  int64_t torn_pos = 0;
  {
    auto log = DiskLog::open(posix, d.path(), small());
    REQUIRE(log.ok());
    REQUIRE((*log)->append(make_entries(1, 30, 1)).ok());
    torn_pos = *(*log)->pos_of(RaftIndex{30});
    REQUIRE((*log)->sync().ok());
  }
  // The last entry's body was only half written when the machine died: zeros from mid-body on.
  const int64_t file_start = torn_pos - torn_pos % 4096;
  poke(data_file(d.path(), file_start), torn_pos - file_start + 60, std::string(200, '\0'));
  auto log = DiskLog::open(posix, d.path(), small());
  REQUIRE(log.ok());
  CHECK((*log)->last_index().value == 29);
  CHECK_FALSE((*log)->recovery().stopped_because.empty());
  CHECK((*log)->end_pos() == torn_pos);
  // The log continues cleanly from there.
  REQUIRE((*log)->append(make_entries(30, 5, 2)).ok());
  REQUIRE((*log)->sync().ok());
  log->reset();
  auto again = DiskLog::open(posix, d.path(), small());
  REQUIRE(again.ok());
  CHECK((*again)->recovery().stopped_because.empty());
  CHECK((*again)->last_index().value == 34);
}

TEST_CASE("DiskLog: recovery stops at the first entry failing its CRC, later files included") {
  TempDir d;
  {
    auto log = DiskLog::open(posix, d.path(), small());
    REQUIRE(log.ok());
    REQUIRE((*log)->append(make_entries(1, 200, 1)).ok());
    REQUIRE((*log)->sync().ok());
  }
  // Flip one body byte of entry 40 (bit rot): entries 40.. are gone, files after it deleted.
  int64_t pos40 = 0;
  {
    auto log = DiskLog::open(posix, d.path(), small());
    pos40 = *(*log)->pos_of(RaftIndex{40});
  }
  const int64_t start = pos40 - pos40 % 4096;
  poke(data_file(d.path(), start), pos40 - start + 50, "Z");
  auto log = DiskLog::open(posix, d.path(), small());
  REQUIRE(log.ok());
  CHECK((*log)->last_index().value == 39);
  CHECK((*log)->recovery().stopped_because.find("CRC") != std::string::npos);
  CHECK((*log)->recovery().discarded_bytes > 0);
  CHECK_FALSE(fs::exists(data_file(d.path(), start + 4096)));
  auto all = (*log)->read_all();
  REQUIRE(all.ok());
  CHECK(all->size() == 39);
}

TEST_CASE("DiskLog: a stale entry left behind cannot pass the chain CRC") {
  TempDir d;
  int64_t pos6 = 0;
  std::string old6;
  {
    auto log = DiskLog::open(posix, d.path(), small());
    REQUIRE(log.ok());
    REQUIRE((*log)->append(make_entries(1, 4, 1)).ok());
    REQUIRE((*log)->append(make_entries(5, 2, 3)).ok());
    pos6 = *(*log)->pos_of(RaftIndex{6});
    REQUIRE((*log)->sync().ok());
    std::ifstream f(data_file(d.path(), 0), std::ios::binary);
    f.seekg(pos6);
    old6.resize(48 + 101);
    f.read(old6.data(), static_cast<std::streamsize>(old6.size()));
    // Overwrite 5.. with an entry of the same size but another term.
    REQUIRE((*log)->append(make_entries(5, 1, 2)).ok());
    REQUIRE((*log)->sync().ok());
    CHECK(*(*log)->pos_of(RaftIndex{5}) + 48 + 101 == pos6);
  }
  // A crash "resurrects" the old entry 6 right where it was: index, term order, pos and body CRC
  // all look right; only its chain CRC (computed over the old entry 5) gives it away.
  poke(data_file(d.path(), 0), pos6, old6);
  auto log = DiskLog::open(posix, d.path(), small());
  REQUIRE(log.ok());
  CHECK((*log)->last_index().value == 5);
  CHECK((*log)->read(RaftIndex{5})->term.value == 2);
  CHECK((*log)->recovery().stopped_because == "chain CRC mismatch");
}

TEST_CASE("Hard state: saved atomically and loaded back; absent and corrupt files") {
  TempDir d;
  auto none = load_hard_state(posix, d.path());
  REQUIRE(none.ok());
  CHECK_FALSE(none->has_value());
  HardState hs{Term{9}, 2, RaftIndex{0}};
  REQUIRE(save_hard_state(posix, d.path(), hs).ok());
  auto got = load_hard_state(posix, d.path());
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  CHECK(**got == hs);
  // The commit index lives in the checkpoint, not in currterm.
  REQUIRE(save_hard_state(posix, d.path(), HardState{Term{9}, 2, RaftIndex{77}}).ok());
  CHECK(**load_hard_state(posix, d.path()) == hs);
  HardState novote{Term{10}, kNoNode, RaftIndex{0}};
  REQUIRE(save_hard_state(posix, d.path(), novote).ok());
  CHECK(**load_hard_state(posix, d.path()) == novote);
  CHECK_FALSE(fs::exists(d.path() + "/currterm.tmp"));
  // A leftover temp file from a crash mid-save is ignored.
  std::ofstream(d.path() + "/currterm.tmp") << "currTerm=99\n";
  CHECK(**load_hard_state(posix, d.path()) == novote);
  // What this file wrote before the checkpoint existed still loads.
  std::ofstream(d.path() + "/currterm") << "currTerm=4\nvoteLeader=3\ncommittedIndex=12\n";
  CHECK(**load_hard_state(posix, d.path()) == HardState{Term{4}, 3, RaftIndex{12}});
  for (const char* bad :
       {"currTerm=x\n", "voteLeader=n1\n", "currTerm=1\nvoteLeader=nx\n", "currTerm=1\nfoo=2\n"}) {
    CAPTURE(bad);
    std::ofstream(d.path() + "/currterm") << bad;
    CHECK(load_hard_state(posix, d.path()).code() == DiskError::kCorrupt);
  }
}

TEST_CASE("DiskLog + core: a follower persists through persist_ready, crashes, and recovers its log") {
  TempDir d;
  // The follower's disk holds a stale suffix (term 2) that the new leader (term 3) overwrites.
  std::vector<Entry> stale = make_entries(1, 5, 1);
  for (Entry& e : make_entries(6, 20, 2)) stale.push_back(e);
  {
    auto log = DiskLog::open(posix, d.path(), small());
    REQUIRE(log.ok());
    REQUIRE((*log)->append(stale).ok());
    REQUIRE((*log)->sync().ok());
    REQUIRE(save_hard_state(posix, d.path(), HardState{Term{2}, kNoNode, RaftIndex{}}).ok());
    REQUIRE(save_checkpoint(posix, d.path(), RaftIndex{25}, RaftIndex{5}).ok());
  }
  NodeConfig fc;
  fc.id = 1;
  fc.bootstrap.voters = {0, 1};
  NodeConfig lc = fc;
  lc.id = 0;
  PersistedState lps;
  lps.hard_state.term = Term{3};
  lps.entries = make_entries(1, 5, 1);
  for (Entry& e : make_entries(6, 30, 3)) lps.entries.push_back(e);
  Node leader(lc, lps);

  auto log = DiskLog::open(posix, d.path(), small());
  REQUIRE(log.ok());
  auto ps = load_persisted(**log, RaftIndex{0});
  REQUIRE(ps.ok());
  CHECK(ps->hard_state == HardState{Term{2}, kNoNode, RaftIndex{5}});
  Node follower(fc, *ps);
  CHECK(follower.last_index().value == 25);
  HardState last = ps->hard_state;
  int currterm_writes = 0;

  std::vector<Message> to_leader, to_follower;
  auto run = [&](Node& n, std::vector<Message>& out, bool persist) {
    while (n.has_ready()) {
      Ready rd = n.ready();
      if (persist) {
        const HardState before = last;
        REQUIRE(persist_ready(**log, rd, last).ok());
        if (rd.hard_state && (rd.hard_state->term != before.term || rd.hard_state->vote != before.vote))
          ++currterm_writes;
      }
      for (Message& m : rd.messages) out.push_back(m);
      n.advance(rd);
    }
  };
  leader.campaign();
  run(leader, to_follower, false);
  for (int round = 0; round < 30 && (!to_follower.empty() || !to_leader.empty()); ++round) {
    for (Message& m : to_follower) {
      follower.step(m);
      run(follower, to_leader, true);
    }
    to_follower.clear();
    for (Message& m : to_leader) {
      leader.step(m);
      run(leader, to_follower, false);
    }
    to_leader.clear();
  }
  REQUIRE(leader.role() == Role::kLeader);
  CHECK(follower.last_index() == leader.last_index());
  CHECK(follower.commit_index() == leader.commit_index());
  const std::vector<Entry> expected = follower.log();
  const RaftIndex commit = follower.commit_index();
  // currterm was rewritten for the new term only, not for every commit change.
  CHECK(currterm_writes == 1);
  CHECK(**load_hard_state(posix, d.path()) == HardState{leader.term(), 0, RaftIndex{5}});
  // At shutdown the glue saves the checkpoint.
  REQUIRE(save_checkpoint(posix, d.path(), (*log)->last_index(), commit).ok());
  log->reset();

  // Crash and recover from disk alone: the whole log, then only the suffix after `applied`.
  auto reopened = DiskLog::open(posix, d.path(), small());
  REQUIRE(reopened.ok());
  CHECK((*reopened)->recovery().stopped_because.empty());
  auto all = load_persisted(**reopened, RaftIndex{0});
  REQUIRE(all.ok());
  CHECK(all->entries == expected);
  CHECK(all->hard_state.commit == commit);
  Node again(fc, *all);
  CHECK(again.term() == leader.term());
  CHECK(again.vote() == 0);
  auto suffix = load_persisted(**reopened, RaftIndex{20});
  REQUIRE(suffix.ok());
  Node from_20(fc, *suffix);
  CHECK(from_20.log_offset().value == 20);
  CHECK(from_20.last_index() == leader.last_index());
  CHECK(from_20.term_at(RaftIndex{20}) == leader.term_at(RaftIndex{20}));
  // A state machine claiming more than the log holds is refused.
  CHECK_FALSE(load_persisted(**reopened, RaftIndex{1000}).ok());
}

TEST_CASE("DiskLog: random appends, overwrites and crash damage always recover to a clean prefix") {
  // Goal: whatever a crash does to bytes past the last durable point (nothing, a torn tail of
  // zeros, garbage), recovery yields exactly a prefix of what was written, containing every entry
  // that lies wholly before the damage. Method: a seeded mix of appends and overwrites, then
  // damage after the last entry known to be intact, then reopen and compare.
  Random rng(2024);
  for (int round = 0; round < 40; ++round) {
    TempDir d;
    std::vector<Entry> expected;
    int64_t term = 1;
    {
      auto log = DiskLog::open(posix, d.path(), small());
      REQUIRE(log.ok());
      const int ops = static_cast<int>(rng.uniform(1, 12));
      for (int op = 0; op < ops; ++op) {
        int64_t first = static_cast<int64_t>(expected.size()) + 1;
        if (!expected.empty() && rng.chance(1, 3)) first = rng.uniform(1, static_cast<int64_t>(expected.size()));
        if (rng.chance(1, 2)) ++term;
        auto batch = make_entries(first, rng.uniform(1, 30), term, static_cast<size_t>(rng.uniform(0, 300)));
        REQUIRE((*log)->append(batch).ok());
        expected.resize(static_cast<size_t>(first - 1));
        expected.insert(expected.end(), batch.begin(), batch.end());
      }
      REQUIRE((*log)->sync().ok());
    }
    // Damage: from a random entry on, zero or scribble (never before `keep` entries).
    const int64_t keep = rng.uniform(0, static_cast<int64_t>(expected.size()));
    int64_t damage_at = -1;
    if (keep < static_cast<int64_t>(expected.size()) && rng.chance(2, 3)) {
      auto log = DiskLog::open(posix, d.path(), small());
      REQUIRE(log.ok());
      const int64_t pos = *(*log)->pos_of(RaftIndex{keep + 1});
      damage_at = pos + rng.uniform(0, 47 + static_cast<int64_t>(expected[static_cast<size_t>(keep)].data.size()));
      log->reset();
      const int64_t start = damage_at - damage_at % 4096;
      std::string bytes(static_cast<size_t>(rng.uniform(1, 64)), '\0');
      if (rng.chance(1, 2))
        for (char& c : bytes) c = static_cast<char>(rng.next_u64());
      const size_t room = static_cast<size_t>(4096 - (damage_at - start));
      if (bytes.size() > room) bytes.resize(room);
      poke(data_file(d.path(), start), damage_at - start, bytes);
    }
    auto log = DiskLog::open(posix, d.path(), small());
    REQUIRE(log.ok());
    auto got = log->get()->read_all();
    REQUIRE(got.ok());
    INFO("round " << round << " keep " << keep << " damage_at " << damage_at);
    REQUIRE(got->size() <= expected.size());
    CHECK(std::equal(got->begin(), got->end(), expected.begin()));
    if (damage_at < 0) {
      CHECK(got->size() == expected.size());
    } else {
      CHECK(static_cast<int64_t>(got->size()) >= keep);
    }
    // And the recovered log accepts new entries right after its end.
    REQUIRE((*log)->append(make_entries(static_cast<int64_t>(got->size()) + 1, 3, term + 1)).ok());
  }
}

TEST_CASE("DiskLog: opens each node of a Java 4.9.4 DLedger group (fixtures/java494-dledger) as it is") {
  const json& man = manifest();
  for (const std::string node : {"n0", "n1", "n2"}) {
    CAPTURE(node);
    TempDir tmp;
    const std::string dir = copy_fixture_node(tmp, node);
    auto log = DiskLog::open(posix, dir, java_options());
    REQUIRE(log.ok());
    const DiskLog& l = **log;
    CHECK(l.recovery().stopped_because.empty());
    CHECK(l.recovery().entries == 203);
    CHECK(l.first_index().value == 1);  // DLedger index 0
    CHECK(l.last_index().value == 203);
    CHECK(l.end_pos() == 254622);
    std::set<int64_t> seen;
    for (const json& sent : man["sent"]) {
      const json& rec = sent["record"];
      const RaftIndex index{rec["entry_index"].get<int64_t>() + 1};
      const int64_t pos = rec["entry_pos"].get<int64_t>();
      INFO("entry " << index.value);
      auto e = l.read(index);
      REQUIRE(e.ok());
      CHECK(e->term.value == 1);
      CHECK(e->term.value == rec["entry_term"].get<int64_t>());
      CHECK(e->type == EntryType::kNormal);
      CHECK(*l.pos_of(index) == pos);
      CHECK(e->data.size() == rec["storeSize"].get<size_t>());
      CHECK(test::sha1_hex(e->data) == rec["record_sha1"].get<std::string>());
      CHECK(get_be64(reinterpret_cast<const uint8_t*>(e->data.data()) + kPhysicalOffsetAt) ==
            static_cast<uint64_t>(pos + 48));
      CHECK(*l.read_raw(rec["commitLogOffset"].get<int64_t>(), e->data.size()) == e->data);
      CHECK(*l.index_at_or_after_pos(pos) == index);
      CHECK(*l.index_at_or_after_pos(pos - 1) == index);
      CHECK(*l.index_at_or_after_pos(pos + 1) == next_index(index));
      seen.insert(index.value);
    }
    CHECK(seen.size() == 203);
    CHECK(l.index_at_or_after_pos(l.end_pos())->value == 204);
    CHECK(l.read_raw(l.end_pos() - 10, 11).code() == DiskError::kOutOfRange);
    // Opening changed no byte of the data files, and rewrote the index exactly as Java had it.
    const json& files = man["files"];
    for (const auto& e : fs::directory_iterator(dir + "/data")) {
      const std::string name = e.path().filename().string();
      std::string original = test::read_file(kFixtures + "/" + node + "/dledger-" + node + "/data/" + name);
      original.resize(files[node + "/dledger-" + node + "/data/" + name]["length"].get<size_t>(), '\0');
      CHECK(test::read_file(e.path().string()) == original);
    }
    const std::string index_name = "/index/00000000000000000000";
    const std::string java_index = test::read_file(kFixtures + "/" + node + "/dledger-" + node + index_name);
    CHECK(java_index.size() == 203 * 32);
    CHECK(test::read_file(dir + index_name).substr(0, java_index.size()) == java_index);

    auto hs = load_hard_state(posix, dir);
    REQUIRE(hs.ok());
    REQUIRE(hs->has_value());
    CHECK(**hs == HardState{Term{1}, 0, RaftIndex{203}});  // currTerm=1, voteLeader=n0, committedIndex=202
    auto ps = load_persisted(l, RaftIndex{0});
    REQUIRE(ps.ok());
    CHECK(ps->entries.size() == 203);
    CHECK(ps->hard_state.commit.value == 203);
  }
}

TEST_CASE("DiskLog: our entries continue a Java log, stay checked, and read back after a reopen") {
  TempDir tmp;
  const std::string dir = copy_fixture_node(tmp, "n0");
  std::vector<Entry> java;
  {
    auto log = DiskLog::open(posix, dir, java_options());
    REQUIRE(log.ok());
    auto all = (*log)->read_all();
    REQUIRE(all.ok());
    java = std::move(*all);
  }
  // 30 entries of ~560 bytes: the fourth data file fills up, gets a BLANK, and a fifth begins.
  const auto ours = make_entries(204, 30, 2, 500);
  int64_t pos220 = 0;
  {
    auto log = DiskLog::open(posix, dir, java_options());
    REQUIRE(log.ok());
    REQUIRE((*log)->append(ours).ok());
    REQUIRE((*log)->sync().ok());
    pos220 = *(*log)->pos_of(RaftIndex{220});
    // Our first entry chains from the Java entry before it (chainCrc 0) and carries both CRCs.
    auto hdr = (*log)->read_raw(*(*log)->pos_of(RaftIndex{204}), kEntryHeaderSize);
    REQUIRE(hdr.ok());
    const auto* h = reinterpret_cast<const uint8_t*>(hdr->data());
    CHECK(get_be32(h + 40) == crc32(ours[0].data));
    CHECK(get_be32(h + 36) == entry_chain_crc(0, 203, 2, crc32(ours[0].data)));
  }
  CHECK(fs::exists(data_file(dir, 4 * 65536)));
  {
    auto log = DiskLog::open(posix, dir, java_options());
    REQUIRE(log.ok());
    CHECK((*log)->recovery().stopped_because.empty());
    CHECK((*log)->last_index().value == 233);
    auto all = (*log)->read_all();
    REQUIRE(all.ok());
    std::vector<Entry> expected = java;
    expected.insert(expected.end(), ours.begin(), ours.end());
    CHECK(*all == expected);
  }
  // Bit rot in one of our entries still ends the log there, legacy entries before it or not.
  const int64_t start = pos220 - pos220 % 65536;
  poke(data_file(dir, start), pos220 - start + 60, "Z");
  auto log = DiskLog::open(posix, dir, java_options());
  REQUIRE(log.ok());
  CHECK((*log)->last_index().value == 219);
  CHECK((*log)->recovery().stopped_because.find("CRC") != std::string::npos);
}

TEST_CASE("DiskLog: the append hook patches bodies on disk before their CRCs are taken") {
  TempDir d;
  DiskLogOptions o = small();
  std::vector<int64_t> hooked;
  o.append_hook = [&](const Entry& e, int64_t pos, char* body, size_t len) {
    REQUIRE(len == e.data.size());
    REQUIRE(len >= kPhysicalOffsetAt + 8);
    put_be64(reinterpret_cast<uint8_t*>(body) + kPhysicalOffsetAt, static_cast<uint64_t>(pos + 48));
    hooked.push_back(e.index.value);
  };
  const auto entries = make_entries(1, 100, 1);
  const auto copy = entries;
  std::vector<int64_t> positions;
  {
    auto log = DiskLog::open(posix, d.path(), o);
    REQUIRE(log.ok());
    REQUIRE((*log)->append(entries).ok());
    REQUIRE((*log)->sync().ok());
    CHECK(entries == copy);  // the caller's entries are untouched
    CHECK(hooked.size() == 100);
    CHECK(hooked.front() == 1);
    CHECK(hooked.back() == 100);
    for (int64_t i = 1; i <= 100; ++i) positions.push_back(*(*log)->pos_of(RaftIndex{i}));
  }
  // Reopened without the hook: the patched bodies pass their CRCs and read back patched.
  auto log = DiskLog::open(posix, d.path(), small());
  REQUIRE(log.ok());
  CHECK((*log)->recovery().stopped_because.empty());
  CHECK((*log)->last_index().value == 100);
  for (int64_t i = 1; i <= 100; ++i) {
    const int64_t pos = positions[static_cast<size_t>(i - 1)];
    auto e = (*log)->read(RaftIndex{i});
    REQUIRE(e.ok());
    std::string want = copy[static_cast<size_t>(i - 1)].data;
    put_be64(reinterpret_cast<uint8_t*>(want.data()) + kPhysicalOffsetAt, static_cast<uint64_t>(pos + 48));
    CHECK(e->data == want);
    auto raw = (*log)->read_raw(pos + 48 + kPhysicalOffsetAt, 8);
    CHECK(get_be64(reinterpret_cast<const uint8_t*>(raw->data())) == static_cast<uint64_t>(pos + 48));
  }
}

TEST_CASE("DiskLog: a sync job runs on another thread while the owner appends and truncates") {
  store::FaultInjectingFileSystem ffs;
  const std::string dir = "/node";
  auto log = DiskLog::open(ffs, dir, small());
  REQUIRE(log.ok());
  REQUIRE((*log)->append(make_entries(1, 120, 1)).ok());  // several data files
  DiskLog::SyncJob job = (*log)->prepare_sync();
  CHECK(job.end_pos() == (*log)->end_pos());
  // A truncation deletes files the job holds before it even starts.
  REQUIRE((*log)->truncate_suffix(RaftIndex{10}).ok());
  Result<int64_t, DiskError> done = make_error(DiskError::kIo, "not run");
  std::thread worker([&] { done = job.run(); });
  for (int64_t i = 10; i < 300; i += 10) {
    REQUIRE((*log)->append(make_entries(i, 10, 2)).ok());
    REQUIRE((*log)->read(RaftIndex{i})->term.value == 2);
  }
  worker.join();
  REQUIRE(done.ok());
  CHECK(*done == job.end_pos());
  // The next job covers everything the owner wrote meanwhile, files created since included.
  auto next = (*log)->prepare_sync().run();
  REQUIRE(next.ok());
  CHECK(*next == (*log)->end_pos());
  auto expected = (*log)->read_all();
  REQUIRE(expected.ok());
  log->reset();
  ffs.crash();  // drops every unsynced byte
  auto again = DiskLog::open(ffs, dir, small());
  REQUIRE(again.ok());
  CHECK((*again)->recovery().stopped_because.empty());
  CHECK((*again)->read_all().value() == *expected);
}

TEST_CASE("DiskLog: an append that meets a full disk leaves the log as it was; the same entries go in later") {
  store::FaultInjectingFileSystem ffs;
  const std::string dir = "/node";
  const auto entries = make_entries(1, 300, 2);
  {
    auto log = DiskLog::open(ffs, dir, small());
    REQUIRE(log.ok());
    REQUIRE((*log)->append({entries.begin(), entries.begin() + 40}).ok());
    const int64_t end_before = (*log)->end_pos();
    ffs.set_capacity_bytes(0);  // no room for anything more
    auto full = (*log)->append({entries.begin() + 40, entries.end()});
    REQUIRE_FALSE(full.ok());
    CHECK(full.code() == DiskError::kNoSpace);
    CHECK((*log)->last_index() == RaftIndex{40});
    CHECK((*log)->end_pos() == end_before);
    ffs.clear_faults();
    REQUIRE((*log)->append({entries.begin() + 40, entries.end()}).ok());
    CHECK((*log)->last_index() == RaftIndex{300});
    REQUIRE((*log)->sync().ok());
  }
  auto log = DiskLog::open(ffs, dir, small());
  REQUIRE(log.ok());
  auto got = (*log)->read_all();
  REQUIRE(got.ok());
  REQUIRE(got->size() == entries.size());
  CHECK(std::equal(got->begin(), got->end(), entries.begin()));
}

TEST_CASE("DiskLog on the fault-injecting file system: failures are errors, a crash keeps what was synced") {
  store::FaultInjectingFileSystem ffs;
  const std::string dir = "/node";
  const auto entries = make_entries(1, 80, 1);
  {
    auto log = DiskLog::open(ffs, dir, small());
    REQUIRE(log.ok());
    REQUIRE((*log)->append({entries.begin(), entries.begin() + 50}).ok());
    REQUIRE((*log)->sync().ok());
    REQUIRE((*log)->append({entries.begin() + 50, entries.end()}).ok());
    ffs.fail_syncs_after(0);
    CHECK((*log)->sync().code() == DiskError::kIo);
    HardState last;
    Ready rd;
    rd.entries = make_entries(81, 1, 1);
    rd.hard_state = HardState{Term{1}, 0, RaftIndex{}};
    CHECK(persist_ready(**log, rd, last).code() == DiskError::kIo);
    CHECK(last == HardState{});  // the hard state was not written after the failed sync
    CHECK_FALSE(ffs.exists(dir + "/currterm"));
    ffs.clear_faults();
    // A full disk shows up as kNoSpace when the next data file is created.
    ffs.set_capacity_bytes(0);
    CHECK((*log)->append(make_entries(82, 200, 1)).code() == DiskError::kNoSpace);
    ffs.clear_faults();
  }
  // The machine dies: unsynced 4 KiB blocks survive or not, at random. Whatever survives, the
  // log is a prefix of what was written holding at least the synced entries.
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    CAPTURE(seed);
    store::FaultInjectingFileSystem copy;
    // Replay the same history on a fresh file system, then crash it with this seed.
    {
      auto log = DiskLog::open(copy, dir, small());
      REQUIRE(log.ok());
      REQUIRE((*log)->append({entries.begin(), entries.begin() + 50}).ok());
      REQUIRE((*log)->sync().ok());
      REQUIRE((*log)->append({entries.begin() + 50, entries.end()}).ok());
    }
    Random rng(seed);
    copy.crash(&rng);
    auto log = DiskLog::open(copy, dir, small());
    REQUIRE(log.ok());
    auto got = (*log)->read_all();
    REQUIRE(got.ok());
    CHECK(got->size() >= 50);
    REQUIRE(got->size() <= entries.size());
    CHECK(std::equal(got->begin(), got->end(), entries.begin()));
  }
}

TEST_CASE("currterm and checkpoint: Java's key=value files, byte for byte, with their .bak") {
  TempDir d;
  const std::string java = kFixtures + "/n1/dledger-n1";
  // n1 before and after it voted for n0 in term 1.
  REQUIRE(save_hard_state(posix, d.path(), HardState{Term{1}, kNoNode, RaftIndex{}}, peer_n).ok());
  CHECK(test::read_file(d.path() + "/currterm") == test::read_file(java + "/currterm.bak"));
  CHECK_FALSE(fs::exists(d.path() + "/currterm.bak"));
  REQUIRE(save_hard_state(posix, d.path(), HardState{Term{1}, 0, RaftIndex{}}, peer_n).ok());
  CHECK(test::read_file(d.path() + "/currterm") == test::read_file(java + "/currterm"));
  CHECK(test::read_file(d.path() + "/currterm.bak") == test::read_file(java + "/currterm.bak"));
  CHECK(test::read_file(d.path() + "/currterm") == "voteLeader=n0\ncurrTerm=1\n");
  // Nothing committed yet: DLedger's -1.
  REQUIRE(save_checkpoint(posix, d.path(), RaftIndex{0}, RaftIndex{0}).ok());
  CHECK(test::read_file(d.path() + "/checkpoint") == "committedIndex=-1\nendIndex=-1\n");
  CHECK(**load_hard_state(posix, d.path()) == HardState{Term{1}, 0, RaftIndex{0}});
  REQUIRE(save_checkpoint(posix, d.path(), RaftIndex{203}, RaftIndex{203}).ok());
  CHECK(test::read_file(d.path() + "/checkpoint") == test::read_file(java + "/checkpoint"));
  CHECK(test::read_file(d.path() + "/checkpoint.bak") == "committedIndex=-1\nendIndex=-1\n");
  CHECK(**load_hard_state(posix, d.path()) == HardState{Term{1}, 0, RaftIndex{203}});
  // Peer ids: letters then digits, or digits.
  CHECK(parse_peer_id("n0") == NodeId{0});
  CHECK(parse_peer_id("node12") == NodeId{12});
  CHECK(parse_peer_id("7") == NodeId{7});
  for (const char* bad : {"", "n", "n-1", "0n", "n1 ", "n4294967295"})
    CHECK_FALSE(parse_peer_id(bad).has_value());
  // A checkpoint ahead of the log (a torn tail) is clamped to the log end.
  auto log = DiskLog::open(posix, d.path(), small());
  REQUIRE(log.ok());
  REQUIRE((*log)->append(make_entries(1, 10, 1)).ok());
  auto ps = load_persisted(**log, RaftIndex{0});
  REQUIRE(ps.ok());
  CHECK(ps->hard_state.commit.value == 10);
  std::ofstream(d.path() + "/checkpoint") << "endIndex=9\n";
  CHECK(load_hard_state(posix, d.path()).code() == DiskError::kCorrupt);
}

TEST_CASE("Entry codec: legacy entries (both CRCs 0) pass only where the disk log asks, not on the wire") {
  Entry e;
  e.index = RaftIndex{5};
  e.term = Term{3};
  e.data = "a Java DLedger body";
  std::string bytes;
  ByteWriter w(bytes);
  encode_entry_header(w, e, 1000, 0, 0);
  w.raw(e.data);
  {
    ByteReader r(bytes);
    CHECK_FALSE(decode_entry(r).has_value());
  }
  {
    ByteReader r(bytes);
    auto d = decode_entry(r, true);
    REQUIRE(d.has_value());
    CHECK(d->unchecked);
    CHECK(d->entry == e);
  }
  // With only one of the two CRCs zero it is no legacy entry: the body CRC is checked.
  seal_entry(bytes.data(), 0);
  put_be32(reinterpret_cast<uint8_t*>(bytes.data()) + 40, 0);
  {
    ByteReader r(bytes);
    CHECK_FALSE(decode_entry(r, true).has_value());
  }
  // A PUSH carrying an entry with both CRCs zeroed is malformed.
  Message m;
  m.type = MessageType::kPush;
  m.push_type = PushType::kAppend;
  m.from = 1;
  m.to = 2;
  m.term = Term{3};
  m.index = RaftIndex{4};
  m.log_term = Term{3};
  m.entries = {e};
  std::string body = encode_message("g", m);
  REQUIRE(decode_message(request_code(MessageType::kPush), body).ok());
  const size_t at = body.find(e.data) - kEntryHeaderSize;
  std::fill(body.begin() + static_cast<std::ptrdiff_t>(at + 36),
            body.begin() + static_cast<std::ptrdiff_t>(at + 44), '\0');  // chainCrc, bodyCrc
  CHECK(decode_message(request_code(MessageType::kPush), body).code() == WireError::kMalformed);
}

TEST_CASE("DiskLog: index units wait in memory until a sync is prepared; reads and truncations see them") {
  TempDir d;
  auto log = DiskLog::open(posix, d.path(), small());
  REQUIRE(log.ok());
  auto entries = make_entries(1, 40, 1);
  REQUIRE((*log)->append(entries).ok());
  // Not written yet: the index file holds no unit for entry 1.
  const std::string index_file = d.path() + "/index/00000000000000000000";
  auto unit_on_disk = [&](int64_t dledger_index) {
    std::ifstream in(index_file, std::ios::binary);
    if (!in) return std::string();
    in.seekg(dledger_index * 32);
    std::string b(4, '\0');
    in.read(b.data(), 4);
    return in ? b : std::string();
  };
  CHECK(unit_on_disk(0) != std::string("\0\0\0\1", 4));
  // Reads use the units in memory.
  auto e = (*log)->read(RaftIndex{33});
  REQUIRE(e.ok());
  CHECK(*e == entries[32]);
  // A truncation drops the waiting units of the cut entries; the new ones take their place.
  auto replacement = make_entries(30, 5, 2, 9);
  REQUIRE((*log)->append(replacement).ok());
  CHECK((*log)->last_index().value == 34);
  auto r = (*log)->read(RaftIndex{32});
  REQUIRE(r.ok());
  CHECK(*r == replacement[2]);
  CHECK((*log)->read(RaftIndex{35}).code() == DiskError::kOutOfRange);
  // Preparing a sync writes them.
  auto job = (*log)->prepare_sync();
  REQUIRE(job.run().ok());
  CHECK(unit_on_disk(0) == std::string("\0\0\0\1", 4));
  CHECK(unit_on_disk(33) == std::string("\0\0\0\1", 4));
  log->reset();
  auto again = DiskLog::open(posix, d.path(), small());
  REQUIRE(again.ok());
  CHECK((*again)->last_index().value == 34);
  auto back = (*again)->read(RaftIndex{34});
  REQUIRE(back.ok());
  CHECK(*back == replacement[4]);
}

TEST_CASE("DiskLog: expiry deletes leading data files up to the kept position; the log restarts after them") {
  TempDir d;
  auto entries = make_entries(1, 200, 1);  // ~30 entries per 4 KiB file, index files of 64 units
  int64_t keep_from = 0;
  {
    auto log = DiskLog::open(posix, d.path(), small());
    REQUIRE(log.ok());
    REQUIRE((*log)->append(entries).ok());
    REQUIRE((*log)->sync().ok());
    // Nothing expires while the predicate says no, nor past the kept position.
    auto none = (*log)->delete_leading_files((*log)->end_pos(), [](int64_t) { return false; }, 100);
    REQUIRE(none.ok());
    CHECK(*none == 0);
    auto p = (*log)->pos_of(RaftIndex{100});
    REQUIRE(p.ok());
    keep_from = *p;
    auto some = (*log)->delete_leading_files(keep_from, [](int64_t) { return true; }, 100);
    REQUIRE(some.ok());
    CHECK(*some > 0);
    CHECK((*log)->start_pos() > 0);
    CHECK((*log)->start_pos() <= keep_from);
    CHECK((*log)->first_index().value > 1);
    CHECK((*log)->first_index().value <= 100);
    CHECK((*log)->last_index().value == 200);
    auto first = (*log)->read((*log)->first_index());
    REQUIRE(first.ok());
    CHECK(*first == entries[static_cast<size_t>((*log)->first_index().value - 1)]);
    CHECK((*log)->read(RaftIndex{1}).code() == DiskError::kOutOfRange);
    // Index files wholly below the new first entry went too.
    CHECK_FALSE(std::filesystem::exists(d.path() + "/index/00000000000000000000"));
    REQUIRE((*log)->sync().ok());
  }
  auto again = DiskLog::open(posix, d.path(), small());
  REQUIRE(again.ok());
  CHECK((*again)->recovery().stopped_because.empty());
  CHECK((*again)->first_index().value > 1);
  CHECK((*again)->last_index().value == 200);
  REQUIRE((*again)->append(make_entries(201, 5, 1)).ok());
  auto tail = (*again)->read(RaftIndex{205});
  REQUIRE(tail.ok());
  CHECK(tail->index.value == 205);
}
