// Topic routes as a client keeps them: fetched from the NameServers with GET_ROUTEINFO_BY_TOPIC,
// cached per topic, refreshed on demand (after a failure, by the owner's 30 s timer), and the
// broker address book (brokerName -> brokerId -> address) learned from every route, which is where
// sends, pulls, heartbeats and offset commits find their addresses.
//
// Loop-thread only. Concurrent fetches of one topic share one request. A NameServer that does not
// answer is skipped and the next one of the list is asked (the Java client sticks to one that
// works, and so do we: the last good index is kept). A failed refresh keeps the old route.
//
// Back-off: when no NameServer answered a lookup of a topic (all unreachable or silent), the
// topic is not asked for again for retry_interval_ms (1 s): fetches in that time fail at once with
// the same error (kRpc, "no NameServer answered ...") instead of opening connections, so a sender
// that loops over a dead NameServer costs one lookup per topic per second, not one per send (the
// Java client fails such sends with "No route info of this topic" and refreshes routes on its
// 30 s timer). A NameServer that answers, even TOPIC_NOT_EXIST, is asked again whenever wanted.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/log.h"
#include "client/client_common.h"
#include "codec/route_data.h"
#include "remoting/client.h"

namespace mq {

using RoutePtr = std::shared_ptr<const TopicRouteData>;
using RouteCallback = std::function<void(ClientOutcome<RoutePtr>)>;

// Writable queues of master brokers, sorted by brokerName, as Java's topicRouteData2TopicPublishInfo
// (orderTopicConf "brokerA:4;brokerB:4" overrides). `queue_cap` > 0 limits each broker's queue count
// (the TBW102 fallback uses defaultTopicQueueNums).
std::vector<MessageQueue> publish_queues(const std::string& topic, const TopicRouteData& route, int32_t queue_cap = 0);
// Readable queues (read queue count) of every broker, sorted, as topicRouteData2TopicSubscribeInfo.
std::vector<MessageQueue> subscribe_queues(const std::string& topic, const TopicRouteData& route);

class TopicRouteCache {
 public:
  TopicRouteCache(RemotingClient& rpc, std::vector<std::string> name_servers, int64_t timeout_ms, Logger log);
  ~TopicRouteCache();
  TopicRouteCache(const TopicRouteCache&) = delete;
  TopicRouteCache& operator=(const TopicRouteCache&) = delete;

  // Asks the NameServers now. TOPIC_NOT_EXIST ends as kNoRoute with response_code 17.
  void fetch(const std::string& topic, RouteCallback cb);
  // The cached route, or a fetch.
  void get(const std::string& topic, RouteCallback cb);
  RoutePtr cached(const std::string& topic) const;
  // Re-fetches every cached topic (failures keep the old route).
  void refresh_all();
  // Fails every waiting callback with kShutdown and ignores answers from now on.
  void shutdown();
  // Minimum spacing of lookups of a topic after one that no NameServer answered (see above).
  void set_retry_interval_ms(int64_t ms) { retry_interval_ms_ = ms; }
  // GET_ROUTEINFO_BY_TOPIC requests sent so far (tests bound it).
  uint64_t lookups_sent() const { return lookups_sent_; }
  // Sends `request` to every broker address seen in a route (UNREGISTER_CLIENT at shutdown) and runs
  // `done` once every answer (or failure) is in; at once when no broker is known.
  void send_to_all_brokers(EventLoop& loop, const RemotingCommand& request, int64_t timeout_ms,
                           std::function<void()> done);

  // Address of `broker_name`'s broker `broker_id`; with `only_this` false, falls back to the master
  // and then to any address (findBrokerAddressInSubscribe). Empty when unknown.
  std::string find_broker_addr(const std::string& broker_name, int64_t broker_id, bool only_this) const;
  std::string master_addr(const std::string& broker_name) const { return find_broker_addr(broker_name, 0, true); }
  // brokerName -> brokerId -> address, from every route seen.
  const std::map<std::string, std::map<int64_t, std::string>>& broker_addrs() const { return broker_addrs_; }
  const std::vector<std::string>& name_servers() const { return name_servers_; }

 private:
  void ask(const std::string& topic, size_t attempt);
  void finish(const std::string& topic, ClientOutcome<RoutePtr> r);
  struct FailedLookup {
    int64_t at_ms = 0;  // loop clock
    std::string detail;
  };

  RemotingClient& rpc_;
  std::vector<std::string> name_servers_;
  int64_t timeout_ms_;
  Logger log_;
  size_t good_ns_ = 0;
  bool shut_down_ = false;
  std::unordered_map<std::string, RoutePtr> routes_;
  std::unordered_map<std::string, std::vector<RouteCallback>> waiting_;
  std::unordered_map<std::string, FailedLookup> unanswered_;  // topics no NameServer answered
  int64_t retry_interval_ms_ = 1000;
  std::string last_ns_error_;
  uint64_t lookups_sent_ = 0;
  std::map<std::string, std::map<int64_t, std::string>> broker_addrs_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace mq
