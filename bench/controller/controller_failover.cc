// Failover of a controller-mode broker-set (RocketMQ 5.x automatic failover) under a steady send
// load, with real processes: three `mqcontroller`s, a NameServer and three controller-mode brokers
// of one broker-set (`broker-a`), each in its own container, allAckInSyncStateSet=true.
//
//   controller_failover [--rounds 8] [--stop-rounds 8] [--body 128] [--flush ASYNC_FLUSH] [--queues 4]
//                       [--heartbeat-interval-ms 200] [--heartbeat-timeout-ms 3000] [--scan-ms 1000]
//                       [--route-poll-ms 5] [--register-period-ms 2000] [--stop-hold-ms 0] [--keep-logs DIR]
//   (MQ_BIN_DIR=dir: mqcontroller, mqnamesrv and mqbrokercontainer from there instead of build/bin)
//
// It waits for a master and a full SyncStateSet, starts the integration tests' Sender (one thread,
// one synchronous send after another, to whichever member takes it: a slave refuses at once, a
// dead master refuses the connection), then:
//  * kill rounds: kill -9 of the current master; the figure is the time from the signal to the
//    first send another member acknowledges. The killed member is restarted on its store and the
//    round ends when it is back in the SyncStateSet.
//  * stop rounds: SIGSTOP of the master (connections stay open: only the heartbeat timeout plus a
//    scan can tell). The load's sender, like any client, waits out its 3 s send timeout on the
//    frozen master, so the other members are probed directly with 200 ms sends; the figure is the
//    time from the signal to the first probe the new master acknowledges. Then SIGCONT (once the
//    new master took a send and the route names it, or 5 s later; --stop-hold-ms keeps it frozen at
//    least that long after the signal: a long freeze), and the round ends when the old master is
//    back in the SyncStateSet.
// A second thread polls the NameServer's route of the topic every --route-poll-ms and records what
// it names as broker-a's master (brokerId 0); per round (from the signal until the route names the
// new master after the old one rejoined) it reports how long the route named no master, how long
// it named the failed one, and the timeline of changes ("m0 +0, none +7, m2 +19": member, ms after
// the signal). After every round every
// acknowledged message (the load's and the probes') must be readable on the current master at the
// queue offset it was acknowledged with: "lost" counts those that are not (missing, or another
// body at that offset); it must be 0. Prints every sample, min / median / max per fault kind, the
// settings, and the command line that reproduces the run. --heartbeat-timeout-ms and --scan-ms
// bound the SIGSTOP figures (the controller notices a frozen master after the heartbeat timeout
// plus up to one scan). --keep-logs writes every process's output there at the end (or on a
// failure). Exit status: 0, 1 when a round could not complete, 3 when an acknowledged message was
// lost.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "codec/codes.h"
#include "controller_bench.h"
#include "dledger_cluster.h"

using namespace mq;
using namespace mq::bench;
using namespace mq::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* kBrokerName = "broker-a";
constexpr const char* kCluster = "CtlBenchCluster";
constexpr const char* kTopic = "CtlFailoverBench";

// What the NameServer's route names as the master of one broker-set, recorded at every change.
class RoutePoller {
 public:
  static constexpr const char* kUnanswered = "?";

  RoutePoller(std::string namesrv, std::string topic, std::string broker_name, int64_t poll_ms)
      : namesrv_(std::move(namesrv)), topic_(std::move(topic)), broker_name_(std::move(broker_name)), poll_ms_(poll_ms) {
    thread_ = std::thread([this] { run(); });
  }
  ~RoutePoller() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  uint64_t polls() const { return polls_.load(); }

  // How [from, to) divides between what the route named, for a round whose failed master is `old`.
  struct Window {
    int64_t no_master_ms = 0;    // no brokerId 0 for the set (or the set absent)
    int64_t old_master_ms = 0;   // still (or again) the failed master
    int64_t unanswered_ms = 0;   // the NameServer did not answer
    int64_t new_master_at_ms = -1;  // first time it named another master, from `from`
    int changes = 0;
  };
  Window window(Clock::time_point from, Clock::time_point to, const std::string& old) {
    std::lock_guard g(mu_);
    Window w;
    std::string state = kUnanswered;
    Clock::time_point at = from;
    auto account = [&](Clock::time_point until) {
      const int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(until - at).count();
      if (state.empty()) w.no_master_ms += us;
      else if (state == old) w.old_master_ms += us;
      else if (state == kUnanswered) w.unanswered_ms += us;
      else if (w.new_master_at_ms < 0) w.new_master_at_ms = ms_between(from, at);
      at = until;
    };
    for (const auto& [t, m] : changes_) {
      if (t <= from) {
        state = m;
        continue;
      }
      if (t >= to) break;
      account(t);
      state = m;
      ++w.changes;
    }
    account(to);
    w.no_master_ms /= 1000;
    w.old_master_ms /= 1000;
    w.unanswered_ms /= 1000;
    return w;
  }
  // What the route named at `from` and each change up to `to`: "m0 +0, none +13, m2 +24" (member
  // by index in `addrs`, ms after `from`).
  std::string timeline(Clock::time_point from, Clock::time_point to, const std::vector<std::string>& addrs) {
    std::lock_guard g(mu_);
    auto label = [&](const std::string& m) -> std::string {
      if (m.empty()) return "none";
      for (size_t i = 0; i < addrs.size(); ++i)
        if (addrs[i] == m) return "m" + std::to_string(i);
      return m;
    };
    std::string state = kUnanswered, out;
    for (const auto& [t, m] : changes_) {
      if (t <= from) {
        state = m;
        continue;
      }
      if (t >= to) break;
      if (out.empty()) out = label(state) + " +0";
      out += ", " + label(m) + " +" + std::to_string(ms_between(from, t));
    }
    return out.empty() ? label(state) + " +0" : out;
  }
  // Whether the route names `addr` as the master now.
  bool names(const std::string& addr) {
    std::lock_guard g(mu_);
    return !changes_.empty() && changes_.back().second == addr;
  }
  // Whether a master other than `old` is named now.
  bool names_other_than(const std::string& old) {
    std::lock_guard g(mu_);
    return !changes_.empty() && !changes_.back().second.empty() && changes_.back().second != old &&
           changes_.back().second != kUnanswered;
  }

 private:
  void run() {
    AdminClient admin(namesrv_, 1000);
    while (!stop_) {
      const auto sent = Clock::now();
      auto r = admin.get_route(topic_);
      const auto got = Clock::now();
      std::string master = kUnanswered;
      if (r.ok()) {
        master.clear();
        for (const auto& b : r->broker_datas)
          if (b.broker_name == broker_name_ && b.broker_addrs.count(0)) master = b.broker_addrs.at(0);
      } else if (r.error().code.kind == ClientError::kResponse) {
        master.clear();  // answered: no route for the topic (no broker of it registered)
      }
      ++polls_;
      {
        std::lock_guard g(mu_);
        if (changes_.empty() || changes_.back().second != master) changes_.emplace_back(sent + (got - sent) / 2, master);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms_));
    }
  }

  std::string namesrv_, topic_, broker_name_;
  int64_t poll_ms_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> polls_{0};
  std::mutex mu_;
  std::vector<std::pair<Clock::time_point, std::string>> changes_;
  std::thread thread_;
};

struct LossCheck {
  size_t checked = 0, missing = 0, moved = 0;
  size_t lost() const { return missing + moved; }
};

// Reads every queue of the topic on `addr` from offset 0 and looks up each acknowledgement.
LossCheck check_acked(const std::string& addr, int queues, const std::vector<Ack>& acks) {
  std::vector<std::unordered_map<int64_t, size_t>> wanted(static_cast<size_t>(queues));  // offset -> ack index
  for (size_t i = 0; i < acks.size(); ++i)
    if (acks[i].queue_id >= 0 && acks[i].queue_id < queues)
      wanted[static_cast<size_t>(acks[i].queue_id)][acks[i].queue_offset] = i;
  std::vector<char> state(acks.size(), 0);  // 0 missing, 1 found, 2 another body there
  BlockingClient c;
  for (int32_t q = 0; q < queues; ++q) {
    int64_t offset = 0;
    for (int guard = 0; guard < 1'000'000; ++guard) {
      auto p = pull_messages(c, addr, "ctl-bench-check", kTopic, q, offset, 32);
      if (p.code != response_code::kSuccess || p.records.empty()) break;
      for (const auto& rec : p.records) {
        auto it = wanted[static_cast<size_t>(q)].find(rec.queue_offset);
        if (it != wanted[static_cast<size_t>(q)].end()) state[it->second] = rec.body == acks[it->second].body ? 1 : 2;
      }
      offset = p.next_begin_offset;
    }
  }
  LossCheck out;
  out.checked = acks.size();
  for (char s : state) {
    if (s == 0) ++out.missing;
    if (s == 2) ++out.moved;
  }
  return out;
}

// --keep-logs DIR: every process's output, for a look at what happened in a round.
// `earlier`: each member's output before its restarts.
void keep_logs(const std::string& dir, BrokerSet& set, const std::vector<std::string>& earlier,
               ControllerCluster& controllers, NamesrvProcess& ns) {
  if (dir.empty()) return;
  std::vector<ChildProcess*> procs{&ns.proc};
  for (auto& n : set.nodes) procs.push_back(&n->proc());
  for (size_t i = 0; i < controllers.size(); ++i) procs.push_back(&controllers.proc(i));
  drain_output(procs);
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir + "/" + name) << text;
  };
  for (size_t i = 0; i < set.nodes.size(); ++i)
    write("broker-m" + std::to_string(i) + ".log", earlier[i] + set.nodes[i]->proc().output());
  for (size_t i = 0; i < controllers.size(); ++i)
    write("controller-n" + std::to_string(i) + ".log", controllers.proc(i).output());
  write("namesrv.log", ns.proc.output());
}

int fail(const std::string& why, BrokerSet& set, ControllerCluster& controllers) {
  std::fprintf(stderr, "%s\n%s%s\n", why.c_str(), set.output().c_str(), controllers.output_of_all().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags(argc, argv,
              {{"rounds", "8"}, {"stop-rounds", "8"}, {"body", "128"}, {"flush", "ASYNC_FLUSH"}, {"queues", "4"},
               {"heartbeat-interval-ms", "200"}, {"heartbeat-timeout-ms", "3000"}, {"scan-ms", "1000"},
               {"route-poll-ms", "5"}, {"keep-logs", ""}, {"register-period-ms", "2000"}, {"stop-hold-ms", "0"}},
              "controller_failover [--rounds N] [--stop-rounds N] [--body BYTES] [--flush ASYNC_FLUSH|SYNC_FLUSH] "
              "[--queues N] [--heartbeat-interval-ms MS] [--heartbeat-timeout-ms MS] [--scan-ms MS] "
              "[--route-poll-ms MS] [--register-period-ms MS] [--stop-hold-ms MS] [--keep-logs DIR]");
  const int rounds = static_cast<int>(flags.num("rounds"));
  const int stop_rounds = static_cast<int>(flags.num("stop-rounds"));
  const size_t body = static_cast<size_t>(flags.num("body"));
  const int queues = static_cast<int>(flags.num("queues"));
  ControllerModeTimings timings;
  timings.broker_heartbeat_interval_ms = flags.num("heartbeat-interval-ms");
  timings.controller_heartbeat_timeout_ms = flags.num("heartbeat-timeout-ms");
  timings.scan_interval_ms = flags.num("scan-ms");
  timings.register_period_ms = flags.num("register-period-ms");

  std::printf("command: %s\n", flags.command().c_str());
  std::printf("load average at start: %s\n", load_average().c_str());
  ControllerCluster controllers(3, timings.controller_keys());
  if (!controllers.start_all()) {
    std::fprintf(stderr, "a controller did not start:\n%s\n", controllers.output_of_all().c_str());
    return 1;
  }
  NamesrvProcess ns;
  TempDir dir;
  const std::string keys = timings.broker_keys(controllers.addr_list());
  std::printf("controller keys: %s (and controllerElectionTimeoutMs/controllerHeartbeatIntervalMs defaults)\n",
              one_line(timings.controller_keys()).c_str());
  std::printf("broker keys: %s\n", one_line(keys).c_str());
  BrokerSet set(ns.addr(), dir, kCluster, kBrokerName, {"SYNC_MASTER", "SLAVE", "SLAVE"}, flags.str("flush"), keys);
  std::vector<std::string> earlier_output(set.nodes.size());
  auto die = [&](const std::string& why) {
    keep_logs(flags.str("keep-logs"), set, earlier_output, controllers, ns);
    return fail(why, set, controllers);
  };
  if (!set.start_all()) return die("a container did not start");
  AdminClient admin(ns.addr(), 3000);
  auto last_drain = Clock::now();
  auto drain_if_due = [&] {
    if (Clock::now() - last_drain < 500ms) return;
    std::vector<ChildProcess*> procs{&ns.proc};
    for (auto& n : set.nodes) procs.push_back(&n->proc());
    for (size_t i = 0; i < controllers.size(); ++i) procs.push_back(&controllers.proc(i));
    drain_output(procs);
    last_drain = Clock::now();
  };
  auto steady = [&](int& master, std::chrono::milliseconds timeout) {
    // The controller's master, named by the NameServer too, with every member in sync.
    return wait_until([&] {
      drain_if_due();
      auto v = controller_view(admin, controllers, set);
      if (!v || v->master < 0 || v->in_sync.size() != set.nodes.size()) return false;
      master = v->master;
      return set.namesrv_master(admin) == master;
    }, timeout);
  };
  int master = -1;
  if (!steady(master, 60s)) return die("no master with a full SyncStateSet within 60 s");
  TopicConfig tc;
  tc.topic_name = kTopic;
  tc.read_queue_nums = tc.write_queue_nums = queues;
  if (auto r = admin.create_topic(set.nodes[static_cast<size_t>(master)]->broker_addr(0), tc); !r.ok())
    return die("cannot create the topic: " + r.detail());
  if (!wait_until([&] { return admin.get_route(kTopic).ok(); }, 20s))
    return die("the topic has no route");

  RoutePoller poller(ns.addr(), kTopic, kBrokerName, flags.num("route-poll-ms"));
  Sender sender(set.addrs(), kTopic, queues, body);
  std::vector<Ack> probe_acks;
  std::vector<int64_t> kill_ms, stop_ms, kill_no_master_ms, stop_no_master_ms, kill_old_ms, stop_old_ms, kill_rejoin_ms,
      stop_rejoin_ms, stop_load_ms;
  size_t lost_total = 0;
  const auto run_start = Clock::now();
  for (int r = 0; r < rounds + stop_rounds; ++r) {
    const bool kill = r < rounds;
    if (!steady(master, 60s)) return die("no steady master before round " + std::to_string(r));
    const size_t before = sender.acked();
    if (!wait_until([&] {
          drain_if_due();
          return sender.acked() >= before + 500;
        }, 60s))
      return die("sends stalled before round " + std::to_string(r));
    const int old_index = master;
    const std::string old_addr = set.nodes[static_cast<size_t>(master)]->broker_addr(0);
    auto& victim = *set.nodes[static_cast<size_t>(master)];
    const auto t0 = Clock::now();
    int64_t ms = -1;
    Clock::time_point back_at;  // restart or SIGCONT
    if (kill) {
      victim.kill9();
      if (!wait_until([&] { return sender.first_ack_after(t0, static_cast<size_t>(master)).has_value(); }, 30s))
        return die("no other member acknowledged a send within 30 s of round " + std::to_string(r));
      ms = ms_between(t0, *sender.first_ack_after(t0, static_cast<size_t>(master)));
      wait_until([&] { return poller.names_other_than(old_addr); }, 10s);
      back_at = Clock::now();
      earlier_output[static_cast<size_t>(old_index)] += victim.proc().output() + "\n--- killed and restarted ---\n";
      if (!victim.start()) return die("restart failed in round " + std::to_string(r));
    } else {
      victim.proc().signal(SIGSTOP);
      BlockingClient probe;
      for (int i = 0; ms < 0 && Clock::now() - t0 < 30s; ++i) {
        const size_t m = static_cast<size_t>(master + 1 + i % 2) % set.nodes.size();
        std::string text = "probe-" + std::to_string(r) + "-" + std::to_string(i) + "-";
        text.append(body > text.size() ? body - text.size() : 0, 'p');
        auto s = send_message(probe, set.nodes[m]->broker_addr(0), kTopic, i % queues, text, "", 200);
        if (s.code == response_code::kSuccess) {
          ms = ms_between(t0, Clock::now());
          probe_acks.push_back(Ack{text, s.queue_id, s.queue_offset, offset_of_msg_id(s.msg_id)});
        } else if (i % 2 == 1) {
          std::this_thread::sleep_for(2ms);
        }
      }
      if (ms >= 0) wait_until([&] { return poller.names_other_than(old_addr); }, 5s);
      std::this_thread::sleep_until(t0 + std::chrono::milliseconds(flags.num("stop-hold-ms")));
      back_at = Clock::now();
      victim.proc().signal(SIGCONT);
      if (ms < 0) return die("no other member acknowledged a probe within 30 s of round " + std::to_string(r));
    }
    int next = -1;
    const bool rejoined = wait_until([&] {
      drain_if_due();
      auto v = controller_view(admin, controllers, set);
      if (!v || v->master < 0 || v->master == old_index || v->in_sync.size() != set.nodes.size()) return false;
      next = v->master;
      return true;
    }, 90s);
    const auto t_rejoined = Clock::now();
    if (!rejoined || next < 0)
      return die("round " + std::to_string(r) + ": the old master did not rejoin the SyncStateSet within 90 s");
    // The round's route window ends once the route names the new master again (it may have lost it
    // while the old one came back), at most 60 s after the rejoin.
    const std::string next_addr = set.nodes[static_cast<size_t>(next)]->broker_addr(0);
    wait_until([&] { return poller.names(next_addr); }, 60s);
    const auto t_end = Clock::now() + 2 * std::chrono::milliseconds(flags.num("route-poll-ms")) + 2ms;
    std::this_thread::sleep_until(t_end);
    const auto w = poller.window(t0, t_end, old_addr);
    const std::string timeline = poller.timeline(t0, t_end, set.addrs());
    const int64_t rejoin = ms_between(back_at, t_rejoined);
    std::vector<Ack> acks = sender.acks();
    acks.insert(acks.end(), probe_acks.begin(), probe_acks.end());
    LossCheck loss = check_acked(next_addr, queues, acks);
    if (loss.lost() > 0) {  // a dispatch still under way is not a loss: look again
      std::this_thread::sleep_for(1s);
      loss = check_acked(next_addr, queues, acks);
    }
    lost_total = std::max(lost_total, loss.lost());
    if (kill) {
      kill_ms.push_back(ms);
      kill_no_master_ms.push_back(w.no_master_ms);
      kill_old_ms.push_back(w.old_master_ms);
      kill_rejoin_ms.push_back(rejoin);
    } else {
      stop_ms.push_back(ms);
      stop_no_master_ms.push_back(w.no_master_ms);
      stop_old_ms.push_back(w.old_master_ms);
      stop_rejoin_ms.push_back(rejoin);
      auto load = sender.first_ack_after(t0, static_cast<size_t>(old_index));
      stop_load_ms.push_back(load ? ms_between(t0, *load) : -1);
    }
    std::printf("round %d: %s of master m%d -> new master m%d, first send acknowledged by another member after "
                "%lld ms; route: no master %lld ms, failed master %lld ms, new master at %lld ms, %d changes%s (%s; %s "
                "at +%lld); %s %lld ms; lost %zu of %zu acknowledged (missing %zu, other body %zu)\n",
                r, kill ? "kill -9" : "SIGSTOP", old_index, next, static_cast<long long>(ms),
                static_cast<long long>(w.no_master_ms), static_cast<long long>(w.old_master_ms),
                static_cast<long long>(w.new_master_at_ms), w.changes,
                w.unanswered_ms > 0 ? (", unanswered " + std::to_string(w.unanswered_ms) + " ms").c_str() : "",
                timeline.c_str(), kill ? "restart" : "SIGCONT", static_cast<long long>(ms_between(t0, back_at)),
                kill ? "restart to back in SyncStateSet" : "SIGCONT to back in SyncStateSet", static_cast<long long>(rejoin),
                loss.lost(), loss.checked, loss.missing, loss.moved);
    std::fflush(stdout);
    master = next;
  }
  sender.stop();
  poller.stop();
  const double run_s = std::chrono::duration<double>(Clock::now() - run_start).count();
  std::printf("\ncontroller-mode failover: 3 controllers, broker-set of 3 (one per container) on this machine, "
              "allAckInSyncStateSet=true, %s, %zu-byte bodies, %zu sends acknowledged in %.0f s, route polled every %lld ms "
              "(%llu polls)\n",
              flags.str("flush").c_str(), body, sender.acked(), run_s, static_cast<long long>(flags.num("route-poll-ms")),
              static_cast<unsigned long long>(poller.polls()));
  std::printf("settings: brokerHeartbeatInterval=%lld controllerHeartBeatTimeoutMills=%lld scanNotActiveBrokerInterval=%lld "
              "scanInactiveMasterInterval=%lld registerNameServerPeriod=%lld\n",
              static_cast<long long>(timings.broker_heartbeat_interval_ms),
              static_cast<long long>(timings.controller_heartbeat_timeout_ms),
              static_cast<long long>(timings.scan_interval_ms), static_cast<long long>(timings.scan_interval_ms),
              static_cast<long long>(timings.register_period_ms));
  summary("kill -9 of the master, to the first send another member acknowledged", kill_ms);
  summary("kill -9: route named no master for", kill_no_master_ms);
  summary("kill -9: route still named the killed master for", kill_old_ms);
  summary("kill -9: restart to back in the SyncStateSet", kill_rejoin_ms);
  summary("SIGSTOP of the master, to the first probe another member acknowledged", stop_ms);
  summary("SIGSTOP: the load's own sender first acknowledged by another member (its 3 s send timeout or the SIGCONT "
          "ends its wait on the frozen master)",
          stop_load_ms);
  summary("SIGSTOP: route named no master for", stop_no_master_ms);
  summary("SIGSTOP: route named the frozen master for", stop_old_ms);
  summary("SIGSTOP: SIGCONT to back in the SyncStateSet", stop_rejoin_ms);
  std::printf("lost acknowledged messages (largest count over the rounds' checks): %zu\n", lost_total);
  std::printf("reproduce: %s\n", flags.command().c_str());
  keep_logs(flags.str("keep-logs"), set, earlier_output, controllers, ns);
  for (auto& n : set.nodes) n->stop();
  return lost_total == 0 ? 0 : 3;
}
