#include "controller/broker_heartbeat_manager.h"

#include <climits>
#include <optional>

#include "codec/codes.h"
#include "codec/controller_data.h"
#include "codec/header_reader.h"

namespace mq::controller {

namespace f = controller_field;

Result<Unit, int32_t> BrokerHeartbeatManager::on_heartbeat(const ExtFields& fields, uint64_t channel_id,
                                                         int64_t now_ms) {
  HeaderReader r(fields);
  std::string cluster = r.str(f::kClusterName);
  std::string addr = r.str(f::kBrokerAddr);
  std::string name = r.str(f::kBrokerName);
  std::optional<int64_t> id = r.opt_i64(f::kBrokerId);
  std::optional<int64_t> epoch = r.opt_i64(f::kEpoch);
  std::optional<int64_t> max_offset = r.opt_i64(f::kMaxOffset);
  std::optional<int64_t> confirm_offset = r.opt_i64(f::kConfirmOffset);
  std::optional<int64_t> timeout = r.opt_i64(f::kHeartbeatTimeoutMills);
  std::optional<int64_t> priority = r.opt_i64(f::kElectionPriority);
  if (!r.ok()) return make_error(response_code::kSystemError, r.error());
  auto in_int32 = [](const std::optional<int64_t>& v) { return !v || (*v >= INT32_MIN && *v <= INT32_MAX); };
  if (!in_int32(epoch)) return make_error(response_code::kSystemError, "header field 'epoch' out of int32 range");
  if (!in_int32(priority))
    return make_error(response_code::kSystemError, "header field 'electionPriority' out of int32 range");
  if (!id) return make_error(response_code::kControllerInvalidRequest, std::string("Heart beat with empty brokerId"));

  const auto real_epoch = static_cast<int32_t>(epoch.value_or(-1));
  const int64_t real_max_offset = max_offset.value_or(-1);
  const int64_t real_confirm_offset = confirm_offset.value_or(-1);
  const int64_t real_timeout = timeout.value_or(kDefaultBrokerHeartbeatTimeoutMs);
  const auto real_priority = static_cast<int32_t>(priority.value_or(INT32_MAX));

  BrokerKey key{std::move(cluster), name, *id};
  auto it = table_.find(key);
  if (it == table_.end()) {
    BrokerLiveInfo info;
    info.broker_name = std::move(name);
    info.broker_addr = std::move(addr);
    info.broker_id = *id;
    info.last_update_ms = now_ms;
    info.heartbeat_timeout_ms = real_timeout;
    info.channel_id = channel_id;
    info.epoch = real_epoch;
    info.max_offset = real_max_offset;
    info.confirm_offset = real_confirm_offset;
    info.election_priority = real_priority;
    table_.emplace(std::move(key), std::move(info));
    return Unit{};
  }
  BrokerLiveInfo& prev = it->second;
  prev.last_update_ms = now_ms;
  prev.heartbeat_timeout_ms = real_timeout;
  prev.election_priority = real_priority;
  // A broker's log position only moves forward in the election ranking: a stale or reordered
  // heartbeat must not make a broker look less caught up than it was (reference 4.5, pitfall 16).
  if (real_epoch > prev.epoch || (real_epoch == prev.epoch && real_max_offset > prev.max_offset)) {
    prev.epoch = real_epoch;
    prev.max_offset = real_max_offset;
    prev.confirm_offset = real_confirm_offset;
  }
  return Unit{};
}

const BrokerLiveInfo* BrokerHeartbeatManager::live_info(const std::string& cluster, const std::string& broker_name,
                                                        int64_t id) const {
  if (!cluster.empty()) {
    auto it = table_.find(BrokerKey{cluster, broker_name, id});
    return it == table_.end() ? nullptr : &it->second;
  }
  const BrokerLiveInfo* best = nullptr;
  for (const auto& [key, info] : table_) {
    if (key.broker_name != broker_name || key.broker_id != id) continue;
    if (best == nullptr || info.last_update_ms > best->last_update_ms) best = &info;
  }
  return best;
}

bool BrokerHeartbeatManager::is_alive(const std::string& cluster, const std::string& broker_name, int64_t id,
                                      int64_t now_ms) const {
  if (!cluster.empty()) {
    auto it = table_.find(BrokerKey{cluster, broker_name, id});
    return it != table_.end() && it->second.alive_at(now_ms);
  }
  for (const auto& [key, info] : table_)
    if (key.broker_name == broker_name && key.broker_id == id && info.alive_at(now_ms)) return true;
  return false;
}

std::vector<BrokerKey> BrokerHeartbeatManager::scan_expired(int64_t now_ms) {
  std::vector<BrokerKey> out;
  for (auto it = table_.begin(); it != table_.end();) {
    if (it->second.alive_at(now_ms)) {
      ++it;
      continue;
    }
    out.push_back(it->first);
    it = table_.erase(it);
  }
  return out;
}

std::vector<BrokerKey> BrokerHeartbeatManager::on_channel_closed(uint64_t channel_id) {
  std::vector<BrokerKey> out;
  for (auto it = table_.begin(); it != table_.end();) {
    if (it->second.channel_id != channel_id) {
      ++it;
      continue;
    }
    out.push_back(it->first);
    it = table_.erase(it);
  }
  return out;
}

}  // namespace mq::controller
