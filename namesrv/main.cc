// mqnamesrv: the NameServer. Flags as RocketMQ's: -c config file, -p print the effective config
// and exit, -h usage.
#include <algorithm>
#include <cerrno>
#include <memory>
#include <vector>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <getopt.h>
#include <string>

#include "base/config.h"
#include "controller/controller_service.h"
#include "namesrv/namesrv_controller.h"
#include "runtime/event_loop.h"
#include "runtime/worker_pool.h"
#include "store/file.h"

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
  ControllerConfig controller_config;
  Logger log(default_log_sink(), "[namesrv]");
  if (!config_path.empty()) {
    auto file = load_config_file(config_path);
    if (!file.ok()) {
      std::fprintf(stderr, "mqnamesrv: %s\n", file.detail().c_str());
      return 1;
    }
    auto unknown = config.load(*file);
    if (!unknown.ok()) {
      std::fprintf(stderr, "mqnamesrv: %s\n", unknown.detail().c_str());
      return 1;
    }
    std::vector<std::string> ignored = *unknown;
    if (config.enable_controller_in_namesrv) {
      // One file for both: a key is ignored only when neither of them knows it.
      auto controller_unknown = controller_config.load(*file);
      if (!controller_unknown.ok()) {
        std::fprintf(stderr, "mqnamesrv: %s\n", controller_unknown.detail().c_str());
        return 1;
      }
      std::erase_if(ignored, [&](const std::string& k) {
        return std::find(controller_unknown->begin(), controller_unknown->end(), k) == controller_unknown->end();
      });
    }
    for (const auto& key : ignored) log.warn(key + " (ignored)");
  } else if (config.enable_controller_in_namesrv) {
    std::fprintf(stderr, "mqnamesrv: enableControllerInNamesrv needs a config file with the controller keys\n");
    return 1;
  }
  if (print_config) {
    std::fputs(config.to_properties().c_str(), stdout);
    if (config.enable_controller_in_namesrv) std::fputs(controller_config.to_properties().c_str(), stdout);
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
    store::PosixFileSystem fs;
    SystemClock clock;
    NamesrvController controller(loop, config, log);
    auto port = controller.start();
    if (!port.ok()) {
      std::fprintf(stderr, "mqnamesrv: %s\n", port.detail().c_str());
      return 1;
    }
    std::unique_ptr<WorkerPool> controller_pool;
    std::unique_ptr<ControllerService> embedded;
    if (config.enable_controller_in_namesrv) {
      controller_pool = std::make_unique<WorkerPool>(loop, 1);
      embedded = std::make_unique<ControllerService>(loop, controller_pool->make_strand(), fs, clock, 
                                                     log.with_prefix("[controller " + controller_config.dleger_self_id + "]"),
                                                     controller_config);
      auto cport = embedded->start();
      if (!cport.ok()) {
        std::fprintf(stderr, "mqnamesrv: controller: %s\n", cport.detail().c_str());
        embedded->shutdown();
        controller.shutdown();
        return 1;
      }
      std::printf("The Controller boot success. group=%s selfId=%s listenPort=%d\n",
                  controller_config.dleger_group.c_str(), controller_config.dleger_self_id.c_str(), *cport);
    }
    std::printf("The Name Server boot success. serializeType=JSON listenPort=%d\n", *port);
    std::fflush(stdout);
    log.info("listening on " + config.bind_address + ":" + std::to_string(*port));
    SignalWatcher signals(loop, [&](int signum) {
      log.info(std::string("shutting down on ") + (signum == SIGTERM ? "SIGTERM" : "SIGINT"));
      if (embedded) embedded->shutdown();
      controller.shutdown();
      loop.stop();
    });
    loop.run();
  }
  loop.close_and_drain();
  return exit_code;
}
