// The controller-mode broker identity files (reference 4.4 and the last point of 6.6; RocketMQ's
// BrokerMetadata and TempBrokerMetadata). Both live next to each other, by default in the store
// root (`storePathBrokerIdentity` = <storePathRootDir>/brokerIdentity):
//
//   brokerIdentity        "<cluster>#<brokerName>#<brokerId>"                     e.g. c1#broker-a#2
//   brokerIdentity-temp   "<cluster>#<brokerName>#<brokerId>#<registerCheckCode>"
//
// UTF-8, no trailing newline. brokerId is the controller-assigned id (decimal, >= 0 here; the
// controller hands out ids from 1); registerCheckCode is "<brokerAddr>;<currentTimeMillis>". '#'
// separates the fields, so no field may contain one. The temp file records an id the broker asked
// the controller for (CONTROLLER_GET_NEXT_BROKER_ID) and is about to apply; once the controller
// has committed it (CONTROLLER_APPLY_BROKER_ID), brokerIdentity is written and the temp removed.
//
// Writing, as RocketMQ's MetadataFile.writeToFile: the file is deleted, then written through the
// same backup-then-overwrite routine as the epoch file (write_file_with_backup); since the file
// was just deleted there is nothing to back up, so normally no `.bak` appears. Each write is
// fsync'd with its directory. `.bak` is never read: RocketMQ does not read it either, and an
// operator who removed brokerIdentity to reset a broker must not see it come back.
//
// After a crash: between the delete and the write there is no file, and a torn write leaves a file
// that does not parse. Both are harmless in the order the registration uses: brokerIdentity is
// written (and synced) before the temp file is removed, so a broker that lost brokerIdentity still
// finds the temp file and re-applies the same id; one that lost the temp file asks for a new id.
// load() therefore treats an unparsable file as absent (with a warning), as RocketMQ does (its
// decode throws and the file counts as not loaded). A cluster or broker name that differs from
// the configuration is an error (RocketMQ then fails every registration, issue #7704): the files
// must be removed by hand when a broker is renamed.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "store/file.h"

namespace mq::store {

enum class IdentityError {
  kIo,            // the file system failed (other than "not found")
  kCorrupt,       // the file exists but does not hold what the format allows
  kInvalid,       // a value given to write cannot be stored (empty, holds '#', negative id)
  kNameMismatch,  // the file names another cluster or broker than the configuration
};
const char* identity_error_name(IdentityError e);

struct BrokerIdentity {
  std::string cluster_name;
  std::string broker_name;
  int64_t broker_id = -1;
  bool operator==(const BrokerIdentity&) const = default;
};

struct TempBrokerIdentity {
  std::string cluster_name;
  std::string broker_name;
  int64_t broker_id = -1;
  std::string register_check_code;
  bool operator==(const TempBrokerIdentity&) const = default;
};

std::string encode_identity(const BrokerIdentity& id);
std::string encode_temp_identity(const TempBrokerIdentity& id);
// Exactly three (four) '#'-separated fields, non-empty, the id a non-negative decimal.
Result<BrokerIdentity, IdentityError> parse_identity(std::string_view text);
Result<TempBrokerIdentity, IdentityError> parse_temp_identity(std::string_view text);

// kNameMismatch naming both values when the file's names are not the configured ones.
Result<Unit, IdentityError> check_identity_names(const std::string& file, std::string_view file_cluster,
                                                 std::string_view file_broker, std::string_view config_cluster,
                                                 std::string_view config_broker);

class BrokerIdentityFiles {
 public:
  static constexpr int64_t kMaxFileBytes = 64 << 10;

  // identity_path is brokerIdentity's path; the temp file is identity_path + "-temp".
  BrokerIdentityFiles(FileSystem& fs, std::string identity_path)
      : fs_(&fs), identity_path_(std::move(identity_path)), temp_path_(identity_path_ + "-temp") {}
  static std::string default_path(const std::string& store_root_dir) {
    return join_path(store_root_dir, "brokerIdentity");
  }

  const std::string& identity_path() const { return identity_path_; }
  const std::string& temp_path() const { return temp_path_; }

  // nullopt when the file does not exist.
  Result<std::optional<BrokerIdentity>, IdentityError> read_identity() const;
  Result<std::optional<TempBrokerIdentity>, IdentityError> read_temp() const;
  // Delete, then write and fsync (see the header).
  Result<Unit, IdentityError> write_identity(const BrokerIdentity& id);
  Result<Unit, IdentityError> write_temp(const TempBrokerIdentity& id);
  // Missing files are not an error.
  Result<Unit, IdentityError> remove_identity();
  Result<Unit, IdentityError> remove_temp();

  struct Loaded {
    std::optional<BrokerIdentity> identity;  // set: registration continues at step 4
    std::optional<TempBrokerIdentity> temp;  // set (and identity not): continues at step 3
    std::vector<std::string> warnings;       // unparsable files that were treated as absent
  };
  // Step 0 of reference 4.4: brokerIdentity if it is usable, else brokerIdentity-temp; the names
  // of the file used are checked against the configuration.
  Result<Loaded, IdentityError> load(std::string_view config_cluster, std::string_view config_broker) const;

 private:
  Result<std::optional<std::string>, IdentityError> read_text(const std::string& path) const;
  Result<Unit, IdentityError> rewrite(const std::string& path, const std::string& content);
  Result<Unit, IdentityError> remove_file(const std::string& path);

  FileSystem* fs_;
  std::string identity_path_;
  std::string temp_path_;
};

}  // namespace mq::store
