#include "controller/replicas_info_manager.h"

#include <charconv>
#include <climits>

#include "codec/codes.h"
#include "codec/header_reader.h"
#include "controller/elect_policy.h"

namespace mq::controller {

namespace {

namespace fld = controller_field;
namespace rc = response_code;

// HeaderReader plus the int32 fields (Java Integer) it has no range-checked optional read for.
class Header {
 public:
  explicit Header(const ExtFields& h) : r_(h) {}
  bool ok() const { return r_.ok() && error_.empty(); }
  std::string error() const { return r_.ok() ? error_ : r_.error(); }

  std::string required_str(std::string_view key) { return r_.str(key); }
  std::optional<std::string> opt_str(std::string_view key) const { return r_.opt_str(key); }
  int64_t required_i64(std::string_view key) { return r_.i64(key); }
  std::optional<int64_t> opt_i64(std::string_view key) { return r_.opt_i64(key); }
  std::optional<int32_t> opt_i32(std::string_view key) {
    auto v = r_.opt_i64(key);
    if (!v) return std::nullopt;
    if (*v < INT32_MIN || *v > INT32_MAX) {
      if (error_.empty()) error_ = "header field '" + std::string(key) + "' out of int32 range";
      return std::nullopt;
    }
    return static_cast<int32_t>(*v);
  }
  int32_t required_i32(std::string_view key) {
    bool present = r_.opt_str(key).has_value();
    auto v = opt_i32(key);
    if (!present && error_.empty()) error_ = "missing required header field '" + std::string(key) + "'";
    return v.value_or(0);
  }
  bool boolean(std::string_view key, bool fallback) const { return r_.boolean(key, fallback); }

 private:
  HeaderReader r_;
  std::string error_;
};

ControllerResult with_code(int32_t code, std::string remark) {
  ControllerResult r;
  r.code = code;
  r.remark = std::move(remark);
  return r;
}

ControllerResult system_error(std::string remark) { return with_code(rc::kSystemError, std::move(remark)); }

void put(ExtFields& h, std::string_view key, const std::string& v) { h.set(std::string(key), v); }
void put(ExtFields& h, std::string_view key, int64_t v) { h.set(std::string(key), v); }
void put(ExtFields& h, std::string_view key, int32_t v) { h.set(std::string(key), v); }

// Java's AtomicInteger.incrementAndGet: wraps instead of overflowing.
int32_t next_epoch(int32_t e) { return static_cast<int32_t>(static_cast<uint32_t>(e) + 1u); }

std::optional<std::string> address_of(const BrokerReplicaInfo& rep, std::optional<int64_t> id) {
  if (!id) return std::nullopt;
  auto it = rep.members.find(*id);
  if (it == rep.members.end()) return std::nullopt;
  return it->second.address;
}

bool is_blank(const std::string& s) {
  for (char c : s)
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v') return false;
  return true;
}

// "1;2" as Java's split(";") + Long.valueOf: trailing empty pieces are dropped, any other piece
// must be a whole decimal long (one leading sign, '+' or '-'; "+-1" is refused as Java refuses it).
std::optional<std::set<int64_t>> parse_id_list(const std::string& text) {
  std::vector<std::string_view> pieces;
  std::string_view rest = text;
  while (true) {
    size_t semi = rest.find(';');
    pieces.push_back(rest.substr(0, semi));
    if (semi == std::string_view::npos) break;
    rest.remove_prefix(semi + 1);
  }
  while (!pieces.empty() && pieces.back().empty()) pieces.pop_back();
  std::set<int64_t> out;
  for (std::string_view p : pieces) {
    const char* b = p.data();
    const char* e = p.data() + p.size();
    if (b != e && *b == '+') {
      ++b;
      if (b != e && *b == '-') return std::nullopt;
    }
    int64_t v = 0;
    auto [ptr, ec] = std::from_chars(b, e, v);
    if (b == e || ec != std::errc() || ptr != e) return std::nullopt;
    out.insert(v);
  }
  return out;
}

}  // namespace

// ---- table access ----

bool ReplicasInfoManager::contains(const std::string& broker_name) const {
  return replica_info_table_.contains(broker_name) && sync_state_info_table_.contains(broker_name);
}

const BrokerReplicaInfo* ReplicasInfoManager::replica_info(const std::string& broker_name) const {
  auto it = replica_info_table_.find(broker_name);
  return it == replica_info_table_.end() ? nullptr : &it->second;
}

const SyncStateInfo* ReplicasInfoManager::sync_state_info(const std::string& broker_name) const {
  auto it = sync_state_info_table_.find(broker_name);
  return it == sync_state_info_table_.end() ? nullptr : &it->second;
}

std::string ReplicasInfoManager::liveness_cluster(const std::string& broker_name, const std::string& fallback) const {
  if (const BrokerReplicaInfo* rep = replica_info(broker_name)) return rep->cluster_name;
  if (const SyncStateInfo* sync = sync_state_info(broker_name)) return sync->cluster_name;
  return fallback;
}

// ---- requests ----

ControllerResult ReplicasInfoManager::alter_sync_state_set(const ExtFields& h, std::string_view body,
                                                           const BrokerHeartbeatManager& live, int64_t now_ms) const {
  Header hr(h);
  std::string name = hr.required_str(fld::kBrokerName);
  std::optional<int64_t> master_id = hr.opt_i64(fld::kMasterBrokerId);
  int32_t master_epoch = hr.required_i32(fld::kMasterEpoch);
  if (!hr.ok()) return system_error(hr.error());
  if (body.empty()) return system_error("missing SyncStateSet body");
  auto proposed = SyncStateSet::parse(body);
  if (!proposed.ok()) return system_error(proposed.detail());

  ControllerResult res;
  // AlterSyncStateSetResponseHeader's field is a Java int: present (0) even on refusals.
  put(res.header, fld::kNewSyncStateSetEpoch, int32_t{0});
  auto refuse = [&res](int32_t code, std::string remark) {
    res.code = code;
    res.remark = std::move(remark);
    return res;
  };
  if (!contains(name)) return refuse(rc::kControllerAlterSyncStateSetFailed, "Broker metadata is not existed");
  const SyncStateInfo& sync = sync_state_info_table_.at(name);
  const BrokerReplicaInfo& rep = replica_info_table_.at(name);
  const std::set<int64_t>& members = proposed->members;
  if (members == sync.sync_state_set)
    return refuse(rc::kControllerAlterSyncStateSetFailed,
                  "The newSyncStateSet is equal with oldSyncStateSet, no needed to update syncStateSet");
  if (!sync.master_broker_id || sync.master_broker_id != master_id)
    return refuse(rc::kControllerInvalidMaster,
                  "Rejecting alter syncStateSet request because the current leader is:{" +
                      (sync.master_broker_id ? std::to_string(*sync.master_broker_id) : std::string("null")) +
                      "}, not {" + (master_id ? std::to_string(*master_id) : std::string("null")) + "}");
  if (master_epoch != sync.master_epoch)
    return refuse(rc::kControllerFencedMasterEpoch,
                  "Rejecting alter syncStateSet request because the current master epoch is:{" +
                      std::to_string(sync.master_epoch) + "}, not {" + std::to_string(master_epoch) + "}");
  if (proposed->epoch != sync.sync_state_set_epoch)
    return refuse(rc::kControllerFencedSyncStateSetEpoch,
                  "Rejecting alter syncStateSet request because the current syncStateSet epoch is:{" +
                      std::to_string(sync.sync_state_set_epoch) + "}, not {" + std::to_string(proposed->epoch) + "}");
  for (int64_t id : members) {
    if (!rep.members.contains(id))
      return refuse(rc::kControllerInvalidReplicas, "Rejecting alter syncStateSet request because the replicas {" +
                                                        std::to_string(id) + "} don't exist");
    if (!live.is_alive(rep.cluster_name, name, id, now_ms))
      return refuse(rc::kControllerBrokerNotAlive, "Rejecting alter syncStateSet request because the replicas {" +
                                                       std::to_string(id) + "} don't alive");
  }
  if (!members.contains(*sync.master_broker_id))
    return refuse(rc::kControllerAlterSyncStateSetFailed,
                  "Rejecting alter syncStateSet request because the newSyncStateSet don't contains origin leader {" +
                      std::to_string(*sync.master_broker_id) + "}");

  int32_t epoch = next_epoch(sync.sync_state_set_epoch);
  put(res.header, fld::kNewSyncStateSetEpoch, epoch);
  res.body = SyncStateSet{members, epoch}.to_json();
  res.events.push_back(encode_event(AlterSyncStateSetEvent{name, members}));
  return res;
}

ControllerResult ReplicasInfoManager::elect_master(const ExtFields& h, const BrokerHeartbeatManager& live,
                                                   int64_t now_ms) const {
  // ElectMasterRequestHeader's Java defaults: clusterName "", brokerName "", brokerId -1,
  // designateElect false.
  Header hr(h);
  std::string name = hr.opt_str(fld::kBrokerName).value_or(std::string());
  int64_t broker_id = hr.opt_i64(fld::kBrokerId).value_or(kNoBrokerId);
  bool designate = hr.boolean(fld::kDesignateElect, false);
  if (!hr.ok()) return system_error(hr.error());

  if (!contains(name)) return with_code(rc::kControllerBrokerNeedToBeRegistered, "Broker hasn't been registered");
  const SyncStateInfo& sync = sync_state_info_table_.at(name);
  const BrokerReplicaInfo& rep = replica_info_table_.at(name);
  const std::optional<int64_t> old_master = sync.master_broker_id;

  std::optional<int64_t> chosen;
  // First election of the set: the asking broker becomes master without a liveness check. Java
  // takes any id here; an id that is not a member would become a master without an address, so
  // such a request goes to the policy instead (a registered broker is always a member).
  if (sync.master_epoch == 0 && broker_id != kNoBrokerId && rep.members.contains(broker_id)) chosen = broker_id;
  if (!chosen) {
    std::set<int64_t> all;
    for (const auto& [id, member] : rep.members) all.insert(id);
    std::optional<int64_t> preferred = designate ? std::optional<int64_t>(broker_id) : std::nullopt;
    chosen = elect(rep.cluster_name, name, sync.sync_state_set, all, old_master, preferred, live, elect_unclean_, now_ms);
  }

  ControllerResult res;
  if (chosen && chosen == old_master) {
    res.code = rc::kControllerMasterStillExist;
    res.remark = "The old master " + std::to_string(*old_master) +
                 " is still alive, not need to elect new master for broker " + name;
    put(res.header, fld::kMasterEpoch, sync.master_epoch);
    put(res.header, fld::kSyncStateSetEpoch, sync.sync_state_set_epoch);
    put(res.header, fld::kMasterBrokerId, *old_master);
    if (auto addr = address_of(rep, old_master)) put(res.header, fld::kMasterAddress, *addr);
    res.body = ElectMasterResponseBody{std::nullopt, sync.sync_state_set}.to_json();
    return res;
  }
  if (chosen) {
    put(res.header, fld::kMasterBrokerId, *chosen);
    if (auto addr = address_of(rep, chosen)) put(res.header, fld::kMasterAddress, *addr);
    put(res.header, fld::kMasterEpoch, next_epoch(sync.master_epoch));
    put(res.header, fld::kSyncStateSetEpoch, next_epoch(sync.sync_state_set_epoch));
    BrokerMemberGroup group{rep.cluster_name, rep.broker_name, {}};
    for (const auto& [id, member] : rep.members) group.broker_addrs[id] = member.address;
    res.body = ElectMasterResponseBody{std::move(group), std::set<int64_t>{*chosen}}.to_json();
    res.events.push_back(encode_event(ElectMasterEvent{name, true, *chosen}));
    return res;
  }
  if (broker_id == kNoBrokerId) {
    // The controller asked because the master died: record that the set has no master now.
    res.code = rc::kControllerMasterNotAvailable;
    res.remark = "Old master has down and failed to elect a new broker master";
    res.events.push_back(encode_event(ElectMasterEvent{name, false, std::nullopt}));
    return res;
  }
  res.code = rc::kControllerElectMasterFailed;
  res.remark = "Failed to elect a new master";
  return res;
}

ControllerResult ReplicasInfoManager::register_broker(const ExtFields& h, const BrokerHeartbeatManager& live,
                                                      int64_t now_ms) const {
  Header hr(h);
  std::optional<std::string> cluster = hr.opt_str(fld::kClusterName);
  std::string name = hr.required_str(fld::kBrokerName);
  int64_t id = hr.required_i64(fld::kBrokerId);
  std::string address = hr.required_str(fld::kBrokerAddress);
  if (!hr.ok()) return system_error(hr.error());

  ControllerResult res;
  if (cluster) put(res.header, fld::kClusterName, *cluster);
  put(res.header, fld::kBrokerName, name);
  if (!contains(name)) {
    res.code = rc::kControllerBrokerNeedToBeRegistered;
    res.remark = "Broker-set: " + name + " hasn't been registered in controller";
    return res;
  }
  const SyncStateInfo& sync = sync_state_info_table_.at(name);
  const BrokerReplicaInfo& rep = replica_info_table_.at(name);
  auto member = rep.members.find(id);
  if (member == rep.members.end()) {
    res.code = rc::kControllerBrokerNeedToBeRegistered;
    res.remark = "BrokerId: " + std::to_string(id) + " hasn't been registered in broker-set: " + name;
    return res;
  }
  if (sync.master_broker_id && live.is_alive(rep.cluster_name, name, *sync.master_broker_id, now_ms)) {
    put(res.header, fld::kMasterBrokerId, *sync.master_broker_id);
    if (auto addr = address_of(rep, sync.master_broker_id)) put(res.header, fld::kMasterAddress, *addr);
    put(res.header, fld::kMasterEpoch, sync.master_epoch);
    put(res.header, fld::kSyncStateSetEpoch, sync.sync_state_set_epoch);
  }
  res.body = SyncStateSet{sync.sync_state_set, sync.sync_state_set_epoch}.to_json();
  if (address != member->second.address)
    res.events.push_back(encode_event(UpdateBrokerAddressEvent{cluster.value_or(std::string()), name, address, id}));
  return res;
}

ControllerResult ReplicasInfoManager::get_replica_info(const ExtFields& h) const {
  Header hr(h);
  std::string name = hr.required_str(fld::kBrokerName);
  if (!hr.ok()) return system_error(hr.error());
  if (!contains(name)) return with_code(rc::kControllerBrokerMetadataNotExist, "Broker metadata is not existed");
  const SyncStateInfo& sync = sync_state_info_table_.at(name);
  const BrokerReplicaInfo& rep = replica_info_table_.at(name);
  ControllerResult res;
  if (sync.master_broker_id) put(res.header, fld::kMasterBrokerId, *sync.master_broker_id);
  if (auto addr = address_of(rep, sync.master_broker_id)) put(res.header, fld::kMasterAddress, *addr);
  put(res.header, fld::kMasterEpoch, sync.master_epoch);
  res.body = SyncStateSet{sync.sync_state_set, sync.sync_state_set_epoch}.to_json();
  return res;
}

ControllerResult ReplicasInfoManager::get_sync_state_data(std::string_view body, const BrokerHeartbeatManager& live,
                                                          int64_t now_ms) const {
  // RocketMQ answers an empty body or list with a response nobody filled in.
  if (body.empty()) return system_error("not set any response code");
  auto names = parse_string_list(body);
  if (!names.ok()) return system_error("broker name list: " + names.detail());
  if (names->empty()) return system_error("not set any response code");

  BrokerReplicasInfo out;
  for (const std::string& name : *names) {
    if (!contains(name)) continue;
    const SyncStateInfo& sync = sync_state_info_table_.at(name);
    const BrokerReplicaInfo& rep = replica_info_table_.at(name);
    ReplicasInfo info;
    info.master_broker_id = sync.master_broker_id;
    info.master_address = address_of(rep, sync.master_broker_id);
    info.master_epoch = sync.master_epoch;
    info.sync_state_set_epoch = sync.sync_state_set_epoch;
    for (const auto& [id, member] : rep.members) {
      ReplicaIdentity r{name, id, member.address, live.is_alive(rep.cluster_name, name, id, now_ms)};
      (sync.sync_state_set.contains(id) ? info.in_sync_replicas : info.not_in_sync_replicas).push_back(std::move(r));
    }
    out.replicas_info_table[name] = std::move(info);
  }
  ControllerResult res;
  res.body = out.to_json();
  return res;
}

ControllerResult ReplicasInfoManager::get_next_broker_id(const ExtFields& h) const {
  Header hr(h);
  std::optional<std::string> cluster = hr.opt_str(fld::kClusterName);
  std::string name = hr.required_str(fld::kBrokerName);
  if (!hr.ok()) return system_error(hr.error());
  ControllerResult res;
  if (cluster) put(res.header, fld::kClusterName, *cluster);
  put(res.header, fld::kBrokerName, name);
  // The replica table alone decides (a set whose sync-state table was cleaned still counts).
  const BrokerReplicaInfo* rep = replica_info(name);
  put(res.header, fld::kNextBrokerId, rep ? rep->next_assign_broker_id : kFirstBrokerControllerId);
  return res;
}

ControllerResult ReplicasInfoManager::apply_broker_id(const ExtFields& h) const {
  Header hr(h);
  std::optional<std::string> cluster = hr.opt_str(fld::kClusterName);
  std::string name = hr.required_str(fld::kBrokerName);
  int64_t id = hr.required_i64(fld::kAppliedBrokerId);
  std::string check_code = hr.required_str(fld::kRegisterCheckCode);
  if (!hr.ok()) return system_error(hr.error());

  ControllerResult res;
  if (cluster) put(res.header, fld::kClusterName, *cluster);
  put(res.header, fld::kBrokerName, name);
  // registerCheckCode is "<brokerAddr>;<currentTimeMillis>".
  std::string address = check_code.substr(0, check_code.find(';'));
  std::string event = encode_event(ApplyBrokerIdEvent{cluster.value_or(std::string()), name, address, id, check_code});
  const BrokerReplicaInfo* rep = replica_info(name);
  if (rep == nullptr) {
    if (id == kFirstBrokerControllerId) {
      res.events.push_back(std::move(event));
      return res;
    }
    res.code = rc::kControllerBrokerIdInvalid;
    res.remark = "Broker-set: " + name + " hasn't been registered in controller, but broker try to apply brokerId: " +
                 std::to_string(id);
    return res;
  }
  auto member = rep->members.find(id);
  // An unused id, or the same broker retrying (same check code): accept.
  if (member == rep->members.end() || member->second.register_check_code == check_code) {
    res.events.push_back(std::move(event));
    return res;
  }
  res.code = rc::kControllerBrokerIdInvalid;
  res.remark = "Fail to apply brokerId: " + std::to_string(id) + " in broker-set: " + name;
  return res;
}

ControllerResult ReplicasInfoManager::clean_broker_data(const ExtFields& h, const BrokerHeartbeatManager& live,
                                                        int64_t now_ms) const {
  Header hr(h);
  std::string cluster = hr.opt_str(fld::kClusterName).value_or(std::string());
  std::string name = hr.required_str(fld::kBrokerName);
  std::string id_text = hr.opt_str(fld::kBrokerControllerIdsToClean).value_or(std::string());
  bool clean_living = hr.boolean(fld::kIsCleanLivingBroker, false);
  if (!hr.ok()) return system_error(hr.error());

  // Deviation: Java ignores the id list when isCleanLivingBroker=true and so deletes the whole set;
  // here the list is honoured either way (only the liveness refusals are skipped).
  std::optional<std::set<int64_t>> ids;
  if (!is_blank(id_text)) {
    ids = parse_id_list(id_text);
    if (!ids)
      return with_code(rc::kControllerInvalidCleanBrokerMetadata,
                       "Please set the option <brokerControllerIdsToClean> according to the format: '" + id_text + "'");
  }
  if (!clean_living) {
    const SyncStateInfo* sync = sync_state_info(name);
    if (!ids && sync != nullptr && sync->master_broker_id)
      return with_code(rc::kControllerInvalidCleanBrokerMetadata, "Broker " + name + " is still alive, clean up failure");
    if (ids) {
      std::string live_cluster = liveness_cluster(name, cluster);
      for (int64_t id : *ids)
        if (live.is_alive(live_cluster, name, id, now_ms))
          return with_code(rc::kControllerInvalidCleanBrokerMetadata,
                           "Broker [" + name + ",  " + std::to_string(id) + "] is still alive, clean up failure");
    }
  }
  if (!contains(name))
    return with_code(rc::kControllerInvalidCleanBrokerMetadata,
                     "Broker " + name + " is not existed,clean broker data failure.");
  ControllerResult res;
  res.events.push_back(encode_event(CleanBrokerDataEvent{name, ids}));
  return res;
}

// ---- applying committed events ----

Result<Unit, std::string> ReplicasInfoManager::apply(std::string_view entry) {
  auto event = decode_event(entry);
  if (!event.ok()) return event.error();
  apply_event(*event);
  return Unit{};
}

void ReplicasInfoManager::apply_event(const ControllerEvent& event) {
  if (const auto* e = std::get_if<AlterSyncStateSetEvent>(&event)) {
    if (!contains(e->broker_name)) return;
    SyncStateInfo& sync = sync_state_info_table_.at(e->broker_name);
    sync.sync_state_set = e->new_sync_state_set;
    sync.sync_state_set_epoch = next_epoch(sync.sync_state_set_epoch);
  } else if (const auto* e = std::get_if<ApplyBrokerIdEvent>(&event)) {
    BrokerReplicaInfo::Member member{e->broker_address, e->register_check_code};
    if (contains(e->broker_name)) {
      BrokerReplicaInfo& rep = replica_info_table_.at(e->broker_name);
      if (!rep.members.contains(e->new_broker_id)) {
        rep.members.emplace(e->new_broker_id, std::move(member));
        ++rep.next_assign_broker_id;
      }
      return;
    }
    // First member of the set (or a set only half left by CLEAN): both tables start afresh.
    BrokerReplicaInfo rep{e->cluster_name, e->broker_name, kFirstBrokerControllerId, {}};
    rep.members.emplace(e->new_broker_id, std::move(member));
    ++rep.next_assign_broker_id;
    replica_info_table_[e->broker_name] = std::move(rep);
    sync_state_info_table_[e->broker_name] = SyncStateInfo{e->cluster_name, e->broker_name, 0, 0, {}, std::nullopt};
  } else if (const auto* e = std::get_if<ElectMasterEvent>(&event)) {
    if (!contains(e->broker_name)) return;
    SyncStateInfo& sync = sync_state_info_table_.at(e->broker_name);
    if (e->new_master_elected && e->new_master_broker_id) {
      sync.master_broker_id = e->new_master_broker_id;
      sync.master_epoch = next_epoch(sync.master_epoch);
      sync.sync_state_set = {*e->new_master_broker_id};
      sync.sync_state_set_epoch = next_epoch(sync.sync_state_set_epoch);
    } else {
      // The master died and nobody could take over: no master, but the SyncStateSet is kept so a
      // later election still only trusts brokers that were in sync.
      sync.master_broker_id.reset();
      sync.master_epoch = next_epoch(sync.master_epoch);
    }
  } else if (const auto* e = std::get_if<CleanBrokerDataEvent>(&event)) {
    if (!e->broker_id_set_to_clean || e->broker_id_set_to_clean->empty()) {
      replica_info_table_.erase(e->broker_name);
      sync_state_info_table_.erase(e->broker_name);
      return;
    }
    if (!contains(e->broker_name)) return;
    BrokerReplicaInfo& rep = replica_info_table_.at(e->broker_name);
    SyncStateInfo& sync = sync_state_info_table_.at(e->broker_name);
    for (int64_t id : *e->broker_id_set_to_clean) {
      rep.members.erase(id);
      sync.sync_state_set.erase(id);
    }
    // As RocketMQ: each table goes when it is empty, independently (an empty SyncStateSet drops
    // the set even if members remain; APPLY_BROKER_ID then starts it afresh).
    if (rep.members.empty()) replica_info_table_.erase(e->broker_name);
    if (sync.sync_state_set.empty()) sync_state_info_table_.erase(e->broker_name);
  } else if (const auto* e = std::get_if<UpdateBrokerAddressEvent>(&event)) {
    auto rep = replica_info_table_.find(e->broker_name);
    if (rep == replica_info_table_.end()) return;
    auto member = rep->second.members.find(e->broker_id);
    if (member != rep->second.members.end()) member->second.address = e->broker_address;
  }
  // ReadEvent: nothing.
}

// ---- leader helpers ----

std::vector<std::string> ReplicasInfoManager::sets_with_dead_master(const BrokerHeartbeatManager& live,
                                                                    int64_t now_ms) const {
  std::vector<std::string> out;
  for (const auto& [name, sync] : sync_state_info_table_) {
    if (!sync.master_broker_id) continue;
    if (live.is_alive(sync.cluster_name, name, *sync.master_broker_id, now_ms)) continue;
    auto rep = replica_info_table_.find(name);
    if (rep == replica_info_table_.end()) continue;
    for (const auto& [id, member] : rep->second.members) {
      if (live.is_alive(sync.cluster_name, name, id, now_ms)) {
        out.push_back(name);
        break;
      }
    }
  }
  return out;
}

bool ReplicasInfoManager::is_master(const std::string& broker_name, int64_t id) const {
  const SyncStateInfo* sync = sync_state_info(broker_name);
  return sync != nullptr && sync->master_broker_id == id;
}

std::optional<ReplicasInfoManager::RoleChangeNotice> ReplicasInfoManager::role_change_notice(
    const std::string& broker_name, const BrokerHeartbeatManager& live, int64_t now_ms) const {
  if (!contains(broker_name)) return std::nullopt;
  const SyncStateInfo& sync = sync_state_info_table_.at(broker_name);
  const BrokerReplicaInfo& rep = replica_info_table_.at(broker_name);
  if (!sync.master_broker_id) return std::nullopt;
  RoleChangeNotice n;
  if (auto addr = address_of(rep, sync.master_broker_id)) put(n.header, fld::kMasterAddress, *addr);
  put(n.header, fld::kMasterEpoch, sync.master_epoch);
  put(n.header, fld::kSyncStateSetEpoch, sync.sync_state_set_epoch);
  put(n.header, fld::kMasterBrokerId, *sync.master_broker_id);
  n.body = SyncStateSet{sync.sync_state_set, sync.sync_state_set_epoch}.to_json();
  for (const auto& [id, member] : rep.members)
    if (!member.address.empty() && live.is_alive(rep.cluster_name, broker_name, id, now_ms))
      n.addresses.push_back(member.address);
  return n;
}

nlohmann::json ReplicasInfoManager::status_json() const {
  using nlohmann::json;
  json replicas = json::object();
  for (const auto& [name, rep] : replica_info_table_) {
    json members = json::object();
    for (const auto& [id, m] : rep.members)
      members[std::to_string(id)] = json{{"address", m.address}, {"registerCheckCode", m.register_check_code}};
    replicas[name] = json{{"clusterName", rep.cluster_name},
                          {"nextAssignBrokerId", rep.next_assign_broker_id},
                          {"members", std::move(members)}};
  }
  json syncs = json::object();
  for (const auto& [name, sync] : sync_state_info_table_) {
    json s = json{{"clusterName", sync.cluster_name},
                  {"masterEpoch", sync.master_epoch},
                  {"syncStateSetEpoch", sync.sync_state_set_epoch},
                  {"syncStateSet", sync.sync_state_set}};
    s["masterBrokerId"] = sync.master_broker_id ? json(*sync.master_broker_id) : json(nullptr);
    syncs[name] = std::move(s);
  }
  return json{{"electUncleanMaster", elect_unclean_}, {"replicaInfoTable", std::move(replicas)},
              {"syncStateSetInfoTable", std::move(syncs)}};
}

}  // namespace mq::controller
