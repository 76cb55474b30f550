#include "broker/rebalance_lock_manager.h"

namespace mq {

std::vector<LockedQueue> RebalanceLockManager::try_lock_batch(const std::string& group,
                                                              const std::vector<LockedQueue>& queues,
                                                              const std::string& client_id, int64_t now_ms) {
  std::vector<LockedQueue> locked;
  auto& table = groups_[group];
  for (const auto& q : queues) {
    auto it = table.find(q);
    if (it == table.end()) {
      table.emplace(q, Entry{client_id, now_ms});
      locked.push_back(q);
    } else if (it->second.client_id == client_id || expired(it->second, now_ms)) {
      // Renewal, or a take-over of a lock whose holder stopped renewing it.
      it->second = Entry{client_id, now_ms};
      locked.push_back(q);
    }
  }
  return locked;
}

void RebalanceLockManager::unlock_batch(const std::string& group, const std::vector<LockedQueue>& queues,
                                        const std::string& client_id) {
  auto g = groups_.find(group);
  if (g == groups_.end()) return;
  for (const auto& q : queues) {
    auto it = g->second.find(q);
    if (it != g->second.end() && it->second.client_id == client_id) g->second.erase(it);
  }
  if (g->second.empty()) groups_.erase(g);
}

bool RebalanceLockManager::is_locked(const std::string& group, const LockedQueue& q, const std::string& client_id,
                                     int64_t now_ms) const {
  return holder(group, q, now_ms) == client_id && !client_id.empty();
}

std::string RebalanceLockManager::holder(const std::string& group, const LockedQueue& q, int64_t now_ms) const {
  auto g = groups_.find(group);
  if (g == groups_.end()) return {};
  auto it = g->second.find(q);
  if (it == g->second.end() || expired(it->second, now_ms)) return {};
  return it->second.client_id;
}

}  // namespace mq
