// The NameServer process: a remoting server whose handlers read and change the route tables and
// the KV config, a timer that expires silent brokers, and KV persistence on a worker thread.
#pragma once
#include <memory>

#include "base/clock.h"
#include "base/log.h"
#include "namesrv/kv_config_manager.h"
#include "namesrv/namesrv_config.h"
#include "namesrv/route_info_manager.h"
#include "remoting/server.h"
#include "runtime/event_loop.h"
#include "runtime/worker_pool.h"

namespace mq {

class NamesrvController {
 public:
  NamesrvController(EventLoop& loop, NamesrvConfig config, Logger log);
  ~NamesrvController();
  // Loads the KV config, binds the port and starts the expiry scan. Returns the bound port.
  Result<int, NetError> start();
  // Stops accepting, closes connections and waits for pending KV writes.
  void shutdown();

  RouteInfoManager& routes() { return routes_; }

 private:
  void register_handlers();
  void persist_kv();

  EventLoop& loop_;
  NamesrvConfig config_;
  Logger log_;
  SystemClock clock_;
  RouteInfoManager routes_;
  KvConfigManager kv_;
  RemotingServer server_;
  Timer scan_timer_;
  WorkerPool pool_;
  std::shared_ptr<WorkerPool::Strand> kv_strand_;
};

}  // namespace mq
