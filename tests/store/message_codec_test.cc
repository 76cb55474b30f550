// The message record codec against bytes written by hand from the reference (4.1-4.6), and against
// the batch body a real Java 4.9.4 producer sent (fixtures/wire).
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "base/hash.h"
#include "codec/message.h"
#include "tests/store/test_util.h"

using namespace mq;

namespace {

// TOTALSIZE 97 = 91 + body 2 + topic 1 + properties 3, one field per line as in the reference table.
const std::vector<uint8_t> kHandRecord = {
    0x00, 0x00, 0x00, 0x61,                          // TOTALSIZE
    0xDA, 0xA3, 0x20, 0xA7,                          // MAGICCODE V1
    0x58, 0x93, 0x2A, 0xAC,                          // BODYCRC = crc32("hi") & 0x7FFFFFFF
    0x00, 0x00, 0x00, 0x03,                          // QUEUEID
    0x00, 0x00, 0x00, 0x07,                          // FLAG
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,  // QUEUEOFFSET
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,  // PHYSICALOFFSET 256
    0x00, 0x00, 0x00, 0x00,                          // SYSFLAG
    0x00, 0x00, 0x01, 0x8B, 0xCF, 0xE5, 0x68, 0x00,  // BORNTIMESTAMP
    0x7F, 0x00, 0x00, 0x01, 0x00, 0x00, 0xEA, 0x60,  // BORNHOST 127.0.0.1:60000
    0x00, 0x00, 0x01, 0x8B, 0xCF, 0xE5, 0x68, 0x10,  // STORETIMESTAMP
    0x0A, 0x00, 0x00, 0x02, 0x00, 0x00, 0x2A, 0x9F,  // STOREHOST 10.0.0.2:10911
    0x00, 0x00, 0x00, 0x01,                          // RECONSUMETIMES
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // PREPARED_TRANSACTION_OFFSET
    0x00, 0x00, 0x00, 0x02, 'h',  'i',               // BODYLEN + BODY
    0x01, 'T',                                       // TOPICLEN + TOPIC
    0x00, 0x03, 'a',  0x01, 'b',                     // PROPERTIESLEN + PROPERTIES
};

std::string_view as_view(const std::vector<uint8_t>& v) {
  return std::string_view(reinterpret_cast<const char*>(v.data()), v.size());
}

MessageRecord hand_record_fields() {
  MessageRecord r;
  r.body_crc = rocketmq_crc32("hi");
  r.queue_id = 3;
  r.flag = 7;
  r.queue_offset = 5;
  r.physical_offset = 256;
  r.born_timestamp = 0x18BCFE56800;
  r.born_host = HostAddress::v4(127, 0, 0, 1, 60000);
  r.store_timestamp = 0x18BCFE56810;
  r.store_host = HostAddress::v4(10, 0, 0, 2, 10911);
  r.reconsume_times = 1;
  r.body = "hi";
  r.topic = "T";
  r.properties = "a\x01" "b";
  return r;
}

}  // namespace

TEST_CASE("message record: encode matches the hand-written reference bytes") {
  std::string out;
  REQUIRE(encode_record(hand_record_fields(), out).ok());
  CHECK(out.size() == kHandRecord.size());
  CHECK(out == as_view(kHandRecord));
  CHECK(message_record_size(2, 1, 3, 0) == 97);
}

TEST_CASE("message record: decode of the hand-written bytes") {
  auto r = decode_record(as_view(kHandRecord));
  REQUIRE(r.ok());
  CHECK(r->total_size == 97);
  CHECK(r->magic == kMessageMagicV1);
  CHECK(r->queue_id == 3);
  CHECK(r->flag == 7);
  CHECK(r->queue_offset == 5);
  CHECK(r->physical_offset == 256);
  CHECK(r->born_host.to_string() == "127.0.0.1:60000");
  CHECK(r->store_host.to_string() == "10.0.0.2:10911");
  CHECK(r->store_timestamp == 0x18BCFE56810);
  CHECK(r->reconsume_times == 1);
  CHECK(r->body == "hi");
  CHECK(r->topic == "T");
  CHECK(find_property(r->properties, "a") == std::optional<std::string_view>("b"));
}

TEST_CASE("message record: every truncation and corruption is an error, never a crash") {
  std::string good(as_view(kHandRecord));
  for (size_t n = 0; n < good.size(); ++n) {
    auto r = decode_record(std::string_view(good).substr(0, n));
    CHECK_FALSE(r.ok());
  }
  std::string bad = good;
  bad[88] ^= 0x1;  // body byte: CRC mismatch
  auto c = decode_record(bad);
  REQUIRE_FALSE(c.ok());
  CHECK(c.code() == MessageError::kBadCrc);
  CHECK(decode_record(bad, DecodeOptions{false}).ok());
  bad = good;
  bad[5] = 0;  // magic
  CHECK(decode_record(bad).code() == MessageError::kBadMagic);
  bad = good;
  bad[86] = 0x50;  // body length far beyond the record
  CHECK_FALSE(decode_record(bad).ok());
  bad = good;
  bad[93] = 0x7F;  // properties length
  CHECK(decode_record(bad).code() == MessageError::kBadSize);
  // Random garbage of every length.
  Random rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string g = good;
    for (int k = 0; k < 3; ++k) g[static_cast<size_t>(rng.uniform(0, 96))] = static_cast<char>(rng.next_u64());
    (void)decode_record(g);
  }
}

TEST_CASE("message record: V2 magic with a 2-byte topic length is accepted") {
  std::string v1(as_view(kHandRecord));
  // Rebuild as V2: topic length becomes 2 bytes, total size +1.
  std::string v2 = v1.substr(0, 90) + std::string("\x00\x01", 2) + v1.substr(91);
  put_be32(reinterpret_cast<uint8_t*>(v2.data()), 98);
  put_be32(reinterpret_cast<uint8_t*>(v2.data()) + 4, kMessageMagicV2);
  auto r = decode_record(v2);
  REQUIRE(r.ok());
  CHECK(r->topic == "T");
  CHECK(r->magic == kMessageMagicV2);
  CHECK(r->properties == "a\x01" "b");
}

TEST_CASE("message record: IPv6 hosts widen the record and set the sysflag bits") {
  MessageRecord r = hand_record_fields();
  r.born_host.ipv6 = true;
  r.born_host.ip[15] = 1;
  std::string out;
  REQUIRE(encode_record(r, out).ok());
  CHECK(out.size() == 97 + 12);
  auto d = decode_record(out);
  REQUIRE(d.ok());
  CHECK((d->sys_flag & sysflag::kBornHostV6) != 0);
  CHECK(d->born_host == r.born_host);
  CHECK(d->store_host == r.store_host);
}

TEST_CASE("message record: limits") {
  MessageRecord r = hand_record_fields();
  std::string long_topic(128, 'x');
  r.topic = long_topic;
  std::string out;
  CHECK_FALSE(encode_record(r, out).ok());
  CHECK(out.empty());
}

TEST_CASE("blank record") {
  uint8_t b[8];
  encode_blank(b, 1417);
  const uint8_t want[8] = {0x00, 0x00, 0x05, 0x89, 0xCB, 0xD4, 0x31, 0x94};
  CHECK(std::memcmp(b, want, 8) == 0);
  auto e = decode_entry(std::string_view(reinterpret_cast<char*>(b), 8));
  REQUIRE(e.ok());
  CHECK(e->blank);
  CHECK(e->size == 1417);
  CHECK_FALSE(decode_record(std::string_view(reinterpret_cast<char*>(b), 8)).ok());
}

TEST_CASE("properties") {
  PropertyList p = {{"TAGS", "TagA"}, {"KEYS", "k1 k2"}, {"UNIQ_KEY", "ABC"}};
  std::string s = encode_properties(p);
  CHECK(s == "TAGS\x01TagA\x02KEYS\x01k1 k2\x02UNIQ_KEY\x01" "ABC");
  auto d = decode_properties(s);
  REQUIRE(d.size() == 3);
  CHECK(d[1].first == "KEYS");
  CHECK(d[1].second == "k1 k2");
  // ali-ons ends with \x02; empty and malformed pieces are dropped like Java does.
  auto t = decode_properties("A\x01" "1\x02\x02" "B\x01\x02\x01x\x02zz\x02" "C\x01" "3\x02");
  REQUIRE(t.size() == 2);
  CHECK(t[0].first == "A");
  CHECK(t[1].first == "C");
  CHECK(t[1].second == "3");
  // Last occurrence wins (batch members carry WAIT twice).
  CHECK(find_property("WAIT\x01true\x02X\x01y\x02WAIT\x01" "false", "WAIT") ==
        std::optional<std::string_view>("false"));
  CHECK_FALSE(find_property("X\x01y", "WAIT").has_value());
  CHECK(join_batch_properties("a\x01" "1", "WAIT\x01true") == "a\x01" "1\x02WAIT\x01true");
  CHECK(join_batch_properties("a\x01" "1\x02", "WAIT\x01true") == "a\x01" "1\x02WAIT\x01true");
  CHECK(join_batch_properties("", "WAIT\x01true") == "WAIT\x01true");
}

TEST_CASE("offsetMsgId") {
  // From the fixture manifest: store host 127.0.0.1:10911, commit log offset 191.
  auto h = HostAddress::v4(127, 0, 0, 1, 10911);
  CHECK(make_offset_msg_id(h, 191) == "7F00000100002A9F00000000000000BF");
  auto d = decode_offset_msg_id("7F00000100002A9F00000000000000BF");
  REQUIRE(d.ok());
  CHECK(d->store_host == h);
  CHECK(d->commit_log_offset == 191);
  CHECK(decode_offset_msg_id("7f00000100002a9f00000000000000bf").ok());
  CHECK_FALSE(decode_offset_msg_id("7F00000100002A9F00000000000000B").ok());
  CHECK_FALSE(decode_offset_msg_id("7F00000100002A9F00000000000000BG").ok());
  HostAddress v6;
  v6.ipv6 = true;
  v6.ip[15] = 1;
  v6.port = 10911;
  std::string id6 = make_offset_msg_id(v6, 1ll << 40);
  CHECK(id6.size() == 56);
  auto d6 = decode_offset_msg_id(id6);
  REQUIRE(d6.ok());
  CHECK(d6->store_host == v6);
  CHECK(d6->commit_log_offset == (1ll << 40));
  CHECK(HostAddress::parse_v4("127.0.0.1:10911") == std::optional<HostAddress>(h));
  CHECK_FALSE(HostAddress::parse_v4("127.0.0.1").has_value());
  CHECK_FALSE(HostAddress::parse_v4("127.0.0.256:1").has_value());
}

TEST_CASE("batch body: round trip and the Java 4.9.4 producer's SEND_BATCH_MESSAGE body") {
  std::vector<BatchItem> items = {{3, "body-1", "TAGS\x01" "A"}, {0, "", ""}, {1, "x", "K\x01v\x02"}};
  std::string enc = encode_batch(items);
  auto dec = decode_batch(enc);
  REQUIRE(dec.ok());
  REQUIRE(dec->size() == 3);
  CHECK((*dec)[0].flag == 3);
  CHECK((*dec)[0].body == "body-1");
  CHECK((*dec)[2].properties == "K\x01v\x02");
  std::set<size_t> boundaries = {0};
  for (const auto& it : items) boundaries.insert(*boundaries.rbegin() + 22 + it.body.size() + it.properties.size());
  CHECK(boundaries.count(enc.size()));
  for (size_t n = 1; n < enc.size(); ++n)
    if (!boundaries.count(n)) CHECK_FALSE(decode_batch(enc.substr(0, n)).ok());

  std::ifstream in(std::string(MQ_FIXTURES_DIR) + "/wire/java-producer.jsonl");
  REQUIRE(in.good());
  std::string line;
  int found = 0;
  while (std::getline(in, line)) {
    auto f = nlohmann::json::parse(line);
    if (f["code"] != 320 || f["is_response"].get<bool>()) continue;
    std::string body = test::base64_decode(f["body_b64"].get<std::string>());
    REQUIRE(body.size() == f["body_length"].get<size_t>());
    auto b = decode_batch(body);
    REQUIRE(b.ok());
    CHECK(b->size() == 5);
    for (size_t i = 0; i < b->size(); ++i) {
      CHECK((*b)[i].body == "batch message " + std::to_string(i));
      CHECK(find_property((*b)[i].properties, "UNIQ_KEY").has_value());
    }
    ++found;
  }
  CHECK(found == 1);
}

TEST_CASE("decoders survive random and mutated input") {
  Random rng(99);
  std::vector<BatchItem> items = {{1, "abc", "K\x01v"}, {2, std::string_view("\0\1\2", 3), ""}};
  std::string batch = encode_batch(items);
  std::string records(as_view(kHandRecord));
  records += records;
  for (int i = 0; i < 20000; ++i) {
    std::string a = i % 2 ? batch : records;
    int edits = static_cast<int>(rng.uniform(1, 4));
    for (int k = 0; k < edits; ++k) {
      size_t pos = static_cast<size_t>(rng.uniform(0, static_cast<int64_t>(a.size()) - 1));
      a[pos] = static_cast<char>(rng.next_u64());
    }
    if (rng.chance(1, 4)) a.resize(static_cast<size_t>(rng.uniform(0, static_cast<int64_t>(a.size()))));
    (void)decode_batch(a);
    (void)decode_records(a);
    (void)decode_entry(a);
    (void)decode_properties(a);
    (void)decode_offset_msg_id(a.substr(0, 32));
  }
}
