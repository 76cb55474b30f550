// Regressions found by the libFuzzer targets (tests/fuzz) in store/: each case feeds what the
// fuzzer's input reached the code with.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <memory>

#include "store/consume_queue.h"
#include "store/fault_fs.h"

using namespace mq;
using namespace mq::store;

namespace {
Logger quiet() { return Logger(std::make_shared<LogSink>(stderr, LogLevel::kError), "[cq-fuzz]"); }
}  // namespace

// fuzz_store_recovery / fuzz_ha (timeout, then out of memory): a CommitLog record whose QUEUEOFFSET
// is damaged (the body CRC does not cover it) was dispatched as a unit 10^15 units past the queue's
// end, and put_units filled the gap with filler units, one by one, until memory ran out. Now a gap
// of more than one file of units, or an offset whose byte position would overflow, is kCorrupt.
TEST_CASE("ConsumeQueue refuses a unit far past its end instead of filling the gap") {
  FaultInjectingFileSystem fs;
  ConsumeQueue cq(fs, "/s/consumequeue", "T", 0, 8 * kCqUnitSize, quiet());
  REQUIRE(cq.load().ok());
  CqUnit u{0, 100, 0};
  REQUIRE(cq.put_units(0, &u, 1).ok());
  u.commit_log_offset = 100;
  auto t0 = std::chrono::steady_clock::now();
  auto far = cq.put_units(1000000000000000, &u, 1);
  REQUIRE_FALSE(far.ok());
  CHECK(far.code() == IoError::kCorrupt);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
  CHECK(cq.max_offset() == 1);
  // Offsets whose byte position overflows int64 (UBSan) or that are negative.
  CHECK(cq.put_units(INT64_MAX, &u, 1).code() == IoError::kCorrupt);
  CHECK(cq.put_units(kMaxQueueOffset, &u, 1).code() == IoError::kCorrupt);
  CHECK(cq.put_units(-1, &u, 1).code() == IoError::kCorrupt);
  // A small gap (within one file of units) is still filled with fillers, as before.
  REQUIRE(cq.put_units(4, &u, 1).ok());
  CHECK(cq.max_offset() == 5);
  auto units = cq.read_units(1, 8);
  REQUIRE(units.ok());
  REQUIRE(units->size() == 4);
  CHECK((*units)[0].is_filler());
  CHECK((*units)[3].commit_log_offset == 100);
}

TEST_CASE("an empty ConsumeQueue refuses an out-of-range first offset") {
  FaultInjectingFileSystem fs;
  ConsumeQueue cq(fs, "/s/consumequeue", "T", 1, 8 * kCqUnitSize, quiet());
  REQUIRE(cq.load().ok());
  CqUnit u{0, 100, 0};
  CHECK(cq.put_units(INT64_MAX - 1, &u, 1).code() == IoError::kCorrupt);
  CHECK(cq.max_offset() == 0);
}
