#include "raft/disk_log.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "base/bytes.h"
#include "base/check.h"
#include "raft/entry_codec.h"

namespace mq::raft {

const char* to_string(DiskError e) {
  switch (e) {
    case DiskError::kIo: return "io error";
    case DiskError::kCorrupt: return "corrupt";
    case DiskError::kTooLarge: return "entry too large";
    case DiskError::kOutOfRange: return "index out of range";
  }
  return "?";
}

namespace {

Error<DiskError> io_error(const std::string& what, const std::string& path) {
  return make_error(DiskError::kIo, what + " " + path + ": " + std::strerror(errno));
}

std::string name20(int64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020" PRId64, v);
  return buf;
}

Result<Unit, DiskError> make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) return io_error("mkdir", path);
  return Unit{};
}

Result<Unit, DiskError> fsync_dir(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return io_error("open dir", path);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return io_error("fsync dir", path);
  return Unit{};
}

// Files named by 20 decimal digits in `dir`, ascending.
Result<std::vector<int64_t>, DiskError> list_numbered(const std::string& dir) {
  std::vector<int64_t> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return io_error("opendir", dir);
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.size() != 20 || !std::all_of(n.begin(), n.end(), [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    out.push_back(std::stoll(n));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

// A plain POSIX file of fixed size with positioned I/O.
class DiskLog::File {
 public:
  static Result<std::unique_ptr<File>, DiskError> open(const std::string& path, int64_t start,
                                                       int64_t size, bool create) {
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0644);
    if (fd < 0) return io_error("open", path);
    auto f = std::unique_ptr<File>(new File(fd, path, start, size));
    struct stat st;
    if (::fstat(fd, &st) != 0) return io_error("fstat", path);
    // Sparse at full size, so unwritten space reads as zeros (a crash during creation can leave
    // it shorter).
    if (st.st_size != size && ::ftruncate(fd, size) != 0) return io_error("ftruncate", path);
    return f;
  }
  ~File() { ::close(fd_); }

  Result<Unit, DiskError> read(int64_t off, void* buf, size_t n) const {
    auto* p = static_cast<char*>(buf);
    while (n > 0) {
      ssize_t r = ::pread(fd_, p, n, off);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return io_error("pread", path_);
      if (r == 0) return make_error(DiskError::kCorrupt, "short read " + path_);
      p += r;
      off += r;
      n -= static_cast<size_t>(r);
    }
    return Unit{};
  }
  Result<Unit, DiskError> write(int64_t off, const void* buf, size_t n) {
    MQ_CHECK(off >= 0 && off + static_cast<int64_t>(n) <= size_, "write beyond the file");
    auto* p = static_cast<const char*>(buf);
    while (n > 0) {
      ssize_t r = ::pwrite(fd_, p, n, off);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return io_error("pwrite", path_);
      p += r;
      off += r;
      n -= static_cast<size_t>(r);
    }
    dirty_ = true;
    return Unit{};
  }
  // Zeroes [off, size): drop the blocks, then extend back (a hole reads as zeros).
  Result<Unit, DiskError> zero_from(int64_t off) {
    if (::ftruncate(fd_, off) != 0 || ::ftruncate(fd_, size_) != 0) return io_error("ftruncate", path_);
    dirty_ = true;
    return Unit{};
  }
  Result<Unit, DiskError> sync() {
    if (!dirty_) return Unit{};
    if (::fdatasync(fd_) != 0) return io_error("fdatasync", path_);
    dirty_ = false;
    return Unit{};
  }
  int64_t start() const { return start_; }
  int64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  File(int fd, std::string path, int64_t start, int64_t size)
      : fd_(fd), path_(std::move(path)), start_(start), size_(size) {}
  int fd_;
  std::string path_;
  int64_t start_;
  int64_t size_;
  bool dirty_ = false;
};

DiskLog::DiskLog(std::string dir, DiskLogOptions options) : dir_(std::move(dir)), opt_(options) {}
DiskLog::~DiskLog() = default;

std::string DiskLog::data_path(int64_t start) const { return dir_ + "/data/" + name20(start); }
std::string DiskLog::index_path(int64_t start) const { return dir_ + "/index/" + name20(start); }

Result<std::unique_ptr<DiskLog>, DiskError> DiskLog::open(const std::string& dir, DiskLogOptions options) {
  MQ_CHECK(options.data_file_size > static_cast<int64_t>(kEntryHeaderSize) + 8, "data files too small");
  MQ_CHECK(options.index_file_size >= 32 && options.index_file_size % 32 == 0,
           "index files hold whole 32-byte units");
  for (const std::string& d : {dir, dir + "/data", dir + "/index"}) {
    auto r = make_dir(d);
    if (!r) return r.error();
  }
  auto log = std::unique_ptr<DiskLog>(new DiskLog(dir, options));
  auto data = list_numbered(dir + "/data");
  if (!data) return data.error();
  for (int64_t start : *data) {
    if (start % options.data_file_size != 0 ||
        (!log->data_.empty() && start != log->data_.back()->start() + options.data_file_size))
      return make_error(DiskError::kCorrupt, "data files not contiguous at " + log->data_path(start));
    auto f = File::open(log->data_path(start), start, options.data_file_size, false);
    if (!f) return f.error();
    log->data_.push_back(std::move(*f));
  }
  auto index = list_numbered(dir + "/index");
  if (!index) return index.error();
  for (int64_t start : *index) {
    if (start % options.index_file_size != 0) continue;  // not ours; leave it alone
    auto f = File::open(log->index_path(start), start, options.index_file_size, false);
    if (!f) return f.error();
    log->index_.push_back(std::move(*f));
  }
  auto rec = log->recover();
  if (!rec) return rec.error();
  return log;
}

Result<DiskLog::File*, DiskError> DiskLog::data_file(int64_t start, bool create) {
  for (auto& f : data_)
    if (f->start() == start) return f.get();
  if (!create) return make_error(DiskError::kOutOfRange, "no data file at " + std::to_string(start));
  MQ_CHECK(data_.empty() || start == data_.back()->start() + opt_.data_file_size, "data files grow in order");
  auto f = File::open(data_path(start), start, opt_.data_file_size, true);
  if (!f) return f.error();
  auto d = fsync_dir(dir_ + "/data");
  if (!d) return d.error();
  data_.push_back(std::move(*f));
  return data_.back().get();
}

Result<DiskLog::File*, DiskError> DiskLog::index_file(int64_t start, bool create) {
  for (auto& f : index_)
    if (f->start() == start) return f.get();
  if (!create) return make_error(DiskError::kOutOfRange, "no index file at " + std::to_string(start));
  auto f = File::open(index_path(start), start, opt_.index_file_size, true);
  if (!f) return f.error();
  auto d = fsync_dir(dir_ + "/index");
  if (!d) return d.error();
  index_.push_back(std::move(*f));
  std::sort(index_.begin(), index_.end(), [](auto& a, auto& b) { return a->start() < b->start(); });
  for (auto& g : index_)
    if (g->start() == start) return g.get();
  MQ_CHECK(false, "index file vanished");
  return make_error(DiskError::kIo, "unreachable");
}

Result<Unit, DiskError> DiskLog::write_index_units(int64_t first_dledger_index, const std::string& units) {
  int64_t off = first_dledger_index * 32;
  size_t done = 0;
  while (done < units.size()) {
    const int64_t start = off - off % opt_.index_file_size;
    auto f = index_file(start, true);
    if (!f) return f.error();
    const size_t n = std::min(units.size() - done, static_cast<size_t>(start + opt_.index_file_size - off));
    auto w = (*f)->write(off - start, units.data() + done, n);
    if (!w) return w;
    done += n;
    off += static_cast<int64_t>(n);
  }
  return Unit{};
}

namespace {
void put_unit(std::string& out, int64_t pos, int32_t size, int64_t dledger_index, int64_t term) {
  ByteWriter w(out);
  w.i32(kEntryMagic);
  w.i64(pos);
  w.i32(size);
  w.i64(dledger_index);
  w.i64(term);
}
}  // namespace

Result<Unit, DiskError> DiskLog::recover() {
  recovery_ = RecoveryReport{};
  count_ = 0;
  last_chain_ = 0;
  last_term_ = Term{0};
  first_index_ = RaftIndex{1};
  end_pos_ = data_.empty() ? 0 : data_.front()->start();
  if (data_.empty()) return Unit{};

  std::string units;
  int64_t units_first = -1;
  auto flush_units = [&]() -> Result<Unit, DiskError> {
    if (units.empty()) return Unit{};
    auto r = write_index_units(units_first, units);
    units_first += static_cast<int64_t>(units.size() / 32);
    units.clear();
    return r;
  };

  std::string reason;
  int64_t stop = -1;
  std::string buf;
  for (size_t fi = 0; fi < data_.size() && stop < 0; ++fi) {
    File& f = *data_[fi];
    // Files are read whole in 4 MiB windows; entries never straddle files.
    int64_t off = 0;
    int64_t win_start = 0;
    buf.clear();
    auto view = [&](int64_t at, size_t n) -> const char* {
      if (at < win_start || at + static_cast<int64_t>(n) > win_start + static_cast<int64_t>(buf.size())) {
        const size_t want = std::max<size_t>(n, 4 << 20);
        const size_t len = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(want), f.size() - at));
        if (len < n) return nullptr;
        buf.resize(len);
        if (!f.read(at, buf.data(), len)) return nullptr;
        win_start = at;
      }
      return buf.data() + (at - win_start);
    };
    while (true) {
      if (off == f.size()) {
        end_pos_ = f.start() + f.size();
        break;  // exactly full (cannot happen with BLANK padding, but harmless)
      }
      const char* h = view(off, 8);
      if (!h) {
        reason = "unreadable header";
        stop = f.start() + off;
        break;
      }
      const int32_t magic = static_cast<int32_t>(get_be32(reinterpret_cast<const uint8_t*>(h)));
      if (magic == kBlankMagic) {
        const int32_t rest = static_cast<int32_t>(get_be32(reinterpret_cast<const uint8_t*>(h) + 4));
        if (rest != f.size() - off) {
          reason = "bad blank record";
          stop = f.start() + off;
        } else {
          end_pos_ = f.start() + f.size();
        }
        break;
      }
      if (magic == 0) {
        stop = f.start() + off;
        break;  // never written: the clean end of the log
      }
      const char* hdr = view(off, kEntryHeaderSize);
      const int32_t size = hdr ? static_cast<int32_t>(get_be32(reinterpret_cast<const uint8_t*>(hdr) + 4)) : -1;
      if (!hdr || magic != kEntryMagic || size < static_cast<int32_t>(kEntryHeaderSize) ||
          off + size > f.size()) {
        reason = "bad entry header";
        stop = f.start() + off;
        break;
      }
      const char* whole = view(off, static_cast<size_t>(size));
      if (!whole) {
        reason = "unreadable entry";
        stop = f.start() + off;
        break;
      }
      ByteReader r(whole, static_cast<size_t>(size));
      auto d = decode_entry(r);
      const int64_t pos = f.start() + off;
      if (!d || r.remaining() != 0) {
        reason = "entry fails its checks (torn write or body CRC)";
      } else if (count_ > 0 && d->entry.index != next_index(last_index())) {
        reason = "index out of sequence";
      } else if (d->entry.term < last_term_) {
        reason = "term goes backwards";
      } else if (d->pos != pos) {
        reason = "pos does not match its position";
      } else if ((count_ > 0 || d->entry.index.value == 1) &&
                 d->chain_crc != entry_chain_crc(last_chain_, d->entry.index.value - 1,
                                                 d->entry.term.value, d->body_crc)) {
        reason = "chain CRC mismatch";
      }
      if (!reason.empty()) {
        stop = pos;
        break;
      }
      if (count_ == 0) {
        first_index_ = d->entry.index;
        units_first = first_index_.value - 1;
      }
      ++count_;
      last_chain_ = d->chain_crc;
      last_term_ = d->entry.term;
      put_unit(units, pos, size, d->entry.index.value - 1, d->entry.term.value);
      if (units.size() >= (4 << 20)) {
        auto u = flush_units();
        if (!u) return u;
      }
      off += size;
      end_pos_ = f.start() + off;
    }
  }
  auto u = flush_units();
  if (!u) return u;
  recovery_.entries = count_;
  recovery_.stopped_because = reason;
  if (stop < 0) stop = end_pos_;
  if (!reason.empty()) {
    for (auto& f : data_)
      if (f->start() + f->size() > stop)
        recovery_.discarded_bytes += f->start() + f->size() - std::max(stop, f->start());
  }
  end_pos_ = stop;
  auto c = cut_at(stop);
  if (!c) return c;
  return sync();
}

Result<Unit, DiskError> DiskLog::cut_at(int64_t pos) {
  bool removed = false;
  while (!data_.empty() && data_.back()->start() > pos) {
    const std::string path = data_.back()->path();
    data_.pop_back();
    if (::unlink(path.c_str()) != 0) return io_error("unlink", path);
    removed = true;
  }
  if (!data_.empty() && pos < data_.back()->start() + data_.back()->size()) {
    auto z = data_.back()->zero_from(pos - data_.back()->start());
    if (!z) return z;
  }
  if (removed) return fsync_dir(dir_ + "/data");
  return Unit{};
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
  if (first <= last_index() && count_ > 0) {
    auto t = truncate_suffix(first);
    if (!t) return t;
  }
  if (count_ == 0) first_index_ = first;

  std::string buf;  // contiguous bytes for the current data file
  int64_t buf_pos = end_pos_;
  std::string units;
  auto flush = [&]() -> Result<Unit, DiskError> {
    if (buf.empty()) return Unit{};
    const int64_t start = buf_pos - buf_pos % opt_.data_file_size;
    auto f = data_file(start, true);
    if (!f) return f.error();
    auto w = (*f)->write(buf_pos - start, buf.data(), buf.size());
    buf.clear();
    return w;
  };
  for (const Entry& e : entries) {
    const int64_t size = static_cast<int64_t>(kEntryHeaderSize + e.data.size());
    if (size + 8 > opt_.data_file_size) return make_error(DiskError::kTooLarge, "entry of " + std::to_string(size) + " bytes");
    const int64_t in_file = end_pos_ % opt_.data_file_size;
    const int64_t rest = opt_.data_file_size - in_file;
    if (size + 8 > rest) {
      // Close the file with a BLANK record and continue in the next one.
      if (buf.empty()) buf_pos = end_pos_;
      ByteWriter w(buf);
      w.i32(kBlankMagic);
      w.i32(static_cast<int32_t>(rest));
      auto fl = flush();
      if (!fl) return fl;
      end_pos_ += rest;
    }
    if (buf.empty()) buf_pos = end_pos_;
    const uint32_t body_crc = entry_body_crc(e.data);
    const uint32_t chain = entry_chain_crc(count_ == 0 ? 0 : last_chain_, e.index.value - 1, e.term.value, body_crc);
    ByteWriter w(buf);
    encode_entry(w, e, end_pos_, chain);
    put_unit(units, end_pos_, static_cast<int32_t>(size), e.index.value - 1, e.term.value);
    end_pos_ += size;
    last_chain_ = chain;
    last_term_ = e.term;
    ++count_;
  }
  auto fl = flush();
  if (!fl) return fl;
  return write_index_units(first.value - 1, units);
}

Result<DiskLog::Unit32, DiskError> DiskLog::read_unit(RaftIndex index) const {
  if (count_ == 0 || index < first_index_ || index > last_index())
    return make_error(DiskError::kOutOfRange, "no entry " + std::to_string(index.value));
  const int64_t off = (index.value - 1) * 32;
  const int64_t start = off - off % opt_.index_file_size;
  const File* f = nullptr;
  for (auto& g : index_)
    if (g->start() == start) f = g.get();
  if (!f) return make_error(DiskError::kCorrupt, "missing index file for " + std::to_string(index.value));
  uint8_t b[32];
  auto r = f->read(off - start, b, sizeof b);
  if (!r) return r.error();
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

Result<Entry, DiskError> DiskLog::read(RaftIndex index) const {
  auto u = read_unit(index);
  if (!u) return u.error();
  const int64_t start = u->pos - u->pos % opt_.data_file_size;
  const File* f = nullptr;
  for (auto& g : data_)
    if (g->start() == start) f = g.get();
  if (!f) return make_error(DiskError::kCorrupt, "missing data file for " + std::to_string(index.value));
  std::string buf(static_cast<size_t>(u->size), '\0');
  auto r = f->read(u->pos - start, buf.data(), buf.size());
  if (!r) return r.error();
  ByteReader br(buf);
  auto d = decode_entry(br);
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

Result<Unit, DiskError> DiskLog::truncate_suffix(RaftIndex from) {
  if (count_ == 0 || from > last_index()) return Unit{};
  if (from <= first_index_) {
    auto c = cut_at(data_.empty() ? 0 : data_.front()->start());
    if (!c) return c;
    end_pos_ = data_.empty() ? 0 : data_.front()->start();
    count_ = 0;
    last_chain_ = 0;
    last_term_ = Term{0};
    return Unit{};
  }
  auto cut = pos_of(from);
  if (!cut) return cut.error();
  auto prev = read(prev_index(from));
  if (!prev) return prev.error();
  auto prev_pos = pos_of(prev_index(from));
  if (!prev_pos) return prev_pos.error();
  // The predecessor's chain CRC is in its header.
  const int64_t start = *prev_pos - *prev_pos % opt_.data_file_size;
  auto f = data_file(start, false);
  if (!f) return f.error();
  uint8_t hdr[kEntryHeaderSize];
  auto r = (*f)->read(*prev_pos - start, hdr, sizeof hdr);
  if (!r) return r;
  auto c = cut_at(*cut);
  if (!c) return c;
  end_pos_ = *cut;
  count_ = from.value - first_index_.value;
  last_chain_ = get_be32(hdr + 36);
  last_term_ = prev->term;
  return Unit{};
}

Result<Unit, DiskError> DiskLog::sync() {
  // Only the data files: the index is rebuilt from them by every recovery, so syncing it would
  // cost an fsync per Ready and buy nothing.
  for (auto& f : data_) {
    auto r = f->sync();
    if (!r) return r;
  }
  return Unit{};
}

// ---------------------------------------------------------------------------------------------
// Hard state

Result<std::optional<HardState>, DiskError> load_hard_state(const std::string& dir) {
  const std::string path = dir + "/currterm";
  FILE* f = std::fopen(path.c_str(), "re");
  if (!f) {
    if (errno == ENOENT) return std::optional<HardState>{};
    return io_error("open", path);
  }
  std::string text;
  char buf[512];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  std::fclose(f);
  HardState hs;
  bool have_term = false;
  size_t at = 0;
  while (at < text.size()) {
    size_t eol = text.find('\n', at);
    if (eol == std::string::npos) eol = text.size();
    std::string line = text.substr(at, eol - at);
    at = eol + 1;
    if (line.empty() || line[0] == '#') continue;
    const size_t eq = line.find('=');
    if (eq == std::string::npos) return make_error(DiskError::kCorrupt, path + ": bad line '" + line + "'");
    const std::string key = line.substr(0, eq), value = line.substr(eq + 1);
    char* end = nullptr;
    errno = 0;
    const long long v = value.empty() ? 0 : std::strtoll(value.c_str(), &end, 10);
    const bool numeric = !value.empty() && errno == 0 && end && *end == '\0' && v >= 0;
    if (key == "currTerm" && numeric) {
      hs.term = Term{v};
      have_term = true;
    } else if (key == "voteLeader" && (value.empty() || (numeric && v < kNoNode))) {
      hs.vote = value.empty() ? kNoNode : static_cast<NodeId>(v);
    } else if (key == "committedIndex" && numeric) {
      hs.commit = RaftIndex{v};
    } else {
      return make_error(DiskError::kCorrupt, path + ": bad entry '" + line + "'");
    }
  }
  if (!have_term) return make_error(DiskError::kCorrupt, path + ": no currTerm");
  return std::optional<HardState>{hs};
}

Result<Unit, DiskError> save_hard_state(const std::string& dir, const HardState& hs) {
  const std::string path = dir + "/currterm", tmp = path + ".tmp";
  std::string text = "currTerm=" + std::to_string(hs.term.value) + "\nvoteLeader=" +
                     (hs.vote == kNoNode ? std::string() : std::to_string(hs.vote)) +
                     "\ncommittedIndex=" + std::to_string(hs.commit.value) + "\n";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return io_error("open", tmp);
  size_t done = 0;
  while (done < text.size()) {
    ssize_t w = ::write(fd, text.data() + done, text.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      ::close(fd);
      return io_error("write", tmp);
    }
    done += static_cast<size_t>(w);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    return io_error("fsync", tmp);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return io_error("rename", tmp);
  return fsync_dir(dir);
}

// ---------------------------------------------------------------------------------------------
// Glue helpers

Result<Unit, DiskError> persist_ready(DiskLog& log, const std::string& dir, const Ready& rd) {
  if (!rd.entries.empty()) {
    auto a = log.append(rd.entries);
    if (!a) return a;
    auto s = log.sync();
    if (!s) return s;
  }
  if (rd.hard_state) return save_hard_state(dir, *rd.hard_state);
  return Unit{};
}

Result<PersistedState, DiskError> load_persisted(const DiskLog& log, const std::string& dir,
                                                 RaftIndex applied) {
  PersistedState ps;
  auto hs = load_hard_state(dir);
  if (!hs) return hs.error();
  if (*hs) ps.hard_state = **hs;
  if (log.empty()) {
    if (applied.value > 0 || ps.hard_state.commit.value > 0)
      return make_error(DiskError::kCorrupt, "hard state or state machine ahead of an empty log");
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
  // A torn tail may have cost entries the hard state counted as committed; the core refuses that
  // (commit beyond the log), which is right: it must not invent them. Say so precisely here.
  if (ps.hard_state.commit > log.last_index())
    return make_error(DiskError::kCorrupt, "hard state commits " + std::to_string(ps.hard_state.commit.value) +
                                               " but the log ends at " + std::to_string(log.last_index().value));
  return ps;
}

}  // namespace mq::raft
