#include "store/broker_identity.h"

#include <algorithm>

#include "store/epoch_file.h"

namespace mq::store {

namespace {

std::vector<std::string_view> split_hash(std::string_view s) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (true) {
    size_t h = s.find('#', pos);
    out.push_back(s.substr(pos, h == std::string_view::npos ? std::string_view::npos : h - pos));
    if (h == std::string_view::npos) return out;
    pos = h + 1;
  }
}

bool parse_id(std::string_view s, int64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    int d = c - '0';
    if (v > (INT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

Error<IdentityError> corrupt(std::string_view text, const char* why) {
  return make_error(IdentityError::kCorrupt, std::string(why) + ": '" + std::string(text.substr(0, 128)) + "'");
}

bool storable(std::string_view field) { return !field.empty() && field.find('#') == std::string_view::npos; }

Result<Unit, IdentityError> check_storable(std::string_view cluster, std::string_view broker, int64_t id) {
  if (!storable(cluster) || !storable(broker))
    return make_error(IdentityError::kInvalid, "cluster and broker names must be non-empty and free of '#': '" +
                                                   std::string(cluster) + "', '" + std::string(broker) + "'");
  if (id < 0) return make_error(IdentityError::kInvalid, "broker id " + std::to_string(id) + " is negative");
  return Unit{};
}

}  // namespace

const char* identity_error_name(IdentityError e) {
  switch (e) {
    case IdentityError::kIo: return "I/O error";
    case IdentityError::kCorrupt: return "corrupt";
    case IdentityError::kInvalid: return "invalid";
    case IdentityError::kNameMismatch: return "name mismatch";
  }
  return "unknown";
}

std::string encode_identity(const BrokerIdentity& id) {
  return id.cluster_name + "#" + id.broker_name + "#" + std::to_string(id.broker_id);
}

std::string encode_temp_identity(const TempBrokerIdentity& id) {
  return id.cluster_name + "#" + id.broker_name + "#" + std::to_string(id.broker_id) + "#" + id.register_check_code;
}

Result<BrokerIdentity, IdentityError> parse_identity(std::string_view text) {
  auto f = split_hash(text);
  if (f.size() != 3) return corrupt(text, "brokerIdentity needs cluster#brokerName#id");
  BrokerIdentity id{std::string(f[0]), std::string(f[1]), -1};
  if (f[0].empty() || f[1].empty()) return corrupt(text, "empty cluster or broker name");
  if (!parse_id(f[2], &id.broker_id)) return corrupt(text, "bad broker id");
  return id;
}

Result<TempBrokerIdentity, IdentityError> parse_temp_identity(std::string_view text) {
  auto f = split_hash(text);
  if (f.size() != 4) return corrupt(text, "brokerIdentity-temp needs cluster#brokerName#id#registerCheckCode");
  TempBrokerIdentity id{std::string(f[0]), std::string(f[1]), -1, std::string(f[3])};
  if (f[0].empty() || f[1].empty()) return corrupt(text, "empty cluster or broker name");
  if (!parse_id(f[2], &id.broker_id)) return corrupt(text, "bad broker id");
  if (f[3].empty()) return corrupt(text, "empty registerCheckCode");
  return id;
}

Result<Unit, IdentityError> check_identity_names(const std::string& file, std::string_view file_cluster,
                                                 std::string_view file_broker, std::string_view config_cluster,
                                                 std::string_view config_broker) {
  if (file_cluster != config_cluster)
    return make_error(IdentityError::kNameMismatch,
                      "cluster name '" + std::string(file_cluster) + "' in " + file +
                          " differs from brokerClusterName '" + std::string(config_cluster) +
                          "' in the broker config; remove the file to re-register under the new name");
  if (file_broker != config_broker)
    return make_error(IdentityError::kNameMismatch,
                      "broker name '" + std::string(file_broker) + "' in " + file + " differs from brokerName '" +
                          std::string(config_broker) +
                          "' in the broker config; remove the file to re-register under the new name");
  return Unit{};
}

Result<std::optional<std::string>, IdentityError> BrokerIdentityFiles::read_text(const std::string& path) const {
  auto f = fs_->open(path, false);
  if (!f) {
    if (f.code() == IoError::kNotFound) return std::optional<std::string>();
    return make_error(IdentityError::kIo, f.detail());
  }
  int64_t size = (*f)->size();
  if (size > kMaxFileBytes)
    return make_error(IdentityError::kCorrupt, path + " is " + std::to_string(size) + " bytes");
  std::string text(static_cast<size_t>(std::max<int64_t>(size, 0)), '\0');
  auto r = (*f)->read_at(0, text.data(), text.size());
  if (!r) return make_error(IdentityError::kIo, r.detail());
  text.resize(*r);
  return std::optional<std::string>(std::move(text));
}

Result<std::optional<BrokerIdentity>, IdentityError> BrokerIdentityFiles::read_identity() const {
  auto text = read_text(identity_path_);
  if (!text) return text.error();
  if (!*text) return std::optional<BrokerIdentity>();
  auto id = parse_identity(**text);
  if (!id) return make_error(id.code(), identity_path_ + ": " + id.detail());
  return std::optional<BrokerIdentity>(std::move(*id));
}

Result<std::optional<TempBrokerIdentity>, IdentityError> BrokerIdentityFiles::read_temp() const {
  auto text = read_text(temp_path_);
  if (!text) return text.error();
  if (!*text) return std::optional<TempBrokerIdentity>();
  auto id = parse_temp_identity(**text);
  if (!id) return make_error(id.code(), temp_path_ + ": " + id.detail());
  return std::optional<TempBrokerIdentity>(std::move(*id));
}

Result<Unit, IdentityError> BrokerIdentityFiles::remove_file(const std::string& path) {
  if (!fs_->exists(path)) return Unit{};
  if (auto r = fs_->remove(path); !r && r.code() != IoError::kNotFound)
    return make_error(IdentityError::kIo, r.detail());
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  if (auto r = fs_->sync_directory(dir); !r) return make_error(IdentityError::kIo, r.detail());
  return Unit{};
}

Result<Unit, IdentityError> BrokerIdentityFiles::rewrite(const std::string& path, const std::string& content) {
  // RocketMQ deletes first, so the backup step below finds nothing to copy.
  if (auto r = remove_file(path); !r) return r;
  auto w = write_file_with_backup(*fs_, path, content, nullptr);
  if (!w) return make_error(IdentityError::kIo, "writing " + path + ": " + w.detail());
  return Unit{};
}

Result<Unit, IdentityError> BrokerIdentityFiles::write_identity(const BrokerIdentity& id) {
  if (auto c = check_storable(id.cluster_name, id.broker_name, id.broker_id); !c) return c;
  return rewrite(identity_path_, encode_identity(id));
}

Result<Unit, IdentityError> BrokerIdentityFiles::write_temp(const TempBrokerIdentity& id) {
  if (auto c = check_storable(id.cluster_name, id.broker_name, id.broker_id); !c) return c;
  if (!storable(id.register_check_code))
    return make_error(IdentityError::kInvalid,
                      "registerCheckCode must be non-empty and free of '#': '" + id.register_check_code + "'");
  return rewrite(temp_path_, encode_temp_identity(id));
}

Result<Unit, IdentityError> BrokerIdentityFiles::remove_identity() { return remove_file(identity_path_); }
Result<Unit, IdentityError> BrokerIdentityFiles::remove_temp() { return remove_file(temp_path_); }

Result<BrokerIdentityFiles::Loaded, IdentityError> BrokerIdentityFiles::load(std::string_view config_cluster,
                                                                             std::string_view config_broker) const {
  Loaded out;
  auto id = read_identity();
  if (id) {
    if (*id) {
      if (auto c = check_identity_names(identity_path_, (*id)->cluster_name, (*id)->broker_name, config_cluster,
                                        config_broker);
          !c)
        return c.error();
      out.identity = std::move(**id);
      return out;
    }
  } else if (id.code() == IdentityError::kCorrupt) {
    out.warnings.push_back(id.detail() + "; treated as absent");
  } else {
    return id.error();
  }
  auto temp = read_temp();
  if (temp) {
    if (*temp) {
      if (auto c = check_identity_names(temp_path_, (*temp)->cluster_name, (*temp)->broker_name, config_cluster,
                                        config_broker);
          !c)
        return c.error();
      out.temp = std::move(**temp);
    }
  } else if (temp.code() == IdentityError::kCorrupt) {
    out.warnings.push_back(temp.detail() + "; treated as absent");
  } else {
    return temp.error();
  }
  return out;
}

}  // namespace mq::store
