#include <doctest/doctest.h>

#include "base/bytes.h"
#include "base/clock.h"
#include "base/hash.h"
#include "base/result.h"

using namespace mq;

TEST_CASE("big-endian writer and bounds-checked reader round trip") {
  std::string buf;
  ByteWriter w(buf);
  w.u8(0xAB);
  w.u16(0x1234);
  w.i32(-2);
  w.i64(0x0102030405060708LL);
  REQUIRE(buf.size() == 15);
  CHECK(static_cast<uint8_t>(buf[1]) == 0x12);
  ByteReader r(buf);
  CHECK(r.u8() == 0xAB);
  CHECK(r.u16() == 0x1234);
  CHECK(r.i32() == -2);
  CHECK(r.i64() == 0x0102030405060708LL);
  CHECK(r.ok());
  CHECK(r.remaining() == 0);
  CHECK(r.u32() == 0);
  CHECK_FALSE(r.ok());
}

TEST_CASE("reader refuses a length larger than what is left") {
  std::string buf = "abc";
  ByteReader r(buf);
  CHECK(r.bytes(4).empty());
  CHECK_FALSE(r.ok());
  CHECK(r.remaining() == 0);
}

TEST_CASE("crc32 matches the standard check value and RocketMQ masks the top bit") {
  CHECK(crc32("123456789") == 0xCBF43926u);
  CHECK(rocketmq_crc32("123456789") == static_cast<int32_t>(0xCBF43926u & 0x7FFFFFFF));
}

TEST_CASE("java_string_hash equals Java String.hashCode") {
  CHECK(java_string_hash("") == 0);
  CHECK(java_string_hash("TagA") == 2598919);  // from the reference's HeartbeatData example
  CHECK(java_string_hash("TagB") == 2598920);
  // "é" is one UTF-16 unit 0xE9; "😀" is the surrogate pair D83D DE00.
  CHECK(java_string_hash("\xC3\xA9") == 0xE9);
  CHECK(java_string_hash("\xF0\x9F\x98\x80") == static_cast<int32_t>(31u * 0xD83D + 0xDE00));
}

TEST_CASE("Result carries a value or an error") {
  enum class E { kBad };
  Result<int, E> good = 5;
  Result<int, E> bad = make_error(E::kBad, "why");
  CHECK(good.ok());
  CHECK(*good == 5);
  CHECK_FALSE(bad.ok());
  CHECK(bad.code() == E::kBad);
  CHECK(bad.detail() == "why");
}

TEST_CASE("seeded Random is deterministic") {
  Random a(42), b(42);
  for (int i = 0; i < 100; ++i) CHECK(a.next_u64() == b.next_u64());
  Random c(7);
  for (int i = 0; i < 1000; ++i) {
    int64_t v = c.uniform(3, 9);
    CHECK(v >= 3);
    CHECK(v <= 9);
  }
}
