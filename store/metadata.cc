#include "store/metadata.h"

#include <cctype>
#include <functional>
#include <nlohmann/json.hpp>

namespace mq::store {

using json = nlohmann::json;

std::string quote_bare_keys(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 16);
  bool in_string = false;
  char prev_significant = 0;  // last non-space character outside strings
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < text.size()) {
        out.push_back(text[++i]);
      } else if (c == '"') {
        in_string = false;
        prev_significant = '"';
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      out.push_back(c);
      continue;
    }
    if ((prev_significant == '{' || prev_significant == ',') &&
        (std::isdigit(static_cast<unsigned char>(c)) || c == '-')) {
      size_t j = i + 1;
      while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
      size_t k = j;
      while (k < text.size() && std::isspace(static_cast<unsigned char>(text[k]))) ++k;
      if (k < text.size() && text[k] == ':') {
        out.push_back('"');
        out.append(text.substr(i, j - i));
        out.push_back('"');
        i = j - 1;
        prev_significant = '"';
        continue;
      }
    }
    out.push_back(c);
    if (!std::isspace(static_cast<unsigned char>(c))) prev_significant = c;
  }
  return out;
}

namespace {

Error<MetadataError> parse_error(const std::string& source, const std::string& why) {
  return make_error(MetadataError::kParse, source + ": " + why);
}

// Parses with the pre-pass, catching nlohmann's exceptions at this boundary.
MetadataResult<json> parse(std::string_view text, const std::string& source) {
  try {
    json j = json::parse(quote_bare_keys(text));
    if (!j.is_object()) return parse_error(source, "not a JSON object");
    return j;
  } catch (const json::exception& e) {
    return parse_error(source, e.what());
  }
}

template <typename T>
T get_or(const json& j, const char* key, T def) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  return it->get<T>();
}

// Java sends numbers as numbers, but accept numeric strings as fastjson does.
int64_t to_int(const json& v) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_string()) return std::stoll(v.get<std::string>());
  throw json::type_error::create(302, "expected an integer", &v);
}

json encode_data_version(const DataVersion& d) {
  return json{{"counter", d.counter}, {"stateVersion", d.state_version}, {"timestamp", d.timestamp}};
}

DataVersion decode_data_version(const json& j) {
  DataVersion d;
  if (!j.is_object()) return d;
  d.counter = get_or<int64_t>(j, "counter", 0);
  d.state_version = get_or<int64_t>(j, "stateVersion", 0);
  d.timestamp = get_or<int64_t>(j, "timestamp", 0);
  return d;
}

template <typename T>
MetadataResult<T> decode_guarded(std::string_view text, const std::string& source,
                                 const std::function<T(const json&)>& fn) {
  auto j = parse(text, source);
  if (!j) return j.error();
  try {
    return fn(*j);
  } catch (const json::exception& e) {
    return parse_error(source, e.what());
  } catch (const std::exception& e) {
    return parse_error(source, e.what());
  }
}

std::string dump(const json& j) { return j.dump(1, '\t'); }

}  // namespace

std::string encode_topics(const TopicConfigTable& t) {
  json table = json::object();
  for (const auto& [name, c] : t.topics) {
    json tc = {{"topicName", c.topic_name},         {"readQueueNums", c.read_queue_nums},
               {"writeQueueNums", c.write_queue_nums}, {"perm", c.perm},
               {"topicFilterType", c.topic_filter_type}, {"topicSysFlag", c.topic_sys_flag},
               {"order", c.order}};
    if (!c.attributes.empty()) tc["attributes"] = c.attributes;
    table[name] = tc;
  }
  return dump(json{{"dataVersion", encode_data_version(t.data_version)}, {"topicConfigTable", table}});
}

MetadataResult<TopicConfigTable> decode_topics(std::string_view text, const std::string& source) {
  return decode_guarded<TopicConfigTable>(text, source, [](const json& j) {
    TopicConfigTable t;
    if (j.contains("dataVersion")) t.data_version = decode_data_version(j["dataVersion"]);
    if (j.contains("topicConfigTable")) {
      for (const auto& [name, v] : j["topicConfigTable"].items()) {
        TopicConfig c;
        c.topic_name = get_or<std::string>(v, "topicName", name);
        c.read_queue_nums = get_or<int32_t>(v, "readQueueNums", 16);
        c.write_queue_nums = get_or<int32_t>(v, "writeQueueNums", 16);
        c.perm = get_or<int32_t>(v, "perm", 6);
        c.topic_filter_type = get_or<std::string>(v, "topicFilterType", "SINGLE_TAG");
        c.topic_sys_flag = get_or<int32_t>(v, "topicSysFlag", 0);
        c.order = get_or<bool>(v, "order", false);
        if (v.contains("attributes") && v["attributes"].is_object())
          for (const auto& [k, a] : v["attributes"].items())
            c.attributes[k] = a.is_string() ? a.get<std::string>() : a.dump();
        t.topics[name] = c;
      }
    }
    return t;
  });
}

std::string encode_consumer_offsets(const ConsumerOffsetTable& t) {
  json table = json::object();
  for (const auto& [key, m] : t.offsets) {
    json q = json::object();
    for (const auto& [qid, off] : m) q[std::to_string(qid)] = off;
    table[key] = q;
  }
  return dump(json{{"offsetTable", table}});
}

MetadataResult<ConsumerOffsetTable> decode_consumer_offsets(std::string_view text,
                                                            const std::string& source) {
  return decode_guarded<ConsumerOffsetTable>(text, source, [](const json& j) {
    ConsumerOffsetTable t;
    if (j.contains("offsetTable"))
      for (const auto& [key, m] : j["offsetTable"].items()) {
        auto& dst = t.offsets[key];
        for (const auto& [qid, off] : m.items()) dst[static_cast<int32_t>(std::stol(qid))] = to_int(off);
      }
    return t;
  });
}

std::string encode_subscription_groups(const SubscriptionGroupTable& t) {
  json table = json::object();
  for (const auto& [name, g] : t.groups) {
    table[name] = json{{"groupName", g.group_name},
                       {"consumeEnable", g.consume_enable},
                       {"consumeFromMinEnable", g.consume_from_min_enable},
                       {"consumeBroadcastEnable", g.consume_broadcast_enable},
                       {"retryQueueNums", g.retry_queue_nums},
                       {"retryMaxTimes", g.retry_max_times},
                       {"brokerId", g.broker_id},
                       {"whichBrokerWhenConsumeSlowly", g.which_broker_when_consume_slowly},
                       {"notifyConsumerIdsChangedEnable", g.notify_consumer_ids_changed_enable}};
  }
  return dump(json{{"dataVersion", encode_data_version(t.data_version)}, {"subscriptionGroupTable", table}});
}

MetadataResult<SubscriptionGroupTable> decode_subscription_groups(std::string_view text,
                                                                  const std::string& source) {
  return decode_guarded<SubscriptionGroupTable>(text, source, [](const json& j) {
    SubscriptionGroupTable t;
    if (j.contains("dataVersion")) t.data_version = decode_data_version(j["dataVersion"]);
    if (j.contains("subscriptionGroupTable"))
      for (const auto& [name, v] : j["subscriptionGroupTable"].items()) {
        SubscriptionGroupConfig g;
        g.group_name = get_or<std::string>(v, "groupName", name);
        g.consume_enable = get_or<bool>(v, "consumeEnable", true);
        g.consume_from_min_enable = get_or<bool>(v, "consumeFromMinEnable", true);
        g.consume_broadcast_enable = get_or<bool>(v, "consumeBroadcastEnable", true);
        g.retry_queue_nums = get_or<int32_t>(v, "retryQueueNums", 1);
        g.retry_max_times = get_or<int32_t>(v, "retryMaxTimes", 16);
        g.broker_id = get_or<int64_t>(v, "brokerId", 0);
        g.which_broker_when_consume_slowly = get_or<int64_t>(v, "whichBrokerWhenConsumeSlowly", 1);
        g.notify_consumer_ids_changed_enable = get_or<bool>(v, "notifyConsumerIdsChangedEnable", true);
        t.groups[name] = g;
      }
    return t;
  });
}

std::string encode_delay_offsets(const DelayOffsetTable& t) {
  json table = json::object();
  for (const auto& [level, off] : t.offsets) table[std::to_string(level)] = off;
  return dump(json{{"offsetTable", table}});
}

MetadataResult<DelayOffsetTable> decode_delay_offsets(std::string_view text,
                                                      const std::string& source) {
  return decode_guarded<DelayOffsetTable>(text, source, [](const json& j) {
    DelayOffsetTable t;
    if (j.contains("offsetTable"))
      for (const auto& [level, off] : j["offsetTable"].items())
        t.offsets[static_cast<int32_t>(std::stol(level))] = to_int(off);
    return t;
  });
}

MetadataResult<Unit> persist_config_file(FileSystem& fs, const std::string& path,
                                         std::string_view content) {
  auto io = [&](const Error<IoError>& e) { return make_error(MetadataError::kIo, e.detail); };
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  if (auto r = fs.create_directories(dir); !r) return io(r.error());
  std::string tmp = path + ".tmp";
  {
    auto f = fs.open(tmp, true);
    if (!f) return io(f.error());
    if (auto r = (*f)->truncate(0); !r) return io(r.error());
    if (auto r = (*f)->write_at(0, content.data(), content.size()); !r) return io(r.error());
    if (auto r = (*f)->sync(); !r) return io(r.error());
  }
  if (fs.exists(path)) {
    auto prev = read_whole_file(fs, path);
    if (!prev) return io(prev.error());
    if (auto r = write_file_atomically(fs, path + ".bak", *prev); !r) return io(r.error());
  }
  if (auto r = fs.rename(tmp, path); !r) return io(r.error());
  if (auto r = fs.sync_directory(dir); !r) return io(r.error());
  return Unit{};
}

namespace {

template <typename T>
MetadataResult<T> load_with_backup(
    FileSystem& fs, const std::string& path,
    MetadataResult<T> (*decode)(std::string_view, const std::string&)) {
  std::string first_error;
  for (const std::string& p : {path, path + ".bak"}) {
    if (!fs.exists(p)) continue;
    auto text = read_whole_file(fs, p);
    if (!text) {
      if (first_error.empty()) first_error = text.detail();
      continue;
    }
    if (text->find_first_not_of(" \t\r\n") == std::string::npos) continue;  // empty: try .bak
    auto r = decode(*text, p);
    if (r) return r;
    if (first_error.empty()) first_error = r.detail();
  }
  if (first_error.empty()) return make_error(MetadataError::kNotFound, path + ": not found");
  return make_error(MetadataError::kParse, first_error);
}

}  // namespace

MetadataResult<TopicConfigTable> load_topics(FileSystem& fs, const std::string& path) {
  return load_with_backup<TopicConfigTable>(fs, path, &decode_topics);
}
MetadataResult<ConsumerOffsetTable> load_consumer_offsets(FileSystem& fs, const std::string& path) {
  return load_with_backup<ConsumerOffsetTable>(fs, path, &decode_consumer_offsets);
}
MetadataResult<SubscriptionGroupTable> load_subscription_groups(FileSystem& fs,
                                                                const std::string& path) {
  return load_with_backup<SubscriptionGroupTable>(fs, path, &decode_subscription_groups);
}
MetadataResult<DelayOffsetTable> load_delay_offsets(FileSystem& fs, const std::string& path) {
  return load_with_backup<DelayOffsetTable>(fs, path, &decode_delay_offsets);
}

std::string topics_path(const std::string& root) { return join_path(root, "config/topics.json"); }
std::string consumer_offset_path(const std::string& root) {
  return join_path(root, "config/consumerOffset.json");
}
std::string subscription_group_path(const std::string& root) {
  return join_path(root, "config/subscriptionGroup.json");
}
std::string delay_offset_path(const std::string& root) {
  return join_path(root, "config/delayOffset.json");
}

}  // namespace mq::store
