// A broker that stores nothing on disk: it registers one topic with the NameServers, answers
// sends from memory, serves pulls (with long polling) from what it kept, and tracks heartbeats,
// group members and offsets. It exists to measure the client and the benchmark by themselves (the
// ceiling any real broker is measured against on the same machine) and to check mqbench and
// run_scenarios.sh end to end before a real broker is available. Not a broker: no persistence,
// no flush, no tag filtering on the broker side.
#pragma once
#include <cstdint>
#include <string>

namespace mq::bench {

struct NullBrokerOptions {
  std::string name_servers = "127.0.0.1:9876";
  std::string cluster = "DefaultCluster";
  std::string broker_name = "null-broker";
  std::string host = "127.0.0.1";
  int port = 10911;
  std::string topic = "BenchmarkTest";
  int32_t queues = 8;
  size_t keep_bytes = 512u * 1024 * 1024;  // messages beyond this are acknowledged but dropped
  int64_t run_seconds = 0;                 // 0 = until SIGINT/SIGTERM
};

int run_null_broker(const NullBrokerOptions& options);

}  // namespace mq::bench
