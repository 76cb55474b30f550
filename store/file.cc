#include "store/file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mq::store {

const char* io_error_name(IoError e) {
  switch (e) {
    case IoError::kNoSpace: return "disk full";
    case IoError::kIo: return "I/O error";
    case IoError::kNotFound: return "not found";
    case IoError::kCorrupt: return "corrupt";
  }
  return "unknown";
}

namespace {

Error<IoError> errno_error(const std::string& what, const std::string& path) {
  int e = errno;
  IoError code = (e == ENOSPC || e == EDQUOT) ? IoError::kNoSpace
                 : e == ENOENT                ? IoError::kNotFound
                                              : IoError::kIo;
  return make_error(code, what + " " + path + ": " + std::strerror(e));
}

class PosixFile final : public File {
 public:
  PosixFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixFile() override {
    if (map_) ::munmap(map_, static_cast<size_t>(map_size_));
    ::close(fd_);
  }

  IoResult<Unit> write_at(int64_t offset, const void* data, size_t n) override {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      ssize_t w = ::pwrite(fd_, p, n, offset);
      if (w < 0) {
        if (errno == EINTR) continue;
        return errno_error("pwrite", path_);
      }
      p += w;
      n -= static_cast<size_t>(w);
      offset += w;
    }
    return Unit{};
  }
  IoResult<size_t> read_at(int64_t offset, void* out, size_t n) const override {
    size_t done = 0;
    char* p = static_cast<char*>(out);
    while (done < n) {
      ssize_t r = ::pread(fd_, p + done, n - done, offset + static_cast<int64_t>(done));
      if (r < 0) {
        if (errno == EINTR) continue;
        return errno_error("pread", path_);
      }
      if (r == 0) break;
      done += static_cast<size_t>(r);
    }
    return done;
  }
  IoResult<Unit> sync() override {
    if (::fdatasync(fd_) != 0) return errno_error("fdatasync", path_);
    return Unit{};
  }
  IoResult<Unit> truncate(int64_t size) override {
    if (::ftruncate(fd_, size) != 0) return errno_error("ftruncate", path_);
    return Unit{};
  }
  IoResult<Unit> allocate(int64_t size) override {
    int rc = ::posix_fallocate(fd_, 0, size);
    if (rc != 0) {
      errno = rc;
      return errno_error("fallocate", path_);
    }
    return Unit{};
  }
  uint8_t* map(int64_t size) override {
    if (map_) return map_size_ == size ? map_ : nullptr;
    void* p = ::mmap(nullptr, static_cast<size_t>(size), PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (p == MAP_FAILED) return nullptr;
    map_ = static_cast<uint8_t*>(p);
    map_size_ = size;
    return map_;
  }
  void unmap() override {
    if (map_) ::munmap(map_, static_cast<size_t>(map_size_));
    map_ = nullptr;
    map_size_ = 0;
  }
  int64_t size() const override {
    struct stat st;
    return ::fstat(fd_, &st) == 0 ? st.st_size : -1;
  }
  int64_t mtime_ms() const override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return 0;
    return int64_t{st.st_mtim.tv_sec} * 1000 + st.st_mtim.tv_nsec / 1000000;
  }

 private:
  int fd_;
  std::string path_;
  uint8_t* map_ = nullptr;
  int64_t map_size_ = 0;
};

}  // namespace

IoResult<std::unique_ptr<File>> PosixFileSystem::open(const std::string& path, bool create) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0644);
  if (fd < 0) return errno_error("open", path);
  return std::unique_ptr<File>(new PosixFile(fd, path));
}

bool PosixFileSystem::exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

bool PosixFileSystem::is_directory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

IoResult<std::vector<std::string>> PosixFileSystem::list(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return errno_error("opendir", dir);
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
  }
  ::closedir(d);
  return names;
}

IoResult<Unit> PosixFileSystem::create_directories(const std::string& dir) {
  std::string cur;
  size_t i = 0;
  while (i <= dir.size()) {
    size_t j = dir.find('/', i);
    if (j == std::string::npos) j = dir.size();
    cur = dir.substr(0, j);
    if (!cur.empty() && ::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST)
      return errno_error("mkdir", cur);
    i = j + 1;
  }
  return Unit{};
}

IoResult<Unit> PosixFileSystem::remove(const std::string& path) {
  if (::remove(path.c_str()) != 0) return errno_error("remove", path);
  return Unit{};
}

IoResult<Unit> PosixFileSystem::rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return errno_error("rename", from + " -> " + to);
  return Unit{};
}

IoResult<Unit> PosixFileSystem::sync_directory(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno_error("open dir", dir);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return errno_error("fsync dir", dir);
  return Unit{};
}

IoResult<std::string> read_whole_file(FileSystem& fs, const std::string& path) {
  auto f = fs.open(path, false);
  if (!f) return f.error();
  int64_t size = (*f)->size();
  if (size < 0) return make_error(IoError::kIo, "size of " + path);
  std::string data(static_cast<size_t>(size), '\0');
  auto r = (*f)->read_at(0, data.data(), data.size());
  if (!r) return r.error();
  data.resize(*r);
  return data;
}

IoResult<Unit> write_file_atomically(FileSystem& fs, const std::string& path, std::string_view data) {
  std::string tmp = path + ".tmp";
  {
    auto f = fs.open(tmp, true);
    if (!f) return f.error();
    if (auto r = (*f)->truncate(0); !r) return r.error();
    if (auto r = (*f)->write_at(0, data.data(), data.size()); !r) return r.error();
    if (auto r = (*f)->sync(); !r) return r.error();
  }
  if (auto r = fs.rename(tmp, path); !r) return r.error();
  size_t slash = path.rfind('/');
  return fs.sync_directory(slash == std::string::npos ? "." : path.substr(0, slash));
}

std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  if (dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

std::string offset_to_file_name(int64_t offset) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020lld", static_cast<long long>(offset));
  return buf;
}

bool parse_offset_file_name(const std::string& name, int64_t* offset) {
  if (name.size() != 20) return false;
  int64_t v = 0;
  for (char c : name) {
    if (c < '0' || c > '9') return false;
    if (v > (INT64_MAX - 9) / 10) return false;
    v = v * 10 + (c - '0');
  }
  *offset = v;
  return true;
}

double disk_used_ratio(const std::string& path) {
  struct statvfs st;
  if (::statvfs(path.c_str(), &st) != 0 || st.f_blocks == 0) return -1;
  double total = static_cast<double>(st.f_blocks);
  double free_blocks = static_cast<double>(st.f_bavail);
  return (total - free_blocks) / total;
}

}  // namespace mq::store
