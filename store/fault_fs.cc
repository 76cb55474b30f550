#include "store/fault_fs.h"

#include <algorithm>
#include <cstring>

namespace mq::store {

class FaultFile final : public File {
 public:
  FaultFile(FaultInjectingFileSystem* fs, std::shared_ptr<FaultInjectingFileSystem::FileState> st)
      : fs_(fs), st_(std::move(st)) {}
  IoResult<Unit> write_at(int64_t offset, const void* data, size_t n) override {
    return fs_->write(*st_, offset, data, n);
  }
  IoResult<size_t> read_at(int64_t offset, void* out, size_t n) const override {
    return fs_->read(*st_, offset, out, n);
  }
  IoResult<Unit> sync() override { return fs_->sync(*st_); }
  IoResult<Unit> truncate(int64_t size) override { return fs_->truncate(*st_, size); }
  IoResult<Unit> allocate(int64_t size) override {
    if (size <= this->size()) return Unit{};
    return fs_->truncate(*st_, size);
  }
  uint8_t* map(int64_t) override { return nullptr; }
  int64_t size() const override {
    std::lock_guard g(fs_->mu_);
    return static_cast<int64_t>(st_->current.size());
  }
  int64_t mtime_ms() const override {
    std::lock_guard g(fs_->mu_);
    return st_->mtime_ms;
  }

 private:
  FaultInjectingFileSystem* fs_;
  std::shared_ptr<FaultInjectingFileSystem::FileState> st_;
};

namespace {
std::string parent_of(const std::string& path) {
  size_t s = path.rfind('/');
  return s == std::string::npos ? std::string() : path.substr(0, s);
}
}  // namespace

IoResult<std::unique_ptr<File>> FaultInjectingFileSystem::open(const std::string& path,
                                                                bool create) {
  std::lock_guard g(mu_);
  auto it = files_.find(path);
  if (it == files_.end()) {
    if (!create) return make_error(IoError::kNotFound, "open " + path);
    if (!dirs_.count(parent_of(path)) && !parent_of(path).empty())
      return make_error(IoError::kNotFound, "open " + path + ": no directory");
    it = files_.emplace(path, std::make_shared<FileState>()).first;
    it->second->mtime_ms = now_ms();
  }
  return std::unique_ptr<File>(new FaultFile(this, it->second));
}

bool FaultInjectingFileSystem::exists(const std::string& path) {
  std::lock_guard g(mu_);
  return files_.count(path) || dirs_.count(path);
}

bool FaultInjectingFileSystem::is_directory(const std::string& path) {
  std::lock_guard g(mu_);
  return dirs_.count(path) > 0;
}

IoResult<std::vector<std::string>> FaultInjectingFileSystem::list(const std::string& dir) {
  std::lock_guard g(mu_);
  if (!dirs_.count(dir)) return make_error(IoError::kNotFound, "list " + dir);
  std::vector<std::string> out;
  std::string prefix = dir + "/";
  auto add = [&](const std::string& p) {
    if (p.size() > prefix.size() && p.compare(0, prefix.size(), prefix) == 0 &&
        p.find('/', prefix.size()) == std::string::npos)
      out.push_back(p.substr(prefix.size()));
  };
  for (const auto& [p, _] : files_) add(p);
  for (const auto& d : dirs_) add(d);
  return out;
}

IoResult<Unit> FaultInjectingFileSystem::create_directories(const std::string& dir) {
  std::lock_guard g(mu_);
  std::string cur = dir;
  while (!cur.empty()) {
    dirs_.insert(cur);
    cur = parent_of(cur);
  }
  return Unit{};
}

IoResult<Unit> FaultInjectingFileSystem::remove(const std::string& path) {
  std::lock_guard g(mu_);
  if (files_.erase(path)) return Unit{};
  if (dirs_.count(path)) {
    std::string prefix = path + "/";
    for (const auto& [p, _] : files_)
      if (p.compare(0, prefix.size(), prefix) == 0)
        return make_error(IoError::kIo, "remove " + path + ": not empty");
    dirs_.erase(path);
    return Unit{};
  }
  return make_error(IoError::kNotFound, "remove " + path);
}

IoResult<Unit> FaultInjectingFileSystem::rename(const std::string& from, const std::string& to) {
  std::lock_guard g(mu_);
  auto it = files_.find(from);
  if (it == files_.end()) return make_error(IoError::kNotFound, "rename " + from);
  auto st = it->second;
  files_.erase(it);
  files_[to] = st;
  return Unit{};
}

IoResult<Unit> FaultInjectingFileSystem::sync_directory(const std::string& dir) { return Unit{}; }

void FaultInjectingFileSystem::crash(Random* rng) {
  std::lock_guard g(mu_);
  constexpr size_t kBlock = 4096;
  for (auto& [_, f] : files_) {
    if (!rng) {
      f->current = f->durable;
      continue;
    }
    // Tear: each block that differs keeps its new content or its durable content at random; the
    // size ends up as either image's size.
    std::string out = f->durable;
    size_t n = std::max(f->current.size(), f->durable.size());
    bool keep_new_size = rng->chance(1, 2);
    out.resize(keep_new_size ? f->current.size() : f->durable.size(), '\0');
    for (size_t b = 0; b < n && b < out.size(); b += kBlock) {
      size_t len = std::min(kBlock, out.size() - b);
      if (rng->chance(1, 2) && b < f->current.size()) {
        size_t cl = std::min(len, f->current.size() - b);
        std::memcpy(out.data() + b, f->current.data() + b, cl);
      }
    }
    f->current = std::move(out);
    f->durable = f->current;
  }
}

void FaultInjectingFileSystem::set_capacity_bytes(int64_t capacity) {
  std::lock_guard g(mu_);
  capacity_bytes_ = capacity;
}
void FaultInjectingFileSystem::fail_writes_after(int64_t n) {
  std::lock_guard g(mu_);
  writes_until_failure_ = n;
}
void FaultInjectingFileSystem::fail_syncs_after(int64_t n) {
  std::lock_guard g(mu_);
  syncs_until_failure_ = n;
}
void FaultInjectingFileSystem::clear_faults() {
  std::lock_guard g(mu_);
  capacity_bytes_ = writes_until_failure_ = syncs_until_failure_ = -1;
}
int64_t FaultInjectingFileSystem::sync_count() const {
  std::lock_guard g(mu_);
  return sync_count_;
}

// Files are not sparse here: a file extended by truncate() uses its whole size, so a full disk
// shows up when a segment is created (as with fallocate) or when a write grows a file.
int64_t FaultInjectingFileSystem::used_bytes_locked() const {
  int64_t used = 0;
  for (const auto& [_, f] : files_) used += static_cast<int64_t>(f.get()->current.size());
  return used;
}

IoResult<Unit> FaultInjectingFileSystem::write(FileState& f, int64_t offset, const void* data,
                                               size_t n) {
  std::lock_guard g(mu_);
  if (writes_until_failure_ == 0) return make_error(IoError::kIo, "injected write failure");
  if (writes_until_failure_ > 0) --writes_until_failure_;
  size_t end = static_cast<size_t>(offset) + n;
  size_t allowed = n;
  if (capacity_bytes_ >= 0 && end > f.current.size()) {
    int64_t growth = static_cast<int64_t>(end - f.current.size());
    int64_t room = capacity_bytes_ - used_bytes_locked();
    if (growth > room) {
      int64_t fits = static_cast<int64_t>(f.current.size()) + std::max<int64_t>(room, 0) - offset;
      allowed = static_cast<size_t>(std::clamp<int64_t>(fits, 0, static_cast<int64_t>(n)));
    }
  }
  if (f.current.size() < static_cast<size_t>(offset) + allowed)
    f.current.resize(static_cast<size_t>(offset) + allowed, '\0');
  if (allowed) std::memcpy(f.current.data() + offset, data, allowed);
  f.mtime_ms = now_ms();
  if (allowed < n) return make_error(IoError::kNoSpace, "injected ENOSPC");
  return Unit{};
}

IoResult<size_t> FaultInjectingFileSystem::read(const FileState& f, int64_t offset, void* out,
                                                size_t n) const {
  std::lock_guard g(mu_);
  if (static_cast<size_t>(offset) >= f.current.size()) return size_t{0};
  size_t len = std::min(n, f.current.size() - static_cast<size_t>(offset));
  std::memcpy(out, f.current.data() + offset, len);
  return len;
}

IoResult<Unit> FaultInjectingFileSystem::sync(FileState& f) {
  std::lock_guard g(mu_);
  if (syncs_until_failure_ == 0) return make_error(IoError::kIo, "injected fsync failure");
  if (syncs_until_failure_ > 0) --syncs_until_failure_;
  ++sync_count_;
  f.durable = f.current;
  return Unit{};
}

IoResult<Unit> FaultInjectingFileSystem::truncate(FileState& f, int64_t size) {
  std::lock_guard g(mu_);
  int64_t growth = size - static_cast<int64_t>(f.current.size());
  if (capacity_bytes_ >= 0 && growth > 0 && used_bytes_locked() + growth > capacity_bytes_)
    return make_error(IoError::kNoSpace, "injected ENOSPC on truncate");
  f.current.resize(static_cast<size_t>(size), '\0');
  f.mtime_ms = now_ms();
  return Unit{};
}

}  // namespace mq::store
