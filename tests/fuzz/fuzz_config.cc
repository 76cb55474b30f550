// libFuzzer target: configuration text. The input is one file's text; it is parsed as a properties
// file and as TOML (base/config.h), and each ConfigFile that parses is loaded into the broker's, the
// container's and the NameServer's configs. The text is also read as an UPDATE_*_CONFIG body
// (parse_properties_text) and applied to a loaded broker and NameServer config, and as a dLegerPeers
// value. Nothing here touches the disk (load_config_file is the only reader of files, and it only
// adds the read itself).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/config.h"
#include "broker/broker_config.h"
#include "container/container_config.h"
#include "namesrv/namesrv_config.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

void use_file(mq::ConfigFile file) {
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
  mq::ContainerConfig container;
  if (container.load(file).ok()) (void)container.to_properties();
  mq::NamesrvConfig namesrv;
  if (namesrv.load(file).ok()) (void)namesrv.to_properties();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (auto f = mq::parse_properties("fuzz.properties", text); f.ok()) use_file(*f);
  if (auto f = mq::parse_toml("fuzz.toml", text); f.ok()) use_file(*f);

  auto pairs = mq::parse_properties_text(text);
  mq::BrokerConfig broker;
  broker.broker_ip1 = "127.0.0.1";
  (void)broker.update(pairs);
  mq::NamesrvConfig namesrv;
  (void)namesrv.update_live(pairs);
  (void)mq::parse_dledger_peers(text);
  (void)mq::parse_dledger_node(text);
  return 0;
}
