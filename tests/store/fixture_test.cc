// Stores written by the real Java RocketMQ 4.9.4 broker (fixtures/java494-store, clean, and
// java494-store-killed, after kill -9): opened here on a copy and checked record by record against
// the manifests the Java client and broker produced.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>

#include "base/hash.h"
#include "store/message_store.h"
#include "tests/store/test_util.h"

using namespace mq;
using namespace mq::store;
using json = nlohmann::json;

namespace {

Logger quiet_log() { return Logger(std::make_shared<LogSink>(stderr, LogLevel::kError), "[fixture]"); }

json load_manifest(const std::string& name) {
  std::ifstream in(std::string(MQ_FIXTURES_DIR) + "/" + name);
  REQUIRE(in.good());
  return json::parse(in);
}

MessageStoreConfig java_config(const std::string& root) {
  MessageStoreConfig c;
  c.store_path_root_dir = root;
  c.mapped_file_size_commit_log = 65536;   // the fixture broker's mappedFileSizeCommitLog
  c.mapped_file_size_consume_queue = 600;  // and mappedFileSizeConsumeQueue
  return c;
}

std::pair<std::string, int32_t> split_queue_key(const std::string& key) {
  size_t slash = key.rfind('/');
  return {key.substr(0, slash), std::stoi(key.substr(slash + 1))};
}

// Checks one record against a store_view entry of the clean manifest.
void check_record_against_view(const MessageRecord& m, const json& v) {
  CHECK(m.topic == v["topic"].get<std::string>());
  CHECK(m.queue_id == v["queueId"].get<int32_t>());
  CHECK(m.queue_offset == v["queueOffset"].get<int64_t>());
  CHECK(m.physical_offset == v["commitLogOffset"].get<int64_t>());
  CHECK(m.total_size == v["storeSize"].get<int32_t>());
  CHECK(m.sys_flag == v["sysFlag"].get<int32_t>());
  CHECK(m.body_crc == v["bodyCRC"].get<int32_t>());
  CHECK(m.flag == v["flag"].get<int32_t>());
  CHECK(m.born_timestamp == v["bornTimestamp"].get<int64_t>());
  CHECK(m.store_timestamp == v["storeTimestamp"].get<int64_t>());
  CHECK(m.born_host.to_string() == v["bornHost"].get<std::string>());
  CHECK(m.store_host.to_string() == v["storeHost"].get<std::string>());
  CHECK(m.reconsume_times == v["reconsumeTimes"].get<int32_t>());
  CHECK(m.prepared_transaction_offset == v["preparedTransactionOffset"].get<int64_t>());
  CHECK(make_offset_msg_id(m.store_host, m.physical_offset) == v["offsetMsgId"].get<std::string>());
  CHECK(m.properties.size() == v["stored_properties_length"].get<size_t>());
  std::map<std::string, std::string> props;
  for (auto& [k, val] : decode_properties(m.properties)) props[std::string(k)] = std::string(val);
  std::map<std::string, std::string> want;
  for (auto& [k, val] : v["properties"].items()) want[k] = val.get<std::string>();
  CHECK(props == want);
  CHECK(test::sha1_hex(m.body) == v["stored_body_sha1"].get<std::string>());
  std::string body(m.body);
  if (m.sys_flag & sysflag::kCompressed) {
    auto inflated = test::inflate_zlib(m.body);
    REQUIRE(inflated.has_value());
    body = *inflated;
  }
  CHECK(body.size() == v["body_length"].get<size_t>());
  CHECK(test::sha1_hex(body) == v["body_sha1"].get<std::string>());
}

// Reads every queue of the clean fixture through get_message and compares with the manifest.
void check_clean_store(MessageStore& s, const json& man) {
  size_t records = 0;
  for (auto& [key, entries] : man["store_view"].items()) {
    CAPTURE(key);
    auto [topic, qid] = split_queue_key(key);
    CHECK(s.max_offset_in_queue(topic, qid) == man["final_max_offsets"][key].get<int64_t>());
    CHECK(s.min_offset_in_queue(topic, qid) == 0);
    const auto& units = man["consume_queues"][key];
    int64_t off = 0;
    size_t i = 0;
    while (true) {
      auto g = s.get_message(topic, qid, off, 7, 1 << 20);
      if (g.status != GetMessageStatus::kFound) {
        CHECK(g.status == GetMessageStatus::kOffsetOverflowOne);
        break;
      }
      auto recs = decode_records(g.buffer);
      REQUIRE(recs.ok());
      for (size_t k = 0; k < recs->size(); ++k, ++i) {
        REQUIRE(i < entries.size());
        check_record_against_view((*recs)[k], entries[i]);
        CHECK(g.messages[k].tags_code == units[i]["tagsCode"].get<int64_t>());
        CHECK(g.messages[k].commit_log_offset == units[i]["physicOffset"].get<int64_t>());
        CHECK(g.messages[k].size == units[i]["physicSize"].get<int32_t>());
        // Tag codes are also what we would compute: Java hashCode of TAGS, or the delivery time.
        const auto& m = (*recs)[k];
        CHECK(s.tags_code_of(m.topic, m.properties, m.store_timestamp) == g.messages[k].tags_code);
        auto one = s.message_by_offset(m.physical_offset);
        REQUIRE(one.ok());
        CHECK(one->size() == static_cast<size_t>(m.total_size));
      }
      off = g.next_begin_offset;
    }
    CHECK(i == entries.size());
    records += i;
  }
  CHECK(records == 290);
  // Every message the client sent is where its SendResult said.
  for (const auto& sent : man["sent"]) {
    for (const auto& sr : sent["stored_records"]) {
      auto id = decode_offset_msg_id(sr["offsetMsgId"].get<std::string>());
      REQUIRE(id.ok());
      auto rec = s.message_by_offset(id->commit_log_offset);
      REQUIRE(rec.ok());
      auto m = decode_record(*rec);
      REQUIRE(m.ok());
      CHECK(find_property(m->properties, "UNIQ_KEY") ==
            std::optional<std::string_view>(sent["uniq_key"].get<std::string>()));
      CHECK(m->queue_offset == sr["queueOffset"].get<int64_t>());
      CHECK(m->topic == sr["topic"].get<std::string>());
    }
  }
}

}  // namespace

TEST_CASE("Java 4.9.4 clean store: normal recovery, every record and ConsumeQueue unit read back") {
  auto man = load_manifest("java494-store.manifest.json");
  test::TempDir tmp;
  std::string root = tmp.path() + "/store";
  test::copy_tree(std::string(MQ_FIXTURES_DIR) + "/java494-store", root);
  PosixFileSystem fs;
  {
    MessageStore s(java_config(root), fs, quiet_log());
    auto rep = s.open();
    REQUIRE_MESSAGE(rep.ok(), (rep.ok() ? "" : rep.detail()));
    CHECK_FALSE(rep->abnormal);
    CHECK(rep->commit_log_end == 6 * 65536 + 56626);
    CHECK(rep->truncated_bytes == 0);
    CHECK(rep->redispatched == 0);
    check_clean_store(s, man);
    CHECK(s.earliest_message_time() == man["store_view"]["FixtureTopicA/3"][0]["storeTimestamp"].get<int64_t>());
    // Offset by time finds each record of a queue by its own store time.
    const auto& q3 = man["store_view"]["FixtureTopicA/3"];
    for (size_t i = 0; i < q3.size(); i += 5) {
      int64_t ts = q3[i]["storeTimestamp"].get<int64_t>();
      int64_t off = s.offset_in_queue_by_time("FixtureTopicA", 3, ts);
      CHECK(s.message_store_timestamp("FixtureTopicA", 3, off) == ts);
      CHECK(off <= static_cast<int64_t>(i));
    }
    // And we can append to it: the next record continues the Java data.
    MessageToStore m;
    m.topic = "FixtureTopicA";
    m.queue_id = 0;
    m.body = "from C++";
    m.store_host = HostAddress::v4(127, 0, 0, 1, 10911);
    auto p = s.put_message(m, 1795310999999);
    REQUIRE(p.ok());
    CHECK(p.wrote_offset == 6 * 65536 + 56626);
    CHECK(p.logics_offset == man["final_max_offsets"]["FixtureTopicA/0"].get<int64_t>());
    REQUIRE(s.shutdown().ok());
  }
  // Reopen: Java's records and ours side by side.
  MessageStore s(java_config(root), fs, quiet_log());
  REQUIRE(s.open().ok());
  auto g = s.get_message("FixtureTopicA", 0, man["final_max_offsets"]["FixtureTopicA/0"].get<int64_t>(), 1, 1 << 20);
  REQUIRE(g.status == GetMessageStatus::kFound);
  CHECK(decode_record(g.buffer)->body == "from C++");
}

TEST_CASE("Java 4.9.4 clean store: abnormal recovery with ConsumeQueues deleted rebuilds the same units") {
  auto man = load_manifest("java494-store.manifest.json");
  test::TempDir tmp;
  std::string root = tmp.path() + "/store";
  test::copy_tree(std::string(MQ_FIXTURES_DIR) + "/java494-store", root);
  std::filesystem::remove_all(root + "/consumequeue");
  { std::ofstream(root + "/abort"); }
  PosixFileSystem fs;
  MessageStore s(java_config(root), fs, quiet_log());
  auto rep = s.open();
  REQUIRE_MESSAGE(rep.ok(), (rep.ok() ? "" : rep.detail()));
  CHECK(rep->abnormal);
  CHECK(rep->redispatched == 290);
  check_clean_store(s, man);
  // The rebuilt ConsumeQueue files are byte-identical to the Java broker's.
  for (auto& [key, _] : man["consume_queues"].items()) {
    auto [topic, qid] = split_queue_key(key);
    std::string dir = "/consumequeue/" + topic + "/" + std::to_string(qid);
    for (auto& e : std::filesystem::directory_iterator(std::string(MQ_FIXTURES_DIR) + "/java494-store" + dir)) {
      std::string name = e.path().filename();
      auto want = read_whole_file(fs, e.path());
      auto got = read_whole_file(fs, root + dir + "/" + name);
      REQUIRE(want.ok());
      REQUIRE(got.ok());
      std::string what = key + "/" + name;
      CHECK_MESSAGE(*want == *got, what);
    }
  }
}

TEST_CASE("Java 4.9.4 store after kill -9: abnormal recovery keeps every acknowledged message") {
  auto man = load_manifest("java494-store-killed.manifest.json");
  test::TempDir tmp;
  std::string root = tmp.path() + "/store";
  test::copy_tree(std::string(MQ_FIXTURES_DIR) + "/java494-store-killed", root);
  PosixFileSystem fs;
  REQUIRE(fs.exists(root + "/abort"));
  REQUIRE(fs.exists(root + "/commitlog/" + offset_to_file_name(3 * 65536)));
  MessageStore s(java_config(root), fs, quiet_log());
  auto rep = s.open();
  REQUIRE_MESSAGE(rep.ok(), (rep.ok() ? "" : rep.detail()));
  CHECK(rep->abnormal);
  CHECK(rep->redispatched == 152);  // checkpoint physicMsgTimestamp is 0: scan from the first file
  CHECK(rep->commit_log_end < 3 * 65536);
  // The pre-allocated all-zero fourth file is past the end and goes.
  CHECK(rep->deleted_files == 1);
  CHECK_FALSE(fs.exists(root + "/commitlog/" + offset_to_file_name(3 * 65536)));

  int acknowledged = 0;
  std::map<std::string, int> per_queue;
  for (const auto& sent : man["sent"]) {
    if (sent["outcome"] != "acknowledged") continue;
    ++acknowledged;
    CAPTURE(sent["seq"].get<int>());
    const auto& sr = sent["send_result"];
    auto id = decode_offset_msg_id(sr["offsetMsgId"].get<std::string>());
    REQUIRE(id.ok());
    CHECK(id->store_host.to_string() == "127.0.0.1:10921");
    auto rec = s.message_by_offset(id->commit_log_offset);
    REQUIRE(rec.ok());
    auto m = decode_record(*rec);
    REQUIRE(m.ok());
    CHECK(find_property(m->properties, "UNIQ_KEY") ==
          std::optional<std::string_view>(sent["uniq_key"].get<std::string>()));
    CHECK(m->queue_offset == sr["queueOffset"].get<int64_t>());
    std::string body(m->body);
    if (m->sys_flag & sysflag::kCompressed) body = test::inflate_zlib(m->body).value();
    CHECK(test::sha1_hex(body) == sent["body_sha1"].get<std::string>());
    // Its ConsumeQueue unit is there and points back at it.
    auto g = s.get_message(std::string(m->topic), m->queue_id, m->queue_offset, 1, 1 << 20);
    REQUIRE(g.status == GetMessageStatus::kFound);
    CHECK(g.messages[0].commit_log_offset == id->commit_log_offset);
    CHECK(g.messages[0].tags_code == s.tags_code_of(m->topic, m->properties, m->store_timestamp));
  }
  CHECK(acknowledged == 150);
  // The in-flight send is not in the store: nothing carries its UNIQ_KEY.
  std::string in_flight = man["in_flight_at_kill"]["uniq_key"].get<std::string>();
  int64_t total = 0;
  for (auto& [topic, qid] : s.queues()) {
    int64_t off = 0;
    while (true) {
      auto g = s.get_message(topic, qid, off, 32, 1 << 20);
      if (g.status != GetMessageStatus::kFound) break;
      auto recs = decode_records(g.buffer);
      REQUIRE(recs.ok());
      for (auto& m : *recs) {
        ++total;
        CHECK(find_property(m.properties, "UNIQ_KEY") != std::optional<std::string_view>(in_flight));
      }
      off = g.next_begin_offset;
    }
  }
  CHECK(total == 152);
  // New puts continue where the Java broker stopped.
  MessageToStore m;
  m.topic = "FixtureKillTopic";
  m.queue_id = 0;
  m.body = "after recovery";
  m.store_host = HostAddress::v4(127, 0, 0, 1, 10921);
  int64_t max0 = s.max_offset_in_queue("FixtureKillTopic", 0);
  auto p = s.put_message(m, 1795311000000);
  REQUIRE(p.ok());
  CHECK(p.wrote_offset == rep->commit_log_end);
  CHECK(p.logics_offset == max0);
}
