// Metadata files: round trips, fastjson's unquoted integer keys, the Java fixture's config/*.json,
// and the .tmp/.bak persistence sequence with crashes in the middle.
#include <doctest/doctest.h>

#include "store/fault_fs.h"
#include "store/metadata.h"
#include "tests/store/test_util.h"

using namespace mq;
using namespace mq::store;

TEST_CASE("quote_bare_keys") {
  CHECK(quote_bare_keys(R"({"offsetTable":{0:36,1:27}})") == R"({"offsetTable":{"0":36,"1":27}})");
  CHECK(quote_bare_keys("{\n\t1:3,\n\t2 : 3\n}") == "{\n\t\"1\":3,\n\t\"2\" : 3\n}");
  // Numbers that are values, array items, or inside strings are left alone.
  CHECK(quote_bare_keys(R"({"a":[1,2,{3:4}],"s":"{5:6}","n":-1})") ==
        R"({"a":[1,2,{"3":4}],"s":"{5:6}","n":-1})");
  CHECK(quote_bare_keys(R"({"e":"x\"{7:8}"})") == R"({"e":"x\"{7:8}"})");
}

TEST_CASE("Java fixture config files decode") {
  PosixFileSystem fs;
  std::string root = std::string(MQ_FIXTURES_DIR) + "/java494-store";
  auto off = load_consumer_offsets(fs, consumer_offset_path(root));
  REQUIRE_MESSAGE(off.ok(), (off.ok() ? "" : off.detail()));
  std::map<int32_t, int64_t> want = {{0, 36}, {1, 27}, {2, 27}, {3, 27}};
  CHECK(off->offsets.at("FixtureTopicA@fixture_consumer_group") == want);
  auto delay = load_delay_offsets(fs, delay_offset_path(root));
  REQUIRE(delay.ok());
  CHECK(delay->offsets == std::map<int32_t, int64_t>{{1, 3}, {2, 3}, {3, 3}});
  auto topics = load_topics(fs, topics_path(root));
  REQUIRE(topics.ok());
  CHECK(topics->data_version.counter == 4);
  const auto& a = topics->topics.at("FixtureTopicA");
  CHECK(a.read_queue_nums == 4);
  CHECK(a.write_queue_nums == 4);
  CHECK(a.perm == 6);
  CHECK(topics->topics.at(std::string("FixtureTopicB_") + std::string(113, 'x')).read_queue_nums == 4);
  CHECK(topics->topics.count("SCHEDULE_TOPIC_XXXX"));
  CHECK(topics->topics.count("%RETRY%fixture_consumer_group"));
  auto groups = load_subscription_groups(fs, subscription_group_path(root));
  REQUIRE(groups.ok());
  CHECK(groups->groups.count("fixture_consumer_group"));
  CHECK(groups->groups.at("SELF_TEST_C_GROUP").retry_max_times == 16);
  CHECK(groups->groups.at("SELF_TEST_C_GROUP").which_broker_when_consume_slowly == 1);
  // The killed store only has topics.json.
  std::string killed = std::string(MQ_FIXTURES_DIR) + "/java494-store-killed";
  CHECK(load_topics(fs, topics_path(killed)).ok());
  CHECK(load_consumer_offsets(fs, consumer_offset_path(killed)).code() == MetadataError::kNotFound);
}

TEST_CASE("metadata round trips") {
  TopicConfigTable t;
  t.data_version = {3, 1, 1700000000000};
  TopicConfig c;
  c.topic_name = "T";
  c.read_queue_nums = 8;
  c.write_queue_nums = 4;
  c.perm = 7;
  c.order = true;
  c.attributes["+message.type"] = "NORMAL";
  t.topics["T"] = c;
  auto t2 = decode_topics(encode_topics(t), "mem");
  REQUIRE(t2.ok());
  CHECK(*t2 == t);

  ConsumerOffsetTable o;
  o.offsets["T@G"] = {{0, 12}, {1, 7}};
  o.offsets["%RETRY%G@G"] = {{0, 0}};
  auto o2 = decode_consumer_offsets(encode_consumer_offsets(o), "mem");
  REQUIRE(o2.ok());
  CHECK(*o2 == o);

  SubscriptionGroupTable g;
  SubscriptionGroupConfig gc;
  gc.group_name = "G";
  gc.retry_max_times = 3;
  gc.consume_enable = false;
  g.groups["G"] = gc;
  auto g2 = decode_subscription_groups(encode_subscription_groups(g), "mem");
  REQUIRE(g2.ok());
  CHECK(*g2 == g);

  DelayOffsetTable d;
  d.offsets = {{1, 3}, {18, 9}};
  auto d2 = decode_delay_offsets(encode_delay_offsets(d), "mem");
  REQUIRE(d2.ok());
  CHECK(*d2 == d);

  // Wrong shapes are errors naming the source, not exceptions.
  auto bad = decode_consumer_offsets(R"({"offsetTable":{"T@G":{"x":1}}})", "consumerOffset.json");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.detail().find("consumerOffset.json") != std::string::npos);
  CHECK_FALSE(decode_topics("{not json", "topics.json").ok());
  CHECK_FALSE(decode_topics(R"({"topicConfigTable":{"T":{"perm":"x"}}})", "topics.json").ok());
}

TEST_CASE("persist: .bak keeps the previous version; a damaged main file falls back to it") {
  FaultInjectingFileSystem fs;
  std::string path = "/root/config/consumerOffset.json";
  ConsumerOffsetTable v1, v2;
  v1.offsets["T@G"] = {{0, 1}};
  v2.offsets["T@G"] = {{0, 2}};
  REQUIRE(persist_config_file(fs, path, encode_consumer_offsets(v1)).ok());
  CHECK_FALSE(fs.exists(path + ".bak"));
  REQUIRE(persist_config_file(fs, path, encode_consumer_offsets(v2)).ok());
  CHECK(*load_consumer_offsets(fs, path) == v2);
  CHECK(*decode_consumer_offsets(read_whole_file(fs, path + ".bak").value(), "bak") == v1);
  CHECK_FALSE(fs.exists(path + ".tmp"));
  // Both versions were synced: an OS crash keeps them.
  fs.crash();
  CHECK(*load_consumer_offsets(fs, path) == v2);
  // Main file torn or emptied: the .bak is used.
  {
    auto f = fs.open(path, false);
    REQUIRE((*f)->truncate(5).ok());
  }
  CHECK(*load_consumer_offsets(fs, path) == v1);
  {
    auto f = fs.open(path, false);
    REQUIRE((*f)->truncate(0).ok());
  }
  CHECK(*load_consumer_offsets(fs, path) == v1);
  // A write that fails leaves the previous file in place.
  fs.fail_syncs_after(0);
  CHECK_FALSE(persist_config_file(fs, "/root/config/delayOffset.json", "{}").ok());
  CHECK_FALSE(fs.exists("/root/config/delayOffset.json"));
}

TEST_CASE("metadata decoders never throw on mutated input") {
  std::string base = R"({"offsetTable":{"T@G":{0:36,1:27}},"topicConfigTable":{"T":{"perm":6}},"subscriptionGroupTable":{"G":{}}})";
  Random rng(5);
  for (int i = 0; i < 5000; ++i) {
    std::string s = base;
    for (int k = 0; k < 3; ++k) s[static_cast<size_t>(rng.uniform(0, static_cast<int64_t>(s.size()) - 1))] = "{}:,\"0a-\x01"[rng.uniform(0, 9)];
    (void)decode_consumer_offsets(s, "x");
    (void)decode_topics(s, "x");
    (void)decode_subscription_groups(s, "x");
    (void)decode_delay_offsets(s, "x");
  }
}
