// Child processes for multi-process tests: start a real binary with its output captured, wait for a
// line or for exit with a deadline, and stop only the processes this test started, by PID.
#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace mq::test {

class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess();  // SIGKILLs the child if it is still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Starts argv[0] with the given arguments; stdout and stderr are captured together.
  bool start(const std::vector<std::string>& argv);
  // Waits until a captured line contains `needle`; returns that line, or nothing on timeout/exit.
  std::optional<std::string> wait_for_line(const std::string& needle, std::chrono::milliseconds timeout);
  // Sends a signal to the child (only ever to this PID).
  void signal(int signum);
  // Waits for exit; returns the exit status (128+signal when killed), or nothing on timeout.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  bool running();
  int pid() const { return pid_; }
  const std::string& output() const { return output_; }

 private:
  void read_available(int timeout_ms);
  int pid_ = -1;
  int out_fd_ = -1;
  std::string output_;
  size_t scanned_ = 0;
  std::optional<int> status_;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;
};
// Runs a command to completion (bounded by `timeout`), capturing stdout and stderr.
CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout = std::chrono::seconds(30));

// A fresh temporary directory, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  void write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

// Polls `cond` every few milliseconds until it holds or `timeout` passes.
template <typename Cond>
bool wait_until(Cond cond, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    struct timespec ts{0, 5'000'000};
    nanosleep(&ts, nullptr);
  }
  return cond();
}

std::string binary(const std::string& name);  // path of a built program ($MQ_BIN_DIR overrides build/bin)

}  // namespace mq::test
