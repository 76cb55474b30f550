// The `checkpoint` file (reference 5.6): one 4096-byte page holding, big-endian,
//   0 physicMsgTimestamp  store time of the last flushed CommitLog message
//   8 logicsMsgTimestamp  store time of the last flushed ConsumeQueue unit
//  16 indexMsgTimestamp   store time of the last flushed index entry (IndexFile: a later issue)
//  24 masterFlushedOffset (5.x)   32 confirmPhyOffset (5.x)
//  40 dispatchedPhyOffset (ours)  the CommitLog offset below which every record's ConsumeQueue
//                                 units were flushed when this page was written
// The rest of the page is zero. Written in place and fsync'd after each flush; a torn write can
// only make a timestamp wrong, and since abnormal recovery starts scanning at the newest file whose
// first message is older than min(physic, logics) - 3 s, a timestamp read as 0 or garbage-small
// just means recovery scans more files. Values only move forward between flushes.
//
// Why the extra offset: store timestamps are wall-clock time. After the clock jumps back, files
// written later carry older timestamps than the checkpoint, so the timestamp rule alone would start
// the re-dispatch after records whose units an OS crash may have lost. Recovery starts at the
// earlier of the two places. RocketMQ reads only the first 24 (4.x) or 40 (5.x) bytes, so the
// field is invisible to it; a Java-written page has 0 there, which means "unknown" (timestamps
// only), and a value left stale by a Java broker only makes recovery scan more.
//
// Threading: the flush worker updates and flushes; the owner reads at start-up.
#pragma once
#include <atomic>
#include <memory>

#include "store/file.h"

namespace mq::store {

class StoreCheckpoint {
 public:
  static constexpr int64_t kFileSize = 4096;
  // Opens `path`, creating a zeroed page when missing.
  static IoResult<std::unique_ptr<StoreCheckpoint>> open(FileSystem& fs, const std::string& path);

  int64_t physic_msg_timestamp() const { return physic_.load(); }
  int64_t logics_msg_timestamp() const { return logics_.load(); }
  int64_t index_msg_timestamp() const { return index_.load(); }
  int64_t master_flushed_offset() const { return master_flushed_.load(); }
  int64_t confirm_phy_offset() const { return confirm_.load(); }
  int64_t dispatched_phy_offset() const { return dispatched_.load(); }
  void set_physic_msg_timestamp(int64_t v) { physic_.store(v); }
  void set_logics_msg_timestamp(int64_t v) { logics_.store(v); }
  void set_index_msg_timestamp(int64_t v) { index_.store(v); }
  void set_master_flushed_offset(int64_t v) { master_flushed_.store(v); }
  void set_confirm_phy_offset(int64_t v) { confirm_.store(v); }
  void set_dispatched_phy_offset(int64_t v) { dispatched_.store(v); }

  // RocketMQ's getMinTimestamp(): min(physic, logics) - 3000, not below 0.
  int64_t min_timestamp() const;
  IoResult<Unit> flush();

 private:
  explicit StoreCheckpoint(std::unique_ptr<File> f) : file_(std::move(f)) {}
  std::unique_ptr<File> file_;
  std::atomic<int64_t> physic_{0}, logics_{0}, index_{0}, master_flushed_{0}, confirm_{0}, dispatched_{0};
};

}  // namespace mq::store
