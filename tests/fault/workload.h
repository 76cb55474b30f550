// The fault harness's workload: producers pinned to one (broker, queue) each, tailing consumers, and
// the drain that reads every queue after the faults are healed. Everything it does becomes rows of
// a History (history.h), which the checkers (checker.h) judge afterwards.
//
// Producers: one thread per (broker, queue), one message in flight, keys "p<id>-<seq>" with seq
// 0, 1, 2, ... so that the order of a queue is defined. A send goes straight to the group's
// current master (brokerId 0 in the route) as SEND_MESSAGE_V2 with that queue id: the client's
// Producer picks queues itself and retries on other brokers, which would blur what a fault did to
// which group. After a definite failure (no master, connect refused, a broker code) and after an
// unknown outcome (timeout, connection lost after the request went out) the same key and seq are
// sent again, so a stored-but-unacknowledged message shows up as a duplicate, never as a gap.
// Failures back off 50-200 ms (a group without a master must not be hammered).
//
// Tailing consumers: one thread per broker group pulls its queues from the master (a slave when the
// route has no master) and writes "consume" rows as messages become readable; they exist to
// measure how long consumption was unavailable after a fault.
//
// Drain: after the heal, every queue of every group is read from its min offset until the max
// offset the group's master reports (GET_MAX_OFFSET, asked again when the read reaches it, so the
// drain ends only at a max offset it has seen confirmed), with one "drain" row per message. The
// master is taken only from routes fetched after the drain began (a stale route may name a former
// DLedger leader, whose shorter log would look like losses); without one it waits and asks again.
// Pulls never suspend; NO_NEW_MSG below the max makes it ask for the max again, OFFSET_MOVED
// jumps to nextBeginOffset with an info row (a forward jump skips messages: lost if acknowledged).
// Routes: one thread per NameServer polls GET_ROUTEINFO_BY_TOPIC every 500 ms (a partitioned
// NameServer only delays its own view); candidates are ordered by the freshness of their view.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/fault/history.h"

namespace mq::fault {

struct WorkloadOptions {
  std::string namesrv_addr;                 // ';'-separated list
  std::string topic = "FaultTopic";         // created beforehand on every broker group
  std::vector<std::string> broker_names;    // the broker groups (brokerName) the topic lives on
  int queues_per_broker = 4;
  int64_t send_timeout_ms = 3000;
  int64_t send_interval_ms = 0;             // pacing per producer (0 = back to back)
  // Tailing consumers on (they write "consume" rows; needed for consume unavailability windows).
  bool tail_consumers = true;
  int64_t pull_timeout_ms = 3000;           // one tailing or drain pull
  int64_t rpc_timeout_ms = 3000;            // NameServer and GET_MAX_OFFSET / GET_MIN_OFFSET calls
  // Drain from a slave when a group has no master (master-slave groups whose master is down for
  // good). Off: the drain waits for a master (or times out).
  bool drain_from_slave = false;
  // Self-test of the harness: N > 0 makes the drain forget (not record) every N-th message it
  // reads, so a correct checker must report losses. Never set in a real run.
  int sabotage_drop_drained_every = 0;
  std::string consumer_group = "FaultDrainGroup";  // only names the pulls; offsets are never committed
};

struct WorkloadCounters {
  uint64_t attempted = 0;  // send invokes
  uint64_t acked = 0;
  uint64_t failed = 0;
  uint64_t unknown = 0;
  uint64_t consumed = 0;  // consume rows of the tailing consumers
  uint64_t drained = 0;   // drain rows
  // Per broker group (brokerName): acknowledged sends and consume rows, so that a caller can wait
  // until every group made progress after a fault; and the least any one producer got acknowledged.
  std::map<std::string, uint64_t> acked_by_broker;
  std::map<std::string, uint64_t> consumed_by_broker;
  uint64_t min_acked_per_producer = 0;
};

class Workload {
 public:
  Workload(WorkloadOptions options, History& history);
  ~Workload();  // stop()
  Workload(const Workload&) = delete;
  Workload& operator=(const Workload&) = delete;

  // Starts the producers and (tail_consumers) the tailing consumers.
  void start();
  // Producers finish the send in flight (recording its outcome) and stop; returns once they have.
  void stop_sending();
  // After faults are healed (call stop_sending() first): stops the tailing consumers, then reads
  // every queue from its min offset to its max offset, writing a "drain" row per message. Returns
  // false when `timeout` passed before every queue was read to its max offset (a "drain" info row
  // with detail "timeout" names the queues not finished).
  bool drain(std::chrono::milliseconds timeout);
  // Stops everything (idempotent).
  void stop();

  WorkloadCounters counters() const;
  // "attempted=.. acked=.. failed=.. unknown=.. consumed=.. drained=.." for live progress lines.
  std::string progress_line() const;
  const WorkloadOptions& options() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace mq::fault
