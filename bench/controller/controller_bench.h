// Shared by the controller-mode benchmarks: a broker-set of controller-mode brokers (one broker per
// container, real processes on loopback) with the controller's and the NameServer's views of it,
// the broker keys that make a controller-mode broker, flag parsing and summary lines.
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "client/admin_client.h"
#include "cluster.h"
#include "controller_cluster.h"

namespace mq::bench {

using Clock = std::chrono::steady_clock;

inline int64_t ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}

// Broker keys of a controller-mode member (RocketMQ's names). The heartbeat and HA periods are the
// short ones the integration tests use; the benchmarks print them with their figures.
struct ControllerModeTimings {
  int64_t broker_heartbeat_interval_ms = 200;     // brokerHeartbeatInterval
  int64_t controller_heartbeat_timeout_ms = 3000;  // controllerHeartBeatTimeoutMills
  int64_t scan_interval_ms = 1000;                 // scanNotActiveBrokerInterval, scanInactiveMasterInterval
  int64_t register_period_ms = 2000;               // registerNameServerPeriod (the test fixtures' value)

  std::string broker_keys(const std::string& controller_addrs) const {
    return "enableControllerMode=true\ncontrollerAddr=" + controller_addrs +
           "\nallAckInSyncStateSet=true\nbrokerHeartbeatInterval=" + std::to_string(broker_heartbeat_interval_ms) +
           "\ncontrollerHeartBeatTimeoutMills=" + std::to_string(controller_heartbeat_timeout_ms) +
           "\nsyncBrokerMetadataPeriod=1000\nsyncControllerMetadataPeriod=2000\ncheckSyncStateSetPeriod=500"
           "\nhaSendHeartbeatInterval=500\nhaHousekeepingInterval=3000\nhaMaxTimeSlaveNotCatchup=3000"
           "\nslaveSyncInterval=1000\nregisterNameServerPeriod=" + std::to_string(register_period_ms) + "\n";
  }
  // Later lines win over ControllerCluster's own scan settings.
  std::string controller_keys() const {
    return "scanNotActiveBrokerInterval=" + std::to_string(scan_interval_ms) +
           "\nscanInactiveMasterInterval=" + std::to_string(scan_interval_ms) + "\n";
  }
};

// A key=value block printed on one line.
inline std::string one_line(std::string keys) {
  std::replace(keys.begin(), keys.end(), '\n', ' ');
  while (!keys.empty() && keys.back() == ' ') keys.pop_back();
  return keys;
}

// One broker-set (`broker_name`) of `members` brokers, member i alone in container i.
struct BrokerSet {
  std::string cluster;
  std::string broker_name;
  std::vector<std::unique_ptr<test::ContainerProcess>> nodes;

  // `roles`: each member's configured brokerRole (ignored by controller-mode brokers at run time).
  BrokerSet(const std::string& namesrv, const test::TempDir& dir, std::string cluster_name, std::string name,
            const std::vector<std::string>& roles, const std::string& flush, const std::string& keys,
            int64_t mapped_file_size_commit_log = 1048576)
      : cluster(std::move(cluster_name)), broker_name(std::move(name)) {
    for (size_t i = 0; i < roles.size(); ++i) {
      test::BrokerSpec spec{broker_name, static_cast<int64_t>(i), roles[i], flush, 0, keys};
      spec.mapped_file_size_commit_log = mapped_file_size_commit_log;
      nodes.push_back(std::make_unique<test::ContainerProcess>(
          namesrv, std::vector<test::BrokerSpec>{spec}, dir.file(broker_name + "-c" + std::to_string(i)), cluster));
    }
  }
  bool start_all() {
    for (auto& n : nodes)
      if (!n->start()) return false;
    return true;
  }
  std::vector<std::string> addrs() const {
    std::vector<std::string> out;
    for (const auto& n : nodes) out.push_back(n->broker_addr(0));
    return out;
  }
  int node_of(const std::string& addr) const {
    for (size_t i = 0; i < nodes.size(); ++i)
      if (nodes[i]->broker_addr(0) == addr) return static_cast<int>(i);
    return -1;
  }
  // The member the NameServer names as master (brokerId 0), or -1.
  int namesrv_master(AdminClient& admin) const {
    auto m = admin.master_addr_of_broker(broker_name);
    return m.ok() ? node_of(*m) : -1;
  }
  std::string output(size_t tail_bytes = 6000) {
    std::string out;
    for (size_t i = 0; i < nodes.size(); ++i) {
      const std::string& o = nodes[i]->proc().output();
      out += "--- " + broker_name + " member " + std::to_string(i) + " (" + nodes[i]->broker_addr(0) + ") ---\n" +
             (o.size() > tail_bytes ? "...\n" + o.substr(o.size() - tail_bytes) : o);
    }
    return out;
  }
};

// Reads what the processes wrote so far. Their output is a pipe that only a read empties: a long
// run that never reads would block a chatty process on a full pipe, which looks like a frozen
// broker. Costs up to 20 ms per process with nothing to read, so not inside a timed window.
inline void drain_output(const std::vector<test::ChildProcess*>& procs) {
  for (auto* p : procs)
    if (p != nullptr && p->running()) (void)p->wait_for_line("\x01never\x02", std::chrono::milliseconds(1));
}

// The controller leader's view of a broker-set, by member index.
struct SetView {
  int master = -1;  // -1: none, or an address not of this set
  int32_t master_epoch = 0;
  std::set<int> in_sync;
};

inline std::optional<SetView> controller_view(AdminClient& admin, const test::ControllerCluster& controllers,
                                              const BrokerSet& set) {
  auto r = admin.get_sync_state_data(controllers.addr_list(), {set.broker_name});
  if (!r.ok() || !r->count(set.broker_name)) return std::nullopt;
  const SyncStateReply& s = r->at(set.broker_name);
  SetView v;
  if (s.master_address) v.master = set.node_of(*s.master_address);
  v.master_epoch = s.master_epoch;
  for (const auto& m : s.in_sync_replicas)
    if (int i = set.node_of(m.broker_address); i >= 0) v.in_sync.insert(i);
  return v;
}

// Flags as "--name value"; every flag must be known and have a value.
class Flags {
 public:
  Flags(int argc, char** argv, std::map<std::string, std::string> defaults, std::string usage)
      : values_(std::move(defaults)), usage_(std::move(usage)), program_(argv[0]) {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a.rfind("--", 0) != 0 || !values_.count(a.substr(2)) || i + 1 >= argc) fail(a);
      values_[a.substr(2)] = argv[++i];
    }
  }
  std::string str(const std::string& k) const { return values_.at(k); }
  int64_t num(const std::string& k) const {
    char* end = nullptr;
    int64_t v = std::strtoll(values_.at(k).c_str(), &end, 10);
    if (end == nullptr || *end != '\0') fail("--" + k + " " + values_.at(k));
    return v;
  }
  // The command line that reproduces this run, every flag spelled out.
  std::string command() const {
    std::string out = program_;
    for (const auto& [k, v] : values_)
      if (!v.empty()) out += " --" + k + " " + v;
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& arg) const {
    std::fprintf(stderr, "bad argument: %s\nusage: %s\n", arg.c_str(), usage_.c_str());
    std::exit(2);
  }
  std::map<std::string, std::string> values_;
  std::string usage_;
  std::string program_;
};

// "what: n=.. min=.. median=.. max=.. ms (all: ...)", samples in the order they were taken.
inline void summary(const char* what, const std::vector<int64_t>& samples) {
  if (samples.empty()) return;
  std::vector<int64_t> sorted = samples;
  std::sort(sorted.begin(), sorted.end());
  std::printf("%s: n=%zu min=%lld median=%lld max=%lld ms (in order:", what, sorted.size(),
              static_cast<long long>(sorted.front()), static_cast<long long>(sorted[sorted.size() / 2]),
              static_cast<long long>(sorted.back()));
  for (auto m : samples) std::printf(" %lld", static_cast<long long>(m));
  std::printf(")\n");
}

inline std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

}  // namespace mq::bench
