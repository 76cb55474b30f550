#include "namesrv/kv_config_manager.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

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
  return j.dump();
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
      table_[n.key()][k.key()] = k.value().is_string() ? k.value().get<std::string>() : k.value().dump();
  }
  return Unit{};
}

std::string write_file_atomically(const std::string& path, const std::string& content) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path p(path);
  if (p.has_parent_path()) fs::create_directories(p.parent_path(), ec);
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return "cannot create " + tmp + ": " + std::strerror(errno);
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::string err = "cannot write " + tmp + ": " + std::strerror(errno);
      ::close(fd);
      return err;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    std::string err = "cannot fsync " + tmp + ": " + std::strerror(errno);
    ::close(fd);
    return err;
  }
  ::close(fd);
  if (fs::exists(p, ec)) fs::copy_file(p, path + ".bak", fs::copy_options::overwrite_existing, ec);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return "cannot rename " + tmp + ": " + std::strerror(errno);
  int dfd = ::open(p.has_parent_path() ? p.parent_path().c_str() : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

}  // namespace mq
