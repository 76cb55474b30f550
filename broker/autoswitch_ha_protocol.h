// RocketMQ 5.x's AutoSwitch HA protocol (controller mode, reference 6.1-6.4): master/slave
// replication that knows about master epochs, on the master's haListenPort. Plain TCP, no remoting
// frames, every integer big-endian. Each frame starts with an int32 state, the ordinal of Java's
// HAConnectionState: 1 = HANDSHAKE, 2 = TRANSFER (0 READY, 3 SUSPEND, 4 SHUTDOWN never travel).
//
//   slave -> master, handshake (16 bytes)
//     [4: 1][2: isSyncFromLastFile][2: isAsyncLearner][8: slave broker id (controller id)]
//     A flag is set only when it is exactly 1, as the Java master reads it.
//   master -> slave, handshake reply (20 + 12n bytes)
//     [4: 1][4: body size = 12n][8: master CommitLog max offset][4: master last epoch, -1 if none]
//     then n x [4: epoch][8: start offset], ascending; no end offsets. The Java master builds them
//     in a 12 000-byte buffer, so n <= 1000.
//   master -> slave, transfer (36 bytes + body)
//     [4: 2][4: body size, 0 = heartbeat][8: CommitLog offset of the first body byte (heartbeat:
//     the next offset to send)][4: epoch of the body][8: that epoch's start offset]
//     [8: master confirmOffset][body: raw CommitLog bytes, never crossing an epoch boundary]
//   slave -> master, offset report / ack (12 bytes)
//     [4: 2][8: slave CommitLog max offset]
//
// The exchange: the slave sends a handshake, the master answers with its epoch entries and max
// offset, the slave truncates its log to the consistent point (store::EpochFile::
// find_consistent_point) and from then on reports its max offset; the first report fixes where the
// master starts sending (0 = its min offset, or the start of its last file with
// isSyncFromLastFile). The slave appends an epoch entry whenever a transfer frame carries a new
// epoch, so both logs and both epoch files grow in step.
//
// The readers below decode the two directions incrementally and never trust a length they read:
// a state other than 1 or 2, a size out of bounds, a negative offset (confirmOffset may be -1: a
// Java master sends that while it does not know it yet), or epochs out of order puts the reader
// in error: error() says why and nothing more is decoded (the connection must be closed; the Java
// peers close it too). The Java master decodes a slave frame once 12 bytes are buffered, even a
// 16-byte handshake; MasterSideReader waits for all 16. The slave broker id and the master's epoch
// list against its last epoch are left to the caller to judge.
//
// Nothing here is persistent: after a crash or a reconnect both sides start over with a handshake
// and the slave re-derives its truncation point from the two epoch lists.
#pragma once
#include <algorithm>
#include <climits>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/bytes.h"
#include "base/check.h"
#include "store/epoch_file.h"

namespace mq::ha::autoswitch {

inline constexpr int32_t kStateHandshake = 1;
inline constexpr int32_t kStateTransfer = 2;

inline constexpr size_t kSlaveHandshakeSize = 16;
inline constexpr size_t kSlaveReportSize = 12;
inline constexpr size_t kHandshakeReplyHeaderSize = 20;
inline constexpr size_t kTransferHeaderSize = 36;
inline constexpr size_t kEpochEntryWireSize = 12;
inline constexpr size_t kMaxHandshakeEntries = 1000;
// The Java slave's read buffer is 4 MiB; the master's batches are haTransferBatchSize (32 KiB).
inline constexpr int32_t kDefaultMaxTransferBodyBytes = 4 << 20;

struct SlaveHandshake {
  bool sync_from_last_file = false;
  bool async_learner = false;
  int64_t slave_broker_id = 0;
  bool operator==(const SlaveHandshake&) const = default;
};

struct SlaveReport {
  int64_t max_offset = 0;
  bool operator==(const SlaveReport&) const = default;
};

using SlaveFrame = std::variant<SlaveHandshake, SlaveReport>;

struct HandshakeReply {
  int64_t master_max_offset = 0;
  int32_t master_last_epoch = -1;
  // End offsets derived as reference 6.4 does for the master: the next entry's start, the last
  // one ending at max(master_max_offset, its start).
  std::vector<store::EpochEntry> entries;
  bool operator==(const HandshakeReply&) const = default;
};

struct TransferFrame {
  int64_t offset = 0;  // of the first body byte; for a heartbeat, the next offset to send
  int32_t epoch = 0;
  int64_t epoch_start_offset = 0;
  int64_t confirm_offset = 0;
  std::string body;  // empty: heartbeat
  bool operator==(const TransferFrame&) const = default;
};

using MasterFrame = std::variant<HandshakeReply, TransferFrame>;

inline std::string encode_slave_handshake(const SlaveHandshake& h) {
  std::string out;
  ByteWriter w(out);
  w.i32(kStateHandshake);
  w.u16(h.sync_from_last_file ? 1 : 0);
  w.u16(h.async_learner ? 1 : 0);
  w.i64(h.slave_broker_id);
  return out;
}

inline std::string encode_slave_report(int64_t max_offset) {
  std::string out;
  ByteWriter w(out);
  w.i32(kStateTransfer);
  w.i64(max_offset);
  return out;
}

// With more than 1000 entries only the newest 1000 are sent: for the slave that is the same as a
// master whose oldest epochs expired with their CommitLog files (a Java master cannot send more at
// all). End offsets of `entries` are not sent.
inline std::string encode_handshake_reply(int64_t master_max_offset, int32_t master_last_epoch,
                                          const std::vector<store::EpochEntry>& entries) {
  size_t first = entries.size() > kMaxHandshakeEntries ? entries.size() - kMaxHandshakeEntries : 0;
  size_t n = entries.size() - first;
  std::string out;
  out.reserve(kHandshakeReplyHeaderSize + n * kEpochEntryWireSize);
  ByteWriter w(out);
  w.i32(kStateHandshake);
  w.i32(static_cast<int32_t>(n * kEpochEntryWireSize));
  w.i64(master_max_offset);
  w.i32(master_last_epoch);
  for (size_t i = first; i < entries.size(); ++i) {
    w.i32(entries[i].epoch);
    w.i64(entries[i].start_offset);
  }
  return out;
}

inline void append_transfer_header(std::string& out, int32_t body_size, int64_t offset, int32_t epoch,
                                   int64_t epoch_start_offset, int64_t confirm_offset) {
  ByteWriter w(out);
  w.i32(kStateTransfer);
  w.i32(body_size);
  w.i64(offset);
  w.i32(epoch);
  w.i64(epoch_start_offset);
  w.i64(confirm_offset);
}

inline std::string encode_transfer(int64_t offset, int32_t epoch, int64_t epoch_start_offset, int64_t confirm_offset,
                                   std::string_view body) {
  MQ_CHECK(body.size() <= static_cast<size_t>(INT32_MAX), "HA transfer body larger than an int32 size");
  std::string out;
  out.reserve(kTransferHeaderSize + body.size());
  append_transfer_header(out, static_cast<int32_t>(body.size()), offset, epoch, epoch_start_offset, confirm_offset);
  out.append(body);
  return out;
}

namespace detail {

// The byte buffer both readers share: fed at the back, consumed at pos_, compacted lazily.
class FrameBuffer {
 public:
  void feed(std::string_view data) {
    if (error_.empty()) buf_.append(data);
  }
  const std::string& error() const { return error_; }
  size_t buffered_bytes() const { return buf_.size() - pos_; }

 protected:
  size_t available() const { return buf_.size() - pos_; }
  const uint8_t* at(size_t off) const { return reinterpret_cast<const uint8_t*>(buf_.data()) + pos_ + off; }
  std::string_view bytes(size_t off, size_t n) const { return std::string_view(buf_).substr(pos_ + off, n); }
  void consume(size_t n) {
    pos_ += n;
    // Compact once the consumed prefix dominates, so a long stream does not grow the buffer.
    if (pos_ == buf_.size()) {
      buf_.clear();
      pos_ = 0;
    } else if (pos_ >= 64 * 1024 && pos_ * 2 >= buf_.size()) {
      buf_.erase(0, pos_);
      pos_ = 0;
    }
  }
  void fail(std::string why) {
    error_ = std::move(why);
    buf_.clear();
    pos_ = 0;
  }

 private:
  std::string buf_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace detail

// The master's reader of one slave connection.
class MasterSideReader : public detail::FrameBuffer {
 public:
  // The next complete frame, or nullopt when more bytes are needed or the reader is in error.
  std::optional<SlaveFrame> next() {
    if (!error().empty() || available() < 4) return std::nullopt;
    auto state = static_cast<int32_t>(get_be32(at(0)));
    if (state == kStateHandshake) {
      if (available() < kSlaveHandshakeSize) return std::nullopt;
      SlaveHandshake h;
      h.sync_from_last_file = get_be16(at(4)) == 1;
      h.async_learner = get_be16(at(6)) == 1;
      h.slave_broker_id = static_cast<int64_t>(get_be64(at(8)));
      consume(kSlaveHandshakeSize);
      return h;
    }
    if (state == kStateTransfer) {
      if (available() < kSlaveReportSize) return std::nullopt;
      auto offset = static_cast<int64_t>(get_be64(at(4)));
      if (offset < 0) {
        fail("bad AutoSwitch HA report: negative offset " + std::to_string(offset));
        return std::nullopt;
      }
      consume(kSlaveReportSize);
      return SlaveReport{offset};
    }
    fail("bad AutoSwitch HA slave frame: state " + std::to_string(state));
    return std::nullopt;
  }
};

// The slave's reader of its connection to the master.
class SlaveSideReader : public detail::FrameBuffer {
 public:
  explicit SlaveSideReader(int32_t max_transfer_body_bytes = kDefaultMaxTransferBodyBytes)
      : max_transfer_body_bytes_(max_transfer_body_bytes) {}

  std::optional<MasterFrame> next() {
    if (!error().empty() || available() < 4) return std::nullopt;
    auto state = static_cast<int32_t>(get_be32(at(0)));
    if (state == kStateHandshake) return next_reply();
    if (state == kStateTransfer) return next_transfer();
    fail("bad AutoSwitch HA master frame: state " + std::to_string(state));
    return std::nullopt;
  }

 private:
  std::optional<MasterFrame> next_reply() {
    if (available() < kHandshakeReplyHeaderSize) return std::nullopt;
    auto size = static_cast<int32_t>(get_be32(at(4)));
    auto max_offset = static_cast<int64_t>(get_be64(at(8)));
    auto last_epoch = static_cast<int32_t>(get_be32(at(16)));
    if (size < 0 || static_cast<size_t>(size) > kMaxHandshakeEntries * kEpochEntryWireSize ||
        size % static_cast<int32_t>(kEpochEntryWireSize) != 0 || max_offset < 0 || last_epoch < -1) {
      fail("bad AutoSwitch HA handshake reply: body size " + std::to_string(size) + ", max offset " +
           std::to_string(max_offset) + ", last epoch " + std::to_string(last_epoch));
      return std::nullopt;
    }
    if (available() < kHandshakeReplyHeaderSize + static_cast<size_t>(size)) return std::nullopt;
    HandshakeReply r;
    r.master_max_offset = max_offset;
    r.master_last_epoch = last_epoch;
    size_t n = static_cast<size_t>(size) / kEpochEntryWireSize;
    r.entries.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      const uint8_t* p = at(kHandshakeReplyHeaderSize + i * kEpochEntryWireSize);
      store::EpochEntry e{static_cast<int32_t>(get_be32(p)), static_cast<int64_t>(get_be64(p + 4)),
                          store::kEpochOpenEnd};
      bool ordered = r.entries.empty() ||
                     (e.epoch > r.entries.back().epoch && e.start_offset > r.entries.back().start_offset);
      if (e.epoch < 0 || e.start_offset < 0 || !ordered) {
        fail("bad AutoSwitch HA handshake reply: epoch entry " + std::to_string(i) + " (" + std::to_string(e.epoch) +
             ", " + std::to_string(e.start_offset) + ") is negative or out of order");
        return std::nullopt;
      }
      if (!r.entries.empty()) r.entries.back().end_offset = e.start_offset;
      r.entries.push_back(e);
    }
    if (!r.entries.empty()) r.entries.back().end_offset = std::max(max_offset, r.entries.back().start_offset);
    consume(kHandshakeReplyHeaderSize + static_cast<size_t>(size));
    return r;
  }

  std::optional<MasterFrame> next_transfer() {
    if (available() < kTransferHeaderSize) return std::nullopt;
    TransferFrame f;
    auto size = static_cast<int32_t>(get_be32(at(4)));
    f.offset = static_cast<int64_t>(get_be64(at(8)));
    f.epoch = static_cast<int32_t>(get_be32(at(16)));
    f.epoch_start_offset = static_cast<int64_t>(get_be64(at(20)));
    f.confirm_offset = static_cast<int64_t>(get_be64(at(28)));
    if (size < 0 || size > max_transfer_body_bytes_ || f.offset < 0 || f.epoch < 0 || f.epoch_start_offset < 0 ||
        f.confirm_offset < -1) {
      fail("bad AutoSwitch HA transfer header: body size " + std::to_string(size) + ", offset " +
           std::to_string(f.offset) + ", epoch " + std::to_string(f.epoch) + ", epoch start " +
           std::to_string(f.epoch_start_offset) + ", confirm offset " + std::to_string(f.confirm_offset));
      return std::nullopt;
    }
    if (available() < kTransferHeaderSize + static_cast<size_t>(size)) return std::nullopt;
    f.body = std::string(bytes(kTransferHeaderSize, static_cast<size_t>(size)));
    consume(kTransferHeaderSize + static_cast<size_t>(size));
    return f;
  }

  int32_t max_transfer_body_bytes_;
};

}  // namespace mq::ha::autoswitch
