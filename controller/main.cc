// mqcontroller: one member of a controller group on its own (RocketMQ 5.x's ControllerStartup,
// `bin/mqcontroller -c controller.conf`). Flags as RocketMQ's: -c config file, -p print the
// effective config and exit, -h usage. It listens on its controllerDLegerPeers port only.
#include <csignal>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <getopt.h>
#include <string>

#include "base/config.h"
#include "controller/controller_service.h"
#include "runtime/event_loop.h"
#include "runtime/worker_pool.h"
#include "store/file.h"

using namespace mq;

namespace {
void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: mqcontroller -c configFile [-p] [-h]\n"
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
      default: usage(stderr); return 2;
    }
  }
  if (optind < argc) {
    std::fprintf(stderr, "mqcontroller: unexpected argument '%s'\n", argv[optind]);
    usage(stderr);
    return 2;
  }
  if (config_path.empty()) {
    std::fprintf(stderr, "mqcontroller: a config file is required (-c): controllerDLegerGroup, "
                         "controllerDLegerPeers and controllerDLegerSelfId have no defaults\n");
    usage(stderr);
    return 2;
  }
  ControllerConfig config;
  Logger log(default_log_sink(), "[controller]");
  auto loaded = load_config_into(config_path, config, log);
  if (!loaded.ok()) {
    std::fprintf(stderr, "mqcontroller: %s\n", loaded.detail().c_str());
    return 1;
  }
  if (print_config) {
    std::fputs(config.to_properties().c_str(), stdout);
    return 0;
  }
  if (!config.log_file.empty()) {
    auto sink = LogSink::open_file(config.log_file, LogLevel::kInfo);
    if (!sink) {
      std::fprintf(stderr, "mqcontroller: cannot open log file %s: %s\n", config.log_file.c_str(), std::strerror(errno));
      return 1;
    }
    log = Logger(sink, "[controller]");
  }
  log = log.with_prefix("[controller " + config.dleger_self_id + "]");
  EventLoop loop;
  {
    store::PosixFileSystem fs;
    SystemClock clock;
    WorkerPool pool(loop, 1);
    ControllerService controller(loop, pool.make_strand(), fs, clock, log, config);
    auto port = controller.start();
    if (!port.ok()) {
      std::fprintf(stderr, "mqcontroller: %s\n", port.detail().c_str());
      controller.shutdown();
      loop.close_and_drain();
      return 1;
    }
    std::printf("The Controller boot success. group=%s selfId=%s listenPort=%d\n", config.dleger_group.c_str(),
                config.dleger_self_id.c_str(), *port);
    std::fflush(stdout);
    SignalWatcher signals(loop, [&](int signum) {
      log.info(std::string("shutting down on ") + (signum == SIGTERM ? "SIGTERM" : "SIGINT"));
      controller.shutdown();
      loop.stop();
    });
    loop.run();
  }
  loop.close_and_drain();
  return 0;
}
