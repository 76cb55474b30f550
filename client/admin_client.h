// Synchronous admin calls to NameServers (and, later, brokers), for mqadmin and tests. A request
// that may go to any NameServer tries each address of the `;`-separated list in turn until one
// answers, as RocketMQ's client does.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "codec/route_data.h"
#include "remoting/client.h"

namespace mq {

struct ClientError {
  enum Kind { kRpc, kResponse, kBadBody, kBadArgument } kind = kRpc;
  int32_t response_code = 0;  // for kResponse
};

template <typename T>
using ClientResult = Result<T, ClientError>;

std::vector<std::string> split_namesrv_addrs(const std::string& list);

class AdminClient {
 public:
  explicit AdminClient(std::string namesrv_addrs, int64_t timeout_ms = 5000);

  // Sends `request` to `addr` and returns the response if its code is SUCCESS.
  ClientResult<RemotingCommand> call(const std::string& addr, RemotingCommand request);
  // Tries every NameServer until one answers (any response code counts as an answer).
  ClientResult<RemotingCommand> call_any_namesrv(RemotingCommand request);

  ClientResult<TopicRouteData> get_route(const std::string& topic);
  ClientResult<ClusterInfo> get_cluster_info();
  ClientResult<std::vector<std::string>> get_all_topics();
  ClientResult<std::vector<std::string>> get_topics_by_cluster(const std::string& cluster);
  // The config text of each NameServer, keyed by address.
  ClientResult<std::map<std::string, std::string>> get_namesrv_config();
  ClientResult<Unit> update_namesrv_config(const std::string& properties_text);
  ClientResult<Unit> put_kv(const std::string& ns, const std::string& key, const std::string& value);
  ClientResult<std::string> get_kv(const std::string& ns, const std::string& key);
  ClientResult<Unit> delete_kv(const std::string& ns, const std::string& key);
  ClientResult<int32_t> wipe_write_perm(const std::string& broker_name);
  ClientResult<int32_t> add_write_perm(const std::string& broker_name);

  const std::vector<std::string>& namesrv_addrs() const { return namesrv_; }
  BlockingClient& rpc() { return rpc_; }

 private:
  std::vector<std::string> namesrv_;
  int64_t timeout_ms_;
  BlockingClient rpc_;
};

}  // namespace mq
