// A full disk is a state that clears by itself (RocketMQ's DISK_FULL_BIT), a failed write or fsync a
// stop for good: ENOSPC at segment creation, usage above diskSpaceWarningLevelRatio, ConsumeQueue
// units that wait for space after their records are in the CommitLog, and the re-check pacing.
#include <doctest/doctest.h>

#include <optional>

#include "store/fault_fs.h"
#include "store/message_store.h"

using namespace mq;
using namespace mq::store;

namespace {

Logger quiet_log() { return Logger(std::make_shared<LogSink>(stderr, LogLevel::kError), "[disk-full-test]"); }

MessageStoreConfig small_config(const std::string& root, int64_t cl_size, int64_t cq_units) {
  MessageStoreConfig c;
  c.store_path_root_dir = root;
  c.mapped_file_size_commit_log = cl_size;
  c.mapped_file_size_consume_queue = cq_units * kCqUnitSize;
  return c;
}

MessageToStore make_msg(const std::string& topic, int32_t qid, const std::string& body) {
  MessageToStore m;
  m.topic = topic;
  m.queue_id = qid;
  m.body = body;
  m.born_timestamp = 1700000000000;
  m.born_host = HostAddress::v4(10, 0, 0, 9, 50000);
  m.store_host = HostAddress::v4(127, 0, 0, 1, 10911);
  return m;
}

std::string body_for(int i) { return "body-" + std::to_string(i) + std::string(static_cast<size_t>(i % 40), 'x'); }

std::vector<std::string> bodies_of(MessageStore& s, const std::string& topic, int32_t qid) {
  std::vector<std::string> out;
  int64_t off = s.min_offset_in_queue(topic, qid);
  while (true) {
    auto r = s.get_message(topic, qid, off, 32, 1 << 20);
    if (r.status != GetMessageStatus::kFound) break;
    auto recs = decode_records(r.buffer);
    REQUIRE(recs.ok());
    for (auto& m : *recs) out.emplace_back(m.body);
    off = r.next_begin_offset;
  }
  return out;
}

// A disk the test fills and empties.
struct FakeDisk {
  DiskSpace space{100LL << 20, 50LL << 20};
  int probes = 0;
  DiskSpaceProbe probe() {
    return [this](const std::string&) -> std::optional<DiskSpace> {
      ++probes;
      return space;
    };
  }
  void set_used(double ratio) { space.available_bytes = static_cast<int64_t>(static_cast<double>(space.total_bytes) * (1 - ratio)); }
};

}  // namespace

TEST_CASE("ENOSPC creating a commit log file: disk full, refused with a reason, resumes by itself when space returns") {
  FaultInjectingFileSystem fs;
  FakeDisk disk;
  // Checkpoint page, two commit log files, one ConsumeQueue file and a little more.
  fs.set_capacity_bytes(4096 + 2 * 4096 + 1000 + 500);
  MessageStore s(small_config("/s", 4096, 50), fs, quiet_log());
  s.set_disk_space_probe(disk.probe());
  REQUIRE(s.open().ok());
  disk.set_used(1.0);  // what the probe says once the store asks (only while full)
  std::vector<std::string> acked;
  int64_t now = 1'000'000;
  PutMessageResult last;
  for (int i = 0; i < 200; ++i) {
    last = s.put_message(make_msg("D", 0, body_for(i)), now);
    if (!last.ok()) break;
    acked.push_back(body_for(i));
  }
  REQUIRE_MESSAGE(!last.ok(), "expected a file creation to fail for lack of space");
  CHECK(last.status == PutMessageStatus::kServiceNotAvailable);
  CHECK_MESSAGE(last.detail.find("the broker's disk is full [CL:  1.00 CQ:  1.00 INDEX:  1.00]: disk full: cannot create ") == 0,
                "detail: " << last.detail);
  CHECK(acked.size() > 10);
  // Not a stop: only the disk-full state, with its reason.
  CHECK(s.is_writable());
  CHECK(s.is_disk_full());
  CHECK_FALSE(s.takes_writes());
  const std::string why = s.write_refusal_reason();
  CHECK_MESSAGE(why.rfind("disk full: cannot create ", 0) == 0, "reason: " << why);
  CHECK_MESSAGE(why.find("/s ") != std::string::npos, "the reason names the store root: " << why);

  // The disk (the fake probe) is still full: refused, and measured at most every interval.
  disk.probes = 0;
  for (int k = 0; k < 20; ++k) {
    auto r = s.put_message(make_msg("D", 0, "while full"), now + k);  // 20 puts within 20 ms
    CHECK(r.status == PutMessageStatus::kServiceNotAvailable);
    CHECK_MESSAGE(r.detail.find("the broker's disk is full [CL:  1.00") == 0, "detail: " << r.detail);
  }
  CHECK_MESSAGE(disk.probes <= 1, "20 refused puts within 20 ms measured the disk " << disk.probes << " times, expected at most once");
  int before = disk.probes;
  CHECK_FALSE(s.recheck_disk_space(now + 30));  // within the interval: no measurement
  CHECK(disk.probes == before);

  // Space returns (an operator deleted files, or expiry did): the next put after the interval
  // measures, finds room for a commit log and a ConsumeQueue file, and goes through.
  fs.set_capacity_bytes(-1);
  disk.set_used(0.30);
  now += kDiskRecheckIntervalMs + 1;
  auto r = s.put_message(make_msg("D", 0, "after"), now);
  REQUIRE_MESSAGE(r.ok(), "expected PUT_OK after space returned, got " << put_message_status_name(r.status) << " " << r.detail);
  CHECK_FALSE(s.is_disk_full());
  CHECK(s.write_refusal_reason().empty());
  acked.push_back("after");
  CHECK(bodies_of(s, "D", 0) == acked);  // nothing lost, queue offsets dense
  REQUIRE(s.shutdown().ok());
}

TEST_CASE("after ENOSPC, usage below the warning level is not enough: room for the next files is needed") {
  FaultInjectingFileSystem fs;
  FakeDisk disk;
  disk.space = DiskSpace{1LL << 30, 0};
  fs.set_capacity_bytes(4096 + 4096 + 1000);
  auto cfg = small_config("/s", 4096, 50);
  MessageStore s(cfg, fs, quiet_log());
  s.set_disk_space_probe(disk.probe());
  REQUIRE(s.open().ok());
  int64_t now = 5'000'000;
  PutMessageResult last;
  for (int i = 0; i < 200 && (last = s.put_message(make_msg("D", 0, body_for(i)), now)).ok(); ++i) {
  }
  REQUIRE(s.is_disk_full());
  fs.set_capacity_bytes(-1);
  disk.space.available_bytes = 4096;  // 0% used by the ratio, but less than a segment + a CQ file
  now += 1000;
  CHECK_FALSE(s.recheck_disk_space(now));
  CHECK_MESSAGE(s.disk_full_reason().find("[now /s") != std::string::npos, "the reason shows today's figures: " << s.disk_full_reason());
  disk.space.available_bytes = 4096 + 1000;
  now += 1000;
  CHECK(s.recheck_disk_space(now));
  CHECK(s.put_message(make_msg("D", 0, "x"), now).ok());
}

TEST_CASE("usage above diskSpaceWarningLevelRatio: refused until the caller measures it below the level") {
  FaultInjectingFileSystem fs;
  FakeDisk disk;
  MessageStore s(small_config("/s", 4096, 50), fs, quiet_log());
  s.set_disk_space_probe(disk.probe());
  REQUIRE(s.open().ok());
  int64_t now = 2'000'000;
  REQUIRE(s.put_message(make_msg("W", 0, "before"), now).ok());
  ExpiryRequest req;
  req.now_ms = now;
  req.disk_used_ratio = 0.95;
  disk.set_used(0.95);
  s.delete_expired_files(req);
  CHECK(s.is_disk_full());
  CHECK_MESSAGE(s.write_refusal_reason().find("95.0% used, above diskSpaceWarningLevelRatio 90") != std::string::npos,
                "reason: " << s.write_refusal_reason());
  auto r = s.put_message(make_msg("W", 0, "refused"), now + 1000);
  CHECK(r.status == PutMessageStatus::kServiceNotAvailable);
  CHECK(r.detail.find("the broker's disk is full [CL:  0.95 CQ:  0.95 INDEX:  0.95]") == 0);
  // The store's own probe does not override the caller's measurement (its tests and its broker
  // report usage through the same call)...
  disk.set_used(0.60);
  CHECK(s.put_message(make_msg("W", 0, "still"), now + 2000).status == PutMessageStatus::kServiceNotAvailable);
  // ...which the broker repeats every kDiskRecheckIntervalMs while full: files deleted, 60% used.
  s.update_disk_usage(0.60);
  CHECK_FALSE(s.is_disk_full());
  CHECK(s.put_message(make_msg("W", 0, "after"), now + 3000).ok());
  CHECK(bodies_of(s, "W", 0) == std::vector<std::string>{"before", "after"});
}

TEST_CASE("a replicated record whose ConsumeQueue file cannot be created stays; its unit is written when space returns") {
  FaultInjectingFileSystem mfs;
  MessageStore master(small_config("/m", 4096, 50), mfs, quiet_log());
  REQUIRE(master.open().ok());
  std::vector<std::string> sent;
  for (int i = 0; i < 8; ++i) {
    REQUIRE(master.put_message(make_msg("R", 0, body_for(i)), 100 + i).ok());
    sent.push_back(body_for(i));
  }
  auto log = master.read_commit_log(0, 1 << 20);
  REQUIRE(log.ok());

  FaultInjectingFileSystem sfs;
  FakeDisk disk;
  sfs.set_capacity_bytes(4096 + 4096 + 999);  // checkpoint and one commit log file; no ConsumeQueue file
  MessageStore slave(small_config("/sl", 4096, 50), sfs, quiet_log());
  slave.set_disk_space_probe(disk.probe());
  REQUIRE(slave.open().ok());
  int64_t now = 3'000'000;
  disk.set_used(0.999);
  auto a = slave.append_replicated(0, *log, now);
  REQUIRE_MESSAGE(a.ok(), "the bytes are in the CommitLog: " << (a.ok() ? "" : a.detail()));
  CHECK(slave.max_phy_offset() == master.max_phy_offset());
  CHECK(slave.is_writable());
  CHECK(slave.is_disk_full());
  CHECK(slave.max_offset_in_queue("R", 0) == 0);
  CHECK_MESSAGE(slave.write_refusal_reason().find("cannot write consume queue R/0") != std::string::npos,
                "reason: " << slave.write_refusal_reason());
  // More data is refused as "no space" (the HA connection resends it later).
  auto b = slave.append_replicated(slave.max_phy_offset(), "x", now + 1);
  REQUIRE_FALSE(b.ok());
  CHECK(b.code() == IoError::kNoSpace);

  sfs.set_capacity_bytes(-1);
  disk.set_used(0.10);
  CHECK(slave.recheck_disk_space(now + 1000));
  CHECK(slave.takes_writes());
  CHECK(bodies_of(slave, "R", 0) == sent);
}

TEST_CASE("a failed write stays a stop when space returns; the reason is the error, not disk full") {
  FaultInjectingFileSystem fs;
  FakeDisk disk;
  MessageStore s(small_config("/s", 4096, 50), fs, quiet_log());
  s.set_disk_space_probe(disk.probe());
  REQUIRE(s.open().ok());
  REQUIRE(s.put_message(make_msg("F", 0, "x"), 1).ok());
  fs.fail_syncs_after(0);
  CHECK_FALSE(s.flush().ok());
  fs.clear_faults();
  CHECK_FALSE(s.is_writable());
  CHECK_FALSE(s.is_disk_full());
  CHECK_FALSE(s.recheck_disk_space(1'000'000));
  CHECK(s.write_refusal_reason().find("fsync") != std::string::npos);
  auto r = s.put_message(make_msg("F", 0, "y"), 2'000'000);
  CHECK(r.status == PutMessageStatus::kServiceNotAvailable);
  CHECK_MESSAGE(r.detail.find("message store is not writable: ") == 0, "detail: " << r.detail);
}
