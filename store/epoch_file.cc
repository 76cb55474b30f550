#include "store/epoch_file.h"

#include <algorithm>

#include "base/hash.h"

namespace mq::store {

namespace {

std::string io_text(const Error<IoError>& e) { return std::string(io_error_name(e.code)) + ": " + e.detail; }

std::string parent_dir(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Truncate, write, fsync; a newly created file's directory entry is made durable too.
IoResult<Unit> overwrite(FileSystem& fs, const std::string& path, std::string_view data) {
  bool existed = fs.exists(path);
  auto f = fs.open(path, true);
  if (!f) return f.error();
  if (auto r = (*f)->truncate(0); !r) return r;
  if (!data.empty())
    if (auto r = (*f)->write_at(0, data.data(), data.size()); !r) return r;
  if (auto r = (*f)->sync(); !r) return r;
  if (!existed) return fs.sync_directory(parent_dir(path));
  return Unit{};
}

// Decimal digits only (no sign: neither broker writes one), at most `max`.
bool parse_decimal(std::string_view s, int64_t max, int64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    int d = c - '0';
    if (v > (max - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

bool strictly_ascending(const std::vector<EpochEntry>& v) {
  for (size_t i = 1; i < v.size(); ++i)
    if (v[i].epoch <= v[i - 1].epoch || v[i].start_offset <= v[i - 1].start_offset) return false;
  return true;
}

// Ends as reference 6.4 derives them: the next entry's start, the last one's `last_end`.
void fill_ends(std::vector<EpochEntry>& v, int64_t last_end) {
  for (size_t i = 0; i < v.size(); ++i)
    v[i].end_offset = i + 1 < v.size() ? v[i + 1].start_offset : std::max(last_end, v[i].start_offset);
}

struct Loaded {
  enum Kind { kMissing, kBad, kGood } kind = kMissing;
  std::vector<EpochEntry> entries;
  std::string text;
  std::string why;  // for kBad
};

Result<Loaded, std::string> load(FileSystem& fs, const std::string& path) {
  Loaded out;
  auto f = fs.open(path, false);
  if (!f) {
    if (f.code() == IoError::kNotFound) return out;
    return make_error(std::string(), "epoch file " + path + ": " + io_text(f.error()));
  }
  int64_t size = (*f)->size();
  if (size > EpochFile::kMaxFileBytes) {
    out.kind = Loaded::kBad;
    out.why = "is " + std::to_string(size) + " bytes, more than an epoch file can hold";
    return out;
  }
  out.text.resize(static_cast<size_t>(std::max<int64_t>(size, 0)));
  auto r = (*f)->read_at(0, out.text.data(), out.text.size());
  if (!r) return make_error(std::string(), "epoch file " + path + ": " + io_text(r.error()));
  out.text.resize(*r);
  auto parsed = EpochFile::parse(out.text);
  if (!parsed) {
    out.kind = Loaded::kBad;
    out.why = parsed.detail();
  } else if (parsed->empty()) {
    out.kind = Loaded::kBad;
    out.why = "has no entries";
  } else {
    out.kind = Loaded::kGood;
    out.entries = std::move(*parsed);
  }
  return out;
}

}  // namespace

IoResult<Unit> write_file_with_backup(FileSystem& fs, const std::string& path, std::string_view content,
                                      const std::string* previous) {
  std::string dir = parent_dir(path);
  if (!fs.exists(dir))
    if (auto r = fs.create_directories(dir); !r) return r;
  std::optional<std::string> backup;
  if (previous) {
    backup = *previous;
  } else {
    auto old = read_whole_file(fs, path);
    if (old) backup = std::move(*old);
    else if (old.code() != IoError::kNotFound) return old.error();
  }
  if (backup)
    if (auto r = overwrite(fs, path + ".bak", *backup); !r) return r;
  return overwrite(fs, path, content);
}

std::string EpochFile::serialize(const std::vector<EpochEntry>& entries) {
  std::string lines;
  for (const auto& e : entries) {
    lines += std::to_string(e.epoch);
    lines += '-';
    lines += std::to_string(e.start_offset);
    lines += '\n';
  }
  return std::to_string(entries.size()) + "\n" + std::to_string(rocketmq_crc32(lines)) + "\n" + lines;
}

Result<std::vector<EpochEntry>, std::string> EpochFile::parse(std::string_view text) {
  // Lines as Java's BufferedReader.readLine() sees them on Linux files: '\n' ends a line ("\r\n"
  // too), and a last line without one still counts.
  std::vector<std::string_view> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  if (lines.size() < 2) return make_error(std::string(), "lacks the count and CRC lines");
  int64_t count = 0, crc = 0;
  if (!parse_decimal(lines[0], INT32_MAX, &count))
    return make_error(std::string(), "bad entry count '" + std::string(lines[0].substr(0, 32)) + "'");
  if (!parse_decimal(lines[1], INT32_MAX, &crc))
    return make_error(std::string(), "bad CRC '" + std::string(lines[1].substr(0, 32)) + "'");

  std::vector<EpochEntry> entries;
  std::string body;  // the entry lines re-joined with '\n', which is what the CRC covers
  for (size_t i = 2; i < lines.size(); ++i) {
    std::string_view l = lines[i];
    size_t dash = l.find('-');
    int64_t epoch = 0, start = 0;
    if (dash == std::string_view::npos || !parse_decimal(l.substr(0, dash), INT32_MAX, &epoch) ||
        !parse_decimal(l.substr(dash + 1), INT64_MAX, &start))
      return make_error(std::string(), "bad entry line " + std::to_string(i + 1) + " '" +
                                           std::string(l.substr(0, 64)) + "'");
    entries.push_back(EpochEntry{static_cast<int32_t>(epoch), start, kEpochOpenEnd});
    body.append(l).push_back('\n');
  }
  if (count != static_cast<int64_t>(entries.size()))
    return make_error(std::string(), "says " + std::to_string(count) + " entries but holds " +
                                         std::to_string(entries.size()));
  if (crc != 0 && crc != rocketmq_crc32(body))
    return make_error(std::string(), "CRC mismatch: file says " + std::to_string(crc) + ", entries give " +
                                         std::to_string(rocketmq_crc32(body)));
  if (!strictly_ascending(entries))
    return make_error(std::string(), "entries are not strictly ascending in epoch and start offset");
  fill_ends(entries, kEpochOpenEnd);
  return entries;
}

Result<EpochFile, std::string> EpochFile::open(FileSystem& fs, std::string path) {
  EpochFile file(fs, std::move(path));
  const std::string bak = file.path_ + ".bak";
  auto main = load(fs, file.path_);
  if (!main) return main.error();
  if (main->kind != Loaded::kGood) {
    auto backup = load(fs, bak);
    if (!backup) return backup.error();
    std::string main_state = main->kind == Loaded::kMissing ? "is missing" : main->why;
    if (backup->kind == Loaded::kGood) {
      file.load_warning_ = "epoch file " + file.path_ + " " + main_state + "; using " + bak;
      file.starts_ = std::move(backup->entries);
      file.persisted_text_ = std::move(backup->text);
      return file;
    }
    if (main->kind != Loaded::kMissing || backup->kind != Loaded::kMissing) {
      std::string bak_state = backup->kind == Loaded::kMissing ? "is missing" : backup->why;
      file.load_warning_ = "epoch file " + file.path_ + " " + main_state + " and " + bak + " " + bak_state +
                           "; starting with no epoch entries";
    }
    return file;
  }
  file.starts_ = std::move(main->entries);
  file.persisted_text_ = std::move(main->text);
  return file;
}

EpochEntry EpochFile::with_end(size_t i) const {
  EpochEntry e = starts_[i];
  e.end_offset = i + 1 < starts_.size() ? starts_[i + 1].start_offset : kEpochOpenEnd;
  return e;
}

std::optional<EpochEntry> EpochFile::first_entry() const {
  if (starts_.empty()) return std::nullopt;
  return with_end(0);
}

std::optional<EpochEntry> EpochFile::last_entry() const {
  if (starts_.empty()) return std::nullopt;
  return with_end(starts_.size() - 1);
}

std::optional<EpochEntry> EpochFile::entry_for_epoch(int32_t epoch) const {
  auto it = std::lower_bound(starts_.begin(), starts_.end(), epoch,
                             [](const EpochEntry& e, int32_t v) { return e.epoch < v; });
  if (it == starts_.end() || it->epoch != epoch) return std::nullopt;
  return with_end(static_cast<size_t>(it - starts_.begin()));
}

std::optional<EpochEntry> EpochFile::next_entry(int32_t epoch) const {
  auto it = std::upper_bound(starts_.begin(), starts_.end(), epoch,
                             [](int32_t v, const EpochEntry& e) { return v < e.epoch; });
  if (it == starts_.end()) return std::nullopt;
  return with_end(static_cast<size_t>(it - starts_.begin()));
}

std::optional<EpochEntry> EpochFile::find_entry_containing(int64_t offset) const {
  // Starts are strictly ascending, so the last entry starting at or below offset is the one.
  auto it = std::upper_bound(starts_.begin(), starts_.end(), offset,
                             [](int64_t v, const EpochEntry& e) { return v < e.start_offset; });
  if (it == starts_.begin()) return std::nullopt;
  return with_end(static_cast<size_t>(it - starts_.begin()) - 1);
}

std::vector<EpochEntry> EpochFile::entries(int64_t max_offset) const {
  std::vector<EpochEntry> out = starts_;
  fill_ends(out, max_offset);
  return out;
}

Result<Unit, std::string> EpochFile::replace(std::vector<EpochEntry> next) {
  if (next.size() == starts_.size() &&
      std::equal(next.begin(), next.end(), starts_.begin(), [](const EpochEntry& a, const EpochEntry& b) {
        return a.epoch == b.epoch && a.start_offset == b.start_offset;
      }))
    return Unit{};
  if (!next.empty()) {
    std::string text = serialize(next);
    auto w = write_file_with_backup(*fs_, path_, text, persisted_text_ ? &*persisted_text_ : nullptr);
    if (!w) return make_error(std::string(), "writing epoch file " + path_ + ": " + io_text(w.error()));
    persisted_text_ = std::move(text);
  }
  // An empty list is not written (see the header): the file keeps the previous entries.
  for (auto& e : next) e.end_offset = kEpochOpenEnd;
  starts_ = std::move(next);
  return Unit{};
}

Result<Unit, std::string> EpochFile::append(int32_t epoch, int64_t start_offset) {
  if (epoch < 0 || start_offset < 0)
    return make_error(std::string(), "epoch entry " + std::to_string(epoch) + "-" + std::to_string(start_offset) +
                                         " is negative");
  if (!starts_.empty()) {
    const EpochEntry& last = starts_.back();
    if (epoch <= last.epoch || start_offset <= last.start_offset)
      return make_error(std::string(), "epoch entry " + std::to_string(epoch) + "-" + std::to_string(start_offset) +
                                           " does not follow the last entry " + std::to_string(last.epoch) + "-" +
                                           std::to_string(last.start_offset));
  }
  std::vector<EpochEntry> next = starts_;
  next.push_back(EpochEntry{epoch, start_offset, kEpochOpenEnd});
  return replace(std::move(next));
}

Result<Unit, std::string> EpochFile::truncate_suffix_from(int64_t offset) {
  std::vector<EpochEntry> next;
  for (const auto& e : starts_)
    if (e.start_offset < offset) next.push_back(e);
  return replace(std::move(next));
}

Result<Unit, std::string> EpochFile::truncate_prefix_below(int64_t min_offset) {
  std::vector<EpochEntry> next;
  for (size_t i = 0; i < starts_.size(); ++i)
    if (with_end(i).end_offset >= min_offset) next.push_back(starts_[i]);  // end <= min - 1 goes
  return replace(std::move(next));
}

Result<Unit, std::string> EpochFile::remove_epochs_at_or_above(int32_t epoch) {
  std::vector<EpochEntry> next;
  for (const auto& e : starts_)
    if (e.epoch < epoch) next.push_back(e);
  return replace(std::move(next));
}

int64_t EpochFile::find_consistent_point(const std::vector<EpochEntry>& master_entries, int64_t master_max,
                                         const std::vector<EpochEntry>& slave_entries, int64_t slave_max) {
  if (!strictly_ascending(master_entries) || !strictly_ascending(slave_entries)) return -1;
  std::vector<EpochEntry> master = master_entries, slave = slave_entries;
  fill_ends(master, master_max);
  fill_ends(slave, slave_max);
  for (auto s = slave.rbegin(); s != slave.rend(); ++s) {
    auto m = std::lower_bound(master.begin(), master.end(), s->epoch,
                              [](const EpochEntry& e, int32_t v) { return e.epoch < v; });
    if (m != master.end() && m->epoch == s->epoch && m->start_offset == s->start_offset)
      return std::min(s->end_offset, m->end_offset);
  }
  return -1;
}

}  // namespace mq::store
