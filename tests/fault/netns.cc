#include "tests/fault/netns.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
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

Network::Network() = default;
Network::~Network() { teardown(); }

void Network::teardown() {
  clear_impairments();
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

// ---- impairments ------------------------------------------------------------------------------

std::string Impairment::describe() const {
  std::ostringstream o;
  o << "delay " << delay_ms << "ms";
  if (jitter_ms > 0) o << " jitter " << jitter_ms << "ms" << (normal ? " normal" : "");
  if (loss_pct > 0) o << " loss " << loss_pct << "%";
  if (reorder_pct > 0) o << " reorder " << reorder_pct << "%";
  o << " seed " << seed;
  return o.str();
}

const std::string& Network::iptables_binary() {
  // The legacy backend: this kernel has NFQUEUE (xt_NFQUEUE) but not nftables' `queue` statement,
  // which iptables-nft would translate the target into.
  static const std::string path = [] {
    for (const char* p : {"/usr/sbin/iptables-legacy", "/sbin/iptables-legacy", "/usr/bin/iptables-legacy"})
      if (::access(p, X_OK) == 0) return std::string(p);
    return std::string();
  }();
  return path;
}

std::string Network::netem_binary() const {
  namespace fs = std::filesystem;
  if (!netem_binary_.empty()) return netem_binary_;
  std::vector<std::string> candidates;
  if (const char* dir = std::getenv("MQ_BIN_DIR"); dir != nullptr && *dir != '\0')
    candidates.push_back(std::string(dir) + "/mqfault-netem");
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    // Programs sit in build/bin, test programs in build/tests.
    candidates.push_back((exe.parent_path() / "mqfault-netem").string());
    candidates.push_back((exe.parent_path().parent_path() / "bin" / "mqfault-netem").string());
  }
  for (auto& c : candidates)
    if (::access(c.c_str(), X_OK) == 0) return c;
  return candidates.empty() ? "mqfault-netem" : candidates.front();
}

namespace {

// The rule's arguments after -A / -D. The queue number only has to be unique within the namespace.
// The mark is on the copies mqfault-netem sends itself (netem_main.cc), which must not be queued
// again.
std::vector<std::string> nfqueue_rule(int queue) {
  return {"OUTPUT", "-o", "eth0", "-m", "mark", "!", "--mark", "0x6d716e65",
          "-j", "NFQUEUE", "--queue-num", std::to_string(queue), "--queue-bypass"};
}

std::string format_pct(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}

}  // namespace

bool Network::impair(int host, const Impairment& imp) {
  if (host < 0 || host >= hosts()) {
    error_ = "impair: no host " + std::to_string(host);
    return false;
  }
  if (imp.delay_ms < 0 || imp.jitter_ms < 0 || imp.loss_pct < 0 || imp.loss_pct > 100 || imp.reorder_pct < 0 ||
      imp.reorder_pct > 100) {
    error_ = "impair: out of range: " + imp.describe();
    return false;
  }
  if (!clear_impairment(host)) return false;
  const std::string& iptables = iptables_binary();
  if (iptables.empty()) {
    error_ = "impair: iptables-legacy not found (package iptables)";
    return false;
  }
  std::string program = netem_binary();
  if (::access(program.c_str(), X_OK) != 0) {
    error_ = "impair: " + program + " not found or not executable (build mqfault-netem)";
    return false;
  }
  int queue = host;
  auto daemon = std::make_unique<test::ChildProcess>();
  // `ip netns exec` execs the program in place, so the child's PID is the daemon's (and it dies
  // with the harness: ChildProcess sets the parent-death signal).
  std::vector<std::string> argv{ip_binary(), "netns", "exec", ns_[host], program,
                                "--queue", std::to_string(queue),
                                "--delay-ms", std::to_string(imp.delay_ms),
                                "--jitter-ms", std::to_string(imp.jitter_ms),
                                "--distribution", imp.normal ? "normal" : "uniform",
                                "--loss-pct", format_pct(imp.loss_pct),
                                "--reorder-pct", format_pct(imp.reorder_pct),
                                "--seed", std::to_string(imp.seed)};
  if (!daemon->start(argv)) {
    error_ = "impair: cannot start " + program;
    return false;
  }
  // The queue is bound before the rule sends packets to it (the rule's bypass would let them
  // through unjudged meanwhile, which is safe but makes the first packets unimpaired).
  if (!daemon->wait_for_line("mqfault-netem: ready", std::chrono::seconds(10))) {
    daemon->signal(SIGKILL);
    daemon->wait_exit(std::chrono::seconds(5));
    error_ = "impair: mqfault-netem did not start in " + ns_[host] + ": " + daemon->output();
    return false;
  }
  std::vector<std::string> rule{ip_binary(), "netns", "exec", ns_[host], iptables, "-w", "10", "-t", "mangle", "-A"};
  for (auto& a : nfqueue_rule(queue)) rule.push_back(a);
  auto r = test::run_command(rule, std::chrono::seconds(20));
  if (r.exit_code != 0) {
    daemon->signal(SIGTERM);
    daemon->wait_exit(std::chrono::seconds(5));
    error_ = "impair: iptables-legacy NFQUEUE rule in " + ns_[host] + " -> exit " + std::to_string(r.exit_code) +
             ": " + r.output;
    return false;
  }
  impaired_[host] = Impaired{imp, std::move(daemon)};
  return true;
}

bool Network::clear_impairment(int host) {
  auto it = impaired_.find(host);
  if (it == impaired_.end()) return true;
  bool ok = true;
  // The rule goes first: from then on packets leave unjudged, and the daemon only has to let go
  // of what it holds.
  if (host < hosts()) {
    std::vector<std::string> rule{ip_binary(), "netns", "exec", ns_[host], iptables_binary(),
                                  "-w", "10", "-t", "mangle", "-D"};
    for (auto& a : nfqueue_rule(host)) rule.push_back(a);
    auto r = test::run_command(rule, std::chrono::seconds(20));
    if (r.exit_code != 0) {
      error_ = "clear_impairment: removing the NFQUEUE rule in " + ns_[host] + " -> exit " +
               std::to_string(r.exit_code) + ": " + r.output;
      ok = false;
    }
  }
  auto& daemon = *it->second.daemon;
  daemon.signal(SIGTERM);
  if (!daemon.wait_exit(std::chrono::seconds(10))) {
    daemon.signal(SIGKILL);
    daemon.wait_exit(std::chrono::seconds(5));
    error_ = "clear_impairment: mqfault-netem in host " + std::to_string(host) + " ignored SIGTERM";
    ok = false;
  }
  const std::string& out = daemon.output();
  size_t at = out.find("mqfault-netem: summary");
  if (at != std::string::npos) netem_summaries_[host] = out.substr(at, out.find('\n', at) - at);
  impaired_.erase(it);
  return ok;
}

bool Network::clear_impairments() {
  bool ok = true;
  while (!impaired_.empty()) ok = clear_impairment(impaired_.begin()->first) && ok;
  return ok;
}

std::map<int, Impairment> Network::impairments() const {
  std::map<int, Impairment> out;
  for (auto& [h, i] : impaired_) out[h] = i.impairment;
  return out;
}

std::string Network::impairment_summary(int host) const {
  auto it = netem_summaries_.find(host);
  return it == netem_summaries_.end() ? std::string() : it->second;
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
