#include "codec/controller_data.h"

#include <charconv>
#include <limits>

#include <nlohmann/json.hpp>

#include "base/bytes.h"
#include "codec/fastjson.h"
#include "codec/json_lex.h"

namespace mq {
namespace {

using nlohmann::json;

std::string json_quoted(std::string_view s) {
  std::string out;
  json_lex::append_quoted(out, s);
  return out;
}

bool text_to_i64(const std::string& s, int64_t& out) {
  if (s.empty()) return false;
  const char* b = s.data();
  // Long.valueOf accepts one leading sign: '+' (which from_chars does not take) or '-', not "+-".
  if (*b == '+') {
    ++b;
    if (b != s.data() + s.size() && *b == '-') return false;
  }
  auto [p, ec] = std::from_chars(b, s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && b != p;
}

// An integer from a JSON value as fastjson would coerce it into a Java long: a JSON integer or a
// decimal string. Fractions, objects and out-of-range values are refused.
bool value_to_i64(const json& v, int64_t& out) {
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    out = static_cast<int64_t>(u);
    return true;
  }
  if (v.is_number_integer()) {
    out = v.get<int64_t>();
    return true;
  }
  if (v.is_string()) return text_to_i64(v.get_ref<const std::string&>(), out);
  return false;
}

// Typed reads of one JSON object's fields. Like HeaderReader, it remembers the first problem so a
// parser reads every field and checks ok() once. Absent and null fields are Java nulls: the
// fallback (or nullopt) is returned and nothing is recorded unless the field is required.
class Fields {
 public:
  Fields(const json& obj, std::string what) : obj_(obj), what_(std::move(what)) {}

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

  const json* get(std::string_view key) const {
    auto it = obj_.find(key);
    if (it == obj_.end() || it->is_null()) return nullptr;
    return &*it;
  }
  std::optional<int64_t> opt_i64(std::string_view key) {
    const json* v = get(key);
    if (v == nullptr) return std::nullopt;
    int64_t out = 0;
    if (!value_to_i64(*v, out)) {
      bad(key, "is not an integer");
      return std::nullopt;
    }
    return out;
  }
  int64_t i64(std::string_view key, int64_t fallback = 0) { return opt_i64(key).value_or(fallback); }
  int64_t required_i64(std::string_view key) {
    if (get(key) == nullptr) missing(key);
    return i64(key);
  }
  int32_t i32(std::string_view key, int32_t fallback = 0) {
    auto v = opt_i64(key);
    if (!v) return fallback;
    if (*v < std::numeric_limits<int32_t>::min() || *v > std::numeric_limits<int32_t>::max()) {
      bad(key, "is out of int32 range");
      return fallback;
    }
    return static_cast<int32_t>(*v);
  }
  std::optional<std::string> opt_str(std::string_view key) {
    const json* v = get(key);
    if (v == nullptr) return std::nullopt;
    if (v->is_string()) return v->get<std::string>();
    if (v->is_number() || v->is_boolean()) return v->dump(-1, ' ', false, kJsonReplace);
    bad(key, "is not a string");
    return std::nullopt;
  }
  std::string str(std::string_view key) { return opt_str(key).value_or(std::string()); }
  std::string required_str(std::string_view key) {
    if (get(key) == nullptr) missing(key);
    return str(key);
  }
  bool boolean(std::string_view key, bool fallback = false) {
    const json* v = get(key);
    if (v == nullptr) return fallback;
    if (v->is_boolean()) return v->get<bool>();
    if (v->is_string()) {
      const auto& s = v->get_ref<const std::string&>();
      if (s == "true") return true;
      if (s == "false") return false;
    }
    bad(key, "is not a boolean");
    return fallback;
  }
  std::optional<std::set<int64_t>> opt_id_set(std::string_view key) {
    const json* v = get(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_array()) {
      bad(key, "is not an array");
      return std::nullopt;
    }
    std::set<int64_t> out;
    for (const auto& e : *v) {
      int64_t id = 0;
      if (!value_to_i64(e, id)) {
        bad(key, "holds a value that is not an integer id");
        return std::nullopt;
      }
      out.insert(id);
    }
    return out;
  }
  // A nested object or array; absent/null -> nullptr, wrong kind -> nullptr and an error.
  const json* child(std::string_view key, bool want_array) {
    const json* v = get(key);
    if (v == nullptr) return nullptr;
    if (want_array ? !v->is_array() : !v->is_object()) {
      bad(key, want_array ? "is not an array" : "is not an object");
      return nullptr;
    }
    return v;
  }
  void fail(const std::string& why) {
    if (error_.empty()) error_ = what_ + ": " + why;
  }

 private:
  void missing(std::string_view key) { fail("missing field '" + std::string(key) + "'"); }
  void bad(std::string_view key, const char* why) { fail("field '" + std::string(key) + "' " + why); }

  const json& obj_;
  std::string what_;
  std::string error_;
};

// Parses `body` as a fastjson object; nlohmann exceptions never leave.
Result<json, std::string> parse_object(std::string_view body, const char* what) {
  auto j = parse_fastjson(body);
  if (!j.ok()) return make_error(std::string(), std::string(what) + ": " + j.detail());
  if (!j->is_object()) return make_error(std::string(), std::string(what) + ": not a JSON object");
  return std::move(*j);
}

json id_array(const std::set<int64_t>& ids) {
  json a = json::array();
  for (int64_t id : ids) a.push_back(id);
  return a;
}

std::string id_array_text(const std::set<int64_t>& ids) { return dump_fastjson(id_array(ids)); }

// fastjson writes a Map<Long, String> with bare numeric keys; ids in ascending order (what a Java
// HashMap of small Longs iterates in).
std::string id_map_text(const std::map<int64_t, std::string>& m) {
  std::string out = "{";
  bool first = true;
  for (const auto& [id, addr] : m) {
    if (!first) out.push_back(',');
    first = false;
    out += std::to_string(id);
    out.push_back(':');
    json_lex::append_quoted(out, addr);
  }
  out.push_back('}');
  return out;
}

Result<BrokerMemberGroup, std::string> member_group_from(const json& j) {
  Fields f(j, "BrokerMemberGroup");
  BrokerMemberGroup g;
  g.cluster = f.str("cluster");
  g.broker_name = f.str("brokerName");
  if (const json* addrs = f.child("brokerAddrs", false)) {
    for (auto it = addrs->begin(); it != addrs->end(); ++it) {
      int64_t id = 0;
      if (!text_to_i64(it.key(), id)) {
        f.fail("brokerAddrs key '" + it.key() + "' is not a broker id");
        break;
      }
      if (it.value().is_null()) continue;
      if (!it.value().is_string()) {
        f.fail("brokerAddrs value of " + it.key() + " is not a string");
        break;
      }
      g.broker_addrs[id] = it.value().get<std::string>();
    }
  }
  if (!f.ok()) return make_error(std::string(), f.error());
  return g;
}

json replica_identity_json(const ReplicaIdentity& r) {
  json j = json::object();
  j["alive"] = r.alive;
  j["brokerAddress"] = r.broker_address;
  j["brokerId"] = r.broker_id;
  j["brokerName"] = r.broker_name;
  return j;
}

bool replica_list_from(Fields& f, std::string_view key, std::vector<ReplicaIdentity>& out) {
  const json* list = f.child(key, true);
  if (list == nullptr) return f.ok();
  for (const auto& e : *list) {
    if (!e.is_object()) {
      f.fail(std::string(key) + " holds a non-object");
      return false;
    }
    Fields r(e, std::string(key));
    ReplicaIdentity id;
    id.broker_name = r.str("brokerName");
    id.broker_id = r.i64("brokerId");
    id.broker_address = r.str("brokerAddress");
    id.alive = r.boolean("alive");
    if (!r.ok()) {
      f.fail(r.error());
      return false;
    }
    out.push_back(std::move(id));
  }
  return true;
}

template <typename F>
auto guarded(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::exception& e) {
    // Nothing above should throw; this is the boundary the design asks for, so a library surprise
    // is an error value and never an abort on peer input.
    return make_error(std::string(), std::string("unexpected JSON error: ") + e.what());
  }
}

}  // namespace

// ---- SyncStateSet ----

std::string SyncStateSet::to_json() const {
  json j = json::object();
  j["syncStateSet"] = id_array(members);
  j["syncStateSetEpoch"] = epoch;
  return dump_fastjson(j);
}

Result<SyncStateSet, std::string> SyncStateSet::parse(std::string_view body) {
  return guarded([&]() -> Result<SyncStateSet, std::string> {
    auto j = parse_object(body, "SyncStateSet");
    if (!j.ok()) return j.error();
    Fields f(*j, "SyncStateSet");
    SyncStateSet s;
    s.members = f.opt_id_set("syncStateSet").value_or(std::set<int64_t>{});
    s.epoch = f.i32("syncStateSetEpoch");
    if (!f.ok()) return make_error(std::string(), f.error());
    return s;
  });
}

// ---- BrokerMemberGroup / ElectMasterResponseBody ----

std::string BrokerMemberGroup::to_json() const {
  return "{\"brokerAddrs\":" + id_map_text(broker_addrs) + ",\"brokerName\":" + json_quoted(broker_name) +
         ",\"cluster\":" + json_quoted(cluster) + "}";
}

Result<BrokerMemberGroup, std::string> BrokerMemberGroup::parse(std::string_view body) {
  return guarded([&]() -> Result<BrokerMemberGroup, std::string> {
    auto j = parse_object(body, "BrokerMemberGroup");
    if (!j.ok()) return j.error();
    return member_group_from(*j);
  });
}

std::string ElectMasterResponseBody::to_json() const {
  std::string out = "{";
  if (broker_member_group) out += "\"brokerMemberGroup\":" + broker_member_group->to_json() + ",";
  out += "\"syncStateSet\":" + id_array_text(sync_state_set) + "}";
  return out;
}

Result<ElectMasterResponseBody, std::string> ElectMasterResponseBody::parse(std::string_view body) {
  return guarded([&]() -> Result<ElectMasterResponseBody, std::string> {
    auto j = parse_object(body, "ElectMasterResponseBody");
    if (!j.ok()) return j.error();
    Fields f(*j, "ElectMasterResponseBody");
    ElectMasterResponseBody b;
    b.sync_state_set = f.opt_id_set("syncStateSet").value_or(std::set<int64_t>{});
    if (const json* g = f.child("brokerMemberGroup", false)) {
      auto group = member_group_from(*g);
      if (!group.ok()) return group.error();
      b.broker_member_group = std::move(*group);
    }
    if (!f.ok()) return make_error(std::string(), f.error());
    return b;
  });
}

// ---- BrokerReplicasInfo ----

std::string BrokerReplicasInfo::to_json() const {
  json table = json::object();
  for (const auto& [name, info] : replicas_info_table) {
    json r = json::object();
    json in = json::array();
    for (const auto& id : info.in_sync_replicas) in.push_back(replica_identity_json(id));
    json not_in = json::array();
    for (const auto& id : info.not_in_sync_replicas) not_in.push_back(replica_identity_json(id));
    r["inSyncReplicas"] = std::move(in);
    if (info.master_address) r["masterAddress"] = *info.master_address;
    if (info.master_broker_id) r["masterBrokerId"] = *info.master_broker_id;
    r["masterEpoch"] = info.master_epoch;
    r["notInSyncReplicas"] = std::move(not_in);
    r["syncStateSetEpoch"] = info.sync_state_set_epoch;
    table[name] = std::move(r);
  }
  json j = json::object();
  j["replicasInfoTable"] = std::move(table);
  return dump_fastjson(j);
}

Result<BrokerReplicasInfo, std::string> BrokerReplicasInfo::parse(std::string_view body) {
  return guarded([&]() -> Result<BrokerReplicasInfo, std::string> {
    auto j = parse_object(body, "BrokerReplicasInfo");
    if (!j.ok()) return j.error();
    Fields f(*j, "BrokerReplicasInfo");
    BrokerReplicasInfo out;
    if (const json* table = f.child("replicasInfoTable", false)) {
      for (auto it = table->begin(); it != table->end(); ++it) {
        if (!it.value().is_object()) return make_error(std::string(), "BrokerReplicasInfo: entry '" + it.key() + "' is not an object");
        Fields r(it.value(), "BrokerReplicasInfo." + it.key());
        ReplicasInfo info;
        info.master_broker_id = r.opt_i64("masterBrokerId");
        info.master_address = r.opt_str("masterAddress");
        info.master_epoch = r.i32("masterEpoch");
        info.sync_state_set_epoch = r.i32("syncStateSetEpoch");
        replica_list_from(r, "inSyncReplicas", info.in_sync_replicas);
        replica_list_from(r, "notInSyncReplicas", info.not_in_sync_replicas);
        if (!r.ok()) return make_error(std::string(), r.error());
        out.replicas_info_table[it.key()] = std::move(info);
      }
    }
    if (!f.ok()) return make_error(std::string(), f.error());
    return out;
  });
}

// ---- EpochEntryCache ----

std::string EpochEntryCache::to_json() const {
  json list = json::array();
  for (const auto& e : epoch_list) {
    json j = json::object();
    j["endOffset"] = e.end_offset;
    j["epoch"] = e.epoch;
    j["startOffset"] = e.start_offset;
    list.push_back(std::move(j));
  }
  json j = json::object();
  j["brokerId"] = broker_id;
  j["brokerName"] = broker_name;
  j["clusterName"] = cluster_name;
  j["epochList"] = std::move(list);
  j["maxOffset"] = max_offset;
  return dump_fastjson(j);
}

Result<EpochEntryCache, std::string> EpochEntryCache::parse(std::string_view body) {
  return guarded([&]() -> Result<EpochEntryCache, std::string> {
    auto j = parse_object(body, "EpochEntryCache");
    if (!j.ok()) return j.error();
    Fields f(*j, "EpochEntryCache");
    EpochEntryCache c;
    c.cluster_name = f.str("clusterName");
    c.broker_name = f.str("brokerName");
    c.broker_id = f.i64("brokerId");
    c.max_offset = f.i64("maxOffset");
    if (const json* list = f.child("epochList", true)) {
      for (const auto& e : *list) {
        if (!e.is_object()) return make_error(std::string(), "EpochEntryCache: epochList holds a non-object");
        Fields ef(e, "EpochEntryCache.epochList");
        EpochEntry entry;
        entry.epoch = ef.i32("epoch");
        entry.start_offset = ef.i64("startOffset");
        entry.end_offset = ef.i64("endOffset");
        if (!ef.ok()) return make_error(std::string(), ef.error());
        c.epoch_list.push_back(entry);
      }
    }
    if (!f.ok()) return make_error(std::string(), f.error());
    return c;
  });
}

// ---- string lists ----

Result<std::vector<std::string>, std::string> parse_string_list(std::string_view body) {
  return guarded([&]() -> Result<std::vector<std::string>, std::string> {
    auto j = parse_fastjson(body);
    if (!j.ok()) return make_error(std::string(), "string list: " + j.detail());
    if (!j->is_array()) return make_error(std::string(), "string list: not a JSON array");
    std::vector<std::string> out;
    for (const auto& e : *j) {
      if (!e.is_string()) return make_error(std::string(), "string list: holds a value that is not a string");
      out.push_back(e.get<std::string>());
    }
    return out;
  });
}

std::string string_list_to_json(const std::vector<std::string>& names) {
  json a = json::array();
  for (const auto& n : names) a.push_back(n);
  return dump_fastjson(a);
}

// ---- events ----

std::string_view event_type_name(EventType type) {
  switch (type) {
    case EventType::kAlterSyncStateSet: return "ALTER_SYNC_STATE_SET_EVENT";
    case EventType::kApplyBrokerId: return "APPLY_BROKER_ID_EVENT";
    case EventType::kElectMaster: return "ELECT_MASTER_EVENT";
    case EventType::kRead: return "READ_EVENT";
    case EventType::kCleanBrokerData: return "CLEAN_BROKER_DATA_EVENT";
    case EventType::kUpdateBrokerAddress: return "UPDATE_BROKER_ADDRESS";
  }
  return "UNKNOWN";
}

EventType event_type(const ControllerEvent& event) {
  struct Visitor {
    EventType operator()(const AlterSyncStateSetEvent&) const { return EventType::kAlterSyncStateSet; }
    EventType operator()(const ApplyBrokerIdEvent&) const { return EventType::kApplyBrokerId; }
    EventType operator()(const ElectMasterEvent&) const { return EventType::kElectMaster; }
    EventType operator()(const ReadEvent&) const { return EventType::kRead; }
    EventType operator()(const CleanBrokerDataEvent&) const { return EventType::kCleanBrokerData; }
    EventType operator()(const UpdateBrokerAddressEvent&) const { return EventType::kUpdateBrokerAddress; }
  };
  return std::visit(Visitor{}, event);
}

std::string event_json(const ControllerEvent& event) {
  json j = json::object();
  j["eventType"] = std::string(event_type_name(event_type(event)));
  struct Visitor {
    json& j;
    void operator()(const AlterSyncStateSetEvent& e) const {
      j["brokerName"] = e.broker_name;
      j["newSyncStateSet"] = id_array(e.new_sync_state_set);
    }
    void operator()(const ApplyBrokerIdEvent& e) const {
      j["brokerAddress"] = e.broker_address;
      j["brokerName"] = e.broker_name;
      j["clusterName"] = e.cluster_name;
      j["newBrokerId"] = e.new_broker_id;
      j["registerCheckCode"] = e.register_check_code;
    }
    void operator()(const ElectMasterEvent& e) const {
      j["brokerName"] = e.broker_name;
      if (e.new_master_broker_id) j["newMasterBrokerId"] = *e.new_master_broker_id;
      j["newMasterElected"] = e.new_master_elected;
    }
    void operator()(const ReadEvent&) const {}
    void operator()(const CleanBrokerDataEvent& e) const {
      if (e.broker_id_set_to_clean) j["brokerIdSetToClean"] = id_array(*e.broker_id_set_to_clean);
      j["brokerName"] = e.broker_name;
    }
    void operator()(const UpdateBrokerAddressEvent& e) const {
      j["brokerAddress"] = e.broker_address;
      j["brokerId"] = e.broker_id;
      j["brokerName"] = e.broker_name;
      j["clusterName"] = e.cluster_name;
    }
  };
  std::visit(Visitor{j}, event);
  return dump_fastjson(j);
}

std::string encode_event(const ControllerEvent& event) {
  std::string out;
  ByteWriter w(out);
  w.u16(static_cast<uint16_t>(event_type(event)));
  w.raw(event_json(event));
  return out;
}

Result<ControllerEvent, std::string> decode_event(std::string_view entry) {
  return guarded([&]() -> Result<ControllerEvent, std::string> {
    if (entry.size() < 2) return make_error(std::string(), "controller event: entry of " + std::to_string(entry.size()) + " bytes has no type id");
    ByteReader r(entry);
    auto id = static_cast<int16_t>(r.u16());
    std::string_view text = entry.substr(2);
    if (id < 1 || id > 6) return make_error(std::string(), "controller event: unknown type id " + std::to_string(id));
    auto type = static_cast<EventType>(id);
    std::string what = "controller event " + std::string(event_type_name(type));
    auto j = parse_object(text, what.c_str());
    if (!j.ok()) return j.error();
    Fields f(*j, what);
    ControllerEvent out;
    switch (type) {
      case EventType::kAlterSyncStateSet: {
        AlterSyncStateSetEvent e;
        e.broker_name = f.required_str("brokerName");
        auto set = f.opt_id_set("newSyncStateSet");
        if (!set && f.ok()) f.fail("missing field 'newSyncStateSet'");
        e.new_sync_state_set = set.value_or(std::set<int64_t>{});
        out = std::move(e);
        break;
      }
      case EventType::kApplyBrokerId: {
        ApplyBrokerIdEvent e;
        e.cluster_name = f.str("clusterName");
        e.broker_name = f.required_str("brokerName");
        e.broker_address = f.str("brokerAddress");
        e.new_broker_id = f.required_i64("newBrokerId");
        e.register_check_code = f.str("registerCheckCode");
        out = std::move(e);
        break;
      }
      case EventType::kElectMaster: {
        ElectMasterEvent e;
        e.broker_name = f.required_str("brokerName");
        e.new_master_elected = f.boolean("newMasterElected");
        e.new_master_broker_id = f.opt_i64("newMasterBrokerId");
        if (e.new_master_elected && !e.new_master_broker_id && f.ok()) f.fail("elected without 'newMasterBrokerId'");
        out = std::move(e);
        break;
      }
      case EventType::kRead:
        out = ReadEvent{};
        break;
      case EventType::kCleanBrokerData: {
        CleanBrokerDataEvent e;
        e.broker_name = f.required_str("brokerName");
        e.broker_id_set_to_clean = f.opt_id_set("brokerIdSetToClean");
        out = std::move(e);
        break;
      }
      case EventType::kUpdateBrokerAddress: {
        UpdateBrokerAddressEvent e;
        e.cluster_name = f.str("clusterName");
        e.broker_name = f.required_str("brokerName");
        e.broker_address = f.required_str("brokerAddress");
        e.broker_id = f.required_i64("brokerId");
        out = std::move(e);
        break;
      }
    }
    if (!f.ok()) return make_error(std::string(), f.error());
    return out;
  });
}

}  // namespace mq
