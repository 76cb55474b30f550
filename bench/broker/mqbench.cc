// mqbench: a benchmark producer and consumer modelled on RocketMQ's example/benchmark Producer and
// Consumer (same flags where they exist), plus two probes of the machine's limits.
//
//   mqbench producer -n ns -t topic [-w threads] [-s bytes] [--window N] [--batch N] [--duration s]
//                    [--producer-per-thread]
//   mqbench consumer -n ns -t topic [-g group] [-e expr] [--duration s] [--expect N] [--idle-exit s]
//                    [--give-up s] [--from-first]
//     --idle-exit: stop after s seconds without a message once some arrived (backlog drained);
//     --give-up: stop if nothing at all arrived within s seconds.
//   mqbench loopback [--duration s]          TCP bytes/s over 127.0.0.1 (one connection)
//   mqbench fsync [--dir d] [--duration s]   4 KiB write + fdatasync per op, ops/s
//   mqbench nullbroker [-n ns] [--port p] [-t topic] [--queues n]   in-memory stand-in broker
//
// Producer: with --window 1 (the default) the -w threads share one producer (SharedProducer) and
// each sends synchronously, one message after the other: the shape of RocketMQ's benchmark
// Producer (one DefaultMQProducer, a pool of threads calling send()), one connection per broker.
// --producer-per-thread gives every thread its own event loop, Producer and connection instead
// (more connections and polls for the same load); --window N (N > 1) keeps N sends in flight per
// thread, each thread on its own producer. Latency is measured from the send call to its answer.
// Consumer: one Consumer; end-to-end latency is receipt time minus the message's born timestamp
// (same host clock).
//
// Every second a progress line; at the end one "SUMMARY key=value ..." line that scripts parse.
//
// Faults: a sending thread whose send failed waits before its next send, 50 ms doubling to 1 s
// (reset by a success), so a dead NameServer or broker costs a few failed sends per thread per
// second, not a busy loop; failures are counted per second ("failures=") and in the SUMMARY
// (failures=, and connect_attempts= / connect_failures= of the producers' connections). The client
// library spaces its own retries too (remoting/client.h, client/topic_route_cache.h).
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench/broker/latency_histogram.h"
#include "bench/broker/null_broker.h"
#include "client/consumer.h"
#include "client/producer.h"
#include "client/shared_producer.h"

using namespace mq;
using mq::bench::LatencyHistogram;
using mq::bench::Percentiles;

namespace {

using Clock = std::chrono::steady_clock;

// The end of a run, which sleeping senders wake up for.
class StopSignal {
 public:
  bool stopped() const { return stopped_.load(std::memory_order_relaxed); }
  void stop() {
    {
      std::lock_guard<std::mutex> g(mu_);
      stopped_ = true;
    }
    cv_.notify_all();
  }
  // Sleeps `ms` or until stop(), whichever comes first.
  void sleep_ms(int64_t ms) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_for(l, std::chrono::milliseconds(ms), [this] { return stopped_.load(); });
  }

 private:
  std::atomic<bool> stopped_{false};
  std::mutex mu_;
  std::condition_variable cv_;
};

// The pause of a sender after failures: none after a success, then 50 ms doubling to 1 s.
struct FailureBackoff {
  int64_t delay_ms = 0;
  int64_t after(bool ok) {
    delay_ms = ok ? 0 : delay_ms == 0 ? 50 : std::min<int64_t>(delay_ms * 2, 1000);
    return delay_ms;
  }
};

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Args {
  std::map<std::string, std::string> kv;
  std::string get(const std::string& k, const std::string& def = "") const {
    auto it = kv.find(k);
    return it == kv.end() ? def : it->second;
  }
  int64_t num(const std::string& k, int64_t def) const {
    auto it = kv.find(k);
    return it == kv.end() ? def : std::strtoll(it->second.c_str(), nullptr, 10);
  }
  bool flag(const std::string& k) const { return kv.contains(k); }
};

// Accepts "-n x", "--window x", "--window=x" and bare switches ("--from-first").
Args parse_args(int argc, char** argv, int start) {
  Args a;
  for (int i = start; i < argc; ++i) {
    std::string s = argv[i];
    std::string key = s;
    while (!key.empty() && key[0] == '-') key.erase(0, 1);
    auto eq = key.find('=');
    if (eq != std::string::npos) {
      a.kv[key.substr(0, eq)] = key.substr(eq + 1);
    } else if (i + 1 < argc && argv[i + 1][0] != '-') {
      a.kv[key] = argv[++i];
    } else {
      a.kv[key] = "true";
    }
  }
  return a;
}

void usage() {
  std::fprintf(stderr,
               "usage:\n"
               "  mqbench producer -n ns -t topic [-w threads=32] [-s bytes=128] [--window 1] [--batch 1]\n"
               "                   [--producer-per-thread]\n"
               "                   [--duration 10] [--group benchmark_producer] [--tags TagA]\n"
               "  mqbench consumer -n ns -t topic [-g benchmark_consumer] [-e '*'] [--duration 10]\n"
               "                   [--expect N] [--idle-exit s] [--give-up s] [--from-first]\n"
               "  mqbench loopback [--duration 2]\n"
               "  mqbench fsync [--dir /tmp] [--duration 2]\n"
               "  mqbench nullbroker [-n ns] [--port 10911] [--name null-broker] [-t topic] [--queues 8]\n"
               "                     [--duration s]   (in-memory stand-in: measures the client alone)\n");
}

std::string fmt_ms(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

// ---------------------------------------------------------------------------------------------

struct ProducerThreadStats {
  LatencyHistogram hist;
  std::atomic<uint64_t> ok{0};
  std::atomic<uint64_t> failed{0};
  std::atomic<uint64_t> messages{0};
  std::string last_error;  // written by its thread only before `done`
  std::atomic<bool> done{false};
  RemotingClientStats rpc;  // per-thread producers: written by its thread before `done`
  bool error_logged = false;

  // Counts one finished send of `batch` messages (latency from t0); logs the thread's first failure.
  void record(int index, const ClientOutcome<SendResult>& r, Clock::time_point t0, int batch) {
    uint64_t us = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count());
    if (r.ok()) {
      hist.record(us);
      ok.fetch_add(1, std::memory_order_relaxed);
      messages.fetch_add(static_cast<uint64_t>(batch), std::memory_order_relaxed);
      return;
    }
    failed.fetch_add(1, std::memory_order_relaxed);
    if (!error_logged) {
      error_logged = true;
      std::fprintf(stderr, "thread %d: first failure: %s (%s)\n", index, client_failure_name(r.code().kind),
                   r.detail().c_str());
    }
  }
};

// What one sending thread sends, from the command line: like the Java benchmark, a fixed body per
// thread (no compression below 4 KiB, by design), an optional tag, and `batch` messages a request.
struct SendSpec {
  std::string topic;
  std::string tags;
  std::string body;
  int batch = 1;

  SendSpec(const Args& a, int index)
      : topic(a.get("t", "BenchmarkTest")),
        tags(a.get("tags", "")),
        body(static_cast<size_t>(a.num("s", 128)), static_cast<char>('a' + index % 26)),
        batch(static_cast<int>(std::max<int64_t>(1, a.num("batch", a.num("b", 1))))) {}
  Message message() const {
    Message m;
    m.topic = topic;
    m.body = body;
    m.tags = tags;
    return m;
  }
  std::vector<Message> messages() const { return std::vector<Message>(static_cast<size_t>(batch), message()); }
};

ProducerOptions producer_options(const Args& a) {
  ProducerOptions o;
  o.name_servers = a.get("n", "127.0.0.1:9876");
  o.group = a.get("group", "benchmark_producer");
  o.send_timeout_ms = a.num("timeout", 3000);
  o.retry_times_when_send_failed = static_cast<int32_t>(a.num("retries", 2));
  return o;
}

void producer_thread(int index, const Args& a, StopSignal& stop, ProducerThreadStats& st) {
  ProducerOptions o = producer_options(a);
  int window = static_cast<int>(std::max<int64_t>(1, a.num("window", 1)));
  const SendSpec spec(a, index);
  {
    EventLoop loop;
    {
      Producer p(loop, o, Logger().with_prefix("[bench-" + std::to_string(index) + "]"));
      p.start();
      int in_flight = 0;
      FailureBackoff backoff;
      int waiting = 0;  // sends held back after failures
      Timer pause(loop);
      std::function<void()> send_one = [&] {
        if (stop.stopped()) return;
        ++in_flight;
        auto t0 = Clock::now();
        auto on_done = [&, t0](ClientOutcome<SendResult> r) {
          --in_flight;
          st.record(index, r, t0, spec.batch);
          int64_t delay = backoff.after(r.ok());
          if (delay == 0) {
            send_one();
            return;
          }
          // The window's sends resume together once the pause is over.
          if (++waiting == 1)
            pause.start(static_cast<uint64_t>(delay), 0, [&] {
              int n = waiting;
              waiting = 0;
              for (int i = 0; i < n; ++i) send_one();
            });
        };
        if (spec.batch > 1)
          p.send_batch(spec.messages(), std::move(on_done));
        else
          p.send(spec.message(), std::move(on_done));
      };
      for (int i = 0; i < window; ++i) send_one();
      Timer watch(loop);
      watch.start(20, 20, [&] {
        if (stop.stopped() && in_flight == 0) loop.stop();
      });
      loop.run();
      watch.stop();
      pause.stop();
      st.rpc = p.rpc_stats();
      bool shut = false;
      p.shutdown([&shut] { shut = true; });
      loop.run_until([&shut] { return shut; });
    }
    loop.close_and_drain();
  }
  st.done = true;
}

// Java's benchmark shape: one producer, `threads` threads each calling its blocking send.
void shared_sender_thread(int index, const Args& a, SharedProducer& p, StopSignal& stop,
                          ProducerThreadStats& st) {
  const SendSpec spec(a, index);
  FailureBackoff backoff;
  while (!stop.stopped()) {
    auto t0 = Clock::now();
    auto r = spec.batch > 1 ? p.send_batch(spec.messages()) : p.send(spec.message());
    st.record(index, r, t0, spec.batch);
    if (int64_t delay = backoff.after(r.ok()); delay > 0) stop.sleep_ms(delay);
  }
  st.done = true;
}

int run_producer(const Args& a) {
  int threads = static_cast<int>(std::max<int64_t>(1, a.num("w", 32)));
  int64_t duration_s = a.num("duration", 10);
  // --window 1 without --producer-per-thread: all threads share one producer, as Java's benchmark.
  bool shared = a.num("window", 1) <= 1 && !a.flag("producer-per-thread");
  StopSignal stop;
  std::vector<std::unique_ptr<ProducerThreadStats>> stats;
  for (int i = 0; i < threads; ++i) stats.push_back(std::make_unique<ProducerThreadStats>());
  std::unique_ptr<SharedProducer> shared_producer;
  if (shared) shared_producer = std::make_unique<SharedProducer>(producer_options(a), Logger().with_prefix("[bench]"));
  std::vector<std::thread> pool;
  auto t_start = Clock::now();
  for (int i = 0; i < threads; ++i) {
    if (shared)
      pool.emplace_back(shared_sender_thread, i, std::cref(a), std::ref(*shared_producer), std::ref(stop),
                        std::ref(*stats[i]));
    else
      pool.emplace_back(producer_thread, i, std::cref(a), std::ref(stop), std::ref(*stats[i]));
  }

  std::printf("# mqbench producer -n %s -t %s -w %d -s %" PRId64 " --window %" PRId64 " --batch %" PRId64
              " --duration %" PRId64 "\n",
              a.get("n", "127.0.0.1:9876").c_str(), a.get("t", "BenchmarkTest").c_str(), threads, a.num("s", 128),
              a.num("window", 1), std::max<int64_t>(1, a.num("batch", a.num("b", 1))), duration_s);
  std::fflush(stdout);
  std::vector<uint64_t> prev(LatencyHistogram::kBuckets, 0);
  uint64_t prev_msgs = 0, prev_fail = 0;
  // Skip the first second (connections, routes) in the summary, as warm-up.
  std::vector<uint64_t> warm(LatencyHistogram::kBuckets, 0);
  uint64_t warm_msgs = 0;
  auto warm_at = t_start;
  for (int64_t sec = 1; sec <= duration_s; ++sec) {
    std::this_thread::sleep_until(t_start + std::chrono::seconds(sec));
    std::vector<uint64_t> now(LatencyHistogram::kBuckets, 0);
    uint64_t msgs = 0, fail = 0;
    for (auto& s : stats) {
      s->hist.add_to(now);
      msgs += s->messages.load();
      fail += s->failed.load();
    }
    std::vector<uint64_t> diff(now.size());
    for (size_t i = 0; i < now.size(); ++i) diff[i] = now[i] - prev[i];
    Percentiles p = mq::bench::percentiles(diff);
    std::printf("[%3" PRId64 "s] send_tps=%" PRIu64 " p50=%sms p99=%sms p999=%sms max=%sms failures=%" PRIu64 "\n",
                sec, msgs - prev_msgs, fmt_ms(p.p50_ms).c_str(), fmt_ms(p.p99_ms).c_str(), fmt_ms(p.p999_ms).c_str(),
                fmt_ms(p.max_ms).c_str(), fail - prev_fail);
    std::fflush(stdout);
    if (sec == 1 && duration_s > 2) {
      warm = now;
      warm_msgs = msgs;
      warm_at = Clock::now();
    }
    prev = std::move(now);
    prev_msgs = msgs;
    prev_fail = fail;
  }
  stop.stop();
  auto t_end = Clock::now();
  for (auto& t : pool) t.join();
  RemotingClientStats rpc;
  if (shared_producer) rpc = shared_producer->rpc_stats();
  for (auto& s : stats) {
    rpc.connect_attempts += s->rpc.connect_attempts;
    rpc.connect_failures += s->rpc.connect_failures;
  }
  shared_producer.reset();
  std::vector<uint64_t> total(LatencyHistogram::kBuckets, 0);
  uint64_t msgs = 0, fail = 0, requests = 0;
  for (auto& s : stats) {
    s->hist.add_to(total);
    msgs += s->messages.load();
    fail += s->failed.load();
    requests += s->ok.load();
  }
  // Figures over the measured window (after warm-up), latencies of every request in it.
  std::vector<uint64_t> window(total.size());
  for (size_t i = 0; i < total.size(); ++i) window[i] = total[i] - warm[i];
  Percentiles p = mq::bench::percentiles(window);
  double secs = std::chrono::duration<double>(t_end - warm_at).count();
  double tps = secs > 0 ? static_cast<double>(msgs - warm_msgs) / secs : 0;
  std::printf("SUMMARY mode=producer threads=%d size=%" PRId64 " window=%" PRId64 " batch=%" PRId64
              " seconds=%.1f messages=%" PRIu64 " requests=%" PRIu64 " failures=%" PRIu64
              " tps=%.0f avg_ms=%s p50_ms=%s p99_ms=%s p999_ms=%s max_ms=%s connect_attempts=%" PRIu64
              " connect_failures=%" PRIu64 "\n",
              threads, a.num("s", 128), a.num("window", 1), std::max<int64_t>(1, a.num("batch", a.num("b", 1))), secs,
              msgs, requests, fail, tps, fmt_ms(p.avg_ms).c_str(), fmt_ms(p.p50_ms).c_str(), fmt_ms(p.p99_ms).c_str(),
              fmt_ms(p.p999_ms).c_str(), fmt_ms(p.max_ms).c_str(), rpc.connect_attempts, rpc.connect_failures);
  return msgs > 0 ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------

int run_consumer(const Args& a) {
  ConsumerOptions o;
  o.name_servers = a.get("n", "127.0.0.1:9876");
  o.group = a.get("g", "benchmark_consumer");
  o.consume_from_where = a.flag("from-first") ? ConsumeFromWhere::kFirstOffset : ConsumeFromWhere::kLastOffset;
  o.pull_batch_size = static_cast<int32_t>(a.num("pull-batch", 32));
  int64_t duration_s = a.num("duration", 10);
  int64_t expect = a.num("expect", 0);
  int64_t idle_exit_s = a.num("idle-exit", 0);
  int64_t give_up_s = a.num("give-up", 0);
  std::string topic = a.get("t", "BenchmarkTest");
  std::printf("# mqbench consumer -n %s -t %s -g %s --duration %" PRId64 "%s\n", o.name_servers.c_str(), topic.c_str(),
              o.group.c_str(), duration_s, a.flag("from-first") ? " --from-first" : "");
  std::fflush(stdout);

  LatencyHistogram hist;
  uint64_t received = 0;
  int64_t first_ms = 0, last_ms = 0;
  EventLoop loop;
  {
    Consumer c(loop, o);
    c.subscribe(topic, a.get("e", "*"));
    c.set_handler([&](const ConsumedMessage& m) {
      int64_t now = wall_ms();
      if (received == 0) first_ms = now;
      last_ms = now;
      ++received;
      hist.record(static_cast<uint64_t>(std::max<int64_t>(0, now - m.born_timestamp)) * 1000);
    });
    c.start();
    auto t_start = Clock::now();
    std::vector<uint64_t> prev(LatencyHistogram::kBuckets, 0);
    uint64_t prev_received = 0;
    int64_t sec = 0;
    int64_t idle_s = 0;
    Timer tick(loop);
    tick.start(1000, 1000, [&] {
      ++sec;
      std::vector<uint64_t> now(LatencyHistogram::kBuckets, 0);
      hist.add_to(now);
      std::vector<uint64_t> diff(now.size());
      for (size_t i = 0; i < now.size(); ++i) diff[i] = now[i] - prev[i];
      Percentiles p = mq::bench::percentiles(diff);
      std::printf("[%3" PRId64 "s] recv_tps=%" PRIu64 " e2e_p50=%sms e2e_p99=%sms e2e_max=%sms queues=%zu\n", sec,
                  received - prev_received, fmt_ms(p.p50_ms).c_str(), fmt_ms(p.p99_ms).c_str(),
                  fmt_ms(p.max_ms).c_str(), c.owned_queues().size());
      std::fflush(stdout);
      idle_s = received == prev_received ? idle_s + 1 : 0;
      prev = std::move(now);
      prev_received = received;
      bool enough = expect > 0 && static_cast<int64_t>(received) >= expect;
      bool idle = idle_exit_s > 0 && received > 0 && idle_s >= idle_exit_s;
      bool nothing = give_up_s > 0 && received == 0 && sec >= give_up_s;
      if (sec >= duration_s || enough || idle || nothing) loop.stop();
    });
    loop.run();
    tick.stop();
    double secs = std::chrono::duration<double>(Clock::now() - t_start).count();
    bool shut = false;
    c.shutdown([&shut] { shut = true; });
    loop.run_until([&shut] { return shut; });
    std::vector<uint64_t> all(LatencyHistogram::kBuckets, 0);
    hist.add_to(all);
    Percentiles p = mq::bench::percentiles(all);
    double active = (last_ms - first_ms) / 1000.0;
    double drain_tps = active > 0 ? static_cast<double>(received) / active : 0;
    std::printf("SUMMARY mode=consumer seconds=%.1f messages=%" PRIu64 " tps=%.0f drain_tps=%.0f e2e_avg_ms=%s"
                " e2e_p50_ms=%s e2e_p99_ms=%s e2e_max_ms=%s\n",
                secs, received, secs > 0 ? static_cast<double>(received) / secs : 0, drain_tps,
                fmt_ms(p.avg_ms).c_str(), fmt_ms(p.p50_ms).c_str(), fmt_ms(p.p99_ms).c_str(),
                fmt_ms(p.max_ms).c_str());
  }
  loop.close_and_drain();
  return 0;
}

// ---------------------------------------------------------------------------------------------

int run_loopback(const Args& a) {
  double duration = static_cast<double>(a.num("duration", 2));
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (ls < 0 || bind(ls, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(ls, 1) != 0 ||
      getsockname(ls, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::perror("loopback: listen");
    return 1;
  }
  std::atomic<uint64_t> received{0};
  std::thread reader([&] {
    int c = accept(ls, nullptr, nullptr);
    std::vector<char> buf(1 << 20);
    for (;;) {
      ssize_t n = read(c, buf.data(), buf.size());
      if (n <= 0) break;
      received.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
    }
    close(c);
  });
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::perror("loopback: connect");
    return 1;
  }
  std::vector<char> buf(1 << 20, 'x');
  auto t0 = Clock::now();
  while (std::chrono::duration<double>(Clock::now() - t0).count() < duration) {
    if (write(s, buf.data(), buf.size()) < 0) break;
  }
  shutdown(s, SHUT_WR);
  reader.join();
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  close(s);
  close(ls);
  double mbps = static_cast<double>(received.load()) / secs / (1024.0 * 1024.0);
  std::printf("SUMMARY mode=loopback seconds=%.1f bytes=%" PRIu64 " MiB_per_s=%.0f\n", secs, received.load(), mbps);
  return 0;
}

int run_fsync(const Args& a) {
  double duration = static_cast<double>(a.num("duration", 2));
  std::string dir = a.get("dir", "/tmp");
  std::string path = dir + "/mqbench-fsync-" + std::to_string(getpid());
  int fd = open(path.c_str(), O_CREAT | O_RDWR | O_TRUNC, 0644);
  if (fd < 0) {
    std::perror(("fsync: open " + path).c_str());
    return 1;
  }
  std::vector<char> block(4096, 'f');
  uint64_t ops = 0;
  off_t off = 0;
  auto t0 = Clock::now();
  while (std::chrono::duration<double>(Clock::now() - t0).count() < duration) {
    if (pwrite(fd, block.data(), block.size(), off) != static_cast<ssize_t>(block.size()) || fdatasync(fd) != 0) {
      std::perror("fsync: write");
      break;
    }
    off += static_cast<off_t>(block.size());
    ++ops;
  }
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  close(fd);
  unlink(path.c_str());
  std::printf("SUMMARY mode=fsync dir=%s seconds=%.1f ops=%" PRIu64 " fsync_per_s=%.0f\n", dir.c_str(), secs, ops,
              secs > 0 ? static_cast<double>(ops) / secs : 0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage();
    return 2;
  }
  std::string mode = argv[1];
  Args a = parse_args(argc, argv, 2);
  if (a.flag("h") || a.flag("help")) {
    usage();
    return 0;
  }
  if (mode == "producer") return run_producer(a);
  if (mode == "consumer") return run_consumer(a);
  if (mode == "loopback") return run_loopback(a);
  if (mode == "fsync") return run_fsync(a);
  if (mode == "nullbroker") {
    mq::bench::NullBrokerOptions o;
    o.name_servers = a.get("n", o.name_servers);
    o.broker_name = a.get("name", o.broker_name);
    o.cluster = a.get("cluster", o.cluster);
    o.port = static_cast<int>(a.num("port", o.port));
    o.topic = a.get("t", o.topic);
    o.queues = static_cast<int32_t>(a.num("queues", o.queues));
    o.run_seconds = a.num("duration", 0);
    return mq::bench::run_null_broker(o);
  }
  usage();
  return 2;
}
