// Brokers in containers, end to end with real processes: two containers against one NameServer,
// produce and consume through each broker, long polling, kill -9 and restart without losing an
// acknowledged message, hostile requests, start-up conflict checks, and adding and removing a
// broker while the container runs.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <set>

#include "base/clock.h"
#include "base/config.h"
#include "client/admin_client.h"
#include "cluster.h"
#include "codec/codes.h"
#include "codec/message.h"

using namespace mq;
using namespace mq::test;
using namespace std::chrono_literals;
namespace rc = response_code;

namespace {
std::string props_for(int i) {
  return encode_properties({{"TAGS", i % 2 ? "TagB" : "TagA"}, {"KEYS", "key-" + std::to_string(i)}, {"index", std::to_string(i)}});
}
std::string body_for(int i) { return "message body " + std::to_string(i) + std::string(static_cast<size_t>(i % 7) * 100, 'x'); }

bool route_has_brokers(AdminClient& admin, const std::string& topic, size_t n) {
  auto r = admin.get_route(topic);
  return r.ok() && r->broker_datas.size() == n;
}
}  // namespace

TEST_CASE("two containers: produce and consume through each broker, registration and routes") {
  NamesrvProcess ns;
  REQUIRE(ns.port > 0);
  TempDir dir;
  ContainerProcess c1(ns.addr(), {{"broker-a"}}, dir.file("c1"));
  ContainerProcess c2(ns.addr(), {{"broker-b"}, {"broker-c"}}, dir.file("c2"));
  REQUIRE_MESSAGE(c1.start(), c1.proc().output());
  REQUIRE_MESSAGE(c2.start(), c2.proc().output());
  AdminClient admin(ns.addr());
  REQUIRE(wait_until([&] {
    auto info = admin.get_cluster_info();
    return info.ok() && info->cluster_addr_table["TestCluster"].size() == 3;
  }, 10s));
  REQUIRE(create_topic(ns.addr(), "TestCluster", "IntegTopic", 4));
  REQUIRE(wait_until([&] { return route_has_brokers(admin, "IntegTopic", 3); }, 10s));

  BlockingClient client;
  std::vector<std::string> addrs = {c1.broker_addr(0), c2.broker_addr(0), c2.broker_addr(1)};
  const int per_broker = 40;
  for (const auto& addr : addrs) {
    for (int i = 0; i < per_broker; ++i) {
      auto s = send_message(client, addr, "IntegTopic", i % 4, body_for(i), props_for(i));
      REQUIRE_MESSAGE(s.code == rc::kSuccess, s.remark);
      CHECK(s.queue_id == i % 4);
      CHECK(s.queue_offset == i / 4);
      auto id = decode_offset_msg_id(s.msg_id);
      REQUIRE(id.ok());
      CHECK(id->store_host.to_string() == addr);
    }
  }
  for (const auto& addr : addrs) {
    int seen = 0;
    for (int q = 0; q < 4; ++q) {
      int64_t offset = 0;
      while (true) {
        auto p = pull_messages(client, addr, "integ_group", "IntegTopic", q, offset);
        if (p.code == rc::kPullNotFound) break;
        REQUIRE_MESSAGE(p.code == rc::kSuccess, p.remark);
        REQUIRE_FALSE(p.records.empty());
        for (const auto& rec : p.records) {
          int i = std::stoi(std::string(*find_property(rec.properties, "index")));
          CHECK(rec.body == body_for(i));
          CHECK(rec.queue_id == q);
          CHECK(rec.queue_offset == offset);
          CHECK(find_property(rec.properties, "KEYS") == "key-" + std::to_string(i));
          CHECK(find_property(rec.properties, "CLUSTER") == "TestCluster");
          CHECK(rec.store_host.to_string() == addr);
          ++offset;
          ++seen;
        }
        CHECK(p.next_begin_offset == offset);
      }
    }
    CHECK(seen == per_broker);
  }
  // Tag filtering on the broker: only TagB (odd indexes) comes back.
  RemotingCommand tag_pull = make_pull_request("tag_group", "IntegTopic", 1, 0, 32, 0x4, 0, "TagB");
  auto tp = client.invoke(addrs[0], tag_pull);
  REQUIRE(tp.ok());
  auto tagged = to_pull_outcome(std::move(*tp));
  REQUIRE(tagged.code == rc::kSuccess);
  for (const auto& rec : tagged.records) CHECK(find_property(rec.properties, "TAGS") == "TagB");
  CHECK(tagged.records.size() == 10);  // queue 1 holds i = 1, 5, 9, ... (all odd)

  // mqadmin reads the same state.
  auto status = run_command({binary("mqadmin"), "topicStatus", "-n", ns.addr(), "-t", "IntegTopic", "--json"});
  REQUIRE(status.exit_code == 0);
  auto rows = nlohmann::json::parse(status.output);
  int64_t total = 0;
  for (const auto& r : rows) total += r["maxOffset"].get<int64_t>();
  CHECK(total == 3 * per_broker);
  auto cs = run_command({binary("mqadmin"), "containerStatus", "-c", c2.admin_addr(), "--json"});
  REQUIRE(cs.exit_code == 0);
  auto cj = nlohmann::json::parse(cs.output);
  CHECK(cj["brokers"].size() == 2);
  // One loop thread plus the worker pool (2 threads here): the count does not grow per broker.
  CHECK(cj["threads"].get<int>() <= 1 + 2 + 1);

  // GET_BROKER_RUNTIME_INFO carries every key RocketMQ's mqadmin clusterList reads, with numbers
  // where it parses them (a TPS field is empty until enough one-second samples exist, as in RocketMQ).
  auto runtime = admin.get_broker_runtime_info(addrs[0]);
  REQUIRE(runtime.ok());
  for (const char* key : {"brokerVersionDesc", "putTps", "getTransferedTps", "sendThreadPoolQueueSize",
                          "sendThreadPoolQueueHeadWaitTimeMills", "pullThreadPoolQueueSize",
                          "pullThreadPoolQueueHeadWaitTimeMills", "pageCacheLockTimeMills", "earliestMessageTimeStamp",
                          "commitLogDiskRatio", "msgPutTotalTodayMorning", "msgPutTotalTodayNow",
                          "msgGetTotalTodayMorning", "msgGetTotalTodayNow", "msgPutTotalYesterdayMorning",
                          "msgGetTotalYesterdayMorning"})
    CHECK_MESSAGE(runtime->count(key) == 1, "GET_BROKER_RUNTIME_INFO lacks " << key);
  for (const char* key : {"putTps", "getTransferedTps"}) {
    std::string v = (*runtime)[key];
    size_t at = 0;
    while (at <= v.size()) {
      size_t sp = v.find(' ', at);
      std::string f = v.substr(at, sp == std::string::npos ? std::string::npos : sp - at);
      if (!f.empty()) CHECK_MESSAGE(std::strtod(f.c_str(), nullptr) >= 0, key << " field '" << f << "'");
      if (sp == std::string::npos) break;
      at = sp + 1;
    }
  }
  CHECK(std::stoll((*runtime)["msgPutTotalTodayNow"]) == per_broker);
  CHECK(std::stoll((*runtime)["msgGetTotalTodayNow"]) >= per_broker);
  CHECK(std::stoll((*runtime)["earliestMessageTimeStamp"]) > 0);

  // Clean shutdown unregisters: the NameServer drops the brokers at once.
  CHECK(c2.stop() == 0);
  CHECK(wait_until([&] { return route_has_brokers(admin, "IntegTopic", 1); }, 5s));
  CHECK(c1.stop() == 0);
}

TEST_CASE("a NameServer started after the container sees its brokers long before the next registration round") {
  // The periodic round is set to 60 s; only the retry of a failed registration (1 s, 2 s, 4 s, ...)
  // can bring the brokers into the NameServer within the wait below.
  int ns_port = free_port();
  REQUIRE(ns_port > 0);
  std::string ns_addr = "127.0.0.1:" + std::to_string(ns_port);
  TempDir dir;
  ContainerProcess c(ns_addr, {{"late-a", 0, "ASYNC_MASTER", "ASYNC_FLUSH", 0, "registerNameServerPeriod=60000"},
                               {"late-b", 0, "ASYNC_MASTER", "ASYNC_FLUSH", 0, "registerNameServerPeriod=60000"}},
                     dir.file("c"));
  REQUIRE_MESSAGE(c.start(), c.proc().output());
  REQUIRE(c.proc().wait_for_line("register to name server " + ns_addr + " failed", 10s).has_value());
  NamesrvProcess ns(ns_port);
  REQUIRE(ns.port == ns_port);
  AdminClient admin(ns.addr());
  CHECK_MESSAGE(wait_until([&] {
    auto info = admin.get_cluster_info();
    return info.ok() && info->cluster_addr_table["TestCluster"].size() == 2;
  }, 20s), c.proc().output());
  CHECK(c.stop() == 0);
}

TEST_CASE("long polling: a held pull is answered as soon as a message arrives") {
  NamesrvProcess ns;
  TempDir dir;
  ContainerProcess c(ns.addr(), {{"broker-lp"}}, dir.file("c"));
  REQUIRE(c.start());
  REQUIRE(create_topic(ns.addr(), "TestCluster", "PollTopic", 1));

  EventLoop loop;
  {
    RemotingClient client(loop, RemotingClientOptions{}, Logger());
    SystemClock clock;
    std::optional<PullOutcome> pulled;
    int64_t pull_sent_ms = clock.monotonic_ms(), send_acked_ms = 0, pull_answered_ms = 0;
    // Suspend bit + subscription bit; offset 0 of an empty queue: nothing to return yet.
    client.invoke(c.broker_addr(0), make_pull_request("lp_group", "PollTopic", 0, 0, 32, 0x2 | 0x4, 15'000, "*"), 30'000,
                  [&](Result<RemotingCommand, RpcError> r) {
                    pull_answered_ms = clock.monotonic_ms();
                    REQUIRE(r.ok());
                    pulled = to_pull_outcome(std::move(*r));
                  });
    Timer send_later(loop);
    send_later.start(500, 0, [&] {
      client.invoke(c.broker_addr(0), make_send_request("PollTopic", 0, "wake up", ""), 10'000,
                    [&](Result<RemotingCommand, RpcError> r) {
                      REQUIRE(r.ok());
                      CHECK(r->code == rc::kSuccess);
                      send_acked_ms = clock.monotonic_ms();
                    });
    });
    loop.run_until([&] { return pulled.has_value() && send_acked_ms > 0; });
    REQUIRE(pulled);
    CHECK(pulled->code == rc::kSuccess);
    REQUIRE(pulled->records.size() == 1);
    CHECK(pulled->records[0].body == "wake up");
    // It was held (not answered empty at once), and it woke with the send, long before the 15 s
    // suspend time ran out.
    CHECK(pull_answered_ms - pull_sent_ms >= 400);
    CHECK(pull_answered_ms - pull_sent_ms < 5'000);
  }
  loop.close_and_drain();
  CHECK(c.stop() == 0);
}

TEST_CASE("kill -9 and restart: every acknowledged message is still there (ASYNC_FLUSH and SYNC_FLUSH)") {
  NamesrvProcess ns;
  TempDir dir;
  ContainerProcess c(ns.addr(), {{"broker-async"}, {"broker-sync", 0, "ASYNC_MASTER", "SYNC_FLUSH"}}, dir.file("c"));
  REQUIRE(c.start());
  REQUIRE(create_topic(ns.addr(), "TestCluster", "DurableTopic", 2));
  BlockingClient client;
  std::map<std::string, std::vector<std::string>> acked;  // addr -> bodies in order
  for (size_t b = 0; b < 2; ++b) {
    for (int i = 0; i < 300; ++i) {
      std::string body = "durable-" + std::to_string(b) + "-" + std::to_string(i) + std::string(static_cast<size_t>(i % 13) * 50, 'd');
      auto s = send_message(client, c.broker_addr(b), "DurableTopic", 0, body, props_for(i));
      REQUIRE_MESSAGE(s.code == rc::kSuccess, s.remark);
      acked[c.broker_addr(b)].push_back(body);
    }
  }
  c.kill9();
  client.client().close_all();
  REQUIRE_MESSAGE(c.start(), c.proc().output());
  CHECK(c.proc().wait_for_line("abnormal recovery", 5s));
  for (size_t b = 0; b < 2; ++b) {
    const auto& bodies = acked[c.broker_addr(b)];
    size_t got = 0;
    int64_t offset = 0;
    while (got < bodies.size()) {
      auto p = pull_messages(client, c.broker_addr(b), "durable_group", "DurableTopic", 0, offset);
      REQUIRE_MESSAGE(p.code == rc::kSuccess, p.remark << " at offset " << offset);
      for (const auto& rec : p.records) {
        CHECK(rec.body == bodies[got]);
        ++got;
        ++offset;
      }
    }
    CHECK(got == bodies.size());
    // And the broker keeps taking writes after recovery.
    auto s = send_message(client, c.broker_addr(b), "DurableTopic", 0, "after restart");
    CHECK(s.code == rc::kSuccess);
    CHECK(s.queue_offset == static_cast<int64_t>(bodies.size()));
  }
  CHECK(c.stop() == 0);
}

TEST_CASE("hostile requests get errors and the broker keeps serving") {
  NamesrvProcess ns;
  TempDir dir;
  ContainerProcess c(ns.addr(), {{"broker-h", 0, "ASYNC_MASTER", "ASYNC_FLUSH", 0, "autoCreateTopicEnable=false\nmaxMessageSize=65536"}},
                     dir.file("c"));
  REQUIRE(c.start());
  REQUIRE(create_topic(ns.addr(), "TestCluster", "SafeTopic", 2));
  BlockingClient client;
  std::string addr = c.broker_addr(0);
  REQUIRE(send_message(client, addr, "SafeTopic", 0, "first").code == rc::kSuccess);

  CHECK(send_message(client, addr, "NoSuchTopic", 0, "x").code == rc::kTopicNotExist);
  CHECK(send_message(client, addr, "SafeTopic", 99, "x").code == rc::kSystemError);
  CHECK(send_message(client, addr, "bad topic!", 0, "x").code == rc::kSystemError);
  CHECK(send_message(client, addr, std::string(200, 'T'), 0, "x").code == rc::kMessageIllegal);
  CHECK(send_message(client, addr, "SafeTopic", 0, std::string(70'000, 'B')).code == rc::kMessageIllegal);
  CHECK(send_message(client, addr, "SCHEDULE_TOPIC_XXXX", 0, "x").code == rc::kNoPermission);
  RemotingCommand no_topic = make_send_request("SafeTopic", 0, "x", "");
  no_topic.ext_fields = ExtFields();
  auto r = client.invoke(addr, no_topic);
  REQUIRE(r.ok());
  CHECK(r->code == rc::kSystemError);
  CHECK(r->remark.value_or("").find("missing required header field") != std::string::npos);

  CHECK(pull_messages(client, addr, "g", "SafeTopic", 7, 0).code == rc::kSystemError);
  CHECK(pull_messages(client, addr, "g", "SafeTopic", -1, 0).code == rc::kSystemError);
  CHECK(pull_messages(client, addr, "g", "NoSuchTopic", 0, 0).code == rc::kTopicNotExist);
  auto negative = pull_messages(client, addr, "g", "SafeTopic", 0, -5);
  CHECK(negative.code == rc::kPullOffsetMoved);
  CHECK(negative.next_begin_offset == 0);
  auto beyond = pull_messages(client, addr, "g", "SafeTopic", 0, 1'000'000);
  CHECK(beyond.code == rc::kPullOffsetMoved);
  CHECK(beyond.next_begin_offset == 0);  // RocketMQ: beyond the end with min offset 0 restarts at 0
  auto huge = pull_messages(client, addr, "g", "SafeTopic", 0, 0, 1'000'000'000);
  CHECK(huge.code == rc::kSuccess);
  CHECK(huge.records.size() == 1);
  RemotingCommand bad_number = make_pull_request("g", "SafeTopic", 0, 0, 32, 4, 0, "*");
  bad_number.ext_fields.set("queueOffset", std::string("12abc"));
  auto bn = client.invoke(addr, bad_number);
  REQUIRE(bn.ok());
  CHECK(bn->code == rc::kSystemError);
  auto unknown = client.invoke(addr, RemotingCommand::request(4242));
  REQUIRE(unknown.ok());
  CHECK(unknown->code == rc::kRequestCodeNotSupported);
  RemotingCommand bad_heartbeat = RemotingCommand::request(request_code::kHeartBeat);
  bad_heartbeat.body = "{not json";
  auto hb = client.invoke(addr, bad_heartbeat);
  REQUIRE(hb.ok());
  CHECK(hb->code == rc::kSystemError);

  // Clients that hang up before their answer is written (the broker then writes into a closed
  // socket: that must cost the connection, never the process).
  for (int i = 0; i < 20; ++i) {
    std::string frame = encode_frame(make_pull_request("g", "SafeTopic", 0, 0, 32, 4, 0, "*"));
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(std::stoi(addr.substr(addr.find(':') + 1))));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
    linger lg{1, 0};  // close with RST
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    (void)::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL);
    ::close(fd);
  }

  // Still serving.
  auto s = send_message(client, addr, "SafeTopic", 0, "still here");
  CHECK(s.code == rc::kSuccess);
  CHECK(s.queue_offset == 1);
  CHECK(c.proc().running());
  CHECK(c.stop() == 0);
}

TEST_CASE("container start-up refuses conflicting brokers, naming both files") {
  NamesrvProcess ns;
  TempDir dir;
  int port = free_broker_port();
  ContainerProcess same_port(ns.addr(), {{"broker-x", 0, "ASYNC_MASTER", "ASYNC_FLUSH", port}, {"broker-y", 0, "ASYNC_MASTER", "ASYNC_FLUSH", port}},
                             dir.file("p"));
  CHECK_FALSE(same_port.start(5s));
  auto st = same_port.proc().wait_exit(5s);
  REQUIRE(st);
  CHECK(*st == 1);
  CHECK(same_port.proc().output().find("is used by two brokers") != std::string::npos);
  CHECK(same_port.proc().output().find(same_port.broker_config_path(0)) != std::string::npos);
  CHECK(same_port.proc().output().find(same_port.broker_config_path(1)) != std::string::npos);

  ContainerProcess same_id(ns.addr(), {{"broker-z"}, {"broker-z"}}, dir.file("i"));
  CHECK_FALSE(same_id.start(5s));
  same_id.proc().wait_exit(5s);
  CHECK(same_id.proc().output().find("is defined twice") != std::string::npos);
}

TEST_CASE("addBroker and removeBroker while the container runs") {
  NamesrvProcess ns;
  TempDir dir;
  ContainerProcess c(ns.addr(), {{"broker-base"}}, dir.file("c"));
  REQUIRE(c.start());
  AdminClient admin(ns.addr());
  int port = free_broker_port();
  dir.write("added.conf", "brokerClusterName=TestCluster\nbrokerName=broker-added\nbrokerId=0\nbrokerIP1=127.0.0.1\nlistenPort=" +
                              std::to_string(port) + "\nstorePathRootDir=" + dir.file("store-added") +
                              "\nmappedFileSizeCommitLog=1048576\n");
  auto add = run_command({binary("mqadmin"), "addBroker", "-c", c.admin_addr(), "-b", dir.file("added.conf")});
  REQUIRE_MESSAGE(add.exit_code == 0, add.output);
  CHECK(wait_until([&] {
    auto info = admin.get_cluster_info();
    return info.ok() && info->broker_addr_table.count("broker-added");
  }, 10s));
  // The same config again is refused with the reason; the container keeps serving.
  auto again = run_command({binary("mqadmin"), "addBroker", "-c", c.admin_addr(), "-b", dir.file("added.conf")});
  CHECK(again.exit_code == 1);
  CHECK(again.output.find("defined twice") != std::string::npos);
  auto missing = run_command({binary("mqadmin"), "addBroker", "-c", c.admin_addr(), "-b", dir.file("nope.conf")});
  CHECK(missing.exit_code == 1);
  CHECK(missing.output.find("cannot open") != std::string::npos);

  BlockingClient client;
  REQUIRE(create_topic(ns.addr(), "TestCluster", "HotTopic", 1));
  CHECK(send_message(client, "127.0.0.1:" + std::to_string(port), "HotTopic", 0, "to the added broker").code == rc::kSuccess);

  auto remove = run_command({binary("mqadmin"), "removeBroker", "-c", c.admin_addr(), "-b", "TestCluster:broker-added:0"});
  REQUIRE_MESSAGE(remove.exit_code == 0, remove.output);
  CHECK(wait_until([&] {
    auto info = admin.get_cluster_info();
    return info.ok() && !info->broker_addr_table.count("broker-added");
  }, 10s));
  auto gone = run_command({binary("mqadmin"), "removeBroker", "-c", c.admin_addr(), "-b", "TestCluster:broker-added:0"});
  CHECK(gone.exit_code == 1);
  CHECK(gone.output.find("code 211") != std::string::npos);
  // The remaining broker still serves.
  CHECK(send_message(client, c.broker_addr(0), "HotTopic", 0, "base broker").code == rc::kSuccess);
  CHECK(c.stop() == 0);
}

TEST_CASE("updateBrokerConfig changes a live setting, the broker writes it to its file, a restart keeps it") {
  NamesrvProcess ns;
  TempDir dir;
  ContainerProcess c(ns.addr(), {{"broker-cfg"}}, dir.file("c"));
  REQUIRE(c.start());
  REQUIRE(create_topic(ns.addr(), "TestCluster", "CfgTopic", 1));
  BlockingClient client;
  REQUIRE(send_message(client, c.broker_addr(0), "CfgTopic", 0, "writable").code == rc::kSuccess);
  auto permission_of = [&]() -> std::string {
    auto got = run_command({binary("mqadmin"), "getBrokerConfig", "-n", ns.addr(), "-b", c.broker_addr(0), "--json"});
    if (got.exit_code != 0) return "<" + got.output + ">";
    auto j = nlohmann::json::parse(got.output, nullptr, false);
    if (j.is_discarded() || !j.contains(c.broker_addr(0))) return "<" + got.output + ">";
    return j[c.broker_addr(0)].value("brokerPermission", "<missing>");
  };
  CHECK(permission_of() == "6");

  // Read-only (4): sends are refused at once, the setting is in the broker's own file.
  auto set = run_command({binary("mqadmin"), "updateBrokerConfig", "-n", ns.addr(), "-b", c.broker_addr(0), "-k", "brokerPermission", "-v", "4"});
  REQUIRE_MESSAGE(set.exit_code == 0, set.output);
  CHECK(set.output.find("update broker config success") != std::string::npos);
  CHECK(permission_of() == "4");
  CHECK(send_message(client, c.broker_addr(0), "CfgTopic", 0, "refused").code == rc::kNoPermission);
  auto file = load_config_file(c.broker_config_path(0));
  REQUIRE(file.ok());
  REQUIRE(file->find("brokerPermission") != nullptr);
  CHECK(file->find("brokerPermission")->value == "4");

  // A key that cannot change live, and a bad value, are refused with the reason; nothing changes.
  auto port = run_command({binary("mqadmin"), "updateBrokerConfig", "-n", ns.addr(), "-b", c.broker_addr(0), "-k", "listenPort", "-v", "1"});
  CHECK(port.exit_code == 1);
  CHECK(port.output.find("cannot be changed while the broker runs") != std::string::npos);
  auto bad = run_command({binary("mqadmin"), "updateBrokerConfig", "-n", ns.addr(), "-b", c.broker_addr(0), "-k", "defaultTopicQueueNums", "-v", "x"});
  CHECK(bad.exit_code == 1);
  CHECK(load_config_file(c.broker_config_path(0))->find("listenPort")->value != "1");

  client.client().close_all();
  CHECK(c.stop() == 0);
  REQUIRE_MESSAGE(c.start(), c.proc().output());
  CHECK(permission_of() == "4");
  CHECK(send_message(client, c.broker_addr(0), "CfgTopic", 0, "still refused").code == rc::kNoPermission);

  // Back to read-write, by cluster this time.
  auto back = run_command({binary("mqadmin"), "updateBrokerConfig", "-n", ns.addr(), "-c", "TestCluster", "-k", "brokerPermission", "-v", "6"});
  REQUIRE_MESSAGE(back.exit_code == 0, back.output);
  CHECK(send_message(client, c.broker_addr(0), "CfgTopic", 0, "writable again").code == rc::kSuccess);
  CHECK(c.stop() == 0);
}

TEST_CASE("the fast (VIP) port, listenPort - 2, serves every request but PULL_MESSAGE") {
  NamesrvProcess ns;
  TempDir dir;
  ContainerProcess c(ns.addr(), {{"broker-vip"}}, dir.file("c"));
  REQUIRE(c.start());
  REQUIRE(create_topic(ns.addr(), "TestCluster", "VipTopic", 1));
  std::string addr = c.broker_addr(0);
  std::string fast = "127.0.0.1:" + std::to_string(std::stoi(addr.substr(addr.rfind(':') + 1)) - 2);
  BlockingClient client;
  // A send on the fast port (older Java clients send there when vipChannelEnabled).
  auto s = send_message(client, fast, "VipTopic", 0, "through the fast port");
  REQUIRE_MESSAGE(s.code == rc::kSuccess, s.remark);
  // Pulls are refused there, as RocketMQ's fast server has no pull processor; the normal port serves them.
  CHECK(pull_messages(client, fast, "vip_group", "VipTopic", 0, 0).code == rc::kRequestCodeNotSupported);
  auto p = pull_messages(client, addr, "vip_group", "VipTopic", 0, 0);
  REQUIRE(p.code == rc::kSuccess);
  REQUIRE(p.records.size() == 1);
  CHECK(p.records[0].body == "through the fast port");
  // A Java slave asks its master for the topic table on the fast port.
  auto topics = client.invoke(fast, RemotingCommand::request(request_code::kGetAllTopicConfig));
  REQUIRE(topics.ok());
  CHECK(topics->code == rc::kSuccess);
  CHECK(topics->body.find("\"VipTopic\"") != std::string::npos);
  auto cs = run_command({binary("mqadmin"), "containerStatus", "-c", c.admin_addr(), "--json"});
  REQUIRE(cs.exit_code == 0);
  auto cj = nlohmann::json::parse(cs.output);
  REQUIRE(cj["brokers"].size() == 1);
  CHECK(cj["brokers"][0]["fastListenPort"].get<int>() == std::stoi(fast.substr(fast.rfind(':') + 1)));
  CHECK(c.stop() == 0);
}
