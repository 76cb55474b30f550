#include "container/container_config.h"

#include <cstdlib>
#include <filesystem>

namespace mq {

ContainerConfig::ContainerConfig() {
  if (const char* ns = std::getenv("NAMESRV_ADDR")) namesrv_addr = ns;
}

Result<std::vector<std::string>, ConfigError> ContainerConfig::load(const ConfigFile& file) {
  config_path = file.path;
  ConfigBinder b(file);
  b.bind("listenPort", listen_port);
  b.bind("bindAddress", bind_address);
  b.bind("namesrvAddr", namesrv_addr);
  b.bind("brokerConfigPaths", broker_config_paths);
  b.bind("workerPoolThreads", worker_pool_threads);
  b.bind("logDir", log_dir);
  b.bind("continueOnBrokerStartFailure", continue_on_broker_start_failure);
  auto r = b.finish();
  if (!r.ok()) return r.error();
  auto where = [&file](const std::string& key) {
    const ConfigEntry* e = file.find(key);
    return file.path + ":" + std::to_string(e ? e->line : 0) + ": key '" + key + "'";
  };
  if (listen_port < 0 || listen_port > 65535)
    return make_error(ConfigError::kValue, where("listenPort") + ": must be in [0, 65535]");
  if (worker_pool_threads < 1 || worker_pool_threads > 64)
    return make_error(ConfigError::kValue, where("workerPoolThreads") + ": must be in [1, 64]");
  return b.unknown_keys();
}

std::vector<std::string> ContainerConfig::broker_paths() const {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= broker_config_paths.size()) {
    size_t end = broker_config_paths.find(':', start);
    if (end == std::string::npos) end = broker_config_paths.size();
    std::string p = broker_config_paths.substr(start, end - start);
    while (!p.empty() && (p.front() == ' ' || p.front() == '\t')) p.erase(p.begin());
    while (!p.empty() && (p.back() == ' ' || p.back() == '\t')) p.pop_back();
    if (!p.empty()) {
      // Relative paths are relative to the container config's folder.
      if (p[0] != '/' && !config_path.empty()) p = (std::filesystem::path(config_path).parent_path() / p).string();
      out.push_back(p);
    }
    start = end + 1;
  }
  return out;
}

std::string ContainerConfig::to_properties() const {
  return "bindAddress=" + bind_address + "\nbrokerConfigPaths=" + broker_config_paths +
         "\ncontinueOnBrokerStartFailure=" + (continue_on_broker_start_failure ? "true" : "false") +
         "\nlistenPort=" + std::to_string(listen_port) + "\nlogDir=" + log_dir + "\nnamesrvAddr=" + namesrv_addr +
         "\nworkerPoolThreads=" + std::to_string(worker_pool_threads) + "\n";
}

Result<BrokerConfig, std::string> load_broker_config(const std::string& path, const ContainerConfig& container,
                                                     std::vector<std::string>& warnings) {
  auto file = load_config_file(path);
  if (!file.ok()) return make_error(std::string(), file.detail());
  BrokerConfig config;
  auto w = config.load(*file);
  if (!w.ok()) return make_error(std::string(), w.detail());
  for (auto& s : *w) warnings.push_back(s);
  if (!container.namesrv_addr.empty()) config.namesrv_addr = container.namesrv_addr;
  if (config.namesrv_addr.empty()) warnings.push_back(path + ": no namesrvAddr (container or broker): the broker will not register");
  return config;
}

namespace {
// A directory as a comparable text: symbolic links resolved, normalized, no trailing '/'.
std::string canonical_dir(const std::string& p) {
  std::error_code ec;
  auto c = std::filesystem::weakly_canonical(p, ec);
  std::string s = (ec ? std::filesystem::path(p) : c).lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}
}  // namespace

std::string check_broker_conflicts(const BrokerConfig& c, const std::vector<const BrokerConfig*>& existing,
                                   const ContainerConfig& container) {
  std::vector<BrokerConfig::BoundPort> ports = c.bound_port_sources();
  for (const auto& p : ports)
    if (container.listen_port != 0 && p.port == container.listen_port)
      return c.config_path + ": port " + std::to_string(p.port) + " (" + p.source + ") is the container's listenPort (" +
             container.config_path + ")";
  for (size_t i = 0; i < ports.size(); ++i)
    for (size_t j = i + 1; j < ports.size(); ++j)
      if (ports[i].port == ports[j].port)
        return c.config_path + ": port " + std::to_string(ports[i].port) + " is given twice: " + ports[i].source +
               " and " + ports[j].source;
  for (const BrokerConfig* e : existing) {
    // container_broker_id(): a running DLedger broker registers another brokerId than its identity's.
    if (e->broker_cluster_name == c.broker_cluster_name && e->broker_name == c.broker_name &&
        e->container_broker_id() == c.container_broker_id())
      return "broker " + c.identity() + " is defined twice: " + e->config_path + " and " + c.config_path;
    if (canonical_dir(e->store.store_path_root_dir) == canonical_dir(c.store.store_path_root_dir))
      return "store directory " + c.store.store_path_root_dir + " is used by two brokers: " + e->config_path + " and " +
             c.config_path;
    if (e->is_dledger() && c.is_dledger() && canonical_dir(e->dledger_dir()) == canonical_dir(c.dledger_dir()))
      return "DLedger directory " + c.dledger_dir() + " is used by two brokers: " + e->config_path + " and " +
             c.config_path;
    for (const auto& p : ports)
      for (const auto& q : e->bound_port_sources())
        if (p.port == q.port)
          return "port " + std::to_string(p.port) + " is used by two brokers: " + e->config_path + " (" + q.source +
                 ") and " + c.config_path + " (" + p.source + ")";
  }
  return {};
}

}  // namespace mq
