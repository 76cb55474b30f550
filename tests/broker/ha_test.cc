// Replication ends in one process: the HA protocol readers on hostile byte streams, and an HaMaster
// and an HaSlave on a real loop over loopback TCP, each with its own store in a temp dir: the slave
// catches up in batches, acknowledges, resumes after a broken connection, SYNC_MASTER waiters
// complete or time out, and a slave that is ahead of its master stops with "diverged".
#include <doctest/doctest.h>

#include <random>

#include "base/clock.h"
#include "broker/ha_service.h"
#include "runtime/event_loop.h"
#include "store/file.h"
#include "store/message_store.h"
#include "tests/store/test_util.h"

using namespace mq;

namespace {

store::MessageStoreConfig store_config(const std::string& root) {
  store::MessageStoreConfig c;
  c.store_path_root_dir = root;
  c.mapped_file_size_commit_log = 64 * 1024;
  c.mapped_file_size_consume_queue = 100 * store::kCqUnitSize;
  return c;
}

void put_messages(store::MessageStore& s, int from, int to) {
  for (int i = from; i < to; ++i) {
    store::MessageToStore m;
    m.topic = i % 3 ? "HaTopicA" : "HaTopicB";
    m.queue_id = i % 2;
    m.body = "ha-body-" + std::to_string(i) + std::string(static_cast<size_t>(i * 37 % 900), 'h');
    m.born_timestamp = 1'700'000'000'000 + i;
    m.properties = encode_properties({{"TAGS", "T" + std::to_string(i % 4)}});
    auto r = s.put_message(m, 1'700'000'000'000 + i);
    REQUIRE(r.ok());
  }
}

// A master's and a slave's store, each open in its own temp dir.
struct StorePair {
  test::TempDir master_dir, slave_dir;
  store::PosixFileSystem fs;
  store::MessageStore master_store{store_config(master_dir.path()), fs, Logger()};
  store::MessageStore slave_store{store_config(slave_dir.path()), fs, Logger()};
  StorePair() {
    REQUIRE(master_store.open().ok());
    REQUIRE(slave_store.open().ok());
  }
};

bool run_until(EventLoop& loop, const std::function<bool()>& cond, int64_t timeout_ms = 10'000) {
  SystemClock clock;
  int64_t deadline = clock.monotonic_ms() + timeout_ms;
  Timer guard(loop);
  guard.start(20, 20, [] {});  // keeps the loop turning while waiting
  bool timed_out = false;
  loop.run_until([&] {
    if (cond()) return true;
    timed_out = clock.monotonic_ms() > deadline;
    return timed_out;
  });
  return !timed_out;
}

HaOptions fast_options() {
  HaOptions o;
  o.transfer_batch_bytes = 4096;  // many batches, records split across them
  o.heartbeat_interval_ms = 100;
  o.housekeeping_interval_ms = 2000;
  o.reconnect_interval_ms = 50;
  o.mapped_file_size_commit_log = 64 * 1024;
  o.window_bytes = 16 * 1024;
  return o;
}

}  // namespace

TEST_CASE("HA report reader keeps the newest whole report, across split reads") {
  ha::ReportReader r;
  std::string two = ha::encode_report(5) + ha::encode_report(1234567890123);
  CHECK_FALSE(r.feed(std::string_view(two).substr(0, 3)).has_value());
  auto got = r.feed(std::string_view(two).substr(3, 10));  // completes the first, starts the second
  REQUIRE(got.has_value());
  CHECK(*got == 5);
  got = r.feed(std::string_view(two).substr(13));
  REQUIRE(got.has_value());
  CHECK(*got == 1234567890123);
}

TEST_CASE("HA transfer reader: frames split anywhere, heartbeats, and bad sizes refused") {
  std::string stream;
  ha::append_transfer_header(stream, 100, 5);
  stream += "hello";
  ha::append_transfer_header(stream, 105, 0);
  ha::append_transfer_header(stream, 105, 3);
  stream += "abc";
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    ha::TransferReader r(1024);
    std::vector<ha::TransferFrame> frames;
    r.feed(std::string_view(stream).substr(0, cut));
    while (auto f = r.next()) frames.push_back(*f);
    r.feed(std::string_view(stream).substr(cut));
    while (auto f = r.next()) frames.push_back(*f);
    REQUIRE(frames.size() == 3);
    CHECK(frames[0].offset == 100);
    CHECK(frames[0].body == "hello");
    CHECK(frames[1].body.empty());
    CHECK(frames[2].offset == 105);
    CHECK(frames[2].body == "abc");
    CHECK(r.error().empty());
  }
  for (int32_t bad : {-1, 1025}) {
    ha::TransferReader r(1024);
    std::string h;
    ha::append_transfer_header(h, 0, bad);
    r.feed(h);
    CHECK_FALSE(r.next().has_value());
    CHECK_FALSE(r.error().empty());
  }
}

TEST_CASE("HaMaster and HaSlave over loopback: catch-up, acknowledgements, SYNC_MASTER waits, reconnect") {
  StorePair stores;
  auto& master_store = stores.master_store;
  auto& slave_store = stores.slave_store;
  put_messages(master_store, 0, 300);  // several 64 KiB segments with BLANK ends
  REQUIRE(master_store.max_phy_offset() > 2 * 64 * 1024);

  SystemClock clock;
  EventLoop loop;
  {
    HaMaster master(loop, master_store, fast_options(), clock, Logger());
    auto port = master.start("127.0.0.1", 0);
    REQUIRE(port.ok());
    int64_t applied_end = -1;
    HaSlave::Callbacks cb;
    cb.ack_offset = [&] { return slave_store.max_phy_offset(); };
    cb.on_applied = [&](int64_t end) { applied_end = end; };
    HaSlave slave(loop, slave_store, fast_options(), clock, Logger(), cb);
    slave.set_master("127.0.0.1:" + std::to_string(*port));
    slave.start();

    // A fresh slave starts at the master's newest segment, as RocketMQ's does.
    int64_t seg_start = master_store.max_phy_offset() / (64 * 1024) * (64 * 1024);
    REQUIRE(run_until(loop, [&] { return slave_store.max_phy_offset() == master_store.max_phy_offset(); }));
    CHECK(slave_store.min_phy_offset() == seg_start);
    CHECK(applied_end == master_store.max_phy_offset());
    REQUIRE(run_until(loop, [&] { return master.acked_offset() == master_store.max_phy_offset(); }));
    CHECK(master.slave_ok(master_store.max_phy_offset()));

    // SYNC_MASTER: a put completes once acknowledged.
    put_messages(master_store, 300, 340);
    int64_t end = master_store.max_phy_offset();
    int acked = 0, timed_out = 0;
    master.wait_for_slave(end, clock.monotonic_ms() + 5000, [&](bool ok) { ok ? ++acked : ++timed_out; });
    master.notify_new_data();
    REQUIRE(run_until(loop, [&] { return acked + timed_out == 1; }));
    CHECK(acked == 1);
    CHECK(slave_store.max_phy_offset() == end);

    // A waiter for bytes no slave has (the slave is stopped) times out.
    slave.stop();
    REQUIRE(run_until(loop, [&] { return master.connection_count() == 0; }));
    CHECK_FALSE(master.slave_ok(end));
    put_messages(master_store, 340, 345);
    master.wait_for_slave(master_store.max_phy_offset(), clock.monotonic_ms() + 200, [&](bool ok) { ok ? ++acked : ++timed_out; });
    REQUIRE(run_until(loop, [&] { return timed_out == 1; }));

    // Restarted, it resumes from its own end and catches up again.
    slave.start();
    put_messages(master_store, 345, 400);
    master.notify_new_data();
    REQUIRE(run_until(loop, [&] { return slave_store.max_phy_offset() == master_store.max_phy_offset(); }));
    CHECK(slave.diverged_reason().empty());

    // Same records, same offsets, in the slave's own ConsumeQueues.
    for (const char* topic : {"HaTopicA", "HaTopicB"})
      for (int32_t q = 0; q < 2; ++q) {
        CHECK(slave_store.max_offset_in_queue(topic, q) == master_store.max_offset_in_queue(topic, q));
        int64_t from = slave_store.min_offset_in_queue(topic, q);
        auto a = master_store.get_message(topic, q, from, 32, 1 << 20);
        auto b = slave_store.get_message(topic, q, from, 32, 1 << 20);
        CHECK(a.status == store::GetMessageStatus::kFound);
        CHECK(a.buffer == b.buffer);
      }
    slave.stop();
    master.stop();
  }
  loop.close_and_drain();
  CHECK(master_store.shutdown().ok());
  CHECK(slave_store.shutdown().ok());
}

TEST_CASE("a slave ahead of its master stops replicating: diverged") {
  StorePair stores;
  auto& master_store = stores.master_store;
  auto& slave_store = stores.slave_store;
  put_messages(slave_store, 0, 20);  // the slave has data its (new, empty) master never had
  put_messages(master_store, 0, 5);
  REQUIRE(slave_store.max_phy_offset() > master_store.max_phy_offset());
  int64_t slave_end = slave_store.max_phy_offset();
  SystemClock clock;
  EventLoop loop;
  {
    HaMaster master(loop, master_store, fast_options(), clock, Logger());
    auto port = master.start("127.0.0.1", 0);
    REQUIRE(port.ok());
    HaSlave slave(loop, slave_store, fast_options(), clock, Logger(), {});
    slave.set_master("127.0.0.1:" + std::to_string(*port));
    slave.start();
    REQUIRE(run_until(loop, [&] { return !slave.diverged_reason().empty(); }));
    CHECK(slave.diverged_reason().find("diverged") != std::string::npos);
    CHECK(slave_store.max_phy_offset() == slave_end);
    CHECK(master.acked_offset() == 0);
    slave.stop();
    master.stop();
  }
  loop.close_and_drain();
  CHECK(master_store.shutdown().ok());
  CHECK(slave_store.shutdown().ok());
}
