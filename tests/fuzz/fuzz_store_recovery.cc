// libFuzzer target: start-up recovery from arbitrary file contents, on the in-memory file system
// (store/fault_fs.h; nothing touches the real disk). The input is byte 0 (mode and sizes) followed
// by sections (fuzz_util.h: u8 kind | u32 length | bytes), each the content of one file.
//
// Mode 0 (byte 0 bit 7 clear): a MessageStore under /s. Kinds:
//   0, 1  commitlog/<segment 0>, commitlog/<segment 1>      2, 3  consumequeue/FixtureTopicA/0/<file 0, 1>
//   4     consumequeue/FixtureTopicA/1/<file 0>                         5     checkpoint
//   6     index/<an IndexFile name>                         7     config/topics.json (not read by the store)
// byte 0: bit 0 `abort` present (abnormal recovery), bit 1 checkCRCOnRecover, bit 2 the IndexService
// is attached, bits 3-5 CommitLog segment size (1 KiB << n, at most 16 KiB: recovery and the in-memory
// file system copy whole segments, so larger ones only cost time), bit 6 ConsumeQueue files
// of 8 or 30 units. After open(): read everything back, append two messages, shut down, and open
// again: a store we opened and closed cleanly must open, with at least what it had.
//
// Mode 1 (bit 7 set): a Raft DiskLog (DLedger layout) under /d. Kinds: 0..3 data/<segment n>,
// 4 index/<file 0>, 5 currterm, 6 checkpoint. Bits 0-2 data segment size (1 KiB << n, at most
// 16 KiB). After open(): read every entry back, load the hard state and the persisted state, append
// an entry, sync, and open again: the log must come back with the same last index.
// run_fuzzer.sh keeps inputs under 40000 bytes; the seeds (make_seeds.py) cut the fixture stores
// into 16 KiB segments.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "raft/disk_log.h"
#include "store/fault_fs.h"
#include "store/index_service.h"
#include "store/message_store.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/fuzz/store_util.h"

namespace {

using mq::store::FaultInjectingFileSystem;
using mq::store::offset_to_file_name;

void put_file(FaultInjectingFileSystem& fs, const std::string& dir, const std::string& name, std::string_view bytes) {
  (void)fs.create_directories(dir);
  auto f = fs.open(dir + "/" + name, true);
  if (!f.ok()) return;
  if (!bytes.empty()) (void)(*f)->write_at(0, bytes.data(), bytes.size());
  (void)(*f)->sync();
}

void fuzz_message_store(uint8_t mode, const std::vector<mq::fuzz::Section>& sections) {
  const int64_t cl_size = std::min<int64_t>(int64_t{1024} << ((mode >> 3) & 7), 16 * 1024);
  const int64_t cq_units = (mode & 0x40) ? 30 : 8;
  const int64_t cq_size = cq_units * mq::store::kCqUnitSize;
  FaultInjectingFileSystem fs;
  (void)fs.create_directories("/s");
  for (const auto& s : sections) {
    switch (s.kind) {
      case 0: put_file(fs, "/s/commitlog", offset_to_file_name(0), s.bytes); break;
      case 1: put_file(fs, "/s/commitlog", offset_to_file_name(cl_size), s.bytes); break;
      case 2: put_file(fs, "/s/consumequeue/FixtureTopicA/0", offset_to_file_name(0), s.bytes); break;
      case 3: put_file(fs, "/s/consumequeue/FixtureTopicA/0", offset_to_file_name(cq_size), s.bytes); break;
      case 4: put_file(fs, "/s/consumequeue/FixtureTopicA/1", offset_to_file_name(0), s.bytes); break;
      case 5: put_file(fs, "/s", "checkpoint", s.bytes); break;
      case 6: put_file(fs, "/s/index", "20261122000000000", s.bytes); break;
      case 7: put_file(fs, "/s/config", "topics.json", s.bytes); break;
      default: break;
    }
  }
  if (mode & 1) put_file(fs, "/s", "abort", "");
  const auto config = mq::fuzz::small_store_config(cl_size, cq_units, (mode & 2) != 0);

  auto run = [&](bool first) -> int64_t {
    std::unique_ptr<mq::store::IndexService> index;
    mq::store::MessageStore s(config, fs, mq::fuzz::quiet_logger());
    if (mode & 4) {
      mq::store::IndexConfig ic;
      ic.dir = "/s/index";
      ic.max_hash_slot_num = 50;  // as the fixture store's
      ic.max_index_num = 200;
      ic.use_mmap = false;
      index = std::make_unique<mq::store::IndexService>(ic, fs, mq::fuzz::quiet_logger());
      (void)index->load();
      s.add_dispatcher(index.get());
    }
    auto opened = s.open();
    if (!first) FUZZ_CHECK(opened.ok());
    if (!opened.ok()) return -1;
    (void)mq::fuzz::read_back(s);
    if (index) {
      (void)index->query_offset("T", "k1", 16, 0, INT64_MAX);
      (void)index->query_offset("FixtureTopicA", "k1", 16, 0, INT64_MAX);
    }
    if (first) {
      (void)s.put_message(mq::fuzz::fuzz_message("FixtureTopicA", 0), 1800000000000);
      (void)s.put_message(mq::fuzz::fuzz_message("T", 1), 1800000000001);
    }
    int64_t end = s.max_phy_offset();
    (void)s.flush();
    if (index) {
      (void)index->flush();
      (void)index->shutdown();
    }
    (void)s.shutdown();
    return end;
  };
  int64_t end = run(true);
  if (end < 0) return;
  int64_t again = run(false);
  FUZZ_CHECK(again == end);
}

void fuzz_disk_log(uint8_t mode, const std::vector<mq::fuzz::Section>& sections) {
  mq::raft::DiskLogOptions opt;
  opt.data_file_size = int64_t{1024} << std::min(mode & 7, 4);
  opt.index_file_size = 32 * 64;
  FaultInjectingFileSystem fs;
  (void)fs.create_directories("/d");
  for (const auto& s : sections) {
    if (s.kind <= 3) put_file(fs, "/d/data", offset_to_file_name(opt.data_file_size * s.kind), s.bytes);
    else if (s.kind == 4) put_file(fs, "/d/index", offset_to_file_name(0), s.bytes);
    else if (s.kind == 5) put_file(fs, "/d", "currterm", s.bytes);
    else if (s.kind == 6) put_file(fs, "/d", "checkpoint", s.bytes);
  }
  (void)mq::raft::load_hard_state(fs, "/d");
  mq::RaftIndex last{0};
  {
    auto log = mq::raft::DiskLog::open(fs, "/d", opt);
    if (!log.ok()) return;
    auto& l = **log;
    if (auto all = l.read_all(); all.ok()) {
      FUZZ_CHECK(static_cast<int64_t>(all->size()) == (l.empty() ? 0 : l.last_index().value - l.first_index().value + 1));
      for (const auto& e : *all) {
        if (e.type == mq::raft::EntryType::kMembership) (void)mq::raft::Membership::decode(e.data);
      }
    }
    if (!l.empty()) {
      (void)l.read(l.first_index());
      (void)l.pos_of(l.last_index());
      (void)l.index_at_or_after_pos(l.start_pos());
      (void)l.read_raw(l.start_pos(), 64);
    }
    (void)mq::raft::load_persisted(l, mq::RaftIndex{0});
    mq::raft::Entry e;
    e.index = mq::raft::next_index(l.last_index());
    e.term = mq::Term{1};
    if (!l.empty()) {
      auto tail = l.read(l.last_index());
      if (!tail.ok()) return;
      e.term = mq::Term{std::max<int64_t>(1, tail->term.value)};
    }
    e.data = "fuzz-entry";
    if (!l.append({e}).ok() || !l.sync().ok()) return;
    last = l.last_index();
  }
  auto again = mq::raft::DiskLog::open(fs, "/d", opt);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK((*again)->last_index() == last);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  auto sections = mq::fuzz::split_sections(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  if (mode & 0x80) fuzz_disk_log(mode, sections);
  else fuzz_message_store(mode, sections);
  return 0;
}
