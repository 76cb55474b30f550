// libFuzzer target: the message record family (codec/message.h): CommitLog records and PULL bodies
// (decode_entry, decode_record, decode_records), SEND_BATCH_MESSAGE bodies, the properties string,
// offset message ids and host addresses. A record that decodes is re-encoded and must decode to the
// same fields; a batch that decodes is re-encoded and must decode to the same items. Properties are
// decoded, edited and joined; find_property is asked for the first 16 names (for all of them it was
// quadratic in the input) and the first 64 are encoded again; the whole input is read as a properties
// string up to 4 KiB.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "codec/message.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

void check_record(const mq::MessageRecord& m) {
  if (m.magic != mq::kMessageMagicV1) return;  // we write V1 only
  std::string out;
  if (!mq::encode_record(m, out).ok()) return;
  FUZZ_CHECK(out.size() == mq::message_record_size(m.body.size(), m.topic.size(), m.properties.size(), m.sys_flag));
  mq::DecodeOptions no_crc;  // body_crc is written as given: it was not checked on every path
  no_crc.check_crc = false;
  auto again = mq::decode_record(out, no_crc);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->body == m.body);
  FUZZ_CHECK(again->topic == m.topic);
  FUZZ_CHECK(again->properties == m.properties);
  FUZZ_CHECK(again->queue_offset == m.queue_offset);
  FUZZ_CHECK(again->physical_offset == m.physical_offset);
  FUZZ_CHECK(again->born_host == m.born_host);
  FUZZ_CHECK(again->store_host == m.store_host);
}

void use_properties(std::string_view text) {
  auto props = mq::decode_properties(text);
  mq::PropertyList list;
  for (size_t i = 0; i < props.size(); ++i) {
    const auto& [k, v] = props[i];
    // find_property scans the text: for every name it is quadratic, and inputs of thousands of
    // separators spent most of the target's time here. The first names cover the lookup.
    if (i < 16) (void)mq::find_property(text, k);
    (void)mq::parse_property_int(v);
    if (i < 64) list.emplace_back(std::string(k), std::string(v));
  }
  (void)mq::find_property(text, mq::property::kTags);
  std::string edited = mq::edit_properties(text, {{"DELAY", "3"}}, {mq::property::kTags, mq::property::kKeys});
  FUZZ_CHECK(mq::find_property(edited, "DELAY") == std::optional<std::string_view>("3"));
  FUZZ_CHECK(!mq::find_property(edited, mq::property::kTags).has_value());
  (void)mq::join_batch_properties(text, edited);
  (void)mq::encode_properties(list);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);

  for (bool crc : {true, false}) {
    mq::DecodeOptions opt;
    opt.check_crc = crc;
    if (auto e = mq::decode_entry(in, opt); e.ok()) {
      FUZZ_CHECK(e->blank || (e->size > 0 && static_cast<size_t>(e->size) <= in.size()));
      if (!e->blank) {
        check_record(e->message);
        use_properties(e->message.properties);
      }
    }
    if (auto rs = mq::decode_records(in, opt); rs.ok()) {
      for (const auto& m : *rs) check_record(m);
    }
  }
  if (auto b = mq::decode_batch(in); b.ok()) {
    std::string enc = mq::encode_batch(*b);
    auto again = mq::decode_batch(enc);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->size() == b->size());
    for (size_t i = 0; i < b->size(); ++i) {
      FUZZ_CHECK((*again)[i].body == (*b)[i].body);
      FUZZ_CHECK((*again)[i].properties == (*b)[i].properties);
      FUZZ_CHECK((*again)[i].flag == (*b)[i].flag);
      use_properties((*b)[i].properties);
    }
  }
  // The input as a properties string: its first 4 KiB (a longer one only makes more names, and
  // thousands of them made the target ten times slower).
  use_properties(in.substr(0, 4096));
  if (auto id = mq::decode_offset_msg_id(in); id.ok()) {
    std::string text = mq::make_offset_msg_id(id->store_host, id->commit_log_offset);
    auto again = mq::decode_offset_msg_id(text);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->commit_log_offset == id->commit_log_offset);
    FUZZ_CHECK(again->store_host == id->store_host);
  }
  if (auto h = mq::HostAddress::parse_v4(in)) (void)h->to_string();
  return 0;
}
