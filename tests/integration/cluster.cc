#include "cluster.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <utility>

#include "codec/codes.h"
#include "codec/header_reader.h"

namespace mq::test {

namespace {
int bind_port(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int got = ntohs(a.sin_port);
  ::close(fd);
  return got;
}
}  // namespace

namespace {
// A port probed now is used later, by a process started later. A port from the kernel's ephemeral
// range could meanwhile be taken by any outgoing connection (tests run in parallel and open many),
// so candidates come from just below that range: only another explicit bind can take them, and
// random picks make two tests choosing the same one unlikely.
//
// ctest runs the test programs in parallel, and a port one program probed can be bound by another
// before its own process binds it (a Raft port landing on another test's fast port, listenPort - 2).
// So each program draws from its own slice of that range: 8 slices of 1500 ports, by program name
// (the conformance script uses slice 6).
int port_slice() {
  static const std::pair<const char*, int> kSlices[] = {
      {"test_broker_integration", 0}, {"test_client_integration", 1}, {"test_replication_integration", 2},
      {"test_dledger_integration", 3}, {"test_namesrv_integration", 4}, {"dledger_failover", 5}};
  std::ifstream comm("/proc/self/comm");
  std::string name;
  std::getline(comm, name);
  for (const auto& [prefix, slice] : kSlices)
    if (std::string(prefix).rfind(name, 0) == 0 && !name.empty()) return slice;  // comm is cut at 15 chars
  return 7;
}

std::pair<int, int> probe_range() {
  int low = 32768, high = 60999;
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  in >> low >> high;
  int top = std::clamp(low, 4096, 65535) - 2;
  const int bottom = std::max(1026, top - 12000);
  const int slice = (top - bottom) / 8;
  const int from = bottom + port_slice() * slice;
  return {from + 2, from + slice - 2};
}

int random_free_port(int span_below, int span_above) {
  static std::mt19937 rng(std::random_device{}() ^ static_cast<unsigned>(::getpid()));
  // Ports this program already handed out: probed free, maybe not bound yet (a cluster's configs
  // are all written before its processes start), so the probe alone would hand them out again.
  static std::set<int> handed_out;
  auto [lo, hi] = probe_range();
  if (handed_out.size() > static_cast<size_t>(hi - lo) / 2) handed_out.clear();
  std::uniform_int_distribution<int> pick(lo + span_below, hi - span_above);
  for (int i = 0; i < 500; ++i) {
    int p = pick(rng);
    bool free = true;
    for (int q = p - span_below; free && q <= p + span_above; ++q) free = !handed_out.count(q) && bind_port(q) == q;
    if (!free) continue;
    for (int q = p - span_below; q <= p + span_above; ++q) handed_out.insert(q);
    return p;
  }
  return -1;
}
}  // namespace

int free_port() { return random_free_port(0, 0); }

int free_broker_port() { return random_free_port(2, 1); }

NamesrvProcess::NamesrvProcess(int listen_port) {
  dir.write("namesrv.conf", "bindAddress=127.0.0.1\nlistenPort=" + std::to_string(listen_port) + "\nkvConfigPath=" + dir.file("kvConfig.json") + "\n");
  if (!proc.start({binary("mqnamesrv"), "-c", dir.file("namesrv.conf")})) return;
  auto line = proc.wait_for_line("listenPort=", std::chrono::seconds(10));
  if (line) port = std::stoi(line->substr(line->find("listenPort=") + 11));
}

ContainerProcess::ContainerProcess(const std::string& namesrv_addr, std::vector<BrokerSpec> brokers, const std::string& dir,
                                   const std::string& cluster, int admin_port)
    : namesrv_(namesrv_addr), brokers_(std::move(brokers)), dir_(dir), cluster_(cluster) {
  std::filesystem::create_directories(dir_);
  admin_port_ = admin_port > 0 ? admin_port : free_port();
  std::string paths;
  for (size_t i = 0; i < brokers_.size(); ++i) {
    auto& b = brokers_[i];
    if (b.port == 0) b.port = free_broker_port();
    std::ofstream out(broker_config_path(i));
    out << "brokerClusterName=" << cluster_ << "\nbrokerName=" << b.name << "\nbrokerId=" << b.id
        << "\nbrokerRole=" << b.role << "\nflushDiskType=" << b.flush << "\nbrokerIP1=127.0.0.1\nlistenPort=" << b.port
        << "\nstorePathRootDir=" << (b.store_dir.empty() ? dir_ + "/store-" + b.name + "-" + std::to_string(b.id) : b.store_dir)
        << "\nmappedFileSizeCommitLog=" << b.mapped_file_size_commit_log << "\nregisterNameServerPeriod=2000\n"
        << b.extra << "\n";
    paths += (i ? ":" : "") + broker_config_path(i);
  }
  config_path_ = dir_ + "/container.conf";
  std::ofstream out(config_path_);
  out << "listenPort=" << admin_port_ << "\nbindAddress=127.0.0.1\nnamesrvAddr=" << namesrv_
      << "\nbrokerConfigPaths=" << paths << "\nworkerPoolThreads=2\n";
}

std::string ContainerProcess::broker_config_path(size_t i) const {
  return dir_ + "/broker-" + brokers_[i].name + "-" + std::to_string(brokers_[i].id) + ".conf";
}

bool ContainerProcess::start(std::chrono::milliseconds timeout) {
  proc_ = std::make_unique<ChildProcess>();
  if (!proc_->start({binary("mqbrokercontainer"), "-c", config_path_})) return false;
  return proc_->wait_for_line("boot success", timeout).has_value();
}

void ContainerProcess::kill9() {
  proc_->signal(SIGKILL);
  proc_->wait_exit(std::chrono::seconds(10));
}

int ContainerProcess::stop() {
  proc_->signal(SIGTERM);
  auto st = proc_->wait_exit(std::chrono::seconds(20));
  return st ? *st : -1;
}

RemotingCommand make_send_request(const std::string& topic, int32_t queue_id, const std::string& body,
                                  const std::string& properties) {
  RemotingCommand req = RemotingCommand::request(request_code::kSendMessageV2);
  req.ext_fields.set("a", std::string("test_producer_group"));
  req.ext_fields.set("b", topic);
  req.ext_fields.set("c", std::string("TBW102"));
  req.ext_fields.set("d", int32_t{4});
  req.ext_fields.set("e", queue_id);
  req.ext_fields.set("f", int32_t{0});
  req.ext_fields.set("g", int64_t{1795310000000});
  req.ext_fields.set("h", int32_t{0});
  req.ext_fields.set("i", properties);
  req.ext_fields.set("j", int32_t{0});
  req.ext_fields.set_bool("k", false);
  req.ext_fields.set_bool("m", false);
  req.body = body;
  return req;
}

SendOutcome send_message(BlockingClient& c, const std::string& addr, const std::string& topic, int32_t queue_id,
                         const std::string& body, const std::string& properties, int64_t timeout_ms) {
  SendOutcome out;
  auto r = c.invoke(addr, make_send_request(topic, queue_id, body, properties), timeout_ms);
  if (!r.ok()) {
    out.remark = r.detail();
    return out;
  }
  out.code = r->code;
  out.remark = r->remark.value_or("");
  HeaderReader h(r->ext_fields);
  out.msg_id = h.opt_str("msgId").value_or("");
  out.queue_id = static_cast<int32_t>(h.i64_or("queueId", -1));
  out.queue_offset = h.i64_or("queueOffset", -1);
  return out;
}

RemotingCommand make_pull_request(const std::string& group, const std::string& topic, int32_t queue_id, int64_t offset,
                                  int32_t max_nums, int32_t sys_flag, int64_t suspend_ms, const std::string& subscription) {
  RemotingCommand req = RemotingCommand::request(request_code::kPullMessage);
  req.ext_fields.set("consumerGroup", group);
  req.ext_fields.set("topic", topic);
  req.ext_fields.set("queueId", queue_id);
  req.ext_fields.set("queueOffset", offset);
  req.ext_fields.set("maxMsgNums", max_nums);
  req.ext_fields.set("sysFlag", sys_flag);
  req.ext_fields.set("commitOffset", int64_t{0});
  req.ext_fields.set("suspendTimeoutMillis", suspend_ms);
  req.ext_fields.set("subscription", subscription);
  req.ext_fields.set("subVersion", int64_t{0});
  return req;
}

PullOutcome to_pull_outcome(RemotingCommand&& resp) {
  PullOutcome out;
  out.code = resp.code;
  out.remark = resp.remark.value_or("");
  HeaderReader h(resp.ext_fields);
  out.next_begin_offset = h.i64_or("nextBeginOffset", -1);
  out.min_offset = h.i64_or("minOffset", -1);
  out.max_offset = h.i64_or("maxOffset", -1);
  out.body = std::move(resp.body);
  if (!out.body.empty()) {
    auto recs = decode_records(out.body);
    if (recs.ok()) out.records = std::move(*recs);
  }
  return out;
}

PullOutcome pull_messages(BlockingClient& c, const std::string& addr, const std::string& group, const std::string& topic,
                          int32_t queue_id, int64_t offset, int32_t max_nums) {
  // Subscription in the request ("*"), no suspension: answers at once.
  auto r = c.invoke(addr, make_pull_request(group, topic, queue_id, offset, max_nums, 0x4, 0, "*"), 10'000);
  if (!r.ok()) {
    PullOutcome out;
    out.remark = r.detail();
    return out;
  }
  return to_pull_outcome(std::move(*r));
}

bool create_topic(const std::string& namesrv, const std::string& cluster, const std::string& topic, int queues) {
  auto r = run_command({binary("mqadmin"), "updateTopic", "-n", namesrv, "-c", cluster, "-t", topic, "-r",
                        std::to_string(queues), "-w", std::to_string(queues)});
  return r.exit_code == 0;
}

}  // namespace mq::test
