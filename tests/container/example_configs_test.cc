// The configs shipped in conf/ load without warnings and pass the container's start-up checks, and
// the cross-deployment sets have the shape they promise: every replica group has one master and one
// slave on different machines, every machine carries the same number of masters and slaves (peer
// symmetry), and no port is used twice across the set (so a set also runs on one host).
#include <doctest/doctest.h>

#include <filesystem>
#include <map>
#include <set>

#include "container/container_config.h"

using namespace mq;

namespace {

struct Machine {
  std::string path;
  std::vector<BrokerConfig> brokers;
};

Machine load_machine(const std::string& path) {
  Machine m{path, {}};
  auto file = load_config_file(path);
  REQUIRE_MESSAGE(file.ok(), path);
  ContainerConfig cc;
  auto warnings = cc.load(*file);
  REQUIRE_MESSAGE(warnings.ok(), path);
  CHECK_MESSAGE(warnings->empty(), path);
  std::vector<const BrokerConfig*> accepted;
  for (const auto& bp : cc.broker_paths()) {
    std::vector<std::string> w;
    auto b = load_broker_config(bp, cc, w);
    REQUIRE_MESSAGE(b.ok(), bp << ": " << (b.ok() ? "" : b.detail()));
    CHECK_MESSAGE(w.empty(), bp << ": " << (w.empty() ? "" : w.front()));
    m.brokers.push_back(*b);
  }
  for (const auto& b : m.brokers) {
    CHECK_MESSAGE(check_broker_conflicts(b, accepted, cc).empty(), b.config_path);
    accepted.push_back(&b);
  }
  return m;
}

}  // namespace

TEST_CASE("the default container config loads and passes the start-up checks") {
  Machine m = load_machine(std::string(MQ_SOURCE_DIR) + "/conf/broker-container.conf");
  CHECK(m.brokers.size() >= 2);
}

TEST_CASE("cross-deployment sets: one master and one slave per group, symmetric machines, no shared port") {
  std::set<std::string> sets;
  for (const auto& e : std::filesystem::directory_iterator(std::string(MQ_SOURCE_DIR) + "/conf"))
    if (e.is_directory() && e.path().filename().string().rfind("cross-", 0) == 0) sets.insert(e.path().string());
  REQUIRE(sets.size() >= 3);
  for (const auto& set : sets) {
    CAPTURE(set);
    std::vector<Machine> machines;
    for (const auto& e : std::filesystem::directory_iterator(set))
      if (e.path().filename().string().rfind("machine", 0) == 0) machines.push_back(load_machine(e.path().string()));
    REQUIRE(machines.size() >= 2);
    std::map<std::string, std::map<int64_t, size_t>> group_members;  // brokerName -> brokerId -> machine
    std::set<int32_t> ports;
    std::set<std::string> stores;
    for (size_t i = 0; i < machines.size(); ++i) {
      int masters = 0, slaves = 0;
      for (const auto& b : machines[i].brokers) {
        (b.broker_role == BrokerRole::kSlave ? slaves : masters)++;
        CHECK_MESSAGE(group_members[b.broker_name].emplace(b.broker_id, i).second, b.config_path);
        for (int32_t p : b.bound_ports()) CHECK_MESSAGE(ports.insert(p).second, b.config_path << " port " << p);
        CHECK_MESSAGE(stores.insert(b.store.store_path_root_dir).second, b.config_path);
      }
      CHECK(masters == 1);
      CHECK(slaves == 1);
    }
    for (const auto& [name, members] : group_members) {
      CAPTURE(name);
      REQUIRE(members.size() == 2);
      REQUIRE(members.count(0) == 1);
      REQUIRE(members.count(1) == 1);
      CHECK(members.at(0) != members.at(1));  // master and slave on different machines
    }
  }
}

TEST_CASE("the fast (VIP) port listenPort - 2 takes part in the start-up port checks") {
  ContainerConfig cc;
  cc.listen_port = 10811;
  cc.config_path = "container.conf";
  auto broker = [](const std::string& name, const std::string& extra) {
    auto f = parse_properties(name + ".conf", "brokerName=" + name + "\nstorePathRootDir=/tmp/" + name + "\n" + extra);
    REQUIRE(f.ok());
    BrokerConfig c;
    auto r = c.load(*f);
    REQUIRE_MESSAGE(r.ok(), r.detail());
    return c;
  };
  BrokerConfig a = broker("a", "listenPort=10911\n");
  CHECK(a.effective_fast_listen_port() == 10909);
  CHECK(a.bound_ports() == std::vector<int32_t>{10911, 10912, 10909});
  // b's listenPort is a's fast port.
  BrokerConfig b = broker("b", "listenPort=10909\n");
  std::string why = check_broker_conflicts(b, {&a}, cc);
  CHECK(why == "port 10909 is used by two brokers: a.conf (fastListenPort (listenPort - 2)) and b.conf (listenPort)");
  BrokerConfig c = broker("c", "listenPort=10913\n");  // fast port 10911 = a's listenPort
  CHECK(check_broker_conflicts(c, {&a}, cc) ==
        "port 10911 is used by two brokers: a.conf (listenPort) and c.conf (fastListenPort (listenPort - 2))");
  // fastListenPort=-1 drops the fast port; an explicit one moves it.
  BrokerConfig d = broker("d", "listenPort=10913\nfastListenPort=-1\n");
  CHECK(d.bound_ports() == std::vector<int32_t>{10913, 10914});
  CHECK(check_broker_conflicts(d, {&a}, cc).empty());
  BrokerConfig e = broker("e", "listenPort=10813\n");  // fast port 10811 = the container's port
  CHECK(check_broker_conflicts(e, {}, cc) ==
        "e.conf: port 10811 (fastListenPort (listenPort - 2)) is the container's listenPort (container.conf)");
  BrokerConfig f = broker("f", "listenPort=10921\nfastListenPort=10922\n");  // = its own HA port
  CHECK(check_broker_conflicts(f, {}, cc) ==
        "f.conf: port 10922 is given twice: haListenPort (listenPort + 1) and fastListenPort");
  auto bad = parse_properties("g.conf", "brokerName=g\nlistenPort=10911\nfastListenPort=-5\n");
  BrokerConfig g;
  auto r = g.load(*bad);
  REQUIRE_FALSE(r.ok());
  CHECK(r.detail().rfind("g.conf:3: key 'fastListenPort'", 0) == 0);
}

namespace {

std::vector<Machine> load_set(const std::string& folder) {
  std::vector<Machine> machines;
  std::set<std::string> paths;  // in name order, so machine i is the i-th file
  for (const auto& e : std::filesystem::directory_iterator(folder))
    if (e.path().extension() == ".conf") {
      std::string name = e.path().filename().string();
      if (name.rfind("machine", 0) == 0 || name.rfind("container", 0) == 0) paths.insert(e.path().string());
    }
  for (const auto& p : paths) machines.push_back(load_machine(p));
  return machines;
}

// Every broker file in `folder` is listed by exactly one container file of the set.
void check_every_broker_file_is_used(const std::string& folder, const std::vector<Machine>& machines) {
  std::multiset<std::string> used;
  for (const auto& m : machines)
    for (const auto& b : m.brokers) used.insert(std::filesystem::path(b.config_path).filename().string());
  for (const auto& e : std::filesystem::directory_iterator(folder)) {
    std::string name = e.path().filename().string();
    if (e.path().extension() != ".conf" || name.rfind("machine", 0) == 0 || name.rfind("container", 0) == 0) continue;
    CHECK_MESSAGE(used.count(name) == 1, name);
  }
}

// The checks a DLedger deployment needs across containers: per group the same cluster, peer list
// and preferred leader in every member's file, one member per peer entry, each member's own port
// its entry's port; and no port or store directory used twice across the whole set.
std::map<std::string, std::vector<const BrokerConfig*>> check_dledger_groups(const std::vector<Machine>& machines) {
  std::map<std::string, std::vector<const BrokerConfig*>> groups;
  std::set<int32_t> ports;
  std::set<std::string> stores;
  for (const auto& m : machines) {
    for (const auto& b : m.brokers) {
      CAPTURE(b.config_path);
      REQUIRE(b.is_dledger());
      REQUIRE(b.dledger_self() != nullptr);
      CHECK(b.dledger_group == b.broker_name);
      CHECK(b.container_broker_id() == b.dledger_self_node);
      CHECK(b.broker_id == b.dledger_self_node);
      groups[b.dledger_group].push_back(&b);
      for (const auto& p : b.bound_port_sources()) CHECK_MESSAGE(ports.insert(p.port).second, p.port << " " << p.source);
      CHECK(stores.insert(b.store.store_path_root_dir).second);
      CHECK(stores.insert(b.dledger_dir()).second);
    }
  }
  for (const auto& [group, members] : groups) {
    CAPTURE(group);
    const BrokerConfig& first = *members.front();
    REQUIRE(members.size() == first.dledger_peer_list.size());
    std::set<std::string> self_ids;
    for (const BrokerConfig* b : members) {
      CAPTURE(b->config_path);
      CHECK(b->broker_cluster_name == first.broker_cluster_name);
      CHECK(b->broker_name == first.broker_name);
      CHECK(b->dledger_peer_list == first.dledger_peer_list);
      CHECK(b->preferred_leader_id == first.preferred_leader_id);
      CHECK(self_ids.insert(b->dledger_self_id).second);
    }
  }
  return groups;
}

}  // namespace

TEST_CASE("DLedger cross deployment 3x3: three groups of three nodes, one preferred leader per machine") {
  std::string folder = std::string(MQ_SOURCE_DIR) + "/conf/dledger-cross-3x3";
  std::vector<Machine> machines = load_set(folder);
  REQUIRE(machines.size() == 3);
  check_every_broker_file_is_used(folder, machines);
  auto groups = check_dledger_groups(machines);
  CHECK(groups.size() == 3);
  for (const auto& [group, members] : groups) {
    CAPTURE(group);
    CHECK(members.size() == 3);
    CHECK_FALSE(members.front()->preferred_leader_id.empty());
  }
  std::set<int32_t> container_ports;
  for (size_t i = 0; i < machines.size(); ++i) {
    CAPTURE(machines[i].path);
    REQUIRE(machines[i].brokers.size() == 3);
    std::set<std::string> names;
    int preferred_leaders = 0;
    for (const auto& b : machines[i].brokers) {
      CHECK(names.insert(b.broker_name).second);  // one node of each group per machine
      if (b.dledger_preferred_node == b.dledger_self_node) ++preferred_leaders;
      // The same node id on every machine (A = n0, B = n1, C = n2), so identities read as machines.
      CHECK(b.dledger_self_node == i);
      CHECK(b.dledger_self()->host == b.broker_ip1);  // the machine's address, in both places
    }
    CHECK(preferred_leaders == 1);
    auto file = load_config_file(machines[i].path);
    ContainerConfig cc;
    REQUIRE(cc.load(*file).ok());
    CHECK(container_ports.insert(cc.listen_port).second);
    for (const auto& m : machines)
      for (const auto& b : m.brokers)
        for (int32_t p : b.bound_ports()) CHECK(p != cc.listen_port);
  }
}

TEST_CASE("DLedger 3 nodes: RocketMQ's broker-n0/n1/n2.conf, one container each") {
  std::string folder = std::string(MQ_SOURCE_DIR) + "/conf/dledger-3n";
  std::vector<Machine> machines = load_set(folder);
  REQUIRE(machines.size() == 3);
  check_every_broker_file_is_used(folder, machines);
  auto groups = check_dledger_groups(machines);
  REQUIRE(groups.size() == 1);
  REQUIRE(groups.count("RaftNode00") == 1);
  for (size_t i = 0; i < machines.size(); ++i) {
    REQUIRE(machines[i].brokers.size() == 1);
    const BrokerConfig& b = machines[i].brokers[0];
    CHECK(b.broker_cluster_name == "RaftCluster");
    CHECK(b.dledger_self_id == "n" + std::to_string(i));
    CHECK(b.store.store_path_root_dir == "/tmp/rmqstore/node0" + std::to_string(i));
    CHECK(b.dledger_dir() == "/tmp/rmqstore/node0" + std::to_string(i) + "/dledger-n" + std::to_string(i));
    CHECK(b.send_message_thread_pool_nums == 16);
    CHECK(b.dledger_preferred_node == BrokerConfig::kNoDLedgerNode);
    CHECK(b.identity() == "RaftCluster/RaftNode00/" + std::to_string(i));
  }
}

TEST_CASE("DLedger brokers in a container: identity by node number, the own peer port takes part in the port checks") {
  ContainerConfig cc;
  cc.listen_port = 10811;
  cc.config_path = "container.conf";
  const std::string peers = "dLegerPeers=n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:40913\n";
  auto load = [](const std::string& name, const std::string& text) {
    auto f = parse_properties(name, text);
    REQUIRE(f.ok());
    BrokerConfig c;
    auto r = c.load(*f);
    REQUIRE_MESSAGE(r.ok(), r.detail());
    return c;
  };
  auto dledger = [&](const std::string& file, const std::string& name, const std::string& self, int port,
                     const std::string& extra = "") {
    return load(file, "brokerClusterName=C\nbrokerName=" + name + "\nlistenPort=" + std::to_string(port) +
                          "\nstorePathRootDir=/tmp/" + file + "\nenableDLegerCommitLog=true\n" + peers +
                          "dLegerSelfId=" + self + "\n" + extra);
  };
  BrokerConfig a0 = dledger("a0.conf", "broker-a", "n0", 10911);
  CHECK(a0.bound_ports() == std::vector<int32_t>{10911, 10912, 10909, 40911});
  CHECK(a0.bound_port_sources().back().source == "dLegerPeers (n0)");
  CHECK(a0.identity() == "C/broker-a/0");
  BrokerConfig b1 = dledger("b1.conf", "broker-b", "n1", 10921);
  CHECK(check_broker_conflicts(b1, {&a0}, cc).empty());

  // The own DLedger port against another broker's ports, in both directions.
  BrokerConfig x = load("x.conf", "brokerName=x\nlistenPort=40913\nfastListenPort=-1\nstorePathRootDir=/tmp/x\n");
  BrokerConfig c2 = dledger("c2.conf", "broker-c", "n2", 10931);
  CHECK(check_broker_conflicts(c2, {&x}, cc) ==
        "port 40913 is used by two brokers: x.conf (listenPort) and c2.conf (dLegerPeers (n2))");
  CHECK(check_broker_conflicts(x, {&c2}, cc) ==
        "port 40913 is used by two brokers: c2.conf (dLegerPeers (n2)) and x.conf (listenPort)");
  // Only the own entry is bound: the other peers' ports are other machines' business.
  BrokerConfig y = load("y.conf", "brokerName=y\nlistenPort=40912\nfastListenPort=-1\nstorePathRootDir=/tmp/y\n");
  CHECK(check_broker_conflicts(y, {&a0}, cc).empty());
  // Against the container's port and the broker's own ports.
  ContainerConfig cc2 = cc;
  cc2.listen_port = 40911;
  CHECK(check_broker_conflicts(a0, {}, cc2) ==
        "a0.conf: port 40911 (dLegerPeers (n0)) is the container's listenPort (container.conf)");
  BrokerConfig own = load("own.conf", "brokerName=o\nlistenPort=40910\nstorePathRootDir=/tmp/own\n"
                                      "enableDLegerCommitLog=true\n" + peers + "dLegerSelfId=n0\n");
  CHECK(check_broker_conflicts(own, {}, cc) ==
        "own.conf: port 40911 is given twice: haListenPort (listenPort + 1) and dLegerPeers (n0)");

  // Identity: (cluster, brokerName, node number); the registered brokerId may change at run time.
  BrokerConfig a0_again = dledger("a0b.conf", "broker-a", "n0", 20911,
                                  "dLegerPeers=n0-127.0.0.1:50911;n1-127.0.0.1:50912\n");
  CHECK(check_broker_conflicts(a0_again, {&a0}, cc) == "broker C/broker-a/0 is defined twice: a0.conf and a0b.conf");
  BrokerConfig running = a0;
  running.broker_id = 0;  // as a leader registers
  BrokerConfig a1 = dledger("a1.conf", "broker-a", "n1", 20921, "dLegerPeers=n0-127.0.0.1:50911;n1-127.0.0.1:50912\n");
  running.broker_id = 2;  // a follower n1 would register as 2: still identity broker-a/0
  CHECK(running.identity() == "C/broker-a/0");
  CHECK(check_broker_conflicts(a1, {&running}, cc).empty());
  CHECK(check_broker_conflicts(a0_again, {&running}, cc).find("is defined twice") != std::string::npos);
  // A master broker-a/0 and DLedger node n0 of broker-a are the same identity.
  BrokerConfig master = load("m.conf", "brokerClusterName=C\nbrokerName=broker-a\nlistenPort=30911\nstorePathRootDir=/tmp/m\n");
  CHECK(check_broker_conflicts(a0, {&master}, cc) == "broker C/broker-a/0 is defined twice: m.conf and a0.conf");

  // Two brokers, one DLedger directory.
  BrokerConfig d1 = dledger("d1.conf", "broker-d", "n1", 11911, "storePathDLedgerCommitLog=/tmp/shared-raft\n");
  BrokerConfig e1 = dledger("e1.conf", "broker-e", "n1", 11921, "storePathDLedgerCommitLog=/tmp/shared-raft/\n");
  std::string why = check_broker_conflicts(e1, {&d1}, cc);
  CHECK(why.rfind("DLedger directory /tmp/shared-raft/ is used by two brokers: d1.conf and e1.conf", 0) == 0);
}
