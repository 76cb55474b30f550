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
#pragma once
#include <set>
#include <string>
#include <vector>

namespace mq::fault {

class Network {
 public:
  Network() = default;
  ~Network() { teardown(); }
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
};

}  // namespace mq::fault
