// The real mqnamesrv on a free port, two fake brokers registering over their own connections,
// routes and cluster info read with mqadmin and with the client library, a broker connection
// closed (its route vanishes), silence past a short expiry, and hostile frames that must not
// disturb anyone else.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/bytes.h"
#include "base/hash.h"
#include "client/admin_client.h"
#include "codec/codes.h"
#include "codec/fastjson.h"
#include "codec/route_data.h"
#include <filesystem>

#include "process.h"

using namespace mq;
using namespace mq::test;
using namespace std::chrono_literals;

namespace {

RemotingCommand register_request(const std::string& name, const std::string& addr, const std::vector<std::string>& topics,
                                 bool compressed) {
  TopicConfigWrapper w;
  w.data_version = DataVersion{1, 0, 1795310770874};
  for (const auto& t : topics) {
    TopicConfig c;
    c.topic_name = t;
    c.read_queue_nums = 4;
    c.write_queue_nums = 4;
    w.topic_config_table[t] = c;
  }
  RemotingCommand req = RemotingCommand::request(request_code::kRegisterBroker);
  req.body = encode_register_broker_body(w, compressed);
  req.ext_fields.set("brokerName", name);
  req.ext_fields.set("brokerAddr", addr);
  req.ext_fields.set("clusterName", std::string("TestCluster"));
  req.ext_fields.set("haServerAddr", addr + "1");
  req.ext_fields.set("brokerId", std::string("0"));
  req.ext_fields.set_bool("compressed", compressed);
  req.ext_fields.set("bodyCrc32", int64_t{rocketmq_crc32(req.body)});
  return req;
}

// Opens a raw socket, sends bytes, and reports whether the server closed it within the timeout.
bool server_closes_after(int port, const std::string& bytes) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return false;
  }
  (void)::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[256];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  ::close(fd);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

struct Namesrv {
  TempDir dir;
  ChildProcess proc;
  int port = 0;
  explicit Namesrv(const std::string& extra = "") {
    dir.write("namesrv.conf", "bindAddress=127.0.0.1\nlistenPort=0\nkvConfigPath=" + dir.file("kv/kvConfig.json") +
                                  "\n" + extra);
    REQUIRE(proc.start({binary("mqnamesrv"), "-c", dir.file("namesrv.conf")}));
    auto line = proc.wait_for_line("listenPort=", 10s);
    REQUIRE_MESSAGE(line, proc.output());
    port = std::stoi(line->substr(line->find("listenPort=") + 11));
  }
  std::string addr() const { return "127.0.0.1:" + std::to_string(port); }
};

}  // namespace

TEST_CASE("NameServer: registration, routes via mqadmin and client, connection close, hostile frames") {
  Namesrv ns;
  auto broker_a = std::make_unique<BlockingClient>();
  BlockingClient broker_b;
  auto ra = broker_a->invoke(ns.addr(), register_request("broker-a", "127.0.0.1:20911", {"Shared", "OnlyA"}, false));
  REQUIRE(ra.ok());
  CHECK(ra->code == 0);
  auto rb = broker_b.invoke(ns.addr(), register_request("broker-b", "127.0.0.1:20921", {"Shared"}, true));
  REQUIRE(rb.ok());
  CHECK(rb->code == 0);

  // mqadmin, as an operator would run it.
  auto cl = run_command({binary("mqadmin"), "clusterList", "-n", ns.addr(), "--json"});
  REQUIRE_MESSAGE(cl.exit_code == 0, cl.output);
  auto rows = nlohmann::json::parse(cl.output);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0]["cluster"] == "TestCluster");
  CHECK(rows[0]["brokerName"] == "broker-a");
  CHECK(rows[1]["addr"] == "127.0.0.1:20921");
  auto human = run_command({binary("mqadmin"), "clusterList", "-n", ns.addr()});
  CHECK(human.output.find("broker-b") != std::string::npos);
  auto tr = run_command({binary("mqadmin"), "topicRoute", "-n", ns.addr(), "-t", "Shared", "--json"});
  REQUIRE_MESSAGE(tr.exit_code == 0, tr.output);
  auto route_json = nlohmann::json::parse(tr.output);
  CHECK(route_json["brokerDatas"].size() == 2);
  CHECK(route_json["queueDatas"].size() == 2);
  auto tl = run_command({binary("mqadmin"), "topicList", "-n", ns.addr(), "--json"});
  CHECK(nlohmann::json::parse(tl.output)["topicList"] == nlohmann::json::array({"OnlyA", "Shared"}));
  auto cfg = run_command({binary("mqadmin"), "getNamesrvConfig", "-n", ns.addr(), "--json"});
  REQUIRE(cfg.exit_code == 0);
  CHECK(nlohmann::json::parse(cfg.output)[ns.addr()]["listenPort"] == "0");
  auto missing = run_command({binary("mqadmin"), "topicRoute", "-n", ns.addr(), "-t", "Nope"});
  CHECK(missing.exit_code == 1);
  CHECK(missing.output.find("code 17") != std::string::npos);
  CHECK(run_command({binary("mqadmin"), "topicRoute", "-n", ns.addr()}).exit_code == 2);  // -t missing
  CHECK(run_command({binary("mqadmin"), "clusterList", "-n", ns.addr(), "--bogus"}).exit_code == 2);

  // The client library sees the same thing.
  AdminClient admin(ns.addr() + ";");
  auto route = admin.get_route("Shared");
  REQUIRE(route.ok());
  CHECK(route->broker_datas.size() == 2);
  auto info = admin.get_cluster_info();
  REQUIRE(info.ok());
  CHECK(info->cluster_addr_table["TestCluster"].size() == 2);

  // An old client (version < 401) gets fastjson's unquoted keys, a new one quoted keys.
  RemotingCommand old_req = RemotingCommand::request(request_code::kGetRouteinfoByTopic);
  old_req.version = 121;
  old_req.ext_fields.set("topic", std::string("OnlyA"));
  auto old_resp = admin.call(ns.addr(), old_req);
  REQUIRE(old_resp.ok());
  CHECK(old_resp->body.find("{0:\"127.0.0.1:20911\"}") != std::string::npos);

  // Broker A's connection closes: its routes vanish, B's stay.
  broker_a.reset();
  CHECK(wait_until([&] { return !admin.get_route("OnlyA").ok(); }, 5s));
  auto after = admin.get_route("Shared");
  REQUIRE(after.ok());
  REQUIRE(after->broker_datas.size() == 1);
  CHECK(after->broker_datas[0].broker_name == "broker-b");

  // Hostile input: each bad connection is closed, nothing else is disturbed.
  std::string oversize, negative, bad_json, short_header;
  ByteWriter(oversize).u32(64 * 1024 * 1024);
  ByteWriter(negative).u32(0x80000000u);
  {
    ByteWriter w(bad_json);
    w.u32(4 + 9);
    w.u32(9);
    w.raw("{\"code\":1");
  }
  {
    ByteWriter w(short_header);
    w.u32(8);
    w.u32(1000);  // header longer than the frame
    w.u32(0);
  }
  CHECK(server_closes_after(ns.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  CHECK(server_closes_after(ns.port, oversize));
  CHECK(server_closes_after(ns.port, negative));
  CHECK(server_closes_after(ns.port, bad_json));
  CHECK(server_closes_after(ns.port, short_header));
  // A parsable request missing a required field gets an error response, not a close.
  RemotingCommand no_topic = RemotingCommand::request(request_code::kGetRouteinfoByTopic);
  auto err = broker_b.invoke(ns.addr(), no_topic);
  REQUIRE(err.ok());
  CHECK(err->code == response_code::kSystemError);
  CHECK(*err->remark == "missing required header field 'topic'");
  auto unknown = broker_b.invoke(ns.addr(), RemotingCommand::request(9999));
  REQUIRE(unknown.ok());
  CHECK(unknown->code == response_code::kRequestCodeNotSupported);
  CHECK(admin.get_route("Shared").ok());
  CHECK(ns.proc.running());
  CHECK(ns.proc.wait_for_line("frame length", 5s));  // the warning was logged

  ns.proc.signal(SIGTERM);
  auto st = ns.proc.wait_exit(10s);
  REQUIRE(st);
  CHECK(*st == 0);
}

TEST_CASE("NameServer: a broker silent past brokerChannelExpiredTime is dropped; KV config persists") {
  Namesrv ns("brokerChannelExpiredTime=800\nscanNotActiveBrokerInterval=100\n");
  BlockingClient broker;
  REQUIRE(broker.invoke(ns.addr(), register_request("broker-q", "127.0.0.1:20931", {"Quiet"}, false)).ok());
  AdminClient admin(ns.addr());
  REQUIRE(admin.get_route("Quiet").ok());
  // The connection stays open, but nothing is sent: expiry must still drop it.
  CHECK(wait_until([&] { return !admin.get_route("Quiet").ok(); }, 10s));
  CHECK(ns.proc.wait_for_line("expired", 5s));

  REQUIRE(admin.put_kv("ORDER_TOPIC_CONFIG", "Quiet", "broker-q:4").ok());
  auto v = admin.get_kv("ORDER_TOPIC_CONFIG", "Quiet");
  REQUIRE(v.ok());
  CHECK(*v == "broker-q:4");
  CHECK(wait_until([&] { return std::filesystem::exists(ns.dir.file("kv/kvConfig.json")); }, 5s));
  auto missing = admin.get_kv("ORDER_TOPIC_CONFIG", "Other");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code.response_code == response_code::kQueryNotFound);
  CHECK(admin.update_namesrv_config("enableAllTopicList=false\n").ok());
  auto topics = admin.get_all_topics();
  REQUIRE_FALSE(topics.ok());
  CHECK(topics.detail().find("disable") != std::string::npos);
  auto refused = admin.update_namesrv_config("listenPort=1\n");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.detail().find("cannot be changed") != std::string::npos);
}

TEST_CASE("server binaries: flags as RocketMQ's, usage errors exit 2, a bad config names file, line and key") {
  TempDir dir;
  dir.write("bad.conf", "# comment\nlistenPort=abc\n");
  dir.write("ok.conf", "listenPort=19876\nnoSuchKey=1\n");
  for (const std::string bin : {"mqnamesrv", "mqbrokercontainer"}) {
    CAPTURE(bin);
    auto bogus = run_command({binary(bin), "--bogus"});
    CHECK(bogus.exit_code == 2);
    CHECK(bogus.output.find("--bogus") != std::string::npos);
    CHECK(bogus.output.find("usage:") != std::string::npos);
    CHECK(run_command({binary(bin), "-c"}).exit_code == 2);          // -c without its file
    CHECK(run_command({binary(bin), "stray"}).exit_code == 2);       // not an option
    auto help = run_command({binary(bin), "--help"});
    CHECK(help.exit_code == 0);
    CHECK(help.output.find("--configFile") != std::string::npos);
    auto bad = run_command({binary(bin), "-c", dir.file("bad.conf")});
    CHECK(bad.exit_code == 1);
    CHECK(bad.output.find(dir.file("bad.conf") + ":2: key 'listenPort'") != std::string::npos);
    // -p prints the effective config (the file's value, long and =-joined forms alike) and exits;
    // an unknown key is a warning, not an error.
    auto printed = run_command({binary(bin), "--configFile=" + dir.file("ok.conf"), "-p"});
    CHECK(printed.exit_code == 0);
    CHECK(printed.output.find("listenPort=19876\n") != std::string::npos);
    CHECK(printed.output.find("noSuchKey") != std::string::npos);
  }
  auto keep = run_command({binary("mqbrokercontainer"), "-c", dir.file("ok.conf"), "-e", "-b", "x.conf:y.conf", "-p"});
  CHECK(keep.exit_code == 0);
  CHECK(keep.output.find("continueOnBrokerStartFailure=true\n") != std::string::npos);
  CHECK(keep.output.find("brokerConfigPaths=x.conf:y.conf\n") != std::string::npos);
}
