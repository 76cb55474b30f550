// RocketMQ 4.9.4's own Java `mqadmin` (../shared/java-client, `rmq-java admin`) against a real
// NameServer and a container with one broker: every admin subcommand an operator runs against Java
// RocketMQ must exit 0, print no Java exception, and print what it prints against Java RocketMQ
// (brokers, routes, offsets, the group's diff). A Java producer and push consumer
// (tests/java/AdminClients.java) stay online meanwhile, so the consumer and producer subcommands
// and resetOffsetByTime (which tells the online members) have live clients to look at.
//
// Skipped with a message when Java or the kit's jars are missing (`rmq-java check` exits 2).
// Each subcommand starts a JVM (about a second), so independent subcommands run concurrently.
#include <doctest/doctest.h>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "client/admin_client.h"
#include "cluster.h"
#include "codec/fastjson.h"

using namespace mq;
using namespace mq::test;
using namespace std::chrono_literals;

namespace {

const char* const kCluster = "JavaAdminCluster";
const char* const kTopic = "JavaAdminTopic";       // 4 queues, fed by AdminClients
const char* const kTopic2 = "JavaAdminTopic2";     // 1 queue: sendMessage, consumeMessage, printMsg
const char* const kTopic3 = "JavaAdminTopicGone";  // created, then deleteTopic
const char* const kProducerGroup = "JavaAdminProducerGroup";
const char* const kConsumerGroup = "JavaAdminConsumerGroup";
const char* const kSubGroup = "JavaAdminSubGroup";  // updateSubGroup, deleteSubGroup
constexpr int kMessages = 20;

std::string kit_launcher() {
  if (const char* env = std::getenv("RMQ_JAVA_KIT")) return std::string(env) + "/rmq-java";
  return std::string(MQ_SOURCE_DIR) + "/../shared/java-client/rmq-java";
}

// One `rmq-java admin` run: the subcommand line and what its output must contain.
struct AdminRun {
  AdminRun(std::vector<std::string> a, std::vector<std::string> e, bool failure = false)
      : args(std::move(a)), expected(std::move(e)), expect_failure(failure) {}
  std::vector<std::string> args;      // after "admin", without -n
  std::vector<std::string> expected;  // substrings of the output
  bool expect_failure = false;        // the subcommand must fail (exit 1, the broker's reason shown)
  CommandResult result;
};

class JavaKit {
 public:
  JavaKit(std::string launcher, std::string home, std::string namesrv)
      : launcher_(std::move(launcher)), home_(std::move(home)), namesrv_(std::move(namesrv)) {}

  // argv of `rmq-java <cmd> ...` with the JVM's home (logs, compiled launcher class) in the test's
  // temp dir and `extra_cp` on the classpath.
  std::vector<std::string> argv(std::vector<std::string> tail, const std::string& extra_cp = "") const {
    std::vector<std::string> a = {"/usr/bin/env", "RMQ_JAVA_HOME=" + home_};
    if (!extra_cp.empty()) a.push_back("RMQ_JAVA_CP=" + extra_cp);
    a.push_back(launcher_);
    for (auto& t : tail) a.push_back(std::move(t));
    return a;
  }

  // Runs the subcommands, a few at a time (each JVM takes a core for a second or two while it
  // starts; more at once only make every one of them slower, up to the tool's 3 s RPC timeouts on
  // a busy machine), each bounded by 90 s; then checks each one.
  void run(std::vector<AdminRun>& runs) const {
    const size_t parallel = std::getenv("RMQ_JAVA_PARALLEL") ? std::max(1, std::atoi(std::getenv("RMQ_JAVA_PARALLEL"))) : 3;
    std::vector<std::unique_ptr<ChildProcess>> procs(runs.size());
    auto start = [&](size_t i) {
      std::vector<std::string> tail = {"admin"};
      tail.insert(tail.end(), runs[i].args.begin(), runs[i].args.end());
      tail.push_back("-n");
      tail.push_back(namesrv_);
      procs[i] = std::make_unique<ChildProcess>();
      if (!procs[i]->start(argv(tail))) procs[i].reset();
    };
    auto finish = [&](size_t i) {
      AdminRun& r = runs[i];
      if (!procs[i]) {
        r.result.exit_code = -1;
        return;
      }
      auto st = procs[i]->wait_exit(90s);
      if (!st) {
        procs[i]->signal(SIGKILL);
        procs[i]->wait_exit(5s);
      }
      r.result.exit_code = st ? *st : -1;
      r.result.output = procs[i]->output();
    };
    size_t next = 0, done = 0;
    while (done < runs.size()) {
      while (next < runs.size() && next - done < parallel) start(next++);
      finish(done++);
    }
    for (const auto& r : runs) check(r);
  }

  AdminRun run_one(std::vector<std::string> args, std::vector<std::string> expected, bool expect_failure = false) const {
    std::vector<AdminRun> runs = {AdminRun(std::move(args), std::move(expected), expect_failure)};
    run(runs);
    return runs[0];
  }

 private:
  static std::string describe(const AdminRun& r) {
    std::string line = "rmq-java admin";
    for (const auto& a : r.args) line += " " + a;
    return line;
  }
  static void check(const AdminRun& r) {
    const std::string& out = r.result.output;
    const std::string cmd = describe(r);
    if (r.expect_failure) {
      CHECK_MESSAGE(r.result.exit_code == 1, cmd << ": expected exit 1 (refused), got " << r.result.exit_code << ":\n" << out);
    } else {
      CHECK_MESSAGE(r.result.exit_code == 0, cmd << ": expected exit 0, got " << r.result.exit_code << ":\n" << out);
      CHECK_MESSAGE(out.find("Exception") == std::string::npos, cmd << ": expected no Java exception, got:\n" << out);
    }
    for (const auto& e : r.expected)
      CHECK_MESSAGE(out.find(e) != std::string::npos, cmd << ": expected '" << e << "' in the output, got:\n" << out);
  }

  std::string launcher_, home_, namesrv_;
};

// The value after `key=` on the first line of `text` that starts with `line_prefix`.
std::string field_of_line(const std::string& text, const std::string& line_prefix, const std::string& key) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(line_prefix, 0) != 0) continue;
    size_t at = line.find(key + "=");
    if (at == std::string::npos) return {};
    size_t end = line.find(' ', at);
    return line.substr(at + key.size() + 1, end == std::string::npos ? std::string::npos : end - at - key.size() - 1);
  }
  return {};
}

// Sum of brokerOffset and of consumerOffset over a ConsumeStats body.
std::pair<int64_t, int64_t> offsets_of(const std::string& consume_stats) {
  auto j = parse_fastjson(consume_stats);
  if (!j.ok() || !j->contains("offsetTable")) return {-1, -1};
  int64_t broker = 0, consumer = 0;
  for (const auto& [_, w] : (*j)["offsetTable"].items()) {
    broker += json_int(w, "brokerOffset");
    consumer += json_int(w, "consumerOffset");
  }
  return {broker, consumer};
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("RocketMQ 4.9.4's Java mqadmin: every admin subcommand against our NameServer and broker") {
  const std::string launcher = kit_launcher();
  if (!std::filesystem::exists(launcher)) {
    MESSAGE("SKIPPED: the Java RocketMQ kit is not at " << launcher << " (set RMQ_JAVA_KIT)");
    return;
  }
  TempDir dir;
  JavaKit kit(launcher, dir.file("java-home"), "");
  auto check = run_command(kit.argv({"check"}), 60s);
  if (check.exit_code == 2) {
    MESSAGE("SKIPPED: Java or the jars rmq-java needs are missing (rmq-java check exited 2):\n" << check.output);
    return;
  }
  REQUIRE_MESSAGE(check.exit_code == 0, "rmq-java check: expected exit 0, got " << check.exit_code << ":\n" << check.output);

  // The Java clients compile while the servers start.
  const std::string classes = dir.file("java-classes");
  ChildProcess javac;
  REQUIRE(javac.start(kit.argv({"javac", "-d", classes, std::string(MQ_SOURCE_DIR) + "/tests/java/AdminClients.java"})));

  const int64_t start_ms = SystemClock().now_ms();
  NamesrvProcess ns;
  REQUIRE_MESSAGE(ns.port > 0, "NameServer did not start: " << ns.proc.output());
  ContainerProcess container(ns.addr(), {{"broker-a"}}, dir.file("container"), kCluster);
  REQUIRE_MESSAGE(container.start(), "container did not start: " << container.proc().output());
  const std::string broker = container.broker_addr(0);
  AdminClient admin(ns.addr());
  REQUIRE_MESSAGE(wait_until([&] {
                    auto info = admin.get_cluster_info();
                    return info.ok() && info->cluster_addr_table[kCluster].size() == 1;
                  }, 10s),
                  "expected broker-a registered in cluster " << kCluster);
  auto compiled = javac.wait_exit(90s);
  REQUIRE_MESSAGE((compiled && *compiled == 0), "rmq-java javac AdminClients.java: expected exit 0, got "
                                                    << (compiled ? std::to_string(*compiled) : "a timeout") << ":\n"
                                                    << javac.output());
  JavaKit java(launcher, dir.file("java-home"), ns.addr());

  // Topics, cluster and NameServer views, broker settings.
  const std::string broker_conf = container.broker_config_path(0);
  std::vector<AdminRun> first = {
      {{"updateTopic", "-c", kCluster, "-t", kTopic, "-r", "4", "-w", "4"}, {"create topic to " + broker + " success"}},
      {{"updateTopic", "-b", broker, "-t", kTopic2, "-r", "1", "-w", "1"}, {"create topic to " + broker + " success"}},
      {{"updateTopic", "-c", kCluster, "-t", kTopic3, "-r", "2", "-w", "2"}, {"success"}},
      {{"clusterList"}, {kCluster, "broker-a", broker, "V4_9_4"}},
      {{"brokerStatus", "-b", broker}, {"putTps", "brokerVersionDesc", "commitLogMaxOffset"}},
      {{"getNamesrvConfig"}, {"listenPort", std::to_string(ns.port)}},
      {{"updateKvConfig", "-s", "JavaAdminNamespace", "-k", "JavaAdminKey", "-v", "JavaAdminValue"},
       {"create or update kv config to namespace success"}},
      {{"updateSubGroup", "-b", broker, "-g", kSubGroup}, {"create subscription group to " + broker + " success"}},
      // Applied at once (its flush timer is re-armed).
      {{"updateBrokerConfig", "-b", broker, "-k", "flushIntervalCommitLog", "-v", "600"}, {"update broker config success"}},
      // Read only at start: accepted, written to the file, pending until a restart.
      {{"updateBrokerConfig", "-b", broker, "-k", "haSendHeartbeatInterval", "-v", "6000"}, {"update broker config success"}},
      // Refused, naming the key.
      {{"updateBrokerConfig", "-b", broker, "-k", "noSuchBrokerKey", "-v", "1"}, {"noSuchBrokerKey"}, true},
      {{"updateBrokerConfig", "-b", broker, "-k", "brokerPermission", "-v", "rw"}, {"brokerPermission"}, true},
  };
  java.run(first);
  std::string conf_text = read_file(broker_conf);
  CHECK_MESSAGE(conf_text.find("flushIntervalCommitLog=600\n") != std::string::npos,
                "expected flushIntervalCommitLog=600 written to " << broker_conf << ", got:\n" << conf_text);
  CHECK_MESSAGE(conf_text.find("haSendHeartbeatInterval=6000\n") != std::string::npos,
                "expected haSendHeartbeatInterval=6000 written to " << broker_conf << ", got:\n" << conf_text);
  CHECK_MESSAGE(conf_text.find("noSuchBrokerKey") == std::string::npos,
                "expected the refused key kept out of " << broker_conf << ", got:\n" << conf_text);
  REQUIRE_MESSAGE(wait_until([&] {
                    auto r = admin.get_route(kTopic);
                    return r.ok() && !r->queue_datas.empty() && r->queue_datas[0].write_queue_nums == 4;
                  }, 10s),
                  "expected a route for " << kTopic << " with 4 write queues at the NameServer");

  // A producer and a push consumer that stay online.
  ChildProcess clients;
  REQUIRE(clients.start(java.argv({"run", "AdminClients", ns.addr(), kTopic, kProducerGroup, kConsumerGroup,
                                   std::to_string(kMessages), "150"},
                                  classes)));

  std::vector<AdminRun> second = {
      {{"topicList"}, {kTopic, kTopic2, kTopic3}},
      {{"topicRoute", "-t", kTopic}, {"\"brokerName\":\"broker-a\"", "\"writeQueueNums\":4", broker}},
      {{"topicClusterList", "-t", kTopic}, {kCluster}},
      {{"getBrokerConfig", "-b", broker},
       {"flushIntervalCommitLog", "600", "configChangesPendingRestart", "haSendHeartbeatInterval=6000", "broker-a"}},
      {{"sendMessage", "-t", kTopic2, "-p", "hello-java-admin", "-k", "JavaAdminKey1", "-c", "TagA"},
       {"broker-a", "SEND_OK"}},
      {{"deleteSubGroup", "-b", broker, "-g", kSubGroup}, {"delete subscription group [" + std::string(kSubGroup) + "]"}},
      {{"deleteTopic", "-c", kCluster, "-t", kTopic3},
       {"delete topic [" + std::string(kTopic3) + "] from cluster [" + kCluster + "] success",
        "delete topic [" + std::string(kTopic3) + "] from NameServer success"}},
  };
  java.run(second);

  // Every message consumed and the group's offsets committed (the consumer commits every second).
  REQUIRE_MESSAGE(clients.wait_for_line("consumed " + std::to_string(kMessages), 60s),
                  "AdminClients: expected 'consumed " << kMessages << "', got:\n" << clients.output());
  std::pair<int64_t, int64_t> committed;
  REQUIRE_MESSAGE(wait_until([&] {
                    auto stats = admin.get_consume_stats(broker, kConsumerGroup, kTopic);
                    committed = stats.ok() ? offsets_of(*stats) : std::pair<int64_t, int64_t>{-1, -1};
                    return committed.first == kMessages && committed.second == kMessages;
                  }, 20s),
                  "expected broker and consumer offsets of " << kConsumerGroup << " to sum to " << kMessages << ", got "
                                                             << committed.first << " and " << committed.second);
  const std::string offset_msg_id = field_of_line(clients.output(), "sent 0 ", "offsetMsgId");
  const std::string first_key_queue = field_of_line(clients.output(), "sent 0 ", "queue");  // broker-a:<q>
  REQUIRE_MESSAGE(!offset_msg_id.empty(), "expected 'sent 0 ... offsetMsgId=...' from AdminClients, got:\n"
                                              << clients.output());
  const std::string first_queue = first_key_queue.substr(first_key_queue.find(':') + 1);

  const std::string per_queue = std::to_string(kMessages / 4);
  std::vector<AdminRun> third = {
      {{"topicStatus", "-t", kTopic}, {"#Max Offset", "broker-a", per_queue}},
      {{"consumerProgress", "-g", kConsumerGroup}, {kTopic, "%RETRY%" + std::string(kConsumerGroup), "Diff Total: 0"}},
      {{"consumerProgress"}, {kConsumerGroup, "PUSH", "CLUSTERING"}},
      {{"consumerConnection", "-g", kConsumerGroup}, {"JAVA", "V4_9_4", kTopic, "CONSUME_PASSIVELY", "CLUSTERING"}},
      {{"producerConnection", "-g", kProducerGroup, "-t", kTopic}, {"JAVA", "V4_9_4"}},
      {{"brokerConsumeStats", "-b", broker}, {kTopic, kConsumerGroup, "Diff Total: 0"}},
      {{"statsAll", "-t", kTopic}, {kTopic, kConsumerGroup, std::to_string(kMessages)}},
      {{"queryMsgById", "-i", offset_msg_id}, {"OffsetID:            " + offset_msg_id, "Keys:                [k0]",
                                               "MessageTrack [consumerGroup=" + std::string(kConsumerGroup) + ", trackType=CONSUMED"}},
      {{"queryMsgByOffset", "-t", kTopic, "-b", "broker-a", "-i", first_queue, "-o", "0"},
       {"Queue Offset:        0", "Topic:               " + std::string(kTopic), "MessageTrack [consumerGroup="}},
      {{"consumeMessage", "-t", kTopic2, "-c", "1"}, {"BODY: hello-java-admin"}},
      {{"printMsg", "-t", kTopic2}, {"BODY: hello-java-admin", "KEYS=JavaAdminKey1"}},
  };
  java.run(third);

  // Reset with the group online: the broker tells the consumer, which reads everything again.
  java.run_one({"resetOffsetByTime", "-g", kConsumerGroup, "-t", kTopic, "-s", std::to_string(start_ms - 60'000)},
               {"rollback consumer offset by specified group[" + std::string(kConsumerGroup) + "]", "#offset", "broker-a"});
  CHECK_MESSAGE(clients.wait_for_line("redelivered", 60s),
                "AdminClients: expected messages delivered again after resetOffsetByTime, got:\n" << clients.output());

  // Reset with the group offline: the broker answers CONSUMER_NOT_ONLINE and the tool sets the
  // offsets itself (resetOffsetByTimestampOld), here back to the first message.
  clients.signal(SIGTERM);
  CHECK_MESSAGE(clients.wait_exit(20s).has_value(), "AdminClients did not stop on SIGTERM");
  CHECK_MESSAGE(wait_until([&] { return !admin.get_consumer_connections(broker, kConsumerGroup).ok(); }, 10s),
                "expected " << kConsumerGroup << " offline once AdminClients stopped");
  std::vector<AdminRun> last = {
      {{"resetOffsetByTime", "-g", kConsumerGroup, "-t", kTopic, "-s", std::to_string(start_ms - 60'000)},
       {"rollback consumer offset by specified consumerGroup[" + std::string(kConsumerGroup) + "]", "#rollbackOffset"}},
      {{"wipeWritePerm", "-b", "broker-a"}, {"wipe write perm of broker[broker-a] in name server[" + ns.addr() + "] OK"}},
  };
  java.run(last);
  auto stats = admin.get_consume_stats(broker, kConsumerGroup, kTopic);
  REQUIRE_MESSAGE(stats.ok(), "GET_CONSUME_STATS after the offline reset: " << stats.detail());
  auto after = offsets_of(*stats);
  CHECK_MESSAGE((after.first == kMessages && after.second == 0),
                "expected the offline reset to the start to leave broker offsets summing to "
                    << kMessages << " and consumer offsets to 0, got " << after.first << " and " << after.second);
  auto route = admin.get_route(kTopic);
  REQUIRE(route.ok());
  CHECK_MESSAGE(route->queue_datas[0].perm == 4, "expected perm 4 (read only) after wipeWritePerm, got " << route->queue_datas[0].perm);
  CHECK_MESSAGE(container.stop() == 0, "container exit status after SIGTERM: expected 0");
}
