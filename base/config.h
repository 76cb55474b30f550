// Configuration files: RocketMQ's `key=value` properties (so existing broker and NameServer
// configs load unchanged) and TOML with the same keys. Both load into a flat list of entries that
// remember their file and line; a ConfigBinder then reads them into typed fields. A value of the
// wrong type is an error naming the file, the line and the key; a key nobody binds is reported as
// unknown (a warning: operators' files carry keys for features we do not have).
//
// Properties syntax: one `key=value` (or `key:value`, or `key value`) per line, `#` and `!` start
// comments, surrounding blanks are trimmed, a trailing backslash continues the value on the next
// line. TOML: top-level `key = value` pairs (strings, integers, floats, booleans); keys of tables
// are flattened with dots (`[a] b = 1` is `a.b`).
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/log.h"
#include "base/result.h"

namespace mq {

enum class ConfigError { kIo, kSyntax, kType, kValue };

struct ConfigEntry {
  std::string key;
  std::string value;  // as text: TOML values are converted to their properties form
  int line = 0;
};

struct ConfigFile {
  std::string path;
  std::vector<ConfigEntry> entries;  // in file order; a later duplicate wins
  const ConfigEntry* find(const std::string& key) const;
};

// Loads `path`: TOML when it ends in .toml, properties otherwise.
Result<ConfigFile, ConfigError> load_config_file(const std::string& path);
Result<ConfigFile, ConfigError> parse_properties(const std::string& path, const std::string& text);
Result<ConfigFile, ConfigError> parse_toml(const std::string& path, const std::string& text);

// Loads `path` into `config` (any config type whose `load(const ConfigFile&)` returns the keys it
// ignored) for a server binary's start: ignored keys become warnings on `log`; the error names
// the file, the line and the key.
template <class Config>
Result<Unit, ConfigError> load_config_into(const std::string& path, Config& config, Logger& log) {
  auto file = load_config_file(path);
  if (!file.ok()) return make_error(file.error().code, file.detail());
  auto ignored = config.load(*file);
  if (!ignored.ok()) return make_error(ignored.error().code, ignored.detail());
  for (const auto& key : *ignored) log.warn(key + " (ignored)");
  return Unit{};
}

// Reads entries into typed fields. Each bind() records the key as known; finish() reports type
// errors (the first one) and lists unknown keys.
class ConfigBinder {
 public:
  explicit ConfigBinder(const ConfigFile& file) : file_(file) {}
  void bind(const std::string& key, std::string& field);
  void bind(const std::string& key, int64_t& field);
  void bind(const std::string& key, int32_t& field);
  void bind(const std::string& key, bool& field);
  void bind(const std::string& key, double& field);
  // A value restricted to `allowed` (e.g. ASYNC_FLUSH / SYNC_FLUSH).
  void bind_enum(const std::string& key, std::string& field, const std::vector<std::string>& allowed);
  // Keys present in the file that no bind() asked for.
  std::vector<std::string> unknown_keys() const;
  Result<Unit, ConfigError> finish() const;

 private:
  const ConfigEntry* take(const std::string& key);
  void type_error(const ConfigEntry& e, const std::string& expected);
  const ConfigFile& file_;
  std::map<std::string, bool> known_;
  std::optional<Error<ConfigError>> error_;
};

// Writes changed settings back into a config file (UPDATE_BROKER_CONFIG persists them there, as
// RocketMQ's Configuration.persist does), keeping every other line and comment as it was: a key
// already set has its (last) definition line replaced, continuation lines included; a new key is
// appended (TOML: before the first [table], so it stays top-level). TOML values that read as
// integers, floats or booleans are written bare, everything else as a quoted string. The new text
// is parsed before it replaces the file (atomically, keeping `<path>.bak`).
Result<Unit, ConfigError> update_config_file(const std::string& path,
                                             const std::vector<std::pair<std::string, std::string>>& changes);

// Parses "k=v" lines (the body of UPDATE_*_CONFIG requests) into pairs, in order.
std::vector<std::pair<std::string, std::string>> parse_properties_text(const std::string& text);

}  // namespace mq
