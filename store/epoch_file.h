// The controller-mode epoch file (`epochFileCheckpoint`, reference 6.6; RocketMQ's EpochFileCache
// and the CheckpointFile it writes through). It records, for every master epoch this replica's
// CommitLog has data of, the CommitLog offset where that epoch's data starts. UTF-8 text, '\n' line
// ends:
//
//   2             number of entry lines, decimal
//   1694929738    CRC-32 (zlib) of the entry lines, each with its '\n', & 0x7FFFFFFF, decimal;
//                 0 means "do not check"
//   1-0           "<epoch>-<startOffset>", one line per entry, ascending
//   2-4096
//
// End offsets are not stored: an entry ends where the next one starts and the last one is open
// (INT64_MAX in the EpochEntryCache view; a given max offset wherever a bounded range is needed).
// Entries are strictly ascending in both epoch and start offset: append() refuses anything else,
// as RocketMQ's appendEntry does, so a file that breaks the rule was not written by either broker.
//
// Writing (every change rewrites the whole file, as RocketMQ does): the previous good content goes
// to `<path>.bak` (truncate, write, fsync), then the file is overwritten in place (truncate, write,
// fsync). At any moment at most one of the two is half-written, so a crash leaves one readable
// copy: a torn file fails its count or CRC check and the reader takes the `.bak`. RocketMQ copies
// whatever the file holds into `.bak`; we copy the content we last read or wrote successfully
// (the same bytes whenever the file is good), so a torn file left by a failed write can never
// overwrite the good backup. A change that leaves no entries is not written at all (RocketMQ's
// writer returns early on an empty list): the file keeps the old entries, and they come back after
// a restart. A change that changes nothing writes nothing (RocketMQ rewrites the same bytes). A
// failed write leaves the in-memory entries as they were and returns the error.
//
// Reading: a missing file, or one with zero entries, or a count or CRC mismatch, or anything that
// does not parse (bad numbers, non-ascending entries, a count that is not the number of lines) ->
// the `.bak` is read instead (RocketMQ also falls back to `.bak` when the file is missing, since it
// treats "no entries" alike). Both unusable -> no entries and a warning the owner logs; start-up
// is not refused (RocketMQ logs and carries on with no entries too). An I/O error other than "not
// found" is an error: a disk that cannot be read is not the same as a file that was never written.
//
// Not thread-safe: owned by the broker's loop (HA service), which serialises every use.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "store/file.h"

namespace mq::store {

// The end offset of the open (last) entry, as RocketMQ's EpochEntry reports it.
inline constexpr int64_t kEpochOpenEnd = INT64_MAX;

struct EpochEntry {
  int32_t epoch = 0;
  int64_t start_offset = 0;
  int64_t end_offset = kEpochOpenEnd;
  bool operator==(const EpochEntry&) const = default;
};

// RocketMQ's MixAll.string2File through a FileSystem: the current good content (`previous`, or
// when that is null whatever `path` holds) is written to `<path>.bak`, then `content` overwrites
// `path`; both fsync'd, the directory too when a file was created. Missing parent directories are
// created (RocketMQ's mkdirs).
IoResult<Unit> write_file_with_backup(FileSystem& fs, const std::string& path, std::string_view content,
                                      const std::string* previous);

class EpochFile {
 public:
  // Largest file we read; a real one holds a line per election (about 30 bytes each).
  static constexpr int64_t kMaxFileBytes = 16 << 20;

  static Result<EpochFile, std::string> open(FileSystem& fs, std::string path);

  const std::string& path() const { return path_; }
  // Why the file was not used as it stood (fallback to `.bak`, or both unusable); empty otherwise.
  const std::string& load_warning() const { return load_warning_; }

  bool empty() const { return starts_.empty(); }
  size_t size() const { return starts_.size(); }
  int32_t last_epoch() const { return starts_.empty() ? -1 : starts_.back().epoch; }
  // End offsets filled in; the last entry's is kEpochOpenEnd.
  std::optional<EpochEntry> first_entry() const;
  std::optional<EpochEntry> last_entry() const;
  std::optional<EpochEntry> entry_for_epoch(int32_t epoch) const;
  // The entry with the smallest epoch above `epoch`.
  std::optional<EpochEntry> next_entry(int32_t epoch) const;
  // The entry with start <= offset < end (the last one is open-ended).
  std::optional<EpochEntry> find_entry_containing(int64_t offset) const;
  // All entries with end offsets; the last ends at max(max_offset, its start). With the default,
  // the EpochEntryCache view (last end INT64_MAX).
  std::vector<EpochEntry> entries(int64_t max_offset = kEpochOpenEnd) const;

  // Adds (epoch, start_offset) after the last entry and persists. Refused, as RocketMQ's
  // appendEntry refuses, unless both epoch and start offset are strictly larger than the last
  // entry's; negative values are refused too (the text format cannot hold them).
  Result<Unit, std::string> append(int32_t epoch, int64_t start_offset);
  // Drops entries starting at or after `offset` (RocketMQ's truncateSuffixByOffset).
  Result<Unit, std::string> truncate_suffix_from(int64_t offset);
  // Drops entries whose end <= min_offset - 1, i.e. whose data all lies below the CommitLog's new
  // minimum offset after expiry (truncatePrefixByOffset(minPhyOffset - 1)). The open last entry
  // is never dropped.
  Result<Unit, std::string> truncate_prefix_below(int64_t min_offset);
  // Drops entries with epoch >= `epoch` (truncateSuffixByEpoch).
  Result<Unit, std::string> remove_epochs_at_or_above(int32_t epoch);

  // The truncation rule of reference 6.4: ends are derived from the start offsets (the
  // end_offset fields of the inputs are ignored), each list's last entry ending at that side's max
  // offset. Walking the slave's entries from the highest epoch down, the first epoch the master
  // also has with the same start offset gives min(slave end, master end). -1 when no epoch
  // matches, or when either list is not strictly ascending in epoch and start offset.
  static int64_t find_consistent_point(const std::vector<EpochEntry>& master_entries, int64_t master_max,
                                       const std::vector<EpochEntry>& slave_entries, int64_t slave_max);

  // The file's text for these entries (end offsets ignored).
  static std::string serialize(const std::vector<EpochEntry>& entries);
  // Parses a file's text; end offsets filled in (last open). An error names what is wrong.
  static Result<std::vector<EpochEntry>, std::string> parse(std::string_view text);

 private:
  EpochFile(FileSystem& fs, std::string path) : fs_(&fs), path_(std::move(path)) {}
  EpochEntry with_end(size_t i) const;
  // Persists `next` (unless empty) and then adopts it.
  Result<Unit, std::string> replace(std::vector<EpochEntry> next);

  FileSystem* fs_;
  std::string path_;
  std::vector<EpochEntry> starts_;  // end_offset unused; derived by with_end()
  // The bytes last read from or written to disk successfully; what the next write backs up.
  std::optional<std::string> persisted_text_;
  std::string load_warning_;
};

}  // namespace mq::store
