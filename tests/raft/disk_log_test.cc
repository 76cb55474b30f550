// The disk log (raft/disk_log.h) in a temporary directory: DLedger layout, rolling over files,
// truncation of a suffix, and recovery that stops at a torn or CRC-failing entry.
#include <doctest/doctest.h>

#include "tests/support/temp_dir.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "base/bytes.h"
#include "base/clock.h"
#include "raft/disk_log.h"
#include "raft/entry_codec.h"

using namespace mq;
using namespace mq::raft;
namespace fs = std::filesystem;

namespace {

using mq::test::TempDir;

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

}  // namespace

TEST_CASE("DiskLog: append, read back, reopen; entries roll over files with BLANK padding") {
  TempDir d;
  auto entries = make_entries(1, 200, 1);
  {
    auto log = DiskLog::open(d.path(), small());
    REQUIRE(log.ok());
    CHECK((*log)->empty());
    REQUIRE((*log)->append(entries).ok());
    REQUIRE((*log)->sync().ok());
    CHECK((*log)->last_index().value == 200);
    auto e = (*log)->read(RaftIndex{150});
    REQUIRE(e.ok());
    CHECK(*e == entries[149]);
  }
  auto log = DiskLog::open(d.path(), small());
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
  auto log = DiskLog::open(d.path(), small());
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
  auto again = DiskLog::open(d.path(), small());
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
    auto log = DiskLog::open(d.path(), small());
    REQUIRE(log.ok());
    REQUIRE((*log)->append(make_entries(1, 30, 1)).ok());
    torn_pos = *(*log)->pos_of(RaftIndex{30});
    REQUIRE((*log)->sync().ok());
  }
  // The last entry's body was only half written when the machine died: zeros from mid-body on.
  const int64_t file_start = torn_pos - torn_pos % 4096;
  poke(data_file(d.path(), file_start), torn_pos - file_start + 60, std::string(200, '\0'));
  auto log = DiskLog::open(d.path(), small());
  REQUIRE(log.ok());
  CHECK((*log)->last_index().value == 29);
  CHECK_FALSE((*log)->recovery().stopped_because.empty());
  CHECK((*log)->end_pos() == torn_pos);
  // The log continues cleanly from there.
  REQUIRE((*log)->append(make_entries(30, 5, 2)).ok());
  REQUIRE((*log)->sync().ok());
  log->reset();
  auto again = DiskLog::open(d.path(), small());
  REQUIRE(again.ok());
  CHECK((*again)->recovery().stopped_because.empty());
  CHECK((*again)->last_index().value == 34);
}

TEST_CASE("DiskLog: recovery stops at the first entry failing its CRC, later files included") {
  TempDir d;
  {
    auto log = DiskLog::open(d.path(), small());
    REQUIRE(log.ok());
    REQUIRE((*log)->append(make_entries(1, 200, 1)).ok());
    REQUIRE((*log)->sync().ok());
  }
  // Flip one body byte of entry 40 (bit rot): entries 40.. are gone, files after it deleted.
  int64_t pos40 = 0;
  {
    auto log = DiskLog::open(d.path(), small());
    pos40 = *(*log)->pos_of(RaftIndex{40});
  }
  const int64_t start = pos40 - pos40 % 4096;
  poke(data_file(d.path(), start), pos40 - start + 50, "Z");
  auto log = DiskLog::open(d.path(), small());
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
    auto log = DiskLog::open(d.path(), small());
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
  auto log = DiskLog::open(d.path(), small());
  REQUIRE(log.ok());
  CHECK((*log)->last_index().value == 5);
  CHECK((*log)->read(RaftIndex{5})->term.value == 2);
  CHECK((*log)->recovery().stopped_because == "chain CRC mismatch");
}

TEST_CASE("Hard state: saved atomically and loaded back; absent and corrupt files") {
  TempDir d;
  auto none = load_hard_state(d.path());
  REQUIRE(none.ok());
  CHECK_FALSE(none->has_value());
  HardState hs{Term{9}, 2, RaftIndex{77}};
  REQUIRE(save_hard_state(d.path(), hs).ok());
  auto got = load_hard_state(d.path());
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  CHECK(**got == hs);
  HardState novote{Term{10}, kNoNode, RaftIndex{0}};
  REQUIRE(save_hard_state(d.path(), novote).ok());
  CHECK(**load_hard_state(d.path()) == novote);
  CHECK_FALSE(fs::exists(d.path() + "/currterm.tmp"));
  // A leftover temp file from a crash mid-save is ignored.
  std::ofstream(d.path() + "/currterm.tmp") << "currTerm=99\n";
  CHECK(**load_hard_state(d.path()) == novote);
  std::ofstream(d.path() + "/currterm") << "currTerm=x\n";
  CHECK(load_hard_state(d.path()).code() == DiskError::kCorrupt);
}

TEST_CASE("DiskLog + core: a follower persists through persist_ready, crashes, and recovers its log") {
  TempDir d;
  // The follower's disk holds a stale suffix (term 2) that the new leader (term 3) overwrites.
  std::vector<Entry> stale = make_entries(1, 5, 1);
  for (Entry& e : make_entries(6, 20, 2)) stale.push_back(e);
  {
    auto log = DiskLog::open(d.path(), small());
    REQUIRE(log.ok());
    REQUIRE((*log)->append(stale).ok());
    REQUIRE((*log)->sync().ok());
    REQUIRE(save_hard_state(d.path(), HardState{Term{2}, kNoNode, RaftIndex{5}}).ok());
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

  auto log = DiskLog::open(d.path(), small());
  REQUIRE(log.ok());
  auto ps = load_persisted(**log, d.path(), RaftIndex{0});
  REQUIRE(ps.ok());
  Node follower(fc, *ps);
  CHECK(follower.last_index().value == 25);

  std::vector<Message> to_leader, to_follower;
  auto run = [&](Node& n, std::vector<Message>& out, bool persist) {
    while (n.has_ready()) {
      Ready rd = n.ready();
      if (persist) REQUIRE(persist_ready(**log, d.path(), rd).ok());
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
  log->reset();

  // Crash and recover from disk alone: the whole log, then only the suffix after `applied`.
  auto reopened = DiskLog::open(d.path(), small());
  REQUIRE(reopened.ok());
  CHECK((*reopened)->recovery().stopped_because.empty());
  auto all = load_persisted(**reopened, d.path(), RaftIndex{0});
  REQUIRE(all.ok());
  CHECK(all->entries == expected);
  CHECK(all->hard_state.commit == commit);
  Node again(fc, *all);
  CHECK(again.term() == leader.term());
  CHECK(again.vote() == 0);
  auto suffix = load_persisted(**reopened, d.path(), RaftIndex{20});
  REQUIRE(suffix.ok());
  Node from_20(fc, *suffix);
  CHECK(from_20.log_offset().value == 20);
  CHECK(from_20.last_index() == leader.last_index());
  CHECK(from_20.term_at(RaftIndex{20}) == leader.term_at(RaftIndex{20}));
  // A state machine claiming more than the log holds is refused.
  CHECK_FALSE(load_persisted(**reopened, d.path(), RaftIndex{1000}).ok());
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
      auto log = DiskLog::open(d.path(), small());
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
      auto log = DiskLog::open(d.path(), small());
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
    auto log = DiskLog::open(d.path(), small());
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
