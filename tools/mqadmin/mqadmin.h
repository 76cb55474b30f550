// mqadmin's pieces shared by its source files: the command table's types and the helpers every
// command uses. main.cc parses the command line and holds the NameServer, topic, broker and
// container commands; consumer_commands.cc the consumer groups' offsets and statistics
// (consumerProgress, brokerConsumeStats, statsAll, resetOffsetByTime, producerConnection,
// topicClusterList); message_commands.cc reading messages (consumeMessage, printMsg,
// queryMsgByOffset); controller_commands.cc the controller-mode commands (getControllerMetaData,
// getSyncStateSet, getBrokerEpoch, electMaster, cleanBrokerMetadata, get/updateControllerConfig,
// with RocketMQ 5.x's names and flags). Names and flags are otherwise RocketMQ 4.9's mqadmin's;
// output is for people, or one JSON document with --json.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "client/admin_client.h"

namespace mq::mqadmin {

using Args = std::map<std::string, std::string>;

struct OptionSpec {
  std::string short_name;  // e.g. "t"
  std::string long_name;   // e.g. "topic"
  bool takes_value;
  bool required;
  std::string help;
};

struct Command {
  std::string name;
  std::string summary;
  std::vector<OptionSpec> options;
  std::function<int(Args&, bool json_out)> run;
};

// The options every command takes (-n namesrvAddr, -h help) after its own.
std::vector<OptionSpec> with_common(std::vector<OptionSpec> opts);
// Prints "mqadmin: <what>" on stderr and returns 1 (a command's failure status).
int fail(const std::string& what);
// -n, else $NAMESRV_ADDR.
std::string namesrv_of(Args& args);
// -b brokerAddr, or every master of -c clusterName; `err` says why there are none.
std::vector<std::string> target_brokers(AdminClient& admin, Args& args, std::string& err);
// The master address of each broker name in a topic's route, in route order.
std::vector<std::pair<std::string, std::string>> route_masters(const TopicRouteData& route);

// RocketMQ's MQVersion.getVersionDesc for the version a client sends ("V4_9_4" for 401).
std::string version_desc(int64_t version);
// A tool's timestamp option: milliseconds since the epoch, or local time as yyyy-MM-dd#HH:mm:ss:SSS
// (UtilAll.YYYY_MM_DD_HH_MM_SS_SSS). Nothing when it is neither.
std::optional<int64_t> parse_timestamp(const std::string& text);
// Java's "yyyy-MM-dd HH:mm:ss" (UtilAll.YYYY_MM_DD_HH_MM_SS) of a time in ms, local time.
std::string format_time(int64_t ms);

std::vector<Command> consumer_commands();
std::vector<Command> message_commands();
std::vector<Command> query_commands();
std::vector<Command> controller_commands();

}  // namespace mq::mqadmin
