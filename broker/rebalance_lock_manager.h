// RebalanceLockManager: which client of a consumer group holds each message queue of this broker,
// for orderly consumption (LOCK_BATCH_MQ 41 / UNLOCK_BATCH_MQ 42).
//
// An orderly consumer locks the queues rebalancing gave it before it consumes them and renews the
// locks every 20 s; a queue is held by one client of a group at a time, so two members never
// consume one queue at once even while a rebalance moves it. A lock that has not been renewed for
// lock_max_live_ms (RocketMQ's rocketmq.broker.rebalance.lockMaxLiveTime, 60 s) has expired and any
// client of the group may take it (the holder died without unlocking). Locks are memory only, as
// in RocketMQ: after a broker restart every client locks again, and clients give up a lock
// themselves after 30 s without a successful renewal (REBALANCE_LOCK_MAX_LIVE_TIME), which is
// shorter than the broker's 60 s, so an old holder has stopped before anyone else can get in.
//
// The clock is passed in (now_ms); nothing here reads it. Loop thread only.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

namespace mq {

struct LockedQueue {
  std::string topic;
  std::string broker_name;
  int32_t queue_id = 0;
  auto operator<=>(const LockedQueue&) const = default;
  bool operator==(const LockedQueue&) const = default;
};

class RebalanceLockManager {
 public:
  explicit RebalanceLockManager(int64_t lock_max_live_ms = 60'000) : lock_max_live_ms_(lock_max_live_ms) {}

  // Locks (or renews) each queue for client_id; returns the queues it holds now.
  std::vector<LockedQueue> try_lock_batch(const std::string& group, const std::vector<LockedQueue>& queues,
                                          const std::string& client_id, int64_t now_ms);
  // Releases the queues client_id holds; queues held by others are left alone.
  void unlock_batch(const std::string& group, const std::vector<LockedQueue>& queues, const std::string& client_id);
  // True when client_id holds the queue and the lock has not expired.
  bool is_locked(const std::string& group, const LockedQueue& q, const std::string& client_id, int64_t now_ms) const;
  // The holder of a live lock, or empty.
  std::string holder(const std::string& group, const LockedQueue& q, int64_t now_ms) const;
  // Drops every lock of a group (the group was deleted).
  void remove_group(const std::string& group) { groups_.erase(group); }

 private:
  struct Entry {
    std::string client_id;
    int64_t last_update_ms = 0;
  };
  bool expired(const Entry& e, int64_t now_ms) const { return now_ms - e.last_update_ms > lock_max_live_ms_; }

  int64_t lock_max_live_ms_;
  std::map<std::string, std::map<LockedQueue, Entry>> groups_;
};

}  // namespace mq
