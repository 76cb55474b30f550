// Send throughput of a controller-mode broker-set next to a classic SYNC_MASTER + SLAVE pair, in
// one run on one machine, with real processes:
//   (a) controller mode: three `mqcontroller`s and a broker-set of two controller-mode brokers
//       (master + slave, each in its own container), allAckInSyncStateSet=true: a send is
//       acknowledged once both members of the SyncStateSet have it;
//   (b) SYNC_MASTER + SLAVE (brokerId 0 and 1, each in its own container): a send is acknowledged
//       once the slave has it.
// Both ASYNC_FLUSH, one NameServer for both (separate clusters and topics), the same body size,
// client concurrency and duration. The load is the Java benchmark's shape as `mqbench producer`
// makes it: one SharedProducer (the client library's, one connection per broker) used by
// --threads threads, each sending synchronously one message after another; only SEND_OK counts
// (any other status or failure is counted apart). Each measurement starts a fresh producer, sends
// --warmup seconds unmeasured, then --duration seconds measured: sends/s, latency from the send
// call to its answer (p50 / p99 / max), and the CPU time (user + system, from /proc) that the
// master, the slave, the controllers and this client process spent per acknowledged send.
//
//   controller_tps [--threads 8] [--body 1024] [--duration 20] [--warmup 2] [--queues 8] [--repeats 1]
//                  [--mapped-file-mb 128]
//
// --repeats N measures (a) then (b), then (b) then (a), ... N times each, alternating who goes first
// (the machine is shared; one pair says little). Prints one row per measurement, the ratio of each
// pair, the median ratio, the settings, and the command line that reproduces the run. Before and
// after every controller-mode measurement the slave must be in the SyncStateSet (otherwise all-ack
// would mean the master alone); the row says if it was not.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench/broker/latency_histogram.h"
#include "client/shared_producer.h"
#include "controller_bench.h"

using namespace mq;
using namespace mq::bench;
using namespace mq::test;
using namespace std::chrono_literals;

namespace {

// utime + stime of a process, in microseconds (/proc/<pid>/stat fields 14 and 15).
int64_t cpu_us(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t paren = text.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream fields(text.substr(paren + 2));
  std::string f;
  int64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::stoll(f);
    if (i == 15) stime = std::stoll(f);
  }
  return (utime + stime) * 1'000'000 / ::sysconf(_SC_CLK_TCK);
}

struct Row {
  std::string setup;
  double sends_per_s = 0;
  double master_cpu_us = 0, slave_cpu_us = 0, controllers_cpu_us = 0, client_cpu_us = 0;  // per send
  Percentiles latency;
  uint64_t other_status = 0;  // FLUSH_SLAVE_TIMEOUT, SLAVE_NOT_AVAILABLE, ...
  uint64_t failed = 0;
  std::string note;
};

struct ThreadStats {
  LatencyHistogram hist;
  std::atomic<uint64_t> ok{0}, other_status{0}, failed{0};
};

struct Totals {
  std::vector<uint64_t> hist;
  uint64_t ok = 0, other_status = 0, failed = 0;
};

Totals totals(const std::vector<std::unique_ptr<ThreadStats>>& stats) {
  Totals t;
  for (const auto& s : stats) {
    s->hist.add_to(t.hist);
    t.ok += s->ok.load();
    t.other_status += s->other_status.load();
    t.failed += s->failed.load();
  }
  return t;
}

// `pids`: master, slave, then any controllers; their CPU time over the measured seconds is
// reported per acknowledged send, next to this process's own (the client).
Row measure(const std::string& setup, const std::string& namesrv, const std::string& topic, int threads, size_t body,
            int64_t warmup_s, int64_t duration_s, const std::vector<int>& pids) {
  auto cpu_now = [&] {
    std::vector<int64_t> v;
    for (int pid : pids) v.push_back(cpu_us(pid));
    v.push_back(cpu_us(::getpid()));
    return v;
  };
  ProducerOptions o;
  o.name_servers = namesrv;
  o.group = "ctl_tps_producer";
  SharedProducer producer(o, Logger().with_prefix("[tps]"));
  std::atomic<bool> stop{false};
  std::vector<std::unique_ptr<ThreadStats>> stats;
  for (int i = 0; i < threads; ++i) stats.push_back(std::make_unique<ThreadStats>());
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i)
    pool.emplace_back([&, i] {
      ThreadStats& st = *stats[static_cast<size_t>(i)];
      Message m;
      m.topic = topic;
      m.body = std::string(body, static_cast<char>('a' + i % 26));
      while (!stop.load(std::memory_order_relaxed)) {
        const auto t0 = Clock::now();
        auto r = producer.send(m);
        const auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
        if (r.ok() && r->status == SendStatus::kSendOk) {
          st.hist.record(static_cast<uint64_t>(us));
          st.ok.fetch_add(1, std::memory_order_relaxed);
        } else if (r.ok()) {
          st.other_status.fetch_add(1, std::memory_order_relaxed);
        } else {
          st.failed.fetch_add(1, std::memory_order_relaxed);
          std::this_thread::sleep_for(50ms);
        }
      }
    });
  std::this_thread::sleep_for(std::chrono::seconds(warmup_s));
  const Totals a = totals(stats);
  const auto cpu_a = cpu_now();
  const auto t_a = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(duration_s));
  const Totals b = totals(stats);
  const auto cpu_b = cpu_now();
  const auto t_b = Clock::now();
  stop = true;
  for (auto& t : pool) t.join();
  Row row;
  row.setup = setup;
  std::vector<uint64_t> hist(b.hist.size());
  for (size_t i = 0; i < hist.size(); ++i) hist[i] = b.hist[i] - (i < a.hist.size() ? a.hist[i] : 0);
  row.latency = percentiles(hist);
  row.sends_per_s = static_cast<double>(b.ok - a.ok) / std::chrono::duration<double>(t_b - t_a).count();
  row.other_status = b.other_status - a.other_status;
  row.failed = b.failed - a.failed;
  const double sends = static_cast<double>(std::max<uint64_t>(1, b.ok - a.ok));
  row.master_cpu_us = static_cast<double>(cpu_b[0] - cpu_a[0]) / sends;
  row.slave_cpu_us = static_cast<double>(cpu_b[1] - cpu_a[1]) / sends;
  for (size_t i = 2; i + 1 < cpu_b.size(); ++i) row.controllers_cpu_us += static_cast<double>(cpu_b[i] - cpu_a[i]) / sends;
  row.client_cpu_us = static_cast<double>(cpu_b.back() - cpu_a.back()) / sends;
  return row;
}

void print_row(const Row& r) {
  std::printf("| %s | %.0f | %.3f | %.3f | %.3f | %llu | %llu | %.1f / %.1f / %.1f / %.1f |%s\n", r.setup.c_str(),
              r.sends_per_s, r.latency.p50_ms, r.latency.p99_ms, r.latency.max_ms,
              static_cast<unsigned long long>(r.other_status), static_cast<unsigned long long>(r.failed), r.master_cpu_us,
              r.slave_cpu_us, r.controllers_cpu_us, r.client_cpu_us, r.note.empty() ? "" : (" " + r.note).c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags(argc, argv,
              {{"threads", "8"}, {"body", "1024"}, {"duration", "20"}, {"warmup", "2"}, {"queues", "8"},
               {"repeats", "1"}, {"mapped-file-mb", "128"}},
              "controller_tps [--threads N] [--body BYTES] [--duration S] [--warmup S] [--queues N] [--repeats N] "
              "[--mapped-file-mb MB]");
  const int threads = static_cast<int>(flags.num("threads"));
  const size_t body = static_cast<size_t>(flags.num("body"));
  const int queues = static_cast<int>(flags.num("queues"));
  const int64_t mapped = flags.num("mapped-file-mb") * 1024 * 1024;
  std::printf("command: %s\n", flags.command().c_str());
  std::printf("load average at start: %s\n", load_average().c_str());

  ControllerModeTimings timings;
  ControllerCluster controllers(3, timings.controller_keys());
  if (!controllers.start_all()) {
    std::fprintf(stderr, "a controller did not start:\n%s\n", controllers.output_of_all().c_str());
    return 1;
  }
  NamesrvProcess ns;
  TempDir dir;
  const std::string ctl_keys = timings.broker_keys(controllers.addr_list());
  BrokerSet ctl(ns.addr(), dir, "CtlTpsCluster", "ctl-a", {"SYNC_MASTER", "SLAVE"}, "ASYNC_FLUSH", ctl_keys, mapped);
  BrokerSet sm(ns.addr(), dir, "SmTpsCluster", "sm-a", {"SYNC_MASTER", "SLAVE"}, "ASYNC_FLUSH", "", mapped);
  auto die = [&](const std::string& why) {
    std::fprintf(stderr, "%s\n%s%s%s\n", why.c_str(), ctl.output().c_str(), sm.output().c_str(),
                 controllers.output_of_all().c_str());
    return 1;
  };
  if (!ctl.start_all() || !sm.start_all()) return die("a container did not start");
  std::printf("controller-mode broker keys: %s\n", one_line(ctl_keys).c_str());

  AdminClient admin(ns.addr(), 3000);
  auto ctl_in_sync = [&] {
    auto v = controller_view(admin, controllers, ctl);
    return v && v->master >= 0 && v->in_sync.size() == 2 && ctl.namesrv_master(admin) == v->master;
  };
  if (!wait_until(ctl_in_sync, 60s)) return die("controller mode: no master with both members in sync within 60 s");
  if (!wait_until([&] { return sm.namesrv_master(admin) == 0; }, 30s)) return die("SYNC_MASTER not registered");
  const std::string ctl_topic = "CtlTpsTopic", sm_topic = "SmTpsTopic";
  for (auto [set, topic] : {std::pair{&ctl, ctl_topic}, std::pair{&sm, sm_topic}}) {
    TopicConfig tc;
    tc.topic_name = topic;
    tc.read_queue_nums = tc.write_queue_nums = queues;
    auto m = admin.master_addr_of_broker(set->broker_name);
    if (!m.ok()) return die("no master of " + set->broker_name);
    if (auto r = admin.create_topic(*m, tc); !r.ok()) return die("cannot create " + topic + ": " + r.detail());
    if (!wait_until([&] { return admin.get_route(topic).ok(); }, 20s)) return die(topic + " has no route");
  }
  // Both masters must take a SEND_OK (the slave connected and caught up), not SLAVE_NOT_AVAILABLE.
  {
    ProducerOptions o;
    o.name_servers = ns.addr();
    o.group = "ctl_tps_ready";
    SharedProducer p(o);
    for (const auto& topic : {ctl_topic, sm_topic}) {
      Message m;
      m.topic = topic;
      m.body = "ready";
      if (!wait_until([&] {
            auto r = p.send(m);
            return r.ok() && r->status == SendStatus::kSendOk;
          }, 60s))
        return die("no SEND_OK on " + topic + " within 60 s");
    }
  }

  const int64_t warmup = flags.num("warmup"), duration = flags.num("duration");
  const std::string ctl_name = "controller mode, master + slave, allAckInSyncStateSet=true";
  const std::string sm_name = "SYNC_MASTER + SLAVE";
  std::printf("\n%d sender threads on one shared producer, %zu-byte bodies, %d queues, ASYNC_FLUSH, %lld s warm-up + "
              "%lld s measured each, every broker in its own container\n\n",
              threads, body, queues, static_cast<long long>(warmup), static_cast<long long>(duration));
  std::printf("| setup | sends/s | p50 ms | p99 ms | max ms | other status | failed | CPU us/send: master / slave / "
              "controllers / client |\n|---|---|---|---|---|---|---|---|\n");
  std::vector<double> ratios;
  for (int rep = 0; rep < flags.num("repeats"); ++rep) {
    Row ctl_row, sm_row;
    for (int k = 0; k < 2; ++k) {
      const bool do_ctl = (k == 0) == (rep % 2 == 0);
      std::vector<ChildProcess*> procs{&ns.proc};
      for (auto* set : {&ctl, &sm})
        for (auto& n : set->nodes) procs.push_back(&n->proc());
      for (size_t i = 0; i < controllers.size(); ++i) procs.push_back(&controllers.proc(i));
      drain_output(procs);
      if (do_ctl) {
        const bool before = ctl_in_sync();
        const auto v = controller_view(admin, controllers, ctl);
        if (!v || v->master < 0) return die("controller mode: no master before the run");
        std::vector<int> pids{ctl.nodes[static_cast<size_t>(v->master)]->proc().pid(),
                              ctl.nodes[static_cast<size_t>(1 - v->master)]->proc().pid()};
        for (size_t i = 0; i < controllers.size(); ++i) pids.push_back(controllers.proc(i).pid());
        ctl_row = measure(ctl_name, ns.addr(), ctl_topic, threads, body, warmup, duration, pids);
        const bool after = ctl_in_sync();
        if (!before || !after)
          ctl_row.note = std::string("(slave NOT in the SyncStateSet ") + (before ? "after" : "before") + " the run)";
        print_row(ctl_row);
      } else {
        sm_row = measure(sm_name, ns.addr(), sm_topic, threads, body, warmup, duration,
                         {sm.nodes[0]->proc().pid(), sm.nodes[1]->proc().pid()});
        print_row(sm_row);
      }
    }
    if (sm_row.sends_per_s > 0) ratios.push_back(ctl_row.sends_per_s / sm_row.sends_per_s);
  }
  std::printf("\ncontroller mode / SYNC_MASTER sends/s:");
  for (double r : ratios) std::printf(" %.2f", r);
  if (!ratios.empty()) {
    std::vector<double> sorted = ratios;
    std::sort(sorted.begin(), sorted.end());
    std::printf(" (median %.2f)", sorted[sorted.size() / 2]);
  }
  std::printf("\nload average at end: %s\nreproduce: %s\n", load_average().c_str(), flags.command().c_str());
  for (auto& n : ctl.nodes) n->stop();
  for (auto& n : sm.nodes) n->stop();
  return 0;
}
