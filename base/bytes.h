// Big-endian integer encoding (RocketMQ and DLedger write every multi-byte integer big-endian, as
// Java's ByteBuffer does), and a bounds-checked reader for decoding untrusted bytes: every read
// either succeeds or leaves the reader failed, so decoders check once at the end instead of
// trusting lengths found in the input.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace mq {

inline void put_be16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void put_be32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}
inline void put_be64(uint8_t* p, uint64_t v) {
  put_be32(p, static_cast<uint32_t>(v >> 32));
  put_be32(p + 4, static_cast<uint32_t>(v));
}
inline uint16_t get_be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline uint32_t get_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
inline uint64_t get_be64(const uint8_t* p) {
  return (uint64_t{get_be32(p)} << 32) | get_be32(p + 4);
}

// Appends big-endian values to a std::string used as a byte buffer.
class ByteWriter {
 public:
  explicit ByteWriter(std::string& out) : out_(out) {}
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u16(uint16_t v) {
    uint8_t b[2];
    put_be16(b, v);
    raw(b, 2);
  }
  void u32(uint32_t v) {
    uint8_t b[4];
    put_be32(b, v);
    raw(b, 4);
  }
  void u64(uint64_t v) {
    uint8_t b[8];
    put_be64(b, v);
    raw(b, 8);
  }
  void i32(int32_t v) { u32(static_cast<uint32_t>(v)); }
  void i64(int64_t v) { u64(static_cast<uint64_t>(v)); }
  void raw(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  void raw(std::string_view s) { out_.append(s); }
  size_t size() const { return out_.size(); }

 private:
  std::string& out_;
};

// Reads big-endian values from a byte range. After any out-of-bounds read, ok() is false and
// every later read returns zero / empty.
class ByteReader {
 public:
  ByteReader(const void* data, size_t size)
      : p_(static_cast<const uint8_t*>(data)), size_(size) {}
  explicit ByteReader(std::string_view s) : ByteReader(s.data(), s.size()) {}

  bool ok() const { return ok_; }
  size_t pos() const { return pos_; }
  size_t remaining() const { return ok_ ? size_ - pos_ : 0; }
  const uint8_t* cursor() const { return p_ + pos_; }

  uint8_t u8() { return have(1) ? p_[pos_++] : 0; }
  uint16_t u16() { return have(2) ? advance_ret(get_be16(p_ + pos_), 2) : 0; }
  uint32_t u32() { return have(4) ? advance_ret(get_be32(p_ + pos_), 4) : 0; }
  uint64_t u64() { return have(8) ? advance_ret(get_be64(p_ + pos_), 8) : 0; }
  int16_t i16() { return static_cast<int16_t>(u16()); }
  int32_t i32() { return static_cast<int32_t>(u32()); }
  int64_t i64() { return static_cast<int64_t>(u64()); }
  std::string_view bytes(size_t n) {
    if (!have(n)) return {};
    std::string_view v(reinterpret_cast<const char*>(p_ + pos_), n);
    pos_ += n;
    return v;
  }
  bool skip(size_t n) {
    if (!have(n)) return false;
    pos_ += n;
    return true;
  }
  void fail() { ok_ = false; }

 private:
  bool have(size_t n) {
    if (!ok_ || n > size_ - pos_) {
      ok_ = false;
      return false;
    }
    return true;
  }
  template <typename T>
  T advance_ret(T v, size_t n) {
    pos_ += n;
    return v;
  }
  const uint8_t* p_;
  size_t size_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace mq
