#include "store/message_store.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "base/bytes.h"
#include "base/hash.h"

namespace mq::store {

namespace {

constexpr std::string_view kScheduleTopic = "SCHEDULE_TOPIC_XXXX";
constexpr std::string_view kTimerTopic = "rmq_sys_wheel_timer";
constexpr size_t kScanChunkBytes = 4 * 1024 * 1024;

// A record cut short by a crash or by the end of a replicated chunk reads back with zeros where its
// last bytes belong. When the cut falls inside the topic or properties the lengths still add up and
// no CRC covers them, but a real record ends in a non-zero byte: the last property character, or the
// last topic character when there are no properties (its PROPERTIESLEN is then truly zero).
bool ends_in_zero(const MessageRecord& m) {
  std::string_view last_field = m.properties.empty() ? m.topic : m.properties;
  return last_field.empty() || last_field.back() == '\0';
}

bool gets_queue_unit(int32_t sys_flag) {
  int32_t t = sysflag::transaction_type(sys_flag);
  return t == sysflag::kTransactionNotType || t == sysflag::kTransactionCommitType;
}

// Walks the records of one CommitLog segment through a read buffer (one pread per chunk rather
// than per record).
class SegmentScanner {
 public:
  explicit SegmentScanner(MappedFile& f) : f_(f) {}

  enum class Stop { kBlank, kInvalid, kFileEnd };
  struct End {
    int64_t position;
    Stop why;
    std::string error;
  };

  // on_record(record, position) for every valid message from `position`.
  template <typename Fn>
  IoResult<End> scan(int64_t position, bool check_crc, Fn&& on_record) {
    const int64_t size = f_.file_size();
    while (true) {
      if (position + 8 > size) return End{position, Stop::kFileEnd, {}};
      if (auto r = ensure(position, 8); !r) return r.error();
      std::string_view head = view(position, 8);
      int32_t total = static_cast<int32_t>(get_be32(reinterpret_cast<const uint8_t*>(head.data())));
      size_t want = total > 8 && position + total <= size ? static_cast<size_t>(total) : 8;
      // Also the 8 bytes after it, which say whether it is the last record (see ends_in_zero).
      size_t with_next = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(want) + 8, size - position));
      if (auto r = ensure(position, with_next); !r) return r.error();
      auto e = decode_entry(view(position, want), DecodeOptions{check_crc});
      if (!e) return End{position, Stop::kInvalid, e.detail()};
      if (e->blank) return End{position, Stop::kBlank, {}};
      if (e->message.physical_offset != f_.file_from_offset() + position)
        return End{position, Stop::kInvalid,
                   "physical offset field " + std::to_string(e->message.physical_offset)};
      // Only at the end of the data: an odd record in the middle must not truncate the log.
      if (ends_in_zero(e->message) && is_data_end(position + e->size))
        return End{position, Stop::kInvalid, "last record ends in a zero byte: cut short"};
      on_record(e->message, position);
      position += e->size;
    }
  }

 private:
  IoResult<Unit> ensure(int64_t position, size_t n) {
    if (position >= buf_start_ && position + static_cast<int64_t>(n) <= buf_start_ + static_cast<int64_t>(buf_.size()))
      return Unit{};
    size_t len = std::max(n, kScanChunkBytes);
    len = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(len), f_.file_size() - position));
    buf_start_ = position;
    return f_.read(position, len, buf_);
  }
  // True when nothing follows `position` (zeros or the end of the file).
  bool is_data_end(int64_t position) const {
    if (position + 8 > f_.file_size()) return true;
    std::string_view next = view(position, 8);
    return std::all_of(next.begin(), next.end(), [](char c) { return c == 0; });
  }
  std::string_view view(int64_t position, size_t n) const {
    return std::string_view(buf_).substr(static_cast<size_t>(position - buf_start_), n);
  }
  MappedFile& f_;
  std::string buf_;
  int64_t buf_start_ = 0;
};

}  // namespace

std::optional<std::vector<int64_t>> parse_message_delay_level(std::string_view text, std::string* error) {
  auto fail = [&](std::string why) -> std::optional<std::vector<int64_t>> {
    if (error) *error = std::move(why);
    return std::nullopt;
  };
  std::vector<int64_t> out;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = text.find(' ', i);
    if (j == std::string_view::npos) j = text.size();
    std::string_view tok = text.substr(i, j - i);
    i = j + 1;
    if (tok.empty()) continue;
    char unit = tok.back();
    int64_t mult = unit == 's' ? 1000 : unit == 'm' ? 60000 : unit == 'h' ? 3600000 : unit == 'd' ? 86400000 : 0;
    if (mult == 0)
      return fail("level '" + std::string(tok) + "' does not end in a unit (s, m, h or d)");
    std::string_view digits = tok.substr(0, tok.size() - 1);
    if (digits.empty() || digits.size() > 9)
      return fail("level '" + std::string(tok) + "' has no valid number");
    int64_t n = 0;
    for (char c : digits) {
      if (c < '0' || c > '9')
        return fail("level '" + std::string(tok) + "' is not a number");
      n = n * 10 + (c - '0');
    }
    out.push_back(n * mult);
  }
  if (out.empty()) return fail("no delay levels");
  return out;
}

const char* put_message_status_name(PutMessageStatus s) {
  switch (s) {
    case PutMessageStatus::kPutOk: return "PUT_OK";
    case PutMessageStatus::kFlushDiskTimeout: return "FLUSH_DISK_TIMEOUT";
    case PutMessageStatus::kFlushSlaveTimeout: return "FLUSH_SLAVE_TIMEOUT";
    case PutMessageStatus::kSlaveNotAvailable: return "SLAVE_NOT_AVAILABLE";
    case PutMessageStatus::kServiceNotAvailable: return "SERVICE_NOT_AVAILABLE";
    case PutMessageStatus::kCreateMappedFileFailed: return "CREATE_MAPEDFILE_FAILED";
    case PutMessageStatus::kMessageIllegal: return "MESSAGE_ILLEGAL";
    case PutMessageStatus::kPropertiesSizeExceeded: return "PROPERTIES_SIZE_EXCEEDED";
    case PutMessageStatus::kOsPageCacheBusy: return "OS_PAGECACHE_BUSY";
    case PutMessageStatus::kUnknownError: return "UNKNOWN_ERROR";
    case PutMessageStatus::kInSyncReplicasNotEnough: return "IN_SYNC_REPLICAS_NOT_ENOUGH";
  }
  return "UNKNOWN_ERROR";
}

const char* get_message_status_name(GetMessageStatus s) {
  switch (s) {
    case GetMessageStatus::kFound: return "FOUND";
    case GetMessageStatus::kNoMatchedMessage: return "NO_MATCHED_MESSAGE";
    case GetMessageStatus::kMessageWasRemoving: return "MESSAGE_WAS_REMOVING";
    case GetMessageStatus::kOffsetFoundNull: return "OFFSET_FOUND_NULL";
    case GetMessageStatus::kOffsetOverflowBadly: return "OFFSET_OVERFLOW_BADLY";
    case GetMessageStatus::kOffsetOverflowOne: return "OFFSET_OVERFLOW_ONE";
    case GetMessageStatus::kOffsetTooSmall: return "OFFSET_TOO_SMALL";
    case GetMessageStatus::kNoMatchedLogicQueue: return "NO_MATCHED_LOGIC_QUEUE";
    case GetMessageStatus::kNoMessageInQueue: return "NO_MESSAGE_IN_QUEUE";
  }
  return "UNKNOWN";
}

// Records of one put, encoded once their CommitLog offset is known.
struct MessageStore::Encoded {
  std::vector<MessageRecord> records;
  std::vector<int64_t> tags_codes;
  std::vector<bool> has_unit;
  std::vector<std::string> owned_properties;  // batch members' joined properties, a delayed message's
  std::string owned_topic;                     // SCHEDULE_TOPIC_XXXX for a delayed message
  size_t total_bytes = 0;
};

MessageStore::MessageStore(MessageStoreConfig config, FileSystem& fs, Logger log)
    : config_(std::move(config)),
      fs_(fs),
      log_(std::move(log)),
      commit_log_dir_(join_path(config_.store_path_root_dir, "commitlog")),
      consume_queue_dir_(join_path(config_.store_path_root_dir, "consumequeue")),
      commit_log_(fs, commit_log_dir_, config_.mapped_file_size_commit_log, config_.append_by_mmap),
      delay_level_ms_(parse_message_delay_level(config_.message_delay_level).value_or(std::vector<int64_t>{})) {}

MessageStore::MessageStore(MessageStoreConfig config, FileSystem& fs, Logger log, CommitLogReader* reader)
    : MessageStore(std::move(config), fs, std::move(log)) {
  reader_ = reader;
}

MessageStore::~MessageStore() = default;

std::string MessageStore::writability_reason() const {
  std::lock_guard g(reason_mu_);
  return unwritable_reason_;
}

std::optional<DiskSpace> probe_disk_space(const std::string& path) {
  struct statvfs st;
  if (::statvfs(path.c_str(), &st) != 0 || st.f_blocks == 0) return std::nullopt;
  DiskSpace d;
  d.total_bytes = static_cast<int64_t>(st.f_blocks) * static_cast<int64_t>(st.f_frsize);
  d.available_bytes = static_cast<int64_t>(st.f_bavail) * static_cast<int64_t>(st.f_frsize);
  return d;
}

std::string MessageStore::write_refusal_reason() const {
  if (!is_writable()) return writability_reason();
  if (is_disk_full()) return "disk full: " + disk_full_reason();
  if (dispatch_pending_.load()) return "disk full: records wait for their ConsumeQueue units";
  return {};
}

std::string MessageStore::describe_space(const std::optional<DiskSpace>& space) const {
  if (!space) return {};
  last_used_ratio_.store(space->used_ratio(), std::memory_order_relaxed);
  char buf[128];
  std::snprintf(buf, sizeof buf, " %.1f%% used, %.1f MiB free", space->used_ratio() * 100.0,
                static_cast<double>(space->available_bytes) / (1024.0 * 1024.0));
  return config_.store_path_root_dir + buf;
}

void MessageStore::mark_disk_full(FullCause cause, const std::string& what) {
  bool entered = false;
  {
    std::lock_guard g(reason_mu_);
    if (cause == FullCause::kNoSpace) {
      full_no_space_ = true;
      no_space_reason_ = what;
    } else {
      full_ratio_ = true;
      ratio_reason_ = what;
    }
    entered = !disk_full_.exchange(true, std::memory_order_acq_rel);
  }
  if (entered) log_.error("disk full, puts refused until space returns: " + what);
}

std::string MessageStore::disk_full_reason() const {
  std::lock_guard g(reason_mu_);
  // The ENOSPC names what could not be created; the ratio says how full the disk is.
  return full_no_space_ ? no_space_reason_ : ratio_reason_;
}

void MessageStore::update_disk_usage(double used_ratio) {
  if (used_ratio < 0) return;  // not measurable: keep the state
  last_used_ratio_.store(used_ratio, std::memory_order_relaxed);
  const double pct = used_ratio * 100.0;
  if (pct > config_.disk_space_warning_level_ratio) {
    char buf[160];
    std::snprintf(buf, sizeof buf, " %.1f%% used, above diskSpaceWarningLevelRatio %d", pct,
                  config_.disk_space_warning_level_ratio);
    mark_disk_full(FullCause::kAboveWarningLevel, config_.store_path_root_dir + buf);
    return;
  }
  bool cleared = false;
  {
    std::lock_guard g(reason_mu_);
    if (full_ratio_) {
      full_ratio_ = false;
      ratio_reason_.clear();
      cleared = !full_no_space_;
      if (cleared) disk_full_.store(false, std::memory_order_release);
    }
  }
  if (cleared) log_.info("disk usage back to " + std::to_string(pct) + "%: puts accepted again");
}

bool MessageStore::recheck_disk_space(int64_t now_ms) {
  if (!is_writable()) return false;
  if (!disk_full_.load(std::memory_order_acquire) && !dispatch_pending_.load()) return true;
  if (now_ms - last_disk_check_ms_ < kDiskRecheckIntervalMs && now_ms >= last_disk_check_ms_) return false;
  last_disk_check_ms_ = now_ms;
  bool no_space;
  {
    std::lock_guard g(reason_mu_);
    no_space = full_no_space_;
  }
  if (no_space) {
    // After an ENOSPC: back once there is room for whatever a put may have to create next, a
    // CommitLog and a ConsumeQueue file. (Usage above the warning level is the caller's
    // measurement, update_disk_usage, and clears there.) Not measurable: the next file creation
    // is the measurement.
    auto space = probe_ ? probe_(config_.store_path_root_dir) : std::nullopt;
    if (space) last_used_ratio_.store(space->used_ratio(), std::memory_order_relaxed);
    const int64_t needed = config_.mapped_file_size_commit_log + config_.mapped_file_size_consume_queue;
    if (space && space->available_bytes < needed) {
      std::lock_guard g(reason_mu_);
      size_t cut = no_space_reason_.find(" [now ");
      no_space_reason_ = no_space_reason_.substr(0, cut) + " [now " + describe_space(space) + "]";
      return false;
    }
    bool cleared;
    {
      std::lock_guard g(reason_mu_);
      full_no_space_ = false;
      no_space_reason_.clear();
      cleared = !full_ratio_;
      if (cleared) disk_full_.store(false, std::memory_order_release);
    }
    log_.info("disk space back (" + (space ? describe_space(space) : std::string("not measurable")) + ")" +
              (cleared ? ": puts accepted again" : ", but usage is still above the warning level"));
  }
  if (disk_full_.load(std::memory_order_acquire)) return false;
  if (dispatch_pending_.load()) {
    if (auto r = dispatch_from_cursor(); !r) return false;
    if (!dispatch_pending_.load()) log_.info("pending ConsumeQueue units written");
  }
  return takes_writes();
}

void MessageStore::set_unwritable(const std::string& reason) {
  {
    std::lock_guard g(reason_mu_);
    if (unwritable_reason_.empty()) unwritable_reason_ = reason;
  }
  if (writable_.exchange(false)) log_.error("store stops accepting writes: " + reason);
}

int64_t MessageStore::tags_code_of(std::string_view topic, std::string_view properties,
                                   int64_t store_timestamp) const {
  if (topic == kScheduleTopic) {
    if (auto level = find_property(properties, property::kDelayTimeLevel)) {
      int64_t l = 0;
      for (char c : *level) {
        if (c < '0' || c > '9') break;
        l = l * 10 + (c - '0');
      }
      if (l > 0 && !delay_level_ms_.empty()) {
        l = std::min<int64_t>(l, static_cast<int64_t>(delay_level_ms_.size()));
        return store_timestamp + delay_level_ms_[static_cast<size_t>(l - 1)];
      }
      return store_timestamp + 1000;
    }
  }
  if (topic == kTimerTopic) {
    // A bucket entry is ordered by when it is looked at next; a parked message by its time.
    if (auto check = find_property(properties, property::kTimerCheckMs))
      return parse_property_int(*check).value_or(store_timestamp);
    if (auto out = find_property(properties, property::kTimerOutMs)) return parse_property_int(*out).value_or(store_timestamp);
  }
  if (auto tags = find_property(properties, property::kTags)) return java_string_hash(*tags);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Open, recovery, shutdown

IoResult<Unit> MessageStore::load_consume_queues() {
  if (!fs_.is_directory(consume_queue_dir_)) return Unit{};
  auto topics = fs_.list(consume_queue_dir_);
  if (!topics) return topics.error();
  for (const auto& topic : *topics) {
    std::string tdir = join_path(consume_queue_dir_, topic);
    if (!fs_.is_directory(tdir)) continue;
    auto qids = fs_.list(tdir);
    if (!qids) return qids.error();
    for (const auto& q : *qids) {
      char* end = nullptr;
      long qid = std::strtol(q.c_str(), &end, 10);
      if (q.empty() || *end != '\0' || qid < 0 || qid > INT32_MAX) continue;
      auto cq = std::make_unique<ConsumeQueue>(fs_, consume_queue_dir_, topic,
                                               static_cast<int32_t>(qid),
                                               config_.mapped_file_size_consume_queue,
                                               log_, config_.append_by_mmap);
      if (auto r = cq->load(); !r) return r.error();
      std::lock_guard g(cq_mu_);
      queues_[topic][static_cast<int32_t>(qid)] = std::move(cq);
    }
  }
  return Unit{};
}

IoResult<RecoveryReport> MessageStore::open() {
  MQ_CHECK(!opened_, "MessageStore::open twice");
  for (const auto& d : {config_.store_path_root_dir, consume_queue_dir_})
    if (auto r = fs_.create_directories(d); !r) return r.error();
  if (!reader_) {
    if (auto r = fs_.create_directories(commit_log_dir_); !r) return r.error();
    if (auto r = commit_log_.load(); !r) return r.error();
  }
  if (auto r = load_consume_queues(); !r) return r.error();
  auto cp = StoreCheckpoint::open(fs_, join_path(config_.store_path_root_dir, "checkpoint"));
  if (!cp) return cp.error();
  checkpoint_ = std::move(*cp);
  std::string abort_path = join_path(config_.store_path_root_dir, "abort");
  bool abnormal = fs_.exists(abort_path);
  auto report = reader_ ? recover_external() : recover(abnormal);
  if (!report) return report.error();
  report->abnormal = abnormal;
  {
    auto f = fs_.open(abort_path, true);
    if (!f) return f.error();
    if (auto r = (*f)->sync(); !r) return r.error();
    if (auto r = fs_.sync_directory(config_.store_path_root_dir); !r) return r.error();
  }
  opened_ = true;
  log_.info(std::string(abnormal ? "abnormal" : "normal") + " recovery done: commit log [" +
            std::to_string(min_phy_offset()) + ", " + std::to_string(max_phy_offset()) + "), " +
            std::to_string(report->redispatched) + " records re-dispatched");
  return report;
}

IoResult<RecoveryReport> MessageStore::recover(bool abnormal) {
  RecoveryReport report;
  report.abnormal = abnormal;
  std::vector<ConsumeQueue*> cqs;
  {
    std::lock_guard g(cq_mu_);
    for (auto& [_, m] : queues_)
      for (auto& [__, q] : m) cqs.push_back(q.get());
  }
  for (auto* q : cqs)
    if (auto r = q->recover(); !r) return r.error();

  auto files = commit_log_.files();
  if (files.empty()) {
    for (auto* q : cqs)
      if (auto r = q->truncate_dirty(0); !r) return r.error();
    set_dispatched_offset(0);
    return report;
  }

  // Where to start scanning.
  size_t start = files.size() > 3 ? files.size() - 3 : 0;
  if (abnormal) {
    // From the newest file whose first record the checkpoint covers, but never later than a normal
    // recovery starts: the next clean start scans those files, and a bad record it found there would
    // cut the log, with everything appended after this recovery (found by libFuzzer).
    const size_t normal_start = start;
    start = 0;
    int64_t min_ts = checkpoint_->min_timestamp();
    for (size_t k = files.size(); k-- > 0;) {
      std::string head;
      if (!files[k]->read(0, 128, head)) continue;
      ByteReader r(head);
      r.skip(4);
      uint32_t magic = r.u32();
      if (magic != kMessageMagicV1 && magic != kMessageMagicV2) continue;
      r.skip(28);
      int32_t flag = r.i32();
      r.skip(8 + ((flag & sysflag::kBornHostV6) ? 20 : 8));
      int64_t store_ts = r.i64();
      if (r.ok() && store_ts != 0 && store_ts <= min_ts) {
        start = std::min(k, normal_start);
        break;
      }
    }
    // The checkpoint's dispatch mark does not depend on the clock: never start after its file.
    if (const int64_t mark = checkpoint_->dispatched_phy_offset(); mark > 0) {
      size_t by_mark = 0;
      for (size_t k = 0; k < files.size(); ++k)
        if (files[k]->file_from_offset() <= mark) by_mark = k;
      start = std::min(start, by_mark);
    }
  }

  // Pass 1: find the end of valid data.
  const bool check_crc = config_.check_crc_on_recover;
  int64_t end = files[start]->file_from_offset();
  std::string cut_reason;
  for (size_t k = start; k < files.size(); ++k) {
    SegmentScanner scanner(*files[k]);
    auto e = scanner.scan(0, check_crc, [](const MessageRecord&, int64_t) {});
    if (!e) return e.error();
    if (e->why == SegmentScanner::Stop::kInvalid) {
      end = files[k]->file_from_offset() + e->position;
      cut_reason = e->error;
      break;
    }
    // BLANK or file end: the next file starts where this one ends.
    end = files[k]->file_from_offset() + files[k]->file_size();
  }
  report.commit_log_end = end;

  // Was there anything after the end (a torn record) rather than a clean zero tail?
  auto last_kept = commit_log_.find_file(end);
  if (last_kept) {
    std::string head;
    int64_t pos = end - last_kept->file_from_offset();
    if (pos + 8 <= last_kept->file_size() && last_kept->read(pos, 8, head)) {
      bool zero = std::all_of(head.begin(), head.end(), [](char c) { return c == 0; });
      if (!zero) report.truncated_bytes = last_kept->file_size() - pos;
    }
  }
  for (const auto& f : files)
    if (f->file_from_offset() > end) ++report.deleted_files;
  if (report.truncated_bytes > 0 || report.deleted_files > 0)
    log_.warn("commit log recovery: data ends at " + std::to_string(end) + " (" + cut_reason +
              "); zeroed the torn tail of " + std::to_string(report.truncated_bytes) +
              " bytes, deleted " + std::to_string(report.deleted_files) + " later files");
  // Zeroing after an abnormal stop also clears stale blocks a power cut may have kept beyond a
  // zero block, so they can never line up with records appended later.
  if (auto r = commit_log_.truncate_dirty(end, abnormal || report.truncated_bytes > 0); !r)
    return r.error();

  // Pass 2: re-dispatch. After a crash, everything from the start file; after a clean stop, only
  // what the ConsumeQueues do not reference yet (RocketMQ's reput from the queues' max physical
  // offset). No ConsumeQueue at all (a copied CommitLog, or consumequeue/ deleted): everything. A
  // single queue deleted by hand is not noticed (as in RocketMQ).
  int64_t dispatch_from = cqs.empty() ? commit_log_.min_offset() : files[start]->file_from_offset();
  // Units pointing past the end go. After a crash, so do all units from the re-dispatch start: units
  // newer than the last full flush (which the checkpoint time stands for) may have holes, since an
  // OS crash keeps any subset of unsynced pages, and re-dispatch writes them again.
  int64_t cq_cut = abnormal ? std::min(end, dispatch_from) : end;
  for (auto* q : cqs)
    if (auto r = q->truncate_dirty(cq_cut); !r) return r.error();
  if (!cqs.empty() && !abnormal) {
    int64_t cq_max = 0;
    for (auto* q : cqs) cq_max = std::max(cq_max, q->max_physic_offset());
    dispatch_from = std::max(cq_max, commit_log_.min_offset());
  }
  auto kept = commit_log_.files();
  for (auto& f : kept) {
    if (f->file_from_offset() + f->file_size() <= dispatch_from) continue;
    int64_t from_pos = std::max<int64_t>(0, dispatch_from - f->file_from_offset());
    SegmentScanner scanner(*f);
    IoResult<Unit> dispatch_error = Unit{};
    // Dispatch starts at a record boundary: scan the file from 0 and skip what precedes from_pos.
    auto e = scanner.scan(0, false, [&](const MessageRecord& rec, int64_t pos) {
      if (pos < from_pos || f->file_from_offset() + pos >= end || !dispatch_error) return;
      if (auto r = dispatch(rec); !r)
        dispatch_error = r;
      else
        ++report.redispatched;
      last_store_timestamp_.store(rec.store_timestamp);
    });
    if (!e) return e.error();
    if (!dispatch_error) return dispatch_error.error();
  }

  // Recovery ends the log at a record boundary (or a segment end after a BLANK), with every record
  // before it dispatched: replicated appends continue dispatching from there.
  set_dispatched_offset(commit_log_.max_offset());
  // Queue offsets continue from the ConsumeQueues; min offsets follow the CommitLog.
  {
    std::lock_guard g(cq_mu_);
    for (auto& [topic, m] : queues_)
      for (auto& [qid, q] : m) {
        q->correct_min_offset(commit_log_.min_offset());
        queue_offsets_[topic + "-" + std::to_string(qid)] = q->max_offset();
      }
  }
  return report;
}

// DLedger mode: the Raft log recovered its own files; the ConsumeQueues are checked and the
// dispatch cursor set to the end of the newest record they reference. The glue re-dispatches
// committed entries from there (and from earlier after a crash: put_units skips what is present).
IoResult<RecoveryReport> MessageStore::recover_external() {
  RecoveryReport report;
  std::lock_guard g(cq_mu_);
  int64_t end = 0;
  for (auto& [topic, m] : queues_)
    for (auto& [qid, q] : m) {
      if (auto r = q->recover(); !r) return r.error();
      end = std::max(end, q->max_physic_offset());
      queue_offsets_[topic + "-" + std::to_string(qid)] = q->max_offset();
    }
  set_dispatched_offset(end);
  external_end_.store(end);
  report.commit_log_end = end;
  return report;
}

IoResult<Unit> MessageStore::shutdown() {
  if (!opened_) return Unit{};
  auto f = flush();
  if (!f) return f.error();
  if (!reader_)
    if (auto r = commit_log_.drop_precreated(); !r) return r;
  {
    std::lock_guard g(cq_mu_);
    for (auto& [_, m] : queues_)
      for (auto& [__, q] : m)
        if (auto r = q->files().drop_precreated(); !r) return r;
  }
  if (!is_writable()) {
    // Keep `abort`: the next start must run abnormal recovery.
    opened_ = false;
    return Unit{};
  }
  if (auto r = fs_.remove(join_path(config_.store_path_root_dir, "abort")); !r) return r;
  if (auto r = fs_.sync_directory(config_.store_path_root_dir); !r) return r;
  opened_ = false;
  return Unit{};
}

// ---------------------------------------------------------------------------------------------
// Writes

ConsumeQueue* MessageStore::find_queue(const std::string& topic, int32_t queue_id) {
  std::lock_guard g(cq_mu_);
  auto it = queues_.find(topic);
  if (it == queues_.end()) return nullptr;
  auto q = it->second.find(queue_id);
  return q == it->second.end() ? nullptr : q->second.get();
}

IoResult<ConsumeQueue*> MessageStore::find_or_create_queue(const std::string& topic,
                                                           int32_t queue_id) {
  if (auto* q = find_queue(topic, queue_id)) return q;
  auto cq = std::make_unique<ConsumeQueue>(fs_, consume_queue_dir_, topic, queue_id,
                                           config_.mapped_file_size_consume_queue, log_,
                                           config_.append_by_mmap);
  ConsumeQueue* raw = cq.get();
  std::lock_guard g(cq_mu_);
  queues_[topic][queue_id] = std::move(cq);
  return raw;
}

int64_t& MessageStore::queue_offset_slot(const std::string& topic, int32_t queue_id) {
  return queue_offsets_[topic + "-" + std::to_string(queue_id)];
}

IoResult<Unit> MessageStore::dispatch(const MessageRecord& rec) {
  int64_t tags = tags_code_of(rec.topic, rec.properties, rec.store_timestamp);
  for (auto* d : dispatchers_) d->dispatch(rec, tags);
  if (!gets_queue_unit(rec.sys_flag)) return Unit{};
  auto q = find_or_create_queue(std::string(rec.topic), rec.queue_id);
  if (!q) return q.error();
  CqUnit u{rec.physical_offset, rec.total_size, tags};
  return (*q)->put_units(rec.queue_offset, &u, 1);
}

std::string MessageStore::disk_full_detail() const {
  // RocketMQ's remark names the usage of the CommitLog, ConsumeQueue and index disks; ours share
  // the store root.
  const double measured = last_used_ratio_.load(std::memory_order_relaxed);
  const double ratio = measured >= 0 ? measured : 1.0;
  char head[96];
  std::snprintf(head, sizeof head, "the broker's disk is full [CL: %5.2f CQ: %5.2f INDEX: %5.2f]: ", ratio, ratio, ratio);
  return head + write_refusal_reason();
}

PutMessageResult MessageStore::check_writable(int64_t now_ms) {
  PutMessageResult r;
  if (!opened_) {
    r.status = PutMessageStatus::kServiceNotAvailable;
    r.detail = "message store has been shut down";
  } else if (!is_writable()) {
    r.status = PutMessageStatus::kServiceNotAvailable;
    r.detail = "message store is not writable: " + writability_reason();
  } else if ((disk_full_.load(std::memory_order_acquire) || dispatch_pending_.load()) && !recheck_disk_space(now_ms)) {
    r.status = PutMessageStatus::kServiceNotAvailable;
    r.detail = is_writable() ? disk_full_detail() : "message store is not writable: " + writability_reason();
  } else {
    r.status = PutMessageStatus::kPutOk;
  }
  return r;
}

PutMessageResult MessageStore::put_message(const MessageToStore& msg, int64_t now_ms) {
  PutMessageResult res = check_writable(now_ms);
  if (!res.ok()) return res;
  if (reader_) return refused_in_dledger_mode();
  Encoded enc;
  res = prepare_message(msg, now_ms, enc);
  if (!res.ok()) return res;
  return append_encoded(enc, now_ms);
}

PutMessageResult MessageStore::put_messages(const BatchToStore& batch, int64_t now_ms) {
  PutMessageResult res = check_writable(now_ms);
  if (!res.ok()) return res;
  if (reader_) return refused_in_dledger_mode();
  Encoded enc;
  res = prepare_messages(batch, now_ms, enc);
  if (!res.ok()) return res;
  return append_encoded(enc, now_ms);
}

PutMessageResult MessageStore::encode_message(const MessageToStore& msg, int64_t now_ms,
                                              std::vector<std::string>& records) {
  PutMessageResult res = check_writable(now_ms);
  if (!res.ok()) return res;
  Encoded enc;
  res = prepare_message(msg, now_ms, enc);
  if (!res.ok()) return res;
  return encode_external(enc, now_ms, records);
}

PutMessageResult MessageStore::encode_messages(const BatchToStore& batch, int64_t now_ms,
                                               std::vector<std::string>& records) {
  PutMessageResult res = check_writable(now_ms);
  if (!res.ok()) return res;
  Encoded enc;
  res = prepare_messages(batch, now_ms, enc);
  if (!res.ok()) return res;
  return encode_external(enc, now_ms, records);
}

PutMessageResult MessageStore::prepare_message(const MessageToStore& msg, int64_t now_ms, Encoded& enc) const {
  PutMessageResult res;
  res.status = PutMessageStatus::kPutOk;
  auto illegal = [&](PutMessageStatus s, std::string why) {
    res.status = s;
    res.detail = std::move(why);
    return res;
  };
  if (msg.topic.empty() || msg.topic.size() > kMaxTopicLengthV1)
    return illegal(PutMessageStatus::kMessageIllegal, "topic length " + std::to_string(msg.topic.size()));
  if (msg.properties.size() > kMaxPropertiesLength)
    return illegal(PutMessageStatus::kPropertiesSizeExceeded,
                   "properties length " + std::to_string(msg.properties.size()));
  if (msg.body.size() > static_cast<size_t>(config_.max_message_size))
    return illegal(PutMessageStatus::kMessageIllegal, "body length " + std::to_string(msg.body.size()));
  if (msg.queue_id < 0) return illegal(PutMessageStatus::kMessageIllegal, "negative queue id");

  MessageRecord r;
  r.queue_id = msg.queue_id;
  r.topic = msg.topic;
  r.properties = msg.properties;
  // A delay level parks the message in SCHEDULE_TOPIC_XXXX queue level-1 with its real topic and
  // queue in properties, for the schedule service to deliver when due (RocketMQ's CommitLog does
  // this for plain and committed messages; a half message is delayed once it is committed).
  const int32_t tran_type = sysflag::transaction_type(msg.sys_flag);
  if ((tran_type == sysflag::kTransactionNotType || tran_type == sysflag::kTransactionCommitType) &&
      !delay_level_ms_.empty()) {
    int64_t level = 0;
    if (auto v = find_property(msg.properties, property::kDelayTimeLevel)) {
      for (char c : *v) {
        if (c < '0' || c > '9' || level > 1000000) {
          level = 0;
          break;
        }
        level = level * 10 + (c - '0');
      }
    }
    if (level > 0) {
      level = std::min<int64_t>(level, static_cast<int64_t>(delay_level_ms_.size()));
      enc.owned_properties.reserve(1);
      enc.owned_properties.push_back(edit_properties(
          msg.properties, {{std::string(property::kDelayTimeLevel), std::to_string(level)},
                           {std::string(property::kRealTopic), msg.topic},
                           {std::string(property::kRealQueueId), std::to_string(msg.queue_id)}}));
      if (enc.owned_properties.back().size() > kMaxPropertiesLength)
        return illegal(PutMessageStatus::kPropertiesSizeExceeded,
                       "properties length " + std::to_string(enc.owned_properties.back().size()));
      enc.owned_topic = std::string(kScheduleTopic);
      r.topic = enc.owned_topic;
      r.properties = enc.owned_properties.back();
      r.queue_id = static_cast<int32_t>(level - 1);
    }
  }
  // RocketMQ 5.x timed messages: parked in rmq_sys_wheel_timer queue 0 until their time (the
  // broker's TimerMessageService walks them down its buckets). Not a message the service itself
  // delivers (TIMER_DEQUEUE_MS), nor one already parked by a delay level.
  if ((tran_type == sysflag::kTransactionNotType || tran_type == sysflag::kTransactionCommitType) &&
      enc.owned_topic.empty() && !find_property(msg.properties, property::kTimerDequeueMs) && msg.topic != kTimerTopic) {
    std::optional<int64_t> deliver_ms;
    if (auto v = find_property(msg.properties, property::kTimerDeliverMs)) {
      deliver_ms = parse_property_int(*v);
    } else if (auto sec = find_property(msg.properties, property::kTimerDelaySec)) {
      if (auto n = parse_property_int(*sec); n && *n < 1'000'000'000) deliver_ms = now_ms + *n * 1000;
    } else if (auto ms = find_property(msg.properties, property::kTimerDelayMs)) {
      if (auto n = parse_property_int(*ms); n && *n < 1'000'000'000'000) deliver_ms = now_ms + *n;
    }
    if (deliver_ms && *deliver_ms > now_ms) {
      enc.owned_properties.reserve(1);
      enc.owned_properties.push_back(edit_properties(
          msg.properties, {{std::string(property::kRealTopic), msg.topic},
                           {std::string(property::kRealQueueId), std::to_string(msg.queue_id)},
                           {std::string(property::kTimerOutMs), std::to_string(*deliver_ms)}}));
      if (enc.owned_properties.back().size() > kMaxPropertiesLength)
        return illegal(PutMessageStatus::kPropertiesSizeExceeded,
                       "properties length " + std::to_string(enc.owned_properties.back().size()));
      enc.owned_topic = std::string(kTimerTopic);
      r.topic = enc.owned_topic;
      r.properties = enc.owned_properties.back();
      r.queue_id = 0;
    }
  }
  r.flag = msg.flag;
  r.sys_flag = msg.sys_flag;
  r.born_timestamp = msg.born_timestamp;
  r.born_host = msg.born_host;
  r.store_host = msg.store_host;
  r.reconsume_times = msg.reconsume_times;
  r.prepared_transaction_offset = msg.prepared_transaction_offset;
  r.body = msg.body;
  r.body_crc = rocketmq_crc32(msg.body);
  enc.has_unit.push_back(gets_queue_unit(msg.sys_flag));
  enc.tags_codes.push_back(tags_code_of(r.topic, r.properties, now_ms));
  enc.total_bytes = message_record_size(msg.body.size(), r.topic.size(), r.properties.size(),
                                        (msg.born_host.ipv6 ? sysflag::kBornHostV6 : 0) |
                                            (msg.store_host.ipv6 ? sysflag::kStoreHostV6 : 0));
  enc.records.push_back(r);
  return res;
}

PutMessageResult MessageStore::prepare_messages(const BatchToStore& batch, int64_t now_ms, Encoded& enc) const {
  PutMessageResult res;
  res.status = PutMessageStatus::kPutOk;
  auto illegal = [&](PutMessageStatus s, std::string why) {
    res.status = s;
    res.detail = std::move(why);
    return res;
  };
  if (batch.topic.empty() || batch.topic.size() > kMaxTopicLengthV1)
    return illegal(PutMessageStatus::kMessageIllegal, "topic length");
  if (sysflag::transaction_type(batch.sys_flag) != sysflag::kTransactionNotType)
    return illegal(PutMessageStatus::kMessageIllegal, "a batch cannot be transactional");
  if (batch.queue_id < 0) return illegal(PutMessageStatus::kMessageIllegal, "negative queue id");
  auto items = decode_batch(batch.body);
  if (!items) return illegal(PutMessageStatus::kMessageIllegal, "batch body: " + items.detail());
  if (items->empty()) return illegal(PutMessageStatus::kMessageIllegal, "empty batch");
  enc.owned_properties.reserve(items->size());
  int32_t host_flags = (batch.born_host.ipv6 ? sysflag::kBornHostV6 : 0) |
                       (batch.store_host.ipv6 ? sysflag::kStoreHostV6 : 0);
  for (const auto& it : *items) {
    if (it.body.size() > static_cast<size_t>(config_.max_message_size))
      return illegal(PutMessageStatus::kMessageIllegal, "batch member body too large");
    enc.owned_properties.push_back(join_batch_properties(it.properties, batch.properties));
    const std::string& props = enc.owned_properties.back();
    if (props.size() > kMaxPropertiesLength)
      return illegal(PutMessageStatus::kPropertiesSizeExceeded, "batch member properties");
    MessageRecord r;
    r.queue_id = batch.queue_id;
    r.flag = it.flag;
    r.sys_flag = batch.sys_flag;
    r.born_timestamp = batch.born_timestamp;
    r.born_host = batch.born_host;
    r.store_host = batch.store_host;
    r.reconsume_times = batch.reconsume_times;
    r.body = it.body;
    r.topic = batch.topic;
    r.properties = props;
    r.body_crc = rocketmq_crc32(it.body);
    enc.records.push_back(r);
    enc.has_unit.push_back(true);
    enc.tags_codes.push_back(tags_code_of(batch.topic, props, now_ms));
    enc.total_bytes += message_record_size(it.body.size(), batch.topic.size(), props.size(), host_flags);
  }
  return res;
}

PutMessageResult MessageStore::append_encoded(Encoded& enc, int64_t now_ms) {
  PutMessageResult res;
  const int64_t file_size = config_.mapped_file_size_commit_log;
  if (static_cast<int64_t>(enc.total_bytes) + kEndFileMinBlankLength > file_size) {
    res.status = PutMessageStatus::kMessageIllegal;
    res.detail = "message of " + std::to_string(enc.total_bytes) + " bytes does not fit a commit log file";
    return res;
  }
  auto fail_io = [&](const Error<IoError>& e, const std::string& what) {
    set_unwritable(what + ": " + io_error_name(e.code) + ": " + e.detail);
    res.status = e.code == IoError::kNoSpace ? PutMessageStatus::kServiceNotAvailable
                                             : PutMessageStatus::kUnknownError;
    res.detail = what + ": " + io_error_name(e.code) + ": " + e.detail;
    return res;
  };
  auto create_failed = [&](const Error<IoError>& e, const std::string& what) {
    // Not fatal to the data: nothing was written. A full disk is a state that clears by itself
    // when space returns (recheck_disk_space), not a stop.
    res.status = e.code == IoError::kNoSpace ? PutMessageStatus::kServiceNotAvailable
                                             : PutMessageStatus::kCreateMappedFileFailed;
    res.detail = what + ": " + io_error_name(e.code) + ": " + e.detail;
    if (e.code == IoError::kNoSpace) {
      mark_disk_full(FullCause::kNoSpace,
                     "cannot " + what + ": " + e.detail + "; " + describe_space(probe_ ? probe_(config_.store_path_root_dir) : std::nullopt));
      res.detail = disk_full_detail();
    }
    return res;
  };

  auto file = commit_log_.last_file();
  if (!file || file->is_full()) {
    int64_t next = file ? file->file_from_offset() + file_size : commit_log_.min_offset();
    auto created = commit_log_.create_file(next);
    if (!created) return create_failed(created.error(), "create commit log file");
    file = *created;
  }
  // A segment loaded at start-up is reserved (fallocate) at its first append: do it here, where
  // ENOSPC means "disk full" (nothing written yet), rather than inside the append.
  if (auto p = file->prepare_for_append(); !p) return create_failed(p.error(), "reserve commit log file");
  if (static_cast<int64_t>(enc.total_bytes) + kEndFileMinBlankLength > file->free_bytes()) {
    uint8_t blank[8];
    encode_blank(blank, static_cast<int32_t>(file->free_bytes()));
    if (auto r = file->append(blank, sizeof blank); !r) return fail_io(r.error(), "write blank");
    file->mark_full();
    // ENOSPC here leaves a complete log ending in a full segment; the next put creates the next
    // segment again (above).
    auto created = commit_log_.create_file(file->file_from_offset() + file_size);
    if (!created) return create_failed(created.error(), "create commit log file");
    file = *created;
  }

  const int64_t wrote_offset = file->file_from_offset() + file->wrote_position();
  scratch_.clear();
  scratch_.reserve(enc.total_bytes);
  int64_t phy = wrote_offset;
  int64_t first_queue_offset = 0;
  std::vector<int64_t> queue_offsets(enc.records.size(), 0);
  {
    int64_t* slot = nullptr;
    for (size_t i = 0; i < enc.records.size(); ++i) {
      auto& r = enc.records[i];
      if (enc.has_unit[i]) {
        if (!slot) slot = &queue_offset_slot(std::string(r.topic), r.queue_id);
        queue_offsets[i] = *slot + static_cast<int64_t>(i);
      }
      r.queue_offset = queue_offsets[i];
      r.physical_offset = phy;
      r.store_timestamp = now_ms;
      size_t before = scratch_.size();
      auto e = encode_record(r, scratch_);
      if (!e) {
        res.status = PutMessageStatus::kMessageIllegal;
        res.detail = e.detail();
        return res;
      }
      r.total_size = static_cast<int32_t>(scratch_.size() - before);
      phy += r.total_size;
    }
    first_queue_offset = queue_offsets[0];
  }
  MQ_CHECK(scratch_.size() == enc.total_bytes, "encoded size differs from the computed size");
  ConsumeQueue* cq = nullptr;
  size_t unit_count = static_cast<size_t>(std::count(enc.has_unit.begin(), enc.has_unit.end(), true));
  if (unit_count > 0) {
    auto q = find_or_create_queue(std::string(enc.records[0].topic), enc.records[0].queue_id);
    if (!q) return create_failed(q.error(), "create consume queue");
    cq = *q;
    if (auto r = cq->prepare_for(first_queue_offset, unit_count); !r)
      return create_failed(r.error(), "create consume queue file");
  }
  if (auto r = file->append(scratch_.data(), scratch_.size()); !r)
    return fail_io(r.error(), "write commit log");

  // ConsumeQueue units. A batch goes to one queue with consecutive offsets: one write.
  std::vector<CqUnit> units;
  for (size_t i = 0; i < enc.records.size(); ++i)
    if (enc.has_unit[i])
      units.push_back(CqUnit{enc.records[i].physical_offset, enc.records[i].total_size, enc.tags_codes[i]});
  bool dispatched = true;
  if (!units.empty()) {
    if (auto r = cq->put_units(first_queue_offset, units.data(), units.size()); !r) {
      if (r.code() != IoError::kNoSpace) return fail_io(r.error(), "write consume queue");
      // The record is in the CommitLog, so it is accepted (as RocketMQ's put is once the CommitLog
      // has it; its dispatch runs later anyway). The ConsumeQueue is derived data: its units are
      // written again from the CommitLog, in order, before the next write is taken.
      mark_disk_full(FullCause::kNoSpace, "cannot write consume queue " + std::string(enc.records[0].topic) + "/" +
                                              std::to_string(enc.records[0].queue_id) + ": " + r.detail() + "; " +
                                              describe_space(probe_ ? probe_(config_.store_path_root_dir) : std::nullopt));
      dispatch_pending_.store(true);
      dispatched = false;
    }
    queue_offset_slot(std::string(enc.records[0].topic), enc.records[0].queue_id) +=
        static_cast<int64_t>(units.size());
  }
  last_store_timestamp_.store(now_ms, std::memory_order_release);
  if (dispatched) {
    for (auto* d : dispatchers_)
      for (size_t i = 0; i < enc.records.size(); ++i) d->dispatch(enc.records[i], enc.tags_codes[i]);
    set_dispatched_offset(wrote_offset + static_cast<int64_t>(enc.total_bytes));
  }

  res.status = PutMessageStatus::kPutOk;
  res.wrote_offset = wrote_offset;
  res.wrote_bytes = static_cast<int32_t>(enc.total_bytes);
  res.logics_offset = first_queue_offset;
  res.msg_num = static_cast<int32_t>(enc.records.size());
  res.store_timestamp = now_ms;
  res.end_offset = wrote_offset + static_cast<int64_t>(enc.total_bytes);
  res.msg_ids.reserve(enc.records.size());
  for (const auto& r : enc.records)
    res.msg_ids.push_back(make_offset_msg_id(r.store_host, r.physical_offset));
  return res;
}

// ---------------------------------------------------------------------------------------------
// DLedger mode

PutMessageResult MessageStore::refused_in_dledger_mode() {
  PutMessageResult r;
  r.status = PutMessageStatus::kServiceNotAvailable;
  r.detail = "a DLedger store takes messages through its Raft log";
  return r;
}

PutMessageResult MessageStore::encode_external(Encoded& enc, int64_t now_ms, std::vector<std::string>& records) {
  PutMessageResult res;
  if (static_cast<int64_t>(enc.total_bytes) + 48 + kEndFileMinBlankLength > config_.mapped_file_size_commit_log) {
    res.status = PutMessageStatus::kMessageIllegal;
    res.detail = "message of " + std::to_string(enc.total_bytes) + " bytes does not fit a commit log file";
    return res;
  }
  const bool has_units = std::count(enc.has_unit.begin(), enc.has_unit.end(), true) > 0;
  int64_t* slot = has_units ? &queue_offset_slot(std::string(enc.records[0].topic), enc.records[0].queue_id) : nullptr;
  const int64_t first = slot ? *slot : 0;
  int64_t next = first;
  for (size_t i = 0; i < enc.records.size(); ++i) {
    auto& r = enc.records[i];
    r.queue_offset = enc.has_unit[i] ? next++ : 0;
    r.physical_offset = 0;
    r.store_timestamp = now_ms;
    std::string bytes;
    bytes.reserve(message_record_size(r.body.size(), r.topic.size(), r.properties.size(), 0) + 16);
    if (auto e = encode_record(r, bytes); !e) {
      res.status = PutMessageStatus::kMessageIllegal;
      res.detail = e.detail();
      return res;
    }
    records.push_back(std::move(bytes));
  }
  if (slot) *slot = next;
  res.status = PutMessageStatus::kPutOk;
  res.logics_offset = first;
  res.msg_num = static_cast<int32_t>(enc.records.size());
  res.store_timestamp = now_ms;
  return res;
}

IoResult<CommittedRecord> MessageStore::dispatch_committed(int64_t offset, std::string_view record) {
  auto bad = [&](const std::string& why) -> Error<IoError> {
    std::string what = "committed record at commit log offset " + std::to_string(offset) + ": " + why;
    set_unwritable(what);
    return make_error(IoError::kCorrupt, what);
  };
  auto e = decode_entry(record, DecodeOptions{false});
  if (!e) return bad(e.detail());
  const MessageRecord& rec = e->message;
  if (rec.physical_offset != offset) return bad("physical offset field " + std::to_string(rec.physical_offset));
  CommittedRecord out;
  out.topic = std::string(rec.topic);
  out.queue_id = rec.queue_id;
  out.queue_offset = rec.queue_offset;
  out.commit_log_offset = offset;
  out.size = rec.total_size;
  out.store_timestamp = rec.store_timestamp;
  out.has_unit = gets_queue_unit(rec.sys_flag);
  const int64_t end = offset + rec.total_size;
  if (end <= dispatched_offset_) return out;  // replayed after a restart: already in the queues
  if (auto r = dispatch(rec); !r) {
    set_unwritable("write consume queue for the record at " + std::to_string(offset) + ": " + r.detail());
    return r.error();
  }
  if (out.has_unit) {
    int64_t& slot = queue_offset_slot(out.topic, rec.queue_id);
    slot = std::max(slot, rec.queue_offset + 1);
  }
  last_store_timestamp_.store(rec.store_timestamp, std::memory_order_release);
  set_dispatched_offset(end);
  external_end_.store(end, std::memory_order_release);
  return out;
}

void MessageStore::reset_queue_offsets() {
  std::lock_guard g(cq_mu_);
  queue_offsets_.clear();
  for (auto& [topic, m] : queues_)
    for (auto& [qid, q] : m) queue_offsets_[topic + "-" + std::to_string(qid)] = q->max_offset();
}

IoResult<std::string> MessageStore::read_commit_log_bytes(int64_t offset, size_t n) const {
  if (reader_) {
    if (offset < 0 || offset + static_cast<int64_t>(n) > external_end_.load(std::memory_order_acquire))
      return make_error(IoError::kNotFound, "offset " + std::to_string(offset) + " beyond committed data");
    return reader_->read(offset, n);
  }
  auto f = commit_log_.find_file(offset);
  if (!f) return make_error(IoError::kNotFound, "no commit log file for offset " + std::to_string(offset));
  int64_t pos = offset - f->file_from_offset();
  if (n == 0 || pos + static_cast<int64_t>(n) > f->wrote_position())
    return make_error(IoError::kNotFound, "offset " + std::to_string(offset) + " beyond data");
  std::string out;
  if (auto r = f->read(pos, n, out); !r) return r.error();
  return out;
}

// ---------------------------------------------------------------------------------------------
// Replicated appends (slave side of HA)

IoResult<Unit> MessageStore::append_replicated(int64_t start_offset, std::string_view data,
                                               int64_t now_ms) {
  if (auto w = check_writable(now_ms); !w.ok()) {
    // An open, writable store refuses only because the disk is full (or records wait for their
    // ConsumeQueue units, which takes space too).
    IoError code = opened_ && is_writable() ? IoError::kNoSpace : IoError::kIo;
    return make_error(code, "replicated append refused: " + w.detail);
  }
  const int64_t file_size = config_.mapped_file_size_commit_log;
  const bool empty = commit_log_.empty();
  if (empty && (start_offset < 0 || start_offset % file_size != 0))
    return make_error(IoError::kCorrupt, "replicated data starts at commit log offset " +
                                             std::to_string(start_offset) +
                                             ", which is not a segment start (segments of " +
                                             std::to_string(file_size) + " bytes), and this commit log is empty");
  if (!empty && start_offset != max_phy_offset())
    return make_error(IoError::kCorrupt, "replicated data starts at commit log offset " +
                                             std::to_string(start_offset) + " but this commit log ends at " +
                                             std::to_string(max_phy_offset()));
  if (data.empty()) return Unit{};
  if (empty) set_dispatched_offset(start_offset);

  IoResult<Unit> written = Unit{};
  size_t done = 0;
  while (done < data.size()) {
    auto file = commit_log_.last_file();
    if (!file || file->is_full()) {
      auto created = commit_log_.create_file(file ? file->file_from_offset() + file_size : start_offset);
      if (!created) {
        // As for puts, not fatal: what is written stays, the master resends from max_phy_offset().
        if (created.code() == IoError::kNoSpace)
          mark_disk_full(FullCause::kNoSpace, "cannot create commit log file: " + created.detail() + "; " +
                                                  describe_space(probe_ ? probe_(config_.store_path_root_dir) : std::nullopt));
        written = make_error(created.code(), "create commit log file: " + created.detail());
        break;
      }
      file = *created;
    }
    size_t n = std::min<size_t>(data.size() - done, static_cast<size_t>(file->free_bytes()));
    if (auto r = file->append(data.data() + done, n); !r) {
      set_unwritable("write replicated commit log data at " + std::to_string(max_phy_offset()) + ": " +
                     io_error_name(r.code()) + ": " + r.detail());
      written = r;
      break;
    }
    done += n;
  }
  // Whatever was written, its complete records get their units.
  auto dispatched = dispatch_replicated();
  if (!written) return written;
  // Units that could not be written for lack of space wait (dispatch pending); the bytes are in.
  if (!dispatched && dispatched.code() == IoError::kNoSpace) return Unit{};
  return dispatched;
}

IoResult<Unit> MessageStore::dispatch_from_cursor() { return dispatch_replicated(); }

// RocketMQ's ReputMessageService, run right after each replicated append: dispatches every record
// that is complete from the cursor on. One read per segment covers the incomplete record left last
// time plus the new bytes.
IoResult<Unit> MessageStore::dispatch_replicated() {
  const int64_t min_record = static_cast<int64_t>(message_record_size(0, 0, 0, 0));
  std::string buf;
  while (true) {
    auto f = commit_log_.find_file(dispatched_offset_);
    if (!f) {
      // After a BLANK, until the next segment arrives; or everything is dispatched.
      dispatch_pending_.store(false);
      return Unit{};
    }
    const int64_t pos = dispatched_offset_ - f->file_from_offset();
    const int64_t avail = f->wrote_position() - pos;
    if (avail < 8) {
      dispatch_pending_.store(false);
      return Unit{};
    }
    if (auto r = f->read(pos, static_cast<size_t>(avail), buf); !r) return r;
    size_t at = 0;
    while (true) {
      const int64_t offset = dispatched_offset_;
      auto bad = [&](const std::string& why) -> IoResult<Unit> {
        std::string what = "replicated record at commit log offset " + std::to_string(offset) + ": " + why;
        set_unwritable(what);
        return make_error(IoError::kCorrupt, what);
      };
      if (buf.size() - at < 8) {
        dispatch_pending_.store(false);
        return Unit{};
      }
      const auto* head = reinterpret_cast<const uint8_t*>(buf.data() + at);
      const int64_t total = static_cast<int32_t>(get_be32(head));
      const uint32_t magic = get_be32(head + 4);
      if (magic == kBlankMagic) {
        set_dispatched_offset(f->file_from_offset() + f->file_size());
        break;
      }
      if (magic != kMessageMagicV1 && magic != kMessageMagicV2) return bad("bad magic code");
      // Every record leaves room for the BLANK that ends its segment, as ours and Java's do.
      const int64_t room = f->file_size() - (offset - f->file_from_offset()) - kEndFileMinBlankLength;
      if (total < min_record || total > room) return bad("impossible size " + std::to_string(total));
      if (static_cast<int64_t>(buf.size() - at) < total) {
        dispatch_pending_.store(false);
        return Unit{};  // the next chunk completes it
      }
      auto e = decode_entry(std::string_view(buf).substr(at, static_cast<size_t>(total)), DecodeOptions{false});
      if (!e) return bad(e.detail());
      const MessageRecord& rec = e->message;
      if (rec.physical_offset != offset)
        return bad("physical offset field " + std::to_string(rec.physical_offset));
      if (auto r = dispatch(rec); !r) {
        if (r.code() == IoError::kNoSpace) {
          // The record stays in the CommitLog; its unit is written when space returns
          // (recheck_disk_space), before anything else is.
          mark_disk_full(FullCause::kNoSpace,
                         "cannot write consume queue " + std::string(rec.topic) + "/" + std::to_string(rec.queue_id) +
                             " for the record at " + std::to_string(offset) + ": " + r.detail() + "; " +
                             describe_space(probe_ ? probe_(config_.store_path_root_dir) : std::nullopt));
          dispatch_pending_.store(true);
          return r;
        }
        set_unwritable("write consume queue for the record at " + std::to_string(offset) + ": " + r.detail());
        return r;
      }
      if (gets_queue_unit(rec.sys_flag)) {
        int64_t& slot = queue_offset_slot(std::string(rec.topic), rec.queue_id);
        slot = std::max(slot, rec.queue_offset + 1);
      }
      last_store_timestamp_.store(rec.store_timestamp, std::memory_order_release);
      set_dispatched_offset(offset + total);
      at += static_cast<size_t>(total);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Truncation (controller mode)

bool MessageStore::is_message_boundary(int64_t offset) const {
  if (reader_) return false;
  const int64_t min = commit_log_.min_offset(), max = commit_log_.max_offset();
  if (offset < min || offset > max) return false;
  // The end of the log, and the end of the last dispatched record (where a slave's incomplete tail
  // starts), are boundaries by construction; so is every segment start: records never cross one.
  if (offset == max || offset == dispatched_offset_) return true;
  auto f = commit_log_.find_file(offset);
  if (!f) return false;
  const int64_t pos = offset - f->file_from_offset();
  if (pos == 0) return true;
  const int64_t avail = f->wrote_position() - pos;
  if (avail < 8) return false;
  std::string bytes;
  if (!f->read(pos, 8, bytes)) return false;
  const auto* head = reinterpret_cast<const uint8_t*>(bytes.data());
  const int64_t total = static_cast<int32_t>(get_be32(head));
  const uint32_t magic = get_be32(head + 4);
  // A BLANK fills the rest of its segment: where it starts, the segment's data ended.
  if (magic == kBlankMagic) return total == f->file_size() - pos;
  if (magic != kMessageMagicV1 && magic != kMessageMagicV2) return false;
  if (total < static_cast<int64_t>(message_record_size(0, 0, 0, 0)) || total > avail) return false;
  if (!f->read(pos, static_cast<size_t>(total), bytes)) return false;
  auto e = decode_entry(bytes, DecodeOptions{true});
  return e && !e->blank && e->size == total && e->message.physical_offset == offset;
}

IoResult<Unit> MessageStore::truncate_commit_log(int64_t offset) {
  const std::string what = "truncate the commit log to " + std::to_string(offset);
  if (!opened_) return make_error(IoError::kIo, what + ": the store is not open");
  if (reader_) return make_error(IoError::kIo, what + ": a DLedger store's log is truncated by its Raft log");
  if (!is_writable()) return make_error(IoError::kIo, what + ": the store is not writable: " + writability_reason());
  const int64_t old_end = commit_log_.max_offset();
  if (offset >= old_end) return Unit{};
  if (offset < commit_log_.min_offset())
    return make_error(IoError::kCorrupt, what + ": below the commit log's first offset " +
                                             std::to_string(commit_log_.min_offset()));
  if (!is_message_boundary(offset))
    return make_error(IoError::kCorrupt, what + ": no message starts there (the log ends at " + std::to_string(old_end) +
                                             ")");
  auto fail = [&](const std::string& step, const Error<IoError>& e) -> Error<IoError> {
    std::string why = what + " (was " + std::to_string(old_end) + "): " + step + ": " + io_error_name(e.code) + ": " + e.detail;
    set_unwritable(why);
    return make_error(e.code, why);
  };

  // 1. The CommitLog: later segments go newest first, then the holding segment's tail is zeroed;
  // both are durable before anything else moves (see the top of message_store.h).
  auto deleted = commit_log_.cut(offset);
  if (!deleted) return fail("cut commit log", deleted.error());
  if (auto f = commit_log_.flush(); !f) return fail("flush commit log", f.error());

  // 2. ConsumeQueues whose last unit points at the cut or later. Units of one queue point at
  // increasing offsets, so the last one says whether anything is to cut.
  std::vector<ConsumeQueue*> cqs;
  {
    std::lock_guard g(cq_mu_);
    for (auto& [_, m] : queues_)
      for (auto& [__, q] : m) cqs.push_back(q.get());
  }
  int64_t units_cut = 0;
  int queues_cut = 0;
  for (auto* q : cqs) {
    const int64_t before = q->max_offset();
    if (before <= q->min_offset()) continue;  // no unit of a record still in the log
    auto last = q->read_units(before - 1, 1);
    if (!last) return fail("read consume queue " + q->topic() + "/" + std::to_string(q->queue_id()), last.error());
    if (!last->empty() && !(*last)[0].is_filler() && (*last)[0].commit_log_offset < offset) continue;
    if (auto r = q->truncate_dirty(offset); !r)
      return fail("cut consume queue " + q->topic() + "/" + std::to_string(q->queue_id()), r.error());
    if (auto r = q->flush(); !r)
      return fail("flush consume queue " + q->topic() + "/" + std::to_string(q->queue_id()), r.error());
    units_cut += before - q->max_offset();
    ++queues_cut;
  }

  // 3. Bookkeeping: the dispatch cursor, the queue offsets handed out next, the checkpoint.
  if (dispatched_offset_ > offset) set_dispatched_offset(offset);
  if (dispatched_offset_ >= commit_log_.max_offset()) dispatch_pending_.store(false);
  reset_queue_offsets();
  bool checkpoint_changed = false;
  if (checkpoint_->dispatched_phy_offset() > offset) {
    checkpoint_->set_dispatched_phy_offset(offset);
    checkpoint_changed = true;
  }
  if (checkpoint_->confirm_phy_offset() > offset) {
    checkpoint_->set_confirm_phy_offset(offset);
    checkpoint_changed = true;
  }
  if (checkpoint_->master_flushed_offset() > offset) {
    checkpoint_->set_master_flushed_offset(offset);
    checkpoint_changed = true;
  }
  if (checkpoint_changed)
    if (auto r = checkpoint_->flush(); !r) return fail("flush checkpoint", r.error());

  // 4. Derived structures outside the store (the IndexFile).
  for (auto* d : dispatchers_) d->on_commit_log_truncated(offset);

  log_.warn("commit log truncated to " + std::to_string(offset) + " (was " + std::to_string(old_end) + ": " +
            std::to_string(old_end - offset) + " bytes cut, " + std::to_string(*deleted) + " later segments deleted, " +
            std::to_string(units_cut) + " ConsumeQueue units cut in " + std::to_string(queues_cut) + " queues)");
  return Unit{};
}

// ---------------------------------------------------------------------------------------------
// Worker calls

IoResult<int64_t> MessageStore::flush() {
  // Read the timestamp and the dispatch mark before the positions: the records they belong to are
  // then below what we flush.
  int64_t ts = last_store_timestamp_.load(std::memory_order_acquire);
  const int64_t mark = reader_ ? 0 : dispatched_mark_.load(std::memory_order_acquire);
  auto cl = reader_ ? IoResult<int64_t>(external_end_.load()) : commit_log_.flush();
  if (!cl) {
    set_unwritable("flush commit log: " + cl.detail());
    return cl.error();
  }
  std::vector<ConsumeQueue*> cqs;
  {
    std::lock_guard g(cq_mu_);
    for (auto& [_, m] : queues_)
      for (auto& [__, q] : m) cqs.push_back(q.get());
  }
  for (auto* q : cqs) {
    if (auto r = q->flush(); !r) {
      set_unwritable("flush consume queue: " + r.detail());
      return r.error();
    }
  }
  // The checkpoint is rewritten only when it changes, so an idle interval flush costs no fsync.
  // Timestamps only move forward (after the clock jumps back they wait); the mark follows the
  // dispatch, also back after a truncation.
  if (checkpoint_ && (ts > checkpoint_->physic_msg_timestamp() || mark != checkpoint_->dispatched_phy_offset())) {
    if (ts > checkpoint_->physic_msg_timestamp()) {
      checkpoint_->set_physic_msg_timestamp(ts);
      checkpoint_->set_logics_msg_timestamp(ts);
    }
    checkpoint_->set_dispatched_phy_offset(mark);
    if (auto r = checkpoint_->flush(); !r) {
      set_unwritable("flush checkpoint: " + r.detail());
      return r.error();
    }
  }
  return *cl;
}

IoResult<int64_t> MessageStore::flush_commit_log() {
  if (reader_) return external_end_.load();
  auto cl = commit_log_.flush();
  if (!cl) set_unwritable("flush commit log: " + cl.detail());
  return cl;
}

IoResult<Unit> MessageStore::precreate_next_file() {
  if (reader_) return Unit{};
  return commit_log_.precreate_next();
}

// ---------------------------------------------------------------------------------------------
// Reads

IoResult<std::string> MessageStore::read_record(int64_t commit_log_offset, int32_t size) {
  if (size <= 0) return make_error(IoError::kNotFound, "record size " + std::to_string(size));
  auto rec = read_commit_log_bytes(commit_log_offset, static_cast<size_t>(size));
  if (!rec) return rec;
  // A ConsumeQueue unit is derived data: one damaged on disk (or a store whose files were mixed up)
  // can point anywhere. Hand out only bytes that start a message of the unit's size, so a consumer
  // never gets garbage (found by fuzz_store_recovery); the unit is then treated like a removed one.
  if (rec->size() < 8) return make_error(IoError::kCorrupt, "record at " + std::to_string(commit_log_offset) + " too short");
  // A record also carries its own offset: an entry pointing into the middle of a record (an index
  // entry left from before a truncation, once new records fill those offsets) cannot match.
  const auto* b = reinterpret_cast<const uint8_t*>(rec->data());
  const uint32_t total = get_be32(b), magic = get_be32(b + 4);
  if (static_cast<int32_t>(total) != size || (magic != kMessageMagicV1 && magic != kMessageMagicV2) ||
      rec->size() < 36 || static_cast<int64_t>(get_be64(b + 28)) != commit_log_offset)
    return make_error(IoError::kCorrupt, "no message of " + std::to_string(size) + " bytes at commit log offset " +
                                             std::to_string(commit_log_offset));
  return rec;
}

IoResult<std::string> MessageStore::read_commit_log(int64_t offset, size_t max_bytes) {
  if (reader_) return make_error(IoError::kNotFound, "a DLedger store replicates through its Raft log");
  auto f = commit_log_.find_file(offset);
  if (!f) {
    if (offset == max_phy_offset()) return std::string();
    return make_error(IoError::kNotFound, "no commit log file for offset " + std::to_string(offset));
  }
  int64_t pos = offset - f->file_from_offset();
  int64_t avail = f->wrote_position() - pos;
  if (avail <= 0) return std::string();
  std::string out;
  if (auto r = f->read(pos, static_cast<size_t>(std::min<int64_t>(avail, static_cast<int64_t>(max_bytes))), out); !r)
    return r.error();
  return out;
}

IoResult<std::string> MessageStore::message_by_offset(int64_t commit_log_offset) {
  auto head = read_commit_log_bytes(commit_log_offset, 8);
  if (!head) return head.error();
  int32_t size = static_cast<int32_t>(get_be32(reinterpret_cast<const uint8_t*>(head->data())));
  auto rec = read_record(commit_log_offset, size);
  if (!rec) return rec;
  auto d = decode_record(*rec);
  if (!d) return make_error(IoError::kCorrupt, "record at " + std::to_string(commit_log_offset) + ": " + d.detail());
  return rec;
}

namespace {
int64_t store_timestamp_of(std::string_view head) {
  ByteReader r(head);
  r.skip(36);
  int32_t flag = r.i32();
  r.skip(8 + ((flag & sysflag::kBornHostV6) ? 20 : 8));
  int64_t ts = r.i64();
  return r.ok() ? ts : -1;
}
}  // namespace

int64_t MessageStore::earliest_message_time() {
  if (reader_) {
    // The oldest record any queue still references.
    int64_t oldest = -1;
    for (const auto& [topic, qid] : queues()) {
      auto* q = find_queue(topic, qid);
      auto u = q ? q->read_units(q->min_offset(), 1) : IoResult<std::vector<CqUnit>>(std::vector<CqUnit>{});
      if (u && !u->empty() && !(*u)[0].is_filler() && (oldest < 0 || (*u)[0].commit_log_offset < oldest))
        oldest = (*u)[0].commit_log_offset;
    }
    if (oldest < 0) return -1;
    auto head = read_commit_log_bytes(oldest, 128);
    if (!head) head = message_by_offset(oldest);
    return head ? store_timestamp_of(*head) : -1;
  }
  auto f = commit_log_.first_file();
  if (!f || f->wrote_position() < 8) return -1;
  std::string head;
  if (!f->read(0, 128, head)) return -1;
  if (get_be32(reinterpret_cast<const uint8_t*>(head.data()) + 4) == kBlankMagic) return -1;
  return store_timestamp_of(head);
}

int64_t MessageStore::message_store_timestamp(const std::string& topic, int32_t queue_id,
                                              int64_t offset) {
  auto* q = find_queue(topic, queue_id);
  if (!q) return -1;
  auto u = q->read_units(offset, 1);
  if (!u || u->empty() || (*u)[0].is_filler()) return -1;
  if ((*u)[0].size <= 0) return -1;
  auto rec = read_commit_log_bytes((*u)[0].commit_log_offset, static_cast<size_t>(std::min<int32_t>((*u)[0].size, 128)));
  if (!rec) return -1;
  return store_timestamp_of(*rec);
}

int64_t MessageStore::min_offset_in_queue(const std::string& topic, int32_t queue_id) {
  auto* q = find_queue(topic, queue_id);
  return q ? q->min_offset() : 0;
}

int64_t MessageStore::max_offset_in_queue(const std::string& topic, int32_t queue_id) {
  auto* q = find_queue(topic, queue_id);
  return q ? q->max_offset() : 0;
}

int64_t MessageStore::offset_in_queue_by_time(const std::string& topic, int32_t queue_id,
                                              int64_t timestamp) {
  auto* q = find_queue(topic, queue_id);
  if (!q) return 0;
  int64_t lo = q->min_offset(), hi = q->max_offset();
  // Invariant: every offset below lo is older than timestamp; hi is the answer if nothing between.
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    int64_t ts = message_store_timestamp(topic, queue_id, mid);
    if (ts < 0) {
      // Filler or removed record: treat as older.
      lo = mid + 1;
    } else if (ts < timestamp) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

std::vector<std::pair<std::string, int32_t>> MessageStore::queues() {
  std::vector<std::pair<std::string, int32_t>> out;
  std::lock_guard g(cq_mu_);
  for (auto& [t, m] : queues_)
    for (auto& [qid, _] : m) out.emplace_back(t, qid);
  return out;
}

GetMessageResult MessageStore::get_message(const std::string& topic, int32_t queue_id,
                                           int64_t offset, int32_t max_msg_nums,
                                           int64_t max_total_bytes, const TagsCodeFilter& filter) {
  GetMessageResult res;
  auto* q = find_queue(topic, queue_id);
  if (!q) {
    res.status = GetMessageStatus::kNoMatchedLogicQueue;
    res.next_begin_offset = 0;
    return res;
  }
  res.min_offset = q->min_offset();
  res.max_offset = q->max_offset();
  if (res.max_offset == 0) {
    res.status = GetMessageStatus::kNoMessageInQueue;
    res.next_begin_offset = 0;
    return res;
  }
  if (offset < res.min_offset) {
    res.status = GetMessageStatus::kOffsetTooSmall;
    res.next_begin_offset = res.min_offset;
    return res;
  }
  if (offset == res.max_offset) {
    res.status = GetMessageStatus::kOffsetOverflowOne;
    res.next_begin_offset = offset;
    return res;
  }
  if (offset > res.max_offset) {
    res.status = GetMessageStatus::kOffsetOverflowBadly;
    res.next_begin_offset = res.min_offset == 0 ? res.min_offset : res.max_offset;
    return res;
  }
  // RocketMQ scans at most max(16000 units, maxMsgNums) per pull when filtering.
  const int64_t max_scan = std::max<int64_t>(16000, max_msg_nums);
  const int64_t cl_min = min_phy_offset();
  res.status = GetMessageStatus::kNoMatchedMessage;
  bool saw_removed = false;
  int64_t cur = offset;
  bool stop = false;
  while (!stop && cur < res.max_offset && cur - offset < max_scan &&
         static_cast<int32_t>(res.messages.size()) < max_msg_nums) {
    auto units = q->read_units(cur, static_cast<size_t>(std::min<int64_t>(1024, res.max_offset - cur)));
    if (!units || units->empty()) {
      if (res.messages.empty() && cur == offset) {
        // A hole in the queue (its file is gone): like RocketMQ, skip to the next file.
        res.status = GetMessageStatus::kOffsetFoundNull;
        const int64_t per_file = config_.mapped_file_size_consume_queue / kCqUnitSize;
        cur = std::min(res.max_offset, (cur / per_file + 1) * per_file);
      }
      break;
    }
    for (const auto& u : *units) {
      if (static_cast<int32_t>(res.messages.size()) >= max_msg_nums || cur - offset >= max_scan) {
        stop = true;
        break;
      }
      if (u.is_filler()) {
        ++cur;
        continue;
      }
      if (u.commit_log_offset < cl_min) {
        saw_removed = true;
        ++cur;
        continue;
      }
      if (filter && !filter(u.tags_code)) {
        ++cur;
        continue;
      }
      // The first message always goes; later ones only while the bytes fit. A unit that does not
      // fit is not consumed: the next pull starts with it.
      if (!res.messages.empty() && static_cast<int64_t>(res.buffer.size()) + u.size > max_total_bytes) {
        stop = true;
        break;
      }
      ++cur;
      auto rec = read_record(u.commit_log_offset, u.size);
      if (!rec) {
        saw_removed = true;
        continue;
      }
      res.messages.push_back(StoredRecordRef{cur - 1, u.commit_log_offset, u.size, res.buffer.size(), u.tags_code});
      res.buffer += *rec;
    }
  }
  if (!res.messages.empty())
    res.status = GetMessageStatus::kFound;
  else if (saw_removed && res.status == GetMessageStatus::kNoMatchedMessage)
    res.status = GetMessageStatus::kMessageWasRemoving;
  res.next_begin_offset = cur;
  return res;
}

// ---------------------------------------------------------------------------------------------
// Expiry

bool MessageStore::is_delete_hour(int hour) const {
  size_t i = 0;
  const std::string& w = config_.delete_when;
  while (i < w.size()) {
    size_t j = w.find(';', i);
    if (j == std::string::npos) j = w.size();
    std::string tok = w.substr(i, j - i);
    i = j + 1;
    if (!tok.empty() && std::atoi(tok.c_str()) == hour) return true;
  }
  return false;
}

int MessageStore::delete_expired_files(const ExpiryRequest& req) {
  double pct = req.disk_used_ratio * 100.0;
  update_disk_usage(req.disk_used_ratio);
  bool space_pressure = pct > config_.disk_max_used_space_ratio;
  bool forcibly = config_.clean_file_forcibly_enable && pct > config_.disk_space_clean_forcibly_ratio;
  if (!req.is_delete_time && !space_pressure && !req.manual) return 0;
  if (reader_) {
    // The Raft log expires its own data files (DLedgerService); the queues follow its start.
    drop_consume_queue_files_below(min_phy_offset());
    return 0;
  }
  const int64_t reserved_ms = config_.file_reserved_time_hours * 3600 * 1000;
  int deleted = commit_log_.delete_leading_files(
      [&](const MappedFile& f) {
        // Never delete data that is not on disk yet.
        if (f.flushed_position() < f.file_size()) return false;
        return forcibly || f.mtime_ms() + reserved_ms <= req.now_ms;
      },
      config_.delete_commit_log_files_per_run);
  if (deleted > 0) {
    int64_t min_phy = commit_log_.min_offset();
    log_.info("expiry deleted " + std::to_string(deleted) + " commit log files; min offset now " +
              std::to_string(min_phy));
    drop_consume_queue_files_below(min_phy);
  }
  return deleted;
}

void MessageStore::drop_consume_queue_files_below(int64_t min_phy) {
  std::vector<ConsumeQueue*> cqs;
  {
    std::lock_guard g(cq_mu_);
    for (auto& [_, m] : queues_)
      for (auto& [__, q] : m) cqs.push_back(q.get());
  }
  for (auto* q : cqs) {
    q->delete_expired_files(min_phy);
    q->correct_min_offset(min_phy);
  }
}

}  // namespace mq::store
