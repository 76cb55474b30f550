// The controller-mode epoch file (store/epoch_file.h) and broker identity files
// (store/broker_identity.h) on the fault-injecting in-memory file system: the exact text RocketMQ
// writes (CRC computed here with zlib, independently of base/hash), the `.bak` fallback for every
// kind of damage, the append rules, suffix/prefix truncation, the consistent point of reference
// 6.4, write failures and crashes.
#include <doctest/doctest.h>
#include <zlib.h>

#include <climits>
#include <string>
#include <vector>

#include "store/broker_identity.h"
#include "store/epoch_file.h"
#include "store/fault_fs.h"

using namespace mq;
using namespace mq::store;

namespace {

const std::string kDir = "/store";
const std::string kPath = "/store/epochFileCheckpoint";

// RocketMQ's UtilAll.crc32, computed with zlib rather than the code under test.
std::string zlib_crc(const std::string& lines) {
  uLong c = ::crc32(0L, reinterpret_cast<const Bytef*>(lines.data()), static_cast<uInt>(lines.size()));
  return std::to_string(c & 0x7FFFFFFFul);
}

std::string epoch_text(const std::vector<std::pair<int, long long>>& entries, bool with_crc = true) {
  std::string lines;
  for (auto [e, s] : entries) lines += std::to_string(e) + "-" + std::to_string(s) + "\n";
  return std::to_string(entries.size()) + "\n" + (with_crc ? zlib_crc(lines) : "0") + "\n" + lines;
}

std::string read_file(FaultInjectingFileSystem& fs, const std::string& path) {
  auto r = read_whole_file(fs, path);
  REQUIRE_MESSAGE(r.ok(), path);
  return *r;
}

void write_raw(FaultInjectingFileSystem& fs, const std::string& path, const std::string& data) {
  auto f = fs.open(path, true);
  REQUIRE(f.ok());
  REQUIRE((*f)->truncate(0).ok());
  REQUIRE((*f)->write_at(0, data.data(), data.size()).ok());
  REQUIRE((*f)->sync().ok());
}

EpochFile open_ok(FaultInjectingFileSystem& fs, const std::string& path = kPath) {
  auto r = EpochFile::open(fs, path);
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.detail()));
  return std::move(r).value();
}

std::vector<std::pair<int, long long>> pairs(const EpochFile& f) {
  std::vector<std::pair<int, long long>> out;
  for (const auto& e : f.entries()) out.emplace_back(e.epoch, e.start_offset);
  return out;
}

using Pairs = std::vector<std::pair<int, long long>>;

struct Fs {
  FaultInjectingFileSystem fs;
  Fs() { REQUIRE(fs.create_directories(kDir).ok()); }
};

std::vector<EpochEntry> list(const Pairs& p) {
  std::vector<EpochEntry> out;
  for (auto [e, s] : p) out.push_back(EpochEntry{e, s, 0});  // end offsets are ignored
  return out;
}

}  // namespace

TEST_CASE("epoch file: exact text of RocketMQ's CheckpointFile") {
  // Hand-computed example of reference 6.6 and the one in CheckpointFile's own comment.
  CHECK(zlib_crc("1-0\n2-4096\n") == "1694929738");
  CHECK(zlib_crc("7-7000\n8-8000\n") == "773307083");
  CHECK(EpochFile::serialize(list({{1, 0}, {2, 4096}})) == "2\n1694929738\n1-0\n2-4096\n");
  CHECK(EpochFile::serialize(list({{7, 7000}, {8, 8000}})) == "2\n773307083\n7-7000\n8-8000\n");
  CHECK(EpochFile::serialize(list({{1, 0}, {2, 4096}})) == epoch_text({{1, 0}, {2, 4096}}));
  CHECK(EpochFile::serialize(list({{2147483647, 9223372036854775807LL}})) ==
        epoch_text({{2147483647, 9223372036854775807LL}}));

  auto parsed = EpochFile::parse("2\n773307083\n7-7000\n8-8000\n");
  REQUIRE(parsed.ok());
  REQUIRE(parsed->size() == 2);
  CHECK((*parsed)[0] == EpochEntry{7, 7000, 8000});
  CHECK((*parsed)[1] == EpochEntry{8, 8000, kEpochOpenEnd});
}

TEST_CASE("epoch file: what the parser accepts as Java's reader does") {
  CHECK(EpochFile::parse("2\n0\n1-0\n2-4096\n").ok());           // CRC 0: not checked
  CHECK(EpochFile::parse("2\n1694929738\n1-0\n2-4096").ok());    // last line without '\n'
  CHECK(EpochFile::parse("2\r\n1694929738\r\n1-0\r\n2-4096\r\n").ok());  // readLine strips "\r\n"
  auto empty = EpochFile::parse("0\n0\n");
  REQUIRE(empty.ok());
  CHECK(empty->empty());
}

TEST_CASE("epoch file: malformed text is refused, never trusted") {
  const char* bad[] = {
      "",                                   // nothing
      "2",                                  // no CRC line
      "x\n0\n1-0\n",                        // count not a number
      "-1\n0\n",                            // negative count
      "99999999999\n0\n1-0\n",              // count beyond int32
      "99999999999999999999999\n0\n1-0\n",  // count beyond int64
      "1\n+5\n1-0\n",                       // signed CRC
      "1\n0\n1-a\n",                        // bad start
      "1\n0\n-1-0\n",                       // negative epoch
      "1\n0\n1--5\n",                       // negative start
      "1\n0\n1-0-0\n",                      // three fields
      "1\n0\n10\n",                         // no dash
      "1\n0\n99999999999-0\n",              // epoch beyond int32
      "1\n0\n1-99999999999999999999\n",     // start beyond int64
      "1\n0\n1-0\n\n",                      // trailing empty line
      "3\n0\n1-0\n2-5\n",                   // count says more
      "1\n0\n1-0\n2-5\n",                   // count says fewer
      "2\n0\n2-0\n1-5\n",                   // epochs descending
      "2\n0\n1-0\n1-5\n",                   // epoch repeated
      "2\n0\n1-5\n2-5\n",                   // start offsets not increasing
      "2\n0\n1-5\n2-4\n",                   // start offsets descending
      "2\n1\n1-0\n2-4096\n",                // CRC mismatch
  };
  for (const char* t : bad) CHECK_MESSAGE(!EpochFile::parse(t).ok(), "accepted: ", t);
}

TEST_CASE("epoch file: append writes the exact bytes and backs up the previous content") {
  Fs f;
  auto ef = open_ok(f.fs);
  CHECK(ef.empty());
  CHECK(ef.last_epoch() == -1);
  CHECK(ef.load_warning().empty());
  CHECK(!f.fs.exists(kPath));

  REQUIRE(ef.append(1, 0).ok());
  CHECK(read_file(f.fs, kPath) == epoch_text({{1, 0}}));
  CHECK(!f.fs.exists(kPath + ".bak"));  // nothing to back up on the first write, as in RocketMQ

  REQUIRE(ef.append(2, 4096).ok());
  CHECK(read_file(f.fs, kPath) == "2\n1694929738\n1-0\n2-4096\n");
  CHECK(read_file(f.fs, kPath + ".bak") == epoch_text({{1, 0}}));

  auto again = open_ok(f.fs);
  CHECK(again.load_warning().empty());
  CHECK(pairs(again) == Pairs{{1, 0}, {2, 4096}});
  CHECK(again.last_epoch() == 2);

  // What a Java broker wrote is read as is.
  write_raw(f.fs, kPath, "2\n773307083\n7-7000\n8-8000\n");
  CHECK(pairs(open_ok(f.fs)) == Pairs{{7, 7000}, {8, 8000}});
}

TEST_CASE("epoch file: missing parent directory is created") {
  FaultInjectingFileSystem fs;
  auto ef = open_ok(fs, "/a/b/epochFileCheckpoint");
  REQUIRE(ef.append(3, 100).ok());
  CHECK(read_file(fs, "/a/b/epochFileCheckpoint") == epoch_text({{3, 100}}));
}

TEST_CASE("epoch file: damaged file falls back to .bak") {
  Fs f;
  const std::string good = epoch_text({{1, 0}, {2, 4096}});
  std::string why;
  SUBCASE("CRC mismatch") {
    write_raw(f.fs, kPath, "3\n12345\n1-0\n2-4096\n3-9000\n");
    why = "CRC";
  }
  SUBCASE("count mismatch") {
    write_raw(f.fs, kPath, "4\n0\n1-0\n2-4096\n3-9000\n");
    why = "says 4 entries";
  }
  SUBCASE("zero entries") {
    write_raw(f.fs, kPath, "0\n0\n");
    why = "no entries";
  }
  SUBCASE("empty file (torn write)") {
    write_raw(f.fs, kPath, "");
    why = "count";
  }
  SUBCASE("garbage") {
    write_raw(f.fs, kPath, std::string("\x01\x02\xff\n\n", 5));
    why = "count";
  }
  SUBCASE("missing (RocketMQ reads .bak when the file yields no entries)") {
    why = "missing";
  }
  write_raw(f.fs, kPath + ".bak", good);
  auto ef = open_ok(f.fs);
  CHECK(pairs(ef) == Pairs{{1, 0}, {2, 4096}});
  CHECK_MESSAGE(ef.load_warning().find(why) != std::string::npos, ef.load_warning());
  CHECK(ef.load_warning().find(".bak") != std::string::npos);

  // The next write backs up the good content, not the damaged file.
  REQUIRE(ef.append(3, 9000).ok());
  CHECK(read_file(f.fs, kPath + ".bak") == good);
  CHECK(read_file(f.fs, kPath) == epoch_text({{1, 0}, {2, 4096}, {3, 9000}}));
}

TEST_CASE("epoch file: both copies unusable -> empty with a warning, not an error") {
  Fs f;
  SUBCASE("both bad") {
    write_raw(f.fs, kPath, "2\n1\n1-0\n2-4096\n");
    write_raw(f.fs, kPath + ".bak", "1\n0\nnope\n");
  }
  SUBCASE("bad file, no .bak") { write_raw(f.fs, kPath, "1\n0\n"); }
  SUBCASE("no file, bad .bak") { write_raw(f.fs, kPath + ".bak", "0\n0\n"); }
  SUBCASE("file too large") {
    write_raw(f.fs, kPath, std::string(static_cast<size_t>(EpochFile::kMaxFileBytes) + 1, '1'));
  }
  auto ef = open_ok(f.fs);
  CHECK(ef.empty());
  CHECK(!ef.load_warning().empty());
  // Still usable: the next append writes a good file.
  REQUIRE(ef.append(5, 50).ok());
  CHECK(pairs(open_ok(f.fs)) == Pairs{{5, 50}});
}

TEST_CASE("epoch file: both missing is a clean empty start") {
  Fs f;
  auto ef = open_ok(f.fs);
  CHECK(ef.empty());
  CHECK(ef.load_warning().empty());
  CHECK(!ef.first_entry());
  CHECK(!ef.last_entry());
  CHECK(!ef.find_entry_containing(0));
  CHECK(ef.entries(100).empty());
}

TEST_CASE("epoch file: append rules follow RocketMQ's appendEntry") {
  Fs f;
  auto ef = open_ok(f.fs);
  CHECK(!ef.append(-1, 0).ok());
  CHECK(!ef.append(1, -5).ok());
  REQUIRE(ef.append(3, 1000).ok());
  const std::string before = read_file(f.fs, kPath);
  CHECK(!ef.append(3, 2000).ok());  // same epoch
  CHECK(!ef.append(2, 2000).ok());  // older epoch
  CHECK(!ef.append(4, 1000).ok());  // start offset not larger (RocketMQ refuses equal too)
  CHECK(!ef.append(4, 999).ok());
  auto err = ef.append(4, 500);
  REQUIRE(!err.ok());
  CHECK(err.detail().find("3-1000") != std::string::npos);
  CHECK(pairs(ef) == Pairs{{3, 1000}});
  CHECK(read_file(f.fs, kPath) == before);
  REQUIRE(ef.append(7, 1001).ok());  // epochs may skip
  CHECK(pairs(ef) == Pairs{{3, 1000}, {7, 1001}});
}

TEST_CASE("epoch file: queries with derived end offsets") {
  Fs f;
  auto ef = open_ok(f.fs);
  REQUIRE(ef.append(1, 0).ok());
  REQUIRE(ef.append(3, 100).ok());
  REQUIRE(ef.append(4, 250).ok());
  CHECK(ef.size() == 3);
  CHECK(ef.last_epoch() == 4);
  CHECK(*ef.first_entry() == EpochEntry{1, 0, 100});
  CHECK(*ef.last_entry() == EpochEntry{4, 250, kEpochOpenEnd});
  CHECK(*ef.entry_for_epoch(3) == EpochEntry{3, 100, 250});
  CHECK(!ef.entry_for_epoch(2));
  CHECK(*ef.next_entry(1) == EpochEntry{3, 100, 250});
  CHECK(*ef.next_entry(2) == EpochEntry{3, 100, 250});
  CHECK(*ef.next_entry(0) == EpochEntry{1, 0, 100});
  CHECK(!ef.next_entry(4));
  CHECK(*ef.find_entry_containing(0) == EpochEntry{1, 0, 100});
  CHECK(*ef.find_entry_containing(99) == EpochEntry{1, 0, 100});
  CHECK(*ef.find_entry_containing(100) == EpochEntry{3, 100, 250});
  CHECK(ef.find_entry_containing(250)->epoch == 4);
  CHECK(ef.find_entry_containing(INT64_MAX)->epoch == 4);
  CHECK(!ef.find_entry_containing(-1));
  CHECK(ef.entries(400) == std::vector<EpochEntry>{{1, 0, 100}, {3, 100, 250}, {4, 250, 400}});
  CHECK(ef.entries() == std::vector<EpochEntry>{{1, 0, 100}, {3, 100, 250}, {4, 250, kEpochOpenEnd}});
  CHECK(ef.entries(200).back() == EpochEntry{4, 250, 250});  // never ends before it starts
}

TEST_CASE("epoch file: suffix truncation and epoch removal") {
  Fs f;
  auto ef = open_ok(f.fs);
  REQUIRE(ef.append(1, 0).ok());
  REQUIRE(ef.append(2, 100).ok());
  REQUIRE(ef.append(3, 200).ok());
  REQUIRE(ef.append(5, 300).ok());

  REQUIRE(ef.truncate_suffix_from(301).ok());  // nothing starts at or after 301
  CHECK(ef.size() == 4);
  REQUIRE(ef.truncate_suffix_from(300).ok());  // starts at the cut: dropped
  CHECK(pairs(ef) == Pairs{{1, 0}, {2, 100}, {3, 200}});
  CHECK(ef.last_entry()->end_offset == kEpochOpenEnd);  // the new last entry is open again
  CHECK(ef.find_entry_containing(5000)->epoch == 3);
  CHECK(read_file(f.fs, kPath) == epoch_text({{1, 0}, {2, 100}, {3, 200}}));
  CHECK(read_file(f.fs, kPath + ".bak") == epoch_text({{1, 0}, {2, 100}, {3, 200}, {5, 300}}));
  REQUIRE(ef.truncate_suffix_from(150).ok());
  CHECK(pairs(ef) == Pairs{{1, 0}, {2, 100}});

  REQUIRE(ef.append(4, 120).ok());
  REQUIRE(ef.remove_epochs_at_or_above(5).ok());
  CHECK(pairs(ef) == Pairs{{1, 0}, {2, 100}, {4, 120}});
  REQUIRE(ef.remove_epochs_at_or_above(3).ok());
  CHECK(pairs(ef) == Pairs{{1, 0}, {2, 100}});
  CHECK(pairs(open_ok(f.fs)) == Pairs{{1, 0}, {2, 100}});

  // Emptying the list is not written (RocketMQ's writer returns early on an empty list): the file
  // keeps the last entries and they come back after a restart.
  REQUIRE(ef.truncate_suffix_from(0).ok());
  CHECK(ef.empty());
  CHECK(ef.last_epoch() == -1);
  CHECK(read_file(f.fs, kPath) == epoch_text({{1, 0}, {2, 100}}));
  CHECK(pairs(open_ok(f.fs)) == Pairs{{1, 0}, {2, 100}});
  // The next append replaces them, backing up what was on disk.
  REQUIRE(ef.append(9, 50).ok());
  CHECK(read_file(f.fs, kPath) == epoch_text({{9, 50}}));
  CHECK(read_file(f.fs, kPath + ".bak") == epoch_text({{1, 0}, {2, 100}}));
  REQUIRE(ef.remove_epochs_at_or_above(0).ok());
  CHECK(ef.empty());
}

TEST_CASE("epoch file: prefix truncation after CommitLog expiry") {
  Fs f;
  auto ef = open_ok(f.fs);
  REQUIRE(ef.append(1, 0).ok());
  REQUIRE(ef.append(2, 100).ok());
  REQUIRE(ef.append(3, 200).ok());
  // RocketMQ calls truncatePrefixByOffset(minPhyOffset - 1) and drops entries with end <= that.
  REQUIRE(ef.truncate_prefix_below(100).ok());  // epoch 1 ends at 100 > 99: kept
  CHECK(ef.size() == 3);
  REQUIRE(ef.truncate_prefix_below(101).ok());  // 100 <= 100: all of epoch 1 is gone
  CHECK(pairs(ef) == Pairs{{2, 100}, {3, 200}});
  CHECK(read_file(f.fs, kPath) == epoch_text({{2, 100}, {3, 200}}));
  REQUIRE(ef.truncate_prefix_below(1'000'000'000).ok());  // the open last entry always stays
  CHECK(pairs(ef) == Pairs{{3, 200}});
  REQUIRE(ef.truncate_prefix_below(INT64_MAX).ok());
  CHECK(pairs(ef) == Pairs{{3, 200}});
  CHECK(pairs(open_ok(f.fs)) == Pairs{{3, 200}});
}

TEST_CASE("epoch file: consistent point, the reference table") {
  // (1,0) (3,5000) max 9000 vs (1,0) (2,5000) max 7000: epoch 2 unknown to the master, epoch 1
  // ends at 5000 on both.
  CHECK(EpochFile::find_consistent_point(list({{1, 0}, {3, 5000}}), 9000, list({{1, 0}, {2, 5000}}), 7000) == 5000);
  // Same epochs, slave ahead: its tail beyond the master is cut.
  CHECK(EpochFile::find_consistent_point(list({{1, 0}, {3, 5000}}), 9000, list({{1, 0}, {3, 5000}}), 12000) ==
        9000);
}

TEST_CASE("epoch file: consistent point, divergent cases") {
  auto point = [](const Pairs& m, int64_t mmax, const Pairs& s, int64_t smax) {
    return EpochFile::find_consistent_point(list(m), mmax, list(s), smax);
  };
  // Slave behind in the same epoch: nothing to cut, the point is the slave's end.
  CHECK(point({{1, 0}, {3, 5000}}, 9000, {{1, 0}, {3, 5000}}, 6000) == 6000);
  // Slave ahead in the same (only) epoch.
  CHECK(point({{1, 0}}, 4000, {{1, 0}}, 4500) == 4000);
  // Slave wrote a whole epoch the master never had, after the master's epoch 3 started.
  CHECK(point({{1, 0}, {3, 5000}}, 9000, {{1, 0}, {3, 5000}, {4, 8000}}, 8500) == 8000);
  // Same epoch number, different start: the slave's epoch 2 came from another master.
  CHECK(point({{1, 0}, {2, 4000}}, 9000, {{1, 0}, {2, 5000}}, 7000) == 4000);
  // No common epoch.
  CHECK(point({{2, 0}, {4, 100}}, 900, {{1, 0}, {3, 100}}, 700) == -1);
  // Empty lists.
  CHECK(point({}, 900, {{1, 0}}, 700) == -1);
  CHECK(point({{1, 0}}, 900, {}, 700) == -1);
  CHECK(point({}, 0, {}, 0) == -1);
  // Master's old epochs expired with its CommitLog files (prefix truncation): the newest common
  // epoch still decides.
  CHECK(point({{3, 5000}, {4, 8000}}, 9000, {{1, 0}, {2, 3000}, {3, 5000}}, 6000) == 6000);
  CHECK(point({{3, 5000}, {4, 8000}}, 9000, {{1, 0}, {2, 3000}, {3, 5000}, {4, 8000}}, 9500) == 9000);
  // ... and a slave whose whole history is older than the master's oldest entry has no point.
  CHECK(point({{3, 5000}, {4, 8000}}, 9000, {{1, 0}, {2, 3000}}, 4000) == -1);
  // Empty master log right after election: the point is where the epoch starts.
  CHECK(point({{1, 0}, {2, 700}}, 700, {{1, 0}}, 900) == 700);
  // Inputs that are not strictly ascending are refused rather than misread.
  CHECK(point({{3, 0}, {1, 10}}, 900, {{1, 0}}, 700) == -1);
  CHECK(point({{1, 0}}, 900, {{1, 0}, {2, 0}}, 700) == -1);
  // End offsets given in the inputs do not matter.
  std::vector<EpochEntry> m{{1, 0, 12345}, {3, 5000, 1}};
  std::vector<EpochEntry> s{{1, 0, 1}, {2, 5000, 99999}};
  CHECK(EpochFile::find_consistent_point(m, 9000, s, 7000) == 5000);
}

TEST_CASE("epoch file: a failed write returns an error and the old content stays readable") {
  Fs f;
  auto ef = open_ok(f.fs);
  REQUIRE(ef.append(1, 0).ok());
  REQUIRE(ef.append(2, 4096).ok());
  const std::string good = read_file(f.fs, kPath);

  SUBCASE("the .bak write fails: the file is untouched") {
    f.fs.fail_writes_after(0);
    auto r = ef.append(3, 8192);
    REQUIRE(!r.ok());
    CHECK(r.detail().find(kPath) != std::string::npos);
    CHECK(read_file(f.fs, kPath) == good);
  }
  SUBCASE("the file write fails after the .bak was written") {
    f.fs.fail_writes_after(1);
    REQUIRE(!ef.append(3, 8192).ok());
    CHECK(read_file(f.fs, kPath) != good);  // truncated before the failed write
    CHECK(read_file(f.fs, kPath + ".bak") == good);
  }
  SUBCASE("the disk is full") {
    f.fs.set_capacity_bytes(1);
    REQUIRE(!ef.append(3, 8192).ok());
  }
  SUBCASE("fsync fails") {
    f.fs.fail_syncs_after(0);
    REQUIRE(!ef.append(3, 8192).ok());
  }
  // Memory is unchanged and a restart reads the old entries (from the file or its .bak).
  CHECK(pairs(ef) == Pairs{{1, 0}, {2, 4096}});
  f.fs.clear_faults();
  CHECK(pairs(open_ok(f.fs)) == Pairs{{1, 0}, {2, 4096}});
  // Retrying after the fault backs up the good content, never a torn file.
  REQUIRE(ef.append(3, 8192).ok());
  CHECK(read_file(f.fs, kPath + ".bak") == good);
  CHECK(pairs(open_ok(f.fs)) == Pairs{{1, 0}, {2, 4096}, {3, 8192}});
}

TEST_CASE("epoch file: every change is durable at once (crash right after)") {
  Fs f;
  auto ef = open_ok(f.fs);
  REQUIRE(ef.append(1, 0).ok());
  REQUIRE(ef.append(2, 4096).ok());
  REQUIRE(ef.truncate_suffix_from(4096).ok());
  f.fs.crash();
  CHECK(pairs(open_ok(f.fs)) == Pairs{{1, 0}});
  CHECK(read_file(f.fs, kPath + ".bak") == epoch_text({{1, 0}, {2, 4096}}));
}

// ---------------------------------------------------------------------------------------------
// brokerIdentity / brokerIdentity-temp

TEST_CASE("broker identity: exact bytes and round trip") {
  Fs f;
  BrokerIdentityFiles files(f.fs, BrokerIdentityFiles::default_path(kDir));
  CHECK(files.identity_path() == "/store/brokerIdentity");
  CHECK(files.temp_path() == "/store/brokerIdentity-temp");

  auto none = files.read_identity();
  REQUIRE(none.ok());
  CHECK(!*none);
  auto none_temp = files.read_temp();
  REQUIRE(none_temp.ok());
  CHECK(!*none_temp);

  TempBrokerIdentity temp{"c1", "broker-a", 2, "10.0.0.1:30911;1700000000000"};
  REQUIRE(files.write_temp(temp).ok());
  CHECK(read_file(f.fs, "/store/brokerIdentity-temp") == "c1#broker-a#2#10.0.0.1:30911;1700000000000");
  auto t = files.read_temp();
  REQUIRE(t.ok());
  CHECK(**t == temp);

  REQUIRE(files.write_identity(BrokerIdentity{"c1", "broker-a", 2}).ok());
  CHECK(read_file(f.fs, "/store/brokerIdentity") == "c1#broker-a#2");  // no trailing newline
  REQUIRE(files.remove_temp().ok());
  CHECK(!f.fs.exists("/store/brokerIdentity-temp"));
  REQUIRE(files.remove_temp().ok());  // already gone: fine

  auto id = files.read_identity();
  REQUIRE(id.ok());
  CHECK(**id == BrokerIdentity{"c1", "broker-a", 2});

  // A rewrite deletes first, so no .bak is left behind (as with RocketMQ's MetadataFile).
  REQUIRE(files.write_identity(BrokerIdentity{"c1", "broker-a", 7}).ok());
  CHECK(read_file(f.fs, "/store/brokerIdentity") == "c1#broker-a#7");
  CHECK(!f.fs.exists("/store/brokerIdentity.bak"));
  f.fs.crash();
  CHECK(**files.read_identity() == BrokerIdentity{"c1", "broker-a", 7});
}

TEST_CASE("broker identity: parsing is strict") {
  CHECK(parse_identity("c1#broker-a#1").ok());
  CHECK(parse_temp_identity("c1#broker-a#1#10.0.0.1:1;2").ok());
  const char* bad_identity[] = {"",        "c1#broker-a",  "c1#broker-a#",   "c1#broker-a#x", "c1#broker-a#-1",
                                "#b#1",    "c1##1",        "c1#b#1#extra",   "c1#b#1\n",      "c1#b#99999999999999999999"};
  for (const char* t : bad_identity) CHECK_MESSAGE(parse_identity(t).code() == IdentityError::kCorrupt, t);
  const char* bad_temp[] = {"c1#b#1", "c1#b#1#", "c1#b#x#code", "c1#b#1#code#more", "#b#1#code"};
  for (const char* t : bad_temp) CHECK_MESSAGE(parse_temp_identity(t).code() == IdentityError::kCorrupt, t);
}

TEST_CASE("broker identity: values that cannot be stored are refused") {
  Fs f;
  BrokerIdentityFiles files(f.fs, "/store/brokerIdentity");
  CHECK(files.write_identity(BrokerIdentity{"c#1", "b", 1}).code() == IdentityError::kInvalid);
  CHECK(files.write_identity(BrokerIdentity{"c1", "", 1}).code() == IdentityError::kInvalid);
  CHECK(files.write_identity(BrokerIdentity{"c1", "b", -1}).code() == IdentityError::kInvalid);
  CHECK(files.write_temp(TempBrokerIdentity{"c1", "b", 1, ""}).code() == IdentityError::kInvalid);
  CHECK(files.write_temp(TempBrokerIdentity{"c1", "b", 1, "a#b"}).code() == IdentityError::kInvalid);
  CHECK(!f.fs.exists("/store/brokerIdentity"));
  CHECK(!f.fs.exists("/store/brokerIdentity-temp"));
}

TEST_CASE("broker identity: load follows step 0 of the registration") {
  Fs f;
  BrokerIdentityFiles files(f.fs, "/store/brokerIdentity");

  auto nothing = files.load("c1", "broker-a");
  REQUIRE(nothing.ok());
  CHECK(!nothing->identity);
  CHECK(!nothing->temp);
  CHECK(nothing->warnings.empty());

  REQUIRE(files.write_temp(TempBrokerIdentity{"c1", "broker-a", 3, "10.0.0.1:30911;1"}).ok());
  auto temp_only = files.load("c1", "broker-a");
  REQUIRE(temp_only.ok());
  CHECK(!temp_only->identity);
  REQUIRE(temp_only->temp);
  CHECK(temp_only->temp->broker_id == 3);

  REQUIRE(files.write_identity(BrokerIdentity{"c1", "broker-a", 3}).ok());
  auto both = files.load("c1", "broker-a");
  REQUIRE(both.ok());
  REQUIRE(both->identity);
  CHECK(both->identity->broker_id == 3);
  CHECK(!both->temp);  // the identity wins; the temp file is not even looked at

  SUBCASE("cluster renamed in the config") {
    auto r = files.load("c2", "broker-a");
    REQUIRE(!r.ok());
    CHECK(r.code() == IdentityError::kNameMismatch);
    CHECK(r.detail().find("'c1'") != std::string::npos);
    CHECK(r.detail().find("'c2'") != std::string::npos);
    CHECK(r.detail().find("/store/brokerIdentity") != std::string::npos);
  }
  SUBCASE("broker renamed in the config") {
    auto r = files.load("c1", "broker-b");
    REQUIRE(!r.ok());
    CHECK(r.code() == IdentityError::kNameMismatch);
    CHECK(r.detail().find("'broker-a'") != std::string::npos);
    CHECK(r.detail().find("'broker-b'") != std::string::npos);
  }
  SUBCASE("temp file with another name") {
    REQUIRE(files.remove_identity().ok());
    REQUIRE(files.write_temp(TempBrokerIdentity{"c1", "broker-x", 3, "a;1"}).ok());
    auto r = files.load("c1", "broker-a");
    REQUIRE(!r.ok());
    CHECK(r.code() == IdentityError::kNameMismatch);
    CHECK(r.detail().find("brokerIdentity-temp") != std::string::npos);
    CHECK(r.detail().find("'broker-x'") != std::string::npos);
  }
  SUBCASE("torn identity file: the temp file carries the registration on") {
    write_raw(f.fs, "/store/brokerIdentity", "c1#bro");
    auto r = files.load("c1", "broker-a");
    REQUIRE(r.ok());
    CHECK(!r->identity);
    REQUIRE(r->temp);
    CHECK(r->temp->broker_id == 3);
    REQUIRE(r->warnings.size() == 1);
    CHECK(r->warnings[0].find("/store/brokerIdentity") != std::string::npos);
  }
  SUBCASE("a stale .bak is never read") {
    REQUIRE(files.remove_identity().ok());
    REQUIRE(files.remove_temp().ok());
    write_raw(f.fs, "/store/brokerIdentity.bak", "c1#broker-a#9");
    auto r = files.load("c1", "broker-a");
    REQUIRE(r.ok());
    CHECK(!r->identity);
    CHECK(!r->temp);
  }
}

TEST_CASE("broker identity: write failures are error values") {
  Fs f;
  BrokerIdentityFiles files(f.fs, "/store/brokerIdentity");
  f.fs.fail_writes_after(0);
  auto r = files.write_identity(BrokerIdentity{"c1", "broker-a", 1});
  REQUIRE(!r.ok());
  CHECK(r.code() == IdentityError::kIo);
  CHECK(r.detail().find("/store/brokerIdentity") != std::string::npos);
  f.fs.clear_faults();
  f.fs.fail_syncs_after(0);
  CHECK(files.write_temp(TempBrokerIdentity{"c1", "broker-a", 1, "x;1"}).code() == IdentityError::kIo);
}
