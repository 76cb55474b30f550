// mqbrokercontainer: hosts the brokers listed in its config on one event loop and one worker pool.
// Flags as RocketMQ's BrokerContainerStartup: -c container config, -b broker config paths joined by
// ':' (overrides brokerConfigPaths), -p print the effective config and exit, -h usage; and -e: keep
// the other brokers running when one fails to start (default: refuse to start).
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <getopt.h>
#include <filesystem>
#include <string>

#include "base/file_util.h"
#include "container/broker_container.h"

using namespace mq;

namespace {
void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: mqbrokercontainer -c configFile [-b brokerConfigPaths] [-e] [-p] [-h]\n"
               "  -c, --configFile <file>          container config (properties, or TOML if *.toml)\n"
               "  -b, --brokerConfigPaths <a:b>    broker config files, ':'-separated (overrides the config)\n"
               "  -e, --continueOnFailure          keep the other brokers running if one fails to start\n"
               "  -p, --printConfigItem            print the effective container config and exit\n"
               "  -h, --help                       print this help and exit\n");
}
}  // namespace

int main(int argc, char** argv) {
  std::string config_path, broker_paths;
  bool print_config = false, keep_going = false, have_b = false;
  static const option kOptions[] = {{"configFile", required_argument, nullptr, 'c'},
                                    {"brokerConfigPaths", required_argument, nullptr, 'b'},
                                    {"continueOnFailure", no_argument, nullptr, 'e'},
                                    {"printConfigItem", no_argument, nullptr, 'p'},
                                    {"help", no_argument, nullptr, 'h'},
                                    {nullptr, 0, nullptr, 0}};
  for (int opt; (opt = getopt_long(argc, argv, "c:b:eph", kOptions, nullptr)) != -1;) {
    switch (opt) {
      case 'c': config_path = optarg; break;
      case 'b': broker_paths = optarg; have_b = true; break;
      case 'e': keep_going = true; break;
      case 'p': print_config = true; break;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;  // getopt_long has named the option
    }
  }
  if (optind < argc) {
    std::fprintf(stderr, "mqbrokercontainer: unexpected argument '%s'\n", argv[optind]);
    usage(stderr);
    return 2;
  }
  ContainerConfig config;
  Logger log(default_log_sink(), "[container]");
  if (!config_path.empty()) {
    auto loaded = load_config_into(config_path, config, log);
    if (!loaded.ok()) {
      std::fprintf(stderr, "mqbrokercontainer: %s\n", loaded.detail().c_str());
      return 1;
    }
  }
  if (have_b) config.broker_config_paths = broker_paths;
  if (keep_going) config.continue_on_broker_start_failure = true;
  if (print_config) {
    std::fputs(config.to_properties().c_str(), stdout);
    return 0;
  }
  std::shared_ptr<LogSink> sink = default_log_sink();
  if (!config.log_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(config.log_dir, ec);
    sink = LogSink::open_file(config.log_dir + "/container.log", LogLevel::kInfo);
    if (!sink) {
      std::fprintf(stderr, "mqbrokercontainer: cannot open %s/container.log: %s\n", config.log_dir.c_str(), std::strerror(errno));
      return 1;
    }
  }
  long open_files = raise_open_file_limit();
  if (open_files >= 0 && open_files < 65536)
    Logger(sink, "[container]")
        .warn("open file limit is " + std::to_string(open_files) +
              ": each mapped CommitLog/ConsumeQueue file holds a descriptor; raise it (ulimit -n 655350)");
  EventLoop loop;
  int rc = 0;
  {
    BrokerContainer container(loop, config, sink);
    auto started = container.start();
    if (!started.ok()) {
      std::fprintf(stderr, "mqbrokercontainer: %s\n", started.detail().c_str());
      container.shutdown();
      rc = 1;
    } else {
      std::printf("The broker container boot success. adminPort=%d brokers=%zu\n", container.admin_port(),
                  container.broker_count());
      std::fflush(stdout);
      {
        // The handler only stops the loop: shutdown runs the loop itself (to let unregistrations
        // leave), which must not happen inside a loop callback.
        SignalWatcher signals(loop, [&](int signum) {
          Logger(sink, "[container]").info(std::string("shutting down on ") + (signum == SIGTERM ? "SIGTERM" : "SIGINT"));
          loop.stop();
        });
        loop.run();
      }
      container.shutdown();
    }
  }
  loop.close_and_drain();
  return rc;
}
