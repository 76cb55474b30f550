#include "process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace mq::test {

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !status_) {
    ::kill(pid_, SIGKILL);
    wait_exit(std::chrono::seconds(10));
  }
  if (out_fd_ >= 0) ::close(out_fd_);
}

bool ChildProcess::start(const std::vector<std::string>& argv) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return false;
  pid_ = ::fork();
  if (pid_ < 0) return false;
  if (pid_ == 0) {
    // If the test process dies (a crash, a kill), its servers die with it instead of lingering.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    _exit(127);
  }
  ::close(fds[1]);
  out_fd_ = fds[0];
  ::fcntl(out_fd_, F_SETFL, O_NONBLOCK);
  return true;
}

void ChildProcess::read_available(int timeout_ms) {
  if (out_fd_ < 0) return;
  pollfd p{out_fd_, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) <= 0) return;
  char buf[8192];
  while (true) {
    ssize_t n = ::read(out_fd_, buf, sizeof buf);
    if (n > 0) {
      output_.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) {
      ::close(out_fd_);
      out_fd_ = -1;
    }
    return;
  }
}

std::optional<std::string> ChildProcess::wait_for_line(const std::string& needle, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    size_t at = output_.find(needle);
    if (at != std::string::npos) {
      size_t b = output_.rfind('\n', at);
      b = b == std::string::npos ? 0 : b + 1;
      size_t e = output_.find('\n', at);
      return output_.substr(b, e == std::string::npos ? std::string::npos : e - b);
    }
    if (std::chrono::steady_clock::now() >= deadline || (out_fd_ < 0 && !running())) return std::nullopt;
    read_available(20);
  }
}

void ChildProcess::signal(int signum) {
  if (pid_ > 0 && !status_) ::kill(pid_, signum);
}

bool ChildProcess::running() {
  if (pid_ <= 0 || status_) return false;
  int st = 0;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return false;
  }
  return true;
}

std::optional<int> ChildProcess::wait_exit(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    read_available(10);
  }
  read_available(0);
  return status_;
}

CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  ChildProcess p;
  CommandResult r;
  if (!p.start(argv)) return r;
  auto st = p.wait_exit(timeout);
  if (!st) {
    p.signal(SIGKILL);
    p.wait_exit(std::chrono::seconds(5));
    r.exit_code = -1;
  } else {
    r.exit_code = *st;
  }
  r.output = p.output();
  return r;
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "mqtest-XXXXXX").string();
  char* p = ::mkdtemp(tmpl.data());
  path_ = p ? p : "";
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

void TempDir::write(const std::string& name, const std::string& content) const {
  std::ofstream out(file(name), std::ios::binary);
  out << content;
}

std::string binary(const std::string& name) {
  // MQ_BIN_DIR: programs copied elsewhere (a long fault run keeps its own copies while the tree is rebuilt).
  if (const char* dir = std::getenv("MQ_BIN_DIR"); dir != nullptr && *dir != '\0') return std::string(dir) + "/" + name;
  return std::string(MQ_BINARY_DIR) + "/bin/" + name;
}

}  // namespace mq::test
