// mqnamesrv: the NameServer. Flags as RocketMQ's: -c config file, -p print the effective config
// and exit, -h usage.
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
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
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      usage(stdout);
      return 0;
    } else if (a == "-p" || a == "--printConfigItem") {
      print_config = true;
    } else if ((a == "-c" || a == "--configFile") && i + 1 < argc) {
      config_path = argv[++i];
    } else {
      std::fprintf(stderr, "mqnamesrv: unknown or incomplete option '%s'\n", a.c_str());
      usage(stderr);
      return 2;
    }
  }
  NamesrvConfig config;
  Logger log(default_log_sink(), "[namesrv]");
  if (!config_path.empty()) {
    auto file = load_config_file(config_path);
    if (!file.ok()) {
      std::fprintf(stderr, "mqnamesrv: %s\n", file.detail().c_str());
      return 1;
    }
    auto warnings = config.load(*file);
    if (!warnings.ok()) {
      std::fprintf(stderr, "mqnamesrv: %s\n", warnings.detail().c_str());
      return 1;
    }
    for (const auto& w : *warnings) log.warn(w + " (ignored)");
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
