// Long polling (RocketMQ's PullRequestHoldService): a PULL_MESSAGE that finds nothing new and may
// be suspended is parked here, keyed by topic and queue, instead of being answered. It runs again as
// soon as a message is appended to that queue (notify_message_arriving), or when its hold time ends;
// the re-run may not suspend again, so an empty result then answers PULL_NOT_FOUND.
// Loop-thread only; time is passed in.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace mq {

class PullHoldService {
 public:
  // `rerun` answers the request; it is called exactly once (on arrival, on expiry, or on clear()).
  void hold(const std::string& topic, int32_t queue_id, int64_t pull_offset, int64_t deadline_ms,
            std::function<void()> rerun);
  // A message arrived: every request of that queue waiting for an offset below `max_offset` runs.
  void notify_message_arriving(const std::string& topic, int32_t queue_id, int64_t max_offset);
  // Runs every request whose hold time has passed.
  void expire(int64_t now_ms);
  // Runs every held request (shutdown, or the broker lost its store).
  void clear();
  size_t size() const { return count_; }
  // The earliest deadline of any held request (INT64_MAX when none).
  int64_t next_deadline_ms() const;

 private:
  struct Held {
    int64_t pull_offset;
    int64_t deadline_ms;
    std::function<void()> rerun;
  };
  std::map<std::pair<std::string, int32_t>, std::vector<Held>> held_;
  size_t count_ = 0;
};

}  // namespace mq
