// GroupCommit: the SYNC_FLUSH bookkeeping between puts and fsyncs. It lives on the owner (loop)
// thread and does no I/O. The broker's cycle:
//   1. put_message() returns PUT_OK with end_offset; the broker calls add(token, end_offset,
//      now + syncFlushTimeout) instead of answering.
//   2. If no flush is running, it posts MessageStore::flush_commit_log() to the worker pool.
//   3. When the flush completes, on the loop thread: complete_up_to(flushed_offset) returns every
//      waiting put covered by that one fsync (answer PUT_OK); if waiters remain (they arrived
//      during the fsync), post the next flush. So each fsync completes every put that was waiting
//      when it started: throughput is bounded by bandwidth, not by the fsync rate.
//   4. On a timer, expire(now) returns the puts past their deadline (answer FLUSH_DISK_TIMEOUT; the
//      message is stored, only its durability is unconfirmed, as in RocketMQ).
//   5. If a flush fails, take_all() returns every waiter; the store is no longer writable.
#pragma once
#include <cstdint>
#include <cstddef>
#include <deque>
#include <vector>

namespace mq::store {

class GroupCommit {
 public:
  struct Waiter {
    uint64_t token;
    int64_t end_offset;
    int64_t deadline_ms;
  };
  // end_offset must not decrease between calls (puts append in order).
  void add(uint64_t token, int64_t end_offset, int64_t deadline_ms);
  std::vector<uint64_t> complete_up_to(int64_t flushed_offset);
  std::vector<uint64_t> expire(int64_t now_ms);
  std::vector<uint64_t> take_all();
  bool empty() const { return waiters_.empty(); }
  size_t size() const { return waiters_.size(); }
  // The offset the next flush has to reach to complete everyone (0 when empty).
  int64_t wanted_offset() const { return waiters_.empty() ? 0 : waiters_.back().end_offset; }

 private:
  std::deque<Waiter> waiters_;
};

}  // namespace mq::store
