// Isolation inside one container (issue 14): a broker whose disk is full stops taking writes, says
// why, and resumes by itself when space returns, while its neighbour keeps serving at its rate; a
// broker whose disk fails stops alone; counters, delay and timer services and consumer offsets
// stay per broker (RocketMQ's container shared them through static fields: #9677, #9719, #9771);
// ADD_BROKER / REMOVE_BROKER under load cost the neighbour no failed request.
//
// The disk tests need root (a loop-mounted ext4 image as the broker's store) and skip with a
// message otherwise; everything mounted is unmounted even when a check fails.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "client/admin_client.h"
#include "cluster.h"
#include "loop_mount.h"
#include "codec/codes.h"
#include "codec/message.h"

using namespace mq;
using namespace mq::test;
using namespace std::chrono_literals;
namespace rc = response_code;

namespace {

// One producer thread sending synchronously to one broker and queue, counting outcomes.
class Sender {
 public:
  Sender(std::string addr, std::string topic, size_t body_bytes, bool keep_acked, int pace_us = 0)
      : addr_(std::move(addr)), topic_(std::move(topic)), body_bytes_(body_bytes), keep_acked_(keep_acked), pace_us_(pace_us) {
    thread_ = std::thread([this] { run(); });
  }
  ~Sender() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int64_t ok() const { return ok_.load(); }
  int64_t failed() const { return failed_.load(); }
  int32_t last_code() const { return last_code_.load(); }
  std::string last_failure() {
    std::lock_guard g(mu_);
    return last_failure_;
  }
  std::string first_failure() {
    std::lock_guard g(mu_);
    return first_failure_;
  }
  std::map<int64_t, std::string> acked() {
    std::lock_guard g(mu_);
    return acked_;
  }
  void set_pace_us(int us) { pace_us_ = us; }

 private:
  void run() {
    BlockingClient client;
    int64_t n = 0;
    while (!stop_) {
      std::string body = "m-" + std::to_string(n++) + "-";
      body.resize(body_bytes_, 'p');
      auto r = send_message(client, addr_, topic_, 0, body, "", 10'000);
      last_code_ = r.code;
      if (r.code == rc::kSuccess) {
        ++ok_;
        if (keep_acked_) {
          std::lock_guard g(mu_);
          acked_[r.queue_offset] = body;
        }
      } else {
        ++failed_;
        std::lock_guard g(mu_);
        last_failure_ = "code " + std::to_string(r.code) + ": " + r.remark;
        if (first_failure_.empty()) first_failure_ = last_failure_;
      }
      if (int us = pace_us_.load(); us > 0) std::this_thread::sleep_for(std::chrono::microseconds(us));
    }
  }

  std::string addr_, topic_;
  size_t body_bytes_;
  bool keep_acked_;
  std::atomic<int> pace_us_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> ok_{0}, failed_{0};
  std::atomic<int32_t> last_code_{0};
  std::mutex mu_;
  std::string last_failure_, first_failure_;
  std::map<int64_t, std::string> acked_;
  std::thread thread_;
};

// Sends per second over `window` while the sender runs.
double measure_tps(const Sender& s, std::chrono::milliseconds window) {
  auto t0 = std::chrono::steady_clock::now();
  int64_t n0 = s.ok();
  std::this_thread::sleep_for(window);
  int64_t n1 = s.ok();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return static_cast<double>(n1 - n0) / secs;
}

// The best of three 1 s windows: this machine is shared, and another process's burst should not
// decide the comparison; the best window is what the broker could do in that phase.
double best_tps(const Sender& s) {
  double best = 0;
  for (int i = 0; i < 3; ++i) best = std::max(best, measure_tps(s, 1s));
  return best;
}

// This broker's entry of the container status.
nlohmann::json broker_status(AdminClient& admin, const std::string& container, const std::string& name) {
  auto s = admin.container_status(container);
  if (!s.ok()) return nlohmann::json();
  auto j = nlohmann::json::parse(*s, nullptr, false);
  if (j.is_discarded() || !j.contains("brokers")) return nlohmann::json();
  for (const auto& b : j["brokers"])
    if (b.value("brokerName", "") == name) return b;
  return nlohmann::json();
}

// Every message body of a broker's queue, from offset 0.
std::map<int64_t, std::string> read_queue(BlockingClient& c, const std::string& addr, const std::string& topic, int32_t qid) {
  std::map<int64_t, std::string> out;
  int64_t off = 0;
  // Expiry may have removed the oldest files: start at the queue's min offset.
  if (auto p = pull_messages(c, addr, "iso_reader", topic, qid, 0, 1); p.code == rc::kPullOffsetMoved && p.min_offset > 0)
    off = p.min_offset;
  for (int guard = 0; guard < 100000; ++guard) {
    auto p = pull_messages(c, addr, "iso_reader", topic, qid, off, 32);
    if (p.code != rc::kSuccess || p.records.empty()) break;
    for (const auto& r : p.records) out[r.queue_offset] = std::string(r.body);
    off = p.next_begin_offset;
  }
  return out;
}

std::string broker_extra_small_store() {
  // 4 MiB commit log files, 600-unit ConsumeQueue files, a tiny index: all fit a small image.
  return "mappedFileSizeConsumeQueue=12000\nmaxHashSlotNum=1000\nmaxIndexNum=4000\n";
}

}  // namespace

TEST_CASE("disk full on one broker: it refuses with 14 and says why, its neighbour keeps its rate, it resumes by itself") {
  TempDir dir;
  LoopMount mount(dir.file("a.img"), dir.file("a-disk"), 96);
  if (!mount.ok()) {
    MESSAGE("skipped: needs root and loop mounts (" << mount.why() << ")");
    return;
  }
  const std::string a_root = dir.file("a-disk") + "/store";
  NamesrvProcess ns;
  BrokerSpec a{"broker-full"};
  a.store_dir = a_root;
  a.mapped_file_size_commit_log = 4 << 20;
  a.extra = broker_extra_small_store();
  BrokerSpec b{"broker-neighbour"};
  b.extra = broker_extra_small_store();
  ContainerProcess c(ns.addr(), {a, b}, dir.file("c"));
  REQUIRE(c.start());
  REQUIRE(create_topic(ns.addr(), "TestCluster", "IsoTopic", 1));
  AdminClient admin(ns.addr());
  const std::string a_addr = c.broker_addr(0), b_addr = c.broker_addr(1);

  // A paced 4 KiB producer on A (about 4 MB/s) and an unpaced one on B.
  Sender to_b(b_addr, "IsoTopic", 128, false);
  Sender to_a(a_addr, "IsoTopic", 4096, true, 1000);
  REQUIRE_MESSAGE(wait_until([&] { return to_b.ok() > 100 && to_a.ok() > 100; }, 20s),
                  "both brokers take sends (A ok " << to_a.ok() << ", B ok " << to_b.ok() << ", B: " << to_b.last_failure()
                                                   << ", A: " << to_a.last_failure() << ")");
  const double tps_before = best_tps(to_b);

  // Fill A's disk: a ballast file leaves about 10 MiB, which A's own sends then use up.
  const std::string ballast = dir.file("a-disk") + "/ballast";
  int64_t avail = available_bytes(dir.file("a-disk"));
  REQUIRE(avail > (20 << 20));
  auto fa = sh("fallocate -l " + std::to_string(avail - (10 << 20)) + " " + ballast);
  REQUIRE_MESSAGE(fa.exit_code == 0, "fallocate: " << fa.output);
  REQUIRE_MESSAGE(wait_until([&] { return to_a.last_code() == rc::kServiceNotAvailable; }, 60s),
                  "A refuses once its disk is full (last code " << to_a.last_code() << ", " << to_a.last_failure() << ", "
                                                                << available_bytes(dir.file("a-disk")) << " bytes free)");
  const std::string refusal = to_a.last_failure();
  CHECK_MESSAGE(refusal.find("code 14: service not available now. the broker's disk is full [CL: ") == 0,
                "expected RocketMQ's code and wording, got: " << refusal);
  // A's forcible expiry (above 85 % usage) may free a file and let A take puts again for a moment
  // before its sender fills the disk anew: look at the status while A is full.
  nlohmann::json a_status;
  CHECK_MESSAGE(wait_until(
                    [&] {
                      a_status = broker_status(admin, c.admin_addr(), "broker-full");
                      return a_status.value("diskFull", false);
                    },
                    30s),
                "A's status shows the full disk within 30 s: " << a_status.dump());
  CHECK_MESSAGE(a_status.value("writable", true) == false, "A's status: " << a_status.dump());
  CHECK_MESSAGE(a_status.value("diskFull", false) == true, "A's status: " << a_status.dump());
  CHECK_MESSAGE(a_status.value("storeStopped", true) == false, "a full disk is not a stop: " << a_status.dump());
  CHECK_MESSAGE(a_status.value("notWritableReason", "").rfind("disk full: ", 0) == 0, "A's status: " << a_status.dump());
  CHECK_MESSAGE(a_status.value("notWritableReason", "").find(a_root) != std::string::npos,
                "the reason names A's store: " << a_status.dump());
  decltype(admin.get_broker_runtime_info(a_addr)) a_info = admin.get_broker_runtime_info(a_addr);
  CHECK(wait_until(
      [&] {
        a_info = admin.get_broker_runtime_info(a_addr);
        return a_info.ok() && (*a_info)["storeWritable"] == "false";
      },
      30s));
  REQUIRE(a_info.ok());
  CHECK((*a_info)["storeWritable"] == "false");
  CHECK((*a_info)["storeNotWritableReason"].rfind("disk full: ", 0) == 0);
  auto b_status = broker_status(admin, c.admin_addr(), "broker-neighbour");
  CHECK_MESSAGE(b_status.value("writable", false) == true, "B's status: " << b_status.dump());

  // B's rate while A refuses (A's producer keeps trying, as clients do).
  const double tps_during = best_tps(to_b);
  MESSAGE("neighbour B send TPS (best 1 s window of 3, one synchronous sender) before A's disk filled: " << static_cast<int64_t>(tps_before)
                                                         << ", during A's disk-full state: " << static_cast<int64_t>(tps_during)
                                                         << " (" << static_cast<int>(100 * tps_during / std::max(tps_before, 1.0))
                                                         << " %)");
  // The bound is loose on purpose: on this shared 2-core VM (load average 6-7 from other builds)
  // the same phase measured 28-161 % of the other across runs. It still catches a neighbour that
  // is starved or blocked (a loop stuck on the full disk measures near 0).
  CHECK_MESSAGE(tps_during >= 0.3 * tps_before, "B's rate during A's disk-full state " << tps_during
                                                                                      << " sends/s, expected at least 30 % of "
                                                                                      << tps_before);
  CHECK_MESSAGE(to_b.failed() == 0, "B failed " << to_b.failed() << " sends, first: " << to_b.first_failure());

  // Space returns (an operator deletes files, or expiry does): A takes sends again by itself.
  std::filesystem::remove(ballast);
  const int64_t ok_at_removal = to_a.ok();
  const auto removed_at = std::chrono::steady_clock::now();
  REQUIRE_MESSAGE(wait_until([&] { return to_a.ok() > ok_at_removal + 10; }, 15s),
                  "A resumes without a restart once space returns (last: " << to_a.last_failure() << ")");
  MESSAGE("A resumed " << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - removed_at).count()
                       << " ms after the ballast was removed");
  CHECK(wait_until([&] { return broker_status(admin, c.admin_addr(), "broker-full").value("writable", false); }, 5s));
  CHECK_FALSE(broker_status(admin, c.admin_addr(), "broker-full").contains("notWritableReason"));

  to_a.stop();
  to_b.stop();
  CHECK_MESSAGE(to_b.failed() == 0, "B failed " << to_b.failed() << " sends, first: " << to_b.first_failure());
  CHECK(to_b.ok() > 0);
  // Everything A acknowledged, before and after the fault, is there, except the oldest commit log
  // files that expiry deleted on purpose: above diskSpaceCleanForciblyRatio (85 %) RocketMQ deletes
  // the oldest files even before fileReservedTime, and so do we. Nothing above the queue's new min
  // offset is missing, in particular nothing acknowledged just before the refusals.
  BlockingClient reader;
  auto acked = to_a.acked();
  auto stored = read_queue(reader, a_addr, "IsoTopic", 0);
  CHECK_MESSAGE(acked.size() > 100, acked.size());
  REQUIRE_MESSAGE(!stored.empty(), "nothing readable from A");
  const int64_t min_offset = stored.begin()->first;
  size_t missing = 0, expired = 0;
  for (const auto& [off, body] : acked) {
    if (off < min_offset) {
      ++expired;
      continue;
    }
    if (!stored.count(off) || stored[off] != body) ++missing;
  }
  CHECK_MESSAGE(missing == 0, missing << " of " << acked.size() << " acknowledged messages at or above A's min offset "
                                      << min_offset << " are not readable");
  CHECK_MESSAGE(expired < acked.size(), "forcible expiry removed all " << acked.size() << " acknowledged messages");
  MESSAGE(acked.size() << " messages acknowledged by A; " << expired
                       << " of the oldest went with the commit log files forcible expiry deleted at >85 % usage; the other "
                       << acked.size() - expired << " read back intact");
  CHECK(c.stop() == 0);
}

TEST_CASE("a failing disk stops one broker for good, with the error in its status; its neighbour keeps serving") {
  TempDir dir;
  LoopMount mount(dir.file("a.img"), dir.file("a-disk"), 64);
  if (!mount.ok()) {
    MESSAGE("skipped: needs root and loop mounts (" << mount.why() << ")");
    return;
  }
  NamesrvProcess ns;
  BrokerSpec a{"broker-failing"};
  a.store_dir = dir.file("a-disk") + "/store";
  a.mapped_file_size_commit_log = 4 << 20;
  a.extra = broker_extra_small_store();
  BrokerSpec b{"broker-neighbour"};
  ContainerProcess c(ns.addr(), {a, b}, dir.file("c"));
  REQUIRE(c.start());
  REQUIRE(create_topic(ns.addr(), "TestCluster", "IsoTopic", 1));
  AdminClient admin(ns.addr());
  Sender to_b(c.broker_addr(1), "IsoTopic", 128, false);
  Sender to_a(c.broker_addr(0), "IsoTopic", 512, true, 2000);
  REQUIRE(wait_until([&] { return to_b.ok() > 100 && to_a.ok() > 100; }, 20s));

  // The file system goes away under the broker (ext4's shutdown ioctl, as a dying device would
  // leave it): every later write and fsync fails with EIO.
  int fd = ::open((dir.file("a-disk")).c_str(), O_RDONLY | O_DIRECTORY);
  REQUIRE(fd >= 0);
  uint32_t flags = 2;  // EXT4_GOING_FLAGS_NOLOGFLUSH
  int rc_ioctl = ::ioctl(fd, _IOR('X', 125, uint32_t), &flags);
  ::close(fd);
  if (rc_ioctl != 0) {
    MESSAGE("skipped: the kernel refused the ext4 shutdown ioctl (" << std::strerror(errno) << ")");
    return;
  }
  REQUIRE_MESSAGE(wait_until([&] { return to_a.last_code() == rc::kServiceNotAvailable; }, 20s),
                  "A stops taking sends (last " << to_a.last_code() << " " << to_a.last_failure() << ")");
  auto st = broker_status(admin, c.admin_addr(), "broker-failing");
  CHECK_MESSAGE(st.value("storeStopped", false) == true, st.dump());
  CHECK_MESSAGE(st.value("diskFull", true) == false, st.dump());
  CHECK_MESSAGE(!st.value("notWritableReason", "").empty(), st.dump());
  CHECK_MESSAGE(to_a.last_failure().find("service not available now. message store is not writable: ") != std::string::npos,
                to_a.last_failure());
  // B is untouched; the container (one process) is alive.
  const int64_t b_ok = to_b.ok();
  CHECK(wait_until([&] { return to_b.ok() > b_ok + 100; }, 10s));
  CHECK_MESSAGE(to_b.failed() == 0, "B failed " << to_b.failed() << ", first: " << to_b.first_failure());
  CHECK(c.proc().running());
  to_a.stop();
  to_b.stop();
  c.kill9();  // its store cannot be flushed at stop; what matters was checked
}

TEST_CASE("two brokers of one container keep their own counters, offsets, delay and timer services") {
  TempDir dir;
  NamesrvProcess ns;
  ContainerProcess c(ns.addr(), {{"broker-one"}, {"broker-two"}}, dir.file("c"));
  REQUIRE(c.start());
  REQUIRE(create_topic(ns.addr(), "TestCluster", "SepTopic", 1));
  AdminClient admin(ns.addr());
  BlockingClient client;
  const std::string one = c.broker_addr(0), two = c.broker_addr(1);
  for (int i = 0; i < 30; ++i) REQUIRE(send_message(client, one, "SepTopic", 0, "one-" + std::to_string(i)).code == rc::kSuccess);
  for (int i = 0; i < 10; ++i) REQUIRE(send_message(client, two, "SepTopic", 0, "two-" + std::to_string(i)).code == rc::kSuccess);

  // Counters (RocketMQ #9677 / #9719: static metrics shared by the brokers of a container).
  auto info_one = admin.get_broker_runtime_info(one), info_two = admin.get_broker_runtime_info(two);
  REQUIRE(info_one.ok());
  REQUIRE(info_two.ok());
  CHECK((*info_one)["msgPutTotalTodayNow"] == "30");
  CHECK((*info_two)["msgPutTotalTodayNow"] == "10");
  CHECK(broker_status(admin, c.admin_addr(), "broker-one").value("putTotal", -1) == 30);
  CHECK(broker_status(admin, c.admin_addr(), "broker-two").value("putTotal", -1) == 10);
  // TPS figures come from each broker's own samples: after 11 s, 30 vs 10 puts over the last 10 s
  // would show if they were mixed. Sends spread over the wait keep the windows non-empty.
  REQUIRE(wait_until([&] {
    auto i = admin.get_broker_runtime_info(two);
    return i.ok() && (*i)["putTps"].rfind(" ", 0) != 0 && !(*i)["putTps"].empty();
  }, 20s));
  for (int i = 0; i < 5; ++i) REQUIRE(send_message(client, two, "SepTopic", 0, "two-late").code == rc::kSuccess);
  info_one = admin.get_broker_runtime_info(one);
  info_two = admin.get_broker_runtime_info(two);
  CHECK((*info_one)["msgPutTotalTodayNow"] == "30");
  CHECK((*info_two)["msgPutTotalTodayNow"] == "15");

  // Consumer offsets: a commit on one broker is not seen on the other.
  RemotingCommand upd = RemotingCommand::request(request_code::kUpdateConsumerOffset);
  upd.ext_fields.set("consumerGroup", std::string("sep_group"));
  upd.ext_fields.set("topic", std::string("SepTopic"));
  upd.ext_fields.set("queueId", int32_t{0});
  upd.ext_fields.set("commitOffset", int64_t{7});
  auto u = client.invoke(one, std::move(upd));
  REQUIRE(u.ok());
  REQUIRE(u->code == rc::kSuccess);
  auto query = [&](const std::string& addr) {
    RemotingCommand q = RemotingCommand::request(request_code::kQueryConsumerOffset);
    q.ext_fields.set("consumerGroup", std::string("sep_group"));
    q.ext_fields.set("topic", std::string("SepTopic"));
    q.ext_fields.set("queueId", int32_t{0});
    return client.invoke(addr, std::move(q));
  };
  auto q1 = query(one), q2 = query(two);
  REQUIRE(q1.ok());
  REQUIRE(q2.ok());
  CHECK(q1->code == rc::kSuccess);
  const std::string* o1 = q1->ext_fields.find("offset");
  CHECK_MESSAGE((o1 && *o1 == "7"), "broker-one's committed offset: " << (o1 ? *o1 : "none"));
  // broker-two never saw the commit: a group new to it starts at 0 (its first message is there).
  const std::string* o2 = q2->ext_fields.find("offset");
  CHECK_MESSAGE((q2->code == rc::kSuccess && o2 && *o2 == "0"),
                "broker-two answered code " << q2->code << " offset " << (o2 ? *o2 : "none") << ", expected its own 0");

  // Delay levels and timed messages: each broker delivers its own, to itself only.
  REQUIRE(send_message(client, one, "SepTopic", 0, "delayed-on-one", encode_properties({{"DELAY", "1"}})).code == rc::kSuccess);
  REQUIRE(send_message(client, two, "SepTopic", 0, "timed-on-two", encode_properties({{"TIMER_DELAY_MS", "800"}})).code ==
          rc::kSuccess);
  auto has_body = [&](const std::string& addr, const std::string& body) {
    for (const auto& [_, b] : read_queue(client, addr, "SepTopic", 0))
      if (b == body) return true;
    return false;
  };
  CHECK_MESSAGE(wait_until([&] { return has_body(one, "delayed-on-one"); }, 15s), "broker-one delivers its delayed message");
  CHECK_MESSAGE(wait_until([&] { return has_body(two, "timed-on-two"); }, 15s), "broker-two delivers its timed message");
  CHECK_FALSE(has_body(two, "delayed-on-one"));
  CHECK_FALSE(has_body(one, "timed-on-two"));
  CHECK(read_queue(client, one, "SepTopic", 0).size() == 31);
  CHECK(read_queue(client, two, "SepTopic", 0).size() == 16);
  CHECK(c.stop() == 0);
}

TEST_CASE("ADD_BROKER and REMOVE_BROKER under load cost the neighbour no failed request") {
  TempDir dir;
  NamesrvProcess ns;
  ContainerProcess c(ns.addr(), {{"broker-steady"}}, dir.file("c"));
  REQUIRE(c.start());
  REQUIRE(create_topic(ns.addr(), "TestCluster", "LoadTopic", 1));
  AdminClient admin(ns.addr());
  const std::string steady = c.broker_addr(0);

  Sender producer(steady, "LoadTopic", 256, false);
  // A consumer pulling what the producer sends (long polling, as clients do).
  std::atomic<bool> stop{false};
  std::atomic<int64_t> pulled{0}, pull_failures{0};
  std::mutex mu;
  std::string first_pull_failure;
  std::thread consumer([&] {
    BlockingClient cc;
    int64_t off = 0;
    while (!stop) {
      auto r = cc.invoke(steady, make_pull_request("load_group", "LoadTopic", 0, off, 32, 0x4 | 0x2, 1000, "*"), 10'000);
      if (!r.ok() || (r->code != rc::kSuccess && r->code != rc::kPullNotFound && r->code != rc::kPullRetryImmediately)) {
        ++pull_failures;
        std::lock_guard g(mu);
        if (first_pull_failure.empty()) first_pull_failure = r.ok() ? "code " + std::to_string(r->code) : r.detail();
        continue;
      }
      auto p = to_pull_outcome(std::move(*r));
      pulled += static_cast<int64_t>(p.records.size());
      if (p.next_begin_offset >= 0) off = p.next_begin_offset;
    }
  });
  REQUIRE(wait_until([&] { return producer.ok() > 200 && pulled > 100; }, 20s));

  BlockingClient client;
  for (int round = 0; round < 5; ++round) {
    CAPTURE(round);
    const std::string name = "broker-extra-" + std::to_string(round % 2);
    int port = free_broker_port();
    std::string conf = dir.file(name + ".conf");
    dir.write(name + ".conf", "brokerClusterName=TestCluster\nbrokerName=" + name + "\nbrokerId=0\nbrokerIP1=127.0.0.1\nlistenPort=" +
                                  std::to_string(port) + "\nstorePathRootDir=" + dir.file("store-" + name) +
                                  "\nmappedFileSizeCommitLog=1048576\nregisterNameServerPeriod=2000\n");
    const int64_t before = producer.ok();
    auto added = admin.add_broker(c.admin_addr(), conf);
    REQUIRE_MESSAGE(added.ok(), added.detail());
    const std::string extra = "127.0.0.1:" + std::to_string(port);
    CHECK(wait_until([&] { return send_message(client, extra, "LoadTopic", 0, "to the extra broker").code == rc::kSuccess; }, 10s));
    auto removed = admin.remove_broker(c.admin_addr(), "TestCluster", name, 0);
    REQUIRE_MESSAGE(removed.ok(), removed.detail());
    // The neighbour kept sending through the add and the remove.
    CHECK(wait_until([&] { return producer.ok() > before + 50; }, 10s));
  }
  producer.stop();
  stop = true;
  consumer.join();
  CHECK_MESSAGE(producer.failed() == 0, "the steady broker failed " << producer.failed() << " sends, first: " << producer.first_failure());
  CHECK_MESSAGE(pull_failures == 0, pull_failures.load() << " pulls failed, first: " << first_pull_failure);
  MESSAGE("during 5 add/remove rounds the steady broker took " << producer.ok() << " sends and served " << pulled.load()
                                                               << " pulled messages, none failed");
  CHECK(c.stop() == 0);
}
