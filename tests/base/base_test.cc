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

#include "base/config.h"

TEST_CASE("properties config: values, comments, continuation, errors name file, line and key") {
  auto f = parse_properties("b.conf", "# comment\nbrokerName = broker-a\nlistenPort=10911\n\n! other\nnamesrvAddr=a:1;\\\n  b:2\nflag true\n");
  REQUIRE(f.ok());
  CHECK(f->find("brokerName")->value == "broker-a");
  CHECK(f->find("namesrvAddr")->value == "a:1;b:2");
  CHECK(f->find("flag")->value == "true");
  std::string name;
  int32_t port = 0;
  bool flag = false;
  ConfigBinder b(*f);
  b.bind("brokerName", name);
  b.bind("listenPort", port);
  b.bind("flag", flag);
  CHECK(b.finish().ok());
  CHECK(port == 10911);
  CHECK(flag);
  auto unknown = b.unknown_keys();
  REQUIRE(unknown.size() == 1);
  CHECK(unknown[0] == "b.conf:6: unknown key 'namesrvAddr'");

  auto bad = parse_properties("x.conf", "a=1\nlistenPort=abc\n");
  REQUIRE(bad.ok());
  ConfigBinder b2(*bad);
  int64_t p = 0;
  b2.bind("listenPort", p);
  auto r = b2.finish();
  REQUIRE_FALSE(r.ok());
  CHECK(r.detail() == "x.conf:2: key 'listenPort': expected an integer, got 'abc'");
  CHECK_FALSE(parse_properties("y.conf", "justakey\n").ok());
}

TEST_CASE("TOML config: same keys, typed values, syntax errors with a line") {
  auto f = parse_toml("c.toml", "listenPort = 9876\nname = \"x\"\nratio = 0.5\n[sub]\nk = true\n");
  REQUIRE(f.ok());
  CHECK(f->find("listenPort")->value == "9876");
  CHECK(f->find("sub.k")->value == "true");
  CHECK(f->find("sub.k")->line == 5);
  auto bad = parse_toml("d.toml", "a = 1\nb = = 2\n");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.detail().rfind("d.toml:2:", 0) == 0);
  std::string mode = "ASYNC_FLUSH";
  auto e = parse_properties("e.conf", "flushDiskType=SOMETIMES\n");
  ConfigBinder b(*e);
  b.bind_enum("flushDiskType", mode, {"ASYNC_FLUSH", "SYNC_FLUSH"});
  auto r = b.finish();
  REQUIRE_FALSE(r.ok());
  CHECK(r.detail() == "e.conf:1: key 'flushDiskType': expected one of ASYNC_FLUSH, SYNC_FLUSH, got 'SOMETIMES'");
}

#include "base/file_util.h"
#include "tests/support/temp_dir.h"

namespace {
// A config file with `text` in a fresh temporary folder, removed with it.
struct TempConfig {
  test::TempDir dir;
  std::string path;
  TempConfig(const std::string& name, const std::string& text) : path(dir.path() + "/" + name) {
    REQUIRE(write_file_atomically(path, text).empty());
  }
  std::string text() const { return read_whole_file(path).value_or("<unreadable>"); }
};
}  // namespace

TEST_CASE("properties config update: the key's line is replaced, new keys appended, comments kept") {
  TempConfig c("broker.conf",
               "# the broker\nbrokerName=broker-a\nbrokerPermission = 6\nnamesrvAddr=a:1;\\\n  b:2\n! tail comment\n");
  auto r = update_config_file(c.path, {{"brokerPermission", "4"}, {"namesrvAddr", "c:3"}, {"slaveReadEnable", "true"}});
  REQUIRE_MESSAGE(r.ok(), r.detail());
  CHECK(c.text() == "# the broker\nbrokerName=broker-a\nbrokerPermission=4\nnamesrvAddr=c:3\n! tail comment\nslaveReadEnable=true\n");
  auto f = load_config_file(c.path);
  REQUIRE(f.ok());
  CHECK(f->find("brokerPermission")->value == "4");
  CHECK(f->find("slaveReadEnable")->value == "true");
  CHECK(read_whole_file(c.path + ".bak").has_value());  // the previous content, as RocketMQ keeps it
}

TEST_CASE("TOML config update: bare numbers and booleans, quoted strings, new keys stay top-level") {
  TempConfig c("broker.toml", "brokerName = \"broker-a\"  # name\nbrokerPermission = 6\n\n[extra]\nk = 1\n");
  auto r = update_config_file(c.path, {{"brokerPermission", "2"}, {"deleteWhen", "04"}, {"slaveReadEnable", "true"},
                                       {"brokerName", "say \"hi\""}});
  REQUIRE_MESSAGE(r.ok(), r.detail());
  auto f = load_config_file(c.path);
  REQUIRE_MESSAGE(f.ok(), f.detail());
  CHECK(f->find("brokerPermission")->value == "2");
  CHECK(f->find("deleteWhen")->value == "04");  // a leading zero is no TOML integer: kept as text
  CHECK(f->find("slaveReadEnable")->value == "true");
  CHECK(f->find("brokerName")->value == "say \"hi\"");
  CHECK(f->find("extra.k")->value == "1");
  CHECK(f->find("extra.slaveReadEnable") == nullptr);
  CHECK(c.text().find("brokerPermission = 2\n") != std::string::npos);
}

TEST_CASE("config update refuses what it cannot do and leaves the file alone") {
  CHECK_FALSE(update_config_file("/nonexistent/dir/broker.conf", {{"a", "1"}}).ok());
  TempConfig bad("broker.conf", "justakey\n");
  CHECK_FALSE(update_config_file(bad.path, {{"a", "1"}}).ok());
  CHECK(bad.text() == "justakey\n");
}
