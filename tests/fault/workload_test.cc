// The fault workload against real processes on 127.0.0.1 (no namespaces): a NameServer and a
// container with two brokers, the workload running while the container is killed with SIGKILL and
// started again, then the drain and the checkers. And the harness's self-test: a drain sabotaged
// to forget messages must make the checker report exactly those as lost.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "client/admin_client.h"
#include "cluster.h"
#include "tests/fault/checker.h"
#include "tests/fault/history.h"
#include "tests/fault/workload.h"

using namespace mq;
using namespace mq::test;
using namespace std::chrono_literals;

namespace {

bool wait_for_brokers(const std::string& ns, size_t n) {
  AdminClient admin(ns);
  return wait_until(
      [&] {
        auto info = admin.get_cluster_info();
        return info.ok() && info->cluster_addr_table["TestCluster"].size() == n;
      },
      20s);
}

// MQ_FAULT_KEEP_HISTORY=<dir> keeps each test's history file there for a look afterwards.
void keep_history(const std::string& path, const std::string& name) {
  const char* dir = std::getenv("MQ_FAULT_KEEP_HISTORY");
  if (dir == nullptr || *dir == 0) return;
  std::error_code ec;
  std::filesystem::copy_file(path, std::string(dir) + "/" + name, std::filesystem::copy_options::overwrite_existing, ec);
}

}  // namespace

TEST_CASE("workload: kill -9 and restart of the container loses nothing acknowledged and keeps queue order") {
  NamesrvProcess ns;
  REQUIRE(ns.port > 0);
  TempDir dir;
  ContainerProcess c(ns.addr(), {{"fault-a"}, {"fault-b"}}, dir.file("c"));
  REQUIRE_MESSAGE(c.start(), c.proc().output());
  REQUIRE(wait_for_brokers(ns.addr(), 2));
  REQUIRE(create_topic(ns.addr(), "TestCluster", "FaultTopic", 4));

  std::string path = dir.file("history.jsonl");
  fault::History history(path);
  fault::WorkloadOptions opts;
  opts.namesrv_addr = ns.addr();
  opts.broker_names = {"fault-a", "fault-b"};
  opts.queues_per_broker = 4;
  opts.send_timeout_ms = 2000;
  fault::Workload w(opts, history);
  w.start();
  // Every producer and both tailing consumers at work before the fault.
  REQUIRE_MESSAGE(wait_until([&] { return w.counters().min_acked_per_producer >= 20; }, 60s),
                  "expected 20 acknowledged sends from every producer before the fault, got " << w.progress_line());
  REQUIRE_MESSAGE(wait_until(
                      [&] {
                        auto c = w.counters();
                        return c.consumed_by_broker["fault-a"] >= 20 && c.consumed_by_broker["fault-b"] >= 20;
                      },
                      60s),
                  "expected both tailing consumers to read 20 messages, got " << w.progress_line());

  // The fault row goes in once the fault has taken effect (the process is gone), so that a send
  // completing just before it is not taken for a recovery.
  c.kill9();
  history.write({{"f", "fault"}, {"type", "info"}, {"fault", "kill9"}, {"groups", {"fault-a", "fault-b"}}});
  auto before = w.counters();
  REQUIRE_MESSAGE(c.start(), c.proc().output());
  history.write({{"f", "heal"}, {"type", "info"}, {"fault", "kill9"}});
  // Both groups sending and being consumed again.
  CHECK_MESSAGE(wait_until(
                    [&] {
                      auto c = w.counters();
                      for (const char* g : {"fault-a", "fault-b"})
                        if (c.acked_by_broker[g] < before.acked_by_broker[g] + 50 ||
                            c.consumed_by_broker[g] < before.consumed_by_broker[g] + 50)
                          return false;
                      return true;
                    },
                    90s),
                "expected 50 more sends acknowledged and consumed per group after the restart, got "
                    << w.progress_line());
  // Enough history for the checkers to mean something; on a loaded machine the sends above may
  // come to fewer, so wait for the count rather than take whatever a fixed window gave.
  CHECK_MESSAGE(wait_until([&] { return w.counters().acked >= 400; }, 90s),
                "expected 400 acknowledged sends in all, got " << w.progress_line());
  w.stop_sending();
  CHECK_MESSAGE(w.drain(90s), "the drain did not reach every queue's max offset: " << w.progress_line());
  w.stop();

  keep_history(path, opts.topic + ".jsonl");
  fault::Report r = fault::check_history(path);
  MESSAGE(r.text());
  INFO(r.text());
  CHECK(r.malformed.empty());
  CHECK(r.drain_done);
  CHECK(r.lost == 0);
  CHECK(r.moved == 0);
  CHECK(r.order_violations == 0);
  CHECK(r.acknowledged >= 400);
  CHECK(r.acknowledged == static_cast<int64_t>(w.counters().acked));
  CHECK(r.drained_keys >= r.acked_keys);
  CHECK(r.ok());
  REQUIRE(r.window_stats.count("kill9") == 1);
  const auto& ws = r.window_stats.at("kill9");
  CHECK(ws.count == 2);
  CHECK(ws.never_send == 0);
  CHECK(ws.never_consume == 0);
  CHECK(ws.worst_send_ms.has_value());
}

TEST_CASE("workload: a drain sabotaged to forget every 7th message is reported as exactly those losses") {
  NamesrvProcess ns;
  REQUIRE(ns.port > 0);
  TempDir dir;
  ContainerProcess c(ns.addr(), {{"fault-s"}}, dir.file("c"));
  REQUIRE_MESSAGE(c.start(), c.proc().output());
  REQUIRE(wait_for_brokers(ns.addr(), 1));
  REQUIRE(create_topic(ns.addr(), "TestCluster", "SabotageTopic", 2));

  std::string path = dir.file("history.jsonl");
  fault::History history(path);
  fault::WorkloadOptions opts;
  opts.namesrv_addr = ns.addr();
  opts.topic = "SabotageTopic";
  opts.broker_names = {"fault-s"};
  opts.queues_per_broker = 2;
  opts.tail_consumers = false;
  opts.sabotage_drop_drained_every = 7;
  fault::Workload w(opts, history);
  w.start();
  REQUIRE_MESSAGE(wait_until([&] { return w.counters().min_acked_per_producer >= 50; }, 60s),
                  "expected 50 acknowledged sends from each producer, got " << w.progress_line());
  w.stop_sending();
  REQUIRE(w.drain(60s));
  w.stop();

  keep_history(path, opts.topic + ".jsonl");
  fault::Report r = fault::check_history(path);
  MESSAGE(r.text());
  INFO(r.text());
  CHECK_FALSE(r.ok());
  CHECK(r.lost > 0);
  // No fault, so no unknown outcome and no duplicate: every 7th message read is a lost key.
  REQUIRE(r.unknown == 0);
  CHECK(r.lost == r.acknowledged / 7);
  CHECK(r.drained == r.acknowledged - r.lost);
  CHECK(r.order_violations == 0);
}
