// The deployments the fault harness runs on its hosts (netns.h), written as an operator would write
// them for real machines: every host runs a NameServer (port 9876) and one container (admin port
// 10811), and the brokers are cross-deployed so that every host carries an equal share (peer
// symmetry, conf/dledger-cross-3x3 and conf/cross-2m-2s-sync are the same layouts on one host):
//
//  - kDLedger3: three hosts, three DLedger groups broker-a/b/c of three members each; host i holds
//    member n<i> of every group and is the preferred leader of group i. Losing any one host keeps
//    every group writable; when it returns, its group's leadership comes back to it.
//  - kMasterSlave2: two hosts, broker-a master on host 0 with its slave on host 1 and broker-b the
//    other way round, SYNC_MASTER (a send is acknowledged once the slave has it). Losing a host keeps
//    every group readable; the lost master's group takes writes again when it returns.
//
// Every process runs inside its host's namespace (`ip netns exec`), with its output appended to a
// log file in the host's folder, and is signalled only by the PID the harness started.
//
// Disks: each host's stores live on the host's own disk, a 4 GiB ext4 image (sparse, so it costs
// only what is written) loop-mounted on <dir>/h<N>/disk, when the harness may mount (root); logs
// and the clock file stay outside it. A full disk is a ballast file that leaves 512 KiB free (the load uses it up); the
// heal deletes it. Where mounting is refused the stores are plain folders and there are no disk
// faults.
//
// Clock jumps: every program of a host runs with libmqclockshift.so preloaded (clock_shift.c, built
// beside mqfault), reading its wall-clock offset from the host's `clock` file (re-read once a
// second). Only wall-clock time moves: CLOCK_REALTIME is what an NTP step or an operator's
// `date -s` changes, while timeouts, elections and the event loop run on CLOCK_MONOTONIC.
#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/fault/netns.h"
#include "process.h"

namespace mq {
class AdminClient;
}

namespace mq::fault {

enum class Layout { kDLedger3, kMasterSlave2 };
const char* layout_name(Layout l);

// One program of one host: started from the same command line each time.
class HostProcess {
 public:
  // `env`: NAME=value pairs set for the program only (not for `ip netns exec`).
  HostProcess(std::string ns, std::vector<std::string> argv, std::string log_path, std::string ready_needle,
              std::vector<std::string> env = {});
  // Starts and waits until the log shows the ready line (appended after any earlier run's lines).
  bool start(std::chrono::milliseconds timeout);
  void kill9();
  void freeze();    // SIGSTOP
  void thaw();      // SIGCONT
  bool terminate(std::chrono::milliseconds timeout);  // SIGTERM (SIGKILL after the timeout)
  bool running();
  bool frozen() const { return frozen_; }
  int pid() const { return proc_ ? proc_->pid() : -1; }
  std::string log_tail(size_t bytes) const;

 private:
  std::string ns_;
  std::vector<std::string> argv_;
  std::string log_path_;
  std::string ready_needle_;
  std::vector<std::string> env_;
  std::unique_ptr<test::ChildProcess> proc_;
  bool frozen_ = false;
};

struct BrokerMember {
  std::string broker_name;  // the group
  int host = 0;
  int listen_port = 0;
  bool preferred = false;   // DLedger: the group's preferred leader; master-slave: the master
};

class Deployment {
 public:
  // `extra_broker_keys`: more key=value lines for every broker (e.g. small segment sizes).
  Deployment(Network& net, Layout layout, std::string dir, std::string extra_broker_keys = "");
  ~Deployment();

  static int hosts_of(Layout l) { return l == Layout::kDLedger3 ? 3 : 2; }
  bool start_all(std::string& why);
  void stop_all();

  Layout layout() const { return layout_; }
  int hosts() const { return static_cast<int>(namesrv_.size()); }
  std::string cluster() const;
  std::vector<std::string> broker_names() const;
  const std::vector<BrokerMember>& members() const { return members_; }
  std::string namesrv_list() const;  // "ip:9876;ip:9876;..."
  std::string container_admin(int host) const;
  std::string broker_addr(const BrokerMember& m) const;

  HostProcess& container(int host) { return *container_[host]; }
  HostProcess& namesrv(int host) { return *namesrv_[host]; }
  // Restarts whatever of the host is not running (after a kill), thaws what is frozen.
  bool revive(int host, std::string& why);

  // The folder a broker group's store has on `host`.
  std::string store_dir(int host, const std::string& group) const;
  bool disk_control() const { return disks_mounted_; }
  // Fills the host's disk (all but 512 KiB, which the load uses up) / frees it again.
  bool fill_disk(int host, std::string& why);
  bool free_disk(int host, std::string& why);

  // The clock-shifting preload library, or "" when it was not built (then no clock control).
  static const std::string& clock_shift_library();
  bool clock_control() const { return !clock_shift_library().empty(); }
  // Sets the wall clock of every program on `host` to real time + `offset_s` (0 undoes a jump).
  // Takes effect within about a second.
  bool set_clock_offset(int host, int64_t offset_s, std::string& why);

  // Creates `topic` with `queues` read/write queues on every broker of every host.
  bool create_topic(const std::string& topic, int queues, std::string& why);
  // Per host, the broker groups it leads now (DLedger: a ready leader; master-slave: a running master).
  std::vector<std::vector<std::string>> leaders_per_host();
  // True when every group has exactly one leader (or running master) the harness can reach.
  bool every_group_led();
  // Host whose container leads `group` now, or -1.
  int leader_host(const std::string& group);

 private:
  void write_configs();
  void mount_disks();
  void unmount_disks();
  nlohmann::json status(int host);

  Network& net_;
  Layout layout_;
  std::string dir_;
  std::string extra_;
  bool disks_mounted_ = false;
  std::vector<bool> mounted_;
  std::vector<BrokerMember> members_;
  std::vector<std::unique_ptr<HostProcess>> namesrv_;
  std::vector<std::unique_ptr<HostProcess>> container_;
  std::unique_ptr<AdminClient> admin_;  // one client for every status question
};

}  // namespace mq::fault
