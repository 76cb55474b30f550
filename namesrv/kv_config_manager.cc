#include "namesrv/kv_config_manager.h"

#include "codec/fastjson.h"

namespace mq {

void KvConfigManager::put(const std::string& ns, const std::string& key, const std::string& value) {
  table_[ns][key] = value;
}

std::optional<std::string> KvConfigManager::get(const std::string& ns, const std::string& key) const {
  auto n = table_.find(ns);
  if (n == table_.end()) return std::nullopt;
  auto k = n->second.find(key);
  if (k == n->second.end()) return std::nullopt;
  return k->second;
}

bool KvConfigManager::remove(const std::string& ns, const std::string& key) {
  auto n = table_.find(ns);
  if (n == table_.end()) return false;
  bool erased = n->second.erase(key) > 0;
  if (n->second.empty()) table_.erase(n);
  return erased;
}

const std::map<std::string, std::string>* KvConfigManager::namespace_table(const std::string& ns) const {
  auto n = table_.find(ns);
  return n == table_.end() ? nullptr : &n->second;
}

std::string KvConfigManager::to_json_text() const {
  nlohmann::json j{{"configTable", table_}};
  return j.dump(-1, ' ', false, kJsonReplace);
}

Result<Unit, int> KvConfigManager::load_json_text(const std::string& text) {
  auto j = parse_fastjson(text);
  if (!j.ok() || !j->is_object()) return make_error(0, "kvConfig is not a JSON object");
  table_.clear();
  auto it = j->find("configTable");
  if (it == j->end() || !it->is_object()) return Unit{};
  for (auto n = it->begin(); n != it->end(); ++n) {
    if (!n.value().is_object()) continue;
    for (auto k = n.value().begin(); k != n.value().end(); ++k)
      table_[n.key()][k.key()] = k.value().is_string() ? k.value().get<std::string>() : k.value().dump(-1, ' ', false, kJsonReplace);
  }
  return Unit{};
}

}  // namespace mq
