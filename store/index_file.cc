#include "store/index_file.h"

#include <climits>
#include <cstring>

#include "base/bytes.h"
#include "base/check.h"
#include "base/hash.h"

namespace mq::store {

namespace {

// Java's long arithmetic wraps; so does this (store timestamps come from records, which a
// replicated or corrupted log may fill with anything).
int64_t wrapping_sub(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}
int64_t wrapping_add(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}

}  // namespace

int32_t index_key_hash(std::string_view key) {
  int32_t h = java_string_hash(key);
  if (h == INT32_MIN) return 0;
  return h < 0 ? -h : h;
}

int64_t index_file_size(int32_t max_hash_slot_num, int32_t max_index_num) {
  return kIndexHeaderSize + int64_t{max_hash_slot_num} * kIndexHashSlotSize +
         int64_t{max_index_num} * kIndexItemSize;
}

IndexFile::IndexFile(std::string path, std::unique_ptr<File> file, int32_t max_hash_slot_num,
                     int32_t max_index_num, bool use_mmap)
    : path_(std::move(path)),
      file_(std::move(file)),
      max_hash_slot_num_(max_hash_slot_num),
      max_index_num_(max_index_num),
      file_size_(index_file_size(max_hash_slot_num, max_index_num)),
      use_mmap_(use_mmap) {
  MQ_CHECK(max_hash_slot_num > 0 && max_index_num > 1, "index file needs slots and room for an item");
}

IndexFile::~IndexFile() = default;

std::string IndexFile::name() const {
  size_t slash = path_.rfind('/');
  return slash == std::string::npos ? path_ : path_.substr(slash + 1);
}

IoResult<std::unique_ptr<IndexFile>> IndexFile::create(FileSystem& fs, const std::string& path,
                                                       int32_t max_hash_slot_num,
                                                       int32_t max_index_num,
                                                       int64_t prev_end_phy_offset,
                                                       int64_t prev_end_timestamp_ms,
                                                       bool use_mmap) {
  auto f = fs.open(path, true);
  if (!f) return f.error();
  if ((*f)->size() != 0)
    return make_error(IoError::kIo, "index file " + path + " already exists");
  std::unique_ptr<IndexFile> idx(
      new IndexFile(path, std::move(*f), max_hash_slot_num, max_index_num, use_mmap));
  auto fail = [&](Error<IoError> e) -> IoResult<std::unique_ptr<IndexFile>> {
    idx.reset();
    (void)fs.remove(path);
    return e;
  };
  if (auto r = idx->file_->truncate(idx->file_size_); !r) return fail(r.error());
  if (auto r = idx->prepare_for_append(); !r) return fail(r.error());
  // Java's constructor: only values > 0 are written, the two counts stay 0 on disk.
  bool write = false;
  if (prev_end_phy_offset > 0) {
    idx->begin_phy_offset_.store(prev_end_phy_offset);
    idx->end_phy_offset_.store(prev_end_phy_offset);
    write = true;
  }
  if (prev_end_timestamp_ms > 0) {
    idx->begin_timestamp_ms_.store(prev_end_timestamp_ms);
    idx->end_timestamp_ms_.store(prev_end_timestamp_ms);
    write = true;
  }
  if (write)
    if (auto r = idx->write_header(32); !r) return fail(r.error());
  idx->dirty_.store(true, std::memory_order_release);
  return idx;
}

IoResult<std::unique_ptr<IndexFile>> IndexFile::open(FileSystem& fs, const std::string& path,
                                                     int32_t max_hash_slot_num,
                                                     int32_t max_index_num, bool use_mmap) {
  auto f = fs.open(path, false);
  if (!f) return f.error();
  std::unique_ptr<IndexFile> idx(
      new IndexFile(path, std::move(*f), max_hash_slot_num, max_index_num, use_mmap));
  int64_t size = idx->file_->size();
  if (size == 0) {
    if (auto r = idx->file_->truncate(idx->file_size_); !r) return r.error();
    idx->dirty_.store(true, std::memory_order_release);
    return idx;
  }
  if (size != idx->file_size_)
    return make_error(IoError::kCorrupt,
                      "index file " + path + " is " + std::to_string(size) + " bytes, expected " +
                          std::to_string(idx->file_size_) + " for maxHashSlotNum=" +
                          std::to_string(max_hash_slot_num) + " maxIndexNum=" +
                          std::to_string(max_index_num) +
                          " (cut short, or written with other settings)");
  uint8_t header[kIndexHeaderSize];
  if (auto r = idx->read_bytes(0, header, sizeof header); !r) return r.error();
  idx->load_header(header);
  if (idx->index_count() > max_index_num)
    return make_error(IoError::kCorrupt, "index file " + path + " has indexCount " +
                                             std::to_string(idx->index_count()) +
                                             " above maxIndexNum " + std::to_string(max_index_num));
  return idx;
}

void IndexFile::load_header(const uint8_t* b) {
  begin_timestamp_ms_.store(static_cast<int64_t>(get_be64(b)));
  end_timestamp_ms_.store(static_cast<int64_t>(get_be64(b + 8)));
  begin_phy_offset_.store(static_cast<int64_t>(get_be64(b + 16)));
  end_phy_offset_.store(static_cast<int64_t>(get_be64(b + 24)));
  hash_slot_count_.store(static_cast<int32_t>(get_be32(b + 32)));
  int32_t count = static_cast<int32_t>(get_be32(b + 36));
  index_count_.store(count <= 0 ? 1 : count);  // a new file's count is 0 on disk (Java: read as 1)
}

IndexHeader IndexFile::header() const {
  IndexHeader h;
  h.begin_timestamp_ms = begin_timestamp_ms();
  h.end_timestamp_ms = end_timestamp_ms();
  h.begin_phy_offset = begin_phy_offset();
  h.end_phy_offset = end_phy_offset();
  h.hash_slot_count = hash_slot_count_.load(std::memory_order_acquire);
  h.index_count = index_count();
  return h;
}

bool IndexFile::is_time_matched(int64_t begin_ms, int64_t end_ms) const {
  const int64_t b = begin_timestamp_ms(), e = end_timestamp_ms();
  return (begin_ms < b && end_ms > e) || (begin_ms >= b && begin_ms <= e) ||
         (end_ms >= b && end_ms <= e);
}

IoResult<Unit> IndexFile::prepare_for_append() {
  if (prepared_) return Unit{};
  prepared_ = true;
  if (!use_mmap_) return Unit{};
  auto r = file_->allocate(file_size_);
  if (!r) {
    if (r.code() == IoError::kNoSpace) {
      prepared_ = false;
      return r;
    }
    return Unit{};  // cannot reserve: a mapping could SIGBUS on a full disk, so stay with pwrite
  }
  map_ = file_->map(file_size_);
  return Unit{};
}

void IndexFile::release_mapping() {
  if (!map_) return;
  map_ = nullptr;
  file_->unmap();
}

IoResult<Unit> IndexFile::read_bytes(int64_t pos, uint8_t* out, size_t n) const {
  MQ_CHECK(pos >= 0 && pos + static_cast<int64_t>(n) <= file_size_, "index read out of the file");
  if (map_) {
    std::memcpy(out, map_ + pos, n);
    return Unit{};
  }
  auto r = file_->read_at(pos, out, n);
  if (!r) return r.error();
  if (*r != n)
    return make_error(IoError::kCorrupt, "index file " + path_ + " ends before byte " +
                                             std::to_string(pos + static_cast<int64_t>(n)));
  return Unit{};
}

IoResult<Unit> IndexFile::write_bytes(int64_t pos, const uint8_t* data, size_t n) {
  MQ_CHECK(pos >= 0 && pos + static_cast<int64_t>(n) <= file_size_, "index write out of the file");
  if (map_) {
    std::memcpy(map_ + pos, data, n);
    return Unit{};
  }
  return file_->write_at(pos, data, n);
}

IoResult<Unit> IndexFile::write_header(size_t n) {
  uint8_t b[kIndexHeaderSize];
  put_be64(b, static_cast<uint64_t>(begin_timestamp_ms()));
  put_be64(b + 8, static_cast<uint64_t>(end_timestamp_ms()));
  put_be64(b + 16, static_cast<uint64_t>(begin_phy_offset()));
  put_be64(b + 24, static_cast<uint64_t>(end_phy_offset()));
  put_be32(b + 32, static_cast<uint32_t>(hash_slot_count_.load()));
  put_be32(b + 36, static_cast<uint32_t>(index_count()));
  return write_bytes(0, b, n);
}

IoResult<IndexItem> IndexFile::read_item(int32_t n) const {
  MQ_CHECK(n >= 0 && n < max_index_num_, "index item number out of range");
  uint8_t b[kIndexItemSize];
  if (auto r = read_bytes(item_position(n), b, sizeof b); !r) return r.error();
  IndexItem item;
  item.key_hash = static_cast<int32_t>(get_be32(b));
  item.phy_offset = static_cast<int64_t>(get_be64(b + 4));
  item.time_diff_s = static_cast<int32_t>(get_be32(b + 12));
  item.prev_index = static_cast<int32_t>(get_be32(b + 16));
  return item;
}

IoResult<int32_t> IndexFile::read_slot(int32_t s) const {
  MQ_CHECK(s >= 0 && s < max_hash_slot_num_, "index slot out of range");
  uint8_t b[kIndexHashSlotSize];
  if (auto r = read_bytes(slot_position(s), b, sizeof b); !r) return r.error();
  return static_cast<int32_t>(get_be32(b));
}

IoResult<bool> IndexFile::put_key(std::string_view key, int64_t phy_offset,
                                  int64_t store_timestamp_ms) {
  const int32_t count = index_count();
  if (count >= max_index_num_) return false;
  if (auto r = prepare_for_append(); !r) return r.error();

  const int32_t key_hash = index_key_hash(key);
  const int32_t slot = key_hash % max_hash_slot_num_;
  auto sv = read_slot(slot);
  if (!sv) return sv.error();
  int32_t slot_value = *sv;
  if (slot_value <= 0) {
    slot_value = 0;
  } else if (slot_value >= count) {
    // Only a put torn by a crash leaves a slot pointing at an uncounted item (Java would chain to it
    // or, above indexCount, drop the chain). Follow the uncounted items' own prevIndex, strictly
    // downwards, to the newest counted one: that is what this slot held before the torn puts.
    int32_t n = slot_value;
    while (n >= count) {
      if (n >= max_index_num_) {
        n = 0;
        break;
      }
      auto torn = read_item(n);
      if (!torn) return torn.error();
      n = (torn->prev_index > 0 && torn->prev_index < n) ? torn->prev_index : 0;
    }
    slot_value = n;
  }

  const int64_t begin_ts = begin_timestamp_ms();
  int64_t time_diff = wrapping_sub(store_timestamp_ms, begin_ts) / 1000;
  if (begin_ts <= 0)
    time_diff = 0;
  else if (time_diff > INT32_MAX)
    time_diff = INT32_MAX;
  else if (time_diff < 0)
    time_diff = 0;

  uint8_t item[kIndexItemSize];
  put_be32(item, static_cast<uint32_t>(key_hash));
  put_be64(item + 4, static_cast<uint64_t>(phy_offset));
  put_be32(item + 12, static_cast<uint32_t>(time_diff));
  put_be32(item + 16, static_cast<uint32_t>(slot_value));
  if (auto r = write_bytes(item_position(count), item, sizeof item); !r) return r.error();
  uint8_t slot_bytes[kIndexHashSlotSize];
  put_be32(slot_bytes, static_cast<uint32_t>(count));
  if (auto r = write_bytes(slot_position(slot), slot_bytes, sizeof slot_bytes); !r) return r.error();

  if (count <= 1) {
    begin_phy_offset_.store(phy_offset, std::memory_order_release);
    begin_timestamp_ms_.store(store_timestamp_ms, std::memory_order_release);
  }
  if (slot_value == 0) hash_slot_count_.fetch_add(1, std::memory_order_acq_rel);
  end_phy_offset_.store(phy_offset, std::memory_order_release);
  end_timestamp_ms_.store(store_timestamp_ms, std::memory_order_release);
  index_count_.store(count + 1, std::memory_order_release);
  auto w = write_header(kIndexHeaderSize);
  // Set after the writes (and the end timestamp) so that flush() syncs them.
  dirty_.store(true, std::memory_order_release);
  if (!w) return w.error();
  return true;
}

IoResult<Unit> IndexFile::select_phy_offset(std::vector<int64_t>& out, std::string_view key,
                                            size_t max_num, int64_t begin_ms,
                                            int64_t end_ms) const {
  if (out.size() >= max_num) return Unit{};
  const int32_t count = index_count();
  if (count <= 1) return Unit{};
  const int32_t key_hash = index_key_hash(key);
  auto sv = read_slot(key_hash % max_hash_slot_num_);
  if (!sv) return sv.error();
  // Java also follows a slot equal to indexCount (an item a crash left uncounted); it is not counted,
  // so it is not read here.
  if (*sv <= 0 || *sv >= count) return Unit{};
  const int64_t begin_ts = begin_timestamp_ms();
  for (int32_t n = *sv;;) {
    if (out.size() >= max_num) break;
    auto item = read_item(n);
    if (!item) return item.error();
    if (item->time_diff_s < 0) break;
    const int64_t time_read = wrapping_add(begin_ts, int64_t{item->time_diff_s} * 1000);
    if (item->key_hash == key_hash && time_read >= begin_ms && time_read <= end_ms)
      out.push_back(item->phy_offset);
    // Valid chains only go to older items; anything else is damage and ends the walk.
    if (item->prev_index <= 0 || item->prev_index >= n || time_read < begin_ms) break;
    n = item->prev_index;
  }
  return Unit{};
}

IoResult<Unit> IndexFile::set_end_phy_offset(int64_t end_phy_offset) {
  end_phy_offset_.store(end_phy_offset, std::memory_order_release);
  auto w = write_header(index_count() > 1 ? kIndexHeaderSize : 32);
  dirty_.store(true, std::memory_order_release);
  return w;
}

IoResult<Unit> IndexFile::inherit_end(int64_t prev_end_phy_offset, int64_t prev_end_timestamp_ms) {
  if (prev_end_phy_offset > 0) {
    begin_phy_offset_.store(prev_end_phy_offset);
    end_phy_offset_.store(prev_end_phy_offset);
  }
  if (prev_end_timestamp_ms > 0) {
    begin_timestamp_ms_.store(prev_end_timestamp_ms);
    end_timestamp_ms_.store(prev_end_timestamp_ms);
  }
  auto w = write_header(32);
  dirty_.store(true, std::memory_order_release);
  return w;
}

IoResult<int64_t> IndexFile::flush() {
  if (!dirty_.exchange(false, std::memory_order_acq_rel)) return int64_t{-1};
  // Read after the exchange: every write behind this timestamp was made before it was stored, so
  // the sync below covers it.
  const int64_t end_ts = end_timestamp_ms();
  if (auto r = file_->sync(); !r) {
    dirty_.store(true, std::memory_order_release);
    return r.error();
  }
  return end_ts;
}

}  // namespace mq::store
