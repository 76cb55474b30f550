// The broker's other request codes: client heartbeats and registrations, consumer offsets, queue
// offsets and lookups, topic and subscription-group administration, configuration and statistics.
#include <sys/resource.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cstdio>
#include <set>

#include "broker/broker.h"
#include "codec/codes.h"
#include "codec/fastjson.h"
#include "codec/header_reader.h"
#include "codec/message.h"

namespace mq {

namespace {
namespace rc = response_code;
namespace req = request_code;
using nlohmann::json;

// fastjson's object-keyed map key for a MessageQueue.
std::string message_queue_key(const std::string& broker_name, int32_t queue_id, const std::string& topic) {
  return json{{"brokerName", broker_name}, {"queueId", queue_id}, {"topic", topic}}.dump(-1, ' ', false, kJsonReplace);
}

// Request codes of RocketMQ's admin tools that codec/codes.h does not name yet (RequestCode).
constexpr int32_t kResetConsumerClientOffset = 220;  // broker -> consumer client
constexpr int32_t kInvokeBrokerToResetOffset = 222;
constexpr int32_t kQueryTopicConsumeByWho = 300;
constexpr int32_t kViewBrokerStatsData = 315;
constexpr int32_t kGetBrokerConsumeStats = 317;
// MQVersion.Version.V3_0_7_SNAPSHOT.ordinal(): the first client version that takes
// RESET_CONSUMER_CLIENT_OFFSET (RocketMQ refuses to reset a group with an older member).
constexpr int32_t kFirstVersionWithResetOffset = 28;

std::string dump(const json& j) { return j.dump(-1, ' ', false, kJsonReplace); }

std::string join(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

// MixAll.humanReadableByteCount(bytes, false): "512 B", "1.5 KiB", "49.1 GiB".
std::string human_bytes(int64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " B";
  int exp = 0;
  double v = static_cast<double>(bytes);
  while (v >= 1024 && exp < 6) {
    v /= 1024;
    ++exp;
  }
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.1f %ciB", v, "KMGTPE"[exp - 1]);
  return buf;
}

// A double for a JSON body (fastjson reads any JSON number into a double field).
std::string json_double(double v) { return dump(json(v)); }

bool valid_topic_name(const std::string& t) {
  if (t.empty() || t.size() > kMaxTopicLengthV1) return false;
  for (char c : t)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '%' || c == '|' || c == '_' || c == '-')) return false;
  return true;
}
}  // namespace

void Broker::register_processors() {
  register_dledger_processors();
  for (int32_t code : {req::kSendMessage, req::kSendMessageV2, req::kSendBatchMessage})
    server_.register_handler(code, [this](const RequestContext& ctx, RemotingCommand& r) { handle_send(ctx, r); });
  server_.register_handler(req::kPullMessage,
                           [this](const RequestContext& ctx, RemotingCommand& r) { handle_pull(ctx, r, true); });
  register_admin_processors();
}

void Broker::register_admin_processors() {
  auto bad_header = [](const RequestContext& ctx, const HeaderReader& h) { ctx.respond_code(rc::kSystemError, h.error()); };
  auto ok_body = [](const RequestContext& ctx, std::string body) {
    RemotingCommand resp;
    resp.body = std::move(body);
    ctx.respond(std::move(resp));
  };

  server_.register_handler(req::kHeartBeat, [this](const RequestContext& ctx, RemotingCommand& r) {
    auto body = parse_fastjson(r.body);
    if (!body.ok() || !body->is_object()) return ctx.respond_code(rc::kSystemError, "heartbeat body is not JSON");
    auto conn = ctx.connection();
    auto result = clients_.heartbeat(*body, ctx.connection_id(), conn, ctx.peer_address(), "JAVA", r.version,
                                     clock_.monotonic_ms());
    bool topic_created = false;
    for (const auto& group : result.consumer_groups) {
      const SubscriptionGroupConfig* gc = groups_.find_or_create(group, config_.auto_create_subscription_group, now_ms());
      int32_t retry_queues = gc ? gc->retry_queue_nums : 1;
      if (topics_.create_retry_topic("%RETRY%" + group, retry_queues, now_ms())) topic_created = true;
    }
    for (const auto& group : result.groups_changed) notify_consumer_ids_changed(group);
    if (topic_created) {
      persist_metadata();
      register_with_namesrv(true);
    }
    ctx.respond_code(rc::kSuccess);
  });

  server_.register_handler(req::kUnregisterClient, [this, bad_header](const RequestContext& ctx, RemotingCommand& r) {
    HeaderReader h(r.ext_fields);
    h.str("clientID");
    if (!h.ok()) return bad_header(ctx, h);
    for (const auto& group : clients_.unregister(ctx.connection_id(), h.opt_str("producerGroup").value_or(""),
                                                 h.opt_str("consumerGroup").value_or("")))
      notify_consumer_ids_changed(group);
    ctx.respond_code(rc::kSuccess);
  });

  server_.register_handler(req::kGetConsumerListByGroup, [this, bad_header, ok_body](const RequestContext& ctx, RemotingCommand& r) {
    HeaderReader h(r.ext_fields);
    std::string group = h.str("consumerGroup");
    if (!h.ok()) return bad_header(ctx, h);
    const ConsumerGroupInfo* info = clients_.consumer_group(group);
    if (info == nullptr || info->channels.empty())
      return ctx.respond_code(rc::kSystemError, "no consumer for this group, " + group);
    ok_body(ctx, json{{"consumerIdList", info->client_ids()}}.dump(-1, ' ', false, kJsonReplace));
  });

  server_.register_handler(req::kQueryConsumerOffset, [this, bad_header](const RequestContext& ctx, RemotingCommand& r) {
    HeaderReader h(r.ext_fields);
    std::string group = h.str("consumerGroup"), topic = h.str("topic");
    int32_t queue_id = h.i32("queueId");
    if (!h.ok()) return bad_header(ctx, h);
    int64_t offset = offsets_.query(group, topic, queue_id);
    if (offset < 0) {
      // As RocketMQ: a group that never committed starts a queue whose first message is still
      // there at 0; otherwise the client decides (consumeFromWhere).
      if (store_->min_offset_in_queue(topic, queue_id) <= 0) {
        offset = 0;
      } else {
        return ctx.respond_code(rc::kQueryNotFound, "Not found, maybe this group consumer boot first");
      }
    }
    RemotingCommand resp;
    resp.ext_fields.set("offset", offset);
    ctx.respond(std::move(resp));
  });

  server_.register_handler(req::kUpdateConsumerOffset, [this, bad_header](const RequestContext& ctx, RemotingCommand& r) {
    HeaderReader h(r.ext_fields);
    std::string group = h.str("consumerGroup"), topic = h.str("topic");
    int32_t queue_id = h.i32("queueId");
    int64_t offset = h.i64("commitOffset");
    if (!h.ok()) return bad_header(ctx, h);
    if (queue_id < 0) return ctx.respond_code(rc::kSystemError, "queueId[" + std::to_string(queue_id) + "] is illegal");
    if (offset >= 0) offsets_.commit(group, topic, queue_id, offset);
    // A client commits to a slave only when it cannot reach the master: carry it back later.
    if (offset >= 0 && is_slave()) offsets_committed_on_slave_[topic + "@" + group][queue_id] = offset;
    ctx.respond_code(rc::kSuccess);
  });

  auto queue_offset_handler = [this, bad_header](const char* out_key, std::function<int64_t(const std::string&, int32_t, HeaderReader&)> fn) {
    return [this, bad_header, out_key, fn](const RequestContext& ctx, RemotingCommand& r) {
      HeaderReader h(r.ext_fields);
      std::string topic = h.str("topic");
      int32_t queue_id = h.i32("queueId");
      int64_t value = fn(topic, queue_id, h);
      if (!h.ok()) return bad_header(ctx, h);
      RemotingCommand resp;
      resp.ext_fields.set(out_key, value);
      ctx.respond(std::move(resp));
    };
  };
  server_.register_handler(req::kGetMaxOffset, queue_offset_handler("offset", [this](const std::string& t, int32_t q, HeaderReader&) {
                             return store_->max_offset_in_queue(t, q);
                           }));
  server_.register_handler(req::kGetMinOffset, queue_offset_handler("offset", [this](const std::string& t, int32_t q, HeaderReader&) {
                             return store_->min_offset_in_queue(t, q);
                           }));
  server_.register_handler(req::kSearchOffsetByTimestamp,
                           queue_offset_handler("offset", [this](const std::string& t, int32_t q, HeaderReader& h) {
                             int64_t ts = h.i64("timestamp");
                             return h.ok() ? store_->offset_in_queue_by_time(t, q, ts) : 0;
                           }));
  server_.register_handler(req::kGetEarliestMsgStoreTime,
                           queue_offset_handler("timestamp", [this](const std::string& t, int32_t q, HeaderReader&) {
                             return store_->message_store_timestamp(t, q, store_->min_offset_in_queue(t, q));
                           }));

  server_.register_handler(req::kViewMessageById, [this, bad_header, ok_body](const RequestContext& ctx, RemotingCommand& r) {
    HeaderReader h(r.ext_fields);
    int64_t offset = h.i64("offset");
    if (!h.ok()) return bad_header(ctx, h);
    auto rec = store_->message_by_offset(offset);
    if (!rec.ok())
      return ctx.respond_code(rc::kSystemError, "can not find message by the offset, " + std::to_string(offset) + ": " +
                                                    rec.detail());
    ok_body(ctx, std::move(*rec));
  });

  server_.register_handler(req::kUpdateAndCreateTopic, [this, bad_header](const RequestContext& ctx, RemotingCommand& r) {
    HeaderReader h(r.ext_fields);
    TopicConfig c;
    c.topic_name = h.str("topic");
    c.read_queue_nums = h.i32("readQueueNums");
    c.write_queue_nums = h.i32("writeQueueNums");
    c.perm = h.i32("perm");
    c.topic_filter_type = h.opt_str("topicFilterType").value_or("SINGLE_TAG");
    c.topic_sys_flag = static_cast<int32_t>(h.i64_or("topicSysFlag", 0));
    c.order = h.boolean("order");
    if (!h.ok()) return bad_header(ctx, h);
    if (!valid_topic_name(c.topic_name))
      return ctx.respond_code(rc::kSystemError, "topic[" + c.topic_name + "] is not a valid topic name");
    if (c.topic_name == kAutoCreateTopicKeyTopic)
      return ctx.respond_code(rc::kSystemError, "The topic[" + c.topic_name + "] is conflict with AUTO_CREATE_TOPIC_KEY_TOPIC.");
    if (c.read_queue_nums <= 0 || c.read_queue_nums > 1024 || c.write_queue_nums <= 0 || c.write_queue_nums > 1024)
      return ctx.respond_code(rc::kSystemError, "queue numbers must be in [1, 1024]");
    if (c.perm < 0 || c.perm > 15) return ctx.respond_code(rc::kSystemError, "perm must be in [0, 15]");
    topics_.put(c, now_ms());
    log_.info("topic " + c.topic_name + " created/updated: r=" + std::to_string(c.read_queue_nums) + " w=" +
              std::to_string(c.write_queue_nums) + " perm=" + perm::describe(c.perm));
    persist_metadata();
    register_with_namesrv(false);
    ctx.respond_code(rc::kSuccess);
  });

  server_.register_handler(req::kDeleteTopicInBroker, [this, bad_header](const RequestContext& ctx, RemotingCommand& r) {
    HeaderReader h(r.ext_fields);
    std::string topic = h.str("topic");
    if (!h.ok()) return bad_header(ctx, h);
    topics_.remove(topic, now_ms());
    offsets_.remove_topic(topic);
    persist_metadata();
    register_with_namesrv(false);
    ctx.respond_code(rc::kSuccess);
  });

  server_.register_handler(req::kGetAllTopicConfig, [this, ok_body](const RequestContext& ctx, RemotingCommand&) {
    ok_body(ctx, topics_.to_json_text());
  });

  server_.register_handler(req::kUpdateAndCreateSubscriptionGroup, [this](const RequestContext& ctx, RemotingCommand& r) {
    auto j = parse_fastjson(r.body);
    if (!j.ok() || !j->is_object()) return ctx.respond_code(rc::kSystemError, "subscription group body is not JSON");
    SubscriptionGroupConfig c = SubscriptionGroupConfig::from_json(*j);
    if (c.group_name.empty()) return ctx.respond_code(rc::kSystemError, "groupName is missing");
    groups_.put(c, now_ms());
    persist_metadata();
    ctx.respond_code(rc::kSuccess);
  });
  server_.register_handler(req::kGetAllSubscriptionGroupConfig, [this, ok_body](const RequestContext& ctx, RemotingCommand&) {
    ok_body(ctx, groups_.to_json_text());
  });
  server_.register_handler(req::kDeleteSubscriptionGroup, [this, bad_header](const RequestContext& ctx, RemotingCommand& r) {
    HeaderReader h(r.ext_fields);
    std::string group = h.str("groupName");
    if (!h.ok()) return bad_header(ctx, h);
    groups_.remove(group, now_ms());
    if (h.boolean("cleanOffset")) offsets_.remove_group(group);
    persist_metadata();
    ctx.respond_code(rc::kSuccess);
  });
  server_.register_handler(req::kGetAllConsumerOffset, [this, ok_body](const RequestContext& ctx, RemotingCommand&) {
    ok_body(ctx, offsets_.to_json_text());
  });
  // No scheduled-message service yet: the delay offsets are whatever delayOffset.json holds.
  // GET_ALL_DELAY_OFFSET and GET_ALL_TIMER_OFFSET: broker_internal_put.cc.

  server_.register_handler(req::kGetBrokerConfig, [this](const RequestContext& ctx, RemotingCommand&) {
    RemotingCommand resp;
    resp.body = config_.to_properties();
    resp.ext_fields.set("version", topics_.data_version().to_json().dump(-1, ' ', false, kJsonReplace));
    ctx.respond(std::move(resp));
  });
  // UPDATE_BROKER_CONFIG (broker/broker_config.h, BrokerConfig::update): keys read where they are
  // used apply at once, keys read at start are kept for the next start; both are written to the
  // broker's own file (on its strand: it fsyncs), as RocketMQ persists its Properties. A refusal
  // names the key and changes nothing. The remark says what applied now and what waits for a
  // restart (RocketMQ's tool prints only success; ours prints the remark).
  server_.register_handler(req::kUpdateBrokerConfig, [this](const RequestContext& ctx, RemotingCommand& r) {
    auto changes = parse_properties_text(r.body);
    auto updated = config_.update(changes);
    if (!updated.ok()) {
      log_.warn("config update from " + ctx.peer_address() + " refused: " + updated.detail());
      return ctx.respond_code(rc::kSystemError, updated.detail());
    }
    const BrokerConfig::ConfigUpdate u = *updated;
    auto has = [](const std::vector<std::string>& keys, const char* key) {
      return std::find(keys.begin(), keys.end(), key) != keys.end();
    };
    // The two timers that read their period at start, re-armed with the new one.
    if (has(u.applied, "flushIntervalCommitLog")) {
      uint64_t every = static_cast<uint64_t>(config_.store.flush_interval_commit_log_ms);
      flush_timer_.start(every, every, [this] { run_flush(true); });
    }
    if (has(u.applied, "registerNameServerPeriod")) {
      uint64_t period = register_period_ms();
      register_timer_.start(period, period, [this] { register_with_namesrv(false); });
    }
    std::string what;
    if (!u.applied.empty()) what += "applied now: " + join(u.applied);
    if (!u.on_restart.empty()) what += std::string(what.empty() ? "" : "; ") + "take effect at the next start: " + join(u.on_restart);
    std::string text = r.body;
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    log_.info("config updated by " + ctx.peer_address() + " (" + what + "): " + text);
    // brokerPermission and the like reach the NameServer with the next registration: send it now.
    register_with_namesrv(false);
    if (config_.config_path.empty()) {
      if (u.on_restart.empty()) return ctx.respond_code(rc::kSuccess, what + " (no config file to write to)");
      config_.drop_pending(u.on_restart);
      return ctx.respond_code(rc::kSystemError, what + ", but this broker has no config file to keep " +
                                                    join(u.on_restart) + " for the next start: those are dropped");
    }
    auto failure = std::make_shared<std::string>();
    std::weak_ptr<bool> alive = alive_;
    strand_->submit(
        [path = config_.config_path, changes, failure] {
          auto persisted = update_config_file(path, changes);
          if (!persisted.ok()) *failure = persisted.detail();
        },
        [this, alive, ctx, u, what, failure, path = config_.config_path] {
          if (alive.expired()) return ctx.respond_code(rc::kSystemError, "broker stopped while writing " + path);
          if (failure->empty()) return ctx.respond_code(rc::kSuccess, what + " (written to " + path + ")");
          log_.warn("config update not written to " + path + ": " + *failure);
          if (u.on_restart.empty()) return ctx.respond_code(rc::kSuccess, what + ", but not written to the config file: " + *failure);
          // A change for the next start that is not in the file would be lost at that start.
          config_.drop_pending(u.on_restart);
          ctx.respond_code(rc::kSystemError, what + ", but not written to the config file (" + *failure + "): " +
                                                 join(u.on_restart) + " dropped");
        });
  });

  server_.register_handler(req::kGetBrokerRuntimeInfo, [this, ok_body](const RequestContext& ctx, RemotingCommand&) {
    json t = json::object();
    t["brokerVersion"] = std::to_string(kRemotingVersion);
    t["brokerVersionDesc"] = "V4_9_4 (mqcontainer)";
    t["bootTimestamp"] = std::to_string(boot_timestamp_ms_);
    t["runtime"] = std::to_string((now_ms() - boot_timestamp_ms_) / 1000) + " s";
    for (const auto& [k, v] : stats_.runtime_info()) t[k] = v;
    // Requests run on the loop as they arrive: no send, pull or query queue, no page cache lock.
    for (const char* k : {"sendThreadPoolQueueSize", "sendThreadPoolQueueHeadWaitTimeMills", "pullThreadPoolQueueSize",
                          "pullThreadPoolQueueHeadWaitTimeMills", "queryThreadPoolQueueSize",
                          "queryThreadPoolQueueHeadWaitTimeMills", "pageCacheLockTimeMills"})
      t[k] = "0";
    t["commitLogDiskRatio"] = std::to_string(store::disk_used_ratio(config_.store.store_path_root_dir));
    t["commitLogMinOffset"] = std::to_string(store_->min_phy_offset());
    t["commitLogMaxOffset"] = std::to_string(store_->max_phy_offset());
    t["commitLogFlushedOffset"] = std::to_string(store_->flushed_offset());
    t["earliestMessageTimeStamp"] = std::to_string(store_->earliest_message_time());
    // RocketMQ's wording, sizes as MixAll.humanReadableByteCount (binary units).
    if (struct statvfs st; ::statvfs(config_.store.store_path_root_dir.c_str(), &st) == 0)
      t["commitLogDirCapacity"] = "Total : " + human_bytes(static_cast<int64_t>(st.f_blocks) * static_cast<int64_t>(st.f_frsize)) +
                                  ", Free : " + human_bytes(static_cast<int64_t>(st.f_bavail) * static_cast<int64_t>(st.f_frsize)) + ".";
    t["remainHowManyDataToFlush"] = human_bytes(std::max<int64_t>(store_->max_phy_offset() - store_->flushed_offset(), 0));
    // Messages reach the ConsumeQueues as they are put, so nothing waits for dispatch.
    t["dispatchBehindBytes"] = "0";
    t["brokerRole"] = broker_role_name(config_.broker_role);
    t["pullHoldCount"] = std::to_string(pull_holds_.size());
    t["clientConnections"] = std::to_string(clients_.connection_count());
    t["storeWritable"] = store_->takes_writes() ? "true" : "false";
    // Ours: why puts are refused ("disk full: ..." clears by itself; anything else is a stop).
    if (!store_->takes_writes()) t["storeNotWritableReason"] = store_->write_refusal_reason();
    ok_body(ctx, json{{"table", t}}.dump(-1, ' ', false, kJsonReplace));
  });

  server_.register_handler(req::kGetTopicStatsInfo, [this, bad_header](const RequestContext& ctx, RemotingCommand& r) {
    HeaderReader h(r.ext_fields);
    std::string topic = h.str("topic");
    if (!h.ok()) return bad_header(ctx, h);
    const TopicConfig* tc = topics_.find(topic);
    if (tc == nullptr) return ctx.respond_code(rc::kTopicNotExist, "topic[" + topic + "] not exist");
    std::string out = "{\"offsetTable\":{";
    for (int32_t q = 0; q < tc->write_queue_nums; ++q) {
      int64_t min = store_->min_offset_in_queue(topic, q), max = store_->max_offset_in_queue(topic, q);
      int64_t last = max > 0 ? store_->message_store_timestamp(topic, q, max - 1) : 0;
      if (q) out += ",";
      out += message_queue_key(config_.broker_name, q, topic) + ":" +
             json{{"minOffset", min}, {"maxOffset", max}, {"lastUpdateTimestamp", last}}.dump(-1, ' ', false, kJsonReplace);
    }
    RemotingCommand resp;
    resp.body = out + "}}";
    ctx.respond(std::move(resp));
  });

  // RocketMQ's derived statistics (broker/broker_stats.h): messages of a queue stored within the
  // last `window_ms` are those from this queue offset to the max offset.
  auto window_start = [this](const std::string& topic, int32_t q, int64_t window_ms) {
    return store_->offset_in_queue_by_time(topic, q, now_ms() - window_ms);
  };
  // TOPIC_PUT_NUMS: messages stored within each window.
  auto topic_put_sums = [this, window_start](const std::string& topic, int32_t queues) {
    StatsWindowSums s;
    for (int32_t q = 0; q < queues; ++q) {
      const int64_t max = store_->max_offset_in_queue(topic, q);
      for (size_t w = 3; w-- > 0;) {
        const int64_t from = window_start(topic, q, kStatsWindowMs[w]);
        if (from >= max) break;  // the shorter windows hold no more
        s.sum[w] += max - from;
      }
    }
    return s;
  };
  // GROUP_GET_NUMS: of the messages stored within each window, those the group's committed offset
  // has passed (RocketMQ counts the pulls themselves; this is what they amounted to).
  auto group_get_sums = [this, window_start](const std::string& group, const std::string& topic, int32_t queues) {
    StatsWindowSums s;
    for (int32_t q = 0; q < queues; ++q) {
      const int64_t consumed = std::min(offsets_.query(group, topic, q), store_->max_offset_in_queue(topic, q));
      if (consumed <= 0) continue;
      for (size_t w = 3; w-- > 0;) {
        const int64_t from = window_start(topic, q, kStatsWindowMs[w]);
        if (from >= consumed) break;
        s.sum[w] += consumed - from;
      }
    }
    return s;
  };

  // A ConsumeStats offsetTable's rows for one topic (OffsetWrapper per MessageQueue), appended to
  // `rows`, with the topic's diff and consume TPS. False when the topic does not count for the group
  // under RocketMQ's rules: it does not exist here, or the group is online and does not subscribe to it.
  struct ConsumeRows {
    std::string rows;
    int64_t diff = 0;
    double tps = 0;
  };
  auto consume_rows = [this, group_get_sums](const std::string& group, const std::string& topic, bool all_write_queues,
                                             ConsumeRows& out) {
    const TopicConfig* tc = topics_.find(topic);
    if (tc == nullptr) return false;
    const ConsumerGroupInfo* online = clients_.consumer_group(group);
    if (online != nullptr && !online->subscriptions.empty() && !online->subscriptions.count(topic)) return false;
    // GET_CONSUME_STATS reports the read queues, GET_BROKER_CONSUME_STATS the write queues (as RocketMQ).
    const int32_t queues = all_write_queues ? tc->write_queue_nums : tc->read_queue_nums;
    for (int32_t q = 0; q < queues; ++q) {
      const int64_t broker_offset = std::max<int64_t>(store_->max_offset_in_queue(topic, q), 0);
      const int64_t consumer_offset = std::max<int64_t>(offsets_.query(group, topic, q), 0);
      json w{{"brokerOffset", broker_offset}, {"consumerOffset", consumer_offset}, {"lastTimestamp", 0}};
      if (consumer_offset > 0) {
        const int64_t last = store_->message_store_timestamp(topic, q, consumer_offset - 1);
        if (last > 0) w["lastTimestamp"] = last;
      }
      if (!out.rows.empty()) out.rows += ",";
      out.rows += message_queue_key(config_.broker_name, q, topic) + ":" + dump(w);
      out.diff += broker_offset - consumer_offset;
    }
    out.tps += group_get_sums(group, topic, queues).tps(0);
    return true;
  };

  server_.register_handler(req::kGetConsumeStats, [this, bad_header, consume_rows](const RequestContext& ctx, RemotingCommand& r) {
    HeaderReader h(r.ext_fields);
    std::string group = h.str("consumerGroup");
    if (!h.ok()) return bad_header(ctx, h);
    std::vector<std::string> topics;
    if (auto t = h.opt_str("topic"); t && !t->empty()) {
      topics.push_back(*t);
    } else {
      topics = offsets_.topics_of_group(group);
    }
    ConsumeRows all;
    for (const auto& topic : topics) consume_rows(group, topic, false, all);
    RemotingCommand resp;
    resp.body = "{\"consumeTps\":" + json_double(all.tps) + ",\"offsetTable\":{" + all.rows + "}}";
    ctx.respond(std::move(resp));
  });

  // GET_BROKER_CONSUME_STATS (mqadmin brokerConsumeStats): a ConsumeStats per topic of every
  // subscription group (topics from its committed offsets), and the broker's total diff. isOrder
  // keeps ordered topics only.
  server_.register_handler(kGetBrokerConsumeStats, [this, consume_rows](const RequestContext& ctx, RemotingCommand& r) {
    HeaderReader h(r.ext_fields);
    const bool order_only = h.boolean("isOrder");
    std::string list;
    int64_t total_diff = 0;
    for (const auto& [group, _] : groups_.table()) {
      std::string stats;
      for (const auto& topic : offsets_.topics_of_group(group)) {
        const TopicConfig* tc = topics_.find(topic);
        if (tc == nullptr || (order_only && !tc->order)) continue;
        ConsumeRows one;
        if (!consume_rows(group, topic, true, one)) continue;
        total_diff += one.diff;
        if (!stats.empty()) stats += ",";
        stats += "{\"consumeTps\":" + json_double(one.tps) + ",\"offsetTable\":{" + one.rows + "}}";
      }
      if (!list.empty()) list += ",";
      list += "{" + dump(json(group)) + ":[" + stats + "]}";
    }
    RemotingCommand resp;
    resp.body = "{\"brokerAddr\":" + dump(json(config_.broker_addr())) + ",\"consumeStatsList\":[" + list +
                "],\"totalDiff\":" + std::to_string(total_diff) + "}";
    ctx.respond(std::move(resp));
  });

  // QUERY_TOPIC_CONSUME_BY_WHO: groups online with a subscription to the topic, and groups with
  // offsets for it.
  server_.register_handler(kQueryTopicConsumeByWho, [this, bad_header, ok_body](const RequestContext& ctx, RemotingCommand& r) {
    HeaderReader h(r.ext_fields);
    std::string topic = h.str("topic");
    if (!h.ok()) return bad_header(ctx, h);
    std::set<std::string> groups;
    for (const auto& [group, info] : clients_.consumer_groups())
      if (info.subscriptions.count(topic)) groups.insert(group);
    for (auto& group : offsets_.groups_of_topic(topic)) groups.insert(std::move(group));
    ok_body(ctx, dump(json{{"groupList", groups}}));
  });

  // VIEW_BROKER_STATS_DATA (mqadmin statsAll): TOPIC_PUT_NUMS of a topic, GROUP_GET_NUMS of a
  // "topic@group"; like RocketMQ, an error for a key with nothing to count (statsAll skips it).
  server_.register_handler(kViewBrokerStatsData, [this, bad_header, ok_body, topic_put_sums, group_get_sums](
                                                     const RequestContext& ctx, RemotingCommand& r) {
    HeaderReader h(r.ext_fields);
    std::string name = h.str("statsName"), key = h.str("statsKey");
    if (!h.ok()) return bad_header(ctx, h);
    auto not_exist = [&] { ctx.respond_code(rc::kSystemError, "The stats <" + name + "> <" + key + "> not exist"); };
    if (name == "TOPIC_PUT_NUMS") {
      const TopicConfig* tc = topics_.find(key);
      if (tc == nullptr) return not_exist();
      return ok_body(ctx, broker_stats_data_json(topic_put_sums(key, tc->write_queue_nums)));
    }
    if (name == "GROUP_GET_NUMS") {
      size_t at = key.rfind('@');
      if (at == std::string::npos) return not_exist();
      std::string topic = key.substr(0, at), group = key.substr(at + 1);
      const TopicConfig* tc = topics_.find(topic);
      const auto groups = offsets_.groups_of_topic(topic);
      if (tc == nullptr || std::find(groups.begin(), groups.end(), group) == groups.end()) return not_exist();
      return ok_body(ctx, broker_stats_data_json(group_get_sums(group, topic, tc->read_queue_nums)));
    }
    not_exist();
  });

  // INVOKE_BROKER_TO_RESET_OFFSET (mqadmin resetOffsetByTime), as RocketMQ's Broker2Client.resetOffset:
  // per write queue, the offset of the first message stored at or after `timestamp` (-1: the max
  // offset), taken when isForce or when it is behind the group's offset; each online member of
  // the group gets RESET_CONSUMER_CLIENT_OFFSET with the table, and the answer carries it too.
  // The group's committed offsets are set here as well, so the reset holds for members that ignore
  // the request (not subscribed, not Java); a Java member pauses 10 s, may commit its old offsets
  // meanwhile, then commits the reset ones. A group with no member online gets CONSUMER_NOT_ONLINE,
  // on which the tool resets the offsets itself (resetOffsetByTimestampOld).
  server_.register_handler(kInvokeBrokerToResetOffset, [this, bad_header, ok_body](const RequestContext& ctx, RemotingCommand& r) {
    HeaderReader h(r.ext_fields);
    std::string topic = h.str("topic"), group = h.str("group");
    const int64_t timestamp = h.i64("timestamp");
    const bool force = h.boolean("isForce");
    if (!h.ok()) return bad_header(ctx, h);
    const bool for_cpp = r.language == "CPP";  // ResetOffsetBodyForC for the C++ client (mqadmin -c)
    const TopicConfig* tc = topics_.find(topic);
    if (tc == nullptr)
      return ctx.respond_code(rc::kSystemError, "[reset-offset] reset offset failed, no topic in this broker. topic=" + topic);
    std::vector<std::pair<int32_t, int64_t>> table;
    for (int32_t q = 0; q < tc->write_queue_nums; ++q) {
      const int64_t consumer_offset = offsets_.query(group, topic, q);
      if (consumer_offset == -1)
        return ctx.respond_code(rc::kSystemError, "THe consumer group <" + group + "> not exist");
      int64_t target = timestamp == -1 ? store_->max_offset_in_queue(topic, q) : store_->offset_in_queue_by_time(topic, q, timestamp);
      if (target < 0) target = 0;
      table.emplace_back(q, force || target < consumer_offset ? target : consumer_offset);
    }
    const ConsumerGroupInfo* info = clients_.consumer_group(group);
    std::vector<std::shared_ptr<RemotingConnection>> members;
    if (info != nullptr) {
      for (const auto& [id, ch] : info->channels) {
        if (ch.version < kFirstVersionWithResetOffset)
          return ctx.respond_code(rc::kSystemError, "the client does not support this feature. version=" + std::to_string(ch.version));
        if (auto conn = ch.connection.lock()) members.push_back(std::move(conn));
      }
    }
    if (members.empty())
      return ctx.respond_code(rc::kConsumerNotOnline, "Consumer not online, so can not reset offset, Group: " + group +
                                                          " Topic: " + topic + " Timestamp: " + std::to_string(timestamp));
    std::string map_body = "{\"offsetTable\":{";
    json list = json::array();
    for (const auto& [q, offset] : table) {
      if (q) map_body += ",";
      map_body += message_queue_key(config_.broker_name, q, topic) + ":" + std::to_string(offset);
      list.push_back({{"brokerName", config_.broker_name}, {"offset", offset}, {"queueId", q}, {"topic", topic}});
      offsets_.commit(group, topic, q, offset);
    }
    map_body += "}}";
    persist_metadata();
    RemotingCommand reset = RemotingCommand::request(kResetConsumerClientOffset);
    reset.language = "JAVA";
    reset.ext_fields.set("topic", topic);
    reset.ext_fields.set("group", group);
    reset.ext_fields.set("timestamp", timestamp);
    reset.ext_fields.set_bool("isForce", force);
    reset.body = for_cpp ? dump(json{{"offsetTable", list}}) : map_body;
    for (const auto& conn : members) server_.send_oneway(*conn, reset);
    log_.info("[reset-offset] group " + group + " topic " + topic + " timestamp " + std::to_string(timestamp) +
              (force ? " (force)" : "") + " by " + ctx.peer_address() + ": " + std::to_string(members.size()) +
              " member(s) told, offsets " + map_body);
    ok_body(ctx, map_body);
  });

  server_.register_handler(req::kGetConsumerConnectionList, [this, bad_header, ok_body](const RequestContext& ctx, RemotingCommand& r) {
    HeaderReader h(r.ext_fields);
    std::string group = h.str("consumerGroup");
    if (!h.ok()) return bad_header(ctx, h);
    const ConsumerGroupInfo* info = clients_.consumer_group(group);
    if (info == nullptr || info->channels.empty())
      return ctx.respond_code(rc::kConsumerNotOnline, "the consumer group[" + group + "] not online");
    json conns = json::array();
    for (const auto& [id, ch] : info->channels)
      conns.push_back({{"clientId", ch.client_id}, {"clientAddr", ch.client_addr}, {"language", ch.language}, {"version", ch.version}});
    json subs = json::object();
    for (const auto& [topic, s] : info->subscriptions) subs[topic] = s.to_json();
    ok_body(ctx, json{{"connectionSet", conns},
                      {"subscriptionTable", subs},
                      {"consumeType", info->consume_type},
                      {"messageModel", info->message_model},
                      {"consumeFromWhere", info->consume_from_where}}
                     .dump(-1, ' ', false, kJsonReplace));
  });

  server_.register_handler(req::kGetProducerConnectionList, [this, bad_header, ok_body](const RequestContext& ctx, RemotingCommand& r) {
    HeaderReader h(r.ext_fields);
    std::string group = h.str("producerGroup");
    if (!h.ok()) return bad_header(ctx, h);
    json conns = json::array();
    auto it = clients_.producer_groups().find(group);
    if (it != clients_.producer_groups().end())
      for (const auto& [id, ch] : it->second)
        conns.push_back({{"clientId", ch.client_id}, {"clientAddr", ch.client_addr}, {"language", ch.language}, {"version", ch.version}});
    ok_body(ctx, json{{"connectionSet", conns}}.dump(-1, ' ', false, kJsonReplace));
  });

  // CONSUMER_SEND_MSG_BACK: broker_retry.cc.
}

}  // namespace mq
