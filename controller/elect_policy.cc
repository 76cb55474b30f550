#include "controller/elect_policy.h"

#include <vector>

namespace mq::controller {

bool better_candidate(const BrokerLiveInfo& a, const BrokerLiveInfo& b) {
  if (a.epoch != b.epoch) return a.epoch > b.epoch;
  if (a.max_offset != b.max_offset) return a.max_offset > b.max_offset;
  return a.election_priority < b.election_priority;
}

namespace {

std::optional<int64_t> try_elect(const std::string& cluster, const std::string& broker_name,
                                 const std::set<int64_t>& candidates, std::optional<int64_t> old_master,
                                 std::optional<int64_t> preferred_id, const BrokerHeartbeatManager& live,
                                 int64_t now_ms) {
  std::vector<int64_t> alive;  // ascending, as `candidates` is
  for (int64_t id : candidates)
    if (live.is_alive(cluster, broker_name, id, now_ms)) alive.push_back(id);
  if (alive.empty()) return std::nullopt;
  auto contains = [&alive](int64_t id) {
    for (int64_t a : alive)
      if (a == id) return true;
    return false;
  };
  if (old_master && contains(*old_master) && (!preferred_id || *preferred_id == *old_master)) return old_master;
  if (preferred_id) return contains(*preferred_id) ? preferred_id : std::nullopt;

  // Ascending ids and a strict "better" keep the smallest id among equals.
  std::optional<int64_t> best;
  const BrokerLiveInfo* best_info = nullptr;
  for (int64_t id : alive) {
    const BrokerLiveInfo* info = live.live_info(cluster, broker_name, id);
    if (!best) {
      best = id;
      best_info = info;
    } else if (info != nullptr && (best_info == nullptr || better_candidate(*info, *best_info))) {
      best = id;
      best_info = info;
    }
  }
  return best;
}

}  // namespace

std::optional<int64_t> elect(const std::string& cluster, const std::string& broker_name,
                             const std::set<int64_t>& sync_state_set, const std::set<int64_t>& all_members,
                             std::optional<int64_t> old_master, std::optional<int64_t> preferred_id,
                             const BrokerHeartbeatManager& live, bool elect_unclean, int64_t now_ms) {
  auto chosen = try_elect(cluster, broker_name, sync_state_set, old_master, preferred_id, live, now_ms);
  if (chosen || !elect_unclean) return chosen;
  return try_elect(cluster, broker_name, all_members, old_master, preferred_id, live, now_ms);
}

}  // namespace mq::controller
