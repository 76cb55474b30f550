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
  CHECK(why == "port 10909 is used by two brokers: a.conf and b.conf");
  BrokerConfig c = broker("c", "listenPort=10913\n");  // fast port 10911 = a's listenPort
  CHECK(check_broker_conflicts(c, {&a}, cc) == "port 10911 is used by two brokers: a.conf and c.conf");
  // fastListenPort=-1 drops the fast port; an explicit one moves it.
  BrokerConfig d = broker("d", "listenPort=10913\nfastListenPort=-1\n");
  CHECK(d.bound_ports() == std::vector<int32_t>{10913, 10914});
  CHECK(check_broker_conflicts(d, {&a}, cc).empty());
  BrokerConfig e = broker("e", "listenPort=10813\n");  // fast port 10811 = the container's port
  CHECK(check_broker_conflicts(e, {}, cc) == "e.conf: port 10811 is the container's listenPort (container.conf)");
  BrokerConfig f = broker("f", "listenPort=10921\nfastListenPort=10922\n");  // = its own HA port
  CHECK(check_broker_conflicts(f, {}, cc).find("is given twice") != std::string::npos);
  auto bad = parse_properties("g.conf", "brokerName=g\nlistenPort=10911\nfastListenPort=-5\n");
  BrokerConfig g;
  auto r = g.load(*bad);
  REQUIRE_FALSE(r.ok());
  CHECK(r.detail().rfind("g.conf:3: key 'fastListenPort'", 0) == 0);
}
