#include "codec/route_data.h"

#include <zlib.h>

#include <sstream>

#include "base/bytes.h"
#include "codec/fastjson.h"

namespace mq {

using nlohmann::json;

json DataVersion::to_json() const {
  return json{{"counter", counter}, {"stateVersion", state_version}, {"timestamp", timestamp}};
}

DataVersion DataVersion::from_json(const json& j) {
  DataVersion v;
  if (!j.is_object()) return v;
  v.counter = json_int(j, "counter");
  v.state_version = json_int(j, "stateVersion");
  v.timestamp = json_int(j, "timestamp");
  return v;
}

json TopicConfig::to_json() const {
  return json{{"topicName", topic_name},       {"readQueueNums", read_queue_nums},
              {"writeQueueNums", write_queue_nums}, {"perm", perm},
              {"topicFilterType", topic_filter_type}, {"topicSysFlag", topic_sys_flag},
              {"order", order}};
}

TopicConfig TopicConfig::from_json(const json& j) {
  TopicConfig c;
  c.topic_name = json_string(j, "topicName");
  c.read_queue_nums = static_cast<int32_t>(json_int(j, "readQueueNums", 16));
  c.write_queue_nums = static_cast<int32_t>(json_int(j, "writeQueueNums", 16));
  c.perm = static_cast<int32_t>(json_int(j, "perm", 6));
  c.topic_filter_type = json_string(j, "topicFilterType", "SINGLE_TAG");
  c.topic_sys_flag = static_cast<int32_t>(json_int(j, "topicSysFlag", 0));
  c.order = json_bool(j, "order", false);
  return c;
}

namespace {
Result<TopicConfigWrapper, BodyError> wrapper_from_json(const json& w) {
  TopicConfigWrapper out;
  if (!w.is_object()) return make_error(BodyError::kInvalid, "topic config wrapper is not an object");
  if (auto it = w.find("dataVersion"); it != w.end()) out.data_version = DataVersion::from_json(*it);
  if (auto it = w.find("topicConfigTable"); it != w.end() && it->is_object()) {
    for (auto t = it->begin(); t != it->end(); ++t) {
      if (!t.value().is_object()) return make_error(BodyError::kInvalid, "topic config of '" + t.key() + "' is not an object");
      TopicConfig c = TopicConfig::from_json(t.value());
      if (c.topic_name.empty()) c.topic_name = t.key();
      out.topic_config_table[t.key()] = c;
    }
  }
  return out;
}

Result<TopicConfigWrapper, BodyError> decode_compressed(std::string_view body) {
  auto raw = zlib_inflate(body, 64 * 1024 * 1024);
  if (!raw.ok()) return raw.error();
  ByteReader r(*raw);
  auto read_block = [&r](std::string_view& out) {
    int32_t len = r.i32();
    if (!r.ok() || len < 0 || static_cast<size_t>(len) > r.remaining()) return false;
    out = r.bytes(static_cast<size_t>(len));
    return r.ok();
  };
  TopicConfigWrapper out;
  std::string_view block;
  if (!read_block(block)) return make_error(BodyError::kInvalid, "compressed body: truncated data version");
  auto dv = parse_fastjson(block);
  if (!dv.ok()) return make_error(BodyError::kInvalid, "compressed body: bad data version JSON");
  out.data_version = DataVersion::from_json(*dv);
  int32_t count = r.i32();
  if (!r.ok() || count < 0) return make_error(BodyError::kInvalid, "compressed body: bad topic count");
  for (int32_t i = 0; i < count; ++i) {
    if (!read_block(block)) return make_error(BodyError::kInvalid, "compressed body: truncated topic config");
    std::istringstream in{std::string(block)};
    TopicConfig c;
    if (!(in >> c.topic_name >> c.read_queue_nums >> c.write_queue_nums >> c.perm >> c.topic_filter_type))
      return make_error(BodyError::kInvalid, "compressed body: bad topic config text '" + std::string(block) + "'");
    out.topic_config_table[c.topic_name] = c;
  }
  if (read_block(block)) {
    auto fs = parse_fastjson(block);
    if (fs.ok() && fs->is_array())
      for (auto& s : *fs)
        if (s.is_string()) out.filter_server_list.push_back(s.get<std::string>());
  }
  return out;
}
}  // namespace

Result<TopicConfigWrapper, BodyError> decode_register_broker_body(std::string_view body, bool compressed,
                                                                  int32_t request_version) {
  if (compressed) return decode_compressed(body);
  if (body.empty()) return TopicConfigWrapper{};
  auto j = parse_fastjson(body);
  if (!j.ok()) return make_error(BodyError::kInvalid, "register body: " + j.detail());
  if (request_version < 37 || !j->contains("topicConfigSerializeWrapper")) return wrapper_from_json(*j);
  auto w = wrapper_from_json((*j)["topicConfigSerializeWrapper"]);
  if (!w.ok()) return w;
  if (auto it = j->find("filterServerList"); it != j->end() && it->is_array())
    for (auto& s : *it)
      if (s.is_string()) w->filter_server_list.push_back(s.get<std::string>());
  return w;
}

std::string encode_register_broker_body(const TopicConfigWrapper& w, bool compressed) {
  if (!compressed) {
    json table = json::object();
    for (const auto& [name, c] : w.topic_config_table) table[name] = c.to_json();
    json body{{"filterServerList", w.filter_server_list},
              {"topicConfigSerializeWrapper", {{"dataVersion", w.data_version.to_json()}, {"topicConfigTable", table}}}};
    return body.dump(-1, ' ', false, kJsonReplace);
  }
  std::string raw;
  ByteWriter out(raw);
  auto block = [&out](const std::string& s) {
    out.i32(static_cast<int32_t>(s.size()));
    out.raw(s);
  };
  block(w.data_version.to_json().dump(-1, ' ', false, kJsonReplace));
  out.i32(static_cast<int32_t>(w.topic_config_table.size()));
  for (const auto& [name, c] : w.topic_config_table)
    block(c.topic_name + " " + std::to_string(c.read_queue_nums) + " " + std::to_string(c.write_queue_nums) + " " +
          std::to_string(c.perm) + " " + c.topic_filter_type);
  block(json(w.filter_server_list).dump(-1, ' ', false, kJsonReplace));
  return zlib_deflate(raw);
}

json QueueData::to_json() const {
  return json{{"brokerName", broker_name}, {"readQueueNums", read_queue_nums},
              {"writeQueueNums", write_queue_nums}, {"perm", perm}, {"topicSysFlag", topic_sys_flag}};
}

QueueData QueueData::from_json(const json& j) {
  QueueData q;
  q.broker_name = json_string(j, "brokerName");
  q.read_queue_nums = static_cast<int32_t>(json_int(j, "readQueueNums"));
  q.write_queue_nums = static_cast<int32_t>(json_int(j, "writeQueueNums"));
  q.perm = static_cast<int32_t>(json_int(j, "perm"));
  q.topic_sys_flag = static_cast<int32_t>(json_int(j, "topicSysFlag"));
  return q;
}

json BrokerData::to_json() const {
  json addrs = json::object();
  for (const auto& [id, addr] : broker_addrs) addrs[std::to_string(id)] = addr;
  return json{{"cluster", cluster}, {"brokerName", broker_name}, {"brokerAddrs", addrs}};
}

BrokerData BrokerData::from_json(const json& j) {
  BrokerData b;
  b.cluster = json_string(j, "cluster");
  b.broker_name = json_string(j, "brokerName");
  if (auto it = j.find("brokerAddrs"); it != j.end() && it->is_object()) {
    for (auto a = it->begin(); a != it->end(); ++a) {
      try {
        if (a.value().is_string()) b.broker_addrs[std::stoll(a.key())] = a.value().get<std::string>();
      } catch (...) {
        // A non-numeric broker id cannot come from RocketMQ; skip it.
      }
    }
  }
  return b;
}

json TopicRouteData::to_json() const {
  json qds = json::array();
  for (const auto& q : queue_datas) qds.push_back(q.to_json());
  json bds = json::array();
  for (const auto& b : broker_datas) bds.push_back(b.to_json());
  json j{{"queueDatas", qds}, {"brokerDatas", bds}, {"filterServerTable", json::object()}};
  if (!order_topic_conf.empty()) j["orderTopicConf"] = order_topic_conf;
  return j;
}

Result<TopicRouteData, BodyError> TopicRouteData::parse(std::string_view body) {
  auto j = parse_fastjson(body);
  if (!j.ok() || !j->is_object()) return make_error(BodyError::kInvalid, "route body is not a JSON object");
  TopicRouteData r;
  if (auto it = j->find("queueDatas"); it != j->end() && it->is_array())
    for (auto& q : *it) r.queue_datas.push_back(QueueData::from_json(q));
  if (auto it = j->find("brokerDatas"); it != j->end() && it->is_array())
    for (auto& b : *it) r.broker_datas.push_back(BrokerData::from_json(b));
  r.order_topic_conf = json_string(*j, "orderTopicConf");
  return r;
}

std::string encode_route_body(const TopicRouteData& route, bool standard_json) {
  if (standard_json) return dump_fastjson(route.to_json());
  return dump_fastjson(route.to_json(), {"brokerAddrs"});
}

Result<ClusterInfo, BodyError> ClusterInfo::parse(std::string_view body) {
  auto j = parse_fastjson(body);
  if (!j.ok() || !j->is_object()) return make_error(BodyError::kInvalid, "cluster info is not a JSON object");
  ClusterInfo c;
  if (auto it = j->find("brokerAddrTable"); it != j->end() && it->is_object())
    for (auto b = it->begin(); b != it->end(); ++b) c.broker_addr_table[b.key()] = BrokerData::from_json(b.value());
  if (auto it = j->find("clusterAddrTable"); it != j->end() && it->is_object())
    for (auto b = it->begin(); b != it->end(); ++b)
      if (b.value().is_array())
        for (auto& n : b.value())
          if (n.is_string()) c.cluster_addr_table[b.key()].push_back(n.get<std::string>());
  return c;
}

Result<std::string, BodyError> zlib_inflate(std::string_view in, size_t max_bytes) {
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK) return make_error(BodyError::kInvalid, "inflateInit failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char buf[16384];
  int rc = Z_OK;
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) break;
    out.append(buf, sizeof buf - zs.avail_out);
    if (out.size() > max_bytes) {
      inflateEnd(&zs);
      return make_error(BodyError::kInvalid, "inflated data exceeds " + std::to_string(max_bytes) + " bytes");
    }
    if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) break;
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) return make_error(BodyError::kInvalid, "not a complete zlib stream");
  return out;
}

std::string zlib_deflate(std::string_view in, int level) {
  uLongf cap = compressBound(static_cast<uLong>(in.size()));
  std::string out(cap, '\0');
  compress2(reinterpret_cast<Bytef*>(out.data()), &cap, reinterpret_cast<const Bytef*>(in.data()),
            static_cast<uLong>(in.size()), level);
  out.resize(cap);
  return out;
}

}  // namespace mq
