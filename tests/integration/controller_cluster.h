// A controller group of real `mqcontroller` processes for tests: three members (n0, n1, n2) on
// free loopback ports, each with its own store under a temp dir, and helpers to find the leader
// and to call any member.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "process.h"
#include "remoting/client.h"

namespace mq::test {

class ControllerCluster {
 public:
  // `extra`: more key=value lines for every member's config.
  explicit ControllerCluster(int members = 3, const std::string& extra = "");
  // Starts (or restarts) member i and waits until it says it booted.
  bool start(size_t i);
  bool start_all();
  void kill9(size_t i);
  std::string addr(size_t i) const { return "127.0.0.1:" + std::to_string(ports_[i]); }
  // Every member's address, `;`-separated (a broker's controllerAddr).
  std::string addr_list() const;
  size_t size() const { return ports_.size(); }
  ChildProcess& proc(size_t i) { return *procs_[i]; }
  // The member that says it is the leader (CONTROLLER_GET_METADATA_INFO isLeader=true) and whose
  // tables are being served, or -1.
  int leader(BlockingClient& c, int except = -1);
  std::string output_of_all();

 private:
  TempDir dir_;
  std::vector<int> ports_;
  std::vector<std::unique_ptr<ChildProcess>> procs_;
};

}  // namespace mq::test
