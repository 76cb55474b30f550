#include "raft/disk_log.h"

#include <algorithm>
#include <cstring>
#include <cctype>
#include <charconv>
#include <map>

#include "base/bytes.h"
#include "base/check.h"
#include "raft/entry_codec.h"

namespace mq::raft {

const char* to_string(DiskError e) {
  switch (e) {
    case DiskError::kIo: return "io error";
    case DiskError::kNoSpace: return "disk full";
    case DiskError::kCorrupt: return "corrupt";
    case DiskError::kTooLarge: return "entry too large";
    case DiskError::kOutOfRange: return "index out of range";
  }
  return "?";
}

std::string decimal_peer_name(NodeId id) { return std::to_string(id); }

std::optional<NodeId> parse_peer_id(std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && std::isalpha(static_cast<unsigned char>(text[digits]))) ++digits;
  const std::string_view num = text.substr(digits);
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
  if (num.empty() || ec != std::errc() || end != num.data() + num.size() || v >= kNoNode)
    return std::nullopt;
  return static_cast<NodeId>(v);
}

namespace {

Error<DiskError> disk_error(const Error<store::IoError>& e) {
  switch (e.code) {
    case store::IoError::kNoSpace: return make_error(DiskError::kNoSpace, e.detail);
    case store::IoError::kCorrupt: return make_error(DiskError::kCorrupt, e.detail);
    default: return make_error(DiskError::kIo, e.detail);
  }
}

// Reads exactly n bytes; the files of the log have their full size, so a short read means the
// file changed under us.
Result<Unit, DiskError> read_exact(const store::File& f, int64_t off, void* buf, size_t n) {
  auto r = f.read_at(off, buf, n);
  if (!r) return disk_error(r.error());
  if (*r != n) return make_error(DiskError::kIo, "short read at " + std::to_string(off));
  return Unit{};
}

void put_unit(std::string& out, int64_t pos, int32_t size, int64_t dledger_index, int64_t term) {
  ByteWriter w(out);
  w.i32(kEntryMagic);
  w.i64(pos);
  w.i32(size);
  w.i64(dledger_index);
  w.i64(term);
}

}  // namespace

DiskLog::DiskLog(store::FileSystem& fs, std::string dir, DiskLogOptions options)
    : fs_(&fs), dir_(std::move(dir)), opt_(std::move(options)) {}
DiskLog::~DiskLog() { (void)flush_index_units(); }

namespace {
constexpr size_t kMaxPendingIndexBytes = 1 << 20;
}

Result<Unit, DiskError> DiskLog::flush_index_units() {
  if (pending_units_.empty()) return Unit{};
  auto r = write_index_units(pending_units_first_, pending_units_);
  if (r) pending_units_.clear();
  return r;
}

void DiskLog::drop_pending_units_from(int64_t dledger_index) {
  if (pending_units_.empty()) return;
  const int64_t keep = std::max<int64_t>(0, dledger_index - pending_units_first_);
  if (static_cast<size_t>(keep) * 32 < pending_units_.size()) pending_units_.resize(static_cast<size_t>(keep) * 32);
}

std::string DiskLog::data_path(int64_t start) const {
  return dir_ + "/data/" + store::offset_to_file_name(start);
}
std::string DiskLog::index_path(int64_t start) const {
  return dir_ + "/index/" + store::offset_to_file_name(start);
}

Result<DiskLog::Segment, DiskError> DiskLog::open_segment(const std::string& path, int64_t start,
                                                          int64_t size, bool create) {
  auto f = fs_->open(path, create);
  if (!f) return disk_error(f.error());
  const int64_t have = (*f)->size();
  if (have > size)
    return make_error(DiskError::kCorrupt, path + " holds " + std::to_string(have) + " bytes, more than " +
                                               std::to_string(size));
  // Sparse at full size, so unwritten space reads as zeros (a crash during creation, or a fixture
  // stored without its trailing zeros, leaves it shorter).
  if (have != size) {
    auto t = (*f)->truncate(size);
    if (!t) return disk_error(t.error());
  }
  return Segment{start, std::shared_ptr<store::File>(std::move(*f))};
}

Result<std::unique_ptr<DiskLog>, DiskError> DiskLog::open(store::FileSystem& fs, const std::string& dir,
                                                          DiskLogOptions options) {
  MQ_CHECK(options.data_file_size > static_cast<int64_t>(kEntryHeaderSize) + 8, "data files too small");
  MQ_CHECK(options.index_file_size >= 32 && options.index_file_size % 32 == 0,
           "index files hold whole 32-byte units");
  auto log = std::unique_ptr<DiskLog>(new DiskLog(fs, dir, std::move(options)));
  for (const bool data : {true, false}) {
    const std::string path = dir + (data ? "/data" : "/index");
    auto made = fs.create_directories(path);
    if (!made) return disk_error(made.error());
    auto names = fs.list(path);
    if (!names) return disk_error(names.error());
    std::vector<int64_t> starts;
    for (const std::string& n : *names) {
      int64_t v;
      if (store::parse_offset_file_name(n, &v)) starts.push_back(v);
    }
    std::sort(starts.begin(), starts.end());
    const int64_t size = data ? log->opt_.data_file_size : log->opt_.index_file_size;
    std::vector<Segment>& segments = data ? log->data_ : log->index_;
    for (int64_t start : starts) {
      if (!data && start % size != 0) continue;  // not ours; leave it alone
      if (data && (start % size != 0 || (!segments.empty() && start != segments.back().start + size)))
        return make_error(DiskError::kCorrupt, "data files not contiguous at " + log->data_path(start));
      auto seg = log->open_segment(data ? log->data_path(start) : log->index_path(start), start, size, false);
      if (!seg) return seg.error();
      segments.push_back(std::move(*seg));
    }
  }
  auto rec = log->recover();
  if (!rec) return rec.error();
  return log;
}

size_t DiskLog::data_slot(int64_t pos) const {
  if (data_.empty() || pos < data_.front().start) return data_.size();
  return std::min(data_.size(), static_cast<size_t>((pos - data_.front().start) / opt_.data_file_size));
}

Result<DiskLog::Segment*, DiskError> DiskLog::data_file(int64_t start, bool create) {
  if (const size_t i = data_slot(start); i < data_.size()) return &data_[i];
  if (!create) return make_error(DiskError::kOutOfRange, "no data file at " + std::to_string(start));
  MQ_CHECK(data_.empty() || start == data_.back().start + opt_.data_file_size, "data files grow in order");
  auto seg = open_segment(data_path(start), start, opt_.data_file_size, true);
  if (!seg) return seg.error();
  data_dir_dirty_ = true;
  data_.push_back(std::move(*seg));
  return &data_.back();
}

Result<DiskLog::Segment*, DiskError> DiskLog::index_file(int64_t start, bool create) {
  auto it = std::lower_bound(index_.begin(), index_.end(), start,
                             [](const Segment& s, int64_t v) { return s.start < v; });
  if (it != index_.end() && it->start == start) return &*it;
  if (!create) return make_error(DiskError::kOutOfRange, "no index file at " + std::to_string(start));
  // Never synced, not even its directory entry: recovery rebuilds the index from the data files.
  auto seg = open_segment(index_path(start), start, opt_.index_file_size, true);
  if (!seg) return seg.error();
  return &*index_.insert(it, std::move(*seg));
}

Result<Unit, DiskError> DiskLog::write_index_units(int64_t first_dledger_index, const std::string& units) {
  int64_t off = first_dledger_index * 32;
  size_t done = 0;
  while (done < units.size()) {
    const int64_t start = off - off % opt_.index_file_size;
    auto f = index_file(start, true);
    if (!f) return f.error();
    const size_t n = std::min(units.size() - done, static_cast<size_t>(start + opt_.index_file_size - off));
    auto w = (*f)->file->write_at(off - start, units.data() + done, n);
    if (!w) return disk_error(w.error());
    done += n;
    off += static_cast<int64_t>(n);
  }
  return Unit{};
}

Result<Unit, DiskError> DiskLog::recover() {
  recovery_ = RecoveryReport{};
  count_ = 0;
  last_chain_ = 0;
  last_term_ = Term{0};
  first_index_ = RaftIndex{1};
  end_pos_ = data_.empty() ? 0 : data_.front().start;

  std::string units;
  int64_t units_first = 0;
  auto flush_units = [&]() -> Result<Unit, DiskError> {
    auto r = write_index_units(units_first, units);
    units_first += static_cast<int64_t>(units.size() / 32);
    units.clear();
    return r;
  };

  const int64_t size = opt_.data_file_size;
  std::string reason;
  bool ended = false;  // the log ends inside the file being scanned
  std::string buf;     // a window of that file
  for (size_t fi = 0; fi < data_.size() && !ended; ++fi) {
    const Segment& f = data_[fi];
    int64_t win = 0;
    buf.clear();
    // [off, off + n) of the file, read in windows of 4 MiB (entries never straddle files).
    auto view = [&](int64_t off, size_t n) -> Result<const uint8_t*, DiskError> {
      if (off < win || off + static_cast<int64_t>(n) > win + static_cast<int64_t>(buf.size())) {
        buf.resize(static_cast<size_t>(std::min<int64_t>(std::max<size_t>(n, 4 << 20), size - off)));
        auto r = read_exact(*f.file, off, buf.data(), buf.size());
        if (!r) return r.error();
        win = off;
      }
      return reinterpret_cast<const uint8_t*>(buf.data()) + (off - win);
    };
    int64_t off = 0;
    while (off < size) {
      const int64_t pos = f.start + off;
      if (size - off < 8) {
        reason = "no room for a record at the end of a file";
        break;
      }
      auto h = view(off, 8);
      if (!h) return h.error();
      const auto magic = static_cast<int32_t>(get_be32(*h));
      if (magic == kBlankMagic) {
        if (static_cast<int32_t>(get_be32(*h + 4)) != size - off) reason = "bad blank record";
        else end_pos_ = f.start + size;
        break;
      }
      if (magic == 0) break;  // never written: the clean end of the log
      int64_t entry_size = -1;
      if (magic == kEntryMagic && size - off >= static_cast<int64_t>(kEntryHeaderSize)) {
        auto hdr = view(off, kEntryHeaderSize);
        if (!hdr) return hdr.error();
        entry_size = static_cast<int32_t>(get_be32(*hdr + 4));
      }
      if (entry_size < static_cast<int64_t>(kEntryHeaderSize) || off + entry_size > size) {
        reason = "bad entry header";
        break;
      }
      auto whole = view(off, static_cast<size_t>(entry_size));
      if (!whole) return whole.error();
      ByteReader r(*whole, static_cast<size_t>(entry_size));
      auto d = decode_entry(r, true);
      if (!d || r.remaining() != 0) {
        reason = "entry fails its checks (torn write or body CRC)";
      } else if (count_ > 0 && d->entry.index != next_index(last_index())) {
        reason = "index out of sequence";
      } else if (d->entry.term < last_term_) {
        reason = "term goes backwards";
      } else if (d->pos != pos) {
        reason = "pos does not match its position";
      } else if (!d->unchecked && (count_ > 0 || d->entry.index.value == 1) &&
                 d->chain_crc != entry_chain_crc(last_chain_, d->entry.index.value - 1,
                                                 d->entry.term.value, d->body_crc)) {
        reason = "chain CRC mismatch";
      }
      if (!reason.empty()) break;
      if (count_ == 0) {
        first_index_ = d->entry.index;
        units_first = first_index_.value - 1;
      }
      ++count_;
      last_chain_ = d->chain_crc;
      last_term_ = d->entry.term;
      put_unit(units, pos, static_cast<int32_t>(entry_size), d->entry.index.value - 1, d->entry.term.value);
      if (units.size() >= (4 << 20)) {
        auto u = flush_units();
        if (!u) return u;
      }
      off += entry_size;
      end_pos_ = f.start + off;
    }
    // The scan of this file ended before its BLANK record: so does the log.
    ended = end_pos_ < f.start + size;
  }
  auto u = flush_units();
  if (!u) return u;
  recovery_.entries = count_;
  recovery_.stopped_because = reason;
  if (!reason.empty()) {
    for (const Segment& f : data_)
      recovery_.discarded_bytes += std::max<int64_t>(0, f.start + size - std::max(end_pos_, f.start));
  }
  auto c = cut_at(end_pos_);
  if (!c) return c;
  return sync();
}

Result<Unit, DiskError> DiskLog::cut_at(int64_t pos) {
  while (!data_.empty() && data_.back().start > pos) {
    const std::string path = data_path(data_.back().start);
    data_.pop_back();
    auto r = fs_->remove(path);
    if (!r) return disk_error(r.error());
    data_dir_dirty_ = true;
  }
  if (!data_.empty() && pos < data_.back().start + opt_.data_file_size) {
    // Zero [pos, end): drop the blocks, then extend back (a hole reads as zeros).
    Segment& s = data_.back();
    auto t = s.file->truncate(pos - s.start);
    if (t) t = s.file->truncate(opt_.data_file_size);
    if (!t) return disk_error(t.error());
    s.dirty = true;
  }
  return Unit{};
}

Result<int, DiskError> DiskLog::delete_leading_files(int64_t keep_from_pos, const std::function<bool(int64_t)>& expired,
                                                     int max_files) {
  int deleted = 0;
  while (deleted < max_files && data_.size() > 1 && count_ > 0) {
    const Segment& first = data_.front();
    const Segment& next = data_[1];
    if (first.start + opt_.data_file_size > keep_from_pos || next.start >= end_pos_) break;
    if (!expired(first.file->mtime_ms())) break;
    // A file starts with an entry (one that did not fit the previous file's rest): it becomes the
    // log's first.
    auto head = read_raw(next.start, kEntryHeaderSize);
    if (!head) return head.error();
    ByteReader r(*head);
    const int32_t magic = r.i32();
    r.i32();
    const int64_t dledger_index = r.i64();
    if (!r.ok() || magic != kEntryMagic || dledger_index + 1 <= first_index_.value ||
        dledger_index + 1 > last_index().value)
      return make_error(DiskError::kCorrupt, "no entry at the start of " + data_path(next.start));
    const std::string path = data_path(first.start);
    data_.erase(data_.begin());
    auto rm = fs_->remove(path);
    if (!rm) return disk_error(rm.error());
    data_dir_dirty_ = true;
    count_ -= dledger_index + 1 - first_index_.value;
    first_index_ = RaftIndex{dledger_index + 1};
    ++deleted;
  }
  const int64_t first_unit_byte = (first_index_.value - 1) * 32;
  while (index_.size() > 1 && index_.front().start + opt_.index_file_size <= first_unit_byte) {
    const std::string path = index_path(index_.front().start);
    index_.erase(index_.begin());
    auto rm = fs_->remove(path);
    if (!rm) return disk_error(rm.error());
  }
  return deleted;
}

Result<Unit, DiskError> DiskLog::append(const std::vector<Entry>& entries) {
  if (entries.empty()) return Unit{};
  const RaftIndex first = entries.front().index;
  for (size_t i = 1; i < entries.size(); ++i)
    MQ_CHECK(entries[i].index == next_index(entries[i - 1].index), "entries must be contiguous");
  if (count_ == 0 && data_.empty()) {
    first_index_ = first;
  } else if (first < first_index_ || first > next_index(last_index())) {
    return make_error(DiskError::kOutOfRange, "append at " + std::to_string(first.value) +
                                                  " to a log ending at " + std::to_string(last_index().value));
  }
  // An index decode_entry refuses would be written, synced and then lost at the next open (found
  // by libFuzzer: a log recovered with its last entry at the largest index took one more).
  if (entries.back().index.value - 1 > kMaxDLedgerIndex)
    return make_error(DiskError::kOutOfRange, "append at " + std::to_string(entries.back().index.value) +
                                                  ": beyond the largest DLedger index");
  if (first <= last_index() && count_ > 0) {
    auto t = truncate_suffix(first);
    if (!t) return t;
  }
  if (count_ == 0) first_index_ = first;
  // A failed write (a full disk) leaves the log as it was before this call, so the caller may
  // append the same entries again once there is room. Bytes that did reach the file past the
  // restored end are overwritten by that retry (or, after a crash, are entries nobody
  // acknowledged: the next leader's log decides).
  const int64_t saved_end_pos = end_pos_, saved_count = count_;
  const RaftIndex saved_first = first_index_;
  const Term saved_last_term = last_term_;
  const uint32_t saved_chain = last_chain_;
  auto rollback = [&](Result<Unit, DiskError> failed) {
    end_pos_ = saved_end_pos;
    count_ = saved_count;
    first_index_ = saved_first;
    last_term_ = saved_last_term;
    last_chain_ = saved_chain;
    return failed;
  };

  std::string buf;  // contiguous bytes for the current data file, from buf_pos
  int64_t buf_pos = end_pos_;
  std::string units;
  auto flush = [&]() -> Result<Unit, DiskError> {
    if (buf.empty()) return Unit{};
    const int64_t start = buf_pos - buf_pos % opt_.data_file_size;
    auto f = data_file(start, true);
    if (!f) return f.error();
    auto w = (*f)->file->write_at(buf_pos - start, buf.data(), buf.size());
    (*f)->dirty = true;
    buf.clear();
    if (!w) return disk_error(w.error());
    return Unit{};
  };
  for (const Entry& e : entries) {
    const int64_t size = static_cast<int64_t>(kEntryHeaderSize + e.data.size());
    if (size + 8 > opt_.data_file_size)
      return rollback(make_error(DiskError::kTooLarge, "entry of " + std::to_string(size) + " bytes"));
    const int64_t rest = opt_.data_file_size - end_pos_ % opt_.data_file_size;
    if (size + 8 > rest) {
      // Close the file with a BLANK record and continue in the next one.
      if (buf.empty()) buf_pos = end_pos_;
      ByteWriter w(buf);
      w.i32(kBlankMagic);
      w.i32(static_cast<int32_t>(rest));
      auto fl = flush();
      if (!fl) return rollback(fl);
      end_pos_ += rest;
    }
    if (buf.empty()) buf_pos = end_pos_;
    const size_t at = buf.size();
    ByteWriter w(buf);
    encode_entry_header(w, e, end_pos_, 0, 0);
    w.raw(e.data);
    if (opt_.append_hook) opt_.append_hook(e, end_pos_, buf.data() + at + kEntryHeaderSize, e.data.size());
    last_chain_ = seal_entry(buf.data() + at, last_chain_);
    put_unit(units, end_pos_, static_cast<int32_t>(size), e.index.value - 1, e.term.value);
    end_pos_ += size;
    last_term_ = e.term;
    ++count_;
  }
  auto fl = flush();
  if (!fl) return rollback(fl);
  // Index units wait in memory (contiguous with those already waiting, which a truncation above
  // has cut back to first - 1).
  const int64_t first_unit = first.value - 1;
  if (!pending_units_.empty() &&
      first_unit != pending_units_first_ + static_cast<int64_t>(pending_units_.size() / 32)) {
    auto f = flush_index_units();
    if (!f) return f;
  }
  if (pending_units_.empty()) pending_units_first_ = first_unit;
  pending_units_ += units;
  if (pending_units_.size() >= kMaxPendingIndexBytes) return flush_index_units();
  return Unit{};
}

Result<DiskLog::Unit32, DiskError> DiskLog::read_unit(RaftIndex index) const {
  if (count_ == 0 || index < first_index_ || index > last_index())
    return make_error(DiskError::kOutOfRange, "no entry " + std::to_string(index.value));
  const int64_t off = (index.value - 1) * 32;
  uint8_t b[32];
  const int64_t in_pending = index.value - 1 - pending_units_first_;
  if (in_pending >= 0 && static_cast<size_t>(in_pending) < pending_units_.size() / 32) {
    std::memcpy(b, pending_units_.data() + in_pending * 32, sizeof b);
  } else {
    const int64_t start = off - off % opt_.index_file_size;
    auto it = std::lower_bound(index_.begin(), index_.end(), start,
                               [](const Segment& s, int64_t v) { return s.start < v; });
    if (it == index_.end() || it->start != start)
      return make_error(DiskError::kCorrupt, "missing index file for " + std::to_string(index.value));
    auto r = read_exact(*it->file, off - start, b, sizeof b);
    if (!r) return r.error();
  }
  ByteReader br(b, sizeof b);
  const int32_t magic = br.i32();
  Unit32 u{br.i64(), br.i32(), br.i64(), br.i64()};
  if (magic != kEntryMagic || u.index != index.value - 1 || u.size < static_cast<int32_t>(kEntryHeaderSize))
    return make_error(DiskError::kCorrupt, "bad index unit for " + std::to_string(index.value));
  return u;
}

Result<int64_t, DiskError> DiskLog::pos_of(RaftIndex index) const {
  auto u = read_unit(index);
  if (!u) return u.error();
  return u->pos;
}

Result<std::string, DiskError> DiskLog::read_raw(int64_t pos, size_t n) const {
  if (data_.empty() || pos < data_.front().start || pos + static_cast<int64_t>(n) > end_pos_)
    return make_error(DiskError::kOutOfRange, std::to_string(n) + " bytes at " + std::to_string(pos) +
                                                  " beyond the log end " + std::to_string(end_pos_));
  std::string out(n, '\0');
  for (size_t done = 0; done < n;) {
    const int64_t at = pos + static_cast<int64_t>(done);
    const size_t i = data_slot(at);
    MQ_CHECK(i < data_.size(), "data files cover the log");
    const Segment& s = data_[i];
    const size_t len = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(n - done),
                                                             s.start + opt_.data_file_size - at));
    auto r = read_exact(*s.file, at - s.start, out.data() + done, len);
    if (!r) return r.error();
    done += len;
  }
  return out;
}

Result<Entry, DiskError> DiskLog::read(RaftIndex index) const {
  auto u = read_unit(index);
  if (!u) return u.error();
  auto bytes = read_raw(u->pos, static_cast<size_t>(u->size));
  if (!bytes) return bytes.error();
  ByteReader br(*bytes);
  auto d = decode_entry(br, true);
  if (!d || d->entry.index != index || d->pos != u->pos)
    return make_error(DiskError::kCorrupt, "entry " + std::to_string(index.value) + " does not check");
  return std::move(d->entry);
}

Result<std::vector<Entry>, DiskError> DiskLog::read_all() const {
  std::vector<Entry> out;
  out.reserve(static_cast<size_t>(count_));
  for (int64_t i = 0; i < count_; ++i) {
    auto e = read(RaftIndex{first_index_.value + i});
    if (!e) return e.error();
    out.push_back(std::move(*e));
  }
  return out;
}

Result<RaftIndex, DiskError> DiskLog::index_at_or_after_pos(int64_t pos) const {
  // Entry positions grow with their index: find the first entry at or after `pos`.
  int64_t lo = first_index_.value, hi = first_index_.value + count_;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    auto p = pos_of(RaftIndex{mid});
    if (!p) return p.error();
    if (*p < pos) lo = mid + 1;
    else hi = mid;
  }
  return RaftIndex{lo};
}

Result<Unit, DiskError> DiskLog::truncate_suffix(RaftIndex from) {
  if (count_ == 0 || from > last_index()) return Unit{};
  if (from <= first_index_) {
    pending_units_.clear();
    auto c = cut_at(data_.empty() ? 0 : data_.front().start);
    if (!c) return c;
    end_pos_ = data_.empty() ? 0 : data_.front().start;
    count_ = 0;
    last_chain_ = 0;
    last_term_ = Term{0};
    return Unit{};
  }
  auto cut = pos_of(from);
  if (!cut) return cut.error();
  auto prev = read_unit(prev_index(from));
  if (!prev) return prev.error();
  // The next entry chains from the predecessor's chainCrc, in its header.
  auto hdr = read_raw(prev->pos, kEntryHeaderSize);
  if (!hdr) return hdr.error();
  auto c = cut_at(*cut);
  if (!c) return c;
  drop_pending_units_from(from.value - 1);
  end_pos_ = *cut;
  count_ = from.value - first_index_.value;
  last_chain_ = get_be32(reinterpret_cast<const uint8_t*>(hdr->data()) + 36);
  last_term_ = Term{prev->term};
  return Unit{};
}

DiskLog::SyncJob DiskLog::prepare_sync() {
  // Only the data files: the index is rebuilt from them by every recovery, so syncing it would
  // cost an fsync per Ready and buy nothing.
  SyncJob job;
  job.fs_ = fs_;
  job.end_pos_ = end_pos_;
  // A failed index write keeps the units in memory (reads still see them) and is tried again at
  // the next sync; the data files, which the index is rebuilt from, are what this job is about.
  (void)flush_index_units();
  for (Segment& s : data_) {
    if (!s.dirty) continue;
    job.files_.push_back(s.file);
    s.dirty = false;
  }
  if (data_dir_dirty_) job.sync_dir_ = dir_ + "/data";
  data_dir_dirty_ = false;
  return job;
}

Result<int64_t, DiskError> DiskLog::SyncJob::run() {
  for (const auto& f : files_) {
    auto r = f->sync();
    if (!r) return disk_error(r.error());
  }
  if (!sync_dir_.empty()) {
    auto r = fs_->sync_directory(sync_dir_);
    if (!r) return disk_error(r.error());
  }
  return end_pos_;
}

Result<Unit, DiskError> DiskLog::sync() {
  auto r = prepare_sync().run();
  if (!r) return r.error();
  return Unit{};
}

// ---------------------------------------------------------------------------------------------
// currterm and checkpoint

namespace {

using Properties = std::map<std::string, std::string, std::less<>>;

std::optional<int64_t> parse_int(std::string_view s) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// Java properties text as DLedger writes it (`key=value` lines); nullopt when the file is absent.
Result<std::optional<Properties>, DiskError> read_properties(store::FileSystem& fs, const std::string& path) {
  auto text = store::read_whole_file(fs, path);
  if (!text) {
    if (text.code() == store::IoError::kNotFound) return std::optional<Properties>{};
    return disk_error(text.error());
  }
  Properties props;
  size_t at = 0;
  while (at < text->size()) {
    size_t eol = text->find('\n', at);
    if (eol == std::string::npos) eol = text->size();
    std::string_view line = std::string_view(*text).substr(at, eol - at);
    at = eol + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line[0] == '#' || line[0] == '!') continue;
    const size_t eq = line.find('=');
    if (eq == std::string::npos)
      return make_error(DiskError::kCorrupt, path + ": bad line '" + std::string(line) + "'");
    props[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
  }
  return std::optional<Properties>{std::move(props)};
}

// DLedger's IOUtils.string2File: the previous content to `<path>.bak`, then the new content over
// `path` (here atomically).
Result<Unit, DiskError> write_properties(store::FileSystem& fs, const std::string& path,
                                         const std::string& text) {
  auto prev = store::read_whole_file(fs, path);
  if (prev) {
    auto bak = fs.open(path + ".bak", true);
    if (!bak) return disk_error(bak.error());
    auto w = (*bak)->truncate(0);
    if (w) w = (*bak)->write_at(0, prev->data(), prev->size());
    if (!w) return disk_error(w.error());
  } else if (prev.code() != store::IoError::kNotFound) {
    return disk_error(prev.error());
  }
  auto w = store::write_file_atomically(fs, path, text);
  if (!w) return disk_error(w.error());
  return Unit{};
}

Error<DiskError> bad_entry(const std::string& path, const std::string& key, const std::string& value) {
  return make_error(DiskError::kCorrupt, path + ": bad entry '" + key + "=" + value + "'");
}

}  // namespace

Result<std::optional<HardState>, DiskError> load_hard_state(store::FileSystem& fs, const std::string& dir) {
  const std::string term_path = dir + "/currterm", checkpoint_path = dir + "/checkpoint";
  auto term_file = read_properties(fs, term_path);
  if (!term_file) return term_file.error();
  auto checkpoint = read_properties(fs, checkpoint_path);
  if (!checkpoint) return checkpoint.error();
  if (!*term_file && !*checkpoint) return std::optional<HardState>{};
  HardState hs;
  if (*term_file) {
    bool have_term = false;
    for (const auto& [key, value] : **term_file) {
      const auto n = parse_int(value);
      if (key == "currTerm" && n && *n >= 0) {
        hs.term = Term{*n};
        have_term = true;
      } else if (const auto peer = parse_peer_id(value); key == "voteLeader" && (value.empty() || peer)) {
        hs.vote = peer.value_or(kNoNode);
      } else if (key == "committedIndex" && n && *n >= 0) {
        hs.commit = RaftIndex{*n};  // written here before the checkpoint file took it over
      } else {
        return bad_entry(term_path, key, value);
      }
    }
    if (!have_term) return make_error(DiskError::kCorrupt, term_path + ": no currTerm");
  }
  if (*checkpoint) {
    bool have_commit = false;
    for (const auto& [key, value] : **checkpoint) {
      const auto n = parse_int(value);
      if (!n || *n < -1 || (key != "committedIndex" && key != "endIndex"))
        return bad_entry(checkpoint_path, key, value);
      if (key == "committedIndex") {
        hs.commit = RaftIndex{*n + 1};
        have_commit = true;
      }
    }
    if (!have_commit) return make_error(DiskError::kCorrupt, checkpoint_path + ": no committedIndex");
  }
  return std::optional<HardState>{hs};
}

Result<Unit, DiskError> save_hard_state(store::FileSystem& fs, const std::string& dir, const HardState& hs,
                                        const PeerName& peer_name) {
  return write_properties(fs, dir + "/currterm",
                          "voteLeader=" + (hs.vote == kNoNode ? std::string() : peer_name(hs.vote)) +
                              "\ncurrTerm=" + std::to_string(hs.term.value) + "\n");
}

Result<Unit, DiskError> save_checkpoint(store::FileSystem& fs, const std::string& dir, RaftIndex end,
                                        RaftIndex committed) {
  return write_properties(fs, dir + "/checkpoint",
                          "committedIndex=" + std::to_string(committed.value - 1) +
                              "\nendIndex=" + std::to_string(end.value - 1) + "\n");
}

// ---------------------------------------------------------------------------------------------
// Glue helpers

Result<Unit, DiskError> persist_ready(DiskLog& log, const Ready& rd, HardState& last,
                                      const PeerName& peer_name) {
  if (!rd.entries.empty()) {
    auto a = log.append(rd.entries);
    if (!a) return a;
    auto s = log.sync();
    if (!s) return s;
  }
  if (!rd.hard_state) return Unit{};
  if (rd.hard_state->term != last.term || rd.hard_state->vote != last.vote) {
    auto s = save_hard_state(log.file_system(), log.dir(), *rd.hard_state, peer_name);
    if (!s) return s;
  }
  last = *rd.hard_state;
  return Unit{};
}

Result<PersistedState, DiskError> load_persisted(const DiskLog& log, RaftIndex applied) {
  PersistedState ps;
  auto hs = load_hard_state(log.file_system(), log.dir());
  if (!hs) return hs.error();
  if (*hs) ps.hard_state = **hs;
  // A torn tail may have cost entries the checkpoint counted as committed (and Java's checkpoint
  // is written apart from its log). Forgetting that they were committed is safe: the leader says
  // so again. Inventing them is not, and the core refuses a commit beyond its log.
  ps.hard_state.commit = std::min(ps.hard_state.commit, log.empty() ? RaftIndex{0} : log.last_index());
  if (log.empty()) {
    if (applied.value > 0) return make_error(DiskError::kCorrupt, "state machine ahead of an empty log");
    return ps;
  }
  if (applied > log.last_index())
    return make_error(DiskError::kOutOfRange, "applied " + std::to_string(applied.value) +
                                                  " beyond the log end " + std::to_string(log.last_index().value));
  // The node starts at `applied`; the entry there must still be on disk for its term (or be the
  // empty start of the log).
  const RaftIndex offset = applied;
  if (offset.value > 0 ? offset < log.first_index() : log.first_index().value != 1)
    return make_error(DiskError::kOutOfRange, "applied " + std::to_string(applied.value) +
                                                  " is before the log start " +
                                                  std::to_string(log.first_index().value));
  if (offset.value > 0) {
    auto at = log.read(offset);
    if (!at) return at.error();
    ps.offset_term = at->term;
    for (RaftIndex i = offset; i >= log.first_index(); i = prev_index(i)) {
      auto e = log.read(i);
      if (!e) return e.error();
      if (e->type == EntryType::kMembership) {
        auto m = Membership::decode(e->data);
        if (!m) return make_error(DiskError::kCorrupt, "bad membership entry " + std::to_string(i.value));
        ps.base_membership = std::make_pair(i, std::move(*m));
        break;
      }
    }
  }
  ps.offset = offset;
  ps.applied = applied;
  for (RaftIndex i = next_index(offset); i <= log.last_index(); i = next_index(i)) {
    auto e = log.read(i);
    if (!e) return e.error();
    ps.entries.push_back(std::move(*e));
  }
  return ps;
}

}  // namespace mq::raft
