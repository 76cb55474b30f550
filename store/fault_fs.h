// An in-memory FileSystem for tests that models what survives an OS crash. Every file keeps two
// images: `current` (what reads see, the page cache) and `durable` (what the disk holds). sync()
// copies current to durable. crash() throws away everything not synced, optionally tearing it: each
// 4 KiB block of unsynced data independently survives or not, which is what a power cut allows
// (the disk may persist dirty pages in any order). File creation, removal and rename are treated as
// durable at once (our code syncs the directory after each; modelling lost directory entries is left
// out on purpose, the data path is what the SYNC_FLUSH claim is about).
//
// Faults on demand: a byte budget (writes beyond it fail with kNoSpace after writing what fits),
// failing writes or syncs after N calls, all counted across files.
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "base/clock.h"
#include "store/file.h"

namespace mq::store {

class FaultInjectingFileSystem final : public FileSystem {
 public:
  explicit FaultInjectingFileSystem(const Clock* clock = nullptr) : clock_(clock) {}

  IoResult<std::unique_ptr<File>> open(const std::string& path, bool create) override;
  bool exists(const std::string& path) override;
  bool is_directory(const std::string& path) override;
  IoResult<std::vector<std::string>> list(const std::string& dir) override;
  IoResult<Unit> create_directories(const std::string& dir) override;
  IoResult<Unit> remove(const std::string& path) override;
  IoResult<Unit> rename(const std::string& from, const std::string& to) override;
  IoResult<Unit> sync_directory(const std::string& dir) override;

  // Drops every unsynced byte (rng == nullptr) or keeps a random subset of unsynced 4 KiB blocks.
  void crash(Random* rng = nullptr);
  // Total bytes the files may hold (sum of current sizes, counting only bytes written); -1 = no limit.
  void set_capacity_bytes(int64_t capacity);
  // The n-th write / sync from now (0 = the next one) and every later one fails with kIo.
  void fail_writes_after(int64_t n);
  void fail_syncs_after(int64_t n);
  void clear_faults();
  int64_t sync_count() const;

  struct FileState {
    std::string current;
    std::string durable;
    int64_t mtime_ms = 0;
  };

 private:
  friend class FaultFile;
  IoResult<Unit> write(FileState& f, int64_t offset, const void* data, size_t n);
  IoResult<size_t> read(const FileState& f, int64_t offset, void* out, size_t n) const;
  IoResult<Unit> sync(FileState& f);
  IoResult<Unit> truncate(FileState& f, int64_t size);
  int64_t used_bytes_locked() const;
  int64_t now_ms() const { return clock_ ? clock_->now_ms() : 0; }

  const Clock* clock_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<FileState>> files_;
  std::set<std::string> dirs_;
  int64_t capacity_bytes_ = -1;
  int64_t writes_until_failure_ = -1;
  int64_t syncs_until_failure_ = -1;
  int64_t sync_count_ = 0;
};

}  // namespace mq::store
