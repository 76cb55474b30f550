#include "base/log.h"

#include <sys/time.h>

#include <cstdlib>
#include <cstring>
#include <ctime>

namespace mq {

std::shared_ptr<LogSink> LogSink::open_file(const std::string& path, LogLevel min_level) {
  std::FILE* f = std::fopen(path.c_str(), "a");
  if (f == nullptr) return nullptr;
  auto sink = std::make_shared<LogSink>(f, min_level);
  sink->owns_ = true;
  return sink;
}

LogSink::~LogSink() {
  if (owns_) std::fclose(out_);
}

void LogSink::write(LogLevel level, std::string_view prefix, std::string_view message) {
  static constexpr const char* kNames[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
  timeval tv{};
  gettimeofday(&tv, nullptr);
  tm parts{};
  localtime_r(&tv.tv_sec, &parts);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &parts);
  std::lock_guard<std::mutex> lock(mu_);
  std::fprintf(out_, "%s.%03d %s %.*s%s%.*s\n", stamp, static_cast<int>(tv.tv_usec / 1000),
               kNames[static_cast<int>(level)], static_cast<int>(prefix.size()), prefix.data(),
               prefix.empty() ? "" : " ", static_cast<int>(message.size()), message.data());
  std::fflush(out_);
}

std::shared_ptr<LogSink> default_log_sink() {
  static std::shared_ptr<LogSink> sink = [] {
    LogLevel level = LogLevel::kInfo;
    if (const char* env = std::getenv("MQ_LOG_LEVEL")) {
      if (std::strcmp(env, "debug") == 0) level = LogLevel::kDebug;
      if (std::strcmp(env, "warn") == 0) level = LogLevel::kWarn;
      if (std::strcmp(env, "error") == 0) level = LogLevel::kError;
    }
    return std::make_shared<LogSink>(stderr, level);
  }();
  return sink;
}

}  // namespace mq
