// Multi-process test fixtures: a NameServer and containers started from real binaries with configs
// written to a temp dir, on free loopback ports; plus raw send and pull helpers that speak the
// wire protocol the way a RocketMQ client does.
#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "codec/message.h"
#include "process.h"
#include "remoting/client.h"

namespace mq::test {

// Free loopback ports, picked at random just below the kernel's ephemeral range (so no outgoing
// connection takes them before they are used). For a broker, p+1 (its HA port) and p-2 (its fast
// port) are free too.
int free_broker_port();
int free_port();

struct NamesrvProcess {
  TempDir dir;
  ChildProcess proc;
  int port = 0;
  // port 0: the NameServer picks a free port (read from its log).
  explicit NamesrvProcess(int listen_port = 0);
  std::string addr() const { return "127.0.0.1:" + std::to_string(port); }
};

struct BrokerSpec {
  std::string name;
  int64_t id = 0;
  std::string role = "ASYNC_MASTER";
  std::string flush = "ASYNC_FLUSH";
  int port = 0;  // 0 = pick one
  std::string extra = "";  // more key=value lines
  int64_t mapped_file_size_commit_log = 1048576;
  std::string store_dir = "";  // default: <container dir>/store-<name>-<id>
};

class ContainerProcess {
 public:
  // admin_port 0: picked here.
  ContainerProcess(const std::string& namesrv_addr, std::vector<BrokerSpec> brokers, const std::string& dir,
                   const std::string& cluster = "TestCluster", int admin_port = 0);
  // Starts (or restarts) the process and waits until it says it booted.
  bool start(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  void kill9();
  int stop();  // SIGTERM, returns the exit status
  std::string broker_addr(size_t i) const { return "127.0.0.1:" + std::to_string(brokers_[i].port); }
  std::string admin_addr() const { return "127.0.0.1:" + std::to_string(admin_port_); }
  const std::string& config_path() const { return config_path_; }
  std::string broker_config_path(size_t i) const;
  ChildProcess& proc() { return *proc_; }

 private:
  std::string namesrv_;
  std::vector<BrokerSpec> brokers_;
  std::string dir_;
  std::string cluster_;
  std::string config_path_;
  int admin_port_ = 0;
  std::unique_ptr<ChildProcess> proc_;
};

struct SendOutcome {
  int32_t code = -1;
  std::string remark;
  std::string msg_id;
  int32_t queue_id = -1;
  int64_t queue_offset = -1;
};
RemotingCommand make_send_request(const std::string& topic, int32_t queue_id, const std::string& body,
                                  const std::string& properties);
SendOutcome send_message(BlockingClient& c, const std::string& addr, const std::string& topic, int32_t queue_id,
                         const std::string& body, const std::string& properties = "", int64_t timeout_ms = 10'000);

struct PullOutcome {
  int32_t code = -1;
  std::string remark;
  int64_t next_begin_offset = -1, min_offset = -1, max_offset = -1;
  std::string body;
  std::vector<MessageRecord> records;  // views into body
};
RemotingCommand make_pull_request(const std::string& group, const std::string& topic, int32_t queue_id, int64_t offset,
                                  int32_t max_nums, int32_t sys_flag, int64_t suspend_ms, const std::string& subscription);
PullOutcome to_pull_outcome(RemotingCommand&& resp);
PullOutcome pull_messages(BlockingClient& c, const std::string& addr, const std::string& group, const std::string& topic,
                          int32_t queue_id, int64_t offset, int32_t max_nums = 32);

bool create_topic(const std::string& namesrv, const std::string& cluster, const std::string& topic, int queues);

}  // namespace mq::test
