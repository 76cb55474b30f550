// A userspace stand-in for tc netem's delay, jitter, loss and reorder, for kernels without
// sch_netem. The kernel side is an iptables NFQUEUE rule that hands every packet a host sends to a
// daemon (mqfault-netem, netem_main.cc) which drops it or lets it go later; this file is the
// daemon's decision maker, kept pure so that it can be tested without root, sockets or sleeps:
// time is passed in (microseconds on any monotonic clock), randomness comes from a seeded
// generator of our own (the standard library's distributions differ between implementations, so a
// seed would not replay).
//
// Per packet, in arrival order, as netem decides:
// - lost with probability loss_pct (a verdict to drop at once);
// - otherwise, with probability reorder_pct, released at once (netem's `reorder`: those packets
//   overtake the ones being delayed; like netem, reorder only means something with a delay);
// - otherwise released at arrival + delay + a jitter drawn per packet: uniform in
//   [-jitter, +jitter], or normal with standard deviation jitter, cut off at 3 jitters (netem's
//   `distribution normal` table also ends near 4 sigma). A release is never before the arrival.
// Packets are released in the order of their release times (ties in arrival order), so a jitter
// larger than the gap between two packets reorders them, as netem's time-sorted queue does; with no
// jitter and no reorder the order is always kept.
//
// Nothing here bounds how many packets are held: the daemon does (past its bounds it lets packets
// through unjudged rather than dropping them).
#pragma once
#include <cstdint>
#include <optional>
#include <queue>
#include <string>
#include <vector>

namespace mq::fault {

struct NetemConfig {
  enum class Distribution { uniform, normal };
  int64_t delay_us = 0;
  int64_t jitter_us = 0;
  Distribution distribution = Distribution::uniform;
  double loss_pct = 0;     // 0..100
  double reorder_pct = 0;  // 0..100
  uint64_t seed = 1;
};

struct NetemStats {
  uint64_t seen = 0;
  uint64_t dropped = 0;
  uint64_t delayed = 0;    // released later than they arrived
  uint64_t reordered = 0;  // released before a packet that arrived earlier
  uint64_t released = 0;
};

// splitmix64: small, fast, and the same numbers everywhere for a given seed.
class NetemRandom {
 public:
  explicit NetemRandom(uint64_t seed) : state_(seed) {}
  uint64_t next();
  double uniform01();  // [0, 1)
  double normal();     // mean 0, standard deviation 1 (Box-Muller)

 private:
  uint64_t state_;
  std::optional<double> spare_;
};

class NetemScheduler {
 public:
  struct Decision {
    bool drop = false;
    int64_t release_us = 0;
    bool reordered = false;
  };

  explicit NetemScheduler(const NetemConfig& config);

  // A packet arrived at `arrival_us`; `id` is the caller's handle for it (the NFQUEUE packet id).
  // Unless dropped, it is held until due() returns it. Arrival times must not go backwards.
  Decision offer(uint64_t id, int64_t arrival_us);
  // Takes every held packet whose release time is <= now_us, in release order.
  std::vector<uint64_t> due(int64_t now_us);
  // Takes everything still held, in release order (shutting down: let it all through).
  std::vector<uint64_t> drain();
  // The earliest release time among held packets.
  std::optional<int64_t> next_release_us() const;
  size_t held() const { return held_.size(); }
  const NetemStats& stats() const { return stats_; }
  const NetemConfig& config() const { return config_; }

 private:
  struct Held {
    int64_t release_us;
    uint64_t order;  // arrival order, breaks ties
    uint64_t id;
    bool operator>(const Held& o) const {
      return release_us != o.release_us ? release_us > o.release_us : order > o.order;
    }
  };
  int64_t draw_delay_us();

  NetemConfig config_;
  NetemRandom random_;
  std::priority_queue<Held, std::vector<Held>, std::greater<Held>> held_;
  uint64_t arrivals_ = 0;
  int64_t latest_release_us_ = INT64_MIN;  // over every packet scheduled so far
  NetemStats stats_;
};

// "seen=.. dropped=.. delayed=.. reordered=.. released=.." (the daemon's summary line).
std::string to_string(const NetemStats& stats);

}  // namespace mq::fault
