// Checksums and hashes that RocketMQ's formats are defined by.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mq {

// Standard CRC-32 (zlib / java.util.zip.CRC32).
uint32_t crc32(const void* data, size_t size, uint32_t seed = 0);
inline uint32_t crc32(std::string_view s) { return crc32(s.data(), s.size()); }

// RocketMQ's UtilAll.crc32: the CRC-32 with its top bit cleared (bodyCRC, bodyCrc32 headers).
inline int32_t rocketmq_crc32(std::string_view s) {
  return static_cast<int32_t>(crc32(s) & 0x7FFFFFFFu);
}

// Java's String.hashCode() of a UTF-8 string: h = 31*h + c over UTF-16 code units, wrapping int32.
// Used for tag hash codes (ConsumeQueue, subscriptions) and index keys. Invalid UTF-8 bytes count
// as U+FFFD, as Java's decoder replaces them.
int32_t java_string_hash(std::string_view utf8);

}  // namespace mq
