// RocketMQ remoting frames and commands.
//
// A frame on the wire is
//   int32 length            (big-endian; counts everything after itself: 4 + header + body)
//   int32 header word       (high byte: serialize type, 0 = JSON, 1 = ROCKETMQ binary;
//                            low 24 bits: header length)
//   header                  (JSON object text, or the ROCKETMQ binary layout below)
//   body                    (length - 4 - header length bytes, opaque)
//
// JSON header: {"code":int,"language":"JAVA","version":int,"opaque":int,"flag":int,
//               "remark":"...","extFields":{"k":"v",...}}; unknown keys are ignored. Real clients
// send extFields values as JSON strings, numbers or booleans (ali-ons, rocketmq-client-cpp): all are
// accepted and kept as their text ("4", "true"). We always write strings, which every client reads.
//
// ROCKETMQ binary header: int16 code, int8 language, int16 version, int32 opaque, int32 flag,
// int32 remark length + UTF-8 remark (0 = none), int32 extFields area length, then entries of
// (int16 key length, key, int32 value length, value).
//
// flag bit 0 marks a response, bit 1 a oneway request (no response is ever sent for it). A response
// copies the request's opaque. A peer that sends a frame we cannot decode gets its connection closed
// (nothing after it can be framed reliably); a frame that decodes but lacks what a handler needs gets
// an error response instead.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace mq {

enum class SerializeType : uint8_t { kJson = 0, kRocketMQ = 1 };

inline constexpr int32_t kFlagResponse = 0x1;
inline constexpr int32_t kFlagOneway = 0x2;
// What this implementation reports as its version: RocketMQ V4_9_4's ordinal, the release whose
// wire behaviour we reproduce (and the threshold for strict route JSON).
inline constexpr int32_t kRemotingVersion = 401;
inline constexpr uint32_t kDefaultMaxFrameBytes = 16 * 1024 * 1024;

// The custom-header fields of a command, in insertion order. Small (a dozen entries), so a flat
// vector with linear lookup beats a map.
class ExtFields {
 public:
  void set(std::string key, std::string value);
  void set(std::string key, int64_t value);
  void set(std::string key, int32_t value) { set(std::move(key), int64_t{value}); }
  void set_bool(std::string key, bool value) { set(std::move(key), std::string(value ? "true" : "false")); }
  const std::string* find(std::string_view key) const;
  std::string* find(std::string_view key) {
    return const_cast<std::string*>(static_cast<const ExtFields*>(this)->find(key));
  }
  bool contains(std::string_view key) const { return find(key) != nullptr; }
  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }
  const std::vector<std::pair<std::string, std::string>>& entries() const { return entries_; }
  void clear() { entries_.clear(); }
  // The value of `key`, added empty at the end when absent (the decoder reads values into it).
  std::string* slot(std::string_view key);

 private:
  std::vector<std::pair<std::string, std::string>> entries_;
};

struct RemotingCommand {
  int32_t code = 0;
  std::string language = "CPP";
  int32_t version = kRemotingVersion;
  int32_t opaque = 0;
  int32_t flag = 0;
  std::optional<std::string> remark;
  ExtFields ext_fields;
  std::string body;
  SerializeType serialize_type = SerializeType::kJson;

  bool is_response() const { return (flag & kFlagResponse) != 0; }
  bool is_oneway() const { return (flag & kFlagOneway) != 0; }

  static RemotingCommand request(int32_t code) {
    RemotingCommand c;
    c.code = code;
    return c;
  }
  // A response to `req`: same opaque and serialize type, response bit set.
  static RemotingCommand response_to(const RemotingCommand& req, int32_t code,
                                     std::optional<std::string> remark = std::nullopt);
};

enum class CodecError {
  kBadLength,         // negative, too small, or above the configured maximum
  kBadHeaderLength,   // header longer than the frame
  kBadSerializeType,  // neither JSON nor ROCKETMQ
  kBadHeader,         // header bytes do not decode
};

const char* codec_error_name(CodecError e);

// Encodes a whole frame (length prefix included).
std::string encode_frame(const RemotingCommand& cmd);
// Appends the frame to `out` (saves a copy when batching writes).
void encode_frame_to(const RemotingCommand& cmd, std::string& out);

// Decodes a frame without its 4-byte length prefix: `frame` holds header word, header and body.
Result<RemotingCommand, CodecError> decode_frame(std::string_view frame);

// Header-only encode/decode, exposed for tests and the fuzzer.
std::string encode_json_header(const RemotingCommand& cmd);
Result<RemotingCommand, CodecError> decode_json_header(std::string_view header);
std::string encode_binary_header(const RemotingCommand& cmd);
Result<RemotingCommand, CodecError> decode_binary_header(std::string_view header);

// Splits a byte stream into frames. Feed it whatever the socket delivered; it hands back each
// complete frame (without the length prefix). An invalid length is reported before any of the
// frame is buffered, so a hostile peer cannot make us allocate the size it claims.
class FrameSplitter {
 public:
  explicit FrameSplitter(uint32_t max_frame_bytes = kDefaultMaxFrameBytes)
      : max_frame_bytes_(max_frame_bytes) {}

  // Calls on_frame(std::string_view) for each complete frame in the data seen so far. Returns an
  // error (and stops) at the first invalid length; the connection must then be closed.
  template <typename OnFrame>
  Result<Unit, CodecError> feed(std::string_view data, OnFrame&& on_frame);

  size_t buffered_bytes() const { return buf_.size() - start_; }
  std::string describe_error() const { return error_detail_; }

 private:
  // Validates the length at buf_[start_..start_+4) and returns it, or -1 after setting error.
  int64_t check_length(uint32_t raw);
  uint32_t max_frame_bytes_;
  std::string buf_;
  size_t start_ = 0;
  std::string error_detail_;
};

template <typename OnFrame>
Result<Unit, CodecError> FrameSplitter::feed(std::string_view data, OnFrame&& on_frame) {
  // Fast path: no carried-over bytes, parse straight from the caller's buffer.
  std::string_view src = data;
  bool from_buffer = start_ < buf_.size();
  if (from_buffer) {
    buf_.append(data);
    src = std::string_view(buf_).substr(start_);
  }
  size_t pos = 0;
  while (src.size() - pos >= 4) {
    uint32_t raw = (uint32_t{static_cast<uint8_t>(src[pos])} << 24) |
                   (uint32_t{static_cast<uint8_t>(src[pos + 1])} << 16) |
                   (uint32_t{static_cast<uint8_t>(src[pos + 2])} << 8) |
                   uint32_t{static_cast<uint8_t>(src[pos + 3])};
    int64_t len = check_length(raw);
    if (len < 0) return make_error(CodecError::kBadLength, error_detail_);
    if (src.size() - pos - 4 < static_cast<size_t>(len)) break;
    on_frame(src.substr(pos + 4, static_cast<size_t>(len)));
    pos += 4 + static_cast<size_t>(len);
  }
  if (from_buffer) {
    start_ += pos;
    if (start_ == buf_.size()) {
      buf_.clear();
      start_ = 0;
    } else if (start_ > 65536 && start_ * 2 > buf_.size()) {
      buf_.erase(0, start_);
      start_ = 0;
    }
  } else if (pos < src.size()) {
    buf_.assign(src.substr(pos));
    start_ = 0;
  }
  return Unit{};
}

}  // namespace mq
