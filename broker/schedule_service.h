// ScheduleMessageService: delivers delayed messages (RocketMQ's delay levels).
//
// The store parks a message whose DELAY property names level N in SCHEDULE_TOPIC_XXXX queue N-1,
// with its real topic and queue in REAL_TOPIC / REAL_QID, and gives its ConsumeQueue unit the
// delivery time (store time + the level's delay) as tag code (store/message_store.h). Each queue
// therefore holds messages in delivery-time order, and this service only has to walk every
// queue from its progress offset: a unit whose time has come is read, turned back into a message
// of its real topic and queue (DELAY removed, everything else as stored: body, flags, born host,
// reconsume times, keys, UNIQ_KEY, so the message id stays), and put; the first unit not yet due
// stops that queue until its time. Units of one queue are delivered in order and the offset moves
// only past messages that were stored, so a put that fails is tried again, never skipped.
//
// Progress is RocketMQ's delayOffset.json ({"offsetTable":{<level>:<next queue offset>,...}},
// unquoted integer keys), written every flushDelayOffsetInterval and at stop; after a crash,
// messages delivered since the last write are delivered again (at-least-once, as in RocketMQ),
// none is lost. A delivery time further ahead than now + the level's delay (the clock went back)
// is treated as due now, as RocketMQ corrects it.
//
// Only a master (or a ready DLedger leader) delivers: the broker starts the service when it takes
// that role and stops it when it loses it; a slave receives delayOffset.json verbatim from its
// master. The service wakes at the earliest known delivery time, at least every 100 ms (RocketMQ
// polls every 100 ms), so messages go out within a few milliseconds of their time; it delivers at
// most kMaxPerWake messages per queue per wake and then yields the loop.
//
// Threads: the loop thread only. The store is read on its owner thread (the loop); puts go through
// the broker (PutFn), which may answer at once or later (a DLedger proposal commits).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/log.h"
#include "runtime/event_loop.h"
#include "store/message_store.h"

namespace mq {

inline constexpr const char* kScheduleTopic = "SCHEDULE_TOPIC_XXXX";

// delayOffset.json's shape, {"offsetTable":{<key>:<queue offset>,...}} with unquoted integer keys
// (timerOffset.json uses it too). parse_offset_table: nullopt, with the reason, when the text is not
// that shape or a key is outside [min_key, max_key]; negative offsets read as 0.
std::optional<std::map<int32_t, int64_t>> parse_offset_table(const std::string& text, int32_t min_key, int32_t max_key,
                                                             const char* key_name, std::string* error);
std::string encode_offset_table(const std::map<int32_t, int64_t>& offsets);

class ScheduleMessageService {
 public:
  // Stores the messages in order; calls done(n) once, n = how many of the first messages were
  // stored (n < size means the rest were not). done may run before PutFn returns.
  using PutFn = std::function<void(std::vector<store::MessageToStore> msgs, std::function<void(size_t stored)> done)>;
  // Writes the delayOffset.json text (the broker does it on its worker strand).
  using PersistFn = std::function<void(std::string text)>;

  ScheduleMessageService(EventLoop& loop, store::MessageStore& store, const Clock& clock, Logger log, PutFn put,
                         PersistFn persist);
  ~ScheduleMessageService();
  ScheduleMessageService(const ScheduleMessageService&) = delete;
  ScheduleMessageService& operator=(const ScheduleMessageService&) = delete;

  // Loads progress from the delayOffset.json text (empty: all levels at 0; a level beyond the
  // configured ones is kept as it was but not delivered). False, with the reason, when the text is
  // not RocketMQ's shape; nothing is changed then.
  bool load(const std::string& text, std::string* error);
  // Begins delivering (first check at once). Idempotent.
  void start();
  // Stops delivering and persists; a put still in flight is forgotten (its messages are delivered
  // again by the next start, at least once). Idempotent.
  void stop();
  bool running() const { return running_; }
  // Persists when progress moved since the last write (the broker's flushDelayOffsetInterval).
  void persist_if_changed();
  // delayOffset.json text.
  std::string encode() const;

  int64_t offset_of_level(int level) const;
  uint64_t delivered() const { return delivered_; }
  int levels() const { return static_cast<int>(store_.delay_level_ms().size()); }

  static constexpr int kMaxPerWake = 4096;
  static constexpr int64_t kPollIntervalMs = 100;

 private:
  struct Level {
    int64_t offset = 0;
    bool in_flight = false;
    int64_t next_due_ms = -1;  // delivery time of the first unit not yet due (-1: none known)
  };
  void wake();
  void arm();
  // Delivers what is due in one level; false when it stopped because of the per-wake cap.
  bool run_level(int level, Level& lv, int64_t now_ms);

  EventLoop& loop_;
  store::MessageStore& store_;
  const Clock& clock_;
  Logger log_;
  PutFn put_;
  PersistFn persist_;
  Timer timer_;
  std::map<int, Level> levels_;  // level (1-based) -> progress
  bool running_ = false;
  bool dirty_ = false;
  bool in_wake_ = false;
  uint64_t generation_ = 0;  // bumped by stop(): late put answers of an older run are ignored
  uint64_t delivered_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace mq
