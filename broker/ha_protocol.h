// RocketMQ's HA (master-slave replication) wire protocol, as the 4.x brokers speak it on the
// master's haListenPort (default listenPort + 1). Plain TCP, no remoting frames, big-endian:
//
//   slave -> master   8 bytes: the slave's CommitLog offset. The first report after connecting says
//                     where the slave's log ends (0 = empty); the master starts sending there (for 0,
//                     at the start of its newest CommitLog segment). Later reports acknowledge: the
//                     slave has the bytes below that offset (SYNC_MASTER puts wait for it). Sent after
//                     each batch of data the slave applied and every haSendHeartbeatInterval.
//   master -> slave   12-byte header [8: offset of the first byte][4: body size], then the body:
//                     raw CommitLog bytes, at most haTransferBatchSize, never crossing a segment end.
//                     A header with size 0 is a heartbeat that says where the master will continue.
//
// A slave appends a body only when its offset equals the end of the slave's own log; anything else
// means the two logs diverged, and the slave stops replicating rather than serve a forked log.
// Nothing here survives a crash: after a restart the slave reports its recovered end and the master
// resends from there.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/bytes.h"

namespace mq::ha {

inline constexpr size_t kReportSize = 8;
inline constexpr size_t kTransferHeaderSize = 12;

inline std::string encode_report(int64_t offset) {
  std::string out;
  ByteWriter(out).i64(offset);
  return out;
}

inline void append_transfer_header(std::string& out, int64_t offset, int32_t body_size) {
  ByteWriter w(out);
  w.i64(offset);
  w.i32(body_size);
}

// Master side: splits the byte stream into 8-byte reports. Only the newest complete report matters
// (they only grow), so feed() returns that one, if any arrived.
class ReportReader {
 public:
  std::optional<int64_t> feed(std::string_view data) {
    buf_.append(data);
    size_t whole = buf_.size() / kReportSize * kReportSize;
    if (whole == 0) return std::nullopt;
    auto offset = static_cast<int64_t>(get_be64(reinterpret_cast<const uint8_t*>(buf_.data()) + whole - kReportSize));
    buf_.erase(0, whole);
    return offset;
  }

 private:
  std::string buf_;
};

struct TransferFrame {
  int64_t offset = 0;
  std::string body;
};

// Slave side: splits the byte stream into transfer frames. A body size outside 0..max_body_bytes
// is a protocol error: next() then returns nullopt forever and error() says why.
class TransferReader {
 public:
  explicit TransferReader(int32_t max_body_bytes) : max_body_bytes_(max_body_bytes) {}
  void feed(std::string_view data) { buf_.append(data); }
  std::optional<TransferFrame> next() {
    if (!error_.empty() || buf_.size() - pos_ < kTransferHeaderSize) return compact(), std::nullopt;
    const auto* p = reinterpret_cast<const uint8_t*>(buf_.data()) + pos_;
    auto offset = static_cast<int64_t>(get_be64(p));
    auto size = static_cast<int32_t>(get_be32(p + 8));
    if (size < 0 || size > max_body_bytes_ || offset < 0) {
      error_ = "bad HA transfer header: offset " + std::to_string(offset) + ", body size " + std::to_string(size);
      return std::nullopt;
    }
    if (buf_.size() - pos_ < kTransferHeaderSize + static_cast<size_t>(size)) return compact(), std::nullopt;
    TransferFrame f{offset, buf_.substr(pos_ + kTransferHeaderSize, static_cast<size_t>(size))};
    pos_ += kTransferHeaderSize + static_cast<size_t>(size);
    return f;
  }
  const std::string& error() const { return error_; }
  size_t buffered_bytes() const { return buf_.size() - pos_; }

 private:
  void compact() {
    if (pos_ > 0) {
      buf_.erase(0, pos_);
      pos_ = 0;
    }
  }
  int32_t max_body_bytes_;
  std::string buf_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace mq::ha
