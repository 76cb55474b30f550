// The NameServer's KV configuration (namespaces of key -> value, e.g. ORDER_TOPIC_CONFIG).
// Persisted in RocketMQ's shape, {"configTable":{"<namespace>":{"<key>":"<value>"}}}, at
// kvConfigPath after every change. The manager itself does no I/O: it produces the JSON text and
// the caller writes it (atomically: temp file, fsync, rename) off the loop thread.
#pragma once
#include <map>
#include <optional>
#include <string>

#include "base/result.h"

namespace mq {

class KvConfigManager {
 public:
  void put(const std::string& ns, const std::string& key, const std::string& value);
  std::optional<std::string> get(const std::string& ns, const std::string& key) const;
  // Returns false when nothing was there.
  bool remove(const std::string& ns, const std::string& key);
  const std::map<std::string, std::string>* namespace_table(const std::string& ns) const;

  std::string to_json_text() const;
  // Replaces the tables with the content of a kvConfig.json text.
  Result<Unit, int> load_json_text(const std::string& text);

 private:
  std::map<std::string, std::map<std::string, std::string>> table_;
};

}  // namespace mq
