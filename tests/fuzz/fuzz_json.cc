// libFuzzer target: every JSON body the broker, the NameServer and the clients parse. The input is
// one body text; it goes through parse_fastjson (fastjson's unquoted and object keys) and then to
// each reader that takes parsed JSON (DataVersion, TopicConfig, QueueData, BrokerData,
// SubscriptionGroupConfig, SubscriptionData, the HEART_BEAT body), and as text to each reader that
// takes text: route data and cluster info, REGISTER_BROKER bodies (plain, for old versions, and
// zlib-compressed), the broker's metadata files (topics, subscription groups, consumer offsets,
// delay/timer offset tables) and the NameServer's kvConfig.json. Whatever parsed must dump without
// throwing (kJsonReplace) and, for fastjson, parse again.
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

}  // namespace

// RocketMQ's topic name characters (TopicValidator): letters, digits, '%', '|', '-', '_'.
static bool legal_topic_name(const std::string& name) {
  if (name.empty() || name.size() > 127) return false;
  for (unsigned char ch : name)
    if (!std::isalnum(ch) && ch != '%' && ch != '|' && ch != '-' && ch != '_') return false;
  return true;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::string text(in);

  if (auto j = mq::parse_fastjson(in); j.ok()) {
    std::string plain = mq::dump_fastjson(*j);
    FUZZ_CHECK(mq::parse_fastjson(plain).ok());
    std::string unquoted = mq::dump_fastjson(*j, {"brokerAddrs", "offsetTable", "brokerAddrTable"});
    FUZZ_CHECK(mq::parse_fastjson(unquoted).ok());
    use_object(*j);
    if (j->is_object() || j->is_array()) {
      for (const auto& v : *j) use_object(v);
    }
    mq::ClientManager clients;
    auto hb = clients.heartbeat(*j, 1, {}, "127.0.0.1:5000", "JAVA", 401, 1000);
    for (const auto& [group, sub] : hb.subscriptions) (void)dump(sub.to_json());
    (void)clients.on_connection_closed(1);
  }

  if (auto r = mq::TopicRouteData::parse(in); r.ok()) {
    (void)mq::encode_route_body(*r, true);
    std::string old_form = mq::encode_route_body(*r, false);
    FUZZ_CHECK(mq::TopicRouteData::parse(old_form).ok());
  }
  (void)mq::ClusterInfo::parse(in);
  for (int32_t version : {401, 36}) {
    if (auto w = mq::decode_register_broker_body(in, false, version); w.ok()) {
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
  }
  (void)mq::decode_register_broker_body(in, true, 401);
  (void)mq::zlib_inflate(in, 1 << 20);

  {
    mq::TopicConfigManager topics;
    if (topics.load_json_text(text).ok()) (void)topics.to_json_text();
    mq::SubscriptionGroupManager groups;
    if (groups.load_json_text(text).ok()) (void)groups.to_json_text();
    mq::ConsumerOffsetManager offsets;
    if (offsets.load_json_text(text).ok()) {
      std::string out = offsets.to_json_text();
      mq::ConsumerOffsetManager again;
      FUZZ_CHECK(again.load_json_text(out).ok());
    }
    mq::KvConfigManager kv;
    if (kv.load_json_text(text).ok()) (void)kv.to_json_text();
    std::string error;
    if (auto t = mq::parse_offset_table(text, 1, 18, "delay level", &error)) (void)mq::encode_offset_table(*t);
  }
  return 0;
}
