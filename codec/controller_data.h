// RocketMQ 5.x Controller mode on the wire and in the controller's Raft log (reference
// rocketmq-controller.md, sections 3 and 4.2).
//
// Request headers travel as extFields strings under the Java field names listed in
// `controller_field` below; absent fields are Java nulls. Bodies are fastjson text with the fields
// of every object in alphabetical order and null fields left out; maps keyed by a broker id are
// written with UNQUOTED numeric keys ({1:"10.0.0.1:30911"}), which parse_fastjson() reads back.
// Parsing accepts what fastjson itself accepts of these shapes: numbers given as strings, missing
// fields (Java defaults: 0, empty), unknown fields (ignored). A value of the wrong kind (an object
// where an id is expected, a fraction, an id that does not fit) is an error naming the field, so a
// peer can never make us guess.
//
// Controller log entry (one per Raft entry; an empty entry is a leader's no-op and is skipped):
//   int16  event type id, big-endian (1..6, EventType below)
//   bytes  UTF-8 JSON of the event object, which also carries "eventType":"<Java enum name>"
//          (written for Java's benefit, ignored when reading: the id decides)
// Entries are only ever appended through Raft and applied after commit, in log order, on every
// controller; a controller rebuilds its tables after a restart by replaying the whole log (there is
// no snapshot, as in RocketMQ's DLedger controller). An entry that does not decode is reported by
// decode_event() as an error value: the applier logs it and skips it, exactly as every other
// replica does with the same bytes, so the tables stay identical.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/result.h"

namespace mq {

namespace request_code {
// Controller mode (RocketMQ 5.x RequestCode). 902/903 are ADD_BROKER/REMOVE_BROKER in codes.h.
inline constexpr int32_t kBrokerHeartbeat = 904;  // broker -> every controller, oneway
inline constexpr int32_t kControllerAlterSyncStateSet = 1001;
inline constexpr int32_t kControllerElectMaster = 1002;
inline constexpr int32_t kControllerRegisterBroker = 1003;
inline constexpr int32_t kControllerGetReplicaInfo = 1004;
inline constexpr int32_t kControllerGetMetadataInfo = 1005;
inline constexpr int32_t kControllerGetSyncStateData = 1006;
inline constexpr int32_t kGetBrokerEpochCache = 1007;
inline constexpr int32_t kNotifyBrokerRoleChanged = 1008;
inline constexpr int32_t kUpdateControllerConfig = 1009;
inline constexpr int32_t kGetControllerConfig = 1010;
inline constexpr int32_t kCleanBrokerData = 1011;
inline constexpr int32_t kControllerGetNextBrokerId = 1012;
inline constexpr int32_t kControllerApplyBrokerId = 1013;
}  // namespace request_code

namespace response_code {
inline constexpr int32_t kControllerFencedMasterEpoch = 2000;
inline constexpr int32_t kControllerFencedSyncStateSetEpoch = 2001;
inline constexpr int32_t kControllerInvalidMaster = 2002;
inline constexpr int32_t kControllerInvalidReplicas = 2003;
inline constexpr int32_t kControllerMasterNotAvailable = 2004;
inline constexpr int32_t kControllerInvalidRequest = 2005;
inline constexpr int32_t kControllerBrokerNotAlive = 2006;
inline constexpr int32_t kControllerNotLeader = 2007;
inline constexpr int32_t kControllerBrokerMetadataNotExist = 2008;
inline constexpr int32_t kControllerInvalidCleanBrokerMetadata = 2009;
inline constexpr int32_t kControllerBrokerNeedToBeRegistered = 2010;
inline constexpr int32_t kControllerMasterStillExist = 2011;
inline constexpr int32_t kControllerElectMasterFailed = 2012;
inline constexpr int32_t kControllerAlterSyncStateSetFailed = 2013;
inline constexpr int32_t kControllerBrokerIdInvalid = 2014;
inline constexpr int32_t kControllerJraftInternalError = 2015;
inline constexpr int32_t kControllerBrokerLiveInfoNotExists = 2016;
}  // namespace response_code

// extFields keys of the controller headers (Java field names, reference 3.2).
namespace controller_field {
inline constexpr std::string_view kClusterName = "clusterName";
inline constexpr std::string_view kBrokerName = "brokerName";
inline constexpr std::string_view kBrokerId = "brokerId";
inline constexpr std::string_view kBrokerAddr = "brokerAddr";        // 904
inline constexpr std::string_view kBrokerAddress = "brokerAddress";  // 1003
inline constexpr std::string_view kEpoch = "epoch";
inline constexpr std::string_view kMaxOffset = "maxOffset";
inline constexpr std::string_view kConfirmOffset = "confirmOffset";
inline constexpr std::string_view kHeartbeatTimeoutMills = "heartbeatTimeoutMills";  // sic
inline constexpr std::string_view kElectionPriority = "electionPriority";
inline constexpr std::string_view kMasterBrokerId = "masterBrokerId";
inline constexpr std::string_view kMasterAddress = "masterAddress";
inline constexpr std::string_view kMasterEpoch = "masterEpoch";
inline constexpr std::string_view kSyncStateSetEpoch = "syncStateSetEpoch";
inline constexpr std::string_view kNewSyncStateSetEpoch = "newSyncStateSetEpoch";
inline constexpr std::string_view kInvokeTime = "invokeTime";
inline constexpr std::string_view kDesignateElect = "designateElect";
inline constexpr std::string_view kBrokerControllerIdsToClean = "brokerControllerIdsToClean";
inline constexpr std::string_view kIsCleanLivingBroker = "isCleanLivingBroker";
inline constexpr std::string_view kNextBrokerId = "nextBrokerId";
inline constexpr std::string_view kAppliedBrokerId = "appliedBrokerId";
inline constexpr std::string_view kRegisterCheckCode = "registerCheckCode";
// CONTROLLER_GET_METADATA_INFO response.
inline constexpr std::string_view kGroup = "group";
inline constexpr std::string_view kControllerLeaderId = "controllerLeaderId";
inline constexpr std::string_view kControllerLeaderAddress = "controllerLeaderAddress";
inline constexpr std::string_view kIsLeader = "isLeader";
inline constexpr std::string_view kPeers = "peers";
}  // namespace controller_field

// A broker id assigned by the controller starts at 1 (MixAll.FIRST_BROKER_CONTROLLER_ID); -1 in an
// ELECT_MASTER request means "none" (the controller itself asks).
inline constexpr int64_t kFirstBrokerControllerId = 1;
inline constexpr int64_t kNoBrokerId = -1;

// ---- Bodies (reference 3.3) ----

// {"syncStateSet":[1,2],"syncStateSetEpoch":3}
struct SyncStateSet {
  std::set<int64_t> members;
  int32_t epoch = 0;
  bool operator==(const SyncStateSet&) const = default;
  std::string to_json() const;
  static Result<SyncStateSet, std::string> parse(std::string_view body);
};

// {"brokerAddrs":{1:"10.0.0.1:30911"},"brokerName":"broker-a","cluster":"c1"}; keyed by controller id.
struct BrokerMemberGroup {
  std::string cluster;
  std::string broker_name;
  std::map<int64_t, std::string> broker_addrs;
  bool operator==(const BrokerMemberGroup&) const = default;
  std::string to_json() const;
  static Result<BrokerMemberGroup, std::string> parse(std::string_view body);
};

// The ELECT_MASTER response body: the member group only on SUCCESS.
struct ElectMasterResponseBody {
  std::optional<BrokerMemberGroup> broker_member_group;
  std::set<int64_t> sync_state_set;
  bool operator==(const ElectMasterResponseBody&) const = default;
  std::string to_json() const;
  static Result<ElectMasterResponseBody, std::string> parse(std::string_view body);
};

// The CONTROLLER_GET_SYNC_STATE_DATA response body.
struct ReplicaIdentity {
  std::string broker_name;
  int64_t broker_id = 0;
  std::string broker_address;
  bool alive = false;
  bool operator==(const ReplicaIdentity&) const = default;
};

struct ReplicasInfo {
  std::optional<int64_t> master_broker_id;     // absent: no master
  std::optional<std::string> master_address;   // absent: no master, or its address is unknown
  int32_t master_epoch = 0;
  int32_t sync_state_set_epoch = 0;
  std::vector<ReplicaIdentity> in_sync_replicas;
  std::vector<ReplicaIdentity> not_in_sync_replicas;
  bool operator==(const ReplicasInfo&) const = default;
};

struct BrokerReplicasInfo {
  std::map<std::string, ReplicasInfo> replicas_info_table;  // brokerName ->
  bool operator==(const BrokerReplicasInfo&) const = default;
  std::string to_json() const;
  static Result<BrokerReplicasInfo, std::string> parse(std::string_view body);
};

// GET_BROKER_EPOCH_CACHE (1007, admin -> broker) body: the broker's epoch file plus its max offset.
struct EpochEntry {
  int32_t epoch = 0;
  int64_t start_offset = 0;
  int64_t end_offset = 0;
  bool operator==(const EpochEntry&) const = default;
};

struct EpochEntryCache {
  std::string cluster_name;
  std::string broker_name;
  int64_t broker_id = 0;  // the broker's NameServer-facing id (0 while master)
  std::vector<EpochEntry> epoch_list;
  int64_t max_offset = 0;
  bool operator==(const EpochEntryCache&) const = default;
  std::string to_json() const;
  static Result<EpochEntryCache, std::string> parse(std::string_view body);
};

// A JSON array of strings (the GET_SYNC_STATE_DATA request body, ["broker-a","broker-b"]).
Result<std::vector<std::string>, std::string> parse_string_list(std::string_view body);
std::string string_list_to_json(const std::vector<std::string>& names);

// ---- Controller log events (reference 4.2) ----

enum class EventType : int16_t {
  kAlterSyncStateSet = 1,
  kApplyBrokerId = 2,
  kElectMaster = 3,
  kRead = 4,
  kCleanBrokerData = 5,
  kUpdateBrokerAddress = 6,
};

// The Java enum constant name carried as "eventType" (ALTER_SYNC_STATE_SET_EVENT, ...).
std::string_view event_type_name(EventType type);

struct AlterSyncStateSetEvent {
  std::string broker_name;
  std::set<int64_t> new_sync_state_set;
  bool operator==(const AlterSyncStateSetEvent&) const = default;
};

struct ApplyBrokerIdEvent {
  std::string cluster_name;
  std::string broker_name;
  std::string broker_address;
  int64_t new_broker_id = 0;
  std::string register_check_code;
  bool operator==(const ApplyBrokerIdEvent&) const = default;
};

// Elected: the new master's id. Not elected (a controller-triggered election found nobody): no id,
// and applying it clears the master.
struct ElectMasterEvent {
  std::string broker_name;
  bool new_master_elected = false;
  std::optional<int64_t> new_master_broker_id;
  bool operator==(const ElectMasterEvent&) const = default;
};

// Defined by RocketMQ, never written to the log; decoded for completeness, applying it does nothing.
struct ReadEvent {
  bool operator==(const ReadEvent&) const = default;
};

// No id set (absent or empty): the whole broker-set goes.
struct CleanBrokerDataEvent {
  std::string broker_name;
  std::optional<std::set<int64_t>> broker_id_set_to_clean;
  bool operator==(const CleanBrokerDataEvent&) const = default;
};

struct UpdateBrokerAddressEvent {
  std::string cluster_name;
  std::string broker_name;
  std::string broker_address;
  int64_t broker_id = 0;
  bool operator==(const UpdateBrokerAddressEvent&) const = default;
};

using ControllerEvent = std::variant<AlterSyncStateSetEvent, ApplyBrokerIdEvent, ElectMasterEvent, ReadEvent,
                                     CleanBrokerDataEvent, UpdateBrokerAddressEvent>;

EventType event_type(const ControllerEvent& event);
// The JSON part alone (what follows the type id), e.g. for logs.
std::string event_json(const ControllerEvent& event);
// The log entry: int16 big-endian type id + event_json().
std::string encode_event(const ControllerEvent& event);
Result<ControllerEvent, std::string> decode_event(std::string_view entry);

}  // namespace mq
