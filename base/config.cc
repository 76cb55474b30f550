#include "base/config.h"

#include <charconv>
#include <fstream>
#include <sstream>

#include <toml++/toml.h>

#include "base/file_util.h"

namespace mq {

namespace {
std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\f");
  if (b == std::string::npos) return {};
  size_t e = s.find_last_not_of(" \t\r\f");
  return s.substr(b, e - b + 1);
}

bool is_toml_path(const std::string& path) {
  return path.size() >= 5 && path.compare(path.size() - 5, 5, ".toml") == 0;
}

std::string where(const ConfigFile& f, const ConfigEntry& e) {
  return f.path + ":" + std::to_string(e.line) + ": key '" + e.key + "'";
}

void flatten(const toml::table& t, const std::string& prefix, ConfigFile& out, const std::string& path,
             std::optional<Error<ConfigError>>& err) {
  for (const auto& [k, node] : t) {
    std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    int line = static_cast<int>(node.source().begin.line);
    if (const auto* sub = node.as_table()) {
      flatten(*sub, key, out, path, err);
    } else if (const auto* s = node.as_string()) {
      out.entries.push_back({key, s->get(), line});
    } else if (const auto* i = node.as_integer()) {
      out.entries.push_back({key, std::to_string(i->get()), line});
    } else if (const auto* b = node.as_boolean()) {
      out.entries.push_back({key, b->get() ? "true" : "false", line});
    } else if (const auto* d = node.as_floating_point()) {
      std::ostringstream os;
      os << d->get();
      out.entries.push_back({key, os.str(), line});
    } else if (!err) {
      err = Error<ConfigError>{ConfigError::kType, path + ":" + std::to_string(line) + ": key '" + key +
                                                       "': arrays and dates are not supported"};
    }
  }
}
}  // namespace

const ConfigEntry* ConfigFile::find(const std::string& key) const {
  const ConfigEntry* found = nullptr;
  for (const auto& e : entries)
    if (e.key == key) found = &e;
  return found;
}

Result<ConfigFile, ConfigError> load_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ConfigError::kIo, path + ": cannot open config file");
  std::stringstream ss;
  ss << in.rdbuf();
  if (is_toml_path(path)) return parse_toml(path, ss.str());
  return parse_properties(path, ss.str());
}

Result<ConfigFile, ConfigError> parse_properties(const std::string& path, const std::string& text) {
  ConfigFile out;
  out.path = path;
  std::istringstream in(text);
  std::string raw;
  int line_no = 0;
  while (std::getline(in, raw)) {
    ++line_no;
    int start_line = line_no;
    std::string line = trim(raw);
    while (!line.empty() && line.back() == '\\') {
      line.pop_back();
      std::string next;
      if (!std::getline(in, next)) break;
      ++line_no;
      line += trim(next);
    }
    if (line.empty() || line[0] == '#' || line[0] == '!') continue;
    size_t sep = line.find_first_of("=:");
    size_t blank = line.find_first_of(" \t");
    if (sep == std::string::npos || (blank != std::string::npos && blank < sep)) sep = blank;
    if (sep == std::string::npos)
      return make_error(ConfigError::kSyntax, path + ":" + std::to_string(start_line) + ": expected key=value, got '" + line + "'");
    std::string key = trim(line.substr(0, sep));
    std::string value = trim(line.substr(sep + 1));
    if (!value.empty() && (value[0] == '=' || value[0] == ':') && blank == sep) value = trim(value.substr(1));
    if (key.empty())
      return make_error(ConfigError::kSyntax, path + ":" + std::to_string(start_line) + ": empty key");
    out.entries.push_back({key, value, start_line});
  }
  return out;
}

Result<ConfigFile, ConfigError> parse_toml(const std::string& path, const std::string& text) {
  ConfigFile out;
  out.path = path;
  try {
    toml::table t = toml::parse(text, path);
    std::optional<Error<ConfigError>> err;
    flatten(t, "", out, path, err);
    if (err) return *err;
  } catch (const toml::parse_error& e) {
    return make_error(ConfigError::kSyntax, path + ":" + std::to_string(e.source().begin.line) + ": " +
                                                std::string(e.description()));
  }
  return out;
}

const ConfigEntry* ConfigBinder::take(const std::string& key) {
  known_[key] = true;
  return file_.find(key);
}

void ConfigBinder::type_error(const ConfigEntry& e, const std::string& expected) {
  if (!error_)
    error_ = Error<ConfigError>{ConfigError::kType, where(file_, e) + ": expected " + expected + ", got '" + e.value + "'"};
}

void ConfigBinder::bind(const std::string& key, std::string& field) {
  if (const auto* e = take(key)) field = e->value;
}

void ConfigBinder::bind(const std::string& key, int64_t& field) {
  const auto* e = take(key);
  if (e == nullptr) return;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(e->value.data(), e->value.data() + e->value.size(), v);
  if (ec != std::errc() || p != e->value.data() + e->value.size() || e->value.empty()) {
    type_error(*e, "an integer");
    return;
  }
  field = v;
}

void ConfigBinder::bind(const std::string& key, int32_t& field) {
  int64_t v = field;
  bind(key, v);
  if (const auto* e = file_.find(key); e != nullptr && (v < INT32_MIN || v > INT32_MAX)) {
    type_error(*e, "a 32-bit integer");
    return;
  }
  field = static_cast<int32_t>(v);
}

void ConfigBinder::bind(const std::string& key, bool& field) {
  const auto* e = take(key);
  if (e == nullptr) return;
  if (e->value == "true") {
    field = true;
  } else if (e->value == "false") {
    field = false;
  } else {
    type_error(*e, "true or false");
  }
}

void ConfigBinder::bind(const std::string& key, double& field) {
  const auto* e = take(key);
  if (e == nullptr) return;
  try {
    size_t used = 0;
    double v = std::stod(e->value, &used);
    if (used != e->value.size()) throw std::invalid_argument("trailing");
    field = v;
  } catch (...) {
    type_error(*e, "a number");
  }
}

void ConfigBinder::bind_enum(const std::string& key, std::string& field, const std::vector<std::string>& allowed) {
  const auto* e = take(key);
  if (e == nullptr) return;
  for (const auto& a : allowed) {
    if (e->value == a) {
      field = a;
      return;
    }
  }
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  type_error(*e, "one of " + list);
}

std::vector<std::string> ConfigBinder::unknown_keys() const {
  std::vector<std::string> out;
  for (const auto& e : file_.entries)
    if (!known_.count(e.key)) out.push_back(file_.path + ":" + std::to_string(e.line) + ": unknown key '" + e.key + "'");
  return out;
}

Result<Unit, ConfigError> ConfigBinder::finish() const {
  if (error_) return *error_;
  return Unit{};
}

namespace {

// A value as TOML writes it: bare when TOML reads it back as the same integer, float or boolean.
std::string toml_literal(const std::string& value) {
  if (value == "true" || value == "false") return value;
  if (!value.empty()) {
    try {
      toml::table t = toml::parse("v = " + value);
      if (t["v"].is_integer() || t["v"].is_floating_point()) return value;
    } catch (const toml::parse_error&) {
    }
  }
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

}  // namespace

Result<Unit, ConfigError> update_config_file(const std::string& path,
                                             const std::vector<std::pair<std::string, std::string>>& changes) {
  auto text = read_whole_file(path);
  if (!text) return make_error(ConfigError::kIo, path + ": cannot read config file");
  bool toml = is_toml_path(path);
  auto parsed = toml ? parse_toml(path, *text) : parse_properties(path, *text);
  if (!parsed.ok()) return parsed.error();
  std::vector<std::string> lines = split_lines(*text);
  std::vector<bool> dropped(lines.size(), false);
  std::vector<std::string> appended;
  for (const auto& [key, value] : changes) {
    std::string line = toml ? key + " = " + toml_literal(value) : key + "=" + value;
    const ConfigEntry* e = parsed->find(key);
    if (e == nullptr || e->line <= 0 || static_cast<size_t>(e->line) > lines.size()) {
      appended.push_back(line);
      continue;
    }
    size_t at = static_cast<size_t>(e->line - 1);
    // A properties value continued with trailing backslashes spans the lines after it.
    for (size_t i = at; !toml && i + 1 < lines.size() && !trim(lines[i]).empty() && trim(lines[i]).back() == '\\'; ++i)
      dropped[i + 1] = true;
    lines[at] = line;
  }
  size_t insert_at = lines.size();
  if (toml)
    for (size_t i = 0; i < lines.size(); ++i)
      if (!dropped[i] && trim(lines[i]).starts_with("[")) {
        insert_at = i;
        break;
      }
  std::string out;
  for (size_t i = 0; i <= lines.size(); ++i) {
    if (i == insert_at)
      for (const auto& a : appended) out += a + "\n";
    if (i < lines.size() && !dropped[i]) out += lines[i] + "\n";
  }
  auto check = toml ? parse_toml(path, out) : parse_properties(path, out);
  if (!check.ok()) return check.error();
  for (const auto& [key, value] : changes) {
    const ConfigEntry* e = check->find(key);
    if (e == nullptr || e->value != value)
      return make_error(ConfigError::kValue, path + ": key '" + key + "' would not read back as '" + value + "'");
  }
  std::string err = write_file_atomically(path, out);
  if (!err.empty()) return make_error(ConfigError::kIo, err);
  return Unit{};
}

std::vector<std::pair<std::string, std::string>> parse_properties_text(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  auto parsed = parse_properties("<request body>", text);
  if (!parsed.ok()) return out;
  for (auto& e : parsed->entries) out.emplace_back(e.key, e.value);
  return out;
}

}  // namespace mq
