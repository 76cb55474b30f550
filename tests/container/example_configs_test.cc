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
        CHECK_MESSAGE(ports.insert(b.listen_port).second, b.config_path);
        CHECK_MESSAGE(ports.insert(b.effective_ha_listen_port()).second, b.config_path);
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
