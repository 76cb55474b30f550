// REGISTER_BROKER bodies: the one Java 4.9.4 sent (fixture), our plain and compressed encodings,
// and hostile compressed input.
#include <doctest/doctest.h>

#include <sstream>

#include "base/hash.h"
#include "codec/fastjson.h"
#include "codec/route_data.h"
#include "tests/support/fixture_files.h"

using namespace mq;

TEST_CASE("the Java broker's registration body decodes and its CRC matches the header") {
  std::istringstream lines(test::read_file(std::string(MQ_FIXTURES_DIR) + "/wire/broker-register.jsonl"));
  std::string line;
  int seen = 0, full = 0;
  while (std::getline(lines, line)) {
    auto rec = nlohmann::json::parse(line);
    if (rec["code"] != 103 || rec["is_response"].get<bool>()) continue;
    auto header = parse_fastjson(rec["header"].get<std::string>());
    REQUIRE(header.ok());
    std::string body = test::base64_decode(rec["body_b64"].get<std::string>());
    auto crc = std::stoll((*header)["extFields"]["bodyCrc32"].get<std::string>());
    CHECK(crc == rocketmq_crc32(body));
    auto w = decode_register_broker_body(body, false, 401);
    REQUIRE(w.ok());
    CHECK_FALSE(w->topic_config_table.empty());
    // Full registrations carry the built-in topics; incremental ones only the new topic.
    if (auto it = w->topic_config_table.find("SCHEDULE_TOPIC_XXXX"); it != w->topic_config_table.end()) {
      CHECK(it->second.read_queue_nums == 18);
      ++full;
    }
    ++seen;
  }
  CHECK(seen == 7);
  CHECK(full >= 3);
}

TEST_CASE("plain and compressed register bodies round trip") {
  TopicConfigWrapper w;
  w.data_version = DataVersion{3, 0, 1795310770874};
  TopicConfig a;
  a.topic_name = "A";
  a.read_queue_nums = 8;
  a.write_queue_nums = 4;
  a.perm = 7;
  w.topic_config_table["A"] = a;
  for (bool compressed : {false, true}) {
    auto back = decode_register_broker_body(encode_register_broker_body(w, compressed), compressed, 401);
    REQUIRE(back.ok());
    CHECK(back->data_version == w.data_version);
    CHECK(back->topic_config_table.at("A").read_queue_nums == 8);
    CHECK(back->topic_config_table.at("A").write_queue_nums == 4);
    CHECK(back->topic_config_table.at("A").perm == 7);
  }
}

TEST_CASE("hostile compressed bodies are refused, including zip bombs") {
  CHECK_FALSE(decode_register_broker_body("not zlib", true, 401).ok());
  std::string bomb = zlib_deflate(std::string(80 * 1024 * 1024, 'A'));
  auto r = decode_register_broker_body(bomb, true, 401);
  REQUIRE_FALSE(r.ok());
  CHECK(r.detail().find("exceeds") != std::string::npos);
  std::string truncated_count;
  truncated_count.append("\x00\x00\x00\x02{}\x7F\xFF\xFF\xFF", 10);  // claims 2^31-1 topics
  CHECK_FALSE(decode_register_broker_body(zlib_deflate(truncated_count), true, 401).ok());
  CHECK_FALSE(decode_register_broker_body("{\"topicConfigSerializeWrapper\":{\"topicConfigTable\":{\"x\":5}}}", false, 401).ok());
}
