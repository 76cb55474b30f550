// MappedFile and MappedFileQueue: the fixed-size segment files under the CommitLog and every
// ConsumeQueue, named by the 20-digit global offset of their first byte (RocketMQ's
// offset2FileName). Appends go by memcpy into a mapping of the fallocate'd segment, or by pwrite
// (store/file.h says when and why); reads always use pread.
//
// A segment is created at its full size (ftruncate, then fallocate before it is mapped), so a file's
// length says nothing about how much of it holds data; the wrote position is found by recovery.
// After a crash the tail of the last segment may hold a torn record, zeros or (after a power cut)
// stale blocks; recovery calls truncate_dirty(), which zeroes everything after the recovered end
// (shrink then re-extend, so stale bytes cannot reappear as valid records after later appends; the
// next flush makes that durable) and deletes later segments. A segment shorter than its size (its
// length was not durable yet) reads as zeros past its end and is extended on load.
//
// Positions: wrote (bytes appended, visible to readers) >= flushed (bytes fsync'd). Both are atomics
// so the flush worker can read the wrote position while the owner thread appends.
//
// Thread-safety contract (the broker follows it):
//  * owner thread (the broker's event loop): append(), roll-over through create_file(), reads,
//    truncate_dirty(), delete_leading_files() and load(); cut() too, but with no worker call
//    running (a flush racing it could publish a flushed offset past the cut);
//  * one worker thread at a time, concurrently with the owner: flush() and precreate_next()
//    (a ConsumeQueue, which the worker never pre-creates for, calls precreate_next() from the
//    owner thread instead, before writing units that cross into the next file).
//  The segment list is guarded by a mutex held only to copy or edit the list, never across I/O;
//  segments are shared_ptrs, so a flush or read that holds one survives its removal from the list.
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/file.h"

namespace mq::store {

// Appends up to this size go by memcpy into the mapping, larger ones by pwrite (store/file.h).
inline constexpr size_t kMmapAppendMaxBytes = 8192;

class MappedFile {
 public:
  MappedFile(std::string path, int64_t file_from_offset, int64_t file_size,
             std::unique_ptr<File> file, bool use_mmap = false);

  const std::string& path() const { return path_; }
  int64_t file_from_offset() const { return file_from_offset_; }
  int64_t file_size() const { return file_size_; }
  int64_t wrote_position() const { return wrote_.load(std::memory_order_acquire); }
  int64_t flushed_position() const { return flushed_.load(std::memory_order_acquire); }
  int64_t free_bytes() const { return file_size_ - wrote_position(); }
  bool is_full() const { return wrote_position() >= file_size_; }
  File& file() { return *file_; }
  int64_t mtime_ms() const { return file_->mtime_ms(); }

  // Reserves the segment's blocks (both append modes) and maps it when mmap appends are on
  // (store/file.h). Runs on the worker for pre-created segments, at creation otherwise, and for a
  // segment loaded at start-up before its first append. kNoSpace = disk full (nothing written);
  // a file system that cannot reserve or map makes this segment fall back to pwrite.
  IoResult<Unit> prepare_for_append();
  bool mapped() const { return map_ != nullptr; }
  // Owner thread, once the segment is full: only the segment being appended to stays mapped (reads
  // use pread), so a long retention does not pin address space or mappings.
  void release_mapping();

  // Owner thread. Writes at the wrote position and advances it only when the write succeeded, so a
  // failed write never becomes visible (its bytes may be on disk; recovery treats them as a tail).
  IoResult<Unit> append(const void* data, size_t n);
  // Owner thread: after a BLANK record the rest of the segment counts as written.
  void mark_full() { wrote_.store(file_size_, std::memory_order_release); }
  // Owner thread, recovery only: where the data ends.
  void set_positions(int64_t wrote, int64_t flushed);
  // Worker thread: fsyncs if anything is unflushed; returns the flushed position.
  IoResult<int64_t> flush();
  // Reads n bytes at a position below the wrote position (callers check the bound).
  IoResult<Unit> read(int64_t position, size_t n, std::string& out) const;
  // Zeroes [position, file_size) (recovery of a torn tail). Not fsync'd here: the next flush()
  // syncs it (a crash before that leaves `abort` in place and recovery simply zeroes again).
  IoResult<Unit> zero_from(int64_t position);
  // Run-time truncation (nothing else running on the queue): the data ends at `position`. Zeroes
  // [position, wrote position) (past it the segment holds zeros already) and moves both positions
  // back; flush() then fsyncs it. A mapped segment is cleared through its mapping; otherwise the
  // file is shrunk and re-extended, which also releases the blocks, so the next append reserves
  // (and maps) the segment again.
  IoResult<Unit> cut_to(int64_t position);

 private:
  std::string path_;
  int64_t file_from_offset_;
  int64_t file_size_;
  std::unique_ptr<File> file_;
  bool use_mmap_;
  bool prepared_ = false;
  uint8_t* map_ = nullptr;
  std::atomic<int64_t> wrote_{0};
  std::atomic<int64_t> flushed_{0};
  std::atomic<bool> needs_sync_{false};
};

class MappedFileQueue {
 public:
  MappedFileQueue(FileSystem& fs, std::string dir, int64_t file_size, bool use_mmap = false);

  const std::string& dir() const { return dir_; }
  int64_t file_size() const { return file_size_; }

  // Opens the existing segments (sorted by name). Positions start at the file size: recovery then
  // sets the real ends. A segment whose size is not file_size is kCorrupt, except a trailing empty
  // one (a crash during creation), which is removed.
  IoResult<Unit> load();

  std::vector<std::shared_ptr<MappedFile>> files() const;
  bool empty() const;
  std::shared_ptr<MappedFile> first_file() const;
  std::shared_ptr<MappedFile> last_file() const;
  // The segment holding global offset `offset`, or null.
  std::shared_ptr<MappedFile> find_file(int64_t offset) const;

  // Owner thread: the segment starting at from_offset becomes the last one. Takes the pre-created
  // file when it matches; otherwise creates it here (and logs nothing: callers count these).
  IoResult<std::shared_ptr<MappedFile>> create_file(int64_t from_offset);
  // Worker thread: creates the segment after the last one so the owner's roll-over is cheap.
  IoResult<Unit> precreate_next();
  int64_t precreate_misses() const { return precreate_misses_.load(); }
  // True when there are segments and none is pre-created after the last one.
  bool needs_precreate() const;
  // Clean shutdown: removes the pre-created (still empty) segment, as RocketMQ does.
  IoResult<Unit> drop_precreated();

  // First byte still on disk, and the end of the appended data.
  int64_t min_offset() const;
  int64_t max_offset() const;
  int64_t flushed_offset() const { return flushed_where_.load(std::memory_order_acquire); }

  // Worker thread: fsyncs every segment with unflushed bytes, in order; returns the new flushed
  // offset. Stops at the first failure.
  IoResult<int64_t> flush();

  // Recovery: the data ends at `offset`. Later segments are deleted (newest first), the tail of the
  // segment holding offset is zeroed (when zero_tail), positions are set.
  IoResult<Unit> truncate_dirty(int64_t offset, bool zero_tail = true);
  // Run-time truncation, owner thread with no flush or pre-creation running: the data ends at
  // `offset` (>= min_offset()). Removes the pre-created segment and the segments after the one
  // holding offset, newest first, and syncs the directory, so a crash part way leaves contiguous
  // segments holding a prefix of the old data; then cuts the holding segment (MappedFile::cut_to;
  // a segment starting at offset stays, empty). Nothing is fsync'd but the directory: flush()
  // makes the cut durable. Returns the number of data segments deleted.
  IoResult<int> cut(int64_t offset);
  // Expiry: deletes leading segments while pred(segment) holds, never the last segment; at most
  // max_files. Returns the number deleted.
  int delete_leading_files(const std::function<bool(const MappedFile&)>& pred, int max_files);
  // Removes everything (tests, and a ConsumeQueue being rebuilt from scratch).
  IoResult<Unit> destroy();

 private:
  IoResult<std::shared_ptr<MappedFile>> open_segment(int64_t from_offset);

  FileSystem& fs_;
  std::string dir_;
  int64_t file_size_;
  bool use_mmap_;
  mutable std::mutex mu_;
  // Held for the whole creation of a segment, by the owner (roll-over) and the worker (pre-creation)
  // alike: two handles racing to create, fallocate and map the same file must never happen.
  std::mutex create_mu_;
  std::vector<std::shared_ptr<MappedFile>> files_;
  std::shared_ptr<MappedFile> precreated_;
  std::atomic<int64_t> flushed_where_{0};
  std::atomic<int64_t> precreate_misses_{0};
};

}  // namespace mq::store
