// TimerMessageService: RocketMQ 5.x timed messages (properties TIMER_DELIVER_MS, TIMER_DELAY_SEC,
// TIMER_DELAY_MS), delivered at their time to the millisecond, with memory that does not grow with
// the number of messages waiting.
//
// The store parks a timed message whose time is still ahead in rmq_sys_wheel_timer queue 0 with
// REAL_TOPIC / REAL_QID and TIMER_OUT_MS (its delivery time, also its ConsumeQueue tag code). Queue
// 0 is in arrival order, not time order, so this service sorts it with a hierarchy of FIFO buckets
// kept in the same topic (queues 1..kBuckets), each a ConsumeQueue like the delay levels':
//  * an entry with r ms still to wait goes to bucket k = floor(log2 r) (queue k + 1) as a small
//    pointer record (body "<commit log offset>,<size>,<delivery ms>") whose tag code is the time it
//    is looked at next, now + 2^k (property TIMER_CHECK_MS). Every entry of bucket k is put with
//    the same offset 2^k from a non-decreasing clock, so each bucket is ordered by that time and is
//    walked exactly like a delay level: stop at the first entry not yet due;
//  * at its check time an entry has less than 2^k ms left: it is delivered when its time has come,
//    else moved to the bucket of what is left, which is a lower one. A message is moved at most
//    about log2(delay in ms) times (under 40), each time as a pointer record of ~150 bytes; the
//    message itself is written twice (parked, delivered).
// The last steps happen in memory: an entry with less than kHoldMs left is held (24 bytes) and
// delivered from a timer at its millisecond, so a burst of messages due together is not walked
// through the lowest ten buckets on disk; memory is bounded by what comes due within a second,
// not by what is parked. Until delivered, a held entry keeps its queue's persisted progress at or
// before it, so a crash cannot lose it.
// Delivery reads the parked record and writes it to its real topic and queue with TIMER_DEQUEUE_MS
// set (the store does not park it again), keeping everything else (UNIQ_KEY: the id stays).
// Progress (the next queue offset of queue 0 and of every bucket) is config/timerOffset.json in
// delayOffset.json's shape, written every 10 s and at stop; after a crash, entries handled since
// the last write are handled again: a message may be delivered twice, never lost (at-least-once).
// Only a master (or a ready DLedger leader) runs it. Threads: the loop thread.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/log.h"
#include "runtime/event_loop.h"
#include "store/message_store.h"

namespace mq {

inline constexpr const char* kTimerTopic = "rmq_sys_wheel_timer";

class TimerMessageService {
 public:
  using PutFn = std::function<void(std::vector<store::MessageToStore> msgs, std::function<void(size_t stored)> done)>;
  using PersistFn = std::function<void(std::string text)>;

  TimerMessageService(store::MessageStore& store, EventLoop& loop, const Clock& clock, Logger log, HostAddress self,
                      PutFn put, PersistFn persist);
  ~TimerMessageService();
  TimerMessageService(const TimerMessageService&) = delete;
  TimerMessageService& operator=(const TimerMessageService&) = delete;

  bool load(const std::string& text, std::string* error);
  void start();
  void stop();
  bool running() const { return running_; }
  void persist_if_changed();
  std::string encode() const;
  uint64_t delivered() const { return delivered_; }

  static constexpr int kBuckets = 41;  // 2^40 ms is about 35 years
  static constexpr int kMaxPerWake = 4096;
  static constexpr int64_t kPollIntervalMs = 100;
  static constexpr int64_t kHoldMs = 1024;

 private:
  struct Held {
    int64_t commit_log_offset = 0;
    int32_t size = 0;
    int32_t queue_id = 0;
    int64_t queue_offset = 0;
  };
  enum class Routed { kOutput, kHeld, kSkipped };
  struct Queue {
    int64_t offset = 0;
    bool in_flight = false;
    int64_t next_due_ms = -1;
  };
  void wake();
  void arm();
  // Handles what is due in one queue (0: parked messages; k + 1: bucket k). false when capped.
  bool run_queue(int32_t queue_id, Queue& q, int64_t now_ms);
  // The message (delivery) or bucket entry (pointer) for a parked message at `offset`.
  Routed route(int64_t commit_log_offset, int32_t size, int64_t deliver_ms, int64_t now_ms, int32_t queue_id,
               int64_t queue_offset, std::vector<store::MessageToStore>& out);
  // The message to deliver for a parked record; false (logged) when it cannot be read.
  bool delivery(int64_t commit_log_offset, int32_t size, int64_t now_ms, std::vector<store::MessageToStore>& out);
  // Delivers held entries whose time has come.
  void deliver_held(int64_t now_ms);

  store::MessageStore& store_;
  EventLoop& loop_;
  const Clock& clock_;
  Logger log_;
  HostAddress self_;
  PutFn put_;
  PersistFn persist_;
  Timer timer_;
  std::map<int32_t, Queue> queues_;
  std::multimap<int64_t, Held> held_;  // by delivery time
  bool held_in_flight_ = false;
  std::vector<std::pair<int64_t, Held>> held_sending_;  // being stored
  bool running_ = false;
  bool dirty_ = false;
  bool in_wake_ = false;
  int64_t last_now_ms_ = 0;  // bucket check times use a clock that never goes back
  uint64_t generation_ = 0;
  uint64_t delivered_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace mq
