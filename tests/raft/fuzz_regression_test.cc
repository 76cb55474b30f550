// Regressions found by the libFuzzer targets (tests/fuzz) in raft/.
#include <doctest/doctest.h>

#include <string>

#include "base/bytes.h"
#include "raft/disk_log.h"
#include "raft/entry_codec.h"
#include "store/fault_fs.h"

using namespace mq;
using namespace mq::raft;

namespace {

// Entry `e` (index, term 1, data), encoded with its own body and chain CRCs.
std::string encoded(const Entry& e) {
  std::string bytes;
  ByteWriter w(bytes);
  encode_entry(w, e, 0, entry_chain_crc(0, e.index.value - 1, 1, entry_body_crc(e.data)));
  return bytes;
}

// A Raft log directory /d whose first data file holds `bytes`; the options to open it with.
DiskLogOptions log_holding(store::FaultInjectingFileSystem& fs, const std::string& bytes) {
  REQUIRE(fs.create_directories("/d/data").ok());
  auto f = fs.open("/d/data/" + store::offset_to_file_name(0), true);
  REQUIRE(f.ok());
  REQUIRE((*f)->write_at(0, bytes.data(), bytes.size()).ok());
  DiskLogOptions opt;
  opt.data_file_size = 4096;
  opt.index_file_size = 32 * 64;
  return opt;
}

}  // namespace

// fuzz_store_recovery (UBSan, signed overflow in DiskLog::write_index_units): a data file whose first
// entry claims DLedger index 7526676310723133440 was accepted by recovery, and its index unit's
// position (index * 32) overflowed. decode_entry now refuses indexes above kMaxDLedgerIndex, so
// recovery ends the log before such an entry.
TEST_CASE("an entry claiming an index whose index-unit position overflows is not an entry") {
  Entry e;
  e.index = RaftIndex{7526676310723133440 + 1};
  e.term = Term{1};
  e.data = "x";
  const std::string bytes = encoded(e);
  ByteReader r(bytes);
  CHECK_FALSE(decode_entry(r, false).has_value());

  store::FaultInjectingFileSystem fs;
  const DiskLogOptions opt = log_holding(fs, bytes);
  auto log = DiskLog::open(fs, "/d", opt);
  REQUIRE(log.ok());
  CHECK((*log)->empty());
  Entry next;
  next.index = RaftIndex{1};
  next.term = Term{1};
  next.data = "y";
  REQUIRE((*log)->append({next}).ok());
  CHECK((*log)->last_index() == RaftIndex{1});
}

TEST_CASE("the largest allowed DLedger index still decodes") {
  Entry e;
  e.index = RaftIndex{kMaxDLedgerIndex + 1};
  e.term = Term{2};
  std::string bytes;
  ByteWriter w(bytes);
  encode_entry(w, e, -1, 0);
  ByteReader r(bytes);
  auto d = decode_entry(r, false);
  REQUIRE(d.has_value());
  CHECK(d->entry.index == e.index);
}

// fuzz_store_recovery (FUZZ_CHECK, the reopened log lost its last entry): recovery took a log whose
// first entry has the largest DLedger index; append() then wrote and synced the next index, which
// decode_entry refuses, so the next open ended the log before it. append() now refuses it.
TEST_CASE("append refuses an index beyond the largest DLedger index instead of losing it at the next open") {
  Entry e;
  e.index = RaftIndex{kMaxDLedgerIndex + 1};
  e.term = Term{1};
  e.data = "x";

  store::FaultInjectingFileSystem fs;
  const DiskLogOptions opt = log_holding(fs, encoded(e));
  {
    auto log = DiskLog::open(fs, "/d", opt);
    REQUIRE(log.ok());
    REQUIRE((*log)->last_index() == e.index);
    Entry next;
    next.index = RaftIndex{kMaxDLedgerIndex + 2};
    next.term = Term{1};
    next.data = "y";
    auto r = (*log)->append({next});
    REQUIRE_FALSE(r.ok());
    CHECK(r.code() == DiskError::kOutOfRange);
    CHECK((*log)->last_index() == e.index);
    REQUIRE((*log)->sync().ok());
  }
  auto again = DiskLog::open(fs, "/d", opt);
  REQUIRE(again.ok());
  CHECK((*again)->last_index() == e.index);
}
