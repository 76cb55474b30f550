// Master election policy (reference 4.6, RocketMQ's DefaultElectPolicy). Pure: reads the
// liveness table at `now_ms`, changes nothing.
//
// The SyncStateSet is tried first; only when it yields nobody and unclean election is allowed are
// all members tried. Within one candidate set:
//   1. keep the members alive on this controller; none -> nobody;
//   2. the old master, if it is among them and no other id is preferred;
//   3. a preferred id (admin's designated election): it if among them, else nobody;
//   4. otherwise the best by heartbeat info: larger epoch, then larger maxOffset, then smaller
//      electionPriority; remaining ties go to the smallest id, so every controller picks the same
//      broker (Java keeps whichever a TreeSet met first). Offsets compare as int64: Java's ranking
//      casts the offset difference to int32, which inverts the order for gaps of 2 GiB or more
//      (pitfall 16), and is not reproduced.
#pragma once
#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "controller/broker_heartbeat_manager.h"

namespace mq::controller {

// True if `a` ranks before `b` by step 4 (ties are not "better").
bool better_candidate(const BrokerLiveInfo& a, const BrokerLiveInfo& b);

// `cluster` and `broker_name` name the set for liveness lookups (BrokerHeartbeatManager's matching
// rule). Returns the chosen controller id, or nullopt for nobody.
std::optional<int64_t> elect(const std::string& cluster, const std::string& broker_name,
                             const std::set<int64_t>& sync_state_set, const std::set<int64_t>& all_members,
                             std::optional<int64_t> old_master, std::optional<int64_t> preferred_id,
                             const BrokerHeartbeatManager& live, bool elect_unclean, int64_t now_ms);

}  // namespace mq::controller
