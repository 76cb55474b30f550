#include "tests/fault/deployment.h"

#include <signal.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "client/admin_client.h"

namespace mq::fault {

namespace {

constexpr int kNamesrvPort = 9876;
constexpr int kAdminPort = 10811;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

const char* kGroups[] = {"broker-a", "broker-b", "broker-c"};

}  // namespace

const char* layout_name(Layout l) { return l == Layout::kDLedger3 ? "dledger3" : "masterslave2"; }

// ---------------------------------------------------------------------------------------------

HostProcess::HostProcess(std::string ns, std::vector<std::string> argv, std::string log_path, std::string ready_needle,
                         std::vector<std::string> env)
    : ns_(std::move(ns)),
      argv_(std::move(argv)),
      log_path_(std::move(log_path)),
      ready_needle_(std::move(ready_needle)),
      env_(std::move(env)) {}

bool HostProcess::start(std::chrono::milliseconds timeout) {
  size_t before = read_file(log_path_).size();
  // sh and ip both exec, so the PID the harness holds is the program's own.
  std::string cmd = "exec " + Network::ip_binary() + " netns exec " + ns_;
  if (!env_.empty()) {
    cmd += " /usr/bin/env";  // env execs too
    for (const auto& e : env_) cmd += " '" + e + "'";
  }
  for (const auto& a : argv_) cmd += " '" + a + "'";
  cmd += " >>'" + log_path_ + "' 2>&1";
  proc_ = std::make_unique<test::ChildProcess>();
  frozen_ = false;
  if (!proc_->start({"/bin/sh", "-c", cmd})) return false;
  return test::wait_until(
      [&] {
        if (!proc_->running()) return true;
        std::string log = read_file(log_path_);
        return log.size() > before && log.find(ready_needle_, before) != std::string::npos;
      },
      timeout) &&
         proc_->running();
}

void HostProcess::kill9() {
  if (!proc_) return;
  proc_->signal(SIGKILL);
  proc_->wait_exit(std::chrono::seconds(10));
  frozen_ = false;
}

void HostProcess::freeze() {
  if (proc_ && proc_->running()) {
    proc_->signal(SIGSTOP);
    frozen_ = true;
  }
}

void HostProcess::thaw() {
  if (proc_ && frozen_) proc_->signal(SIGCONT);
  frozen_ = false;
}

bool HostProcess::terminate(std::chrono::milliseconds timeout) {
  if (!proc_ || !proc_->running()) return true;
  thaw();
  proc_->signal(SIGTERM);
  if (proc_->wait_exit(timeout)) return true;
  kill9();
  return false;
}

bool HostProcess::running() { return proc_ && proc_->running(); }

std::string HostProcess::log_tail(size_t bytes) const {
  std::string log = read_file(log_path_);
  return log.size() > bytes ? log.substr(log.size() - bytes) : log;
}

// ---------------------------------------------------------------------------------------------

Deployment::Deployment(Network& net, Layout layout, std::string dir, std::string extra_broker_keys)
    : net_(net), layout_(layout), dir_(std::move(dir)), extra_(std::move(extra_broker_keys)) {
  int hosts = hosts_of(layout_);
  if (layout_ == Layout::kDLedger3) {
    for (int h = 0; h < hosts; ++h)
      for (int g = 0; g < 3; ++g) members_.push_back({kGroups[g], h, 10911 + 10 * g, g == h});
  } else {
    // Host 0: broker-a master (10911), broker-b slave (10921); host 1 the other way round.
    for (int h = 0; h < hosts; ++h)
      for (int g = 0; g < 2; ++g) members_.push_back({kGroups[g], h, 10911 + 10 * g, g == h});
  }
  mount_disks();
  write_configs();
}

void Deployment::mount_disks() {
  int hosts = hosts_of(layout_);
  mounted_.assign(static_cast<size_t>(hosts), false);
  disks_mounted_ = ::geteuid() == 0;
  for (int h = 0; h < hosts && disks_mounted_; ++h) {
    std::string hd = dir_ + "/h" + std::to_string(h);
    std::filesystem::create_directories(hd + "/disk");
    // -m 0: nothing reserved for root (the brokers run as root here), so "full" means full.
    for (const std::string& cmd : {"truncate -s 4G " + hd + "/disk.img", "mkfs.ext4 -q -F -m 0 " + hd + "/disk.img",
                                   "mount -o loop " + hd + "/disk.img " + hd + "/disk"}) {
      auto r = test::run_command({"/bin/sh", "-c", cmd + " 2>&1"});
      if (r.exit_code != 0) {
        std::fprintf(stderr, "mqfault: no disk faults: %s: %s\n", cmd.c_str(), r.output.c_str());
        disks_mounted_ = false;
        break;
      }
    }
    if (disks_mounted_) mounted_[static_cast<size_t>(h)] = true;
  }
  if (!disks_mounted_) unmount_disks();
}

void Deployment::unmount_disks() {
  for (size_t h = 0; h < mounted_.size(); ++h) {
    if (!mounted_[h]) continue;
    std::string hd = dir_ + "/h" + std::to_string(h);
    auto r = test::run_command({"/bin/sh", "-c", "umount " + hd + "/disk 2>&1 || umount -l " + hd + "/disk 2>&1"});
    if (r.exit_code == 0) std::filesystem::remove(hd + "/disk.img");
    mounted_[h] = false;
  }
}

std::string Deployment::store_dir(int host, const std::string& group) const {
  return dir_ + "/h" + std::to_string(host) + "/disk/store-" + group;
}

bool Deployment::fill_disk(int host, std::string& why) {
  if (!disks_mounted_) {
    why = "no disks to fill (mounting a loop image was refused)";
    return false;
  }
  std::string disk = dir_ + "/h" + std::to_string(host) + "/disk";
  struct statvfs st {};
  if (::statvfs(disk.c_str(), &st) != 0) {
    why = "statvfs " + disk + ": " + std::strerror(errno);
    return false;
  }
  const int64_t avail = static_cast<int64_t>(st.f_bavail) * static_cast<int64_t>(st.f_frsize);
  const int64_t ballast = avail - (512 << 10);
  if (ballast <= 0) return true;  // full already
  auto r = test::run_command({"/bin/sh", "-c", "fallocate -l " + std::to_string(ballast) + " " + disk + "/ballast 2>&1"});
  if (r.exit_code != 0) why = "fallocate: " + r.output;
  return r.exit_code == 0;
}

bool Deployment::free_disk(int host, std::string& why) {
  std::error_code ec;
  std::filesystem::remove(dir_ + "/h" + std::to_string(host) + "/disk/ballast", ec);
  if (ec) why = "remove ballast: " + ec.message();
  return !ec;
}

Deployment::~Deployment() {
  stop_all();
  admin_.reset();
  unmount_disks();
}

std::string Deployment::cluster() const { return layout_ == Layout::kDLedger3 ? "FaultDLedger" : "FaultCross"; }

std::vector<std::string> Deployment::broker_names() const {
  std::vector<std::string> out;
  for (int g = 0; g < (layout_ == Layout::kDLedger3 ? 3 : 2); ++g) out.push_back(kGroups[g]);
  return out;
}

std::string Deployment::namesrv_list() const {
  std::string out;
  for (int h = 0; h < hosts_of(layout_); ++h) out += (out.empty() ? "" : ";") + net_.host_ip(h) + ":" + std::to_string(kNamesrvPort);
  return out;
}

std::string Deployment::container_admin(int host) const { return net_.host_ip(host) + ":" + std::to_string(kAdminPort); }
std::string Deployment::broker_addr(const BrokerMember& m) const {
  return net_.host_ip(m.host) + ":" + std::to_string(m.listen_port);
}

void Deployment::write_configs() {
  int hosts = hosts_of(layout_);
  std::string ns_list = namesrv_list();
  for (int h = 0; h < hosts; ++h) {
    std::string hd = dir_ + "/h" + std::to_string(h);
    std::filesystem::create_directories(hd);
    write_file(hd + "/namesrv.conf", "listenPort=" + std::to_string(kNamesrvPort) + "\n");
    std::string paths;
    for (const auto& m : members_) {
      if (m.host != h) continue;
      std::ostringstream c;
      c << "brokerClusterName=" << cluster() << "\nbrokerName=" << m.broker_name << "\nbrokerIP1=" << net_.host_ip(h)
        << "\nlistenPort=" << m.listen_port << "\nhaListenPort=" << m.listen_port + 1
        << "\nstorePathRootDir=" << store_dir(h, m.broker_name) << "\nflushDiskType=ASYNC_FLUSH"
        << "\nautoCreateTopicEnable=true\n";
      if (layout_ == Layout::kDLedger3) {
        int g = m.listen_port == 10911 ? 0 : m.listen_port == 10921 ? 1 : 2;
        int raft_port = 40911 + 10 * g;
        std::string peers;
        for (int p = 0; p < hosts; ++p)
          peers += (p ? ";" : "") + std::string("n") + std::to_string(p) + "-" + net_.host_ip(p) + ":" + std::to_string(raft_port);
        c << "enableDLegerCommitLog=true\ndLegerGroup=" << m.broker_name << "\ndLegerPeers=" << peers
          << "\ndLegerSelfId=n" << h << "\npreferredLeaderId=n" << g << "\n";
      } else {
        c << "brokerId=" << (m.preferred ? 0 : 1) << "\nbrokerRole=" << (m.preferred ? "SYNC_MASTER" : "SLAVE") << "\n";
      }
      c << extra_;
      std::string file = m.broker_name + ".conf";
      write_file(hd + "/" + file, c.str());
      paths += (paths.empty() ? "" : ":") + hd + "/" + file;
    }
    write_file(hd + "/container.conf", "listenPort=" + std::to_string(kAdminPort) + "\nnamesrvAddr=" + ns_list +
                                           "\nbrokerConfigPaths=" + paths + "\nworkerPoolThreads=2\n");
    std::vector<std::string> env;
    if (clock_control()) {
      write_file(hd + "/clock", "+0\n");
      env = {"LD_PRELOAD=" + clock_shift_library(), "MQ_CLOCK_OFFSET_FILE=" + hd + "/clock"};
    }
    namesrv_.push_back(std::make_unique<HostProcess>(
        net_.ns(h), std::vector<std::string>{test::binary("mqnamesrv"), "-c", hd + "/namesrv.conf"},
        hd + "/namesrv.log", "boot success", env));
    container_.push_back(std::make_unique<HostProcess>(
        net_.ns(h), std::vector<std::string>{test::binary("mqbrokercontainer"), "-c", hd + "/container.conf"},
        hd + "/container.log", "boot success", env));
  }
}

bool Deployment::start_all(std::string& why) {
  for (int h = 0; h < hosts(); ++h)
    if (!namesrv_[h]->start(std::chrono::seconds(20))) {
      why = "NameServer of host " + std::to_string(h) + " did not start: " + namesrv_[h]->log_tail(2000);
      return false;
    }
  // Containers side by side: DLedger members wait for their peers before a leader exists.
  for (int h = 0; h < hosts(); ++h)
    if (!container_[h]->start(std::chrono::seconds(60))) {
      why = "container of host " + std::to_string(h) + " did not start: " + container_[h]->log_tail(3000);
      return false;
    }
  if (!test::wait_until([&] { return every_group_led(); }, std::chrono::seconds(60))) {
    why = "not every broker group got a leader (or master) within 60 s";
    return false;
  }
  return true;
}

void Deployment::stop_all() {
  for (auto& c : container_)
    if (c) c->terminate(std::chrono::seconds(20));
  for (auto& n : namesrv_)
    if (n) n->terminate(std::chrono::seconds(10));
}

const std::string& Deployment::clock_shift_library() {
  static const std::string path = [] {
    std::string p = test::binary("libmqclockshift.so");
    return ::access(p.c_str(), R_OK) == 0 ? p : std::string();
  }();
  return path;
}

bool Deployment::set_clock_offset(int host, int64_t offset_s, std::string& why) {
  if (!clock_control()) {
    why = "libmqclockshift.so was not built";
    return false;
  }
  // Written aside and renamed, so a program never reads half a line.
  std::string path = dir_ + "/h" + std::to_string(host) + "/clock";
  write_file(path + ".new", (offset_s >= 0 ? "+" : "") + std::to_string(offset_s) + "\n");
  std::error_code ec;
  std::filesystem::rename(path + ".new", path, ec);
  if (ec) why = "rename " + path + ": " + ec.message();
  return !ec;
}

bool Deployment::revive(int host, std::string& why) {
  namesrv_[host]->thaw();
  container_[host]->thaw();
  if (!namesrv_[host]->running() && !namesrv_[host]->start(std::chrono::seconds(20))) {
    why = "NameServer of host " + std::to_string(host) + " did not restart: " + namesrv_[host]->log_tail(2000);
    return false;
  }
  if (!container_[host]->running() && !container_[host]->start(std::chrono::seconds(120))) {
    why = "container of host " + std::to_string(host) + " did not restart: " + container_[host]->log_tail(3000);
    return false;
  }
  return true;
}

nlohmann::json Deployment::status(int host) {
  // A frozen or cut-off host cannot answer: asking would only wait out the timeout.
  if (!container_[host]->running() || container_[host]->frozen() || net_.cuts().count({host, -1})) return {};
  if (!admin_) admin_ = std::make_unique<AdminClient>(namesrv_list(), 1500);
  auto s = admin_->container_status(container_admin(host));
  if (!s.ok()) return {};
  auto j = nlohmann::json::parse(*s, nullptr, false);
  return j.is_object() ? j : nlohmann::json{};
}

bool Deployment::create_topic(const std::string& topic, int queues, std::string& why) {
  AdminClient admin(namesrv_list(), 5000);
  TopicConfig tc;
  tc.topic_name = topic;
  tc.read_queue_nums = queues;
  tc.write_queue_nums = queues;
  for (const auto& m : members_) {
    auto r = admin.create_topic(broker_addr(m), tc);
    if (!r.ok()) {
      // A DLedger follower refuses writes of metadata it gets from its leader: that is fine.
      if (layout_ == Layout::kDLedger3) continue;
      why = "create topic on " + broker_addr(m) + ": " + r.detail();
      return false;
    }
  }
  return true;
}

std::vector<std::vector<std::string>> Deployment::leaders_per_host() {
  std::vector<std::vector<std::string>> out(hosts());
  for (int h = 0; h < hosts(); ++h) {
    auto j = status(h);
    if (!j.contains("brokers")) continue;
    for (const auto& b : j["brokers"]) {
      std::string name = b.value("brokerName", "");
      if (b.value("state", "") != "RUNNING") continue;
      if (b.contains("dledger")) {
        if (b["dledger"].value("leaderReady", false)) out[h].push_back(name);
      } else if (b.value("role", "") != "SLAVE") {
        out[h].push_back(name);
      }
    }
  }
  return out;
}

bool Deployment::every_group_led() {
  auto per_host = leaders_per_host();
  for (const auto& g : broker_names()) {
    int n = 0;
    for (const auto& l : per_host) n += static_cast<int>(std::count(l.begin(), l.end(), g));
    if (n != 1) return false;
  }
  return true;
}

int Deployment::leader_host(const std::string& group) {
  auto per_host = leaders_per_host();
  for (int h = 0; h < hosts(); ++h)
    if (std::count(per_host[h].begin(), per_host[h].end(), group)) return h;
  return -1;
}

}  // namespace mq::fault
