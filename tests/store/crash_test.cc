// kill -9 crash test: a child process (store_crash_helper) appends with ASYNC_FLUSH or SYNC_FLUSH
// group commit and reports each completed put on a pipe; the parent kills it with SIGKILL at a
// random point, reopens the store (abnormal recovery) and checks that every reported put is there,
// intact, with dense queue offsets. Iterations reuse the same store directory, so recovery also
// runs on stores that earlier recoveries cut.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <set>

#include "store/message_store.h"
#include "tests/store/crash_common.h"
#include "tests/store/test_util.h"

using namespace mq;
using namespace mq::store;

namespace {

struct ChildRun {
  std::vector<int64_t> completed;
  std::string error;
};

// Starts the helper and kills it after `kill_after` reports (or when it dies on its own).
ChildRun run_and_kill(const std::string& dir, const char* mode, int64_t first_seq, int kill_after) {
  ChildRun out;
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  std::string helper = std::string(MQ_BINARY_DIR) + "/tests/store_crash_helper";
  std::string seq = std::to_string(first_seq);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    ::close(fds[1]);
    ::execl(helper.c_str(), helper.c_str(), dir.c_str(), mode, seq.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[1]);
  std::string buf;
  char chunk[4096];
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (static_cast<int>(out.completed.size()) < kill_after) {
    pollfd p{fds[0], POLLIN, 0};
    int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                  deadline - std::chrono::steady_clock::now()).count());
    if (ms <= 0) break;  // a slow disk: kill it now and check what completed
    if (::poll(&p, 1, ms) <= 0) continue;
    ssize_t n = ::read(fds[0], chunk, sizeof chunk);
    if (n <= 0) {
      out.error = "helper exited early";
      break;
    }
    buf.append(chunk, static_cast<size_t>(n));
    size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      out.completed.push_back(std::stoll(buf.substr(0, nl)));
      buf.erase(0, nl + 1);
    }
  }
  ::kill(pid, SIGKILL);
  // Reports already in the pipe were completed before the kill: count them too.
  while (true) {
    ssize_t n = ::read(fds[0], chunk, sizeof chunk);
    if (n <= 0) break;
    buf.append(chunk, static_cast<size_t>(n));
  }
  size_t nl;
  while ((nl = buf.find('\n')) != std::string::npos) {
    out.completed.push_back(std::stoll(buf.substr(0, nl)));
    buf.erase(0, nl + 1);
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return out;
}

// Opens the store and returns seq -> queue offset for every record, checking content and density.
std::map<int64_t, int64_t> verify_store(const std::string& dir, bool clean_shutdown) {
  PosixFileSystem fs;
  MessageStore s(crash_test::config(dir), fs, Logger(std::make_shared<LogSink>(stderr, LogLevel::kError), ""));
  auto rep = s.open();
  REQUIRE_MESSAGE(rep.ok(), (rep.ok() ? "" : rep.detail()));
  std::map<int64_t, int64_t> seen;
  for (int32_t q = 0; q < 3; ++q) {
    int64_t off = s.min_offset_in_queue("CrashTopic", q);
    int64_t expect = off;
    while (true) {
      auto g = s.get_message("CrashTopic", q, off, 64, 1 << 22);
      if (g.status != GetMessageStatus::kFound) {
        if (s.max_offset_in_queue("CrashTopic", q) > 0) CHECK(g.status == GetMessageStatus::kOffsetOverflowOne);
        break;
      }
      auto recs = decode_records(g.buffer);  // CRC checked
      REQUIRE(recs.ok());
      for (const auto& m : *recs) {
        // One assertion per failure only: there are tens of thousands of records.
        if (m.queue_offset != expect) FAIL_CHECK("queue offset " << m.queue_offset << " expected " << expect);
        ++expect;
        auto uk = find_property(m.properties, "UNIQ_KEY");
        REQUIRE(uk.has_value());
        int64_t seq = std::stoll(std::string(*uk));
        if (m.body != crash_test::body(seq) || m.queue_id != seq % 3) FAIL_CHECK("record " << seq << " differs");
        if (!seen.emplace(seq, m.queue_offset).second) FAIL_CHECK("record " << seq << " twice");
      }
      off = g.next_begin_offset;
    }
  }
  if (clean_shutdown) REQUIRE(s.shutdown().ok());
  return seen;
}

void crash_loop(const char* mode, int iterations, uint64_t seed) {
  test::TempDir tmp;
  std::string dir = tmp.path() + "/store";
  Random rng(seed);
  int64_t next_seq = 0;
  std::set<int64_t> all_completed;
  size_t total = 0;
  for (int it = 0; it < iterations; ++it) {
    CAPTURE(it);
    int kill_after = static_cast<int>(rng.uniform(0, 400));
    auto run = run_and_kill(dir, mode, next_seq, kill_after);
    REQUIRE_MESSAGE(run.error.empty(), run.error);
    for (auto s : run.completed) all_completed.insert(s);
    total += run.completed.size();
    auto seen = verify_store(dir, rng.chance(1, 4));
    size_t lost = 0;
    for (auto s : all_completed)
      if (!seen.count(s)) {
        if (lost == 0) FAIL_CHECK("completed put " << s << " lost");
        ++lost;
      }
    CHECK(lost == 0);
    CHECK(seen.size() >= all_completed.size());
    // Next run's sequence numbers never collide with anything written before.
    next_seq = (seen.empty() ? next_seq : std::max(next_seq, seen.rbegin()->first + 1)) + 1000000;
  }
  MESSAGE(std::string(mode) << ": " << iterations << " kills, " << total << " completed puts checked");
}

}  // namespace

TEST_CASE("kill -9 with ASYNC_FLUSH: every completed put survives, nothing torn") {
  crash_loop("async", 30, 11);
}

TEST_CASE("kill -9 with SYNC_FLUSH group commit: every acknowledged put survives, nothing torn") {
  crash_loop("sync", 30, 12);
}
