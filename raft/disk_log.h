// The Raft log and hard state on disk, in DLedger's file layout, for the broker glue. This is the
// only part of raft/ that does I/O (plain POSIX calls); the glue calls it from a worker thread,
// never from the core.
//
// Directory (DLedger's `${storePathRootDir}/dledger-<selfId>/`):
//   data/<20-digit pos>    data files of `data_file_size` bytes, named by the global byte position
//                          of their first byte. Entries (entry_codec.h) are written back to back;
//                          when an entry plus 8 bytes does not fit in the rest of a file, the file
//                          is closed with a BLANK record (int32 -1, int32 remaining bytes) and the
//                          entry goes to the next file. A file is created sparse at full size, so
//                          unwritten space reads as zeros.
//   index/<20-digit off>   32-byte index units (int32 magic | int64 pos | int32 size | int64 index |
//                          int64 term), unit n at byte n * 32 of the index space, n = DLedger index
//                          (Raft index - 1); files of `index_file_size` bytes named by their first
//                          byte's offset in that space. The index is derived data: recovery
//                          rewrites it from the data files.
//   currterm               the hard state as Java properties text (`currTerm=`, `voteLeader=`,
//                          `committedIndex=`), replaced atomically: written to `currterm.tmp`,
//                          fsynced, renamed over `currterm`, directory fsynced. A crash leaves the
//                          old or the new file, never a mix; a stray `currterm.tmp` is ignored.
//
// Writes: append() first truncates when the first entry's index is not last_index() + 1 (the
// core's "overwrite a conflicting suffix"), then writes entries and their index units. Nothing is
// durable until sync() returns (fdatasync of every data file touched since the last sync; index
// files are never synced, recovery rewrites them). The glue must sync the log before saving the
// hard state (see raft/node.h).
//
// Recovery (open): the data files are scanned from the first; an entry is accepted only if its
// magic, size, index (previous + 1), term (not below the previous), pos (its real position), body
// CRC and chain CRC (linking it to its predecessor) all check. The first entry that fails ends the
// log: a torn write, a CRC failure or zeros all mean "the log ends here". Everything after that
// point is discarded: the rest of that file is zeroed (truncate to the end point, then extend
// back), later data files are deleted, and the index is rewritten for the recovered range. A log
// whose middle is corrupt thus loses its tail; Raft refetches it from the leader, and a committed
// entry lost this way shows up as the core refusing a hard state whose commit lies beyond the log.
//
// Truncation (truncate_suffix) does the same as recovery at an arbitrary index: zero the tail of
// the file holding the new end, delete later files. Stale bytes can never be mistaken for entries
// afterwards, both because they are gone and because of the chain CRC.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "raft/node.h"
#include "raft/types.h"

namespace mq::raft {

enum class DiskError : uint8_t { kIo, kCorrupt, kTooLarge, kOutOfRange };
const char* to_string(DiskError e);

struct DiskLogOptions {
  int64_t data_file_size = int64_t{1} << 30;            // mappedFileSizeCommitLog
  int64_t index_file_size = int64_t{32} * 5 * 1024 * 1024;  // DLedger's 167772160
};

struct RecoveryReport {
  int64_t entries = 0;
  int64_t discarded_bytes = 0;  // bytes after the recovered end that held something non-zero
  std::string stopped_because;  // empty when the log ended cleanly
};

class DiskLog {
 public:
  static Result<std::unique_ptr<DiskLog>, DiskError> open(const std::string& dir,
                                                          DiskLogOptions options = {});
  ~DiskLog();
  DiskLog(const DiskLog&) = delete;
  DiskLog& operator=(const DiskLog&) = delete;

  // Entries must be contiguous; the first may be at or below last_index() (overwrite) but not
  // below first_index(), and not beyond last_index() + 1.
  Result<Unit, DiskError> append(const std::vector<Entry>& entries);
  // Drops every entry with index >= `from`.
  Result<Unit, DiskError> truncate_suffix(RaftIndex from);
  Result<Unit, DiskError> sync();

  RaftIndex first_index() const { return first_index_; }
  RaftIndex last_index() const { return RaftIndex{first_index_.value + count_ - 1}; }
  bool empty() const { return count_ == 0; }
  int64_t end_pos() const { return end_pos_; }
  const RecoveryReport& recovery() const { return recovery_; }

  Result<Entry, DiskError> read(RaftIndex index) const;
  // DLedger pos of an entry: a DLedger broker's commitlog offset of the message is pos + 48.
  Result<int64_t, DiskError> pos_of(RaftIndex index) const;
  // Every entry, for constructing the core after a restart (PersistedState::entries).
  Result<std::vector<Entry>, DiskError> read_all() const;

 private:
  class File;
  struct Unit32 {
    int64_t pos;
    int32_t size;
    int64_t index;
    int64_t term;
  };
  DiskLog(std::string dir, DiskLogOptions options);
  Result<Unit, DiskError> recover();
  Result<File*, DiskError> data_file(int64_t start, bool create);
  Result<File*, DiskError> index_file(int64_t start, bool create);
  Result<Unit, DiskError> write_index_units(int64_t first_dledger_index, const std::string& units);
  Result<Unit32, DiskError> read_unit(RaftIndex index) const;
  Result<Unit, DiskError> cut_at(int64_t pos);
  std::string data_path(int64_t start) const;
  std::string index_path(int64_t start) const;

  std::string dir_;
  DiskLogOptions opt_;
  std::vector<std::unique_ptr<File>> data_;   // ordered by start
  std::vector<std::unique_ptr<File>> index_;  // ordered by start
  RaftIndex first_index_{1};
  int64_t count_ = 0;
  int64_t end_pos_ = 0;
  uint32_t last_chain_ = 0;
  Term last_term_;
  RecoveryReport recovery_;
};

// The `currterm` file.
Result<std::optional<HardState>, DiskError> load_hard_state(const std::string& dir);
Result<Unit, DiskError> save_hard_state(const std::string& dir, const HardState& hs);

// Step 1 of the Ready cycle (node.h) done right: append (overwriting a conflicting suffix), sync,
// then replace the hard state. `dir` is the directory the DiskLog was opened on.
Result<Unit, DiskError> persist_ready(DiskLog& log, const std::string& dir, const Ready& rd);

// What a restarting node is constructed from. With applied > 0 only the entries after `applied`
// are loaded (the state machine has the rest), together with the membership in force there,
// found by scanning backwards from `applied` to the last membership entry.
Result<PersistedState, DiskError> load_persisted(const DiskLog& log, const std::string& dir,
                                                 RaftIndex applied);

}  // namespace mq::raft
