// libFuzzer target: configuration text, and the small text files of a controller-mode store. Byte 0
// picks ONE reader (byte 0 % 12), the rest is one file's text:
//   0, 1, 2  parsed as a properties file (base/config.h) and loaded into the broker's, the
//            container's or the NameServer's config
//   3, 4, 5  the same, parsed as TOML
//   6        an UPDATE_BROKER_CONFIG body (parse_properties_text) applied to a default broker config
//   7        an UPDATE_NAMESRV_CONFIG body applied to a NameServer config
//   8        a dLegerPeers value and a dLegerSelfId-style node entry
//   9        an epochFileCheckpoint (store/epoch_file.h): what parses is strictly ascending with
//            derived end offsets, and its serialized text parses to the same entries
//   10       an epoch file on the in-memory file system: sections (fuzz_util.h) of kind % 4 give
//            the file (0), its .bak (1), changes (2: byte 0 % 5 picks append, truncate_suffix_from,
//            truncate_prefix_below, remove_epochs_at_or_above or a crash, big-endian values follow)
//            and a master's epoch file (3) for find_consistent_point. The file opens with the
//            entries of the file, else of the .bak; after every change (and every crash) it opens
//            again with the last non-empty entries it had
//   11       brokerIdentity / brokerIdentity-temp text (store/broker_identity.h): what parses is
//            written and read back equal; the same text as both files loads or is a name mismatch
// A broker config that loads prints properties (GET_BROKER_CONFIG) that must parse again. Nothing
// here touches the disk (load_config_file is the only reader of files, and it only adds the read
// itself; 10 and 11 use the in-memory file system). One reader per input keeps the target at
// several thousand inputs a second; the seeds (make_seeds.py) carry every config file once per
// selector 0-8, and the epoch and identity files for 9-11.
#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/config.h"
#include "broker/broker_config.h"
#include "container/container_config.h"
#include "namesrv/namesrv_config.h"
#include "store/broker_identity.h"
#include "store/epoch_file.h"
#include "store/fault_fs.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

void use_file(mq::ConfigFile file, int which) {
  if (which == 0) {
    // Without brokerIP1 the broker asks the network interfaces (getifaddrs): keep the target pure.
    if (!file.find("brokerIP1")) file.entries.insert(file.entries.begin(), mq::ConfigEntry{"brokerIP1", "127.0.0.1", 0});
    mq::BrokerConfig broker;
    if (auto r = broker.load(file); r.ok()) {
      std::string props = broker.to_properties();
      (void)broker.bound_port_sources();
      (void)broker.identity();
      if (broker.is_dledger()) (void)broker.dledger_self();
      // What GET_BROKER_CONFIG prints must load again.
      auto again = mq::parse_properties("again.properties", props);
      FUZZ_CHECK(again.ok());
    }
  } else if (which == 1) {
    mq::ContainerConfig container;
    if (container.load(file).ok()) (void)container.to_properties();
  } else {
    mq::NamesrvConfig namesrv;
    if (namesrv.load(file).ok()) (void)namesrv.to_properties();
  }
}

using mq::store::EpochEntry;
using mq::store::EpochFile;

bool same_starts(const std::vector<EpochEntry>& a, const std::vector<EpochEntry>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].epoch != b[i].epoch || a[i].start_offset != b[i].start_offset) return false;
  return true;
}

// Ascending in epoch and start, each end the next start, the last one `last_end` (or its start).
void check_entries(const std::vector<EpochEntry>& e, int64_t last_end) {
  for (size_t i = 0; i < e.size(); ++i) {
    FUZZ_CHECK(e[i].epoch >= 0 && e[i].start_offset >= 0);
    if (i > 0) FUZZ_CHECK(e[i].epoch > e[i - 1].epoch && e[i].start_offset > e[i - 1].start_offset);
    FUZZ_CHECK(e[i].end_offset == (i + 1 < e.size() ? e[i + 1].start_offset : std::max(last_end, e[i].start_offset)));
  }
}

void epoch_text(std::string_view text) {
  auto parsed = EpochFile::parse(text);
  if (!parsed.ok()) return;
  check_entries(*parsed, mq::store::kEpochOpenEnd);
  auto again = EpochFile::parse(EpochFile::serialize(*parsed));
  FUZZ_CHECK(again.ok() && *again == *parsed);
  FUZZ_CHECK(EpochFile::find_consistent_point(*parsed, 0, *parsed, 0) ==
             (parsed->empty() ? -1 : std::max<int64_t>(0, parsed->back().start_offset)));
}

uint64_t be(std::string_view b, size_t at, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v = (v << 8) | (at + i < b.size() ? static_cast<uint8_t>(b[at + i]) : 0);
  return v;
}

void put_file(mq::store::FileSystem& fs, const std::string& path, std::string_view text) {
  auto f = fs.open(path, true);
  FUZZ_CHECK(f.ok());
  FUZZ_CHECK((*f)->truncate(0).ok());
  FUZZ_CHECK((*f)->write_at(0, text.data(), text.size()).ok());
  FUZZ_CHECK((*f)->sync().ok());
}

void epoch_file(std::string_view in) {
  const std::string path = "/store/epochFileCheckpoint";
  mq::store::FaultInjectingFileSystem fs;
  FUZZ_CHECK(fs.create_directories("/store").ok());
  auto sections = mq::fuzz::split_sections(in, 24);
  std::optional<std::string_view> main_text, bak_text, master_text;
  for (const auto& s : sections) {
    if (s.kind % 4 == 0 && !main_text) main_text = s.bytes;
    if (s.kind % 4 == 1 && !bak_text) bak_text = s.bytes;
    if (s.kind % 4 == 3 && !master_text) master_text = s.bytes;
  }
  if (main_text) put_file(fs, path, *main_text);
  if (bak_text) put_file(fs, path + ".bak", *bak_text);
  auto file = EpochFile::open(fs, path);
  FUZZ_CHECK(file.ok());
  // What open() must have taken: the file if it parses with entries, else the .bak likewise.
  std::vector<EpochEntry> expect;
  auto usable = [](std::optional<std::string_view> t) {
    if (!t) return std::optional<std::vector<EpochEntry>>();
    auto p = EpochFile::parse(*t);
    return p.ok() && !p->empty() ? std::optional<std::vector<EpochEntry>>(*p) : std::nullopt;
  };
  if (auto m = usable(main_text)) {
    expect = *m;
    FUZZ_CHECK(file->load_warning().empty());
  } else if (auto b = usable(bak_text)) {
    expect = *b;
  }
  FUZZ_CHECK(same_starts(file->entries(), expect));
  std::vector<EpochEntry> on_disk = expect;  // the entries a reopen must find

  for (const auto& s : sections) {
    if (s.kind % 4 != 2 || s.bytes.empty()) continue;
    const std::string_view b = s.bytes;
    const uint8_t op = static_cast<uint8_t>(b[0]) % 5;
    if (op == 4) {
      fs.crash();
    } else {
      mq::Result<mq::Unit, std::string> r = mq::Unit{};
      if (op == 0) {
        // Mostly a legal next entry (bit 7 of byte 1 clear: small steps past the last one), else raw values.
        int32_t epoch;
        int64_t start;
        if ((be(b, 1, 1) & 0x80) == 0) {
          auto last = file->last_entry();
          const int64_t last_epoch = last ? last->epoch : 0, last_start = last ? last->start_offset : 0;
          const auto step = static_cast<int64_t>(be(b, 2, 2));
          epoch = static_cast<int32_t>(std::min<int64_t>(last_epoch + static_cast<int64_t>(be(b, 1, 1) & 3), INT32_MAX));
          start = last_start > INT64_MAX - step ? INT64_MAX : last_start + step;
        } else {
          epoch = static_cast<int32_t>(be(b, 2, 4));
          start = static_cast<int64_t>(be(b, 6, 8));
        }
        const auto before = file->entries();
        r = file->append(epoch, start);
        const bool legal = epoch >= 0 && start >= 0 &&
                           (before.empty() || (epoch > before.back().epoch && start > before.back().start_offset));
        FUZZ_CHECK(r.ok() == legal);
        if (r.ok()) FUZZ_CHECK(file->size() == before.size() + 1 && file->last_epoch() == epoch);
      } else if (op == 1) {
        int64_t offset = static_cast<int64_t>(be(b, 1, 8));
        r = file->truncate_suffix_from(offset);
        for (const auto& e : file->entries()) FUZZ_CHECK(e.start_offset < offset);
      } else if (op == 2) {
        int64_t offset = static_cast<int64_t>(be(b, 1, 8));
        r = file->truncate_prefix_below(offset);
      } else {
        int32_t epoch = static_cast<int32_t>(be(b, 1, 4));
        r = file->remove_epochs_at_or_above(epoch);
        for (const auto& e : file->entries()) FUZZ_CHECK(e.epoch < epoch);
      }
      FUZZ_CHECK(r.ok() || op == 0);  // the in-memory file system never fails
      if (!file->empty()) on_disk = file->entries();
    }
    check_entries(file->entries(), mq::store::kEpochOpenEnd);
    auto again = EpochFile::open(fs, path);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(same_starts(again->entries(), on_disk));
  }

  if (master_text) {
    auto master = EpochFile::parse(*master_text);
    if (master.ok()) {
      const auto slave = file->entries();
      const int64_t master_max = master->empty() ? 0 : master->back().start_offset + 7;
      const int64_t slave_max = slave.empty() ? 0 : slave.back().start_offset + 3;
      const int64_t p = EpochFile::find_consistent_point(*master, master_max, slave, slave_max);
      FUZZ_CHECK(p >= -1);
      if (p >= 0) {
        // Some epoch both hold with the same start, the point inside both of its ranges.
        bool found = false;
        for (const auto& s : slave)
          for (const auto& m : *master)
            if (s.epoch == m.epoch && s.start_offset == m.start_offset && s.start_offset <= p) found = true;
        FUZZ_CHECK(found);
        FUZZ_CHECK(p <= std::max(master_max, master->back().start_offset) && p <= slave_max);
      }
    }
  }
}

void identity(std::string_view text) {
  using namespace mq::store;
  FaultInjectingFileSystem fs;
  FUZZ_CHECK(fs.create_directories("/store").ok());
  BrokerIdentityFiles files(fs, "/store/brokerIdentity");
  if (auto id = parse_identity(text); id.ok()) {
    FUZZ_CHECK(id->broker_id >= 0 && !id->cluster_name.empty() && !id->broker_name.empty());
    auto again = parse_identity(encode_identity(*id));
    FUZZ_CHECK(again.ok() && *again == *id);
    FUZZ_CHECK(files.write_identity(*id).ok());
    auto read = files.read_identity();
    FUZZ_CHECK(read.ok() && *read && **read == *id);
    auto loaded = files.load(id->cluster_name, id->broker_name);
    FUZZ_CHECK(loaded.ok() && loaded->identity == *id && !loaded->temp);
    FUZZ_CHECK(files.remove_identity().ok());
  }
  if (auto id = parse_temp_identity(text); id.ok()) {
    FUZZ_CHECK(id->broker_id >= 0 && !id->register_check_code.empty());
    auto again = parse_temp_identity(encode_temp_identity(*id));
    FUZZ_CHECK(again.ok() && *again == *id);
    FUZZ_CHECK(files.write_temp(*id).ok());
    auto loaded = files.load(id->cluster_name, id->broker_name);
    FUZZ_CHECK(loaded.ok() && !loaded->identity && loaded->temp == *id);
    FUZZ_CHECK(files.remove_temp().ok());
  }
  // The same bytes as both files: loads (what does not parse is treated as absent) or is refused
  // for naming another broker, never an I/O error.
  put_file(fs, files.identity_path(), text);
  put_file(fs, files.temp_path(), text);
  auto loaded = files.load("c1", "broker-a");
  FUZZ_CHECK(loaded.ok() || loaded.code() == IdentityError::kNameMismatch);
  if (loaded.ok()) FUZZ_CHECK(!(loaded->identity && loaded->temp));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int selector = data[0] % 12;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (selector) {
    case 0: case 1: case 2:
      if (auto f = mq::parse_properties("fuzz.properties", text); f.ok()) use_file(*f, selector);
      break;
    case 3: case 4: case 5:
      if (auto f = mq::parse_toml("fuzz.toml", text); f.ok()) use_file(*f, selector - 3);
      break;
    case 6: {
      mq::BrokerConfig broker;
      broker.broker_ip1 = "127.0.0.1";
      (void)broker.update(mq::parse_properties_text(text));
      break;
    }
    case 7: {
      mq::NamesrvConfig namesrv;
      (void)namesrv.update_live(mq::parse_properties_text(text));
      break;
    }
    case 8:
      (void)mq::parse_dledger_peers(text);
      (void)mq::parse_dledger_node(text);
      break;
    case 9: epoch_text(text); break;
    case 10: epoch_file(text); break;
    default: identity(text); break;
  }
  return 0;
}
