// The Raft log and hard state on disk, in the file layout of DLedger 0.2.6 (RocketMQ 4.9.4's
// DLedgerCommitLog), for the broker glue. This is the only part of raft/ that does I/O, through
// store::FileSystem (store/file.h), so tests can run it on the fault-injecting file system.
//
// Directory (DLedger's `${storePathRootDir}/dledger-<selfId>/`):
//   data/<20-digit pos>    data files of `data_file_size` bytes, named by the global byte position
//                          of their first byte. Entries (entry_codec.h) are written back to back;
//                          when an entry plus 8 bytes does not fit in the rest of a file, the file
//                          is closed with a BLANK record (int32 -1, int32 remaining bytes) and the
//                          entry goes to the next file. A file is created sparse at full size, so
//                          unwritten space reads as zeros; a shorter one (a crash during creation)
//                          is extended, a longer one refused (wrong data_file_size).
//   index/<20-digit off>   32-byte index units (int32 magic | int64 pos | int32 size | int64 index |
//                          int64 term), unit n at byte n * 32 of the index space, n = DLedger index
//                          (Raft index - 1); files of `index_file_size` bytes named by their first
//                          byte's offset in that space. The index is derived data: recovery
//                          rewrites it from the data files, so it is never synced, and append()
//                          keeps new units in memory and writes them in batches (when a sync job
//                          is prepared, or every 1 MiB of units): one write per Ready cycle fewer.
//                          Reads see the units still in memory.
//   currterm               `voteLeader=<peer id or empty>` and `currTerm=<n>` lines, in that order
//                          (what DLedger's MemberState writes), rewritten on each term or vote
//                          change. The peer id is the caller's naming of a NodeId (PeerName; a
//                          DLedger broker's is "n<digits>"); reading accepts letters followed by
//                          digits ("n0" -> 0, the rule DLedger brokers use) or plain digits. A
//                          `committedIndex=` line, which earlier versions of this file wrote, is
//                          still read when there is no checkpoint.
//   checkpoint             `committedIndex=<n>` and `endIndex=<n>` lines, DLedger indexes
//                          (Raft index - 1; -1 for none). Saved by the caller every few seconds
//                          and at shutdown (save_checkpoint), not per commit: the commit index is
//                          not needed for safety, only to apply without waiting for a leader after
//                          a restart.
// Both property files are replaced atomically (`<name>.tmp`, fsync, rename, directory fsync), after
// the previous content was copied to `<name>.bak` as DLedger does. A crash leaves the old or the new
// file, never a mix; a stray `.tmp` is ignored, and `.bak` is never read. (DLedger itself deletes
// the file before renaming its `.tmp`, so a Java node that crashed in that window has no currterm;
// we then start from term 0 with no vote, as Java would.)
//
// Java compatibility: DLedger 0.2.6 writes chainCrc = 0 and bodyCrc = 0 in every entry. An entry
// with both CRCs 0 is accepted as a legacy entry, its body and chain unchecked; our own entries
// always carry both CRCs (an empty body's CRC is 0 too, but its chain CRC is not), and the entry
// after a legacy one chains from 0, the legacy entry's chainCrc. So a Java store opens as it is,
// and our entries appended to it keep their torn-tail and stale-entry detection; legacy entries
// only have the structural checks below. Java's checkpoint may count entries a torn tail lost:
// load_persisted clamps the commit index to the recovered log end.
//
// Writes: append() first truncates when the first entry's index is not last_index() + 1 (the
// core's "overwrite a conflicting suffix"), then writes entries and their index units into the page
// cache (pwrite). Nothing is durable until a sync (sync(), or a SyncJob) returns: fdatasync of
// every data file written since the previous sync was prepared, then an fsync of `data/` when files
// were created or deleted. The glue must sync the log before saving the hard state (raft/node.h).
//
// Recovery (open): the data files are scanned from the first; an entry is accepted only if its
// magic, size, index (previous + 1), term (not below the previous), pos (its real position), body
// CRC and chain CRC (linking it to its predecessor; both skipped for a legacy entry) all check. The
// first entry that fails ends the log: a torn write, a CRC failure or zeros all mean "the log ends
// here"; a failing read is an error instead, never a reason to cut. Everything after that point is
// discarded: the rest of that file is zeroed (truncate to the end point, then extend back), later
// data files are deleted, and the index is rewritten for the recovered range. A log whose middle is
// corrupt thus loses its tail; Raft refetches it from the leader.
//
// Truncation (truncate_suffix) does the same as recovery at an arbitrary index: zero the tail of
// the file holding the new end, delete later files. Stale bytes can never be mistaken for entries
// of ours afterwards, both because they are gone and because of the chain CRC.
//
// Threads: a DiskLog belongs to one thread, its owner (the broker's loop); every member function is
// called there, except SyncJob::run(). prepare_sync() takes, on the owner, the data files written
// since the previous prepare_sync() and the end position they cover; run() may then execute on any
// thread concurrently with later appends, reads and truncations on the owner. The job holds shared
// ownership of its files, so a truncation that deletes one meanwhile only unlinks its name. Run jobs
// one at a time in the order they were prepared (each covers only what was written after its
// predecessor was prepared). A failed run() leaves those bytes of unknown durability, and a failed
// fsync cannot be meaningfully retried: the caller stops taking writes (design.md, Errors). The
// free functions below touch only the property files and may run on any thread.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "raft/node.h"
#include "raft/types.h"
#include "store/file.h"

namespace mq::raft {

enum class DiskError : uint8_t { kIo, kNoSpace, kCorrupt, kTooLarge, kOutOfRange };
const char* to_string(DiskError e);

// How `currterm` names a NodeId as voteLeader (a DLedger broker: "n" + digits).
using PeerName = std::function<std::string(NodeId)>;
std::string decimal_peer_name(NodeId id);
// A peer id as DLedger brokers number them: letters then digits ("n0" -> 0), or plain digits.
std::optional<NodeId> parse_peer_id(std::string_view text);

// DLedger's AppendHook: called by append() for each entry once its pos is known, before its body
// CRC is computed and its bytes are written, to patch the body in place (a DLedger broker writes
// the record's PHYSICALOFFSET, pos + 48). The caller's Entry is not changed; the disk holds the
// patched body. Must not throw.
using AppendHook = std::function<void(const Entry& entry, int64_t pos, char* body, size_t body_len)>;

struct DiskLogOptions {
  int64_t data_file_size = int64_t{1} << 30;                // mappedFileSizeCommitLog
  int64_t index_file_size = int64_t{32} * 5 * 1024 * 1024;  // DLedger's 167772160
  AppendHook append_hook;
};

struct RecoveryReport {
  int64_t entries = 0;
  int64_t discarded_bytes = 0;  // data file bytes after the recovered end, when a record failed
  std::string stopped_because;  // empty when the log ended cleanly
};

class DiskLog {
 public:
  // `fs` must outlive the DiskLog and every SyncJob it prepares.
  static Result<std::unique_ptr<DiskLog>, DiskError> open(store::FileSystem& fs, const std::string& dir,
                                                          DiskLogOptions options = {});
  ~DiskLog();
  DiskLog(const DiskLog&) = delete;
  DiskLog& operator=(const DiskLog&) = delete;

  // Makes durable what was written before prepare_sync() (see "Threads" above).
  class SyncJob {
   public:
    SyncJob() = default;
    // fdatasync of the files, then of the directory if needed; the end position made durable.
    Result<int64_t, DiskError> run();
    int64_t end_pos() const { return end_pos_; }

   private:
    friend class DiskLog;
    store::FileSystem* fs_ = nullptr;
    std::vector<std::shared_ptr<store::File>> files_;
    std::string sync_dir_;  // empty when no file was created or deleted
    int64_t end_pos_ = 0;
  };
  SyncJob prepare_sync();
  // prepare_sync().run() on the owner thread.
  Result<Unit, DiskError> sync();

  // Entries must be contiguous; the first may be at or below last_index() (overwrite) but not
  // below first_index(), and not beyond last_index() + 1.
  Result<Unit, DiskError> append(const std::vector<Entry>& entries);
  // Drops every entry with index >= `from`.
  Result<Unit, DiskError> truncate_suffix(RaftIndex from);
  // Expiry (RocketMQ's fileReservedTime for a DLedger CommitLog): deletes leading data files, at
  // most max_files, while a file ends at or before keep_from_pos (the caller keeps what is not yet
  // applied) and expired(its mtime in ms) says so; never the file holding the last entry. The log
  // then starts at the first entry of the first file left (first_index() moves up), and index files
  // wholly below it go too. Returns the number of data files deleted. Entries deleted here can no
  // longer be sent to a member that lags behind them (as in DLedger).
  Result<int, DiskError> delete_leading_files(int64_t keep_from_pos, const std::function<bool(int64_t)>& expired,
                                              int max_files);
  // Global position of the first byte still held.
  int64_t start_pos() const { return data_.empty() ? end_pos_ : data_.front().start; }

  RaftIndex first_index() const { return first_index_; }
  RaftIndex last_index() const { return RaftIndex{first_index_.value + count_ - 1}; }
  bool empty() const { return count_ == 0; }
  // One past the last byte of the last entry (or BLANK record): where the next entry goes.
  int64_t end_pos() const { return end_pos_; }
  int64_t data_file_size() const { return opt_.data_file_size; }
  const RecoveryReport& recovery() const { return recovery_; }
  const std::string& dir() const { return dir_; }
  store::FileSystem& file_system() const { return *fs_; }

  Result<Entry, DiskError> read(RaftIndex index) const;
  // DLedger pos of an entry: a DLedger broker's commitlog offset of the message is pos + 48.
  Result<int64_t, DiskError> pos_of(RaftIndex index) const;
  // Every entry, for constructing the core after a restart (PersistedState::entries).
  Result<std::vector<Entry>, DiskError> read_all() const;
  // `n` bytes at global data position `pos` (the message store reads a record at pos + 48);
  // kOutOfRange unless they lie before end_pos().
  Result<std::string, DiskError> read_raw(int64_t pos, size_t n) const;
  // The first entry whose pos >= `pos`; last_index() + 1 when there is none. Where a restarted
  // dispatcher resumes, given the position it had dispatched up to.
  Result<RaftIndex, DiskError> index_at_or_after_pos(int64_t pos) const;

 private:
  struct Segment {
    int64_t start;
    std::shared_ptr<store::File> file;
    bool dirty = false;  // data files: written since the last prepare_sync()
  };
  struct Unit32 {
    int64_t pos;
    int32_t size;
    int64_t index;
    int64_t term;
  };
  DiskLog(store::FileSystem& fs, std::string dir, DiskLogOptions options);
  Result<Segment, DiskError> open_segment(const std::string& path, int64_t start, int64_t size, bool create);
  Result<Unit, DiskError> recover();
  Result<Segment*, DiskError> data_file(int64_t start, bool create);
  Result<Segment*, DiskError> index_file(int64_t start, bool create);
  // The slot in data_ of the file holding global position `pos`; data_.size() when none does.
  size_t data_slot(int64_t pos) const;
  Result<Unit, DiskError> write_index_units(int64_t first_dledger_index, const std::string& units);
  Result<Unit32, DiskError> read_unit(RaftIndex index) const;
  Result<Unit, DiskError> cut_at(int64_t pos);
  std::string data_path(int64_t start) const;
  std::string index_path(int64_t start) const;

  store::FileSystem* fs_;
  std::string dir_;
  DiskLogOptions opt_;
  std::vector<Segment> data_;   // contiguous, ordered by start
  std::vector<Segment> index_;  // ordered by start
  // Index units appended but not written yet (see the top of this file): DLedger indexes
  // pending_units_first_ .. + pending_units_.size() / 32 - 1.
  int64_t pending_units_first_ = 0;
  std::string pending_units_;
  Result<Unit, DiskError> flush_index_units();
  void drop_pending_units_from(int64_t dledger_index);
  bool data_dir_dirty_ = false;  // a data file was created or deleted since the last prepare_sync()
  RaftIndex first_index_{1};
  int64_t count_ = 0;
  int64_t end_pos_ = 0;
  uint32_t last_chain_ = 0;
  Term last_term_;
  RecoveryReport recovery_;
};

// `currterm` and `checkpoint` in `dir` (the DiskLog's directory). load_hard_state: the term and
// vote from currterm, the commit index from checkpoint (DLedger index + 1); nullopt when neither
// file exists. save_hard_state writes term and vote only (hs.commit goes to the checkpoint).
Result<std::optional<HardState>, DiskError> load_hard_state(store::FileSystem& fs, const std::string& dir);
Result<Unit, DiskError> save_hard_state(store::FileSystem& fs, const std::string& dir, const HardState& hs,
                                        const PeerName& peer_name = decimal_peer_name);
// `end` is the last index of the log, `committed` the commit index (Raft indexes; 0 for none).
Result<Unit, DiskError> save_checkpoint(store::FileSystem& fs, const std::string& dir, RaftIndex end,
                                        RaftIndex committed);

// Step 1 of the Ready cycle (node.h) on the owner thread: append (overwriting a conflicting
// suffix), sync, then rewrite currterm if rd.hard_state's term or vote differs from `last`, the
// hard state as of the previous call (initially load_persisted's), which is updated. The commit
// index alone never causes a write: the caller saves it with save_checkpoint.
Result<Unit, DiskError> persist_ready(DiskLog& log, const Ready& rd, HardState& last,
                                      const PeerName& peer_name = decimal_peer_name);

// What a restarting node is constructed from (currterm and checkpoint in log.dir()). With
// applied > 0 only the entries after `applied` are loaded (the state machine has the rest),
// together with the membership in force there, found by scanning backwards from `applied` to the
// last membership entry. The commit index is clamped to the log end.
Result<PersistedState, DiskError> load_persisted(const DiskLog& log, RaftIndex applied);

}  // namespace mq::raft
