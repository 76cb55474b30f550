// The client against bytes real clients and a real broker put on the wire (shared/fixtures/wire):
// our SEND_MESSAGE_V2 header has the Java client's keys, and captured PULL responses decode to the
// messages the captured producers sent.
#include <doctest/doctest.h>

#include <map>
#include <set>

#include "client/consumer.h"
#include "client/producer.h"
#include "codec/codes.h"
#include "codec/route_data.h"
#include "fixture_util.h"

using namespace mq;

TEST_CASE("our SEND_MESSAGE_V2 header has the same keys and value forms as the Java 4.9.4 client's") {
  auto frames = test::load_frames("java-producer.jsonl");
  const RemotingCommand* java = nullptr;
  for (auto& f : frames)
    if (f.cmd.code == request_code::kSendMessageV2 && !f.cmd.is_response()) {
      java = &f.cmd;
      break;
    }
  REQUIRE(java != nullptr);
  SendMessageRequestHeader h;
  h.producer_group = "wire_producer_group";
  h.topic = "WireTopic";
  h.queue_id = 0;
  h.born_timestamp = 1795310777342;
  h.properties = *java->ext_fields.find("i");
  auto ours = make_send_request(h, "body");
  CHECK(ours.code == java->code);
  std::vector<std::string> java_keys, our_keys;
  for (auto& [k, v] : java->ext_fields.entries()) java_keys.push_back(k);
  for (auto& [k, v] : ours.ext_fields.entries()) our_keys.push_back(k);
  CHECK(our_keys == java_keys);  // a..k, m: same order too
  for (auto& [k, v] : java->ext_fields.entries()) CHECK_MESSAGE(*ours.ext_fields.find(k) == v, "key " << k);

  // The batch frame: code 320 with m=true.
  for (auto& f : frames)
    if (f.cmd.code == request_code::kSendBatchMessage) {
      SendMessageRequestHeader b = h;
      b.batch = true;
      b.queue_id = 3;
      b.born_timestamp = std::stoll(*f.cmd.ext_fields.find("g"));
      b.properties = *f.cmd.ext_fields.find("i");
      auto ob = make_send_request(b, "");
      CHECK(ob.code == request_code::kSendBatchMessage);
      for (auto& [k, v] : f.cmd.ext_fields.entries()) CHECK_MESSAGE(*ob.ext_fields.find(k) == v, "key " << k);
      CHECK(ob.ext_fields.size() == f.cmd.ext_fields.size());
    }
}

TEST_CASE("the captured Java compressed send used the threshold and sysFlag we use") {
  for (auto& f : test::load_frames("java-producer.jsonl")) {
    if (f.cmd.code != request_code::kSendMessageV2) continue;
    int sys_flag = std::stoi(*f.cmd.ext_fields.find("f"));
    if (sys_flag & sysflag::kCompressed) {
      CHECK(sys_flag == kCompressedSysFlag);
      auto plain = zlib_inflate(f.cmd.body, 1 << 20);
      REQUIRE(plain.ok());
      CHECK(should_compress(plain->size(), 4096));
      CHECK(plain->size() == 6000);
    } else {
      CHECK_FALSE(should_compress(f.cmd.body.size(), 4096));
    }
  }
}

namespace {
struct Sent {
  std::string body;
  std::string tags;
  std::string keys;
  std::string topic;
};

// What the captured producers sent, by UNIQ_KEY (Java) or by body (ali-ons sets no UNIQ_KEY).
void collect_sends(const std::vector<test::CapturedFrame>& frames, std::map<std::string, Sent>& by_id,
                   std::map<std::string, Sent>& by_body) {
  for (auto& f : frames) {
    if (f.cmd.is_response()) continue;
    if (f.cmd.code != request_code::kSendMessageV2 && f.cmd.code != request_code::kSendBatchMessage) continue;
    std::string topic = *f.cmd.ext_fields.find("b");
    auto add = [&](std::string_view props, std::string body) {
      Sent s{std::move(body), std::string(find_property(props, "TAGS").value_or("")),
             std::string(find_property(props, "KEYS").value_or("")), topic};
      if (auto id = find_property(props, "UNIQ_KEY")) by_id[std::string(*id)] = s;
      by_body[s.body] = s;
    };
    if (f.cmd.code == request_code::kSendBatchMessage) {
      auto items = decode_batch(f.cmd.body);
      REQUIRE(items.ok());
      for (auto& it : *items) add(it.properties, std::string(it.body));
    } else {
      std::string body = f.cmd.body;
      if (std::stoi(*f.cmd.ext_fields.find("f")) & sysflag::kCompressed) body = *zlib_inflate(body, 1 << 20);
      add(*f.cmd.ext_fields.find("i"), body);
    }
  }
}
}  // namespace

TEST_CASE("captured PULL responses decode to what the producers sent: topic, tags, keys, bodies") {
  std::map<std::string, Sent> by_id, by_body;
  auto java_producer = test::load_frames("java-producer.jsonl");
  auto java_consumer = test::load_frames("java-consumer.jsonl");  // also holds the late producer
  auto ali_producer = test::load_frames("alions-producer.jsonl");
  auto ali_consumer = test::load_frames("alions-consumer.jsonl");
  collect_sends(java_producer, by_id, by_body);
  collect_sends(java_consumer, by_id, by_body);
  collect_sends(ali_producer, by_id, by_body);
  collect_sends(test::load_frames("java-producer-old-version.jsonl"), by_id, by_body);
  REQUIRE(by_id.size() >= 10);

  int found_responses = 0, messages = 0, compressed = 0;
  for (auto* frames : {&java_consumer, &ali_consumer}) {
    std::set<int32_t> pull_opaques;
    for (auto& f : *frames) {
      if (!f.cmd.is_response() && f.cmd.code == request_code::kPullMessage) pull_opaques.insert(f.cmd.opaque);
      if (!f.cmd.is_response() || !pull_opaques.contains(f.cmd.opaque)) continue;
      auto r = parse_pull_response(f.cmd, /*check_crc=*/true);
      REQUIRE_MESSAGE(r.ok(), r.detail());
      if (r->status != PullResult::kFound) {
        CHECK(r->records.empty());
        continue;
      }
      ++found_responses;
      CHECK(r->next_begin_offset == r->records.back().queue_offset + 1);
      std::string scratch;
      for (auto& rec : r->records) {
        ConsumedMessage m;
        REQUIRE(to_consumed_message(rec, "broker-a", m, scratch).ok());
        ++messages;
        if (m.sys_flag & sysflag::kCompressed) ++compressed;
        const Sent* sent = nullptr;
        if (!m.uniq_key.empty() && by_id.contains(std::string(m.uniq_key)))
          sent = &by_id[std::string(m.uniq_key)];
        else if (by_body.contains(std::string(m.body)))
          sent = &by_body[std::string(m.body)];
        REQUIRE_MESSAGE(sent != nullptr, "pulled message " << m.msg_id() << " was never sent");
        CHECK(m.topic == sent->topic);
        CHECK(m.tags == sent->tags);
        CHECK(m.keys == sent->keys);
        CHECK(m.body == sent->body);
        CHECK(m.offset_msg_id().size() == 32);
        CHECK(m.store_host.to_string() == "127.0.0.1:10911");
        CHECK(m.born_timestamp > 1795310000000);
        CHECK(m.store_timestamp >= m.born_timestamp - 1000);
        CHECK(m.property("CLUSTER").has_value());  // added by the broker
      }
    }
  }
  CHECK(found_responses >= 8);
  CHECK(messages >= 14);
  CHECK(compressed >= 1);  // the 6000-byte bodies came back compressed and inflate
}

TEST_CASE("captured NOT_FOUND and the Java consumer's commit-offset pulls") {
  int not_found = 0;
  for (auto& f : test::load_frames("java-consumer.jsonl")) {
    if (f.cmd.is_response() && f.cmd.code == response_code::kPullNotFound) {
      auto r = parse_pull_response(f.cmd);
      REQUIRE(r.ok());
      CHECK(r->status == PullResult::kNoNewMsg);
      CHECK(r->next_begin_offset >= 1);
      ++not_found;
    }
    if (!f.cmd.is_response() && f.cmd.code == request_code::kPullMessage) {
      // Our header for the same pull: same keys, same values.
      PullRequestHeader h;
      h.consumer_group = *f.cmd.ext_fields.find("consumerGroup");
      h.topic = *f.cmd.ext_fields.find("topic");
      h.queue_id = std::stoi(*f.cmd.ext_fields.find("queueId"));
      h.queue_offset = std::stoll(*f.cmd.ext_fields.find("queueOffset"));
      h.sys_flag = std::stoi(*f.cmd.ext_fields.find("sysFlag"));
      h.commit_offset = std::stoll(*f.cmd.ext_fields.find("commitOffset"));
      h.sub_version = std::stoll(*f.cmd.ext_fields.find("subVersion"));
      auto ours = make_pull_request(h);
      CHECK(ours.ext_fields.size() == f.cmd.ext_fields.size());
      for (auto& [k, v] : f.cmd.ext_fields.entries()) CHECK_MESSAGE(*ours.ext_fields.find(k) == v, "key " << k);
      // Java sets COMMIT_OFFSET exactly when it has an offset above zero.
      CHECK(((h.sys_flag & pull_sysflag::kCommitOffset) != 0) == (h.commit_offset > 0));
    }
  }
  CHECK(not_found >= 1);
  RemotingCommand odd = RemotingCommand::response_to(RemotingCommand::request(11), response_code::kSubscriptionNotExist);
  auto e = parse_pull_response(odd);
  REQUIRE_FALSE(e.ok());
  CHECK(e.code().response_code == response_code::kSubscriptionNotExist);
}
