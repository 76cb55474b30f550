#include "store/checkpoint.h"

#include <algorithm>

#include "base/bytes.h"

namespace mq::store {

IoResult<std::unique_ptr<StoreCheckpoint>> StoreCheckpoint::open(FileSystem& fs,
                                                                 const std::string& path) {
  auto f = fs.open(path, true);
  if (!f) return f.error();
  uint8_t buf[48] = {};
  auto r = (*f)->read_at(0, buf, sizeof buf);
  if (!r) return r.error();
  if ((*f)->size() < kFileSize) {
    // Reserve the page's block now: rewriting it in place later then never needs space, so a full
    // disk cannot fail a checkpoint flush (which would stop the store for good). A file system
    // without fallocate, or a disk already full at start, gets a sparse page as before.
    if (auto a = (*f)->allocate(kFileSize); !a)
      if (auto t = (*f)->truncate(kFileSize); !t) return t.error();
  }
  std::unique_ptr<StoreCheckpoint> cp(new StoreCheckpoint(std::move(*f)));
  // A 4.x page may hold only the three timestamps; a 5.x one adds two offsets; ours one more.
  if (*r >= 24) {
    cp->physic_ = static_cast<int64_t>(get_be64(buf));
    cp->logics_ = static_cast<int64_t>(get_be64(buf + 8));
    cp->index_ = static_cast<int64_t>(get_be64(buf + 16));
  }
  if (*r >= 40) {
    cp->master_flushed_ = static_cast<int64_t>(get_be64(buf + 24));
    cp->confirm_ = static_cast<int64_t>(get_be64(buf + 32));
  }
  if (*r == sizeof buf) cp->dispatched_ = std::max<int64_t>(0, static_cast<int64_t>(get_be64(buf + 40)));
  return cp;
}

int64_t StoreCheckpoint::min_timestamp() const {
  return std::max<int64_t>(0, std::min(physic_.load(), logics_.load()) - 3000);
}

IoResult<Unit> StoreCheckpoint::flush() {
  uint8_t buf[48];
  put_be64(buf, static_cast<uint64_t>(physic_.load()));
  put_be64(buf + 8, static_cast<uint64_t>(logics_.load()));
  put_be64(buf + 16, static_cast<uint64_t>(index_.load()));
  put_be64(buf + 24, static_cast<uint64_t>(master_flushed_.load()));
  put_be64(buf + 32, static_cast<uint64_t>(confirm_.load()));
  put_be64(buf + 40, static_cast<uint64_t>(dispatched_.load()));
  if (auto r = file_->write_at(0, buf, sizeof buf); !r) return r;
  return file_->sync();
}

}  // namespace mq::store
