#include "container/broker_container.h"

#include <unistd.h>

#include <fstream>

#include "codec/codes.h"
#include "codec/fastjson.h"
#include "codec/header_reader.h"

namespace mq {

namespace {
namespace rc = response_code;

// Threads and resident memory of this process, from /proc.
std::pair<int, int64_t> threads_and_rss_kb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  int threads = 0;
  int64_t rss = 0;
  while (std::getline(in, line)) {
    if (line.rfind("Threads:", 0) == 0) threads = std::stoi(line.substr(8));
    if (line.rfind("VmRSS:", 0) == 0) rss = std::stoll(line.substr(6));
  }
  return {threads, rss};
}
}  // namespace

BrokerContainer::BrokerContainer(EventLoop& loop, ContainerConfig config, std::shared_ptr<LogSink> sink)
    : loop_(loop),
      config_(std::move(config)),
      sink_(sink ? sink : default_log_sink()),
      log_(sink_, "[container]"),
      pool_(loop, config_.worker_pool_threads),
      outer_client_(loop, RemotingClientOptions{}, log_),
      server_(loop, RemotingServerOptions{config_.bind_address, config_.listen_port, kDefaultMaxFrameBytes, 120'000}, log_) {
  register_admin_processors();
}

BrokerContainer::~BrokerContainer() { shutdown(); }

Result<Unit, std::string> BrokerContainer::start() {
  // Every config is loaded and cross-checked before anything listens.
  std::vector<BrokerConfig> configs;
  for (const auto& path : config_.broker_paths()) {
    std::vector<std::string> warnings;
    auto c = load_broker_config(path, config_, warnings);
    for (const auto& w : warnings) log_.warn(w);
    if (!c.ok()) return make_error(std::string(), c.detail());
    std::vector<const BrokerConfig*> existing;
    for (const auto& e : configs) existing.push_back(&e);
    std::string conflict = check_broker_conflicts(*c, existing, config_);
    if (!conflict.empty()) return make_error(std::string(), conflict);
    configs.push_back(std::move(*c));
  }
  auto port = server_.start();
  if (!port.ok()) return make_error(std::string(), "container admin port: " + port.detail());
  log_.info("admin port " + std::to_string(*port) + ", worker pool of " + std::to_string(pool_.thread_count()) +
            " threads, " + std::to_string(configs.size()) + " brokers to start");
  for (auto& c : configs) {
    std::string path = c.config_path;
    auto r = start_broker(std::move(c));
    if (!r.ok()) {
      log_.error("broker from " + path + " failed to start: " + r.detail());
      if (!config_.continue_on_broker_start_failure) return make_error(std::string(), r.detail());
    }
  }
  return Unit{};
}

Result<Unit, std::string> BrokerContainer::start_broker(BrokerConfig config) {
  BrokerServices services{loop_, pool_, outer_client_, clock_, sink_, config_.namesrv_addr};
  auto broker = std::make_unique<Broker>(services, std::move(config));
  auto r = broker->start();
  if (!r.ok()) return r;
  brokers_.push_back(std::move(broker));
  return Unit{};
}

Result<Unit, std::string> BrokerContainer::add_broker(const std::string& config_path) {
  if (config_path.empty()) return make_error(std::string(), "addBroker config path is empty");
  std::vector<std::string> warnings;
  auto c = load_broker_config(config_path, config_, warnings);
  for (const auto& w : warnings) log_.warn(w);
  if (!c.ok()) return make_error(std::string(), c.detail());
  std::vector<const BrokerConfig*> existing;
  for (const auto& b : brokers_) existing.push_back(&b->config());
  std::string conflict = check_broker_conflicts(*c, existing, config_);
  if (!conflict.empty()) return make_error(std::string(), conflict);
  auto r = start_broker(std::move(*c));
  if (!r.ok()) return make_error(std::string(), "start broker failed, " + r.detail());
  log_.info("broker added from " + config_path);
  return Unit{};
}

bool BrokerContainer::remove_broker(const std::string& cluster, const std::string& broker_name, int64_t broker_id) {
  for (auto it = brokers_.begin(); it != brokers_.end(); ++it) {
    const BrokerConfig& c = (*it)->config();
    // The identity's id (for DLedger the node number of dLegerSelfId), not the one it registers.
    if (c.broker_cluster_name == cluster && c.broker_name == broker_name && c.container_broker_id() == broker_id) {
      (*it)->shutdown();
      brokers_.erase(it);
      log_.info("broker " + cluster + "/" + broker_name + "/" + std::to_string(broker_id) + " removed");
      return true;
    }
  }
  return false;
}

void BrokerContainer::shutdown() {
  if (stopped_) return;
  stopped_ = true;
  server_.stop();
  // Slaves first, then masters.
  for (bool slaves : {true, false})
    for (auto& b : brokers_)
      if ((b->config().broker_role == BrokerRole::kSlave) == slaves) b->shutdown();
  // Let unregistrations reach the NameServers (bounded).
  int64_t deadline = clock_.monotonic_ms() + 3000;
  loop_.run_until([&] { return outer_client_.pending_count() == 0 || clock_.monotonic_ms() > deadline; });
  brokers_.clear();
  pool_.drain();
  outer_client_.close_all();
}

nlohmann::json BrokerContainer::status_json() const {
  auto [threads, rss_kb] = threads_and_rss_kb();
  nlohmann::json brokers = nlohmann::json::array();
  for (const auto& b : brokers_) brokers.push_back(b->status_json());
  return nlohmann::json{{"pid", static_cast<int64_t>(::getpid())},
                        {"threads", threads},
                        {"rssKb", rss_kb},
                        {"workerPoolThreads", pool_.thread_count()},
                        {"adminPort", server_.port()},
                        {"brokers", brokers}};
}

void BrokerContainer::register_admin_processors() {
  server_.register_handler(request_code::kAddBroker, [this](const RequestContext& ctx, RemotingCommand& r) {
    HeaderReader h(r.ext_fields);
    std::string path = h.opt_str("configPath").value_or("");
    auto result = add_broker(path);
    if (!result.ok()) return ctx.respond_code(rc::kSystemError, result.detail());
    ctx.respond_code(rc::kSuccess);
  });
  server_.register_handler(request_code::kRemoveBroker, [this](const RequestContext& ctx, RemotingCommand& r) {
    HeaderReader h(r.ext_fields);
    std::string cluster = h.str("brokerClusterName"), name = h.str("brokerName");
    int64_t id = h.i64("brokerId");
    if (!h.ok()) return ctx.respond_code(rc::kSystemError, h.error());
    if (!remove_broker(cluster, name, id)) return ctx.respond_code(rc::kBrokerNotExist, "Broker not exist");
    ctx.respond_code(rc::kSuccess);
  });
  server_.register_handler(request_code::kGetBrokerConfig, [this](const RequestContext& ctx, RemotingCommand&) {
    RemotingCommand resp;
    resp.body = config_.to_properties();
    ctx.respond(std::move(resp));
  });
  server_.register_handler(request_code::kGetBrokerRuntimeInfo, [this](const RequestContext& ctx, RemotingCommand&) {
    RemotingCommand resp;
    resp.body = status_json().dump(-1, ' ', false, kJsonReplace);
    ctx.respond(std::move(resp));
  });
}

}  // namespace mq
