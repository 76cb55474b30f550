#include "store/group_commit.h"

#include "base/check.h"

namespace mq::store {

void GroupCommit::add(uint64_t token, int64_t end_offset, int64_t deadline_ms) {
  MQ_CHECK(waiters_.empty() || waiters_.back().end_offset <= end_offset,
           "GroupCommit: end offsets must not decrease");
  waiters_.push_back(Waiter{token, end_offset, deadline_ms});
}

std::vector<uint64_t> GroupCommit::complete_up_to(int64_t flushed_offset) {
  std::vector<uint64_t> done;
  while (!waiters_.empty() && waiters_.front().end_offset <= flushed_offset) {
    done.push_back(waiters_.front().token);
    waiters_.pop_front();
  }
  return done;
}

std::vector<uint64_t> GroupCommit::expire(int64_t now_ms) {
  std::vector<uint64_t> expired;
  std::deque<Waiter> keep;
  for (const auto& w : waiters_) {
    if (w.deadline_ms <= now_ms)
      expired.push_back(w.token);
    else
      keep.push_back(w);
  }
  waiters_.swap(keep);
  return expired;
}

std::vector<uint64_t> GroupCommit::take_all() {
  std::vector<uint64_t> all;
  for (const auto& w : waiters_) all.push_back(w.token);
  waiters_.clear();
  return all;
}

}  // namespace mq::store
