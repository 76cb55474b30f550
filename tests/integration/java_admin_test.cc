// RocketMQ 4.9.4's own Java `mqadmin` (../shared/java-client, `rmq-java admin`) against a real
// NameServer and a container with one broker: every admin subcommand an operator runs against Java
// RocketMQ must exit 0, print no Java exception, and print what it prints against Java RocketMQ
// (brokers, routes, offsets, the group's diff). A Java producer and push consumer
// (tests/java/AdminClients.java) stay online meanwhile, so the consumer and producer subcommands
// and resetOffsetByTime (which tells the online members) have live clients to look at.
//
// Skipped with a message when Java or the kit's jars are missing (`rmq-java check` exits 2). A
// second case, without Java, runs our own mqadmin's versions of those commands and sends the
// broker malformed admin requests.
// Each subcommand starts a JVM (about a second), so independent subcommands run concurrently.
#include <doctest/doctest.h>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "client/admin_client.h"
#include "cluster.h"
#include "codec/codes.h"
#include "codec/fastjson.h"
#include "codec/message.h"

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
  // Beside the fixtures (../shared), which a clone made elsewhere finds too (cmake/mq.cmake).
  return std::string(MQ_FIXTURES_DIR) + "/../java-client/rmq-java";
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
  // Generous: the JVMs this test starts keep the machine busy.
  AdminClient admin(ns.addr(), 15'000);
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
  // The Java consumer commits with its pulls at once, and every queue it owns (its retry topic's
  // too) from 10 s after its start: wait for both, so consumerProgress shows the retry queue.
  std::pair<int64_t, int64_t> committed;
  std::string all_stats;
  REQUIRE_MESSAGE(wait_until([&] {
                    auto stats = admin.get_consume_stats(broker, kConsumerGroup, kTopic);
                    committed = stats.ok() ? offsets_of(*stats) : std::pair<int64_t, int64_t>{-1, -1};
                    auto all = admin.get_consume_stats(broker, kConsumerGroup, "");
                    all_stats = all.ok() ? *all : all.detail();
                    return committed.first == kMessages && committed.second == kMessages &&
                           all_stats.find("%RETRY%" + std::string(kConsumerGroup)) != std::string::npos;
                  }, 40s),
                  "expected broker and consumer offsets of " << kConsumerGroup << " to sum to " << kMessages
                      << " and its retry queue committed, got " << committed.first << " and " << committed.second
                      << ", all: " << all_stats);
  const std::string offset_msg_id = field_of_line(clients.output(), "sent 0 ", "offsetMsgId");
  const std::string first_key_queue = field_of_line(clients.output(), "sent 0 ", "queue");  // broker-a:<q>
  REQUIRE_MESSAGE(!offset_msg_id.empty(), "expected 'sent 0 ... offsetMsgId=...' from AdminClients, got:\n"
                                              << clients.output());
  const std::string first_queue = first_key_queue.substr(first_key_queue.find(':') + 1);
  const std::string first_msg_id = field_of_line(clients.output(), "sent 0 ", "msgId");

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
      {{"queryMsgByKey", "-t", kTopic, "-k", "k0"}, {"#Message ID", first_msg_id}},
      {{"queryMsgByUniqueKey", "-t", kTopic, "-i", first_msg_id}, {"Keys:                [k0]", "Topic:               " + std::string(kTopic)}},
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
  REQUIRE_MESSAGE(stats.ok(), "GET_CONSUME_STATS after the offline reset: " << stats.detail() << "\ncontainer output:\n"
                                                                           << container.proc().output());
  auto after = offsets_of(*stats);
  CHECK_MESSAGE((after.first == kMessages && after.second == 0),
                "expected the offline reset to the start to leave broker offsets summing to "
                    << kMessages << " and consumer offsets to 0, got " << after.first << " and " << after.second);
  auto route = admin.get_route(kTopic);
  REQUIRE(route.ok());
  CHECK_MESSAGE(route->queue_datas[0].perm == 4, "expected perm 4 (read only) after wipeWritePerm, got " << route->queue_datas[0].perm);
  CHECK_MESSAGE(container.stop() == 0, "container exit status after SIGTERM: expected 0");
}

namespace {
// `mqadmin <args> -n ns --json`: the JSON document, or a failed check naming the command and its output.
std::optional<nlohmann::json> our_admin_json(const std::string& ns, std::vector<std::string> args) {
  std::vector<std::string> argv = {binary("mqadmin")};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"-n", ns, "--json"});
  auto r = run_command(argv, 30s);
  std::string cmd = "mqadmin";
  for (const auto& a : args) cmd += " " + a;
  auto j = nlohmann::json::parse(r.output, nullptr, false);
  CHECK_MESSAGE((r.exit_code == 0 && !j.is_discarded()), cmd << ": expected exit 0 and one JSON document, got exit "
                                                              << r.exit_code << ":\n" << r.output);
  if (r.exit_code != 0 || j.is_discarded()) return std::nullopt;
  return j;
}
}  // namespace

TEST_CASE("our mqadmin's consumer and message commands, updateBrokerConfig's outcomes, malformed admin requests") {
  NamesrvProcess ns;
  REQUIRE_MESSAGE(ns.port > 0, "NameServer did not start: " << ns.proc.output());
  TempDir dir;
  ContainerProcess container(ns.addr(), {{"broker-a"}}, dir.file("container"), kCluster);
  REQUIRE_MESSAGE(container.start(), "container did not start: " << container.proc().output());
  const std::string broker = container.broker_addr(0);
  REQUIRE(create_topic(ns.addr(), kCluster, kTopic, 2));
  AdminClient admin(ns.addr());
  REQUIRE_MESSAGE(wait_until([&] { return admin.get_route(kTopic).ok(); }, 10s), "expected a route for " << kTopic);

  // 6 messages over 2 queues; the group has read 2 of queue 0 and 1 of queue 1.
  BlockingClient client;
  const int64_t before_sends_ms = SystemClock().now_ms() - 1000;
  for (int i = 0; i < 6; ++i) {
    auto s = send_message(client, broker, kTopic, i % 2, "our-body-" + std::to_string(i),
                          encode_properties({{"TAGS", "TagA"}, {"KEYS", "our-" + std::to_string(i)}}));
    REQUIRE_MESSAGE(s.code == 0, "send " << i << ": expected code 0, got " << s.code << " " << s.remark);
  }
  for (auto [q, offset] : {std::pair<int32_t, int64_t>{0, 2}, {1, 1}}) {
    RemotingCommand commit = RemotingCommand::request(request_code::kUpdateConsumerOffset);
    commit.ext_fields.set("consumerGroup", std::string(kConsumerGroup));
    commit.ext_fields.set("topic", std::string(kTopic));
    commit.ext_fields.set("queueId", q);
    commit.ext_fields.set("commitOffset", offset);
    auto r = client.invoke(broker, commit);
    REQUIRE_MESSAGE((r.ok() && r->code == 0), "UPDATE_CONSUMER_OFFSET: expected code 0, got " << (r.ok() ? r->remark.value_or("") : r.detail()));
  }

  // A consumer's first pull creates its subscription group; GET_BROKER_CONSUME_STATS lists those.
  auto sub = run_command({binary("mqadmin"), "updateSubGroup", "-n", ns.addr(), "-b", broker, "-g", kConsumerGroup});
  REQUIRE_MESSAGE(sub.exit_code == 0, "mqadmin updateSubGroup: expected exit 0, got " << sub.exit_code << ":\n" << sub.output);
  if (auto j = our_admin_json(ns.addr(), {"consumerProgress", "-g", kConsumerGroup}))
    CHECK_MESSAGE((*j)["diffTotal"] == 3, "consumerProgress: expected diffTotal 3, got " << j->dump());
  if (auto j = our_admin_json(ns.addr(), {"brokerConsumeStats", "-b", broker}))
    CHECK_MESSAGE((*j)["totalDiff"] == 3, "brokerConsumeStats: expected totalDiff 3, got " << j->dump());
  if (auto j = our_admin_json(ns.addr(), {"statsAll", "-t", kTopic})) {
    REQUIRE_MESSAGE(j->size() == 1, "statsAll: expected one row, got " << j->dump());
    CHECK_MESSAGE(((*j)[0]["group"] == kConsumerGroup && (*j)[0]["inMsg24Hour"] == 6 && (*j)[0]["outMsg24Hour"] == 3 &&
                   (*j)[0]["accumulation"] == 3),
                  "statsAll: expected group " << kConsumerGroup << ", 6 in, 3 out, accumulation 3, got " << j->dump());
  }
  if (auto j = our_admin_json(ns.addr(), {"topicClusterList", "-t", kTopic}))
    CHECK_MESSAGE((*j)["clusters"] == nlohmann::json::array({kCluster}), "topicClusterList: got " << j->dump());
  if (auto j = our_admin_json(ns.addr(), {"queryMsgByOffset", "-t", kTopic, "-b", "broker-a", "-i", "1", "-o", "2"}))
    CHECK_MESSAGE(((*j)["body"] == "our-body-5" && (*j)["properties"]["KEYS"] == "our-5"),
                  "queryMsgByOffset: expected our-body-5 (key our-5), got " << j->dump());
  if (auto j = our_admin_json(ns.addr(), {"queryMsgByKey", "-t", kTopic, "-k", "our-5"}))
    CHECK_MESSAGE((j->size() == 1 && (*j)[0]["properties"]["KEYS"] == "our-5"),
                  "queryMsgByKey: expected the one message with key our-5, got " << j->dump());
  if (auto j = our_admin_json(ns.addr(), {"printMsg", "-t", kTopic}))
    CHECK_MESSAGE(j->size() == 6, "printMsg: expected 6 messages, got " << j->dump());
  if (auto j = our_admin_json(ns.addr(), {"consumeMessage", "-t", kTopic, "-b", "broker-a", "-i", "0", "-o", "1"}))
    CHECK_MESSAGE((j->size() == 2 && (*j)[0]["body"] == "our-body-2"),
                  "consumeMessage from queue 0 offset 1: expected our-body-2 and our-body-4, got " << j->dump());

  // No member online: the broker says CONSUMER_NOT_ONLINE and the tool moves the offsets itself.
  if (auto j = our_admin_json(ns.addr(), {"resetOffsetByTime", "-g", kConsumerGroup, "-t", kTopic, "-s",
                                          std::to_string(before_sends_ms)}))
    CHECK_MESSAGE(((*j)["consumerOnline"] == false && (*j)["offsets"].size() == 2),
                  "resetOffsetByTime (offline): expected two queues reset by the tool, got " << j->dump());
  if (auto j = our_admin_json(ns.addr(), {"consumerProgress", "-g", kConsumerGroup}))
    CHECK_MESSAGE((*j)["diffTotal"] == 6, "consumerProgress after the reset: expected diffTotal 6, got " << j->dump());

  // updateBrokerConfig: applied now, at the next start (listed as pending), refused with the key named.
  if (auto j = our_admin_json(ns.addr(), {"updateBrokerConfig", "-b", broker, "-k", "channelExpiredTimeout", "-v", "90000"}))
    CHECK_MESSAGE((*j)["remarks"][broker].get<std::string>().find("applied now: channelExpiredTimeout") != std::string::npos,
                  "updateBrokerConfig channelExpiredTimeout: expected it applied now, got " << j->dump());
  if (auto j = our_admin_json(ns.addr(), {"updateBrokerConfig", "-b", broker, "-k", "fileReservedTime", "-v", "24"}))
    CHECK_MESSAGE((*j)["remarks"][broker].get<std::string>().find("next start: fileReservedTime") != std::string::npos,
                  "updateBrokerConfig fileReservedTime: expected it for the next start, got " << j->dump());
  if (auto j = our_admin_json(ns.addr(), {"getBrokerConfig", "-b", broker})) {
    const auto& c = (*j)[broker];
    CHECK_MESSAGE((c["channelExpiredTimeout"] == "90000" && c["fileReservedTime"] == "72" &&
                   c["configChangesPendingRestart"] == "fileReservedTime=24"),
                  "getBrokerConfig: expected channelExpiredTimeout 90000, fileReservedTime 72 (running) and "
                  "fileReservedTime=24 pending, got "
                      << c.dump());
  }
  for (auto [key, value, why] : {std::tuple<const char*, const char*, const char*>{"brokerName", "other", "it names the broker"},
                                 {"noSuchBrokerKey", "1", "is not a broker configuration key"},
                                 {"flushIntervalCommitLog", "0", "must be in [10, 60000] ms"},
                                 {"brokerRole", "SLAVE", "slave broker id must be > 0"}}) {
    auto r = run_command({binary("mqadmin"), "updateBrokerConfig", "-n", ns.addr(), "-b", broker, "-k", key, "-v", value});
    CHECK_MESSAGE((r.exit_code == 1 && r.output.find(key) != std::string::npos && r.output.find(why) != std::string::npos),
                  "updateBrokerConfig " << key << "=" << value << ": expected exit 1 naming the key and '" << why
                                        << "', got exit " << r.exit_code << ":\n" << r.output);
  }
  const std::string conf = read_file(container.broker_config_path(0));
  CHECK_MESSAGE((conf.find("channelExpiredTimeout=90000\n") != std::string::npos &&
                 conf.find("fileReservedTime=24\n") != std::string::npos && conf.find("noSuchBrokerKey") == std::string::npos &&
                 conf.find("brokerRole=SLAVE") == std::string::npos),
                "expected the accepted keys, and only those, written to the broker's file, got:\n" << conf);

  // Malformed admin requests get an error answer naming the field; the broker keeps serving.
  struct Bad {
    int32_t code;
    std::vector<std::pair<std::string, std::string>> fields;
    const char* expected;
  };
  for (const Bad& bad : {Bad{222, {{"topic", kTopic}}, "group"},
                         Bad{222, {{"topic", kTopic}, {"group", kConsumerGroup}, {"timestamp", "soon"}, {"isForce", "true"}}, "timestamp"},
                         Bad{222, {{"topic", "NoSuchTopic"}, {"group", kConsumerGroup}, {"timestamp", "-1"}, {"isForce", "true"}}, "no topic"},
                         Bad{315, {{"statsName", "TOPIC_PUT_NUMS"}}, "statsKey"},
                         Bad{315, {{"statsName", "NO_SUCH_STATS"}, {"statsKey", kTopic}}, "not exist"},
                         Bad{315, {{"statsName", "GROUP_GET_NUMS"}, {"statsKey", "no-at-sign"}}, "not exist"},
                         Bad{300, {}, "topic"}}) {
    RemotingCommand req = RemotingCommand::request(bad.code);
    for (const auto& [k, v] : bad.fields) req.ext_fields.set(k, v);
    auto r = client.invoke(broker, req);
    REQUIRE_MESSAGE(r.ok(), "request " << bad.code << ": expected an answer, got " << r.detail());
    CHECK_MESSAGE((r->code != 0 && r->remark.value_or("").find(bad.expected) != std::string::npos),
                  "request " << bad.code << ": expected an error naming '" << bad.expected << "', got code " << r->code
                             << " " << r->remark.value_or(""));
  }
  RemotingCommand order_only = RemotingCommand::request(317);
  order_only.ext_fields.set_bool("isOrder", true);
  auto ordered = client.invoke(broker, order_only);
  REQUIRE(ordered.ok());
  auto body = parse_fastjson(ordered->body);
  CHECK_MESSAGE((ordered->code == 0 && body.ok() && json_int(*body, "totalDiff") == 0),
                "GET_BROKER_CONSUME_STATS isOrder=true: expected no ordered topic and totalDiff 0, got code "
                    << ordered->code << " " << ordered->body);
  CHECK(container.stop() == 0);
}
