#include "store/index_service.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "base/check.h"

namespace mq::store {

namespace {

constexpr int64_t kMaxNameMs = 253402300799999;  // 9999-12-31 23:59:59.999 UTC

std::string format_fields(const std::tm& t, int ms) {
  char buf[80];  // room for any int fields, so the compiler sees no truncation
  std::snprintf(buf, sizeof buf, "%04d%02d%02d%02d%02d%02d%03d", t.tm_year + 1900, t.tm_mon + 1,
                t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, ms);
  return buf;
}

int digits(std::string_view s, size_t pos, size_t n) {
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) v = v * 10 + (s[i] - '0');
  return v;
}

}  // namespace

bool is_index_file_name(std::string_view name) {
  return name.size() == 17 &&
         std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string index_file_name_for(int64_t timestamp_ms) {
  int64_t ms = std::clamp<int64_t>(timestamp_ms, 0, kMaxNameMs);
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm t{};
  localtime_r(&secs, &t);
  std::string name = format_fields(t, static_cast<int>(ms % 1000));
  // A local time past year 9999 (time zones east of UTC at the very end) would not be 17 digits.
  return is_index_file_name(name) ? name : "99991231235959999";
}

std::string next_index_file_name(int64_t timestamp_ms, const std::string& last_name) {
  std::string name = index_file_name_for(timestamp_ms);
  if (last_name.empty() || name > last_name || !is_index_file_name(last_name)) return name;
  // The clock went back, or two files in one millisecond: the calendar successor of last_name. Its
  // fields are local wall-clock time; doing the +1 ms in UTC arithmetic on them keeps it a valid
  // time without any time-zone or DST lookups.
  std::tm t{};
  t.tm_year = digits(last_name, 0, 4) - 1900;
  t.tm_mon = digits(last_name, 4, 2) - 1;
  t.tm_mday = digits(last_name, 6, 2);
  t.tm_hour = digits(last_name, 8, 2);
  t.tm_min = digits(last_name, 10, 2);
  t.tm_sec = digits(last_name, 12, 2);
  int64_t ms = int64_t{timegm(&t)} * 1000 + digits(last_name, 14, 3) + 1;
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm next{};
  gmtime_r(&secs, &next);
  name = format_fields(next, static_cast<int>(ms % 1000));
  MQ_CHECK(is_index_file_name(name) && name > last_name, "no index file name after " + last_name);
  return name;
}

IndexService::IndexService(IndexConfig config, FileSystem& fs, Logger log)
    : config_(std::move(config)), fs_(fs), log_(std::move(log)) {
  MQ_CHECK(config_.max_hash_slot_num > 0, "maxHashSlotNum must be positive");
  MQ_CHECK(config_.max_index_num > 1, "maxIndexNum must be at least 2 (item 0 is never used)");
}

IndexService::~IndexService() = default;

IoResult<Unit> IndexService::load() {
  MQ_CHECK(files_.empty() && !closed_, "IndexService::load on a loaded service");
  if (!fs_.is_directory(config_.dir)) return Unit{};
  auto listed = fs_.list(config_.dir);
  if (!listed) return listed.error();
  std::vector<std::string> names;
  for (auto& n : *listed) {
    if (is_index_file_name(n))
      names.push_back(n);
    else
      log_.warn("index: ignoring " + join_path(config_.dir, n) + " (not a yyyyMMddHHmmssSSS name)");
  }
  std::sort(names.begin(), names.end());
  std::vector<std::shared_ptr<IndexFile>> loaded;
  for (auto& n : names) {
    auto f = IndexFile::open(fs_, join_path(config_.dir, n), config_.max_hash_slot_num,
                             config_.max_index_num, config_.use_mmap);
    if (!f) return f.error();
    loaded.push_back(std::move(*f));
  }
  // Files without items that are not the last one hold nothing and would never be written again:
  // only a crash leaves them (a file created, its first puts lost with unsynced pages). Dropped.
  for (size_t i = 0; i + 1 < loaded.size();) {
    if (loaded[i]->index_count() > 1) {
      ++i;
      continue;
    }
    log_.warn("index: removing " + loaded[i]->path() + ": no entries and not the last file");
    if (auto r = fs_.remove(loaded[i]->path()); !r) return r.error();
    loaded.erase(loaded.begin() + static_cast<ptrdiff_t>(i));
  }
  // A last file left empty by a crash during its creation gets the header Java's constructor
  // writes, so the skip rule sees the previous file's end.
  if (loaded.size() >= 2) {
    auto& last = loaded.back();
    const auto& prev = loaded[loaded.size() - 2];
    if (last->index_count() <= 1 && last->end_phy_offset() == 0 && last->end_timestamp_ms() == 0 &&
        (prev->end_phy_offset() > 0 || prev->end_timestamp_ms() > 0)) {
      if (auto r = last->inherit_end(prev->end_phy_offset(), prev->end_timestamp_ms()); !r)
        return r.error();
      log_.warn("index: " + last->path() + " was empty; took the previous file's end values");
    }
  }
  for (auto& f : loaded)
    log_.info("index: loaded " + f->path() + " (" + std::to_string(f->index_count() - 1) +
              " items, phy offsets " + std::to_string(f->begin_phy_offset()) + ".." +
              std::to_string(f->end_phy_offset()) + ")");
  std::lock_guard g(mu_);
  files_ = std::move(loaded);
  last_ = files_.empty() ? nullptr : files_.back();
  return Unit{};
}

void IndexService::dispatch(const MessageRecord& record, int64_t /*tags_code*/) {
  (void)build_index(record);  // logged inside
}

void IndexService::on_commit_log_truncated(int64_t commit_log_end) {
  if (closed_) return;
  if (auto r = truncate_dirty(commit_log_end); !r)
    fail("index: moving endPhyOffset back to the truncated commit log end " + std::to_string(commit_log_end) +
             " failed: " + r.detail() + "; indexing stops until restart",
         true);
}

IoResult<Unit> IndexService::build_index(const MessageRecord& record) {
  if (!config_.enable || closed_) return Unit{};
  if (stopped_.load()) return make_error(IoError::kIo, error_reason());
  if (sysflag::transaction_type(record.sys_flag) == sysflag::kTransactionRollbackType) return Unit{};

  std::vector<std::string> keys;
  const std::string prefix = std::string(record.topic) + "#";
  if (auto uniq = find_property(record.properties, property::kUniqKey); uniq && !uniq->empty())
    keys.push_back(prefix + std::string(*uniq));
  if (auto kv = find_property(record.properties, property::kKeys); kv) {
    // Java's keys.split(" "): every single space separates; empty tokens are skipped.
    std::string_view rest = *kv;
    while (!rest.empty()) {
      size_t sp = rest.find(' ');
      std::string_view token = rest.substr(0, sp);
      if (!token.empty()) keys.push_back(prefix + std::string(token));
      if (sp == std::string_view::npos) break;
      rest.remove_prefix(sp + 1);
    }
  }
  if (keys.empty()) return Unit{};

  const int64_t offset = record.physical_offset;
  if (last_) {
    const int64_t end = last_->end_phy_offset();
    if (offset < end) return Unit{};
    if (offset == end) {
      if (auto r = drop_already_indexed(offset, keys); !r) {
        fail("index: reading " + last_->path() + " failed: " + r.detail(), true);
        return r;
      }
    }
  }
  for (const auto& k : keys)
    if (auto r = put(k, offset, record.store_timestamp); !r) return r;
  return Unit{};
}

IoResult<Unit> IndexService::drop_already_indexed(int64_t phy_offset,
                                                  std::vector<std::string>& keys) const {
  // Items are appended in dispatch order, so this offset's items are the newest ones, possibly
  // spilling back into the previous file when its keys straddled a roll-over.
  std::vector<int32_t> present;
  auto files = this->files();
  bool done = false;
  for (auto it = files.rbegin(); it != files.rend() && !done; ++it) {
    for (int32_t n = (*it)->index_count() - 1; n >= 1; --n) {
      auto item = (*it)->read_item(n);
      if (!item) return item.error();
      if (item->phy_offset != phy_offset) {
        done = true;
        break;
      }
      present.push_back(item->key_hash);
    }
  }
  if (present.empty()) return Unit{};
  std::vector<std::string> missing;
  for (auto& k : keys) {
    auto p = std::find(present.begin(), present.end(), index_key_hash(k));
    if (p != present.end())
      present.erase(p);
    else
      missing.push_back(std::move(k));
  }
  keys = std::move(missing);
  return Unit{};
}

IoResult<Unit> IndexService::put(std::string_view key, int64_t phy_offset,
                                 int64_t store_timestamp_ms) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!last_ || last_->is_write_full())
      if (auto c = create_file(store_timestamp_ms); !c) return c;
    auto ok = last_->put_key(key, phy_offset, store_timestamp_ms);
    if (!ok) {
      fail("index: writing " + last_->path() + " failed: " + ok.detail() +
               "; indexing stops until restart",
           true);
      return ok.error();
    }
    if (*ok) return Unit{};
  }
  MQ_CHECK(false, "a new index file is full");
  return Unit{};
}

IoResult<Unit> IndexService::create_file(int64_t store_timestamp_ms) {
  if (!fs_.is_directory(config_.dir)) {
    if (auto r = fs_.create_directories(config_.dir); !r) {
      fail("index: cannot create " + config_.dir + ": " + r.detail(), false);
      return r;
    }
  }
  std::string name = next_index_file_name(store_timestamp_ms, last_ ? last_->name() : "");
  std::string path = join_path(config_.dir, name);
  auto f = IndexFile::create(fs_, path, config_.max_hash_slot_num, config_.max_index_num,
                             last_ ? last_->end_phy_offset() : 0,
                             last_ ? last_->end_timestamp_ms() : 0, config_.use_mmap);
  if (!f) {
    fail("index: cannot create " + path + ": " + f.detail(), false);
    return f.error();
  }
  std::shared_ptr<IndexFile> created = std::move(*f);
  auto previous = last_;
  // Before the file is listed: a flush that sees the file also syncs the directory entry.
  dir_dirty_.store(true);
  {
    std::lock_guard g(mu_);
    files_.push_back(created);
  }
  last_ = created;
  if (previous) previous->release_mapping();
  {
    std::lock_guard g(error_mu_);
    if (!error_reason_.empty() && !stopped_.load()) {
      log_.info("index: files can be created again (" + path + ")");
      error_reason_.clear();
    }
  }
  log_.info("index: created " + path);
  return Unit{};
}

void IndexService::fail(const std::string& reason, bool sticky) {
  std::lock_guard g(error_mu_);
  if (error_reason_.empty()) log_.error(reason);
  error_reason_ = reason;
  if (sticky) stopped_.store(true);
}

std::string IndexService::error_reason() const {
  std::lock_guard g(error_mu_);
  return error_reason_;
}

std::vector<std::shared_ptr<IndexFile>> IndexService::files() const {
  std::lock_guard g(mu_);
  return files_;
}

IoResult<QueryOffsetResult> IndexService::query_offset(std::string_view topic, std::string_view key,
                                                       int max_num, int64_t begin_ms,
                                                       int64_t end_ms) const {
  QueryOffsetResult result;
  auto files = this->files();
  if (files.empty()) return result;
  const size_t max = max_num > 0 ? static_cast<size_t>(max_num) : 0;
  std::string full_key = std::string(topic) + "#" + std::string(key);
  result.index_last_update_timestamp = files.back()->end_timestamp_ms();
  result.index_last_update_phyoffset = files.back()->end_phy_offset();
  for (auto it = files.rbegin(); it != files.rend(); ++it) {
    const auto& f = *it;
    if (f->is_time_matched(begin_ms, end_ms))
      if (auto r = f->select_phy_offset(result.phy_offsets, full_key, max, begin_ms, end_ms); !r)
        return make_error(r.code(), "index lookup in " + f->path() + ": " + r.detail());
    if (f->begin_timestamp_ms() < begin_ms) break;
    if (result.phy_offsets.size() >= max) break;
  }
  return result;
}

IoResult<int> IndexService::truncate_dirty(int64_t commit_log_end) {
  auto files = this->files();
  std::vector<std::shared_ptr<IndexFile>> pending;  // newest first: none of their items survives
  int64_t surviving_end = 0;
  int changed = 0;
  for (auto it = files.rbegin(); it != files.rend(); ++it) {
    const auto& f = *it;
    if (f->end_phy_offset() < commit_log_end) {
      surviving_end = f->end_phy_offset();
      break;
    }
    bool found = false;
    for (int32_t n = f->index_count() - 1; n >= 1 && !found; --n) {
      auto item = f->read_item(n);
      if (!item) return item.error();
      if (item->phy_offset < commit_log_end) {
        surviving_end = item->phy_offset;
        found = true;
      }
    }
    if (found) {
      if (auto r = f->set_end_phy_offset(surviving_end); !r) return r.error();
      log_.warn("index: " + f->path() + " pointed past the commit log end " +
                std::to_string(commit_log_end) + "; endPhyOffset is now " +
                std::to_string(surviving_end));
      ++changed;
      break;
    }
    pending.push_back(f);
  }
  for (const auto& f : pending) {
    if (f->end_phy_offset() == surviving_end) continue;  // e.g. an empty file over an empty log
    if (auto r = f->set_end_phy_offset(surviving_end); !r) return r.error();
    log_.warn("index: every entry of " + f->path() + " is at or past the commit log end " +
              std::to_string(commit_log_end) + "; endPhyOffset is now " +
              std::to_string(surviving_end));
    ++changed;
  }
  return changed;
}

IoResult<int64_t> IndexService::flush() {
  auto files = this->files();
  // After the snapshot: any file in it was listed after dir_dirty_ was set.
  if (dir_dirty_.exchange(false)) {
    if (auto r = fs_.sync_directory(config_.dir); !r) {
      dir_dirty_.store(true);
      return r.error();
    }
  }
  for (const auto& f : files) {
    auto r = f->flush();
    if (!r) return make_error(r.code(), "index flush of " + f->path() + ": " + r.detail());
    if (*r > flushed_timestamp_ms_.load()) flushed_timestamp_ms_.store(*r);
  }
  return flushed_timestamp_ms_.load();
}

int IndexService::delete_expired_files(int64_t min_phy_offset) {
  std::vector<std::shared_ptr<IndexFile>> victims;
  {
    std::lock_guard g(mu_);
    size_t n = 0;
    while (n + 1 < files_.size() && files_[n]->end_phy_offset() < min_phy_offset) ++n;
    victims.assign(files_.begin(), files_.begin() + static_cast<ptrdiff_t>(n));
    files_.erase(files_.begin(), files_.begin() + static_cast<ptrdiff_t>(n));
  }
  for (const auto& f : victims) {
    if (auto r = fs_.remove(f->path()); !r)
      log_.warn("index: cannot delete expired " + f->path() + ": " + r.detail());
    else
      log_.info("index: deleted expired " + f->path() + " (endPhyOffset " +
                std::to_string(f->end_phy_offset()) + " < " + std::to_string(min_phy_offset) + ")");
  }
  if (!victims.empty()) (void)fs_.sync_directory(config_.dir);
  return static_cast<int>(victims.size());
}

IoResult<Unit> IndexService::shutdown() {
  if (closed_) return Unit{};
  auto r = flush();
  closed_ = true;
  {
    std::lock_guard g(mu_);
    files_.clear();
  }
  if (last_) last_->release_mapping();
  last_.reset();
  if (!r) return r.error();
  return Unit{};
}

}  // namespace mq::store
