// MessageStore: RocketMQ's DefaultMessageStore for one broker: CommitLog, ConsumeQueues, checkpoint,
// abort marker and recovery, in RocketMQ's on-disk layout under store_path_root_dir:
//   commitlog/<20-digit offset>                 message records (codec/message.h), BLANK at file end
//   consumequeue/<topic>/<queueId>/<offset>     20-byte units (store/consume_queue.h)
//   checkpoint                                  flush timestamps (store/checkpoint.h)
//   abort                                       present while the store is open
//   index/                                      IndexFiles, written by store/index_service.h (a
//                                               CommitLogDispatcher), not by this class
//   config/*.json                               metadata (broker/broker_metadata.h owns them)
// A Java 4.9 broker's store opens here and ours opens there (same file sizes configured); ConsumeQueue
// files rebuilt here are byte-identical to the Java broker's (tests/store/fixture_test.cc).
//
// Start-up and crashes. open() loads the files. If `abort` exists the last run did not shut down
// cleanly and abnormal recovery runs: pick the newest CommitLog file whose first record is older than
// the checkpoint's min timestamp (else the first file), scan forward checking magic, sizes, physical
// offset and body CRC, stop at the first bad record, zero the rest of that file and delete later
// files (logged: where, why, how much), drop ConsumeQueue units from the scan start on (units newer
// than the last full flush may have holes after an OS crash) and re-dispatch every record from there,
// which rebuilds them. Without `abort`, normal recovery scans the last three files and re-dispatches
// only records the ConsumeQueues do not reference yet (all of them if consumequeue/ is gone). Queue
// offsets then continue from the ConsumeQueues. Finally `abort` is created and fsync'd; shutdown()
// flushes everything and removes it (it stays if the store became unwritable).
// A record cut short at the tail (a crash inside its write, or a slave's chunk ending inside it) is
// found by its bytes: the sizes do not add up, or the body CRC fails, or (when the cut falls inside
// the topic or properties, which no CRC covers) the record's last byte is zero where a real record
// ends in a topic or property character. That last check applies only to the record at the end of
// the data, so an odd message in the middle of the log never truncates what follows it. The price
// would be a last record whose properties really end in a NUL byte, but brokers never write one:
// ours, like RocketMQ's, appends the CLUSTER property after the client's properties (batch members
// carry the batch's), so every record ends in the cluster name or a separator.
//
// Replicated appends (slave side of master-slave HA; RocketMQ's appendToCommitLog plus
// ReputMessageService). A slave store takes only append_replicated(): the master's raw CommitLog
// bytes, written unchanged at the same offsets, segment by segment (a chunk may end inside a record
// or cross a segment end; the master's BLANK and the zeros after it are copied like anything else).
// A new slave (empty CommitLog) may start at any multiple of the segment size (the master starts it
// at its last segment); after that each chunk must start at max_phy_offset(), so a diverged master is
// refused, not spliced in. After writing, every record that is now complete is dispatched from a
// cursor (dispatched_offset()) exactly as a put would: ConsumeQueue unit with the record's own queue
// offset, dispatchers, queue offsets, store timestamp; an incomplete tail waits for the next chunk.
// Puts never go to a slave store (the broker enforces it; two writers would fight over offsets).
// Crash behaviour: recovery (normal or abnormal) ends the log after the last complete record, so an
// incomplete tail (a kill -9 mid-chunk, or a clean shutdown between chunks) is zeroed with a warning
// and max_phy_offset() says where the master must resend from.
//
// Truncation (controller mode: a slave whose log diverged from its new master's is cut back at the
// consistent point before it replicates again, reference rocketmq-controller.md 6.3-6.5; also a
// slave's incomplete tail, cut at dispatched_offset()). truncate_commit_log(offset) takes an offset
// that is a message boundary in [min_phy_offset(), max_phy_offset()] (is_message_boundary: the end
// of the log, the dispatch cursor, a segment start, a BLANK, or a record that decodes with its CRC
// and carries that physical offset, which is RocketMQ's isOffsetAligned plus the offset check);
// anything else is refused with nothing changed, and an offset at or past the end is a no-op, as
// in RocketMQ's truncateFiles. Unlike RocketMQ, which only moves in-memory positions (so a crash
// can bring the old tail back, its #10666), the cut is on disk before the call returns, in order:
//  1. CommitLog: the pre-created segment and every segment after the one holding `offset` are
//     deleted, newest first, and the directory synced; then the holding segment's bytes from
//     `offset` to its old end are zeroed and fsync'd, and the positions move back.
//  2. ConsumeQueues: in every queue whose last unit points at `offset` or later, those units are
//     zeroed (later files deleted, newest first) and fsync'd; each queue's max offset moves back
//     and the table of next queue offsets is rebuilt from the queues, so the next put or
//     replicated record takes the next offset with no gap and no reuse of a live unit.
//  3. Bookkeeping: dispatched_offset() moves back to `offset` (if it was past it); the checkpoint's
//     dispatchedPhyOffset, confirmPhyOffset and masterFlushedOffset are lowered to `offset` when
//     above it and the page is fsync'd. Its timestamps stay (they only choose where abnormal
//     recovery starts scanning, which the dispatch mark bounds).
//  4. Dispatchers hear on_commit_log_truncated(offset): the IndexFile moves its endPhyOffset back
//     so records appended at the cut offsets are indexed again. Its entries past the cut stay: a
//     lookup reads the record at each offset it returns, and reads stop at max_phy_offset() and
//     check that a record starts there carrying that physical offset (read_record), so a stale
//     entry finds nothing or, once new records fill those offsets, a real record whose topic and
//     keys the caller checks (broker/broker_query.cc does).
// What a crash leaves (`abort` is present, so the restart runs abnormal recovery): during step 1,
// the old log minus whole trailing segments, or with its tail partly zeroed from `offset` (a kill
// -9 keeps the zeros, which start at `offset`; an OS crash before the fsync keeps any subset of
// the zeroed blocks): recovery ends the log at `offset` or at the first damaged record after it,
// a prefix of the old log either way; during steps 2-3, the cut CommitLog, with recovery dropping
// units that point past its end. The caller, which did not get a success, truncates again (the
// HA handshake computes the consistent point anew). Once the call returned, a crash at any later
// time recovers the truncated log plus whatever was appended and made durable after it; nothing of
// the old tail can come back. A file error part way stops the store like a failed write.
// The call must have the store to itself (like open and shutdown: no flush, pre-creation or expiry
// in flight, no read racing it) and it fsyncs. Callers also fail their own waiters for offsets past
// the cut (GroupCommit, HA acks): flushed_offset() moves back with the log.
//
// DLedger mode (RocketMQ's DLedgerCommitLog). A store constructed with a CommitLogReader has no
// commitlog/ of its own: its CommitLog is the Raft log's data files (raft/disk_log.h), written by
// the Raft glue and only read here, each message record sitting at entry pos + 48, which is its
// commit log offset. Puts are refused; instead encode_message(s) validates a message, assigns its
// queue offsets from the table of offsets handed out so far, and returns the record bytes for the
// leader to propose (the physical offset field is patched in when the entry's position is known).
// Only committed entries are dispatched (dispatch_committed: ConsumeQueue unit, dispatchers, queue
// offsets), so no reader ever sees a message a new leader could truncate; max_phy_offset() is the
// end of the last dispatched record. open() loads the ConsumeQueues and sets dispatched_offset() to
// the end of the newest record they reference, from where the glue re-dispatches committed
// entries (ConsumeQueue writes are idempotent by queue offset). reset_queue_offsets() drops offsets
// handed out to proposals that may never commit (leadership lost or gained). There is no CommitLog
// flush, pre-creation or expiry here: the Raft log flushes and expires its own files, and
// delete_expired_files() drops the ConsumeQueue files below the log's new start.
//
// Durability: with ASYNC_FLUSH a completed put is in the page cache, so it survives kill -9; with
// SYNC_FLUSH the broker answers only once flushed_offset() >= end_offset (store/group_commit.h), so it
// survives an OS crash as well (proved with store/fault_fs.h and by kill -9 tests).
//
// Thread-safety contract (the broker follows it):
//  * Owner thread (the broker's loop thread) calls everything except the worker calls below:
//    open, put_message(s), append_replicated, every read (get_message, offsets, lookups),
//    needs_precreate, truncate_commit_log, shutdown.
//    Appends are memcpy into mapped segments (or pwrite) into the page cache; none of these calls
//    fsync except open, truncate_commit_log and shutdown (run those when nothing else runs).
//  * Worker calls, from one worker thread at a time (the broker serialises its per-broker disk jobs),
//    concurrently with the owner: flush() (CommitLog, ConsumeQueues, checkpoint: ASYNC_FLUSH every
//    flush_interval_commit_log_ms; with SYNC_FLUSH about once a second), flush_commit_log() (SYNC_FLUSH
//    group commit), precreate_next_file() (when needs_precreate() says so) and
//    delete_expired_files() (it unlinks big files; it may also run on the owner thread). They read
//    the atomic wrote positions and copy segment and queue lists under short mutexes, never held
//    across I/O; they never touch queue-offset tables. A read racing with expiry may answer
//    MESSAGE_WAS_REMOVING, OFFSET_TOO_SMALL or OFFSET_FOUND_NULL, as RocketMQ does.
//    (tests/store/store_test.cc runs all worker calls against appends and reads; clean under TSan.)
//  * flushed_offset(), max_phy_offset(), min_phy_offset(), is_writable() are safe from any thread.
//  * The store starts no threads, reads no clock (now_ms is passed in) and does no network I/O.
// Errors: a failed write or fsync is never retried: the store stops accepting puts
// (SERVICE_NOT_AVAILABLE) and replicated appends, and writability_reason() says why; reads keep
// working. Replicated bytes that cannot be a record (bad magic, impossible size) stop it the same
// way. That stop is for good (until a restart, whose recovery deals with whatever the failed call
// left): after a failed fsync the kernel may have dropped the dirty pages, so nothing written since
// the last good flush can be trusted, and trying again would only hide the loss.
//
// A full disk is different: it refuses puts (SERVICE_NOT_AVAILABLE, disk_full_reason() says why)
// and clears by itself when space returns, as RocketMQ's DISK_FULL_BIT does (its RunningFlags keep
// disk-full apart from the not-writeable and logics-queue-error bits, and its expiry service sets and
// clears it from the disk usage). It is entered in two ways, both before any byte of a record is
// written:
//  * usage above disk_space_warning_level_ratio, as measured by the caller and passed to
//    delete_expired_files (the broker's housekeeping);
//  * ENOSPC while creating or reserving (fallocate) a CommitLog or ConsumeQueue file, which a put
//    does before it appends anything (the ConsumeQueue file a record will need is created before
//    the record is written: ConsumeQueue::prepare_for), so running out of space is met at file
//    creation, not halfway through a record or its dispatch.
// Usage above the level clears when the caller reports usage at or below it (update_disk_usage: the
// broker measures every kDiskRecheckIntervalMs while the disk is full, and at each housekeeping
// round). After an ENOSPC, each put (and recheck_disk_space(), which the broker calls from a timer)
// measures the file system again, at most every kDiskRecheckIntervalMs (one statvfs), and takes
// writes again once there is room for a new CommitLog and ConsumeQueue file. Should a ConsumeQueue write after its record is in the CommitLog still meet
// ENOSPC (a file system without fallocate, a slave's or DLedger member's dispatch), the record stays
// accepted: ConsumeQueues are derived data, rebuilt from the CommitLog, so the store marks the disk
// full, keeps the records from dispatched_offset() on as "dispatch pending" and dispatches them
// again, in order, before it takes the next write (RocketMQ's ConsumeQueue writes likewise ignore
// the disk-full bit and retry; it gives up after 30 tries with WRITE_LOGICS_QUEUE_ERROR, we keep
// trying as long as the disk stays full, since nothing else can write meanwhile).
#pragma once
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/log.h"
#include "codec/message.h"
#include "store/checkpoint.h"
#include "store/consume_queue.h"
#include "store/file.h"
#include "store/mapped_file.h"

namespace mq::store {

enum class FlushDiskType { kAsyncFlush, kSyncFlush };

struct MessageStoreConfig {
  std::string store_path_root_dir;
  int64_t mapped_file_size_commit_log = 1024LL * 1024 * 1024;
  int64_t mapped_file_size_consume_queue = 300000 * kCqUnitSize;
  FlushDiskType flush_disk_type = FlushDiskType::kAsyncFlush;
  int64_t flush_interval_commit_log_ms = 500;  // the caller's ASYNC_FLUSH timer
  int64_t sync_flush_timeout_ms = 5000;        // the caller's GroupCommit deadline
  int32_t max_message_size = 4 * 1024 * 1024;
  bool check_crc_on_recover = true;
  // Append by memcpy into fallocate'd, mapped segments (true) or by pwrite (store/file.h).
  bool append_by_mmap = true;
  int64_t file_reserved_time_hours = 72;
  std::string delete_when = "04";         // hours (local time) at which expiry runs, ';'-separated
  int disk_max_used_space_ratio = 75;     // percent: above it, expiry runs whatever the hour
  int disk_space_clean_forcibly_ratio = 85;  // percent: above it, oldest files go even if young
  // cleanFileForciblyEnable: RocketMQ deletes the oldest files above the forcible ratio whether
  // or not anyone consumed them (the disk before the retention time). False keeps every file for
  // its fileReservedTime; a disk that fills then refuses puts instead of losing messages.
  bool clean_file_forcibly_enable = true;
  int disk_space_warning_level_ratio = 90;   // percent: above it, puts are refused (disk full)
  int delete_commit_log_files_per_run = 10;
  // Delay levels, for SCHEDULE_TOPIC_XXXX tag codes (delivery time).
  std::string message_delay_level = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h";
};

// messageDelayLevel ("1s 5s 10s 30s 1m ...": space-separated numbers with a unit s, m, h or d) as
// milliseconds per level (level 1 first). nullopt, with the reason in *error, when a level is not a
// number followed by a unit or there is none (RocketMQ's broker refuses to start then).
std::optional<std::vector<int64_t>> parse_message_delay_level(std::string_view text, std::string* error = nullptr);

// RocketMQ's PutMessageStatus, one to one.
enum class PutMessageStatus {
  kPutOk,
  kFlushDiskTimeout,
  kFlushSlaveTimeout,
  kSlaveNotAvailable,
  kServiceNotAvailable,
  kCreateMappedFileFailed,
  kMessageIllegal,
  kPropertiesSizeExceeded,
  kOsPageCacheBusy,
  kUnknownError,
  // 5.x: too few replicas acknowledged in time (a DLedger leader's WAIT_QUORUM_ACK_TIMEOUT).
  kInSyncReplicasNotEnough,
};
const char* put_message_status_name(PutMessageStatus s);

// RocketMQ's GetMessageStatus, one to one.
enum class GetMessageStatus {
  kFound,
  kNoMatchedMessage,
  kMessageWasRemoving,
  kOffsetFoundNull,
  kOffsetOverflowBadly,
  kOffsetOverflowOne,
  kOffsetTooSmall,
  kNoMatchedLogicQueue,
  kNoMessageInQueue,
};
const char* get_message_status_name(GetMessageStatus s);

// MessageExtBrokerInner: one message to append. The store fills queue offset, physical offset,
// store timestamp and body CRC.
struct MessageToStore {
  std::string topic;
  int32_t queue_id = 0;
  int32_t flag = 0;
  std::string body;
  int32_t sys_flag = 0;
  int64_t born_timestamp = 0;
  HostAddress born_host;
  HostAddress store_host;
  int32_t reconsume_times = 0;
  int64_t prepared_transaction_offset = 0;
  std::string properties;
};

// MessageExtBatch: a SEND_BATCH_MESSAGE body (codec/message.h decode_batch format) plus the header
// fields shared by its members. Each member becomes its own record with consecutive queue offsets;
// the whole batch goes into one CommitLog file.
struct BatchToStore {
  std::string topic;
  int32_t queue_id = 0;
  int32_t sys_flag = 0;
  int64_t born_timestamp = 0;
  HostAddress born_host;
  HostAddress store_host;
  int32_t reconsume_times = 0;
  std::string body;        // encoded batch items
  std::string properties;  // batch-level properties appended to each member's (CLUSTER, WAIT)
};

struct PutMessageResult {
  PutMessageStatus status = PutMessageStatus::kUnknownError;
  int64_t wrote_offset = 0;     // commit log offset of the first record
  int32_t wrote_bytes = 0;      // all records (a BLANK written before them is not counted)
  int64_t logics_offset = 0;    // queue offset of the first record
  int32_t msg_num = 0;
  int64_t store_timestamp = 0;
  std::vector<std::string> msg_ids;  // offsetMsgIds, one per record
  // SYNC_FLUSH: the put is durable once flushed_offset() >= end_offset.
  int64_t end_offset = 0;
  std::string detail;
  bool ok() const { return status == PutMessageStatus::kPutOk; }
};

// Where a returned record sits inside GetMessageResult::buffer.
struct StoredRecordRef {
  int64_t queue_offset;
  int64_t commit_log_offset;
  int32_t size;
  size_t buffer_position;
  int64_t tags_code;
};

struct GetMessageResult {
  GetMessageStatus status = GetMessageStatus::kNoMatchedLogicQueue;
  int64_t next_begin_offset = 0;
  int64_t min_offset = 0;
  int64_t max_offset = 0;
  // The records exactly as stored, concatenated (a PULL response body).
  std::string buffer;
  std::vector<StoredRecordRef> messages;
};

// Tag filter: true keeps the unit. Empty = keep all (subscription "*").
using TagsCodeFilter = std::function<bool(int64_t tags_code)>;

struct RecoveryReport {
  bool abnormal = false;
  int64_t commit_log_end = 0;
  int64_t truncated_bytes = 0;  // bytes of torn tail zeroed in the segment holding the end
  int deleted_files = 0;        // CommitLog segments after the end
  int64_t redispatched = 0;     // records whose ConsumeQueue unit was (re)written
};

// DLedger mode: where the store reads its CommitLog (the Raft log's data files). Called on the owner
// thread; min_offset() from any thread.
class CommitLogReader {
 public:
  virtual ~CommitLogReader() = default;
  // n bytes at a global CommitLog offset; an error past the data.
  virtual IoResult<std::string> read(int64_t offset, size_t n) const = 0;
  virtual int64_t min_offset() const = 0;
};

// A committed record, as dispatch_committed() found it.
struct CommittedRecord {
  std::string topic;
  int32_t queue_id = 0;
  int64_t queue_offset = 0;
  int64_t commit_log_offset = 0;
  int32_t size = 0;
  int64_t store_timestamp = 0;
  bool has_unit = false;  // it got a ConsumeQueue unit (not a prepared transaction message)
};

// Size and free space of the file system holding a path; nullopt when it cannot be measured.
struct DiskSpace {
  int64_t total_bytes = 0;
  int64_t available_bytes = 0;  // to an unprivileged user (statvfs f_bavail), as disk_used_ratio
  double used_ratio() const {
    return total_bytes > 0 ? 1.0 - static_cast<double>(available_bytes) / static_cast<double>(total_bytes) : 0;
  }
};
using DiskSpaceProbe = std::function<std::optional<DiskSpace>(const std::string& path)>;
// statvfs.
std::optional<DiskSpace> probe_disk_space(const std::string& path);

// How often a full store measures the disk again (on a put or recheck_disk_space()).
inline constexpr int64_t kDiskRecheckIntervalMs = 250;

struct ExpiryRequest {
  int64_t now_ms = 0;
  bool is_delete_time = false;  // the caller's local hour is in delete_when (see is_delete_hour)
  double disk_used_ratio = 0;   // of the store's file system, 0..1 (store/file.h disk_used_ratio)
  bool manual = false;          // an admin asked (deletes expired files now)
};

// Room for the IndexFile (a later issue) and other derived structures: RocketMQ's
// CommitLogDispatcher. Every record is offered to each dispatcher once when it is appended (owner
// thread, after its ConsumeQueue unit) and again when recovery re-dispatches it, so implementations
// must be idempotent by commit log offset (RocketMQ's IndexService is). Errors are the
// dispatcher's to log; they do not fail the put (the index is derived data, rebuilt by recovery).
class CommitLogDispatcher {
 public:
  virtual ~CommitLogDispatcher() = default;
  virtual void dispatch(const MessageRecord& record, int64_t tags_code) = 0;
  // MessageStore::truncate_commit_log cut the log back to commit_log_end: records at or past it are
  // gone and new ones will be dispatched at those offsets. Forget what must not block them.
  virtual void on_commit_log_truncated(int64_t commit_log_end) {}
};

class MessageStore {
 public:
  MessageStore(MessageStoreConfig config, FileSystem& fs, Logger log);
  // DLedger mode (see the top of this file). `reader` is not owned and outlives the store.
  MessageStore(MessageStoreConfig config, FileSystem& fs, Logger log, CommitLogReader* reader);
  ~MessageStore();
  MessageStore(const MessageStore&) = delete;
  MessageStore& operator=(const MessageStore&) = delete;

  // Loads, recovers and creates `abort`. Errors name the file.
  IoResult<RecoveryReport> open();
  // Flushes everything, writes the checkpoint and removes `abort`. The worker must be idle.
  // Destroying an open store without shutdown() is a crash as far as the files are concerned
  // (`abort` stays, the next open() runs abnormal recovery).
  IoResult<Unit> shutdown();

  // --- owner thread: writes ---
  PutMessageResult put_message(const MessageToStore& msg, int64_t now_ms);
  PutMessageResult put_messages(const BatchToStore& batch, int64_t now_ms);
  // Slave side of HA (RocketMQ's appendToCommitLog), see the top of this file. Writes `data` at
  // start_offset, which must be max_phy_offset() (or, in an empty store, a multiple of the segment
  // size); a mismatch is a kCorrupt error naming both offsets, and nothing is written. Afterwards
  // max_phy_offset() == start_offset + data.size() and every complete record is dispatched. Refused
  // like puts when the store is not writable (kNoSpace when the disk is full, else kIo). A failed
  // write or an impossible record stops the store; a segment that cannot be created does not, but
  // the bytes before it stay written (the master resends from max_phy_offset()). now_ms paces the
  // disk-full re-check only: store times come from the master's records.
  IoResult<Unit> append_replicated(int64_t start_offset, std::string_view data, int64_t now_ms);
  // Cuts the CommitLog, the ConsumeQueues and the bookkeeping back to `offset`, durably (see the top
  // of this file); afterwards max_phy_offset() == offset and the store reads and appends as if
  // nothing had been written past it. A no-op when offset >= max_phy_offset(). Refused with nothing
  // changed: kCorrupt when offset is not a message boundary in [min_phy_offset(), max_phy_offset()]
  // (the consistent point does not fit this log; RocketMQ's "need manual fix"); kIo when the store
  // is not open, runs in DLedger mode (the Raft log truncates itself) or has stopped taking
  // writes. Any other failure happened part way: the store stops taking writes (is_writable() is
  // false, writability_reason() says where) and a restart recovers a prefix of the old log.
  IoResult<Unit> truncate_commit_log(int64_t offset);
  // True when a record starts at `offset` or the log ends there, within [min_phy_offset(),
  // max_phy_offset()] (see the top of this file). Reads at most one record. False in DLedger mode.
  bool is_message_boundary(int64_t offset) const;
  // --- owner thread, DLedger mode ---
  bool external_commit_log() const { return reader_ != nullptr; }
  // Validates like put_message(s), assigns queue offsets (advancing the handed-out table) and
  // appends one encoded record per message to `records` (physical offset 0). On success the
  // result carries status, logics_offset, msg_num and store_timestamp; offsets and msg ids come
  // from dispatch_committed() once the entries commit.
  PutMessageResult encode_message(const MessageToStore& msg, int64_t now_ms, std::vector<std::string>& records);
  PutMessageResult encode_messages(const BatchToStore& batch, int64_t now_ms, std::vector<std::string>& records);
  // A committed record at `offset` (entry pos + 48): checked, dispatched, dispatched_offset() moves
  // past it. Records below dispatched_offset() were dispatched before (a restart replays from
  // there) and are only decoded. A record that does not decode, or whose physical offset field
  // is not `offset`, is kCorrupt and stops the store.
  IoResult<CommittedRecord> dispatch_committed(int64_t offset, std::string_view record);
  // The queue offsets handed out become the ConsumeQueues' ends again.
  void reset_queue_offsets();

  // Owner thread: where the next record to dispatch starts (the end of the last record whose
  // ConsumeQueue unit is written; after a BLANK, the next segment's start).
  int64_t dispatched_offset() const { return dispatched_offset_; }

  // --- worker thread ---
  // Flushes CommitLog and ConsumeQueues, then the checkpoint; returns the CommitLog flushed offset.
  // On failure the store stops accepting writes.
  IoResult<int64_t> flush();
  // fsyncs only the CommitLog: what SYNC_FLUSH group commit needs. ConsumeQueue units and the
  // checkpoint are derived data that recovery rebuilds (the checkpoint only moves forward in
  // flush(), so recovery scans from early enough), so they follow on the interval flush(), as in
  // RocketMQ (GroupCommitService vs FlushConsumeQueueService). One fsync per group, not 2 + queues.
  IoResult<int64_t> flush_commit_log();
  // Creates the next CommitLog segment ahead of time (open, fallocate, map).
  IoResult<Unit> precreate_next_file();
  // Owner thread: true when the next segment is not pre-created yet. The broker checks it after
  // puts (cheap: one uncontended mutex) and posts precreate_next_file() to the worker when it is.
  bool needs_precreate() const { return reader_ == nullptr && commit_log_.needs_precreate(); }

  // --- any thread ---
  int64_t flushed_offset() const { return reader_ ? external_end_.load() : commit_log_.flushed_offset(); }
  int64_t max_phy_offset() const { return reader_ ? external_end_.load() : commit_log_.max_offset(); }
  int64_t min_phy_offset() const { return reader_ ? reader_->min_offset() : commit_log_.min_offset(); }
  // False once a write or fsync failed (for good; writability_reason() says why).
  bool is_writable() const { return writable_.load(std::memory_order_acquire); }
  std::string writability_reason() const;
  // True while puts are refused for lack of space (clears by itself; disk_full_reason() says why,
  // e.g. "/data/store 97.2% used, 1.9 MiB free, above diskSpaceWarningLevelRatio 90").
  bool is_disk_full() const { return disk_full_.load(std::memory_order_acquire); }
  std::string disk_full_reason() const;
  // True when a put would be tried now (writable, disk not full, nothing waiting for dispatch).
  bool takes_writes() const { return is_writable() && !is_disk_full() && !dispatch_pending_.load(); }
  // "" when takes_writes(); otherwise why not, for status pages: "disk full: <reason>" or the
  // write error.
  std::string write_refusal_reason() const;
  // Owner thread: while the disk is full (or a dispatch is pending), measures the disk again when
  // kDiskRecheckIntervalMs passed since the last time, clears the state when space is back and
  // dispatches what is pending. Returns takes_writes(). Cheap otherwise (two atomic loads).
  bool recheck_disk_space(int64_t now_ms);
  // Any thread: the disk usage the caller measured (0..1, e.g. store/file.h disk_used_ratio; -1 =
  // unknown, ignored). Above disk_space_warning_level_ratio puts are refused, at or below they are
  // taken again (unless an ENOSPC still waits for room). delete_expired_files does this too; the
  // broker calls it more often while the disk is full, so puts resume soon after space returns.
  void update_disk_usage(double used_ratio);
  // Tests (and file systems statvfs cannot see through): how the store measures its disk.
  void set_disk_space_probe(DiskSpaceProbe probe) { probe_ = std::move(probe); }

  // --- owner thread: reads ---
  GetMessageResult get_message(const std::string& topic, int32_t queue_id, int64_t offset,
                               int32_t max_msg_nums, int64_t max_total_bytes,
                               const TagsCodeFilter& filter = {});
  int64_t min_offset_in_queue(const std::string& topic, int32_t queue_id);
  int64_t max_offset_in_queue(const std::string& topic, int32_t queue_id);
  // First queue offset whose store time >= timestamp (max offset when none; min when all are newer).
  int64_t offset_in_queue_by_time(const std::string& topic, int32_t queue_id, int64_t timestamp);
  // Store time of the first message still in the CommitLog; -1 when empty.
  int64_t earliest_message_time();
  // Store time of the message at queue offset; -1 when missing.
  int64_t message_store_timestamp(const std::string& topic, int32_t queue_id, int64_t offset);
  // The record bytes at a commit log offset (VIEW_MESSAGE_BY_ID), CRC checked.
  IoResult<std::string> message_by_offset(int64_t commit_log_offset);
  // Record at a commit log offset given its size (from a ConsumeQueue unit). Only bytes below
  // max_phy_offset() that start a record of that size carrying that physical offset; an error
  // otherwise (a unit or index entry that does not fit the log).
  IoResult<std::string> read_record(int64_t commit_log_offset, int32_t size);
  // Raw CommitLog bytes from offset to at most max_bytes, never past the end of that segment's data
  // (HA transfer to slaves reads this way). Empty at the end of the log.
  IoResult<std::string> read_commit_log(int64_t offset, size_t max_bytes);
  // Topics and queue ids with a ConsumeQueue.
  std::vector<std::pair<std::string, int32_t>> queues();

  // --- worker (or owner) thread: expiry ---
  // Deletes CommitLog files older than file_reserved_time (when it is time, or the disk is above
  // disk_max_used_space_ratio; above disk_space_clean_forcibly_ratio even younger ones), then
  // ConsumeQueue files pointing only at deleted records; sets/clears the disk-full refusal.
  // Returns the number of CommitLog files deleted.
  int delete_expired_files(const ExpiryRequest& req);
  // True when local hour `hour` (0-23) is listed in delete_when.
  bool is_delete_hour(int hour) const;

  // Registered before open() (recovery re-dispatches to it). Not owned.
  void add_dispatcher(CommitLogDispatcher* d) { dispatchers_.push_back(d); }

  const MessageStoreConfig& config() const { return config_; }
  // messageDelayLevel in milliseconds, level 1 first (empty when it did not parse).
  const std::vector<int64_t>& delay_level_ms() const { return delay_level_ms_; }
  int64_t precreate_misses() const { return commit_log_.precreate_misses(); }
  // Tag code RocketMQ computes for a record (used by dispatch and recovery).
  int64_t tags_code_of(std::string_view topic, std::string_view properties,
                       int64_t store_timestamp) const;

 private:
  struct Encoded;
  ConsumeQueue* find_queue(const std::string& topic, int32_t queue_id);
  IoResult<ConsumeQueue*> find_or_create_queue(const std::string& topic, int32_t queue_id);
  PutMessageResult check_writable(int64_t now_ms);
  enum class FullCause { kNone, kAboveWarningLevel, kNoSpace };
  // Enters (or stays in) the disk-full state; `what` says what could not be done.
  void mark_disk_full(FullCause cause, const std::string& what);
  // "<root> 97.2% used, 1.9 MiB free" from the probe ("" when it cannot measure).
  std::string describe_space(const std::optional<DiskSpace>& space) const;
  // A put's refusal while the disk is full: "the broker's disk is full [CL:  0.97 ...]: disk full: ...".
  std::string disk_full_detail() const;
  // Dispatches the records from dispatched_offset_ to the CommitLog end (a put whose ConsumeQueue
  // write met ENOSPC, or a replicated chunk's). kNoSpace leaves them pending.
  IoResult<Unit> dispatch_from_cursor();
  PutMessageResult append_encoded(Encoded& enc, int64_t now_ms);
  PutMessageResult prepare_message(const MessageToStore& msg, int64_t now_ms, Encoded& enc) const;
  PutMessageResult prepare_messages(const BatchToStore& batch, int64_t now_ms, Encoded& enc) const;
  PutMessageResult encode_external(Encoded& enc, int64_t now_ms, std::vector<std::string>& records);
  // CommitLog bytes, from the segments or (DLedger mode) the reader.
  IoResult<std::string> read_commit_log_bytes(int64_t offset, size_t n) const;
  IoResult<RecoveryReport> recover_external();
  static PutMessageResult refused_in_dledger_mode();
  // Expiry: ConsumeQueue files pointing only below min_phy go, and min offsets follow.
  void drop_consume_queue_files_below(int64_t min_phy);
  void set_unwritable(const std::string& reason);
  IoResult<Unit> load_consume_queues();
  IoResult<RecoveryReport> recover(bool abnormal);
  IoResult<Unit> dispatch(const MessageRecord& rec);
  IoResult<Unit> dispatch_replicated();
  int64_t& queue_offset_slot(const std::string& topic, int32_t queue_id);

  MessageStoreConfig config_;
  FileSystem& fs_;
  Logger log_;
  std::string commit_log_dir_;
  std::string consume_queue_dir_;
  MappedFileQueue commit_log_;
  std::unique_ptr<StoreCheckpoint> checkpoint_;
  std::vector<int64_t> delay_level_ms_;

  // ConsumeQueues by "topic" then queue id. The map is edited on the owner thread under cq_mu_;
  // flush() copies the pointers under cq_mu_. Queues are never destroyed while the store is open.
  std::mutex cq_mu_;
  std::map<std::string, std::map<int32_t, std::unique_ptr<ConsumeQueue>>> queues_;
  // Next queue offset per "topic-queueId" (RocketMQ's topicQueueTable). Owner thread only.
  std::map<std::string, int64_t> queue_offsets_;

  std::atomic<bool> writable_{true};
  std::atomic<bool> disk_full_{false};
  // Owner thread writes; any thread reads (status).
  std::atomic<bool> dispatch_pending_{false};
  mutable std::mutex reason_mu_;
  std::string unwritable_reason_;
  // Under reason_mu_: why the disk counts as full (disk_full_ = either).
  bool full_ratio_ = false, full_no_space_ = false;
  std::string ratio_reason_, no_space_reason_;
  int64_t last_disk_check_ms_ = INT64_MIN / 2;  // owner thread
  DiskSpaceProbe probe_ = probe_disk_space;
  // The last measured usage (0..1; -1 before any), for the refusal's remark.
  mutable std::atomic<double> last_used_ratio_{-1};
  // Store time of the last appended record, read by flush() for the checkpoint.
  std::atomic<int64_t> last_store_timestamp_{0};
  std::vector<CommitLogDispatcher*> dispatchers_;
  int64_t dispatched_offset_ = 0;  // owner thread
  // A copy of dispatched_offset_ for the flush worker: what it flushes covers the units of every
  // record below it, which the checkpoint then records (checkpoint.h says why).
  std::atomic<int64_t> dispatched_mark_{0};
  void set_dispatched_offset(int64_t v) {
    dispatched_offset_ = v;
    dispatched_mark_.store(v, std::memory_order_release);
  }
  CommitLogReader* reader_ = nullptr;      // DLedger mode
  std::atomic<int64_t> external_end_{0};  // DLedger mode: end of the last dispatched record
  bool opened_ = false;
  std::string scratch_;  // reused encode buffer
};

}  // namespace mq::store
