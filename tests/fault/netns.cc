#include "tests/fault/netns.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <sstream>

#include "process.h"

namespace mq::fault {

namespace {

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.push_back(l);
  return out;
}

bool pid_alive(int pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

// "mqf<pid>..." -> pid, or -1.
int pid_in_name(const std::string& name) {
  if (name.rfind("mqf", 0) != 0) return -1;
  size_t i = 3, j = i;
  while (j < name.size() && isdigit(static_cast<unsigned char>(name[j]))) ++j;
  if (j == i) return -1;
  return std::atoi(name.substr(i, j - i).c_str());
}

}  // namespace

const std::string& Network::ip_binary() {
  static const std::string path = [] {
    for (const char* p : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"})
      if (::access(p, X_OK) == 0) return std::string(p);
    return std::string("ip");
  }();
  return path;
}

bool Network::ip(const std::vector<std::string>& args, bool quiet) {
  std::vector<std::string> argv{ip_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = test::run_command(argv, std::chrono::seconds(20));
  if (r.exit_code != 0 && !quiet) {
    std::string cmd;
    for (auto& a : argv) cmd += a + " ";
    error_ = cmd + "-> exit " + std::to_string(r.exit_code) + ": " + r.output;
  }
  return r.exit_code == 0;
}

std::string Network::host_ip(int host) const {
  return "10.213." + std::to_string(subnet_) + "." + std::to_string(host + 1);
}
std::string Network::client_ip() const { return "10.213." + std::to_string(subnet_) + ".254"; }
std::string Network::ip_of(int h) const { return h < 0 ? client_ip() : host_ip(h); }

bool Network::create(int hosts) {
  if (::geteuid() != 0) {
    error_ = "needs root (network namespaces, veth pairs, a bridge)";
    return false;
  }
  sweep_stale();
  int pid = static_cast<int>(::getpid());
  prefix_ = "mqf" + std::to_string(pid);
  bridge_ = prefix_ + "b";
  // A /24 no route of this machine uses yet.
  subnet_ = -1;
  for (int k = 0; k < 250; ++k) {
    int s = (pid + k) % 250 + 1;
    auto r = test::run_command({ip_binary(), "route", "show", "10.213." + std::to_string(s) + ".0/24"});
    if (r.exit_code == 0 && r.output.find("10.213.") == std::string::npos) {
      subnet_ = s;
      break;
    }
  }
  if (subnet_ < 0) {
    error_ = "no free 10.213.x.0/24 subnet";
    return false;
  }
  auto fail = [&] {
    std::string why = error_;
    teardown();
    error_ = why;
    return false;
  };
  if (!ip({"link", "add", bridge_, "type", "bridge"})) return fail();
  bridge_made_ = true;
  if (!ip({"addr", "add", client_ip() + "/24", "dev", bridge_}) || !ip({"link", "set", bridge_, "up"})) return fail();
  for (int h = 0; h < hosts; ++h) {
    std::string ns = prefix_ + "-h" + std::to_string(h);
    if (!ip({"netns", "add", ns})) return fail();
    ns_.push_back(ns);
    std::string outer = prefix_ + "v" + std::to_string(h), inner = prefix_ + "p" + std::to_string(h);
    if (!ip({"link", "add", outer, "type", "veth", "peer", "name", inner}) ||
        !ip({"link", "set", inner, "netns", ns}) || !ip({"link", "set", outer, "master", bridge_}) ||
        !ip({"link", "set", outer, "up"}) || !ip({"-n", ns, "link", "set", inner, "name", "eth0"}) ||
        !ip({"-n", ns, "link", "set", "lo", "up"}) || !ip({"-n", ns, "addr", "add", host_ip(h) + "/24", "dev", "eth0"}) ||
        !ip({"-n", ns, "link", "set", "eth0", "up"}))
      return fail();
    // Drop rules must be looked at before the `local` table, which answers every packet for this
    // host first otherwise.
    if (!ip({"-n", ns, "rule", "add", "pref", "100", "lookup", "local"}) || !ip({"-n", ns, "rule", "del", "pref", "0"}))
      return fail();
  }
  return true;
}

void Network::teardown() {
  // Deleting a namespace deletes its end of the veth pair, and with it the other end.
  for (auto& ns : ns_) ip({"netns", "del", ns}, true);
  ns_.clear();
  cuts_.clear();
  if (bridge_made_) ip({"link", "del", bridge_}, true);
  bridge_made_ = false;
}

bool Network::block(int at, int from) {
  if (at < 0 || at >= hosts() || from == at || from >= hosts()) return false;
  if (cuts_.count({at, from})) return true;
  if (!ip({"-n", ns_[at], "rule", "add", "pref", "10", "from", ip_of(from), "iif", "eth0", "blackhole"})) return false;
  cuts_.insert({at, from});
  return true;
}

bool Network::unblock(int at, int from) {
  if (!cuts_.count({at, from})) return true;
  if (!ip({"-n", ns_[at], "rule", "del", "pref", "10", "from", ip_of(from), "iif", "eth0", "blackhole"})) return false;
  cuts_.erase({at, from});
  return true;
}

bool Network::isolate(int host) {
  bool ok = block(host, -1);
  for (int h = 0; h < hosts(); ++h)
    if (h != host) ok = cut(host, h) && ok;
  return ok;
}

bool Network::split(const std::vector<int>& side_a, const std::vector<int>& side_b) {
  bool ok = true;
  for (int a : side_a)
    for (int b : side_b) ok = cut(a, b) && ok;
  return ok;
}

bool Network::heal() {
  bool ok = true;
  auto copy = cuts_;
  for (auto [at, from] : copy) ok = unblock(at, from) && ok;
  return ok;
}

void Network::sweep_stale() {
  auto ns = test::run_command({ip_binary(), "netns", "list"});
  for (auto& line : lines_of(ns.output)) {
    std::string name = line.substr(0, line.find(' '));
    int pid = pid_in_name(name);
    if (pid > 0 && !pid_alive(pid)) test::run_command({ip_binary(), "netns", "del", name});
  }
  auto links = test::run_command({ip_binary(), "-o", "link", "show"});
  for (auto& line : lines_of(links.output)) {
    // "12: mqf123b: <...>" or "13: mqf123v0@if2: <...>"
    size_t a = line.find(": ");
    if (a == std::string::npos) continue;
    size_t b = line.find_first_of(":@", a + 2);
    std::string name = line.substr(a + 2, b - a - 2);
    int pid = pid_in_name(name);
    if (pid > 0 && !pid_alive(pid)) test::run_command({ip_binary(), "link", "del", name});
  }
}

}  // namespace mq::fault
