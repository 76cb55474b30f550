#include "controller_cluster.h"

#include <chrono>
#include <csignal>

#include "cluster.h"
#include "codec/controller_data.h"

namespace mq::test {

ControllerCluster::ControllerCluster(int members, const std::string& extra) {
  std::string peers;
  for (int i = 0; i < members; ++i) {
    ports_.push_back(free_port());
    peers += "n" + std::to_string(i) + "-127.0.0.1:" + std::to_string(ports_.back()) + ";";
  }
  for (int i = 0; i < members; ++i) {
    std::string id = "n" + std::to_string(i);
    dir_.write("controller-" + id + ".conf",
               "controllerDLegerGroup=cg\ncontrollerDLegerPeers=" + peers + "\ncontrollerDLegerSelfId=" + id +
                   "\ncontrollerStorePath=" + dir_.file("store-" + id) + "\nconfigStorePath=" +
                   dir_.file("controller-" + id + ".properties") +
                   "\nmappedFileSize=4194304\nscanNotActiveBrokerInterval=1000\nscanInactiveMasterInterval=1000\n" + extra +
                   "\n");
    procs_.push_back(std::make_unique<ChildProcess>());
  }
}

bool ControllerCluster::start(size_t i) {
  procs_[i] = std::make_unique<ChildProcess>();
  if (!procs_[i]->start({binary("mqcontroller"), "-c", dir_.file("controller-n" + std::to_string(i) + ".conf")}))
    return false;
  return procs_[i]->wait_for_line("boot success", std::chrono::seconds(20)).has_value();
}

bool ControllerCluster::start_all() {
  for (size_t i = 0; i < procs_.size(); ++i)
    if (!start(i)) return false;
  return true;
}

void ControllerCluster::kill9(size_t i) {
  procs_[i]->signal(SIGKILL);
  procs_[i]->wait_exit(std::chrono::seconds(10));
}

std::string ControllerCluster::addr_list() const {
  std::string out;
  for (size_t i = 0; i < ports_.size(); ++i) out += (i ? ";" : "") + addr(i);
  return out;
}

int ControllerCluster::leader(BlockingClient& c, int except) {
  for (size_t i = 0; i < ports_.size(); ++i) {
    if (static_cast<int>(i) == except || !procs_[i]->running()) continue;
    auto r = c.invoke(addr(i), RemotingCommand::request(request_code::kControllerGetMetadataInfo), 2000);
    if (!r.ok() || r->code != 0) continue;
    const std::string* is_leader = r->ext_fields.find("isLeader");
    if (is_leader == nullptr || *is_leader != "true") continue;
    // Serving only once its tables caught up: a scheduled read answers SUCCESS or a table error,
    // never CONTROLLER_NOT_LEADER.
    RemotingCommand probe = RemotingCommand::request(request_code::kControllerGetNextBrokerId);
    probe.ext_fields.set("clusterName", "probe");
    probe.ext_fields.set("brokerName", "probe");
    auto p = c.invoke(addr(i), std::move(probe), 2000);
    if (p.ok() && p->code != response_code::kControllerNotLeader) return static_cast<int>(i);
  }
  return -1;
}

std::string ControllerCluster::output_of_all() {
  std::string out;
  for (size_t i = 0; i < procs_.size(); ++i) out += "--- n" + std::to_string(i) + " ---\n" + procs_[i]->output();
  return out;
}

}  // namespace mq::test
