// ConsumeQueue: the per (topic, queue id) index into the CommitLog, in RocketMQ's layout (reference
// 4.8). Files live at <root>/consumequeue/<topic>/<queueId>/<20-digit byte offset>, each holding
// file_size / 20 units (300,000 by default). Unit i of the queue (queue offset i) sits at byte i*20:
//   i64 commit log offset | i32 record size | i64 tags code
// The tags code is Java's String.hashCode() of the TAGS property (0 without tags), or for
// SCHEDULE_TOPIC_XXXX the delivery time. A queue whose first file starts mid-file is padded with
// filler units (0, INT32_MAX, 0), as RocketMQ's fillPreBlank does.
//
// Crash behaviour: units are derived data. Recovery keeps units while offset >= 0 and size > 0,
// zeroes what follows the last valid one, drops units pointing past the recovered CommitLog end, and
// the store re-dispatches CommitLog records the queue is missing. put_units() is idempotent by queue
// offset, which is what makes re-dispatch safe.
//
// Threading: as MappedFileQueue (owner thread writes and reads; flush() from one worker).
#pragma once
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "base/log.h"
#include "store/mapped_file.h"

namespace mq::store {

inline constexpr int64_t kCqUnitSize = 20;
// The largest queue offset a unit may have (its byte position, offset * 20, fits an int64 with
// room to spare); put_units refuses larger ones as corrupt.
inline constexpr int64_t kMaxQueueOffset = (int64_t{1} << 62) / kCqUnitSize;
inline constexpr int32_t kCqFillerSize = INT32_MAX;

struct CqUnit {
  int64_t commit_log_offset = 0;
  int32_t size = 0;
  int64_t tags_code = 0;
  bool is_filler() const { return size == kCqFillerSize; }
};

class ConsumeQueue {
 public:
  ConsumeQueue(FileSystem& fs, const std::string& consume_queue_root, std::string topic,
               int32_t queue_id, int64_t file_size, Logger log, bool use_mmap = false);

  const std::string& topic() const { return topic_; }
  int32_t queue_id() const { return queue_id_; }

  IoResult<Unit> load();
  // Finds the last valid unit (scanning the last three files, as RocketMQ does) and cuts after it.
  IoResult<Unit> recover();

  // Queue offsets: [min_offset, max_offset) are readable; max_offset is the next one to write.
  int64_t min_offset() const { return min_offset_.load(std::memory_order_acquire); }
  int64_t max_offset() const;
  // End (offset + size) of the CommitLog record behind the last unit; 0 when empty.
  int64_t max_physic_offset() const { return max_physic_offset_.load(std::memory_order_acquire); }

  // Writes units for queue offsets [queue_offset, queue_offset + n). Units already present are left
  // alone (re-dispatch after recovery); a gap of at most one file of units is filled with filler
  // units and logged, a larger one (or an offset above kMaxQueueOffset) is refused as kCorrupt.
  IoResult<Unit> put_units(int64_t queue_offset, const CqUnit* units, size_t n);
  // Creates whatever file put_units(queue_offset, n units) will need (the first file with its
  // fillers, or the next one), so a full disk shows up before the CommitLog record is written.
  IoResult<Unit> prepare_for(int64_t queue_offset, size_t n);
  // Up to max_units units from queue_offset, stopping at the end of one file (callers loop).
  IoResult<std::vector<CqUnit>> read_units(int64_t queue_offset, size_t max_units) const;

  // Keeps the longest prefix of valid units whose records start before phy_offset; drops the rest
  // (CommitLog truncated there, or units to be rebuilt by re-dispatch): later files are deleted
  // newest first and the units zeroed (MappedFileQueue::cut); flush() makes that durable.
  IoResult<Unit> truncate_dirty(int64_t phy_offset);
  // After CommitLog files were deleted: min offset = first unit whose record still exists.
  void correct_min_offset(int64_t commit_log_min_offset);
  // Deletes leading files whose last unit points below commit_log_min_offset; returns the count.
  int delete_expired_files(int64_t commit_log_min_offset);

  IoResult<int64_t> flush() { return files_.flush(); }
  MappedFileQueue& files() { return files_; }
  const MappedFileQueue& files() const { return files_; }

 private:
  IoResult<Unit> write_units_at(int64_t queue_offset, const std::string& bytes);

  std::string topic_;
  int32_t queue_id_;
  MappedFileQueue files_;
  Logger log_;
  std::atomic<int64_t> min_offset_{0};
  std::atomic<int64_t> max_physic_offset_{0};
};

}  // namespace mq::store
