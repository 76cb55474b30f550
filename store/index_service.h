// IndexService: RocketMQ's message index ("query message by key", QUERY_MESSAGE), the IndexFiles
// under <storePathRootDir>/index (store/index_file.h has the format), fed as a CommitLogDispatcher
// (store/message_store.h).
//
// What is indexed. Every dispatched record under "topic#<UNIQ_KEY>" and then "topic#<k>" for each
// token k of KEYS split at single spaces (empty tokens skipped), topic being the record's own
// (SCHEDULE_TOPIC_XXXX for a parked delayed message, the real topic for its re-delivery). Records
// whose transaction type is ROLLBACK are skipped; 4.9.4 indexes PREPARED and COMMIT records. With
// enable = false (messageIndexEnable) nothing is indexed, but existing files still answer lookups.
// Keys go into the last file; when it is full a new one is created, named by the store time of the
// record that needed it, as local yyyyMMddHHmmssSSS. (Java names it by the wall clock at that moment,
// within the dispatch delay of the same instant; the store reads no clock. Names only order the
// files: a name that would not sort after the last file's becomes that name + 1 ms.)
//
// Lookups (query_offset) go newest file first, as Java's queryOffset: files whose time range
// overlaps [begin, end] are searched, the walk stops after the first file that begins before
// `begin` or once max_num offsets are found. The answer is a list of commit log offsets, newest
// first, that MAY hold the key: keys are compared by hash only, and after a crash an entry may point
// at an offset that now holds another record. The caller reads each record and checks its topic and
// keys (RocketMQ's QUERY_MESSAGE returns every record and its clients filter by key).
//
// Idempotence. Recovery re-dispatches records that were indexed before. A record below the last
// file's endPhyOffset is skipped (Java's rule). Java re-indexes the record AT endPhyOffset, so every
// abnormal restart duplicates the last record's keys; here the keys that the newest items already
// hold for that offset (matched by hash, counted, across a file boundary too) are skipped, so indexing
// the same records twice leaves the files unchanged, even when a crash cut a record's keys short.
//
// Start-up and crashes. load() opens every file with a 17-digit name, in name order (other names
// are logged and left alone; Java would map any file there). A file without entries that is not the
// last one (only a crash that lost a new file's first pages leaves one) is removed; a last file left
// empty gets the previous file's end values, as Java's constructor writes them. Unlike Java,
// files are kept after an abnormal exit: Java deletes every file whose endTimestamp is after the
// checkpoint's indexMsgTimestamp (which it moves only when a file is full), so after a kill -9 it
// loses the current file's entries unless messageIndexSafe makes recovery re-dispatch from there.
// After a kill -9 the page cache kept every put, the files are consistent (store/index_file.h) and
// re-dispatch adds exactly what is missing. After an OS crash the index may hold less than the
// CommitLog (entries lost with their pages: missed by lookups, not re-added below endPhyOffset) or
// more (entries for records the CommitLog lost): truncate_dirty(commit log end) moves endPhyOffset
// back below the end, so the records appended there again are indexed; the stale items stay and
// callers check records anyway.
//
// Wiring (the broker's job): construct; load(); MessageStore::add_dispatcher() before
// MessageStore::open() (recovery re-dispatches through it); after open(),
// truncate_dirty(store.max_phy_offset()). MessageStore::truncate_commit_log calls
// on_commit_log_truncated, which does the same at run time. Worker: flush() next to the store's flush (its result is
// what RocketMQ keeps as the checkpoint's indexMsgTimestamp), delete_expired_files(min_phy_offset())
// after CommitLog expiry. Owner: query_offset() for QUERY_MESSAGE, with max_num capped by
// maxMsgsNumBatch (64) as Java's queryOffset does; DefaultMessageStore.queryMessage's loop (retry
// up to 3 times with end = the store time of the first record found) belongs to the caller.
// shutdown() last.
//
// Errors. A file that cannot be created (disk full) leaves the record's remaining keys unindexed
// and is retried at the next record; a failed write stops indexing until restart (what was written
// is of unknown shape). Both are logged once and reported by error_reason(): Java sets the store's
// INDEX_FILE_ERROR running flag, which makes it refuse puts, and the broker may do the same.
// Records dispatched while indexing is stopped are not indexed later (a clean restart does not
// re-dispatch them).
//
// Threading: owner thread: load, dispatch, query_offset, truncate_dirty, shutdown. flush() and
// delete_expired_files() may run on one worker thread at a time, concurrently with the owner; the
// file list is copied under a mutex never held across I/O, and files are shared_ptrs, so a lookup
// that holds one survives its deletion. The store layer reads no clock and starts no thread.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/log.h"
#include "store/index_file.h"
#include "store/message_store.h"

namespace mq::store {

struct IndexConfig {
  std::string dir;                      // <storePathRootDir>/index
  int32_t max_hash_slot_num = 5000000;  // maxHashSlotNum
  int32_t max_index_num = 20000000;     // maxIndexNum
  bool enable = true;                   // messageIndexEnable
  // Append through a mapping of the reserved file (store/file.h); false = pwrite.
  bool use_mmap = true;
};

// Java's QueryOffsetResult; the two last-update values are what QUERY_MESSAGE's response header
// carries (indexLastUpdateTimestamp, indexLastUpdatePhyoffset): the last file's end values.
struct QueryOffsetResult {
  std::vector<int64_t> phy_offsets;
  int64_t index_last_update_timestamp = 0;
  int64_t index_last_update_phyoffset = 0;
};

// Local time as yyyyMMddHHmmssSSS (RocketMQ's UtilAll.timeMillisToHumanString), years 1970-9999.
std::string index_file_name_for(int64_t timestamp_ms);
// The name for a file created at timestamp_ms after a file named last_name ("" when none): the
// timestamp's name, or last_name + 1 ms when that would not sort after last_name.
std::string next_index_file_name(int64_t timestamp_ms, const std::string& last_name);
// 17 decimal digits.
bool is_index_file_name(std::string_view name);

class IndexService final : public CommitLogDispatcher {
 public:
  IndexService(IndexConfig config, FileSystem& fs, Logger log);
  ~IndexService() override;
  IndexService(const IndexService&) = delete;
  IndexService& operator=(const IndexService&) = delete;

  // Opens the existing files (none when the directory is missing). kCorrupt names a file whose size
  // or header does not fit the configuration; kIo when one cannot be read.
  IoResult<Unit> load();

  // CommitLogDispatcher: build_index(), errors logged.
  void dispatch(const MessageRecord& record, int64_t tags_code) override;
  // CommitLogDispatcher: truncate_dirty(commit_log_end) after a run-time truncation, so records
  // appended at the cut offsets are indexed (a failure stops indexing, logged). The entries past
  // the cut stay; the store's reads refuse offsets that do not start a record there.
  void on_commit_log_truncated(int64_t commit_log_end) override;
  // Java's buildIndex. Errors are also logged (once) and kept for error_reason().
  IoResult<Unit> build_index(const MessageRecord& record);

  // Java's queryOffset (see the top of this file). max_num <= 0 finds nothing.
  IoResult<QueryOffsetResult> query_offset(std::string_view topic, std::string_view key, int max_num,
                                           int64_t begin_ms, int64_t end_ms) const;

  // After recovery: the CommitLog ends at commit_log_end. Files whose endPhyOffset is at or past it
  // get endPhyOffset = the newest item below it (or the previous file's), so records appended there
  // again are indexed. Returns the number of files changed.
  IoResult<int> truncate_dirty(int64_t commit_log_end);

  // Worker: fsyncs every file written since the last flush (and the directory after a file was
  // created). Returns the store time of the newest index entry known durable (0 when none): the
  // checkpoint's indexMsgTimestamp.
  IoResult<int64_t> flush();
  // Worker or owner: deletes leading files whose endPhyOffset is below min_phy_offset (the
  // CommitLog's min offset after expiry), never the last file. Returns the number deleted.
  int delete_expired_files(int64_t min_phy_offset);
  // Flushes and closes every file; later dispatches index nothing.
  IoResult<Unit> shutdown();

  // Any thread: empty while indexing works.
  std::string error_reason() const;
  // Any thread: a snapshot of the files, oldest first.
  std::vector<std::shared_ptr<IndexFile>> files() const;
  const IndexConfig& config() const { return config_; }

 private:
  IoResult<Unit> put(std::string_view key, int64_t phy_offset, int64_t store_timestamp_ms);
  IoResult<Unit> create_file(int64_t store_timestamp_ms);
  // keys: drops those whose hash the newest items for phy_offset already hold.
  IoResult<Unit> drop_already_indexed(int64_t phy_offset, std::vector<std::string>& keys) const;
  void fail(const std::string& reason, bool sticky);

  IndexConfig config_;
  FileSystem& fs_;
  Logger log_;
  mutable std::mutex mu_;  // files_
  std::vector<std::shared_ptr<IndexFile>> files_;
  std::shared_ptr<IndexFile> last_;  // owner thread; deletion never removes the last file
  bool closed_ = false;              // owner thread
  std::atomic<bool> dir_dirty_{false};
  std::atomic<int64_t> flushed_timestamp_ms_{0};
  mutable std::mutex error_mu_;
  std::string error_reason_;
  std::atomic<bool> stopped_{false};  // a failed write: no more indexing
};

}  // namespace mq::store
