// The file layer under every store file: a small positional-I/O interface so that the CommitLog,
// ConsumeQueue, checkpoint and abort marker can run on the real file system (PosixFileSystem) or on a
// fault-injecting one (FaultInjectingFileSystem, store/fault_fs.h) that drops unsynced bytes, tears
// writes and fails with ENOSPC or EIO on demand.
//
// Appends: by memcpy into a shared mapping of a fully allocated segment (the default), or by pwrite
// (MessageStoreConfig::append_by_mmap = false, and always on the fault-injecting file system). The
// benchmark measures both at the store level next to the raw costs: on the 2-core build VM a pwrite
// costs about 0.7-0.8 µs of syscall on top of the copy, a memcpy into a mapping a few ns for small
// records, so 128 B appends run about 1.7-2.5x as fast through the mapping (1 KiB about 1.3x). For
// 16 KiB records the two are within the run-to-run noise of this VM (the copy and a page fault
// per 4 KiB dominate), so a mapped segment still takes records above kMmapAppendMaxBytes (8 KiB)
// by pwrite; both land in the same page cache. The known danger of mmap, SIGBUS when a write into a sparse file meets a full
// disk, is removed by allocate() (fallocate) before a segment is mapped: a full disk then shows up
// as kNoSpace when a segment is created (pre-created on the worker, or at roll-over), an error value
// the store turns into SERVICE_NOT_AVAILABLE. If the file system cannot fallocate, that segment is
// written with pwrite instead. fdatasync on the descriptor writes back pages dirtied through the
// mapping (Linux's unified page cache), so flushing is the same call in both modes, and pread sees
// bytes written through the mapping. Residual risk of the mapping: a disk read error while faulting
// in a partly written page of an old segment (only the segment loaded at start-up) would SIGBUS;
// set append_by_mmap = false where that matters more than small-message throughput.
//
// Thread-safety: a File may be written by one thread while another calls sync() or read_at() on it
// (the kernel orders these on one fd; the fault-injecting implementation takes a lock).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"

namespace mq::store {

enum class IoError {
  kNoSpace,   // ENOSPC / EDQUOT: disk full
  kIo,        // any other failed read, write, fsync, open, rename
  kNotFound,  // the path does not exist
  kCorrupt,   // a file exists but its content or size is not what the format allows
};
const char* io_error_name(IoError e);

template <typename T>
using IoResult = Result<T, IoError>;

class File {
 public:
  virtual ~File() = default;
  // Writes all n bytes at offset or fails; a failure may leave any prefix of the bytes written.
  virtual IoResult<Unit> write_at(int64_t offset, const void* data, size_t n) = 0;
  // Reads up to n bytes; fewer only at end of file.
  virtual IoResult<size_t> read_at(int64_t offset, void* out, size_t n) const = 0;
  // Makes every byte written so far durable (fdatasync).
  virtual IoResult<Unit> sync() = 0;
  // Sets the length; growing fills with zeros (sparse on the real file system).
  virtual IoResult<Unit> truncate(int64_t size) = 0;
  // Reserves disk blocks for [0, size) (fallocate), growing the file if needed, so later writes
  // through a mapping cannot hit ENOSPC (which would be SIGBUS). kNoSpace when the disk is full;
  // kIo when the file system cannot reserve (callers then fall back to pwrite).
  virtual IoResult<Unit> allocate(int64_t size) = 0;
  // A shared read-write mapping of [0, size), created once and owned by the File (unmapped when it
  // is destroyed); nullptr when this File cannot be mapped (the fault-injecting one).
  virtual uint8_t* map(int64_t size) = 0;
  // Drops the mapping (dirty pages stay in the page cache and are still covered by sync()).
  virtual void unmap() {}
  virtual int64_t size() const = 0;
  // Last modification time, ms since the epoch (expiry uses it as RocketMQ uses lastModified()).
  virtual int64_t mtime_ms() const = 0;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;
  // Opens for reading and writing; with create, a missing file is created empty.
  virtual IoResult<std::unique_ptr<File>> open(const std::string& path, bool create) = 0;
  virtual bool exists(const std::string& path) = 0;
  virtual bool is_directory(const std::string& path) = 0;
  // Names (not paths) of the entries of a directory, unsorted; kNotFound when it does not exist.
  virtual IoResult<std::vector<std::string>> list(const std::string& dir) = 0;
  virtual IoResult<Unit> create_directories(const std::string& dir) = 0;
  // Removes a file or an empty directory.
  virtual IoResult<Unit> remove(const std::string& path) = 0;
  virtual IoResult<Unit> rename(const std::string& from, const std::string& to) = 0;
  // Makes creations, removals and renames in dir durable.
  virtual IoResult<Unit> sync_directory(const std::string& dir) = 0;
};

// The real file system (POSIX calls).
class PosixFileSystem final : public FileSystem {
 public:
  IoResult<std::unique_ptr<File>> open(const std::string& path, bool create) override;
  bool exists(const std::string& path) override;
  bool is_directory(const std::string& path) override;
  IoResult<std::vector<std::string>> list(const std::string& dir) override;
  IoResult<Unit> create_directories(const std::string& dir) override;
  IoResult<Unit> remove(const std::string& path) override;
  IoResult<Unit> rename(const std::string& from, const std::string& to) override;
  IoResult<Unit> sync_directory(const std::string& dir) override;
};

// Reads a whole file (metadata, checkpoint); kNotFound when it does not exist.
IoResult<std::string> read_whole_file(FileSystem& fs, const std::string& path);
// Writes `data` to path atomically: path.tmp, fsync, rename over path, fsync the directory.
IoResult<Unit> write_file_atomically(FileSystem& fs, const std::string& path, std::string_view data);

// "dir/name" without doubling the slash.
std::string join_path(const std::string& dir, const std::string& name);
// RocketMQ's offset2FileName: a 20-digit zero-padded decimal.
std::string offset_to_file_name(int64_t offset);
// Inverse; nullopt unless the name is exactly 20 decimal digits.
bool parse_offset_file_name(const std::string& name, int64_t* offset);

// Disk usage of the file system holding path, as a fraction in [0, 1] (statvfs); -1 when unknown.
double disk_used_ratio(const std::string& path);

}  // namespace mq::store
