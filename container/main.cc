// mqbrokercontainer: hosts the brokers listed in its config on one event loop and one worker pool.
// Flags as RocketMQ's BrokerContainerStartup: -c container config, -b broker config paths joined by
// ':' (overrides brokerConfigPaths), -p print the effective config and exit, -h usage; and -e: keep
// the other brokers running when one fails to start (default: refuse to start).
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
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
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      usage(stdout);
      return 0;
    } else if (a == "-p" || a == "--printConfigItem") {
      print_config = true;
    } else if (a == "-e" || a == "--continueOnFailure") {
      keep_going = true;
    } else if ((a == "-c" || a == "--configFile") && i + 1 < argc) {
      config_path = argv[++i];
    } else if ((a == "-b" || a == "--brokerConfigPaths") && i + 1 < argc) {
      broker_paths = argv[++i];
      have_b = true;
    } else {
      std::fprintf(stderr, "mqbrokercontainer: unknown or incomplete option '%s'\n", a.c_str());
      usage(stderr);
      return 2;
    }
  }
  ContainerConfig config;
  Logger log(default_log_sink(), "[container]");
  if (!config_path.empty()) {
    auto file = load_config_file(config_path);
    if (!file.ok()) {
      std::fprintf(stderr, "mqbrokercontainer: %s\n", file.detail().c_str());
      return 1;
    }
    auto warnings = config.load(*file);
    if (!warnings.ok()) {
      std::fprintf(stderr, "mqbrokercontainer: %s\n", warnings.detail().c_str());
      return 1;
    }
    for (const auto& w : *warnings) log.warn(w + " (ignored)");
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
