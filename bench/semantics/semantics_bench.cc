// Message-semantics benchmarks with real processes (a NameServer and one container, ASYNC_FLUSH):
//   semantics_bench [--delayed N] [--delay-level L] [--timed N] [--tx N] [--window W] [--body BYTES]
// delay: N messages (default 100,000) sent as fast as one producer with W sends in flight can,
//   all at delay level L (default 2 = 5 s), so they all come due within the send span. Reports the
//   send span, how long delivery of all of them took after the first was due, and each message's
//   lateness: its delivery store time minus (born time + the level's delay). Born time is taken
//   before the send, so lateness is an upper bound.
// timed: N messages (default 100,000) with the same TIMER_DELIVER_MS, 5 s after the first send
//   (RocketMQ 5.x timed messages): reports how long after that instant the last one was delivered
//   and the lateness of each.
// tx: N plain sends (default 50,000) and then N transactional sends (half message, local
//   transaction returning COMMIT, END_TRANSACTION) through one producer with W in flight; reports
//   both rates and their ratio.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "client/producer.h"
#include "client/transaction_producer.h"
#include "cluster.h"
#include "codec/codes.h"

using namespace mq;
using namespace mq::test;
using namespace std::chrono_literals;

namespace {

int64_t arg(int argc, char** argv, const char* name, int64_t fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return std::atoll(argv[i + 1]);
  return fallback;
}

int64_t wall_ms() { return SystemClock().now_ms(); }

// Sends `count` messages made by make(i) through `send` with `window` in flight; returns the
// elapsed milliseconds, or -1 when a send failed.
template <typename SendFn>
int64_t pump(EventLoop& loop, int64_t count, int window, SendFn send) {
  int64_t next = 0, done = 0, failed = 0;
  int in_flight = 0;
  const int64_t t0 = wall_ms();
  std::function<void()> one = [&] {
    if (next >= count) return;
    const int64_t i = next++;
    ++in_flight;
    send(i, [&](bool ok) {
      --in_flight;
      ++done;
      if (!ok) ++failed;
      one();
    });
  };
  for (int i = 0; i < window; ++i) one();
  loop.run_until([&] { return done >= count; });
  if (failed > 0) {
    std::fprintf(stderr, "%" PRId64 " sends failed\n", failed);
    return -1;
  }
  return wall_ms() - t0;
}

int64_t percentile(std::vector<int64_t>& v, double p) {
  if (v.empty()) return -1;
  size_t k = static_cast<size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t delayed = arg(argc, argv, "--delayed", 100'000);
  const int64_t level = arg(argc, argv, "--delay-level", 2);
  const int64_t tx = arg(argc, argv, "--tx", 50'000);
  const int64_t timed = arg(argc, argv, "--timed", 100'000);
  const int window = static_cast<int>(arg(argc, argv, "--window", 256));
  const size_t body_bytes = static_cast<size_t>(arg(argc, argv, "--body", 128));
  const std::vector<int64_t> level_ms = {1000, 5000, 10000, 30000, 60000};
  if (level < 1 || level > static_cast<int64_t>(level_ms.size())) {
    std::fprintf(stderr, "--delay-level must be 1..5\n");
    return 2;
  }

  NamesrvProcess ns;
  TempDir dir;
  BrokerSpec spec{"broker-bench"};
  spec.mapped_file_size_commit_log = 1LL << 30;
  ContainerProcess c(ns.addr(), {spec}, dir.file("c"));
  if (ns.port <= 0 || !c.start()) {
    std::fprintf(stderr, "cluster did not start\n%s\n", c.proc().output().c_str());
    return 1;
  }
  const int queues = 8;
  if (!create_topic(ns.addr(), "TestCluster", "DelayBench", queues) ||
      !create_topic(ns.addr(), "TestCluster", "TxBench", queues) ||
      !create_topic(ns.addr(), "TestCluster", "TimedBench", queues) ||
      !create_topic(ns.addr(), "TestCluster", "PlainBench", queues)) {
    std::fprintf(stderr, "topics not created\n");
    return 1;
  }
  const std::string body(body_bytes, 'b');
  ProducerOptions po;
  po.name_servers = ns.addr();
  po.group = "semantics_bench";
  EventLoop loop;
  int rc = 0;
  {
    Producer p(loop, po, Logger().with_prefix("[bench]"));
    p.start();
    std::printf("# semantics_bench --delayed %" PRId64 " --delay-level %" PRId64 " --timed %" PRId64 " --tx %" PRId64
                " --window %d --body %zu\n",
                delayed, level, timed, tx, window, body_bytes);
    if (timed > 0) {
      const int64_t due = wall_ms() + 5000;
      int64_t span = pump(loop, timed, window, [&](int64_t, std::function<void(bool)> done) {
        Message m;
        m.topic = "TimedBench";
        m.body = body;
        m.user_properties.emplace_back("TIMER_DELIVER_MS", std::to_string(due));
        p.send(std::move(m), [done](ClientOutcome<SendResult> r) { done(r.ok()); });
      });
      if (span < 0) return 1;
      BlockingClient reader;
      std::vector<int64_t> offsets(queues, 0), lateness;
      int64_t last_store = 0, early = 0;
      const int64_t give_up = due + 120'000;
      while (static_cast<int64_t>(lateness.size()) < timed && wall_ms() < give_up) {
        bool any = false;
        for (int q = 0; q < queues; ++q) {
          auto pr = pull_messages(reader, c.broker_addr(0), "bench_reader", "TimedBench", q, offsets[q], 32);
          if (pr.code != response_code::kSuccess) continue;
          for (const auto& r : pr.records) {
            lateness.push_back(r.store_timestamp - due);
            if (r.store_timestamp < due) ++early;
            last_store = std::max(last_store, r.store_timestamp);
            offsets[q] = r.queue_offset + 1;
            any = true;
          }
        }
        if (!any) std::this_thread::sleep_for(5ms);  // a benchmark poll, not a test wait
      }
      const int64_t got = static_cast<int64_t>(lateness.size());
      std::printf("timed: sent %" PRId64 " messages due at one instant in %" PRId64 " ms; delivered %" PRId64
                  " (%" PRId64 " early); the last %" PRId64 " ms after the instant\n",
                  timed, span, got, early, last_store - due);
      if (got > 0) {
        int64_t p50 = percentile(lateness, 0.5), p99 = percentile(lateness, 0.99), mx = percentile(lateness, 1.0);
        std::printf("timed lateness (delivery store time - due time): p50 %" PRId64 " p99 %" PRId64 " max %" PRId64 " ms\n",
                    p50, p99, mx);
      }
      if (got < timed || early > 0) rc = 1;
    }
    if (delayed > 0) {
      const int64_t first_born = wall_ms();
      int64_t span = pump(loop, delayed, window, [&](int64_t, std::function<void(bool)> done) {
        Message m;
        m.topic = "DelayBench";
        m.body = body;
        m.delay_time_level = static_cast<int32_t>(level);
        p.send(std::move(m), [done](ClientOutcome<SendResult> r) { done(r.ok()); });
      });
      if (span < 0) return 1;
      const int64_t first_due = first_born + level_ms[static_cast<size_t>(level - 1)];
      // Read every queue of the real topic until all have arrived.
      BlockingClient reader;
      std::vector<int64_t> offsets(queues, 0), lateness;
      int64_t last_store = 0;
      lateness.reserve(static_cast<size_t>(delayed));
      const int64_t give_up = wall_ms() + span + level_ms[static_cast<size_t>(level - 1)] + 60'000;
      while (static_cast<int64_t>(lateness.size()) < delayed && wall_ms() < give_up) {
        bool any = false;
        for (int q = 0; q < queues; ++q) {
          auto pr = pull_messages(reader, c.broker_addr(0), "bench_reader", "DelayBench", q, offsets[q], 32);
          if (pr.code != response_code::kSuccess) continue;
          for (const auto& r : pr.records) {
            lateness.push_back(r.store_timestamp - (r.born_timestamp + level_ms[static_cast<size_t>(level - 1)]));
            last_store = std::max(last_store, r.store_timestamp);
            offsets[q] = r.queue_offset + 1;
            any = true;
          }
        }
        if (!any) std::this_thread::sleep_for(5ms);  // a benchmark poll, not a test wait
      }
      const int64_t got = static_cast<int64_t>(lateness.size());
      std::printf("delay: sent %" PRId64 " messages at level %" PRId64 " (%" PRId64 " ms) in %" PRId64
                  " ms (%.0f msg/s); delivered %" PRId64 "; all delivered %" PRId64
                  " ms after the first was due\n",
                  delayed, level, level_ms[static_cast<size_t>(level - 1)], span,
                  static_cast<double>(delayed) * 1000.0 / static_cast<double>(std::max<int64_t>(span, 1)), got,
                  last_store - first_due);
      int64_t p50 = percentile(lateness, 0.5), p99 = percentile(lateness, 0.99), mx = percentile(lateness, 1.0);
      int64_t mn = *std::min_element(lateness.begin(), lateness.end());
      std::printf("delay lateness (delivery store time - born time - delay): min %" PRId64 " p50 %" PRId64
                  " p99 %" PRId64 " max %" PRId64 " ms\n",
                  mn, p50, p99, mx);
      if (got < delayed) rc = 1;
    }
    if (tx > 0) {
      // A fresh loop and producers: the delay phase left the first loop idle (and its clock stale)
      // while the reader pulled.
      EventLoop tx_loop;
      {
      Producer plain(tx_loop, po, Logger().with_prefix("[bench-plain]"));
      plain.start();
      int64_t plain_ms = pump(tx_loop, tx, window, [&](int64_t, std::function<void(bool)> done) {
        Message m;
        m.topic = "PlainBench";
        m.body = body;
        plain.send(std::move(m), [done](ClientOutcome<SendResult> r) {
          if (!r.ok()) std::fprintf(stderr, "plain send failed: %s\n", r.detail().c_str());
          done(r.ok());
        });
      });
      ProducerOptions to = po;
      to.group = "semantics_bench_tx";
      TransactionProducer tp(
          tx_loop, to, [](const Message&, const SendResult&, const std::any&) { return LocalTransactionState::kCommit; },
          [](const ConsumedMessage&) { return LocalTransactionState::kCommit; }, Logger().with_prefix("[bench-tx]"));
      tp.start();
      int64_t tx_ms = pump(tx_loop, tx, window, [&](int64_t, std::function<void(bool)> done) {
        Message m;
        m.topic = "TxBench";
        m.body = body;
        tp.send_message_in_transaction(std::move(m), {}, [done](ClientOutcome<TransactionSendResult> r) {
          if (!r.ok()) std::fprintf(stderr, "transactional send failed: %s\n", r.detail().c_str());
          else if (!r->end_transaction_sent) std::fprintf(stderr, "END_TRANSACTION not sent\n");
          done(r.ok() && r->end_transaction_sent);
        });
      });
      if (plain_ms < 0 || tx_ms < 0) return 1;
      double plain_rate = static_cast<double>(tx) * 1000.0 / static_cast<double>(std::max<int64_t>(plain_ms, 1));
      double tx_rate = static_cast<double>(tx) * 1000.0 / static_cast<double>(std::max<int64_t>(tx_ms, 1));
      // Every committed message must reach its topic.
      BlockingClient reader;
      int64_t committed = 0;
      wait_until([&] {
        committed = 0;
        for (int q = 0; q < queues; ++q) {
          RemotingCommand req = RemotingCommand::request(request_code::kGetMaxOffset);
          req.ext_fields.set("topic", std::string("TxBench"));
          req.ext_fields.set("queueId", q);
          auto r = reader.invoke(c.broker_addr(0), std::move(req), 5000);
          if (r.ok() && r->code == response_code::kSuccess) {
            const std::string* off = r->ext_fields.find("offset");
            if (off) committed += std::atoll(off->c_str());
          }
        }
        return committed >= tx;
      }, 30s);
      std::printf("tx: plain sends %.0f msg/s, transactional sends %.0f msg/s (%.0f%% of plain); %" PRId64
                  " of %" PRId64 " committed messages in the topic\n",
                  plain_rate, tx_rate, 100.0 * tx_rate / plain_rate, committed, tx);
      if (committed < tx) rc = 1;
      int shut = 0;
      tp.shutdown([&shut] { ++shut; });
      plain.shutdown([&shut] { ++shut; });
      tx_loop.run_until([&shut] { return shut == 2; });
      }
      tx_loop.close_and_drain();
    }
    bool shut = false;
    p.shutdown([&shut] { shut = true; });
    loop.run_until([&shut] { return shut; });
  }
  loop.close_and_drain();
  c.stop();
  return rc;
}
