#include "store/consume_queue.h"

#include "base/bytes.h"

namespace mq::store {

namespace {

void encode_unit(std::string& out, const CqUnit& u) {
  ByteWriter w(out);
  w.i64(u.commit_log_offset);
  w.i32(u.size);
  w.i64(u.tags_code);
}

CqUnit decode_unit(const uint8_t* p) {
  CqUnit u;
  u.commit_log_offset = static_cast<int64_t>(get_be64(p));
  u.size = static_cast<int32_t>(get_be32(p + 8));
  u.tags_code = static_cast<int64_t>(get_be64(p + 12));
  return u;
}

bool valid_unit(const CqUnit& u) { return u.commit_log_offset >= 0 && u.size > 0; }

}  // namespace

ConsumeQueue::ConsumeQueue(FileSystem& fs, const std::string& consume_queue_root, std::string topic,
                           int32_t queue_id, int64_t file_size, Logger log, bool use_mmap)
    : topic_(std::move(topic)),
      queue_id_(queue_id),
      files_(fs, join_path(join_path(consume_queue_root, topic_), std::to_string(queue_id)),
             file_size, use_mmap),
      log_(std::move(log)) {
  MQ_CHECK(file_size % kCqUnitSize == 0, "ConsumeQueue file size must be a multiple of 20");
}

IoResult<Unit> ConsumeQueue::load() {
  auto r = files_.load();
  if (!r) return r;
  min_offset_.store(files_.min_offset() / kCqUnitSize);
  return Unit{};
}

int64_t ConsumeQueue::max_offset() const { return files_.max_offset() / kCqUnitSize; }

IoResult<Unit> ConsumeQueue::recover() {
  auto files = files_.files();
  if (files.empty()) return Unit{};
  size_t start = files.size() > 3 ? files.size() - 3 : 0;
  int64_t end = files[start]->file_from_offset();
  int64_t max_phy = 0;
  std::string data;
  for (size_t i = start; i < files.size(); ++i) {
    auto& f = files[i];
    if (auto r = f->read(0, static_cast<size_t>(f->file_size()), data); !r) return r;
    const auto* p = reinterpret_cast<const uint8_t*>(data.data());
    int64_t pos = 0;
    for (; pos + kCqUnitSize <= f->file_size(); pos += kCqUnitSize) {
      CqUnit u = decode_unit(p + pos);
      if (!valid_unit(u)) break;
      if (!u.is_filler()) max_phy = u.commit_log_offset + u.size;
      end = f->file_from_offset() + pos + kCqUnitSize;
    }
    if (pos < f->file_size()) break;
  }
  max_physic_offset_.store(max_phy);
  return files_.truncate_dirty(end);
}

IoResult<Unit> ConsumeQueue::write_units_at(int64_t queue_offset, const std::string& bytes) {
  int64_t at = queue_offset * kCqUnitSize;
  size_t done = 0;
  while (done < bytes.size()) {
    auto last = files_.last_file();
    if (!last || last->is_full()) {
      int64_t next = last ? last->file_from_offset() + last->file_size() : at;
      auto created = files_.create_file(next);
      if (!created) return created.error();
      last = *created;
    }
    MQ_CHECK(last->file_from_offset() + last->wrote_position() == at + static_cast<int64_t>(done),
             "ConsumeQueue write position out of step");
    size_t n = std::min<size_t>(bytes.size() - done, static_cast<size_t>(last->free_bytes()));
    if (auto r = last->append(bytes.data() + done, n); !r) return r;
    done += n;
  }
  return Unit{};
}

IoResult<Unit> ConsumeQueue::prepare_for(int64_t queue_offset, size_t n) {
  // The queue offset comes from a record (the CommitLog, a replicated stream): beyond any real
  // queue, and its byte position must not overflow.
  if (queue_offset < 0 || queue_offset > kMaxQueueOffset - static_cast<int64_t>(n))
    return make_error(IoError::kCorrupt, "consume queue " + topic_ + "/" + std::to_string(queue_id_) +
                                             ": queue offset " + std::to_string(queue_offset) + " out of range");
  if (files_.empty()) {
    // First file of the queue: it starts at the file boundary below queue_offset, and the units
    // before queue_offset are fillers (RocketMQ's fillPreBlank).
    const int64_t fsz = files_.file_size();
    int64_t first = (queue_offset * kCqUnitSize / fsz) * fsz;
    auto created = files_.create_file(first);
    if (!created) return created.error();
    std::string bytes;
    for (int64_t q = first / kCqUnitSize; q < queue_offset; ++q)
      encode_unit(bytes, CqUnit{0, kCqFillerSize, 0});
    if (!bytes.empty())
      if (auto r = (*created)->append(bytes.data(), bytes.size()); !r) return r;
    min_offset_.store(queue_offset);
  }
  int64_t end_offset = queue_offset + static_cast<int64_t>(n);
  if (end_offset <= max_offset()) return Unit{};  // all present already (re-dispatch)
  auto last = files_.last_file();
  if (end_offset * kCqUnitSize > last->file_from_offset() + last->file_size())
    return files_.precreate_next();
  return Unit{};
}

IoResult<Unit> ConsumeQueue::put_units(int64_t queue_offset, const CqUnit* units, size_t n) {
  if (n == 0) return Unit{};
  std::string bytes;
  if (auto r = prepare_for(queue_offset, n); !r) return r;
  int64_t max = max_offset();
  size_t skip = 0;
  if (queue_offset < max) skip = static_cast<size_t>(std::min<int64_t>(max - queue_offset, n));
  if (skip == n) return Unit{};
  int64_t start = queue_offset + static_cast<int64_t>(skip);
  if (start - max > files_.file_size() / kCqUnitSize) {
    // Fillers cover a few lost units; a unit further ahead than one file is a damaged queue offset
    // (a flipped bit in a record's QUEUEOFFSET, which the body CRC does not cover), and filling
    // the gap would write up to 2^63 units.
    return make_error(IoError::kCorrupt, "consume queue " + topic_ + "/" + std::to_string(queue_id_) +
                                             ": queue offset " + std::to_string(start) + " is " +
                                             std::to_string(start - max) + " units past the queue's end " +
                                             std::to_string(max));
  }
  if (start > max) {
    log_.warn("consume queue " + topic_ + "/" + std::to_string(queue_id_) + ": gap " +
              std::to_string(max) + ".." + std::to_string(start) + " filled with fillers");
    for (int64_t q = max; q < start; ++q) encode_unit(bytes, CqUnit{0, kCqFillerSize, 0});
  }
  for (size_t i = skip; i < n; ++i) encode_unit(bytes, units[i]);
  if (auto r = write_units_at(std::min(start, max), bytes); !r) return r;
  const CqUnit& lastu = units[n - 1];
  if (!lastu.is_filler()) max_physic_offset_.store(lastu.commit_log_offset + lastu.size);
  return Unit{};
}

IoResult<std::vector<CqUnit>> ConsumeQueue::read_units(int64_t queue_offset,
                                                       size_t max_units) const {
  std::vector<CqUnit> out;
  int64_t at = queue_offset * kCqUnitSize;
  auto f = files_.find_file(at);
  if (!f) return out;
  int64_t pos = at - f->file_from_offset();
  int64_t avail = (f->wrote_position() - pos) / kCqUnitSize;
  if (avail <= 0) return out;
  size_t n = std::min<size_t>(max_units, static_cast<size_t>(avail));
  std::string data;
  if (auto r = f->read(pos, n * kCqUnitSize, data); !r) return r.error();
  out.reserve(n);
  for (size_t i = 0; i < n; ++i)
    out.push_back(decode_unit(reinterpret_cast<const uint8_t*>(data.data()) + i * kCqUnitSize));
  return out;
}

IoResult<Unit> ConsumeQueue::truncate_dirty(int64_t phy_offset) {
  auto files = files_.files();
  std::string data;
  int64_t cut = -1;
  for (size_t k = files.size(); k-- > 0;) {
    auto& f = files[k];
    int64_t wrote = f->wrote_position();
    if (auto r = f->read(0, static_cast<size_t>(wrote), data); !r) return r;
    int64_t first_bad = -1;
    for (int64_t pos = 0; pos + kCqUnitSize <= wrote; pos += kCqUnitSize) {
      CqUnit u = decode_unit(reinterpret_cast<const uint8_t*>(data.data()) + pos);
      if (!valid_unit(u) || (!u.is_filler() && u.commit_log_offset >= phy_offset)) {
        first_bad = pos;
        break;
      }
    }
    if (first_bad < 0 && wrote > 0) break;  // this file is clean, and so is everything before
    if (first_bad < 0) continue;             // an empty trailing file: look further back
    cut = f->file_from_offset() + first_bad;
    if (first_bad > 0) break;
  }
  if (cut >= 0) {
    log_.warn("consume queue " + topic_ + "/" + std::to_string(queue_id_) +
              ": units from queue offset " + std::to_string(cut / kCqUnitSize) +
              " point past the commit log end " + std::to_string(phy_offset) + ", cut");
    if (auto r = files_.cut(cut); !r) return r.error();
  }
  // Recompute the last referenced record end.
  int64_t max = max_offset();
  int64_t max_phy = 0;
  if (max > min_offset()) {
    auto u = read_units(max - 1, 1);
    if (!u) return u.error();
    if (!u->empty() && !(*u)[0].is_filler()) max_phy = (*u)[0].commit_log_offset + (*u)[0].size;
  }
  max_physic_offset_.store(max_phy);
  if (min_offset() > max) min_offset_.store(max);
  return Unit{};
}

void ConsumeQueue::correct_min_offset(int64_t commit_log_min_offset) {
  int64_t q = std::max(min_offset(), files_.min_offset() / kCqUnitSize);
  int64_t max = max_offset();
  while (q < max) {
    auto units = read_units(q, 1024);
    if (!units || units->empty()) break;
    for (const auto& u : *units) {
      if (!u.is_filler() && u.commit_log_offset >= commit_log_min_offset) {
        min_offset_.store(q);
        return;
      }
      ++q;
    }
  }
  min_offset_.store(q);
}

int ConsumeQueue::delete_expired_files(int64_t commit_log_min_offset) {
  // Move the min offset first, so a reader on another thread sees OFFSET_TOO_SMALL rather than a
  // unit in a file that is being deleted (still possible in a narrow race: OFFSET_FOUND_NULL).
  correct_min_offset(commit_log_min_offset);
  int n = files_.delete_leading_files(
      [&](const MappedFile& f) {
        int64_t wrote = f.wrote_position();
        if (wrote < kCqUnitSize) return false;
        std::string data;
        if (!f.read(wrote - kCqUnitSize, kCqUnitSize, data)) return false;
        CqUnit u = decode_unit(reinterpret_cast<const uint8_t*>(data.data()));
        return u.commit_log_offset + u.size <= commit_log_min_offset;
      },
      INT32_MAX);
  if (n > 0) correct_min_offset(commit_log_min_offset);
  return n;
}

}  // namespace mq::store
