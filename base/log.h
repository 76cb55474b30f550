// Logging with a per-owner prefix (e.g. "[broker-a:0]"), so the lines of many brokers in one
// process can be told apart. A LogSink serialises whole lines from any thread; loggers are cheap
// values that carry a sink and a prefix, and nothing about logging is global mutable state except
// the process-wide default sink, which only changes at start-up.
#pragma once
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace mq {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

class LogSink {
 public:
  explicit LogSink(std::FILE* out, LogLevel min_level = LogLevel::kInfo)
      : out_(out), min_level_(min_level) {}
  // Opens `path` for appending; returns nullptr (and leaves errno) when it cannot.
  static std::shared_ptr<LogSink> open_file(const std::string& path, LogLevel min_level);
  ~LogSink();

  void write(LogLevel level, std::string_view prefix, std::string_view message);
  bool enabled(LogLevel level) const { return level >= min_level_; }
  void set_min_level(LogLevel level) { min_level_ = level; }

 private:
  std::mutex mu_;
  std::FILE* out_;
  bool owns_ = false;
  LogLevel min_level_;
};

// The sink used when nothing else is configured: stderr at INFO (MQ_LOG_LEVEL=debug|info|warn|error
// changes the level).
std::shared_ptr<LogSink> default_log_sink();

class Logger {
 public:
  Logger() : Logger(default_log_sink(), "") {}
  Logger(std::shared_ptr<LogSink> sink, std::string prefix)
      : sink_(std::move(sink)), prefix_(std::move(prefix)) {}

  Logger with_prefix(std::string prefix) const { return Logger(sink_, std::move(prefix)); }
  const std::string& prefix() const { return prefix_; }

  void debug(std::string_view m) const { log(LogLevel::kDebug, m); }
  void info(std::string_view m) const { log(LogLevel::kInfo, m); }
  void warn(std::string_view m) const { log(LogLevel::kWarn, m); }
  void error(std::string_view m) const { log(LogLevel::kError, m); }
  void log(LogLevel level, std::string_view m) const {
    if (sink_->enabled(level)) sink_->write(level, prefix_, m);
  }
  bool enabled(LogLevel level) const { return sink_->enabled(level); }

 private:
  std::shared_ptr<LogSink> sink_;
  std::string prefix_;
};

}  // namespace mq
