// mqnamesrv: the NameServer. Flags as RocketMQ's: -c config file, -p print the effective config
// and exit, -h usage.
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <getopt.h>
#include <string>

#include "base/config.h"
#include "namesrv/namesrv_controller.h"
#include "runtime/event_loop.h"

using namespace mq;

namespace {
void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: mqnamesrv [-c configFile] [-p] [-h]\n"
               "  -c, --configFile <file>   properties (key=value) or TOML (*.toml) config\n"
               "  -p, --printConfigItem     print the effective config and exit\n"
               "  -h, --help                print this help and exit\n");
}
}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  bool print_config = false;
  static const option kOptions[] = {{"configFile", required_argument, nullptr, 'c'},
                                    {"printConfigItem", no_argument, nullptr, 'p'},
                                    {"help", no_argument, nullptr, 'h'},
                                    {nullptr, 0, nullptr, 0}};
  for (int opt; (opt = getopt_long(argc, argv, "c:ph", kOptions, nullptr)) != -1;) {
    switch (opt) {
      case 'c': config_path = optarg; break;
      case 'p': print_config = true; break;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;  // getopt_long has named the option
    }
  }
  if (optind < argc) {
    std::fprintf(stderr, "mqnamesrv: unexpected argument '%s'\n", argv[optind]);
    usage(stderr);
    return 2;
  }
  NamesrvConfig config;
  Logger log(default_log_sink(), "[namesrv]");
  if (!config_path.empty()) {
    auto loaded = load_config_into(config_path, config, log);
    if (!loaded.ok()) {
      std::fprintf(stderr, "mqnamesrv: %s\n", loaded.detail().c_str());
      return 1;
    }
  }
  if (print_config) {
    std::fputs(config.to_properties().c_str(), stdout);
    return 0;
  }
  if (!config.log_file.empty()) {
    auto sink = LogSink::open_file(config.log_file, LogLevel::kInfo);
    if (!sink) {
      std::fprintf(stderr, "mqnamesrv: cannot open log file %s: %s\n", config.log_file.c_str(), std::strerror(errno));
      return 1;
    }
    log = Logger(sink, "[namesrv]");
  }
  EventLoop loop;
  int exit_code = 0;
  {
    NamesrvController controller(loop, config, log);
    auto port = controller.start();
    if (!port.ok()) {
      std::fprintf(stderr, "mqnamesrv: %s\n", port.detail().c_str());
      return 1;
    }
    std::printf("The Name Server boot success. serializeType=JSON listenPort=%d\n", *port);
    std::fflush(stdout);
    log.info("listening on " + config.bind_address + ":" + std::to_string(*port));
    SignalWatcher signals(loop, [&](int signum) {
      log.info(std::string("shutting down on ") + (signum == SIGTERM ? "SIGTERM" : "SIGINT"));
      controller.shutdown();
      loop.stop();
    });
    loop.run();
  }
  loop.close_and_drain();
  return exit_code;
}
