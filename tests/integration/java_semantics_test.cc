// Message semantics with RocketMQ 4.9.4's real Java client (../shared/java-client) against a real
// NameServer and a container with one broker: consumer retries through %RETRY%<group> across a
// broker restart and dead letters in %DLQ%<group>; transactions with local outcomes commit,
// rollback and unknown, check-backs, and a check-back after the producer died and the broker
// restarted; orderly consumption by two push consumers of one group with a rebalance in the middle;
// a delay level. The Java programs are the modes of tests/java/SemanticsClients.java, compiled
// here at test time and run as child processes; each prints one line per event ("RECV key=..."),
// which the cases parse. The broker's side is looked at with the raw wire helpers of cluster.h
// (GET_MAX_OFFSET, QUERY_MESSAGE), since a DLQ is write-only.
//
// Skipped with a message when Java or the kit's jars are missing (`rmq-java check` exits 2).
#include <doctest/doctest.h>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "client/admin_client.h"
#include "cluster.h"
#include "codec/codes.h"
#include "codec/header_reader.h"
#include "codec/message.h"

using namespace mq;
using namespace mq::test;
using namespace std::chrono_literals;
namespace rc = response_code;

namespace {

const char* const kCluster = "JavaSemanticsCluster";

int64_t wall_ms() { return SystemClock().now_ms(); }

std::string tail_of(const std::string& s, size_t n = 4000) {
  return s.size() <= n ? s : "..." + s.substr(s.size() - n);
}

// The Java kit, checked and the test programs compiled once per test binary.
struct JavaEnv {
  std::string launcher;
  std::unique_ptr<TempDir> dir;
  std::string home, classes;
  std::string skip;   // set: skip every case with this message
  std::string error;  // set: the kit is there but compiling failed
};

const JavaEnv& java_env() {
  static JavaEnv env = [] {
    JavaEnv e;
    const char* kit = std::getenv("RMQ_JAVA_KIT");
    e.launcher = kit ? std::string(kit) + "/rmq-java" : std::string(MQ_FIXTURES_DIR) + "/../java-client/rmq-java";
    if (!std::filesystem::exists(e.launcher)) {
      e.skip = "the Java RocketMQ kit is not at " + e.launcher + " (set RMQ_JAVA_KIT)";
      return e;
    }
    e.dir = std::make_unique<TempDir>();
    e.home = e.dir->file("java-home");
    e.classes = e.dir->file("java-classes");
    auto check = run_command({"/usr/bin/env", "RMQ_JAVA_HOME=" + e.home, e.launcher, "check"}, 60s);
    if (check.exit_code == 2) {
      e.skip = "Java or the jars rmq-java needs are missing (rmq-java check exited 2):\n" + check.output;
      return e;
    }
    if (check.exit_code != 0) {
      e.error = "rmq-java check: expected exit 0, got " + std::to_string(check.exit_code) + ":\n" + check.output;
      return e;
    }
    auto javac = run_command({"/usr/bin/env", "RMQ_JAVA_HOME=" + e.home, e.launcher, "javac", "-d", e.classes,
                              std::string(MQ_SOURCE_DIR) + "/tests/java/SemanticsClients.java"},
                             120s);
    if (javac.exit_code != 0)
      e.error = "rmq-java javac SemanticsClients.java: expected exit 0, got " + std::to_string(javac.exit_code) + ":\n" +
                javac.output;
    return e;
  }();
  return env;
}

// One line of a Java program's output: its first word and its key=value fields.
struct Event {
  std::string word;
  std::map<std::string, std::string> f;
  std::string line;
  const std::string& at(const std::string& k) const {
    static const std::string none;
    auto it = f.find(k);
    return it == f.end() ? none : it->second;
  }
  int64_t num(const std::string& k) const {
    const std::string& v = at(k);
    return v.empty() ? INT64_MIN : std::stoll(v);
  }
};

// A mode of SemanticsClients running as a child process (the JVM itself: rmq-java execs it).
class JavaProgram {
 public:
  JavaProgram(std::string label, const std::vector<std::string>& args) : label_(std::move(label)) {
    const JavaEnv& e = java_env();
    std::vector<std::string> argv = {"/usr/bin/env", "RMQ_JAVA_HOME=" + e.home, "RMQ_JAVA_CP=" + e.classes, e.launcher,
                                     "run", "SemanticsClients"};
    argv.insert(argv.end(), args.begin(), args.end());
    started_ = proc_.start(argv);
  }
  bool started() const { return started_; }
  // Reads what the program printed so far (its pipe must not fill up: every wait pumps).
  void pump() { proc_.wait_for_line("\x01no such line\x01", 1ms); }
  std::vector<Event> events(const std::string& word) {
    pump();
    std::vector<Event> out;
    std::istringstream in(proc_.output());
    for (std::string line; std::getline(in, line);) {
      if (line.rfind(word + " ", 0) != 0 && line != word) continue;
      Event ev;
      ev.word = word;
      ev.line = line;
      std::istringstream words(line.substr(word.size()));
      for (std::string w; words >> w;) {
        size_t eq = w.find('=');
        if (eq != std::string::npos) ev.f[w.substr(0, eq)] = w.substr(eq + 1);
      }
      out.push_back(std::move(ev));
    }
    return out;
  }
  std::vector<Event> events(const std::string& word, const std::string& key, const std::string& value) {
    std::vector<Event> out;
    for (auto& ev : events(word))
      if (ev.at(key) == value) out.push_back(std::move(ev));
    return out;
  }
  bool has_line(const std::string& word) { return !events(word).empty(); }
  std::optional<int> wait_exit(std::chrono::milliseconds timeout) { return proc_.wait_exit(timeout); }
  bool running() { return proc_.running(); }
  void kill() {
    proc_.signal(SIGKILL);
    proc_.wait_exit(10s);
  }
  std::string describe() {
    pump();
    return "\n--- " + label_ + " (pid " + std::to_string(proc_.pid()) + ") output tail ---\n" + tail_of(proc_.output()) +
           "\n--- end of " + label_ + " ---";
  }

 private:
  std::string label_;
  ChildProcess proc_;
  bool started_ = false;
};

// Waits for `cond`, pumping every program's output meanwhile.
template <typename Cond>
bool wait_pumping(std::initializer_list<JavaProgram*> programs, Cond cond, std::chrono::milliseconds timeout) {
  return wait_until(
      [&] {
        for (JavaProgram* p : programs) p->pump();
        return cond();
      },
      timeout);
}

// The raw requests below each use a fresh BlockingClient: its loop runs only inside invoke(), and
// RemotingClient::invoke computes a request's deadline from the loop's cached time (uv_now) before
// the loop runs, so a client left idle longer than the timeout has its next request time out at
// once ("no response ... in time"); a fresh loop has a fresh time. A broker restart also leaves a
// kept client with a dead connection.
int64_t max_offset_of(const std::string& addr, const std::string& topic, int32_t queue_id) {
  BlockingClient c;
  RemotingCommand req = RemotingCommand::request(request_code::kGetMaxOffset);
  req.ext_fields.set("topic", topic);
  req.ext_fields.set("queueId", queue_id);
  auto r = c.invoke(addr, std::move(req), 5000);
  if (!r.ok()) {
    MESSAGE("GET_MAX_OFFSET " << topic << ":" << queue_id << " failed: " << r.detail());
    return -1;
  }
  if (r->code != rc::kSuccess) return -1;
  return HeaderReader(r->ext_fields).i64_or("offset", -1);
}

int64_t total_max_offset(const std::string& addr, const std::string& topic, int queues) {
  int64_t sum = 0;
  for (int q = 0; q < queues; ++q) {
    int64_t m = max_offset_of(addr, topic, q);
    if (m < 0) return -1;
    sum += m;
  }
  return sum;
}

struct Found {
  std::string uniq, keys;
  int32_t reconsume_times = 0;
};
// QUERY_MESSAGE by key: the messages found, or the response code when none.
std::pair<int32_t, std::vector<Found>> query_by_key(const std::string& addr, const std::string& topic, const std::string& key) {
  BlockingClient c;
  RemotingCommand req = RemotingCommand::request(request_code::kQueryMessage);
  req.ext_fields.set("topic", topic);
  req.ext_fields.set("key", key);
  req.ext_fields.set("maxNum", int32_t{32});
  req.ext_fields.set("beginTimestamp", int64_t{0});
  req.ext_fields.set("endTimestamp", int64_t{INT64_MAX});
  auto r = c.invoke(addr, std::move(req), 10000);
  if (!r.ok()) return {-1, {}};
  std::vector<Found> found;
  if (r->code == rc::kSuccess) {
    auto recs = decode_records(r->body);
    if (!recs.ok()) return {-2, {}};
    for (const auto& m : *recs)
      found.push_back({std::string(find_property(m.properties, property::kUniqKey).value_or("?")),
                       std::string(find_property(m.properties, "KEYS").value_or("?")), m.reconsume_times});
  }
  return {r->code, found};
}

std::string lines_of(const std::vector<Event>& evs) {
  std::string s;
  for (const auto& e : evs) s += "\n  " + e.line;
  return s.empty() ? " (none)" : s;
}

// A NameServer and a container with one broker (extra config lines), registered, for one case.
struct Servers {
  NamesrvProcess ns;
  TempDir dir;
  std::unique_ptr<ContainerProcess> container;
  std::string broker;

  explicit Servers(const std::string& extra) {
    REQUIRE_MESSAGE(ns.port > 0, "NameServer did not start: " << ns.proc.output());
    BrokerSpec spec{"broker-j"};
    spec.extra = extra;
    container = std::make_unique<ContainerProcess>(ns.addr(), std::vector<BrokerSpec>{spec}, dir.file("c"), kCluster);
    REQUIRE_MESSAGE(container->start(), "container did not start: " << container->proc().output());
    broker = container->broker_addr(0);
    AdminClient admin(ns.addr());
    REQUIRE_MESSAGE(wait_until([&] {
                      auto info = admin.get_cluster_info();
                      return info.ok() && info->cluster_addr_table[kCluster].size() == 1;
                    }, 10s),
                    "expected broker-j registered in cluster " << kCluster);
  }
  void topic(const std::string& name, int queues) {
    REQUIRE_MESSAGE(create_topic(ns.addr(), kCluster, name, queues), "mqadmin updateTopic " << name << " failed");
    AdminClient admin(ns.addr());
    REQUIRE_MESSAGE(wait_until([&] {
                      auto r = admin.get_route(name);
                      return r.ok() && !r->queue_datas.empty() && r->queue_datas[0].write_queue_nums == queues;
                    }, 10s),
                    "expected a route for " << name << " with " << queues << " queues at the NameServer");
  }
  void restart() {
    REQUIRE_MESSAGE(container->stop() == 0, "container exit status after SIGTERM: expected 0, output:\n"
                                                << tail_of(container->proc().output()));
    REQUIRE_MESSAGE(container->start(), "container did not restart: " << tail_of(container->proc().output()));
  }
};

// Skips (returns false) without Java; fails when the kit is there but the programs do not compile.
bool java_ready() {
  const JavaEnv& e = java_env();
  if (!e.skip.empty()) {
    MESSAGE("SKIPPED: " << e.skip);
    return false;
  }
  REQUIRE_MESSAGE(e.error.empty(), e.error);
  return true;
}

}  // namespace

TEST_CASE("Java push consumer: RECONSUME_LATER comes back through %RETRY% with reconsumeTimes 0, 1, 2 across a "
          "broker restart; past setMaxReconsumeTimes(2) the message is a dead letter in %DLQ%, exactly once") {
  if (!java_ready()) return;
  // A send-back's first retry uses level 3, the next ones 4, 5, ...: level 3 is long enough for the
  // broker to restart while the first retry is parked in SCHEDULE_TOPIC_XXXX.
  Servers s("messageDelayLevel=1s 1s 3s 1s 1s 1s 1s 1s\n");
  s.topic("JavaRetryTopic", 4);
  s.topic("JavaDlqTopic", 4);
  const std::string ns = s.ns.addr();
  const std::string retry_group = "JavaRetryGroup", dlq_group = "JavaDlqGroup";

  // Both consumers start together: one fails a message twice, the other always (max 2 reconsumes).
  JavaProgram retry_consumer("consume " + retry_group, {"consume", ns, "JavaRetryTopic", retry_group, "2", "-1", "150"});
  JavaProgram dlq_consumer("consume " + dlq_group, {"consume", ns, "JavaDlqTopic", dlq_group, "-1", "2", "150"});
  REQUIRE(retry_consumer.started());
  REQUIRE(dlq_consumer.started());
  REQUIRE_MESSAGE(wait_pumping({&retry_consumer, &dlq_consumer},
                               [&] { return retry_consumer.has_line("STARTED") && dlq_consumer.has_line("STARTED"); }, 60s),
                  "expected both consumers STARTED" << retry_consumer.describe() << dlq_consumer.describe());

  // Dead letter: deliveries 0, 1, 2, then the third failure goes to %DLQ%JavaDlqGroup.
  {
    JavaProgram producer("produce dlq", {"produce", ns, "JavaDlqTopic", "JavaDlqProducer", "dead", "1"});
    auto st = producer.wait_exit(60s);
    REQUIRE_MESSAGE((st && *st == 0), "producer: expected exit 0" << producer.describe());
  }
  const std::string dlq = "%DLQ%" + dlq_group;
  REQUIRE_MESSAGE(wait_pumping({&retry_consumer, &dlq_consumer}, [&] { return max_offset_of(s.broker, dlq, 0) >= 1; }, 40s),
                  "expected the message in " << dlq << " (GET_MAX_OFFSET >= 1), got " << max_offset_of(s.broker, dlq, 0)
                                             << dlq_consumer.describe());
  auto dead = dlq_consumer.events("RECV", "key", "dead-0");
  REQUIRE_MESSAGE(dead.size() == 3, "expected 3 deliveries of dead-0 before the DLQ, got" << lines_of(dead));
  for (int i = 0; i < 3; ++i) {
    CHECK_MESSAGE(dead[i].num("reconsumeTimes") == i, "delivery " << i << ": " << dead[i].line);
    CHECK_MESSAGE(dead[i].at("result") == "LATER", dead[i].line);
    CHECK_MESSAGE(dead[i].at("topic") == "JavaDlqTopic", "the client restores the original topic: " << dead[i].line);
    CHECK_MESSAGE(dead[i].at("retry") == (i > 0 ? "true" : "false"), dead[i].line);
    CHECK_MESSAGE(dead[i].at("msgId") == dead[0].at("msgId"), "one msgId through every retry: " << dead[i].line);
  }
  CHECK_MESSAGE(max_offset_of(s.broker, "%RETRY%" + dlq_group, 0) == 2,
                "expected exactly 2 retries in %RETRY%" << dlq_group);
  {
    auto [code, found] = query_by_key(s.broker, dlq, "dead-0");
    REQUIRE_MESSAGE(code == rc::kSuccess, "QUERY_MESSAGE dead-0 in " << dlq << ": expected success, got code " << code);
    REQUIRE_MESSAGE(found.size() == 1, "expected dead-0 once in " << dlq << ", got " << found.size());
    CHECK(found[0].uniq == dead[0].at("msgId"));
    CHECK_MESSAGE(found[0].reconsume_times == 3, "dead letter's reconsumeTimes: expected 3, got " << found[0].reconsume_times);
  }

  // Retries across a restart: delivery 0 fails, the send-back is parked for 3 s, the broker
  // restarts, then deliveries 1 (fails) and 2 (succeeds) come through %RETRY%JavaRetryGroup.
  const int64_t parked_before = max_offset_of(s.broker, "SCHEDULE_TOPIC_XXXX", 2);
  {
    JavaProgram producer("produce retry", {"produce", ns, "JavaRetryTopic", "JavaRetryProducer", "again", "1"});
    auto st = producer.wait_exit(60s);
    REQUIRE_MESSAGE((st && *st == 0), "producer: expected exit 0" << producer.describe());
    REQUIRE(producer.events("SENT").size() == 1);
  }
  REQUIRE_MESSAGE(wait_pumping({&retry_consumer, &dlq_consumer}, [&] { return !retry_consumer.events("RECV").empty(); }, 30s),
                  "expected the first delivery of again-0" << retry_consumer.describe());
  REQUIRE_MESSAGE(wait_pumping({&retry_consumer, &dlq_consumer},
                               [&] { return max_offset_of(s.broker, "SCHEDULE_TOPIC_XXXX", 2) > parked_before; }, 20s),
                  "expected the send-back of again-0 parked in SCHEDULE_TOPIC_XXXX queue 2 (level 3)" << retry_consumer.describe());
  // After the restart the consumer takes about 30 s to pull again: the pulls the old broker held
  // (long polling) are never answered (the broker closes its connections before it runs its held
  // requests), and the 4.9.4 client fails a pending request early only when it closes a channel
  // itself, not when the peer does, so each held pull waits for its 30 s timeout.
  const int64_t restart_ms = wall_ms();
  s.restart();
  REQUIRE_MESSAGE(wait_pumping({&retry_consumer, &dlq_consumer},
                               [&] { return retry_consumer.events("RECV", "key", "again-0").size() >= 3; }, 60s),
                  "expected 3 deliveries of again-0 (reconsumeTimes 0, 1, 2)" << retry_consumer.describe());
  auto again = retry_consumer.events("RECV", "key", "again-0");
  for (int i = 0; i < 3; ++i) {
    CHECK_MESSAGE(again[i].num("reconsumeTimes") == i, "delivery " << i << ": " << again[i].line);
    CHECK_MESSAGE(again[i].at("result") == (i < 2 ? "LATER" : "SUCCESS"), again[i].line);
    CHECK_MESSAGE(again[i].at("topic") == "JavaRetryTopic", again[i].line);
    CHECK_MESSAGE(again[i].at("retry") == (i > 0 ? "true" : "false"), again[i].line);
    CHECK_MESSAGE(again[i].at("msgId") == again[0].at("msgId"), again[i].line);
  }
  CHECK_MESSAGE(again[1].num("nowMs") >= restart_ms, "the first retry came after the restart began (" << restart_ms
                                                                                                    << "): " << again[1].line);
  CHECK_MESSAGE(again[1].num("storeMs") >= again[0].num("nowMs") + 3000,
                "the first retry waited level 3 (3 s) after the failure: " << again[0].line << "\n" << again[1].line);
  CHECK_MESSAGE(retry_consumer.running(), "the consumer kept running across the restart" << retry_consumer.describe());

  // Nothing more: both groups' messages were delivered exactly as above, one dead letter.
  CHECK_MESSAGE(max_offset_of(s.broker, "%RETRY%" + retry_group, 0) == 2,
                "expected exactly 2 retries in %RETRY%" << retry_group);
  CHECK_MESSAGE(max_offset_of(s.broker, dlq, 0) == 1, "expected one dead letter in " << dlq);
  CHECK_MESSAGE(max_offset_of(s.broker, "%DLQ%" + retry_group, 0) == 0, "expected no dead letter for " << retry_group);
  CHECK_MESSAGE(retry_consumer.events("RECV").size() == 3, "retry consumer deliveries:" << lines_of(retry_consumer.events("RECV")));
  CHECK_MESSAGE(dlq_consumer.events("RECV").size() == 3, "dlq consumer deliveries:" << lines_of(dlq_consumer.events("RECV")));
  retry_consumer.kill();
  dlq_consumer.kill();
  CHECK(s.container->stop() == 0);
}

TEST_CASE("Java TransactionMQProducer: commit, rollback and unknown (committed by a check-back) deliver exactly the "
          "committed two; a half message whose producer died is checked back after a broker restart") {
  if (!java_ready()) return;
  Servers s("transactionCheckInterval=1000\ntransactionTimeOut=1000\ntransactionCheckMax=30\n");
  s.topic("JavaTxTopic", 4);
  const std::string ns = s.ns.addr();

  JavaProgram consumer("consume", {"consume", ns, "JavaTxTopic", "JavaTxConsumer", "0", "-1", "150"});
  JavaProgram producer("tx producer", {"tx", ns, "JavaTxTopic", "JavaTxProducer", "commit", "false", "150",
                                       "tx-commit=commit", "tx-rollback=rollback", "tx-unknown=unknown"});
  REQUIRE(consumer.started());
  REQUIRE(producer.started());
  auto both = {&consumer, &producer};
  REQUIRE_MESSAGE(wait_pumping(both, [&] { return producer.has_line("SENDS_DONE"); }, 60s),
                  "expected the three transactional sends" << producer.describe());
  for (auto [key, state] : {std::pair<const char*, const char*>{"tx-commit", "COMMIT_MESSAGE"},
                            {"tx-rollback", "ROLLBACK_MESSAGE"},
                            {"tx-unknown", "UNKNOW"}}) {
    auto sent = producer.events("SENT", "key", key);
    REQUIRE_MESSAGE(sent.size() == 1, "expected one SENT for " << key << producer.describe());
    CHECK_MESSAGE((sent[0].at("sendStatus") == "SEND_OK" && sent[0].at("localState") == state), sent[0].line);
  }
  const int64_t unknown_sent_begin = producer.events("SENT", "key", "tx-unknown")[0].num("beginMs");
  REQUIRE_MESSAGE(wait_pumping(both, [&] {
                    return !producer.events("CHECK", "key", "tx-unknown").empty() &&
                           !consumer.events("RECV", "key", "tx-unknown").empty() &&
                           !consumer.events("RECV", "key", "tx-commit").empty();
                  }, 30s),
                  "expected a check-back of tx-unknown and tx-commit and tx-unknown delivered" << producer.describe()
                                                                                              << consumer.describe());
  auto check = producer.events("CHECK", "key", "tx-unknown")[0];
  CHECK_MESSAGE(check.num("nowMs") >= unknown_sent_begin + 1000,
                "the check-back came no earlier than transactionTimeOut (1 s) after the send began at "
                    << unknown_sent_begin << ": " << check.line);
  CHECK_MESSAGE(check.at("transactionId") == producer.events("SENT", "key", "tx-unknown")[0].at("transactionId"), check.line);
  // Resolved sends are not checked; the committed two are in the topic once each, the rollback never.
  CHECK_MESSAGE(producer.events("CHECK", "key", "tx-commit").empty(), "tx-commit was checked:" << lines_of(producer.events("CHECK")));
  CHECK_MESSAGE(producer.events("CHECK", "key", "tx-rollback").empty(), "tx-rollback was checked:" << lines_of(producer.events("CHECK")));
  CHECK_MESSAGE(total_max_offset(s.broker, "JavaTxTopic", 4) == 2, "expected 2 messages in JavaTxTopic, got "
                                                                              << total_max_offset(s.broker, "JavaTxTopic", 4));
  CHECK_MESSAGE(consumer.events("RECV", "key", "tx-commit").size() == 1, lines_of(consumer.events("RECV")));
  CHECK_MESSAGE(consumer.events("RECV", "key", "tx-unknown").size() == 1, lines_of(consumer.events("RECV")));
  CHECK_MESSAGE(consumer.events("RECV", "key", "tx-rollback").empty(), lines_of(consumer.events("RECV")));
  producer.kill();

  // A producer that dies after its half message (local state unknown, never answered); the broker
  // restarts; a new process of the same group answers the check-back with commit.
  {
    JavaProgram dying("tx dying producer", {"tx", ns, "JavaTxTopic", "JavaTxOrphanGroup", "unknown", "true", "0",
                                            "tx-orphan=unknown"});
    auto st = dying.wait_exit(60s);
    REQUIRE_MESSAGE((st && *st == 0), "dying producer: expected exit 0 after SENDS_DONE" << dying.describe());
    auto sent = dying.events("SENT", "key", "tx-orphan");
    REQUIRE_MESSAGE(sent.size() == 1, "expected one SENT for tx-orphan" << dying.describe());
    CHECK_MESSAGE((sent[0].at("sendStatus") == "SEND_OK" && sent[0].at("localState") == "UNKNOW"), sent[0].line);
  }
  CHECK_MESSAGE(total_max_offset(s.broker, "JavaTxTopic", 4) == 2, "tx-orphan is still a half message");
  s.restart();  // the consumer's held pulls stall for their 30 s timeout (see the first case)
  JavaProgram revived("tx new producer", {"tx", ns, "JavaTxTopic", "JavaTxOrphanGroup", "commit", "false", "150",
                                          "tx-after-restart=commit"});
  REQUIRE(revived.started());
  REQUIRE_MESSAGE(wait_pumping({&consumer, &revived}, [&] {
                    return !revived.events("CHECK", "key", "tx-orphan").empty() &&
                           !consumer.events("RECV", "key", "tx-orphan").empty() &&
                           !consumer.events("RECV", "key", "tx-after-restart").empty();
                  }, 60s),
                  "expected the new producer to be asked about tx-orphan and tx-orphan delivered"
                      << revived.describe() << consumer.describe());
  CHECK_MESSAGE(consumer.events("RECV", "key", "tx-orphan").size() == 1, lines_of(consumer.events("RECV")));
  CHECK_MESSAGE(consumer.events("RECV", "key", "tx-after-restart").size() == 1, lines_of(consumer.events("RECV")));
  CHECK_MESSAGE(total_max_offset(s.broker, "JavaTxTopic", 4) == 4, "expected 4 messages in JavaTxTopic, got "
                                                                              << total_max_offset(s.broker, "JavaTxTopic", 4));
  CHECK_MESSAGE(consumer.events("RECV", "key", "tx-rollback").empty(), lines_of(consumer.events("RECV")));
  CHECK_MESSAGE(consumer.events("RECV").size() == 4, "expected 4 deliveries in all:" << lines_of(consumer.events("RECV")));
  revived.kill();
  consumer.kill();
  CHECK(s.container->stop() == 0);
}

TEST_CASE("Java orderly consumers: two MessageListenerOrderly processes of one group, the second joining mid-stream; "
          "every order consumed in sequence, no queue consumed by both at once") {
  if (!java_ready()) return;
  Servers s("");
  const std::string topic = "JavaOrderTopic", group = "JavaOrderGroup";
  s.topic(topic, 4);
  const std::string ns = s.ns.addr();
  constexpr int kOrders = 8;

  JavaProgram a("orderly A", {"orderly-consume", ns, topic, group, "A", "150", "40"});
  REQUIRE(a.started());
  REQUIRE_MESSAGE(wait_pumping({&a}, [&] { return a.has_line("STARTED"); }, 60s), "consumer A did not start" << a.describe());
  std::vector<std::unique_ptr<JavaProgram>> producers;
  auto produce = [&](int from, int to) {
    producers.push_back(std::make_unique<JavaProgram>(
        "orderly-produce " + std::to_string(from) + ".." + std::to_string(to),
        std::vector<std::string>{"orderly-produce", ns, topic, "JavaOrderProducer", std::to_string(kOrders),
                                 std::to_string(from), std::to_string(to)}));
    return producers.back().get();
  };
  JavaProgram* p1 = produce(0, 25);
  // A has consumed part of the first batch: the second consumer joins (a rebalance), more is sent.
  REQUIRE_MESSAGE(wait_pumping({&a, p1}, [&] { return a.events("RECV").size() >= 40; }, 60s),
                  "expected consumer A to consume 40 messages" << a.describe() << p1->describe());
  const size_t a_before_b = a.events("RECV").size();
  JavaProgram b("orderly B", {"orderly-consume", ns, topic, group, "B", "150", "40"});
  REQUIRE(b.started());
  JavaProgram* p2 = produce(25, 50);
  REQUIRE_MESSAGE(wait_pumping({&a, &b, p1, p2}, [&] { return !b.events("RECV").empty(); }, 60s),
                  "expected consumer B to get queues and consume" << b.describe() << a.describe());
  JavaProgram* p3 = produce(50, 60);  // sent after the rebalance
  for (auto& p : producers) {
    bool done = wait_pumping({&a, &b, p.get()}, [&] { return !p->running(); }, 60s);
    auto st = p->wait_exit(1s);
    REQUIRE_MESSAGE((done && st && *st == 0), "producer: expected exit 0" << p->describe());
  }
  (void)p3;

  // What was sent: (order, seq) -> (queue, offset); each order's offsets rise with its sequence.
  std::map<std::pair<int, int>, std::pair<int, int64_t>> sent;
  for (auto& p : producers)
    for (const auto& e : p->events("SENT")) sent[{(int)e.num("order"), (int)e.num("seq")}] = {(int)e.num("queueId"), e.num("offset")};
  REQUIRE(sent.size() == static_cast<size_t>(kOrders) * 60);
  for (int o = 0; o < kOrders; ++o)
    for (int q = 1; q < 60; ++q) {
      const auto here = sent[std::make_pair(o, q)], first = sent[std::make_pair(o, 0)], prev = sent[std::make_pair(o, q - 1)];
      REQUIRE_MESSAGE(here.first == first.first, "order " << o << " changed queue at seq " << q);
      REQUIRE_MESSAGE(here.second > prev.second, "order " << o << " seq " << q << " stored before seq " << q - 1);
    }

  auto consumed_all = [&] {
    std::set<std::pair<int, int>> got;
    for (JavaProgram* c : {&a, &b})
      for (const auto& e : c->events("RECV")) got.insert({(int)e.num("order"), (int)e.num("seq")});
    return got.size() == sent.size();
  };
  REQUIRE_MESSAGE(wait_pumping({&a, &b}, consumed_all, 60s),
                  "expected all " << sent.size() << " messages consumed by A and B, got A " << a.events("RECV").size() << ", B "
                                  << b.events("RECV").size() << a.describe() << b.describe());

  // Per consumer process and run of a queue: offsets strictly rise, and so does each order's seq.
  struct Interval {
    int64_t begin, end;
    std::string who;
    std::string line;
  };
  std::map<int, std::vector<Interval>> by_queue;
  size_t duplicates = 0;
  std::map<std::pair<int, int>, int> times;
  for (JavaProgram* c : {&a, &b}) {
    std::map<std::pair<int, std::string>, int64_t> last_offset;             // (queue, run) -> offset
    std::map<std::tuple<int, std::string, int>, int> last_seq;               // (queue, run, order) -> seq
    for (const auto& e : c->events("RECV")) {
      const int q = (int)e.num("queueId"), o = (int)e.num("order"), sq = (int)e.num("seq");
      const std::string run = e.at("run");
      INFO("consumer " << e.at("name") << ": " << e.line);
      auto was = sent.find(std::make_pair(o, sq));
      CHECK_MESSAGE((was != sent.end() && was->second == std::make_pair(q, e.num("offset"))),
                    "consumed message does not match what was sent at that queue and offset");
      auto lo = last_offset.find({q, run});
      if (lo != last_offset.end())
        CHECK_MESSAGE(e.num("offset") > lo->second, "offset went back from " << lo->second << " within one run of queue " << q);
      last_offset[{q, run}] = e.num("offset");
      auto ls = last_seq.find({q, run, o});
      if (ls != last_seq.end())
        CHECK_MESSAGE(sq > ls->second, "order " << o << " went back from seq " << ls->second << " within one run of queue " << q);
      last_seq[{q, run, o}] = sq;
      by_queue[q].push_back({e.num("beginUs"), e.num("endUs"), e.at("name"), e.line});
      if (++times[{o, sq}] > 1) ++duplicates;
    }
  }
  // No queue consumed by A and B at the same time: sorted by start, an interval never starts
  // before the other consumer's intervals that started earlier have ended.
  std::set<int> shared;
  for (auto& [q, v] : by_queue) {
    std::sort(v.begin(), v.end(), [](const Interval& x, const Interval& y) { return x.begin < y.begin; });
    std::map<std::string, const Interval*> latest_end;
    std::set<std::string> whos;
    for (const auto& iv : v) {
      whos.insert(iv.who);
      for (const auto& [who, other] : latest_end)
        if (who != iv.who)
          CHECK_MESSAGE(other->end <= iv.begin, "queue " << q << " consumed by both at once:\n  " << other->line << "\n  " << iv.line);
      if (!latest_end.count(iv.who) || latest_end[iv.who]->end < iv.end) latest_end[iv.who] = &iv;
    }
    if (whos.size() > 1) shared.insert(q);
  }
  const size_t a_count = a.events("RECV").size(), b_count = b.events("RECV").size();
  MESSAGE("orderly: A consumed " << a_count << " (" << a_before_b << " before B started), B " << b_count << ", "
                                 << duplicates << " redelivered around the rebalance, queues handed over: " << shared.size());
  CHECK_MESSAGE(b_count > 0, "B never consumed");
  CHECK_MESSAGE(!shared.empty(), "expected at least one queue handed from A to B");
  a.kill();
  b.kill();
  CHECK(s.container->stop() == 0);
}

TEST_CASE("Java producer: setDelayTimeLevel(2) is consumed no earlier than level 2's delay after the send") {
  if (!java_ready()) return;
  Servers s("messageDelayLevel=1s 3s 5s\n");
  s.topic("JavaDelayTopic", 4);
  const std::string ns = s.ns.addr();
  JavaProgram consumer("consume", {"consume", ns, "JavaDelayTopic", "JavaDelayConsumer", "0", "-1", "150"});
  REQUIRE(consumer.started());
  REQUIRE_MESSAGE(wait_pumping({&consumer}, [&] { return consumer.has_line("STARTED"); }, 60s), consumer.describe());
  JavaProgram producer("produce", {"produce", ns, "JavaDelayTopic", "JavaDelayProducer", "late", "3", "2"});
  auto st = producer.wait_exit(60s);
  REQUIRE_MESSAGE((st && *st == 0), "producer: expected exit 0" << producer.describe());
  auto sent = producer.events("SENT");
  REQUIRE_MESSAGE(sent.size() == 3, producer.describe());
  // Parked in SCHEDULE_TOPIC_XXXX queue 1 (level 2) meanwhile.
  CHECK_MESSAGE(max_offset_of(s.broker, "SCHEDULE_TOPIC_XXXX", 1) == 3, "expected 3 messages parked at level 2");
  REQUIRE_MESSAGE(wait_pumping({&consumer}, [&] { return consumer.events("RECV").size() >= 3; }, 30s),
                  "expected the 3 delayed messages consumed" << consumer.describe());
  for (const auto& sv : sent) {
    auto got = consumer.events("RECV", "key", sv.at("key"));
    REQUIRE_MESSAGE(got.size() == 1, "expected " << sv.at("key") << " consumed once:" << lines_of(consumer.events("RECV")));
    CHECK_MESSAGE(got[0].num("nowMs") >= sv.num("beginMs") + 3000,
                  "consumed less than 3 s after the send began:\n  " << sv.line << "\n  " << got[0].line);
    CHECK_MESSAGE(got[0].num("storeMs") >= sv.num("beginMs") + 3000,
                  "stored in the topic less than 3 s after the send began:\n  " << sv.line << "\n  " << got[0].line);
    CHECK_MESSAGE(got[0].num("nowMs") < sv.num("endMs") + 20000, "consumed more than 20 s late: " << got[0].line);
    CHECK_MESSAGE(got[0].at("msgId") == sv.at("msgId"), got[0].line);
  }
  consumer.kill();
  CHECK(s.container->stop() == 0);
}
