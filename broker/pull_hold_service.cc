#include "broker/pull_hold_service.h"

#include <climits>

namespace mq {

void PullHoldService::hold(const std::string& topic, int32_t queue_id, int64_t pull_offset, int64_t deadline_ms,
                           std::function<void()> rerun) {
  held_[{topic, queue_id}].push_back(Held{pull_offset, deadline_ms, std::move(rerun)});
  ++count_;
}

void PullHoldService::notify_message_arriving(const std::string& topic, int32_t queue_id, int64_t max_offset) {
  auto it = held_.find({topic, queue_id});
  if (it == held_.end()) return;
  std::vector<std::function<void()>> ready;
  auto& list = it->second;
  for (size_t i = 0; i < list.size();) {
    if (list[i].pull_offset < max_offset) {
      ready.push_back(std::move(list[i].rerun));
      list[i] = std::move(list.back());
      list.pop_back();
      --count_;
    } else {
      ++i;
    }
  }
  if (list.empty()) held_.erase(it);
  // Reruns may hold again (they cannot: reruns never suspend) or touch other queues: run them last.
  for (auto& fn : ready) fn();
}

void PullHoldService::expire(int64_t now_ms) {
  std::vector<std::function<void()>> ready;
  for (auto it = held_.begin(); it != held_.end();) {
    auto& list = it->second;
    for (size_t i = 0; i < list.size();) {
      if (list[i].deadline_ms <= now_ms) {
        ready.push_back(std::move(list[i].rerun));
        list[i] = std::move(list.back());
        list.pop_back();
        --count_;
      } else {
        ++i;
      }
    }
    it = list.empty() ? held_.erase(it) : std::next(it);
  }
  for (auto& fn : ready) fn();
}

void PullHoldService::clear() {
  auto all = std::move(held_);
  held_.clear();
  count_ = 0;
  for (auto& [key, list] : all)
    for (auto& h : list) h.rerun();
}

int64_t PullHoldService::next_deadline_ms() const {
  int64_t best = INT64_MAX;
  for (const auto& [key, list] : held_)
    for (const auto& h : list) best = std::min(best, h.deadline_ms);
  return best;
}

}  // namespace mq
