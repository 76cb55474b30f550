// libFuzzer target: every JSON body the broker, the NameServer, the controller and the clients
// parse. Byte 0 picks ONE reader (byte 0 % 19), the rest is the body text:
//   0   parse_fastjson (fastjson's unquoted and object keys); what parsed must dump without throwing
//       (kJsonReplace) and parse again, plain and with unquoted map keys; the value and each of its
//       members go to the readers that take parsed JSON (DataVersion, TopicConfig, QueueData,
//       BrokerData, SubscriptionGroupConfig, SubscriptionData)
//   1   parse_fastjson, then the HEART_BEAT body into a ClientManager
//   2   route data (TopicRouteData), re-encoded in the old form, which must parse again
//   3   cluster info
//   4, 5  REGISTER_BROKER bodies, plain, for version 401 and for old versions (36): a body that
//       decodes is re-encoded compressed and, for legal topic names, must decode to one entry per name
//   6   a zlib-compressed REGISTER_BROKER body, and zlib_inflate on its own
//   7..11  the broker's metadata files (topics, subscription groups, consumer offsets, which must
//       load again after saving), the NameServer's kvConfig.json, the delay/timer offset tables
//   12..17  controller-mode bodies (codec/controller_data.h): SyncStateSet, BrokerMemberGroup,
//       ElectMasterResponseBody, BrokerReplicasInfo, EpochEntryCache, a broker name list; what
//       parses must print text that parses to an equal value and prints the same text again
//   18  a controller log entry (int16 type id + JSON, decode_event): an event that decodes must
//       encode to an entry that decodes to an equal event and encodes to the same bytes
// One reader per input keeps the target at several thousand inputs a second; the seeds
// (make_seeds.py) carry every captured body and file once per selector 0-11, and the controller
// reference's examples for their own readers.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <cctype>
#include <set>
#include <string>
#include <string_view>

#include "broker/broker_metadata.h"
#include "broker/client_manager.h"
#include "broker/schedule_service.h"
#include "codec/controller_data.h"
#include "codec/fastjson.h"
#include "codec/route_data.h"
#include "namesrv/kv_config_manager.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

std::string dump(const nlohmann::json& j) { return j.dump(-1, ' ', false, mq::kJsonReplace); }

void use_object(const nlohmann::json& j) {
  (void)dump(mq::DataVersion::from_json(j).to_json());
  (void)dump(mq::TopicConfig::from_json(j).to_json());
  (void)dump(mq::QueueData::from_json(j).to_json());
  (void)dump(mq::BrokerData::from_json(j).to_json());
  (void)dump(mq::SubscriptionGroupConfig::from_json(j).to_json());
  (void)dump(mq::SubscriptionData::from_json(j).to_json());
  (void)mq::json_int(j, "queueId");
  (void)mq::json_string(j, "topic");
  (void)mq::json_bool(j, "order");
}

// parse(to_json()) of a parsed body gives it back, and its text is stable.
template <typename T>
void round_trip(std::string_view in) {
  auto v = T::parse(in);
  if (!v.ok()) return;
  std::string text = v->to_json();
  auto again = T::parse(text);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(*again == *v);
  FUZZ_CHECK(again->to_json() == text);
}

}  // namespace

// RocketMQ's topic name characters (TopicValidator): letters, digits, '%', '|', '-', '_'.
static bool legal_topic_name(const std::string& name) {
  if (name.empty() || name.size() > 127) return false;
  for (unsigned char ch : name)
    if (!std::isalnum(ch) && ch != '%' && ch != '|' && ch != '-' && ch != '_') return false;
  return true;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int selector = data[0] % 19;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);

  switch (selector) {
    case 0:
      if (auto j = mq::parse_fastjson(in); j.ok()) {
        std::string plain = mq::dump_fastjson(*j);
        FUZZ_CHECK(mq::parse_fastjson(plain).ok());
        std::string unquoted = mq::dump_fastjson(*j, {"brokerAddrs", "offsetTable", "brokerAddrTable"});
        FUZZ_CHECK(mq::parse_fastjson(unquoted).ok());
        use_object(*j);
        if (j->is_object() || j->is_array()) {
          for (const auto& v : *j) use_object(v);
        }
      }
      break;
    case 1:
      if (auto j = mq::parse_fastjson(in); j.ok()) {
        mq::ClientManager clients;
        auto hb = clients.heartbeat(*j, 1, {}, "127.0.0.1:5000", "JAVA", 401, 1000);
        for (const auto& [group, sub] : hb.subscriptions) (void)dump(sub.to_json());
        (void)clients.on_connection_closed(1);
      }
      break;
    case 2:
      if (auto r = mq::TopicRouteData::parse(in); r.ok()) {
        (void)mq::encode_route_body(*r, true);
        std::string old_form = mq::encode_route_body(*r, false);
        FUZZ_CHECK(mq::TopicRouteData::parse(old_form).ok());
      }
      break;
    case 3:
      (void)mq::ClusterInfo::parse(in);
      break;
    case 4:
    case 5:
      if (auto w = mq::decode_register_broker_body(in, false, selector == 4 ? 401 : 36); w.ok()) {
        std::string enc = mq::encode_register_broker_body(*w, true);
        auto again = mq::decode_register_broker_body(enc, true, 401);
        // The compressed form (RocketMQ's TopicConfig.encode text) is keyed by topicName and cannot
        // carry a name with spaces; brokers only ever register legal names. For those, the round trip
        // must keep one entry per distinct name (a JSON key that differs from its topicName collapses,
        // as it does in Java's decoder).
        std::set<std::string> names;
        bool legal = true;
        for (const auto& [key, c] : w->topic_config_table) {
          names.insert(c.topic_name);
          legal = legal && legal_topic_name(c.topic_name) && legal_topic_name(c.topic_filter_type);
        }
        if (legal) {
          FUZZ_CHECK(again.ok());
          FUZZ_CHECK(again->topic_config_table.size() == names.size());
        }
      }
      break;
    case 6:
      (void)mq::decode_register_broker_body(in, true, 401);
      (void)mq::zlib_inflate(in, 1 << 20);
      break;
    case 7: {
      mq::TopicConfigManager topics;
      if (topics.load_json_text(std::string(in)).ok()) (void)topics.to_json_text();
      break;
    }
    case 8: {
      mq::SubscriptionGroupManager groups;
      if (groups.load_json_text(std::string(in)).ok()) (void)groups.to_json_text();
      break;
    }
    case 9: {
      mq::ConsumerOffsetManager offsets;
      if (offsets.load_json_text(std::string(in)).ok()) {
        std::string out = offsets.to_json_text();
        mq::ConsumerOffsetManager again;
        FUZZ_CHECK(again.load_json_text(out).ok());
      }
      break;
    }
    case 10: {
      mq::KvConfigManager kv;
      if (kv.load_json_text(std::string(in)).ok()) (void)kv.to_json_text();
      break;
    }
    case 11: {
      std::string error;
      if (auto t = mq::parse_offset_table(std::string(in), 1, 18, "delay level", &error)) (void)mq::encode_offset_table(*t);
      break;
    }
    case 12: round_trip<mq::SyncStateSet>(in); break;
    case 13: round_trip<mq::BrokerMemberGroup>(in); break;
    case 14: round_trip<mq::ElectMasterResponseBody>(in); break;
    case 15: round_trip<mq::BrokerReplicasInfo>(in); break;
    case 16: round_trip<mq::EpochEntryCache>(in); break;
    case 17:
      if (auto names = mq::parse_string_list(in); names.ok()) {
        std::string text = mq::string_list_to_json(*names);
        auto again = mq::parse_string_list(text);
        FUZZ_CHECK(again.ok() && *again == *names);
      }
      break;
    default:
      if (auto e = mq::decode_event(in); e.ok()) {
        (void)mq::event_type_name(mq::event_type(*e));
        std::string entry = mq::encode_event(*e);
        auto again = mq::decode_event(entry);
        FUZZ_CHECK(again.ok());
        FUZZ_CHECK(*again == *e);
        FUZZ_CHECK(mq::encode_event(*again) == entry);
      }
      break;
  }
  return 0;
}
