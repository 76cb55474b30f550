// libFuzzer target: configuration text. Byte 0 picks ONE reader (byte 0 % 9), the rest is one
// file's text:
//   0, 1, 2  parsed as a properties file (base/config.h) and loaded into the broker's, the
//            container's or the NameServer's config
//   3, 4, 5  the same, parsed as TOML
//   6        an UPDATE_BROKER_CONFIG body (parse_properties_text) applied to a default broker config
//   7        an UPDATE_NAMESRV_CONFIG body applied to a NameServer config
//   8        a dLegerPeers value and a dLegerSelfId-style node entry
// A broker config that loads prints properties (GET_BROKER_CONFIG) that must parse again. Nothing
// here touches the disk (load_config_file is the only reader of files, and it only adds the read
// itself). One reader per input keeps the target at several thousand inputs a second; the seeds
// (make_seeds.py) carry every config file once per selector.
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int selector = data[0] % 9;
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
    default:
      (void)mq::parse_dledger_peers(text);
      (void)mq::parse_dledger_node(text);
      break;
  }
  return 0;
}
