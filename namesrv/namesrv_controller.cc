#include "namesrv/namesrv_controller.h"

#include <fstream>
#include <sstream>

#include "base/file_util.h"
#include "base/hash.h"
#include "codec/codes.h"
#include "codec/fastjson.h"
#include "codec/header_reader.h"

namespace mq {

namespace rc = response_code;
namespace req = request_code;

NamesrvController::NamesrvController(EventLoop& loop, NamesrvConfig config, Logger log)
    : loop_(loop),
      config_(std::move(config)),
      log_(std::move(log)),
      routes_(clock_, config_.broker_channel_expired_time_ms),
      server_(loop, RemotingServerOptions{config_.bind_address, config_.listen_port,
                                          static_cast<uint32_t>(config_.max_frame_bytes),
                                          config_.server_channel_max_idle_time_seconds * 1000},
              log_),
      scan_timer_(loop),
      pool_(loop, 1),
      kv_strand_(pool_.make_strand()) {
  register_handlers();
}

NamesrvController::~NamesrvController() { shutdown(); }

Result<int, NetError> NamesrvController::start() {
  std::ifstream in(config_.kv_config_path);
  if (in) {
    std::stringstream ss;
    ss << in.rdbuf();
    auto r = kv_.load_json_text(ss.str());
    if (!r.ok()) log_.warn(config_.kv_config_path + ": " + r.detail() + "; starting with an empty KV config");
  }
  server_.set_on_connection_closed([this](RemotingConnection& conn) {
    for (const auto& addr : routes_.on_connection_closed(conn.id()))
      log_.info("broker " + addr + " removed: its connection closed");
  });
  auto port = server_.start();
  if (!port.ok()) return port;
  auto every = static_cast<uint64_t>(config_.scan_not_active_broker_interval_ms);
  scan_timer_.start(every, every, [this] {
    for (const auto& addr : routes_.scan_not_active_brokers())
      log_.warn("broker " + addr + " expired: silent for more than " +
                std::to_string(config_.broker_channel_expired_time_ms) + " ms");
  });
  return port;
}

void NamesrvController::shutdown() {
  scan_timer_.stop();
  server_.stop();
  pool_.drain();
}

void NamesrvController::persist_kv() {
  std::string text = kv_.to_json_text();
  std::string path = config_.kv_config_path;
  Logger log = log_;
  kv_strand_->submit([text = std::move(text), path, log] {
    std::string err = write_file_atomically(path, text);
    if (!err.empty()) log.error("KV config not persisted: " + err);
  });
}

void NamesrvController::register_handlers() {
  auto header_error = [](const RequestContext& ctx, const HeaderReader& h) {
    ctx.respond_code(rc::kSystemError, h.error());
  };

  server_.register_handler(req::kRegisterBroker, [this, header_error](const RequestContext& ctx, RemotingCommand& r) {
    HeaderReader h(r.ext_fields);
    RegisterBrokerRequest reg;
    reg.broker_name = h.str("brokerName");
    reg.broker_addr = h.str("brokerAddr");
    reg.cluster_name = h.str("clusterName");
    reg.ha_server_addr = h.str("haServerAddr");
    reg.broker_id = h.i64("brokerId");
    bool compressed = h.boolean("compressed");
    int64_t crc = h.i64_or("bodyCrc32", 0);
    if (!h.ok()) return header_error(ctx, h);
    if (crc != 0 && crc != rocketmq_crc32(r.body)) return ctx.respond_code(rc::kSystemError, "crc32 not match");
    auto topics = decode_register_broker_body(r.body, compressed, r.version);
    if (!topics.ok()) return ctx.respond_code(rc::kSystemError, "register broker body: " + topics.detail());
    reg.topics = std::move(*topics);
    reg.connection_id = ctx.connection_id();
    bool known = routes_.data_version_of(reg.broker_addr).has_value();
    RegisterBrokerResult result = routes_.register_broker(reg);
    if (!known)
      log_.info("broker registered: " + reg.cluster_name + "/" + reg.broker_name + "/" + std::to_string(reg.broker_id) +
                " at " + reg.broker_addr + " with " + std::to_string(reg.topics.topic_config_table.size()) + " topics");
    RemotingCommand resp;
    if (!result.master_addr.empty()) resp.ext_fields.set("masterAddr", result.master_addr);
    if (!result.ha_server_addr.empty()) resp.ext_fields.set("haServerAddr", result.ha_server_addr);
    if (config_.return_order_topic_config_to_broker) {
      if (const auto* t = kv_.namespace_table("ORDER_TOPIC_CONFIG")) resp.body = nlohmann::json{{"table", *t}}.dump(-1, ' ', false, kJsonReplace);
    }
    ctx.respond(std::move(resp));
  });

  server_.register_handler(req::kUnregisterBroker, [this, header_error](const RequestContext& ctx, RemotingCommand& r) {
    HeaderReader h(r.ext_fields);
    std::string name = h.str("brokerName"), addr = h.str("brokerAddr"), cluster = h.str("clusterName");
    int64_t id = h.i64("brokerId");
    if (!h.ok()) return header_error(ctx, h);
    routes_.unregister_broker(cluster, addr, name, id);
    log_.info("broker unregistered: " + cluster + "/" + name + "/" + std::to_string(id) + " at " + addr);
    ctx.respond_code(rc::kSuccess);
  });

  server_.register_handler(req::kQueryDataVersion, [this, header_error](const RequestContext& ctx, RemotingCommand& r) {
    HeaderReader h(r.ext_fields);
    std::string addr = h.str("brokerAddr");
    h.str("brokerName");
    h.str("clusterName");
    h.i64("brokerId");
    if (!h.ok()) return header_error(ctx, h);
    auto j = parse_fastjson(r.body);
    DataVersion v = j.ok() ? DataVersion::from_json(*j) : DataVersion{};
    auto stored = routes_.data_version_of(addr);
    bool changed = routes_.is_data_version_changed(addr, v);
    RemotingCommand resp;
    resp.ext_fields.set_bool("changed", changed);
    if (stored) resp.body = stored->to_json().dump(-1, ' ', false, kJsonReplace);
    ctx.respond(std::move(resp));
  });

  server_.register_handler(req::kGetRouteinfoByTopic, [this, header_error](const RequestContext& ctx, RemotingCommand& r) {
    HeaderReader h(r.ext_fields);
    std::string topic = h.str("topic");
    if (!h.ok()) return header_error(ctx, h);
    auto route = routes_.pickup_topic_route(topic);
    if (!route) {
      return ctx.respond_code(rc::kTopicNotExist, "No topic route info in name server for the topic: " + topic);
    }
    if (config_.order_message_enable) {
      if (auto conf = kv_.get("ORDER_TOPIC_CONFIG", topic)) route->order_topic_conf = *conf;
    }
    bool standard = r.version >= kRemotingVersion || h.boolean("acceptStandardJsonOnly");
    RemotingCommand resp;
    resp.body = encode_route_body(*route, standard);
    ctx.respond(std::move(resp));
  });

  server_.register_handler(req::kGetBrokerClusterInfo, [this](const RequestContext& ctx, RemotingCommand&) {
    RemotingCommand resp;
    resp.body = dump_fastjson(routes_.cluster_info_json(), {"brokerAddrs"});
    ctx.respond(std::move(resp));
  });

  auto topic_list = [](const std::vector<std::string>& topics) {
    return nlohmann::json{{"topicList", topics}}.dump(-1, ' ', false, kJsonReplace);
  };
  server_.register_handler(req::kGetAllTopicListFromNameserver, [this, topic_list](const RequestContext& ctx, RemotingCommand&) {
    if (!config_.enable_all_topic_list) return ctx.respond_code(rc::kSystemError, "disable");
    RemotingCommand resp;
    resp.body = topic_list(routes_.all_topics());
    ctx.respond(std::move(resp));
  });
  server_.register_handler(req::kGetTopicsByCluster, [this, topic_list, header_error](const RequestContext& ctx, RemotingCommand& r) {
    HeaderReader h(r.ext_fields);
    std::string cluster = h.str("cluster");
    if (!h.ok()) return header_error(ctx, h);
    RemotingCommand resp;
    resp.body = topic_list(routes_.topics_by_cluster(cluster));
    ctx.respond(std::move(resp));
  });
  server_.register_handler(req::kDeleteTopicInNamesrv, [this, header_error](const RequestContext& ctx, RemotingCommand& r) {
    HeaderReader h(r.ext_fields);
    std::string topic = h.str("topic");
    if (!h.ok()) return header_error(ctx, h);
    routes_.delete_topic(topic, h.opt_str("clusterName").value_or(""));
    ctx.respond_code(rc::kSuccess);
  });
  server_.register_handler(req::kWipeWritePermOfBroker, [this, header_error](const RequestContext& ctx, RemotingCommand& r) {
    HeaderReader h(r.ext_fields);
    std::string name = h.str("brokerName");
    if (!h.ok()) return header_error(ctx, h);
    RemotingCommand resp;
    resp.ext_fields.set("wipeTopicCount", int32_t{routes_.wipe_write_perm(name)});
    ctx.respond(std::move(resp));
  });
  server_.register_handler(req::kAddWritePermOfBroker, [this, header_error](const RequestContext& ctx, RemotingCommand& r) {
    HeaderReader h(r.ext_fields);
    std::string name = h.str("brokerName");
    if (!h.ok()) return header_error(ctx, h);
    RemotingCommand resp;
    resp.ext_fields.set("addTopicCount", int32_t{routes_.add_write_perm(name)});
    ctx.respond(std::move(resp));
  });

  server_.register_handler(req::kPutKvConfig, [this, header_error](const RequestContext& ctx, RemotingCommand& r) {
    HeaderReader h(r.ext_fields);
    std::string ns = h.str("namespace"), key = h.str("key"), value = h.str("value");
    if (!h.ok()) return header_error(ctx, h);
    kv_.put(ns, key, value);
    persist_kv();
    ctx.respond_code(rc::kSuccess);
  });
  server_.register_handler(req::kGetKvConfig, [this, header_error](const RequestContext& ctx, RemotingCommand& r) {
    HeaderReader h(r.ext_fields);
    std::string ns = h.str("namespace"), key = h.str("key");
    if (!h.ok()) return header_error(ctx, h);
    auto v = kv_.get(ns, key);
    if (!v) return ctx.respond_code(rc::kQueryNotFound, "No config item, Namespace: " + ns + " Key: " + key);
    RemotingCommand resp;
    resp.ext_fields.set("value", *v);
    ctx.respond(std::move(resp));
  });
  server_.register_handler(req::kDeleteKvConfig, [this, header_error](const RequestContext& ctx, RemotingCommand& r) {
    HeaderReader h(r.ext_fields);
    std::string ns = h.str("namespace"), key = h.str("key");
    if (!h.ok()) return header_error(ctx, h);
    if (kv_.remove(ns, key)) persist_kv();
    ctx.respond_code(rc::kSuccess);
  });
  server_.register_handler(req::kGetKvlistByNamespace, [this, header_error](const RequestContext& ctx, RemotingCommand& r) {
    HeaderReader h(r.ext_fields);
    std::string ns = h.str("namespace");
    if (!h.ok()) return header_error(ctx, h);
    const auto* table = kv_.namespace_table(ns);
    if (table == nullptr) return ctx.respond_code(rc::kQueryNotFound, "No config item, Namespace: " + ns);
    RemotingCommand resp;
    resp.body = nlohmann::json{{"table", *table}}.dump(-1, ' ', false, kJsonReplace);
    ctx.respond(std::move(resp));
  });

  server_.register_handler(req::kGetNamesrvConfig, [this](const RequestContext& ctx, RemotingCommand&) {
    RemotingCommand resp;
    resp.body = config_.to_properties();
    ctx.respond(std::move(resp));
  });
  server_.register_handler(req::kUpdateNamesrvConfig, [this](const RequestContext& ctx, RemotingCommand& r) {
    std::string err = config_.update_live(parse_properties_text(r.body));
    if (!err.empty()) return ctx.respond_code(rc::kSystemError, err);
    routes_.set_broker_expired_ms(config_.broker_channel_expired_time_ms);
    log_.info("config updated: " + r.body);
    ctx.respond_code(rc::kSuccess);
  });
}

}  // namespace mq
