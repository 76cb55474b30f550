// libFuzzer target: the controller's state machine (controller/replicas_info_manager.h,
// broker_heartbeat_manager.h, elect_policy.h) driven as ControllerService drives it on the leader.
// The input is a sequence of sections (tests/fuzz/fuzz_util.h, at most 64), kind % 7:
//   0  a request: byte 0 picks the code (% 8: 1001 ALTER_SYNC_STATE_SET, 1002 ELECT_MASTER,
//      1003 REGISTER_BROKER, 1004 GET_REPLICA_INFO, 1006 GET_SYNC_STATE_DATA, 1011 CLEAN_BROKER_DATA,
//      1012 GET_NEXT_BROKER_ID, 1013 APPLY_BROKER_ID); then the extFields as "key=value" lines up to
//      the first NUL byte, and the body after it
//   1  a BROKER_HEARTBEAT: byte 0 is the connection id (% 4), then its extFields lines
//   2  a raw controller log entry (int16 type + JSON), committed and applied as it stands
//   3  the clock moves on by a big-endian u16 of milliseconds
//   4  the leader's scans: expired heartbeats (an inactive master gets a controller-triggered
//      election) and sets whose master is dead while a member lives (the same)
//   5  connection byte 0 (% 4) closes: its brokers are inactive at once
//   6  enableElectUncleanMaster := byte 0 is odd
// Every event a request produces is committed at once (one request at a time, as the leader's
// scheduler runs them) and applied to two managers: the leader applies the entry as encoded, a
// follower applies what decode_event() made of it; encode_event() of that must give the entry back
// byte for byte. After each step:
//   - both managers print the same status_json() (it must dump with kJsonReplace: names are a peer's);
//   - masterEpoch and syncStateSetEpoch of a set that existed before the step never go down;
//   - a replica entry has members and nextAssignBrokerId > its member count;
//   - while only requests changed the tables (no raw entry so far): the SyncStateSet holds only
//     members; a master is a member and in the SyncStateSet, and has a masterEpoch >= 1 (RocketMQ's
//     exception: once CLEAN_BROKER_DATA removed the master's own id, until the next election);
//   - what a request answered is what its events did once applied (new master and epochs of an
//     election, new SyncStateSet and its epoch, an applied id, cleaned ids), reads produce no
//     events, every body parses with its own decoder and equals it re-encoded;
//   - heartbeats: (epoch, maxOffset) of an entry never go back, is_alive agrees with the entry,
//     scan_expired leaves only live entries.
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <variant>
#include <vector>

#include "codec/codes.h"
#include "codec/controller_data.h"
#include "codec/fastjson.h"
#include "controller/broker_heartbeat_manager.h"
#include "controller/replicas_info_manager.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using mq::ExtFields;
using mq::controller::BrokerHeartbeatManager;
using mq::controller::BrokerKey;
using mq::controller::ControllerResult;
using mq::controller::ReplicasInfoManager;
namespace rc = mq::response_code;
namespace rq = mq::request_code;

constexpr int32_t kCodes[] = {rq::kControllerAlterSyncStateSet, rq::kControllerElectMaster,
                              rq::kControllerRegisterBroker,    rq::kControllerGetReplicaInfo,
                              rq::kControllerGetSyncStateData,  rq::kCleanBrokerData,
                              rq::kControllerGetNextBrokerId,   rq::kControllerApplyBrokerId};

ExtFields parse_fields(std::string_view text) {
  ExtFields f;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    size_t eq = line.find('=');
    if (!line.empty())
      f.set(std::string(line.substr(0, eq)),
            eq == std::string_view::npos ? std::string() : std::string(line.substr(eq + 1)));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return f;
}

// A header integer as HeaderReader reads it.
std::optional<int64_t> to_i64(const std::string* v) {
  if (v == nullptr || v->empty()) return std::nullopt;
  int64_t out = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || p != v->data() + v->size()) return std::nullopt;
  return out;
}

// A number in a response header: when present, a plain decimal integer.
std::optional<int64_t> field_i64(const ExtFields& h, std::string_view key) {
  const std::string* v = h.find(key);
  if (v == nullptr) return std::nullopt;
  auto n = to_i64(v);
  FUZZ_CHECK(n.has_value() && std::to_string(*n) == *v);
  return n;
}

// MQ_FUZZ_TRACE=1 prints every request's outcome (to see what a seed or a crash input does).
bool trace() {
  static const bool on = std::getenv("MQ_FUZZ_TRACE") != nullptr;
  return on;
}

std::string dump(const nlohmann::json& j) { return j.dump(-1, ' ', false, mq::kJsonReplace); }

struct Epochs {
  int32_t master = 0;
  int32_t sync = 0;
};

class Driver {
 public:
  void request(int32_t code, const ExtFields& h, std::string_view body) {
    ControllerResult r = run(code, h, body);
    if (trace())
      std::fprintf(stderr, "request %d -> %d %s (%zu events)\n", code, r.code, r.remark.c_str(), r.events.size());
    check_result(code, h, body, r);
  }

  void heartbeat(const ExtFields& h, uint64_t channel) {
    std::optional<std::tuple<int32_t, int64_t>> before;
    BrokerKey key;
    bool known = false;  // the key the heartbeat names, when its fields are there and parse
    if (auto id = to_i64(h.find("brokerId")); id && h.find("clusterName") && h.find("brokerName")) {
      key = BrokerKey{*h.find("clusterName"), *h.find("brokerName"), *id};
      known = true;
      if (auto it = live_.entries().find(key); it != live_.entries().end())
        before = std::make_tuple(it->second.epoch, it->second.max_offset);
    }
    auto r = live_.on_heartbeat(h, channel, now_);
    if (!r.ok()) return;
    FUZZ_CHECK(known);
    auto it = live_.entries().find(key);
    FUZZ_CHECK(it != live_.entries().end());
    FUZZ_CHECK(it->second.last_update_ms == now_);
    if (before) FUZZ_CHECK(std::make_tuple(it->second.epoch, it->second.max_offset) >= *before);
    // An exact lookup finds this entry; the cluster wildcard ("") finds it alive if it is.
    const bool alive = it->second.alive_at(now_);
    if (!key.cluster.empty()) {
      FUZZ_CHECK(live_.is_alive(key.cluster, key.broker_name, key.broker_id, now_) == alive);
      FUZZ_CHECK(live_.live_info(key.cluster, key.broker_name, key.broker_id) == &it->second);
    }
    if (alive) FUZZ_CHECK(live_.is_alive(std::string(), key.broker_name, key.broker_id, now_));
  }

  void raw_entry(std::string_view entry) {
    raw_applied_ = true;
    commit(std::string(entry), false);
  }

  void advance(int64_t ms) { now_ += ms; }

  void scans() {
    for (const BrokerKey& key : live_.scan_expired(now_)) inactive(key);
    for (const auto& [key, info] : live_.entries()) FUZZ_CHECK(info.alive_at(now_));
    for (const std::string& name : tables_.sets_with_dead_master(live_, now_)) {
      const auto* sync = tables_.sync_state_info(name);
      FUZZ_CHECK(sync != nullptr && sync->master_broker_id);
      FUZZ_CHECK(!live_.is_alive(sync->cluster_name, name, *sync->master_broker_id, now_));
      elect_for(name);
    }
  }

  void close_channel(uint64_t channel) {
    for (const BrokerKey& key : live_.on_channel_closed(channel)) inactive(key);
    for (const auto& [key, info] : live_.entries()) FUZZ_CHECK(info.channel_id != channel);
  }

  void set_unclean(bool on) {
    tables_.set_elect_unclean(on);
    follower_.set_elect_unclean(on);
  }

  // The invariants of the tables after a step.
  void check_tables() {
    const nlohmann::json status = tables_.status_json();
    const std::string text = dump(status);
    FUZZ_CHECK(text == dump(follower_.status_json()));
    std::map<std::string, Epochs> epochs;
    for (const auto& [name, s] : status["syncStateSetInfoTable"].items()) {
      const auto* sync = tables_.sync_state_info(name);
      FUZZ_CHECK(sync != nullptr);
      epochs[name] = Epochs{sync->master_epoch, sync->sync_state_set_epoch};
      if (auto it = contained_.find(name); it != contained_.end()) {
        FUZZ_CHECK(sync->master_epoch >= it->second.master);
        FUZZ_CHECK(sync->sync_state_set_epoch >= it->second.sync);
      }
      if (sync->master_broker_id && !raw_applied_) FUZZ_CHECK(sync->master_epoch >= 1);
    }
    for (const auto& [name, r] : status["replicaInfoTable"].items()) {
      const auto* rep = tables_.replica_info(name);
      FUZZ_CHECK(rep != nullptr && !rep->members.empty());
      FUZZ_CHECK(rep->next_assign_broker_id > static_cast<int64_t>(rep->members.size()));
      const auto* sync = tables_.sync_state_info(name);
      if (sync == nullptr || raw_applied_) continue;
      for (int64_t id : sync->sync_state_set) FUZZ_CHECK(rep->members.contains(id));
      if (sync->master_broker_id && !master_cleaned_.contains(name)) {
        FUZZ_CHECK(rep->members.contains(*sync->master_broker_id));
        FUZZ_CHECK(sync->sync_state_set.contains(*sync->master_broker_id));
      }
    }
    contained_.clear();
    for (const auto& [name, e] : epochs)
      if (tables_.contains(name)) contained_[name] = e;
  }

 private:
  ControllerResult run(int32_t code, const ExtFields& h, std::string_view body) {
    switch (code) {
      case rq::kControllerAlterSyncStateSet: return tables_.alter_sync_state_set(h, body, live_, now_);
      case rq::kControllerElectMaster: return tables_.elect_master(h, live_, now_);
      case rq::kControllerRegisterBroker: return tables_.register_broker(h, live_, now_);
      case rq::kControllerGetReplicaInfo: return tables_.get_replica_info(h);
      case rq::kControllerGetSyncStateData: return tables_.get_sync_state_data(body, live_, now_);
      case rq::kCleanBrokerData: return tables_.clean_broker_data(h, live_, now_);
      case rq::kControllerGetNextBrokerId: return tables_.get_next_broker_id(h);
      default: return tables_.apply_broker_id(h);
    }
  }

  // Commits one entry: the leader applies it as it is, the follower what it decodes to.
  void commit(const std::string& entry, bool from_request) {
    auto decoded = mq::decode_event(entry);
    if (decoded.ok()) note_master_cleaned(*decoded);
    auto leader = tables_.apply(entry);
    FUZZ_CHECK(leader.ok() == decoded.ok());
    FUZZ_CHECK(decoded.ok() || !from_request);
    if (!decoded.ok()) return;
    const std::string again = mq::encode_event(*decoded);
    if (from_request) FUZZ_CHECK(again == entry);
    auto redecoded = mq::decode_event(again);
    FUZZ_CHECK(redecoded.ok() && *redecoded == *decoded);
    follower_.apply_event(*decoded);
  }

  // RocketMQ keeps masterBrokerId when CLEAN_BROKER_DATA removes the master's own id (a dead master
  // may be cleaned by id; the next election replaces it): such a master is neither a member nor in
  // the SyncStateSet until then, and may even be a member again (APPLY_BROKER_ID of the same id).
  void note_master_cleaned(const mq::ControllerEvent& e) {
    if (const auto* c = std::get_if<mq::CleanBrokerDataEvent>(&e)) {
      const auto* sync = tables_.sync_state_info(c->broker_name);
      if (sync != nullptr && sync->master_broker_id && c->broker_id_set_to_clean &&
          c->broker_id_set_to_clean->contains(*sync->master_broker_id))
        master_cleaned_.insert(c->broker_name);
    } else if (const auto* m = std::get_if<mq::ElectMasterEvent>(&e)) {
      master_cleaned_.erase(m->broker_name);
    }
  }

  void inactive(const BrokerKey& key) {
    if (tables_.is_master(key.broker_name, key.broker_id)) elect_for(key.broker_name);
  }

  void elect_for(const std::string& name) {
    ExtFields h;
    h.set("clusterName", std::string());
    h.set("brokerName", name);
    h.set("brokerId", std::string("-1"));
    h.set("designateElect", std::string("false"));
    request(rq::kControllerElectMaster, h, {});
  }

  void check_result(int32_t code, const ExtFields& h, std::string_view body, const ControllerResult& r) {
    const bool read = code == rq::kControllerGetReplicaInfo || code == rq::kControllerGetSyncStateData ||
                      code == rq::kControllerGetNextBrokerId;
    if (read || r.code != rc::kSuccess) FUZZ_CHECK(r.events.empty() || code == rq::kControllerElectMaster);

    // Bodies parse with their own decoders and survive a round trip.
    if (!r.body.empty()) {
      if (code == rq::kControllerElectMaster) {
        auto b = mq::ElectMasterResponseBody::parse(r.body);
        FUZZ_CHECK(b.ok());
        FUZZ_CHECK(b->to_json() == r.body);
      } else if (code == rq::kControllerGetSyncStateData) {
        auto b = mq::BrokerReplicasInfo::parse(r.body);
        FUZZ_CHECK(b.ok());
        FUZZ_CHECK(b->to_json() == r.body);
      } else {
        auto b = mq::SyncStateSet::parse(r.body);
        FUZZ_CHECK(b.ok());
        FUZZ_CHECK(b->to_json() == r.body);
      }
    }
    for (const char* key : {"masterBrokerId", "masterEpoch", "syncStateSetEpoch", "newSyncStateSetEpoch", "nextBrokerId"})
      (void)field_i64(r.header, key);

    const std::string* name_field = h.find("brokerName");
    const std::string name = name_field ? *name_field : std::string();
    for (const std::string& e : r.events) commit(e, true);

    if (r.code != rc::kSuccess) return;
    const auto* sync = tables_.sync_state_info(name);
    const auto* rep = tables_.replica_info(name);
    switch (code) {
      case rq::kControllerElectMaster: {
        FUZZ_CHECK(r.events.size() == 1 && sync != nullptr);
        FUZZ_CHECK(sync->master_broker_id == field_i64(r.header, "masterBrokerId"));
        FUZZ_CHECK(sync->master_epoch == field_i64(r.header, "masterEpoch"));
        FUZZ_CHECK(sync->sync_state_set_epoch == field_i64(r.header, "syncStateSetEpoch"));
        FUZZ_CHECK(sync->sync_state_set == std::set<int64_t>{*sync->master_broker_id});
        auto notice = tables_.role_change_notice(name, live_, now_);
        FUZZ_CHECK(notice.has_value());
        FUZZ_CHECK(field_i64(notice->header, "masterBrokerId") == sync->master_broker_id);
        FUZZ_CHECK(field_i64(notice->header, "masterEpoch") == sync->master_epoch);
        break;
      }
      case rq::kControllerAlterSyncStateSet: {
        FUZZ_CHECK(r.events.size() == 1 && sync != nullptr);
        auto proposed = mq::SyncStateSet::parse(body);
        FUZZ_CHECK(proposed.ok());
        FUZZ_CHECK(sync->sync_state_set == proposed->members);
        FUZZ_CHECK(sync->sync_state_set_epoch == field_i64(r.header, "newSyncStateSetEpoch"));
        break;
      }
      case rq::kControllerApplyBrokerId: {
        FUZZ_CHECK(r.events.size() == 1 && rep != nullptr);
        auto id = to_i64(h.find("appliedBrokerId"));
        FUZZ_CHECK(id.has_value() && rep->members.contains(*id));
        FUZZ_CHECK(tables_.contains(name));
        break;
      }
      case rq::kCleanBrokerData: {
        FUZZ_CHECK(r.events.size() == 1);
        auto e = mq::decode_event(r.events[0]);
        FUZZ_CHECK(e.ok() && std::holds_alternative<mq::CleanBrokerDataEvent>(*e));
        const auto& ids = std::get<mq::CleanBrokerDataEvent>(*e).broker_id_set_to_clean;
        if (!ids || ids->empty()) {
          FUZZ_CHECK(rep == nullptr && sync == nullptr);
          break;
        }
        for (int64_t id : *ids) {
          FUZZ_CHECK(rep == nullptr || !rep->members.contains(id));
          FUZZ_CHECK(sync == nullptr || !sync->sync_state_set.contains(id));
        }
        break;
      }
      case rq::kControllerRegisterBroker:
        FUZZ_CHECK(r.events.size() <= 1);
        if (!r.events.empty()) {
          FUZZ_CHECK(rep != nullptr);
          auto id = to_i64(h.find("brokerId"));
          FUZZ_CHECK(id.has_value());
          auto m = rep->members.find(*id);
          FUZZ_CHECK(m != rep->members.end() && m->second.address == *h.find("brokerAddress"));
        }
        break;
      default:
        FUZZ_CHECK(r.events.empty());
        break;
    }
  }

  ReplicasInfoManager tables_;
  ReplicasInfoManager follower_;
  BrokerHeartbeatManager live_;
  int64_t now_ = 1'700'000'000'000;
  bool raw_applied_ = false;
  std::map<std::string, Epochs> contained_;  // sets in both tables after the last step
  std::set<std::string> master_cleaned_;      // sets whose master's id CLEAN removed
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  Driver d;
  for (const mq::fuzz::Section& s : mq::fuzz::split_sections(in, 64)) {
    std::string_view b = s.bytes;
    const uint8_t first = b.empty() ? 0 : static_cast<uint8_t>(b[0]);
    std::string_view rest = b.empty() ? b : b.substr(1);
    switch (s.kind % 7) {
      case 0: {
        size_t nul = rest.find('\0');
        std::string_view body = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
        d.request(kCodes[first % 8], parse_fields(rest.substr(0, nul)), body);
        break;
      }
      case 1: d.heartbeat(parse_fields(rest), first % 4); break;
      case 2: d.raw_entry(b); break;
      case 3: d.advance(b.size() >= 2 ? (int64_t{first} << 8) | static_cast<uint8_t>(b[1]) : first); break;
      case 4: d.scans(); break;
      case 5: d.close_channel(first % 4); break;
      default: d.set_unclean(first & 1); break;
    }
    d.check_tables();
  }
  return 0;
}
