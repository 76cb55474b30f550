// store_crash_helper <store dir> <async|sync> <first seq>
// Appends messages forever to a store; a worker thread flushes (and pre-creates segments) the way
// the broker's worker pool will. After each put *completes* (async: when put_message returns;
// sync: when a flush covered it, through GroupCommit) it writes "<seq>\n" to stdout, unbuffered.
// The crash test kills it with SIGKILL at random points and checks that every reported put
// survived recovery.
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

#include "base/clock.h"
#include "store/group_commit.h"
#include "store/message_store.h"
#include "tests/store/crash_common.h"

using namespace mq;
using namespace mq::store;

namespace {
void report(int64_t seq) {
  std::string line = std::to_string(seq) + "\n";
  if (::write(1, line.data(), line.size()) != static_cast<ssize_t>(line.size())) std::_Exit(3);
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) return 2;
  std::string dir = argv[1];
  bool sync = std::string(argv[2]) == "sync";
  int64_t seq = std::atoll(argv[3]);
  PosixFileSystem fs;
  MessageStore store(crash_test::config(dir), fs, Logger(std::make_shared<LogSink>(stderr, LogLevel::kError), ""));
  auto opened = store.open();
  if (!opened.ok()) {
    std::fprintf(stderr, "open: %s\n", opened.detail().c_str());
    return 1;
  }
  std::mutex mu;
  std::condition_variable cv;
  GroupCommit gc;  // at most 64 puts in flight, like 64 producers each waiting for its ack
  std::atomic<bool> stop{false};
  std::thread worker([&] {
    int n = 0;
    while (!stop.load()) {
      auto f = sync && n % 8 != 0 ? store.flush_commit_log() : store.flush();
      if (!f.ok()) std::_Exit(4);
      if (++n % 8 == 0) (void)store.precreate_next_file();
      std::lock_guard g(mu);
      for (auto token : gc.complete_up_to(*f)) report(static_cast<int64_t>(token));
      cv.notify_all();
    }
  });
  SystemClock wall;
  for (;; ++seq) {
    if (sync) {
      std::unique_lock g(mu);
      cv.wait(g, [&] { return gc.size() < 64; });
    }
    auto r = store.put_message(crash_test::message(seq), wall.now_ms());
    if (!r.ok()) {
      std::fprintf(stderr, "put: %s\n", r.detail.c_str());
      std::_Exit(5);
    }
    if (sync) {
      std::lock_guard g(mu);
      gc.add(static_cast<uint64_t>(seq), r.end_offset, INT64_MAX);
    } else {
      report(seq);
    }
  }
}
