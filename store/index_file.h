// IndexFile: one file of RocketMQ's "query message by key" index (reference 4.9), laid out byte for
// byte as Java RocketMQ 4.9.4 writes it (tests/store/index_test.cc rebuilds the Java fixture's index
// from its CommitLog and compares the files). All integers big-endian.
//
//   header, 40 bytes
//      0 beginTimestamp  i64  store time (ms) of the first record indexed here
//      8 endTimestamp    i64  store time (ms) of the last one
//     16 beginPhyOffset  i64  commit log offset of the first record
//     24 endPhyOffset    i64  commit log offset of the last record (where it starts, not its end)
//     32 hashSlotCount   i32  puts that found their slot empty (4.9.4; later versions count every put)
//     36 indexCount      i32  number of the next item; starts at 1 because item number 0 means "none"
//   hash slots, maxHashSlotNum x 4 bytes from byte 40
//     slot s holds the number of the newest item whose keyHash % maxHashSlotNum == s, 0 when none
//   items, maxIndexNum x 20 bytes; item n at 40 + 4 * maxHashSlotNum + 20 * n (item 0 is never used)
//      0 keyHash    i32  abs(Java String.hashCode of "topic#key"), 0 for Integer.MIN_VALUE
//      4 phyOffset  i64  commit log offset of the record
//     12 timeDiff   i32  (store time - beginTimestamp) / 1000: seconds, clamped to [0, INT32_MAX]
//     16 prevIndex  i32  the item that was newest in the same slot before this one (0 ends the chain)
// Each slot heads a chain of items, newest first. A lookup walks it and keeps items whose keyHash is
// the key's and whose time (beginTimestamp + timeDiff * 1000, so only to the second) is in the asked
// range. Different keys can share a hash, so a lookup answers "records that may carry the key":
// whoever reads the records checks topic and keys (RocketMQ's clients do).
//
// Java's quirks, kept because they are visible in the bytes:
//  * A file is full when indexCount reaches maxIndexNum, so it holds maxIndexNum - 1 items.
//  * A new file starts with beginTimestamp = endTimestamp = the previous file's endTimestamp and
//    beginPhyOffset = endPhyOffset = the previous file's endPhyOffset (each only when > 0), and with
//    hashSlotCount and indexCount bytes 0 (read as 1). The first put replaces the begin values, but
//    its own timeDiff is measured from the inherited beginTimestamp.
//  * keyHash uses Java's Math.abs, which leaves Integer.MIN_VALUE negative; RocketMQ maps it to 0.
// Keys are UTF-8 here and UTF-16 in Java: the hash is taken over UTF-16 code units
// (base/hash.h java_string_hash), so non-ASCII keys land in the same slots as Java's.
//
// Size: 40 + 4 * 5,000,000 + 20 * 20,000,000 = 420,000,040 bytes at the defaults. A file is created
// sparse (ftruncate). The file being appended to is reserved (fallocate) and written through a
// shared mapping, as CommitLog segments are (store/file.h: a full disk is then an error value at
// creation, never SIGBUS), or by pwrite where the file cannot be mapped (the fault-injecting file
// system, file systems without fallocate). Full files are read with pread.
//
// Crash behaviour. A put writes the item, then the slot, then the header. After a process crash
// (kill -9) the page cache holds every completed put, so the file is consistent except for the put
// in progress: its item may be written but not counted (the next put overwrites it), and its slot
// may already point at it. Java would chain the next put in that slot to the uncounted item itself
// (a self-loop that cuts the chain); here a slot at or above indexCount is followed through the
// uncounted items' own prevIndex, strictly downwards, to the newest counted item, which restores
// the chain exactly when recovery re-puts the same keys in the same order, as it does (tested with
// a whole record's puts uncounted, not just one).
// After an OS crash any subset of unsynced pages may survive: items may read as zeros, slots may be
// stale, the header older or newer than the items, and a surviving slot page may point at an item
// page that did not survive, hiding older (even flushed) items of that chain. Every read is
// bounds-checked and a chain ends at a prevIndex that is not strictly below the current item, so a
// lookup always terminates; it may miss entries or return offsets that now hold other records (see
// above: callers check). Java deletes such files after an abnormal exit instead (index_service.h).
//
// Threading: the owner thread puts, looks up and edits the header; flush() (fsync) may run on one
// other thread at a time. Header values that other threads read are atomics.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "store/file.h"

namespace mq::store {

inline constexpr int64_t kIndexHeaderSize = 40;
inline constexpr int64_t kIndexHashSlotSize = 4;
inline constexpr int64_t kIndexItemSize = 20;

// RocketMQ's indexKeyHashMethod: abs(Java hashCode), with Integer.MIN_VALUE mapped to 0.
int32_t index_key_hash(std::string_view key);
// 40 + 4 * slots + 20 * items.
int64_t index_file_size(int32_t max_hash_slot_num, int32_t max_index_num);

struct IndexHeader {
  int64_t begin_timestamp_ms = 0;
  int64_t end_timestamp_ms = 0;
  int64_t begin_phy_offset = 0;
  int64_t end_phy_offset = 0;
  int32_t hash_slot_count = 0;
  int32_t index_count = 1;
};

struct IndexItem {
  int32_t key_hash = 0;
  int64_t phy_offset = 0;
  int32_t time_diff_s = 0;
  int32_t prev_index = 0;
};

class IndexFile {
 public:
  // A new, empty file at `path` (which must not exist or be empty), with Java's inherited header
  // values (the previous file's end values; 0 for the first file). With use_mmap the file is
  // reserved and mapped at once: kNoSpace when the disk is full (the file is removed again).
  static IoResult<std::unique_ptr<IndexFile>> create(FileSystem& fs, const std::string& path,
                                                     int32_t max_hash_slot_num, int32_t max_index_num,
                                                     int64_t prev_end_phy_offset,
                                                     int64_t prev_end_timestamp_ms, bool use_mmap);
  // An existing file. kCorrupt when its size is not index_file_size() (a file of another
  // configuration, or cut short) or its indexCount exceeds max_index_num. An empty file (created but
  // never sized: a crash during creation) is sized and reads as a new file.
  static IoResult<std::unique_ptr<IndexFile>> open(FileSystem& fs, const std::string& path,
                                                   int32_t max_hash_slot_num, int32_t max_index_num,
                                                   bool use_mmap);
  ~IndexFile();
  IndexFile(const IndexFile&) = delete;
  IndexFile& operator=(const IndexFile&) = delete;

  const std::string& path() const { return path_; }
  // The file name (creation time, yyyyMMddHHmmssSSS).
  std::string name() const;
  int64_t file_size() const { return file_size_; }
  int32_t max_hash_slot_num() const { return max_hash_slot_num_; }
  int32_t max_index_num() const { return max_index_num_; }

  // Any thread.
  IndexHeader header() const;
  int64_t begin_timestamp_ms() const { return begin_timestamp_ms_.load(std::memory_order_acquire); }
  int64_t end_timestamp_ms() const { return end_timestamp_ms_.load(std::memory_order_acquire); }
  int64_t begin_phy_offset() const { return begin_phy_offset_.load(std::memory_order_acquire); }
  int64_t end_phy_offset() const { return end_phy_offset_.load(std::memory_order_acquire); }
  int32_t index_count() const { return index_count_.load(std::memory_order_acquire); }
  bool is_write_full() const { return index_count() >= max_index_num_; }
  // Java's isTimeMatched: the file's [beginTimestamp, endTimestamp] overlaps [begin_ms, end_ms].
  bool is_time_matched(int64_t begin_ms, int64_t end_ms) const;

  // --- owner thread ---
  // Java's putKey: false (nothing written) when the file is full. `key` is the whole "topic#key".
  // An error leaves any prefix of the item, slot and header written.
  IoResult<bool> put_key(std::string_view key, int64_t phy_offset, int64_t store_timestamp_ms);
  // Java's selectPhyOffset: appends to `out` (until it holds max_num offsets) the phyOffset of every
  // item in the key's chain whose keyHash matches and whose time is within [begin_ms, end_ms],
  // newest first. The walk stops where Java's does (prevIndex 0, a negative timeDiff, an item older
  // than begin_ms) and also at any prevIndex not below the current item. kCorrupt / kIo only when a
  // read fails; out-of-range pointers just end the chain.
  IoResult<Unit> select_phy_offset(std::vector<int64_t>& out, std::string_view key, size_t max_num,
                                   int64_t begin_ms, int64_t end_ms) const;
  // Item n (1 <= n < max_index_num) and slot s, as stored.
  IoResult<IndexItem> read_item(int32_t n) const;
  IoResult<int32_t> read_slot(int32_t s) const;
  // Rewrites endPhyOffset (the service's truncate_dirty).
  IoResult<Unit> set_end_phy_offset(int64_t end_phy_offset);
  // A file left empty by a crash during its creation gets the header values Java's constructor
  // would have written (each only when > 0).
  IoResult<Unit> inherit_end(int64_t prev_end_phy_offset, int64_t prev_end_timestamp_ms);
  // Once full: reads go by pread, so old files do not pin address space.
  void release_mapping();

  // --- flush thread (one at a time; concurrent with the owner) ---
  // fsyncs when anything was written since the last flush. Returns the endTimestamp the sync made
  // durable, or -1 when there was nothing to sync.
  IoResult<int64_t> flush();

 private:
  IndexFile(std::string path, std::unique_ptr<File> file, int32_t max_hash_slot_num,
            int32_t max_index_num, bool use_mmap);
  IoResult<Unit> prepare_for_append();
  IoResult<Unit> read_bytes(int64_t pos, uint8_t* out, size_t n) const;
  IoResult<Unit> write_bytes(int64_t pos, const uint8_t* data, size_t n);
  // Writes the first n bytes of the header from the atomics.
  IoResult<Unit> write_header(size_t n);
  void load_header(const uint8_t* b);
  int64_t slot_position(int32_t s) const { return kIndexHeaderSize + int64_t{s} * kIndexHashSlotSize; }
  int64_t item_position(int32_t n) const {
    return kIndexHeaderSize + int64_t{max_hash_slot_num_} * kIndexHashSlotSize + int64_t{n} * kIndexItemSize;
  }

  std::string path_;
  std::unique_ptr<File> file_;
  int32_t max_hash_slot_num_;
  int32_t max_index_num_;
  int64_t file_size_;
  bool use_mmap_;
  bool prepared_ = false;
  uint8_t* map_ = nullptr;  // owner thread
  std::atomic<int64_t> begin_timestamp_ms_{0};
  std::atomic<int64_t> end_timestamp_ms_{0};
  std::atomic<int64_t> begin_phy_offset_{0};
  std::atomic<int64_t> end_phy_offset_{0};
  std::atomic<int32_t> hash_slot_count_{0};
  std::atomic<int32_t> index_count_{1};
  std::atomic<bool> dirty_{false};
};

}  // namespace mq::store
