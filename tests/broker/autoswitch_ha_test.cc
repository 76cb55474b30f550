// AutoSwitchHaMaster and AutoSwitchHaClient (broker/autoswitch_ha_service.h) in one process over
// loopback TCP, each end with its own store and epoch file in a temp dir. Time comes from a
// ManualClock, so the SyncStateSet rules (caught-up times, shrink checks, housekeeping, waiter
// deadlines, reconnects) move only when a test advances it; the loop runs until a condition holds,
// bounded by real time. Where a test needs to see or steer single frames, one end is the test
// itself: FakeSlave (drives a real master frame by frame, acks only when told) or FakeMaster (a
// scripted master for a real client), both speaking broker/autoswitch_ha_protocol.h.
#include <doctest/doctest.h>

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/clock.h"
#include "broker/autoswitch_ha_protocol.h"
#include "broker/autoswitch_ha_service.h"
#include "runtime/event_loop.h"
#include "runtime/tcp.h"
#include "store/epoch_file.h"
#include "store/file.h"
#include "store/message_store.h"
#include "tests/store/test_util.h"

using namespace mq;
namespace as = mq::ha::autoswitch;

namespace {

constexpr int64_t kSegmentBytes = 64 * 1024;
constexpr int64_t kMasterId = 1;

store::MessageStoreConfig store_config(const std::string& root) {
  store::MessageStoreConfig c;
  c.store_path_root_dir = root;
  c.mapped_file_size_commit_log = kSegmentBytes;
  c.mapped_file_size_consume_queue = 100 * store::kCqUnitSize;
  return c;
}

// One replica's disk: a store and an epoch file in a temp dir.
struct Replica {
  test::TempDir dir;
  store::PosixFileSystem fs;
  store::MessageStore store{store_config(dir.path()), fs, Logger()};
  std::optional<store::EpochFile> epochs;
  Replica() {
    REQUIRE(store.open().ok());
    auto e = store::EpochFile::open(fs, epoch_path());
    REQUIRE(e.ok());
    epochs.emplace(std::move(*e));
  }
  ~Replica() { (void)store.shutdown(); }
  std::string epoch_path() const { return dir.path() + "/epochFileCheckpoint"; }
  void append_epoch(int32_t epoch) {
    auto a = epochs->append(epoch, store.max_phy_offset());
    REQUIRE_MESSAGE(a.ok(), "appending epoch " << epoch << " at " << store.max_phy_offset() << ": " << a.detail());
  }
  // Messages [from, to); `variant` changes the bodies, so two replicas can write different records.
  void put(int from, int to, const std::string& variant = "") {
    for (int i = from; i < to; ++i) {
      store::MessageToStore m;
      m.topic = i % 3 ? "AsTopicA" : "AsTopicB";
      m.queue_id = i % 2;
      m.body = "as-body-" + variant + std::to_string(i) + std::string(static_cast<size_t>(i * 53 % 1100), 'a');
      m.born_timestamp = 1'700'000'000'000 + i;
      m.properties = encode_properties({{"TAGS", "T" + std::to_string(i % 4)}});
      auto r = store.put_message(m, 1'700'000'000'000 + i);
      REQUIRE_MESSAGE(r.ok(), "put of message " << i << " failed");
    }
  }
  // The whole CommitLog from its min offset (reads stop at segment ends).
  std::string log_bytes() {
    std::string out;
    int64_t at = store.min_phy_offset();
    while (at < store.max_phy_offset()) {
      auto chunk = store.read_commit_log(at, 1 << 20);
      REQUIRE_MESSAGE(chunk.ok(), "reading the commit log at " << at << ": " << chunk.detail());
      REQUIRE_MESSAGE(!chunk->empty(), "no commit log bytes at " << at << " below max " << store.max_phy_offset());
      out += *chunk;
      at += static_cast<int64_t>(chunk->size());
    }
    return out;
  }
};

std::string text(const std::vector<store::EpochEntry>& entries) {
  std::string out;
  for (const auto& e : entries) out += "(" + std::to_string(e.epoch) + "," + std::to_string(e.start_offset) + ")";
  return out.empty() ? "(none)" : out;
}

std::string text(const std::set<int64_t>& ids) {
  std::string out = "{";
  for (int64_t id : ids) out += (out.size() > 1 ? "," : "") + std::to_string(id);
  return out + "}";
}

// Logs and epoch files of two replicas are the same (a failure says where they differ).
void check_same(Replica& master, Replica& slave) {
  CHECK_MESSAGE(slave.store.max_phy_offset() == master.store.max_phy_offset(),
                "slave log ends at " << slave.store.max_phy_offset() << ", master's at "
                                     << master.store.max_phy_offset());
  CHECK_MESSAGE(slave.store.min_phy_offset() == master.store.min_phy_offset(),
                "slave log starts at " << slave.store.min_phy_offset() << ", master's at "
                                       << master.store.min_phy_offset());
  std::string a = master.log_bytes(), b = slave.log_bytes();
  size_t diff = 0;
  while (diff < a.size() && diff < b.size() && a[diff] == b[diff]) ++diff;
  const bool same_log = a == b;  // not inside CHECK: doctest would print both logs
  CHECK_MESSAGE(same_log, "commit logs differ from byte " << diff << " (master " << a.size() << " bytes, slave "
                                                          << b.size() << ")");
  CHECK_MESSAGE(slave.epochs->entries() == master.epochs->entries(),
                "slave epochs " << text(slave.epochs->entries()) << ", master's " << text(master.epochs->entries()));
  for (const char* topic : {"AsTopicA", "AsTopicB"})
    for (int32_t q = 0; q < 2; ++q)
      CHECK_MESSAGE(slave.store.max_offset_in_queue(topic, q) == master.store.max_offset_in_queue(topic, q),
                    topic << "/" << q << ": slave queue ends at " << slave.store.max_offset_in_queue(topic, q)
                          << ", master's at " << master.store.max_offset_in_queue(topic, q));
}

// Runs the loop until cond() holds; false after timeout_ms of real time. A timer keeps the loop
// turning while nothing else happens.
bool run_until(EventLoop& loop, const std::function<bool()>& cond, int64_t timeout_ms = 10'000) {
  SystemClock real;
  const int64_t deadline = real.monotonic_ms() + timeout_ms;
  Timer guard(loop);
  guard.start(5, 5, [] {});
  bool timed_out = false;
  loop.run_until([&] {
    if (cond()) return true;
    timed_out = real.monotonic_ms() > deadline;
    return timed_out;
  });
  return !timed_out;
}

AutoSwitchHaOptions fast_options() {
  AutoSwitchHaOptions o;
  o.transfer_batch_bytes = 3000;  // records split across batches; many batches per segment
  // Everything goes out without waiting for acknowledgements, so a FakeSlave can hold its acks
  // back; the window itself is exercised by the first test.
  o.window_bytes = 8 << 20;
  o.mapped_file_size_commit_log = kSegmentBytes;
  return o;
}

std::string addr(int port) { return "127.0.0.1:" + std::to_string(port); }

// The controller as the master's alter_sync_state_set callback sees it: every proposal is kept;
// with auto_confirm it is confirmed at once with the next epoch, otherwise the test answers it.
struct FakeController {
  bool auto_confirm = false;
  int32_t epoch = 4;  // no test's master starts with a SyncStateSet epoch above it
  std::vector<std::set<int64_t>> proposals;
  std::vector<std::function<void(std::optional<SyncStateSet>)>> pending;
  AutoSwitchHaMaster::Callbacks callbacks() {
    AutoSwitchHaMaster::Callbacks cb;
    cb.alter_sync_state_set = [this](std::set<int64_t> proposed,
                                     std::function<void(std::optional<SyncStateSet>)> done) {
      proposals.push_back(proposed);
      if (auto_confirm) return done(SyncStateSet{proposed, ++epoch});
      pending.push_back(std::move(done));
    };
    return cb;
  }
  // Answers the oldest unanswered proposal: confirmed with the next epoch, or refused.
  void answer(bool confirm) {
    REQUIRE_MESSAGE(!pending.empty(), "expected a proposal in flight, there is none");
    auto done = std::move(pending.front());
    pending.erase(pending.begin());
    if (confirm) {
      done(SyncStateSet{proposals[proposals.size() - pending.size() - 1], ++epoch});
    } else {
      done(std::nullopt);
    }
  }
};

// The test's own slave: raw frames to a real master, acks only when told (or auto_ack).
class FakeSlave {
 public:
  explicit FakeSlave(EventLoop& loop) : loop_(loop) {}
  ~FakeSlave() {
    *alive_ = false;
    if (conn_) conn_->close("test over");
  }
  void connect(int port) {
    bool done = false;
    std::weak_ptr<bool> alive = alive_;
    auto on_connect = [this, alive, &done](Result<std::shared_ptr<TcpConnection>, NetError> r) {
      if (alive.expired()) return;
      done = true;
      if (!r.ok()) return;
      conn_ = *r;
      conn_->start({[this, alive](std::string_view data) {
                      if (!alive.expired()) on_data(data);
                    },
                    [this, alive](const std::string& why) {
                      if (alive.expired()) return;
                      closed = true;
                      close_reason = why;
                    }});
    };
    attempt_ = tcp_connect(loop_, "127.0.0.1", port, std::move(on_connect));
    REQUIRE_MESSAGE(run_until(loop_, [&] { return done; }),
                    "connecting to the master's HA port " << port << " timed out");
    REQUIRE_MESSAGE(conn_ != nullptr, "could not connect to the master's HA port " << port);
  }
  void send(std::string_view bytes) { conn_->write(bytes); }
  void handshake(int64_t id, bool async_learner = false, bool sync_from_last_file = false) {
    send(as::encode_slave_handshake({sync_from_last_file, async_learner, id}));
  }
  void report(int64_t offset) { send(as::encode_slave_report(offset)); }
  void close() { conn_->close("test closes the slave"); }
  // End of the data received so far (-1 before any data frame).
  int64_t received_end() const { return received_end_; }
  int heartbeats() const { return heartbeats_; }

  bool auto_ack = false;
  bool closed = false;
  std::string close_reason;
  std::vector<as::HandshakeReply> replies;
  std::vector<as::TransferFrame> transfers;  // with bodies; heartbeats are only counted
  std::string reader_error;

 private:
  void on_data(std::string_view data) {
    reader_.feed(data);
    while (auto f = reader_.next()) {
      if (auto* r = std::get_if<as::HandshakeReply>(&*f)) {
        replies.push_back(*r);
      } else if (auto* t = std::get_if<as::TransferFrame>(&*f)) {
        if (t->body.empty()) {
          ++heartbeats_;
          continue;
        }
        received_end_ = t->offset + static_cast<int64_t>(t->body.size());
        transfers.push_back(std::move(*t));
        if (auto_ack) report(received_end_);
      }
    }
    if (!reader_.error().empty()) reader_error = reader_.error();
  }

  EventLoop& loop_;
  std::shared_ptr<TcpConnectAttempt> attempt_;
  std::shared_ptr<TcpConnection> conn_;
  as::SlaveSideReader reader_{1 << 20};
  int64_t received_end_ = -1;
  int heartbeats_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// The test's own master: accepts a real client's connections and records its frames; the test
// writes whatever it wants back.
class FakeMaster {
 public:
  explicit FakeMaster(EventLoop& loop) : listener_(loop) {}
  ~FakeMaster() {
    *alive_ = false;
    listener_.close();
    if (conn_) conn_->close("test over");
  }
  int start() {
    std::weak_ptr<bool> alive = alive_;
    auto port = listener_.listen("127.0.0.1", 0, [this, alive](std::shared_ptr<TcpConnection> c) {
      if (alive.expired()) return;
      if (conn_) conn_->close("replaced");
      conn_ = c;
      reader_ = std::make_unique<as::MasterSideReader>();
      ++accepted;
      if (on_accept) on_accept();
      uint64_t id = c->id();
      c->start({[this, alive](std::string_view data) {
                  if (!alive.expired()) on_data(data);
                },
                [this, alive, id](const std::string&) {
                  if (alive.expired()) return;
                  ++closed;
                  if (conn_ && conn_->id() == id) conn_.reset();
                }});
    });
    REQUIRE_MESSAGE(port.ok(), "a fake master cannot listen on a loopback port");
    return *port;
  }
  void send(std::string_view bytes) {
    REQUIRE_MESSAGE(conn_ != nullptr, "the fake master has no slave connection to write to");
    conn_->write(bytes);
  }
  bool connected() const { return conn_ != nullptr; }

  int accepted = 0;
  int closed = 0;
  std::function<void()> on_accept;
  std::vector<as::SlaveHandshake> handshakes;
  std::vector<int64_t> reports;

 private:
  void on_data(std::string_view data) {
    reader_->feed(data);
    while (auto f = reader_->next()) {
      if (auto* h = std::get_if<as::SlaveHandshake>(&*f)) handshakes.push_back(*h);
      if (auto* r = std::get_if<as::SlaveReport>(&*f)) reports.push_back(r->max_offset);
    }
  }

  TcpListener listener_;
  std::shared_ptr<TcpConnection> conn_;
  std::unique_ptr<as::MasterSideReader> reader_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

int64_t status_ack_of(const AutoSwitchHaMaster& master, int64_t slave_id) {
  const nlohmann::json status = master.status();
  for (const auto& s : status["slaves"])
    if (s["brokerId"].get<int64_t>() == slave_id) return s["ackOffset"].get<int64_t>();
  return -2;
}

std::string describe(int64_t v) { return std::to_string(v); }

// Runs the loop until actual() == expected; a failure names what was awaited, expected and got.
template <typename Actual, typename Expected>
void wait_eq(EventLoop& loop, const char* what, Actual actual, const Expected& expected) {
  bool ok = run_until(loop, [&] { return actual() == expected; });
  REQUIRE_MESSAGE(ok, what << ": expected " << describe(expected) << ", still " << describe(actual())
                           << " after 10 s");
}

// Runs the loop until cond() holds; `what` says what should have happened.
void wait_for(EventLoop& loop, const char* what, const std::function<bool()>& cond) {
  REQUIRE_MESSAGE(run_until(loop, cond), "expected " << what << ", not so after 10 s");
}

// A heartbeat after the manual clock moved shows the master's periodic work ran at the new time.
void wait_heartbeat(EventLoop& loop, const FakeSlave& slave, int before) {
  REQUIRE_MESSAGE(run_until(loop, [&] { return slave.heartbeats() > before; }),
                  "expected a heartbeat after the clock moved, none came (" << before << " so far)");
}

template <typename Container>
void wait_count(EventLoop& loop, const char* what, const Container& c, size_t n) {
  bool ok = run_until(loop, [&] { return c.size() == n; });
  REQUIRE_MESSAGE(ok, what << ": expected " << n << ", still " << c.size() << " after 10 s");
}

void check_members(const AutoSwitchHaMaster& master, const std::set<int64_t>& want) {
  CHECK_MESSAGE(master.sync_state_set().members == want,
                "SyncStateSet " << text(master.sync_state_set().members) << ", expected " << text(want));
}

}  // namespace

TEST_CASE("an empty slave replicates a master's log of several segments and epochs, byte for byte") {
  Replica m, s;
  m.append_epoch(1);
  m.put(0, 90);
  m.append_epoch(2);
  m.put(90, 200);
  m.append_epoch(5);
  m.put(200, 330);
  REQUIRE(m.store.max_phy_offset() > 3 * kSegmentBytes);
  REQUIRE(m.epochs->size() == 3);

  ManualClock clock;
  EventLoop loop;
  {
    FakeController controller;
    controller.auto_confirm = true;
    auto opt = fast_options();
    opt.window_bytes = 16 * 1024;  // the master waits for acknowledgements every few batches
    AutoSwitchHaMaster master(loop, m.store, *m.epochs, opt, clock, Logger(), kMasterId, SyncStateSet{{kMasterId}, 1},
                              controller.callbacks());
    auto port = master.start("127.0.0.1", 0);
    REQUIRE(port.ok());
    int64_t applied_end = -1;
    AutoSwitchHaClient::Callbacks cb;
    cb.on_applied = [&](int64_t end) { applied_end = end; };
    AutoSwitchHaClient client(loop, s.store, *s.epochs, fast_options(), clock, Logger(), 2, cb);
    client.set_master(addr(*port));
    client.start();

    REQUIRE_MESSAGE(run_until(loop, [&] { return s.store.max_phy_offset() == m.store.max_phy_offset(); }),
                    "slave stopped at " << s.store.max_phy_offset() << " of " << m.store.max_phy_offset() << "; "
                                        << client.status().dump());
    check_same(m, s);
    CHECK_MESSAGE(applied_end == m.store.max_phy_offset(), "on_applied saw " << applied_end);
    // The epoch file on disk says the same as the one in memory.
    auto reread = store::EpochFile::open(s.fs, s.epoch_path());
    REQUIRE(reread.ok());
    CHECK_MESSAGE(reread->entries() == m.epochs->entries(),
                  "slave's epoch file on disk " << text(reread->entries()) << ", master's "
                                                << text(m.epochs->entries()));

    // Caught up: proposed for the SyncStateSet, confirmed, and told everything is confirmed.
    REQUIRE_MESSAGE(run_until(loop, [&] { return (master.sync_state_set().members == std::set<int64_t>{1, 2}); }),
                    "SyncStateSet is " << text(master.sync_state_set().members) << ", expected {1,2}");
    REQUIRE(controller.proposals.size() == 1);
    CHECK(master.sync_state_set().epoch == 5);
    REQUIRE_MESSAGE(run_until(loop, [&] { return client.confirm_offset() == m.store.max_phy_offset(); }),
                    "slave's confirm offset " << client.confirm_offset() << ", expected " << m.store.max_phy_offset());

    // New data in a new epoch follows, the epoch recorded where it starts.
    m.append_epoch(6);
    m.put(330, 360);
    master.notify_new_data();
    REQUIRE_MESSAGE(run_until(loop, [&] { return s.store.max_phy_offset() == m.store.max_phy_offset(); }),
                    "slave stopped at " << s.store.max_phy_offset() << " of " << m.store.max_phy_offset());
    check_same(m, s);
    CHECK_MESSAGE(client.connected(), "the slave is not connected any more: " << client.status().dump());
    client.stop();
    master.stop();
  }
  loop.close_and_drain();
}

TEST_CASE("the master's batches stay inside one epoch and carry its number and start") {
  Replica m;
  m.append_epoch(1);
  m.put(0, 40);
  m.append_epoch(3);
  m.put(40, 41);  // an epoch of one record, shorter than a batch
  m.append_epoch(4);
  m.put(41, 120);
  m.append_epoch(7);
  m.put(120, 150);
  const auto epochs = m.epochs->entries(m.store.max_phy_offset());

  ManualClock clock;
  EventLoop loop;
  {
    FakeController controller;
    AutoSwitchHaMaster master(loop, m.store, *m.epochs, fast_options(), clock, Logger(), kMasterId,
                              SyncStateSet{{kMasterId}, 1}, controller.callbacks());
    auto port = master.start("127.0.0.1", 0);
    REQUIRE(port.ok());
    FakeSlave slave(loop);
    slave.connect(*port);
    slave.handshake(2);
    wait_count(loop, "replies", slave.replies, 1);
    const auto& reply = slave.replies[0];
    CHECK_MESSAGE(reply.master_max_offset == m.store.max_phy_offset(),
                  "handshake reply max offset " << reply.master_max_offset << ", store's " << m.store.max_phy_offset());
    CHECK(reply.master_last_epoch == 7);
    CHECK_MESSAGE(reply.entries == epochs, "reply entries " << text(reply.entries) << ", epoch file " << text(epochs));
    CHECK(slave.transfers.empty());  // nothing before the first report

    slave.auto_ack = true;
    slave.report(0);
    REQUIRE_MESSAGE(run_until(loop, [&] { return slave.received_end() == m.store.max_phy_offset(); }),
                    "fake slave received up to " << slave.received_end() << " of " << m.store.max_phy_offset());

    std::string body;
    int64_t next = 0;
    std::set<int64_t> frame_ends;
    for (const auto& f : slave.transfers) {
      CHECK_MESSAGE(f.offset == next, "frame at " << f.offset << ", expected " << next);
      CHECK_MESSAGE(f.body.size() <= 3000,
                    "frame at " << f.offset << " has " << f.body.size() << " bytes, batch is 3000");
      auto e = m.epochs->find_entry_containing(f.offset);
      REQUIRE(e.has_value());
      CHECK_MESSAGE(f.epoch == e->epoch,
                    "frame at " << f.offset << " says epoch " << f.epoch << ", holder is " << e->epoch);
      CHECK_MESSAGE(f.epoch_start_offset == e->start_offset,
                    "frame at " << f.offset << " says epoch start " << f.epoch_start_offset << ", expected "
                                << e->start_offset);
      int64_t end = f.offset + static_cast<int64_t>(f.body.size());
      CHECK_MESSAGE(end <= e->end_offset, "frame [" << f.offset << "," << end << ") crosses the end " << e->end_offset
                                                    << " of epoch " << e->epoch);
      CHECK(f.confirm_offset == m.store.max_phy_offset());
      body += f.body;
      next = end;
      frame_ends.insert(end);
    }
    for (size_t i = 1; i < epochs.size(); ++i)
      CHECK_MESSAGE(frame_ends.count(epochs[i].start_offset) == 1,
                    "no frame ends at the start " << epochs[i].start_offset << " of epoch " << epochs[i].epoch);
    const bool same_log = body == m.log_bytes();
    CHECK_MESSAGE(same_log, "the frames' bodies (" << body.size() << " bytes) are not the master's commit log");
    CHECK_MESSAGE(!slave.closed, "the master closed the connection: " << slave.close_reason);
    master.stop();
  }
  loop.close_and_drain();
}

TEST_CASE("a diverged slave is cut back to the consistent point, then takes the master's data") {
  Replica m, s;
  // Common history in epoch 1 (same records at the same offsets), then the slave led epoch 2 alone
  // (the old master, say) while the master was elected for epoch 3 at the same offset.
  m.append_epoch(1);
  s.append_epoch(1);
  m.put(0, 70);
  s.put(0, 70);
  const bool same_start = m.log_bytes() == s.log_bytes();
  REQUIRE_MESSAGE(same_start, "the two replicas' first 70 records differ; the test needs them equal");
  const int64_t common = m.store.max_phy_offset();
  s.append_epoch(2);
  s.put(70, 130, "old-master-");
  m.append_epoch(3);
  m.put(70, 110, "new-master-");
  REQUIRE(s.store.max_phy_offset() > m.store.max_phy_offset());

  ManualClock clock;
  EventLoop loop;
  {
    FakeController controller;
    controller.auto_confirm = true;
    AutoSwitchHaMaster master(loop, m.store, *m.epochs, fast_options(), clock, Logger(), kMasterId,
                              SyncStateSet{{kMasterId}, 1}, controller.callbacks());
    auto port = master.start("127.0.0.1", 0);
    REQUIRE(port.ok());
    std::vector<int64_t> cuts;
    AutoSwitchHaClient::Callbacks cb;
    cb.truncate = [&](int64_t offset) {
      cuts.push_back(offset);
      return s.store.truncate_commit_log(offset);
    };
    AutoSwitchHaClient client(loop, s.store, *s.epochs, fast_options(), clock, Logger(), 2, cb);
    client.set_master(addr(*port));
    client.start();
    REQUIRE_MESSAGE(run_until(loop, [&] {
                      return s.epochs->last_epoch() == 3 && s.store.max_phy_offset() == m.store.max_phy_offset();
                    }),
                    "slave at " << s.store.max_phy_offset() << " with epochs " << text(s.epochs->entries())
                                << "; master at " << m.store.max_phy_offset() << "; " << client.status().dump());
    CHECK_MESSAGE((cuts == std::vector<int64_t>{common}), "truncations: " << cuts.size() << ", the first at "
                                                                          << (cuts.empty() ? -1 : cuts[0])
                                                                          << "; expected one, at " << common);
    CHECK(client.status()["truncations"].get<int64_t>() == 1);
    check_same(m, s);
    // The records of the old epoch 2 are gone from the slave's ConsumeQueues, not just its log.
    auto got = s.store.get_message("AsTopicA", 1, 0, 1000, 64 << 20);
    auto want = m.store.get_message("AsTopicA", 1, 0, 1000, 64 << 20);
    const bool same_queue = got.buffer == want.buffer;
    CHECK_MESSAGE(same_queue, "AsTopicA/1 reads differently on the slave than on the master");
    client.stop();
    master.stop();
  }
  loop.close_and_drain();
}

TEST_CASE("a slave with no epoch in common with the master refuses to replicate and keeps its log") {
  Replica m, s;
  m.append_epoch(3);
  m.put(0, 30, "m-");
  s.append_epoch(1);
  s.put(0, 20, "s-");
  s.append_epoch(2);
  s.put(20, 40, "s-");
  const int64_t slave_end = s.store.max_phy_offset();
  const auto slave_epochs = s.epochs->entries();
  const std::string slave_log = s.log_bytes();

  ManualClock clock;
  EventLoop loop;
  {
    FakeController controller;
    AutoSwitchHaMaster master(loop, m.store, *m.epochs, fast_options(), clock, Logger(), kMasterId,
                              SyncStateSet{{kMasterId}, 1}, controller.callbacks());
    auto port = master.start("127.0.0.1", 0);
    REQUIRE(port.ok());
    int cuts = 0;
    AutoSwitchHaClient::Callbacks cb;
    cb.truncate = [&](int64_t offset) {
      ++cuts;
      return s.store.truncate_commit_log(offset);
    };
    AutoSwitchHaClient client(loop, s.store, *s.epochs, fast_options(), clock, Logger(), 2, cb);
    client.set_master(addr(*port));
    client.start();
    auto error = [&] { return client.status().value("lastError", std::string()); };
    REQUIRE_MESSAGE(run_until(loop, [&] { return error().find("no epoch in common") != std::string::npos; }),
                    "client status " << client.status().dump());
    REQUIRE_MESSAGE(run_until(loop, [&] { return master.connection_count() == 0; }),
                    "the master still has " << master.connection_count() << " connections after the refusal");
    // Retrying (after the reconnect interval) fails the same way; nothing is ever cut.
    clock.advance_ms(fast_options().reconnect_interval_ms);
    wait_eq(loop, "master.connection_count()", [&] { return master.connection_count(); }, 1);
    wait_eq(loop, "master.connection_count()", [&] { return master.connection_count(); }, 0);
    CHECK(error().find("no epoch in common") != std::string::npos);
    CHECK_FALSE(client.connected());
    CHECK_MESSAGE(cuts == 0, cuts << " truncations of a slave that shares no epoch with its master");
    CHECK(s.store.max_phy_offset() == slave_end);
    const bool log_kept = s.log_bytes() == slave_log;
    CHECK_MESSAGE(log_kept, "the refusing slave's log changed");
    CHECK_MESSAGE(s.epochs->entries() == slave_epochs, "slave epochs now " << text(s.epochs->entries()) << ", were "
                                                                           << text(slave_epochs));
    check_members(master, {kMasterId});
    CHECK(controller.proposals.empty());
    client.stop();
    master.stop();
  }
  loop.close_and_drain();
}

TEST_CASE("a slave ahead of the master in the same epoch is cut back to the master's end") {
  Replica m, s;
  m.append_epoch(1);
  s.append_epoch(1);
  m.put(0, 60);
  s.put(0, 100);  // the same first 60 records, then 40 the master never got
  const int64_t master_end = m.store.max_phy_offset();
  REQUIRE(s.store.max_phy_offset() > master_end);

  ManualClock clock;
  EventLoop loop;
  {
    FakeController controller;
    controller.auto_confirm = true;
    AutoSwitchHaMaster master(loop, m.store, *m.epochs, fast_options(), clock, Logger(), kMasterId,
                              SyncStateSet{{kMasterId}, 1}, controller.callbacks());
    auto port = master.start("127.0.0.1", 0);
    REQUIRE(port.ok());
    std::vector<int64_t> cuts;
    AutoSwitchHaClient::Callbacks cb;
    cb.truncate = [&](int64_t offset) {
      cuts.push_back(offset);
      return s.store.truncate_commit_log(offset);
    };
    AutoSwitchHaClient client(loop, s.store, *s.epochs, fast_options(), clock, Logger(), 2, cb);
    client.set_master(addr(*port));
    client.start();
    REQUIRE_MESSAGE(run_until(loop, [&] { return client.connected() && !cuts.empty(); }), client.status().dump());
    CHECK_MESSAGE((cuts == std::vector<int64_t>{master_end}), "cuts: " << cuts.size() << ", the first at " << cuts[0]
                                                                  << "; expected one, at " << master_end);
    CHECK(s.store.max_phy_offset() == master_end);
    // The master writes on (other records at the offsets the slave had); the slave follows.
    m.put(60, 90, "after-");
    master.notify_new_data();
    REQUIRE_MESSAGE(run_until(loop, [&] { return s.store.max_phy_offset() == m.store.max_phy_offset(); }),
                    "slave at " << s.store.max_phy_offset() << ", master at " << m.store.max_phy_offset());
    check_same(m, s);
    client.stop();
    master.stop();
  }
  loop.close_and_drain();
}

TEST_CASE("SyncStateSet: a caught-up slave is proposed and confirmed; one behind too long is removed") {
  Replica m;
  m.append_epoch(1);
  m.put(0, 50);
  ManualClock clock;
  EventLoop loop;
  {
    FakeController controller;
    auto opt = fast_options();
    opt.all_ack_in_sync_state_set = true;
    opt.min_in_sync_replicas = 2;
    AutoSwitchHaMaster master(loop, m.store, *m.epochs, opt, clock, Logger(), kMasterId, SyncStateSet{{kMasterId}, 1},
                              controller.callbacks());
    auto port = master.start("127.0.0.1", 0);
    REQUIRE(port.ok());
    CHECK_FALSE(master.enough_in_sync());  // {1} < minInSyncReplicas 2

    FakeSlave slave(loop);
    slave.connect(*port);
    slave.handshake(2);
    slave.report(0);
    wait_eq(loop, "slave.received_end()", [&] { return slave.received_end(); }, m.store.max_phy_offset());
    CHECK(controller.proposals.empty());  // received is not acknowledged
    slave.report(slave.received_end());
    REQUIRE_MESSAGE(run_until(loop, [&] { return controller.proposals.size() == 1; }), master.status().dump());
    CHECK_MESSAGE((controller.proposals[0] == std::set<int64_t>{1, 2}),
                  "proposed " << text(controller.proposals[0]) << ", expected {1,2}");

    // In flight: the set is still {1}, but acks count against {1,2} and so does minInSyncReplicas.
    check_members(master, {1});
    CHECK(master.enough_in_sync());
    m.put(50, 55);
    const int64_t e1 = m.store.max_phy_offset();
    master.notify_new_data();
    int done = 0;
    bool ok = false;
    master.wait_for_replicas(e1, clock.monotonic_ms() + 3000, [&](bool r) {
      ++done;
      ok = r;
    });
    wait_eq(loop, "slave.received_end()", [&] { return slave.received_end(); }, e1);
    CHECK_MESSAGE(done == 0, "a put completed before the slave being added acknowledged it");
    slave.report(e1);
    wait_eq(loop, "done", [&] { return done; }, 1);
    CHECK_MESSAGE(ok, "the wait failed (deadline) instead of completing on the acknowledgement");

    controller.answer(true);
    check_members(master, {1, 2});
    CHECK(master.sync_state_set().epoch == 5);
    CHECK(master.enough_in_sync());

    // The slave stops acknowledging. Not removed before haMaxTimeSlaveNotCatchup (15 s) ...
    m.put(55, 70);
    master.notify_new_data();
    wait_eq(loop, "slave.received_end()", [&] { return slave.received_end(); }, m.store.max_phy_offset());
    clock.advance_ms(10'000);
    int hb = slave.heartbeats();
    REQUIRE_MESSAGE(run_until(loop, [&] { return slave.heartbeats() > hb; }), "no heartbeat after 10 s of manual time");
    CHECK_MESSAGE(controller.proposals.size() == 1, "proposed " << text(controller.proposals.back()) << " after 10 s");
    // ... and at the first check after it.
    clock.advance_ms(5001);
    REQUIRE_MESSAGE(run_until(loop, [&] { return controller.proposals.size() == 2; }), master.status().dump());
    CHECK_MESSAGE((controller.proposals[1] == std::set<int64_t>{1}),
                  "proposed " << text(controller.proposals[1]) << ", expected {1}");
    // 15 s without a report is below haHousekeepingInterval.
    CHECK_MESSAGE(!slave.closed, "the master closed a lagging slave: " << slave.close_reason);
    controller.answer(true);
    check_members(master, {1});
    CHECK_FALSE(master.enough_in_sync());
    master.stop();
  }
  loop.close_and_drain();
}

TEST_CASE("SyncStateSet: a closed connection proposes removal at once, also after a proposal in flight") {
  Replica m;
  m.append_epoch(1);
  m.put(0, 30);
  ManualClock clock;
  EventLoop loop;
  {
    FakeController controller;
    AutoSwitchHaMaster master(loop, m.store, *m.epochs, fast_options(), clock, Logger(), kMasterId,
                              SyncStateSet{{1, 2, 3}, 4}, controller.callbacks());
    auto port = master.start("127.0.0.1", 0);
    REQUIRE(port.ok());
    FakeSlave s2(loop), s3(loop);
    for (auto [slave, id] : {std::pair{&s2, 2}, std::pair{&s3, 3}}) {
      slave->connect(*port);
      slave->auto_ack = true;
      slave->handshake(id);
      slave->report(0);
    }
    const int64_t end = m.store.max_phy_offset();
    wait_eq(loop, "status_ack_of(master, 2)", [&] { return status_ack_of(master, 2); }, end);
    wait_eq(loop, "status_ack_of(master, 3)", [&] { return status_ack_of(master, 3); }, end);
    CHECK(controller.proposals.empty());

    s2.close();
    REQUIRE_MESSAGE(run_until(loop, [&] { return controller.proposals.size() == 1; }),
                    "no proposal after a member's connection closed; " << master.status().dump());
    CHECK_MESSAGE((controller.proposals[0] == std::set<int64_t>{1, 3}), "proposed " << text(controller.proposals[0]));

    // Slave 3 goes too while {1,3} is in flight: once that is answered, {1} follows at once,
    // without waiting for the periodic check (the clock does not move).
    s3.close();
    wait_eq(loop, "master.connection_count()", [&] { return master.connection_count(); }, 0);
    CHECK(controller.proposals.size() == 1);
    controller.answer(true);
    check_members(master, {1, 3});
    REQUIRE_MESSAGE(run_until(loop, [&] { return controller.proposals.size() == 2; }, 2000),
                    "the closed connection of slave 3 was not acted on after the proposal in flight was answered");
    CHECK_MESSAGE((controller.proposals[1] == std::set<int64_t>{1}), "proposed " << text(controller.proposals[1]));
    controller.answer(true);
    check_members(master, {1});
    master.stop();
  }
  loop.close_and_drain();
}

TEST_CASE("SyncStateSet: a member that reconnects behind keeps the caught-up time it had") {
  Replica m;
  m.append_epoch(1);
  m.put(0, 30);
  ManualClock clock;
  EventLoop loop;
  {
    FakeController controller;
    auto opt = fast_options();
    opt.heartbeat_interval_ms = 1000;  // a heartbeat shows that a tick ran after the clock moved
    AutoSwitchHaMaster master(loop, m.store, *m.epochs, opt, clock, Logger(), kMasterId, SyncStateSet{{1, 2}, 4},
                              controller.callbacks());
    auto port = master.start("127.0.0.1", 0);
    REQUIRE(port.ok());
    const int64_t first_end = m.store.max_phy_offset();
    {
      FakeSlave s2(loop);
      s2.connect(*port);
      s2.auto_ack = true;
      s2.handshake(2);
      s2.report(0);
      wait_eq(loop, "status_ack_of(master, 2)", [&] { return status_ack_of(master, 2); }, first_end);
      s2.close();
      wait_count(loop, "proposals", controller.proposals, 1);
      controller.answer(false);  // the controller refused: 2 stays in the set
    }
    check_members(master, {1, 2});
    m.put(30, 60);
    master.notify_new_data();
    // 1 s later it is back, behind, and slow: it reports where it was and nothing more yet.
    clock.advance_ms(1000);
    FakeSlave again(loop);
    again.connect(*port);
    again.handshake(2);
    again.report(first_end);
    wait_eq(loop, "again.received_end()", [&] { return again.received_end(); }, m.store.max_phy_offset());
    // The check at 5 s: it caught up 5 s ago, well within haMaxTimeSlaveNotCatchup.
    clock.advance_ms(4000);
    int hb = again.heartbeats();
    wait_heartbeat(loop, again, hb);
    CHECK_MESSAGE(controller.proposals.size() == 1,
                  "member 2 proposed away (" << text(controller.proposals.back()) << ") 5 s after it was caught up");
    check_members(master, {1, 2});
    master.stop();
  }
  loop.close_and_drain();
}

TEST_CASE("SyncStateSet: an async learner replicates and acknowledges but is never proposed") {
  Replica m;
  m.append_epoch(1);
  m.put(0, 30);
  ManualClock clock;
  EventLoop loop;
  {
    FakeController controller;
    auto opt = fast_options();
    opt.heartbeat_interval_ms = 1000;
    AutoSwitchHaMaster master(loop, m.store, *m.epochs, opt, clock, Logger(), kMasterId, SyncStateSet{{kMasterId}, 1},
                              controller.callbacks());
    auto port = master.start("127.0.0.1", 0);
    REQUIRE(port.ok());
    FakeSlave learner(loop);
    learner.connect(*port);
    learner.auto_ack = true;
    learner.handshake(9, /*async_learner=*/true);
    learner.report(0);
    wait_eq(loop, "status_ack_of(master, 9)", [&] { return status_ack_of(master, 9); }, m.store.max_phy_offset());
    // Past the periodic check too (it retries expansion): still nothing proposed.
    clock.advance_ms(opt.check_sync_state_set_period_ms);
    int hb = learner.heartbeats();
    wait_heartbeat(loop, learner, hb);
    CHECK_MESSAGE(controller.proposals.empty(), "an async learner was proposed: " << text(controller.proposals[0]));
    check_members(master, {kMasterId});
    master.stop();
  }
  loop.close_and_drain();
}

TEST_CASE("isSyncFromLastFile: an empty slave starts at the master's last segment, in that segment's epoch") {
  Replica m, s;
  m.append_epoch(1);
  m.put(0, 100);
  m.append_epoch(2);
  m.put(100, 330);
  const int64_t last_segment = m.store.max_phy_offset() / kSegmentBytes * kSegmentBytes;
  REQUIRE(last_segment >= 2 * kSegmentBytes);
  auto holder = m.epochs->find_entry_containing(last_segment);
  REQUIRE(holder.has_value());
  REQUIRE(holder->epoch == 2);  // epoch 2 began before the last segment
  ManualClock clock;
  EventLoop loop;
  {
    FakeController controller;
    AutoSwitchHaMaster master(loop, m.store, *m.epochs, fast_options(), clock, Logger(), kMasterId,
                              SyncStateSet{{kMasterId}, 1}, controller.callbacks());
    auto port = master.start("127.0.0.1", 0);
    REQUIRE(port.ok());
    auto opt = fast_options();
    opt.sync_from_last_file = true;
    AutoSwitchHaClient client(loop, s.store, *s.epochs, opt, clock, Logger(), 2, {});
    client.set_master(addr(*port));
    client.start();
    REQUIRE_MESSAGE(run_until(loop, [&] { return s.store.max_phy_offset() == m.store.max_phy_offset(); }),
                    "slave at " << s.store.max_phy_offset() << " of " << m.store.max_phy_offset() << "; "
                                << client.status().dump());
    CHECK_MESSAGE(s.store.min_phy_offset() == last_segment,
                  "slave starts at " << s.store.min_phy_offset() << ", master's last segment at " << last_segment);
    const bool same_segment = s.log_bytes() == m.log_bytes().substr(static_cast<size_t>(last_segment));
    CHECK_MESSAGE(same_segment, "the slave's log is not the master's last segment");
    // The slave knows the epoch its data belongs to, with that epoch's real start.
    const std::vector<store::EpochEntry> from_epoch_2{{2, holder->start_offset, store::kEpochOpenEnd}};
    CHECK_MESSAGE(s.epochs->entries() == from_epoch_2,
                  "slave epochs " << text(s.epochs->entries()) << ", expected (2," << holder->start_offset << ")");
    client.stop();
    master.stop();
  }
  loop.close_and_drain();
}

TEST_CASE("acknowledgement: allAckInSyncStateSet waits for every member; a deadline fails the wait") {
  Replica m;
  m.append_epoch(1);
  m.put(0, 20);
  ManualClock clock;
  EventLoop loop;
  {
    FakeController controller;
    auto opt = fast_options();
    opt.all_ack_in_sync_state_set = true;
    opt.heartbeat_interval_ms = 1000;  // a heartbeat shows that a tick ran after the clock moved
    AutoSwitchHaMaster master(loop, m.store, *m.epochs, opt, clock, Logger(), kMasterId, SyncStateSet{{1, 2, 3}, 4},
                              controller.callbacks());
    auto port = master.start("127.0.0.1", 0);
    REQUIRE(port.ok());
    FakeSlave s2(loop), s3(loop);
    for (auto [slave, id] : {std::pair{&s2, 2}, std::pair{&s3, 3}}) {
      slave->connect(*port);
      slave->handshake(id);
      slave->report(0);
    }
    m.put(20, 30);
    const int64_t end = m.store.max_phy_offset();
    master.notify_new_data();
    std::vector<bool> results;
    master.wait_for_replicas(end, clock.monotonic_ms() + 3000, [&](bool ok) { results.push_back(ok); });
    wait_eq(loop, "s2.received_end()", [&] { return s2.received_end(); }, end);
    wait_eq(loop, "s3.received_end()", [&] { return s3.received_end(); }, end);
    s2.report(end);
    wait_eq(loop, "status_ack_of(master, 2)", [&] { return status_ack_of(master, 2); }, end);
    CHECK_MESSAGE(results.empty(), "completed with one of two members acknowledged");
    s3.report(end);
    wait_count(loop, "results", results, 1);
    CHECK_MESSAGE(results[0], "the wait failed (deadline) instead of completing on the acknowledgements");

    // A put nobody acknowledges: still waiting 1 ms before its deadline, failed at it.
    m.put(30, 31);
    master.notify_new_data();
    master.wait_for_replicas(m.store.max_phy_offset(), clock.monotonic_ms() + 3000,
                             [&](bool ok) { results.push_back(ok); });
    wait_eq(loop, "s2.received_end()", [&] { return s2.received_end(); }, m.store.max_phy_offset());
    clock.advance_ms(2999);
    int hb = s2.heartbeats();
    wait_heartbeat(loop, s2, hb);
    CHECK_MESSAGE(results.size() == 1, "the wait ended 1 ms before its deadline");
    clock.advance_ms(1);
    wait_count(loop, "results", results, 2);
    CHECK_MESSAGE(!results[1], "a wait nobody acknowledged succeeded");

    // stop() fails whatever still waits.
    master.wait_for_replicas(m.store.max_phy_offset(), clock.monotonic_ms() + 3000,
                             [&](bool ok) { results.push_back(ok); });
    master.stop();
    REQUIRE(results.size() == 3);
    CHECK_MESSAGE(!results[2], "a wait still pending at stop() succeeded");
  }
  loop.close_and_drain();
}

TEST_CASE("acknowledgement: inSyncReplicas counts connected slaves; minInSyncReplicas against the set size") {
  Replica m;
  m.append_epoch(1);
  m.put(0, 20);
  ManualClock clock;
  EventLoop loop;
  {
    FakeController controller;
    auto opt = fast_options();
    opt.in_sync_replicas = 2;
    opt.min_in_sync_replicas = 3;
    AutoSwitchHaMaster master(loop, m.store, *m.epochs, opt, clock, Logger(), kMasterId, SyncStateSet{{1, 2}, 4},
                              controller.callbacks());
    auto port = master.start("127.0.0.1", 0);
    REQUIRE(port.ok());
    CHECK_FALSE(master.enough_in_sync());  // set {1,2}, minInSyncReplicas 3
    master.set_sync_state_set(SyncStateSet{{1, 2, 3}, 5});
    CHECK(master.enough_in_sync());
    master.set_sync_state_set(SyncStateSet{{1, 2}, 4});  // an older epoch changes nothing
    check_members(master, {1, 2, 3});

    // One connected slave, even one outside the set, is the one more replica inSyncReplicas=2 asks for.
    FakeSlave s7(loop);
    s7.connect(*port);
    s7.handshake(7);
    s7.report(0);
    const int64_t end = m.store.max_phy_offset();
    std::vector<bool> results;
    master.wait_for_replicas(end, clock.monotonic_ms() + 3000, [&](bool ok) { results.push_back(ok); });
    wait_eq(loop, "s7.received_end()", [&] { return s7.received_end(); }, end);
    CHECK(results.empty());
    s7.report(end);
    wait_count(loop, "results", results, 1);
    CHECK_MESSAGE(results[0], "the wait failed (deadline) instead of completing on the acknowledgements");
    // Already acknowledged: done at once.
    master.wait_for_replicas(end, clock.monotonic_ms() + 3000, [&](bool ok) { results.push_back(ok); });
    CHECK(results.size() == 2);
    // Caught up, slave 7 was proposed for the set; the controller says no.
    wait_count(loop, "proposals", controller.proposals, 1);
    controller.answer(false);

    // An acknowledgement of bytes never sent acknowledges nothing. (It still counts as caught up,
    // so the master proposes slave 7 again: that shows the report was read.)
    s7.report(end + (1 << 20));
    wait_count(loop, "proposals", controller.proposals, 2);
    controller.answer(false);
    m.put(20, 25);
    const int64_t later = m.store.max_phy_offset();
    master.wait_for_replicas(later, clock.monotonic_ms() + 3000, [&](bool ok) { results.push_back(ok); });
    CHECK_MESSAGE(results.size() == 2, "a put completed on the ack " << status_ack_of(master, 7)
                                                                     << " of data the slave was never sent");
    master.notify_new_data();
    wait_eq(loop, "s7.received_end()", [&] { return s7.received_end(); }, later);
    s7.report(later);
    wait_count(loop, "results", results, 3);
    CHECK_MESSAGE(results[2], "the wait failed (deadline) instead of completing on the acknowledgement");
    master.stop();
  }
  loop.close_and_drain();
}

TEST_CASE("confirm offset: the slowest member's ack with allAckInSyncStateSet, frozen while a member is away") {
  Replica m;
  m.append_epoch(1);
  m.put(0, 40);
  ManualClock clock;
  EventLoop loop;
  {
    FakeController controller;
    auto opt = fast_options();
    opt.all_ack_in_sync_state_set = true;
    const int64_t start_end = m.store.max_phy_offset();
    AutoSwitchHaMaster master(loop, m.store, *m.epochs, opt, clock, Logger(), kMasterId, SyncStateSet{{1, 2, 3}, 4},
                              controller.callbacks());
    auto port = master.start("127.0.0.1", 0);
    REQUIRE(port.ok());
    // No member connected yet: nothing new is confirmed.
    m.put(40, 45);
    CHECK_MESSAGE(master.confirm_offset() == start_end,
                  "confirm offset " << master.confirm_offset() << " with no member connected, expected " << start_end);

    FakeSlave s2(loop), s3(loop);
    for (auto [slave, id] : {std::pair{&s2, 2}, std::pair{&s3, 3}}) {
      slave->connect(*port);
      slave->handshake(id);
      slave->report(0);
    }
    const int64_t end = m.store.max_phy_offset();
    wait_eq(loop, "s2.received_end()", [&] { return s2.received_end(); }, end);
    wait_eq(loop, "s3.received_end()", [&] { return s3.received_end(); }, end);
    const int64_t a = end / 3, b = end / 3 * 2;  // anywhere below what was sent
    s2.report(a);
    s3.report(b);
    wait_eq(loop, "status_ack_of(master, 2)", [&] { return status_ack_of(master, 2); }, a);
    wait_eq(loop, "status_ack_of(master, 3)", [&] { return status_ack_of(master, 3); }, b);
    CHECK_MESSAGE(master.confirm_offset() == a, "confirm offset " << master.confirm_offset() << ", slowest ack " << a);
    s2.report(end);
    wait_eq(loop, "master.confirm_offset()", [&] { return master.confirm_offset(); }, b);

    // Member 3 goes away: frozen at b, however far member 2 gets.
    s3.close();
    wait_count(loop, "proposals", controller.proposals, 1);
    m.put(45, 60);
    master.notify_new_data();
    wait_eq(loop, "s2.received_end()", [&] { return s2.received_end(); }, m.store.max_phy_offset());
    s2.report(m.store.max_phy_offset());
    wait_eq(loop, "status_ack_of(master, 2)", [&] { return status_ack_of(master, 2); }, m.store.max_phy_offset());
    CHECK_MESSAGE(master.confirm_offset() == b,
                  "confirm offset " << master.confirm_offset() << " while member 3 is disconnected, expected frozen at "
                                    << b);
    // The set without 3 confirmed: member 2's ack counts alone.
    controller.answer(true);
    check_members(master, {1, 2});
    CHECK_MESSAGE(master.confirm_offset() == m.store.max_phy_offset(),
                  "confirm offset " << master.confirm_offset() << ", member 2 acked " << m.store.max_phy_offset());
    master.stop();
  }
  {
    // Without allAckInSyncStateSet consumers see everything the master has.
    FakeController controller;
    AutoSwitchHaMaster master(loop, m.store, *m.epochs, fast_options(), clock, Logger(), kMasterId,
                              SyncStateSet{{1, 2, 3}, 4}, controller.callbacks());
    m.put(60, 61);
    CHECK(master.confirm_offset() == m.store.max_phy_offset());
  }
  loop.close_and_drain();
}

TEST_CASE("the slave cuts a record it has only in part before it connects, and resumes at the cut") {
  Replica m, s;
  m.append_epoch(1);
  m.put(0, 20);
  const int64_t boundary = m.store.max_phy_offset();
  m.append_epoch(2);
  m.put(20, 30);
  const std::string log = m.log_bytes();
  // The slave got all of epoch 1 and, in the last chunk before its connection broke, the epoch-2
  // entry and the first 17 bytes of epoch 2's first record.
  s.append_epoch(1);
  REQUIRE(s.store.append_replicated(0, std::string_view(log).substr(0, static_cast<size_t>(boundary) + 17), 0).ok());
  s.append_epoch(2);
  REQUIRE(s.store.dispatched_offset() == boundary);
  REQUIRE(s.store.max_phy_offset() == boundary + 17);

  ManualClock clock;
  EventLoop loop;
  {
    FakeMaster fake(loop);
    int64_t end_at_connect = -1;
    std::vector<store::EpochEntry> epochs_at_connect;
    fake.on_accept = [&] {
      end_at_connect = s.store.max_phy_offset();
      epochs_at_connect = s.epochs->entries();
    };
    int port = fake.start();
    AutoSwitchHaClient client(loop, s.store, *s.epochs, fast_options(), clock, Logger(), 2, {});
    client.set_master(addr(port));
    client.start();
    wait_count(loop, "handshakes", fake.handshakes, 1);
    CHECK_MESSAGE(end_at_connect == boundary, "slave log ended at " << end_at_connect << " when it connected, expected "
                                                                    << boundary << " (the partial record cut)");
    CHECK_MESSAGE((epochs_at_connect == std::vector<store::EpochEntry>{{1, 0, store::kEpochOpenEnd}}),
                  "slave epochs at connect " << text(epochs_at_connect) << ", expected (1,0)");
    CHECK_MESSAGE((fake.handshakes[0] == as::SlaveHandshake{false, false, 2}),
                  "handshake said id " << fake.handshakes[0].slave_broker_id << ", learner "
                                       << fake.handshakes[0].async_learner << ", from last file "
                                       << fake.handshakes[0].sync_from_last_file << "; expected id 2, 0, 0");

    // The scripted master answers as the real one would; the slave reports the cut.
    fake.send(as::encode_handshake_reply(m.store.max_phy_offset(), m.epochs->last_epoch(), m.epochs->entries()));
    wait_for(loop, "a report from the slave", [&] { return !fake.reports.empty(); });
    CHECK_MESSAGE(fake.reports[0] == boundary, "first report " << fake.reports[0] << ", expected " << boundary);
    fake.send(as::encode_transfer(boundary, 2, boundary, m.store.max_phy_offset(),
                                  std::string_view(log).substr(static_cast<size_t>(boundary))));
    wait_eq(loop, "s.store.max_phy_offset()", [&] { return s.store.max_phy_offset(); }, m.store.max_phy_offset());
    check_same(m, s);
    wait_eq(loop, "fake.reports.back()", [&] { return fake.reports.back(); }, m.store.max_phy_offset());
    client.stop();
  }
  loop.close_and_drain();
}

TEST_CASE("the slave's first report is its log end even when it acknowledges less (SYNC_FLUSH)") {
  Replica m, s;
  m.append_epoch(1);
  s.append_epoch(1);
  m.put(0, 40);
  s.put(0, 30);
  const int64_t slave_end = s.store.max_phy_offset();
  ManualClock clock;
  EventLoop loop;
  {
    FakeController controller;
    AutoSwitchHaMaster master(loop, m.store, *m.epochs, fast_options(), clock, Logger(), kMasterId,
                              SyncStateSet{{kMasterId}, 1}, controller.callbacks());
    auto port = master.start("127.0.0.1", 0);
    REQUIRE(port.ok());
    int64_t flushed = 1000;  // the slave's flushed offset lags its log end
    AutoSwitchHaClient::Callbacks cb;
    cb.ack_offset = [&] { return std::min(flushed, s.store.max_phy_offset()); };
    AutoSwitchHaClient client(loop, s.store, *s.epochs, fast_options(), clock, Logger(), 2, cb);
    client.set_master(addr(*port));
    client.start();
    // The master must start sending at the slave's end, not at what the slave has flushed.
    REQUIRE_MESSAGE(run_until(loop, [&] { return s.store.max_phy_offset() == m.store.max_phy_offset(); }, 3000),
                    "slave stuck at " << s.store.max_phy_offset() << " (it had " << slave_end << "); "
                                      << client.status().dump());
    check_same(m, s);
    // Acknowledgements follow the flushed offset.
    CHECK(status_ack_of(master, 2) <= std::max(slave_end, flushed));
    flushed = m.store.max_phy_offset();
    client.report_if_moved();
    wait_eq(loop, "status_ack_of(master, 2)", [&] { return status_ack_of(master, 2); }, m.store.max_phy_offset());
    client.stop();
    master.stop();
  }
  loop.close_and_drain();
}

TEST_CASE("protocol errors from a slave close its connection; the master serves others") {
  Replica m;
  m.append_epoch(1);
  m.put(0, 10);
  ManualClock clock;
  EventLoop loop;
  {
    FakeController controller;
    AutoSwitchHaMaster master(loop, m.store, *m.epochs, fast_options(), clock, Logger(), kMasterId,
                              SyncStateSet{{kMasterId}, 1}, controller.callbacks());
    auto port = master.start("127.0.0.1", 0);
    REQUIRE(port.ok());
    SUBCASE("garbage") {
      FakeSlave bad(loop);
      bad.connect(*port);
      bad.send(std::string(16, '\x07'));
      REQUIRE_MESSAGE(run_until(loop, [&] { return bad.closed; }), "the master kept a connection that sent garbage");
    }
    SUBCASE("an offset report before the handshake") {
      FakeSlave bad(loop);
      bad.connect(*port);
      bad.report(0);
      REQUIRE_MESSAGE(run_until(loop, [&] { return bad.closed; }), "the master kept a connection that reported first");
      CHECK(bad.transfers.empty());
    }
    SUBCASE("a negative offset") {
      FakeSlave bad(loop);
      bad.connect(*port);
      bad.handshake(5);
      bad.report(-1);
      REQUIRE_MESSAGE(run_until(loop, [&] { return bad.closed; }), "the master kept a connection that reported -1");
    }
    wait_eq(loop, "master.connection_count()", [&] { return master.connection_count(); }, 0);
    FakeSlave good(loop);
    good.connect(*port);
    good.handshake(2);
    good.auto_ack = true;
    good.report(0);
    wait_eq(loop, "good.received_end()", [&] { return good.received_end(); }, m.store.max_phy_offset());
    CHECK_MESSAGE(!good.closed, "the master closed a good slave: " << good.close_reason);
    master.stop();
  }
  loop.close_and_drain();
}

TEST_CASE("protocol errors from a master make the slave drop the connection and reconnect later") {
  Replica m, s;
  m.append_epoch(1);
  m.put(0, 10);
  s.append_epoch(1);
  s.put(0, 10);
  const std::string slave_log = s.log_bytes();
  ManualClock clock;
  EventLoop loop;
  {
    FakeMaster fake(loop);
    int port = fake.start();
    AutoSwitchHaClient client(loop, s.store, *s.epochs, fast_options(), clock, Logger(), 2, {});
    client.set_master(addr(port));
    client.start();
    wait_count(loop, "handshakes", fake.handshakes, 1);
    std::string what;
    SUBCASE("a transfer before the handshake reply") {
      what = "a transfer before the handshake reply";
      fake.send(as::encode_transfer(s.store.max_phy_offset(), 1, 0, 0, "xyz"));
    }
    SUBCASE("garbage") {
      what = "garbage";
      fake.send(std::string(40, '\x09'));
    }
    SUBCASE("a handshake reply with epochs out of order") {
      what = "epochs out of order";
      std::vector<store::EpochEntry> entries{{3, 100, 0}, {2, 200, 0}};
      fake.send(as::encode_handshake_reply(300, 3, entries));
    }
    SUBCASE("a transfer at an offset the slave does not end at") {
      what = "a transfer at the wrong offset";
      fake.send(as::encode_handshake_reply(m.store.max_phy_offset(), 1, m.epochs->entries()));
      wait_for(loop, "the slave done with the handshake", [&] { return client.connected(); });
      fake.send(as::encode_transfer(s.store.max_phy_offset() + 100, 1, 0, 0, "xyz"));
    }
    REQUIRE_MESSAGE(run_until(loop, [&] { return fake.closed == 1; }), "the slave kept the connection after " << what);
    CHECK_FALSE(client.connected());
    const bool log_kept = s.log_bytes() == slave_log;
    CHECK_MESSAGE(log_kept, "the slave's log changed after " << what);
    // It comes back after the reconnect interval, with a new handshake.
    clock.advance_ms(fast_options().reconnect_interval_ms);
    wait_count(loop, "handshakes", fake.handshakes, 2);
    CHECK(fake.accepted == 2);
    client.stop();
  }
  loop.close_and_drain();
}

TEST_CASE("housekeeping: a silent slave is dropped by the master, a silent master by the slave") {
  Replica m, s;
  m.append_epoch(1);
  m.put(0, 10);
  ManualClock clock;
  EventLoop loop;
  {
    FakeController controller;
    AutoSwitchHaMaster master(loop, m.store, *m.epochs, fast_options(), clock, Logger(), kMasterId,
                              SyncStateSet{{1, 2}, 3}, controller.callbacks());
    auto port = master.start("127.0.0.1", 0);
    REQUIRE(port.ok());
    FakeSlave quiet(loop);
    quiet.connect(*port);
    quiet.handshake(2);
    quiet.report(0);
    wait_eq(loop, "quiet.received_end()", [&] { return quiet.received_end(); }, m.store.max_phy_offset());
    quiet.report(quiet.received_end());
    wait_eq(loop, "status_ack_of(master, 2)", [&] { return status_ack_of(master, 2); }, m.store.max_phy_offset());
    clock.advance_ms(20'000);  // haHousekeepingInterval: not yet more than it
    int hb = quiet.heartbeats();
    wait_heartbeat(loop, quiet, hb);
    CHECK_MESSAGE(!quiet.closed, "closed after exactly haHousekeepingInterval of silence: " << quiet.close_reason);
    clock.advance_ms(1);
    REQUIRE_MESSAGE(run_until(loop, [&] { return quiet.closed; }), "a slave silent for 20001 ms kept its connection");
    wait_count(loop, "proposals", controller.proposals, 1);
    CHECK_MESSAGE((controller.proposals[0] == std::set<int64_t>{1}),
                  "proposed " << text(controller.proposals[0]) << ", expected {1}");
    master.stop();

    FakeMaster mute(loop);
    int mute_port = mute.start();
    AutoSwitchHaClient client(loop, s.store, *s.epochs, fast_options(), clock, Logger(), 2, {});
    client.set_master(addr(mute_port));
    client.start();
    wait_count(loop, "handshakes", mute.handshakes, 1);
    clock.advance_ms(20'001);
    REQUIRE_MESSAGE(run_until(loop, [&] { return mute.closed == 1; }), "the slave kept a master silent for 20001 ms");
    clock.advance_ms(fast_options().reconnect_interval_ms);
    wait_count(loop, "handshakes", mute.handshakes, 2);
    client.stop();
  }
  loop.close_and_drain();
}
