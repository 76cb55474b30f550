// A three-member DLedger group of real processes, for tests and benchmarks: a NameServer and
// three containers, each hosting one member (n0, n1, n2) of one group, on free loopback ports; the
// members' states as their containers report them; and a Sender that sends continuously to
// whichever member takes sends, recording every acknowledgement (what it named, when, and which
// member gave it).
#pragma once
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "client/admin_client.h"
#include "cluster.h"

namespace mq::test {

struct DLedgerCluster {
  NamesrvProcess ns;
  TempDir dir;
  std::vector<int> raft_ports;
  std::vector<std::unique_ptr<ContainerProcess>> nodes;

  // `more`: extra broker keys; `store_dirs`: each member's storePathRootDir (default: temp dirs).
  explicit DLedgerCluster(const std::string& flush = "ASYNC_FLUSH", const std::string& more = "",
                          const std::string& group = "dl-a", const std::string& cluster = "TestCluster",
                          const std::vector<std::string>& store_dirs = {}, int64_t mapped_file_size = 1048576);
  std::string addr(size_t i) const { return nodes[i]->broker_addr(0); }
};

// The "dledger" object of the first broker of a container's status; null when it does not answer.
nlohmann::json dledger_status(AdminClient& admin, ContainerProcess& c);
// The member that is the ready leader, or -1 (`except`: a member not to count, e.g. one cut off
// that has not noticed yet).
int find_leader(AdminClient& admin, DLedgerCluster& c, int except = -1);
int64_t applied_index(AdminClient& admin, ContainerProcess& c);
// The commit log offset inside an offsetMsgId (store host 8 bytes + offset 8 bytes, hex).
int64_t offset_of_msg_id(const std::string& id);

struct Ack {
  std::string body;
  int32_t queue_id;
  int64_t queue_offset;
  int64_t commit_log_offset;
};

// Sends from its own thread, one message at a time, to whichever member takes it (ack times name
// the member by its index in the address list): on a refusal
// (a follower answers at once) or a failure (a dead member) it tries the next member. A retry is
// a new message with its own body, since a failed send may still have been stored.
class Sender {
 public:
  Sender(DLedgerCluster& c, std::string topic, int queues, size_t body_bytes = 0);
  // Any brokers of one group (e.g. a controller-mode master and its slaves), by address.
  Sender(std::vector<std::string> addrs, std::string topic, int queues, size_t body_bytes = 0);
  ~Sender() { stop(); }
  void stop();
  size_t acked();
  std::vector<Ack> acks();
  // The first acknowledgement after `since` given by a member other than `old`.
  std::optional<std::chrono::steady_clock::time_point> first_ack_after(std::chrono::steady_clock::time_point since,
                                                                      size_t old);

 private:
  void run();

  std::vector<std::string> addrs_;
  std::string topic_;
  int queues_;
  size_t body_bytes_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<Ack> acks_;
  std::vector<std::pair<std::chrono::steady_clock::time_point, size_t>> ack_times_;
  std::thread thread_;
};

}  // namespace mq::test
