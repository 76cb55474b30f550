// "Hosts" on one machine for the fault harness: each host is a network namespace with one veth
// interface (eth0) on a bridge in the harness's own namespace, and its own address 10.213.S.N/24
// (N = 1, 2, ...; the bridge, where the harness's clients sit, is .254). Every host has the whole
// port space to itself, so every host runs its NameServer and container on the same ports, as
// separate machines would.
//
// Partitions are silent drops, as a broken switch or a firewall gives: a host drops packets that
// arrive on eth0 from a given source address (a policy-routing rule of type blackhole, placed
// before the `local` table's lookup, which the harness moves from preference 0 to 100 inside its
// namespaces). A sender sees no error, only missing answers (connect and request timeouts), which
// is what RocketMQ's clients and DLedger meet in a real partition. One-way cuts are the building
// block; `cut` makes a two-way one.
//
// Names carry the harness's PID (namespaces mqf<pid>-h<N>, links mqf<pid>b and mqf<pid>v<N>), so
// runs side by side do not collide; everything made is removed by `teardown()` (and the
// destructor), and `sweep_stale()` removes what a harness that was killed left behind (only names
// of PIDs no longer alive).
//
// Impairments (loss, delay, jitter, reorder) stand in for tc netem, which this kernel lacks
// (sch_netem, and with it every qdisc that could hold packets). `impair(host, ...)` starts
// mqfault-netem inside the host's namespace and then adds `iptables-legacy -t mangle -A OUTPUT -o
// eth0 -m mark ! --mark 0x6d716e65 -j NFQUEUE --queue-bypass` there (legacy: this kernel has no nft
// `queue`), so that each IPv4 packet the host sends goes to the daemon, which drops it or sends an
// identical copy (marked, so the rule lets it by) at its release time (netem.h says how it decides,
// netem_main.cc how it sends and why copies rather than held packets: TCP's small-queue limit).
// An impairment is therefore outbound only, and covers everything the host sends through eth0: to
// the other hosts and to the harness's clients, TCP, UDP and ICMP alike, but not ARP (not IP),
// IPv6, nor traffic over its own lo. A bad two-way link is two impairments;
// "host A's packets to B only" is not offered. OUTPUT rather than POSTROUTING: the hosts never
// forward, so both hooks see the same packets, and in OUTPUT a local packet's route (so `-o eth0`)
// is already known.
//
// An impairment can get weaker, never turn into a partition (that is `block`'s job): the queue is
// fail-open (past 10240 packets waiting for the daemon the kernel lets them through unjudged, and
// so does the daemon past 256 MiB of copies held) and the rule carries --queue-bypass (with no
// daemon bound, packets pass; a daemon that died loses only what it held).
// The daemon is the harness's child and dies with it. `clear_impairment` and `teardown` remove the
// rule first, then stop the daemon with SIGTERM (it sends every packet it still holds) and wait
// for it by PID. The program is looked for at `set_netem_binary`, else in $MQ_BIN_DIR, else beside the
// running program (build/bin) or in ../bin from it (test programs in build/tests).
//
//   Impairment bad;                 // what mqfault's `delay` fault could do
//   bad.delay_ms = 100; bad.jitter_ms = 20; bad.seed = seed;
//   if (!net.impair(host, bad)) report(net.error());
//   ... hold ...
//   net.clear_impairment(host);     // net.impairment_summary(host): what the daemon did
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace mq::test {
class ChildProcess;
}

namespace mq::fault {

// What a host does to the packets it sends, in tc netem's terms. Zero everywhere is no impairment.
struct Impairment {
  int delay_ms = 0;
  int jitter_ms = 0;          // uniform in [-jitter, +jitter] unless `normal` (then its sigma)
  bool normal = false;
  double loss_pct = 0;        // 0..100
  double reorder_pct = 0;     // 0..100: that share is sent at once, ahead of the delayed ones
  uint64_t seed = 1;          // the daemon's decisions replay from it (packet timing aside)

  // "delay 50ms jitter 10ms loss 30% reorder 25% seed 7", for reports.
  std::string describe() const;
};

class Network {
 public:
  Network();
  ~Network();
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  // Creates `hosts` namespaces on a new bridge. On failure returns false with the reason in
  // error() (not root, no netns support, ...), after removing whatever it made.
  bool create(int hosts);
  void teardown();
  const std::string& error() const { return error_; }

  int hosts() const { return static_cast<int>(ns_.size()); }
  const std::string& ns(int host) const { return ns_.at(host); }
  std::string host_ip(int host) const;
  std::string client_ip() const;  // the harness's address on the bridge

  // Host `at` drops every packet from `from` (another host, or -1 for the harness's clients).
  bool block(int at, int from);
  bool unblock(int at, int from);
  // Both directions between two hosts (or a host and the clients, -1).
  bool cut(int a, int b) { return block(a, b) && block(b, a); }
  // Cuts `host` from every other host and from the clients.
  bool isolate(int host);
  // Two sides that cannot talk to each other; the clients still reach both.
  bool split(const std::vector<int>& side_a, const std::vector<int>& side_b);
  // Removes every cut.
  bool heal();
  // Cuts in place now, as (at, from) pairs.
  const std::set<std::pair<int, int>>& cuts() const { return cuts_; }

  // Impairs everything `host` sends from now on (replacing any impairment it has). False, with the
  // reason in error(), when the program or iptables-legacy is missing or the kernel refuses.
  bool impair(int host, const Impairment& impairment);
  // Removes the impairment of `host` (true when it had none). Held packets are let through.
  bool clear_impairment(int host);
  bool clear_impairments();
  // Impairments in place now.
  std::map<int, Impairment> impairments() const;
  // The daemon's last "mqfault-netem: summary seen=.. dropped=.. ..." line for `host` (empty
  // until an impairment of it was cleared): what it actually did, for reports.
  std::string impairment_summary(int host) const;
  // Where mqfault-netem is, when not beside the running program or in $MQ_BIN_DIR.
  void set_netem_binary(const std::string& path) { netem_binary_ = path; }
  std::string netem_binary() const;
  static const std::string& iptables_binary();

  // Removes namespaces and links named after harness PIDs that are no longer running.
  static void sweep_stale();
  // The iproute2 program (tests start programs by path, not through PATH).
  static const std::string& ip_binary();

 private:
  bool ip(const std::vector<std::string>& args, bool quiet = false);
  std::string ip_of(int host_or_client) const;

  std::string prefix_;
  std::string bridge_;
  int subnet_ = 0;
  std::vector<std::string> ns_;
  std::set<std::pair<int, int>> cuts_;
  std::string error_;
  bool bridge_made_ = false;

  struct Impaired {
    Impairment impairment;
    std::unique_ptr<test::ChildProcess> daemon;
  };
  std::map<int, Impaired> impaired_;
  std::map<int, std::string> netem_summaries_;
  std::string netem_binary_;
};

}  // namespace mq::fault
