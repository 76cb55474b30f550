// The BrokerContainer: one process, one event loop, one worker pool, one outgoing remoting client,
// and any number of brokers. Its own port (listenPort, default 10811) serves ADD_BROKER,
// REMOVE_BROKER, GET_BROKER_CONFIG (the container's config) and GET_BROKER_RUNTIME_INFO (the
// container's status: threads, RSS, every broker's state).
//
// Adding a broker is all-or-nothing: its config is checked against the brokers already running,
// then it starts; if any step fails, what it started is undone and the reason is the answer.
// Shutdown order (design.md): stop accepting admin requests, stop slaves, then masters, wait for
// their unregistrations, drain the worker pool.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/log.h"
#include "broker/broker.h"
#include "container/container_config.h"
#include "remoting/client.h"
#include "remoting/server.h"
#include "runtime/event_loop.h"
#include "runtime/worker_pool.h"

namespace mq {

class BrokerContainer {
 public:
  BrokerContainer(EventLoop& loop, ContainerConfig config, std::shared_ptr<LogSink> sink);
  ~BrokerContainer();

  // Checks every configured broker (before anything listens), then starts the admin port and the
  // brokers. A broker that fails is reported and torn down; unless continue_on_broker_start_failure,
  // the whole start fails.
  Result<Unit, std::string> start();
  // Runs the loop until unregistrations are answered: call it outside loop callbacks.
  void shutdown();

  // ADD_BROKER: loads, checks and starts one broker from a config file on this host.
  Result<Unit, std::string> add_broker(const std::string& config_path);
  // REMOVE_BROKER: false when no broker has that identity (a DLedger broker's id is the node number
  // of its dLegerSelfId, as RocketMQ's removeBroker takes it).
  bool remove_broker(const std::string& cluster, const std::string& broker_name, int64_t broker_id);

  nlohmann::json status_json() const;
  int admin_port() const { return server_.port(); }
  size_t broker_count() const { return brokers_.size(); }

 private:
  Result<Unit, std::string> start_broker(BrokerConfig config);
  void register_admin_processors();

  EventLoop& loop_;
  ContainerConfig config_;
  std::shared_ptr<LogSink> sink_;
  Logger log_;
  SystemClock clock_;
  WorkerPool pool_;
  RemotingClient outer_client_;
  RemotingServer server_;
  std::vector<std::unique_ptr<Broker>> brokers_;
  bool stopped_ = false;
};

}  // namespace mq
