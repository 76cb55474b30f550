// Store benchmark: appends/s and MB/s for 128 B, 1 KiB and 16 KiB messages with ASYNC_FLUSH and
// SYNC_FLUSH (group commit), next to what the machine itself does in the same run and directory:
// fsync rate (4 KiB write + fdatasync), sequential write bandwidth (1 MiB writes + final
// fdatasync), and the raw cost of an append by pwrite vs memcpy into a mapping (the choice
// documented in store/file.h).
//
// Threads mirror the broker: one "loop" thread owns the store and appends; one "worker" thread runs
// flush() (every flush_interval for ASYNC, back to back while puts wait for SYNC) and pre-creates
// segments. SYNC_FLUSH is measured with a window of W outstanding puts (W producers each waiting for
// its ack, which is how a broker sees concurrent clients): each fsync completes every put that was
// waiting when it started.
//
// Usage: store_bench [--dir DIR] [--seconds-per-case S] [--window W] [--segment-mib N]
// Defaults: $TMPDIR or /tmp, 2 s per case (about 30 s in all), W = 256, 256 MiB segments.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "store/group_commit.h"
#include "store/message_store.h"

using namespace mq;
using namespace mq::store;
using SteadyClock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string dir;
  double seconds_per_case = 2.0;
  int window = 256;
  int64_t segment_mib = 256;
};

double seconds_since(SteadyClock::time_point t0) {
  return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}

std::string make_dir(const std::string& base, const std::string& name) {
  std::string d = base + "/" + name;
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

// fsyncs per second: 4 KiB written at a rotating offset, then fdatasync, for `secs`.
double measure_fsync_rate(const std::string& dir, double secs) {
  std::string path = dir + "/fsync.probe";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return -1;
  char buf[4096];
  std::memset(buf, 'f', sizeof buf);
  int64_t n = 0;
  auto t0 = SteadyClock::now();
  while (seconds_since(t0) < secs) {
    if (::pwrite(fd, buf, sizeof buf, (n % 256) * 4096) != sizeof buf) break;
    if (::fdatasync(fd) != 0) break;
    ++n;
  }
  double rate = static_cast<double>(n) / seconds_since(t0);
  ::close(fd);
  ::unlink(path.c_str());
  return rate;
}

// Sequential write bandwidth in MB/s: 1 MiB writes for `secs` (at most 2 GiB), then fdatasync.
double measure_seq_write(const std::string& dir, double secs) {
  std::string path = dir + "/seq.probe";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return -1;
  std::vector<char> buf(1 << 20, 's');
  int64_t bytes = 0;
  auto t0 = SteadyClock::now();
  while (seconds_since(t0) < secs && bytes < (2LL << 30)) {
    if (::write(fd, buf.data(), buf.size()) != static_cast<ssize_t>(buf.size())) break;
    bytes += static_cast<int64_t>(buf.size());
  }
  ::fdatasync(fd);
  double mbps = static_cast<double>(bytes) / 1e6 / seconds_since(t0);
  ::close(fd);
  ::unlink(path.c_str());
  return mbps;
}

// Raw append cost: pwrite at increasing offsets vs memcpy into a shared mapping of a sparse file
// (both go to the page cache; no fsync). Returns appends/s for each.
std::pair<double, double> measure_raw_append(const std::string& dir, size_t size, double secs) {
  const int64_t file_bytes = 256LL << 20;
  std::vector<char> rec(size, 'r');
  double pw = 0, mm = 0;
  {
    std::string path = dir + "/pwrite.probe";
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
    (void)::ftruncate(fd, file_bytes);
    int64_t n = 0, off = 0;
    auto t0 = SteadyClock::now();
    while (seconds_since(t0) < secs) {
      for (int k = 0; k < 256; ++k) {
        if (off + static_cast<int64_t>(size) > file_bytes) off = 0;
        if (::pwrite(fd, rec.data(), size, off) < 0) break;
        off += static_cast<int64_t>(size);
        ++n;
      }
    }
    pw = static_cast<double>(n) / seconds_since(t0);
    ::close(fd);
    ::unlink(path.c_str());
  }
  {
    std::string path = dir + "/mmap.probe";
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
    (void)::ftruncate(fd, file_bytes);
    char* base = static_cast<char*>(::mmap(nullptr, static_cast<size_t>(file_bytes), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    int64_t n = 0, off = 0;
    auto t0 = SteadyClock::now();
    if (base != MAP_FAILED) {
      while (seconds_since(t0) < secs) {
        for (int k = 0; k < 256; ++k) {
          if (off + static_cast<int64_t>(size) > file_bytes) off = 0;
          std::memcpy(base + off, rec.data(), size);
          off += static_cast<int64_t>(size);
          ++n;
        }
      }
      ::munmap(base, static_cast<size_t>(file_bytes));
    }
    mm = static_cast<double>(n) / seconds_since(t0);
    ::close(fd);
    ::unlink(path.c_str());
  }
  return {pw, mm};
}

MessageToStore make_message(size_t body_size) {
  MessageToStore m;
  m.topic = "BenchTopic";
  m.body.assign(body_size, 'b');
  m.born_host = HostAddress::v4(127, 0, 0, 1, 40000);
  m.store_host = HostAddress::v4(127, 0, 0, 1, 10911);
  m.properties = encode_properties({{"TAGS", "TagA"}, {"UNIQ_KEY", "7F0000013E0A5FFD2B276C7613790000"}});
  return m;
}

struct CaseResult {
  double appends_per_s = 0;
  double mb_per_s = 0;       // record bytes written to the CommitLog
  double puts_per_fsync = 0;  // SYNC only
  int64_t errors = 0;
};

MessageStoreConfig bench_config(const std::string& dir, const Options& o, bool mmap = true) {
  MessageStoreConfig c;
  c.store_path_root_dir = dir;
  c.append_by_mmap = mmap;
  c.mapped_file_size_commit_log = o.segment_mib << 20;
  return c;
}

CaseResult run_async(const std::string& dir, size_t body, const Options& o, bool mmap) {
  PosixFileSystem fs;
  MessageStore store(bench_config(dir, o, mmap), fs, Logger(std::make_shared<LogSink>(stderr, LogLevel::kWarn), "[bench]"));
  if (!store.open().ok()) return {};
  std::atomic<bool> stop{false};
  std::thread worker([&] {
    auto last = SteadyClock::now();
    while (!stop.load()) {
      (void)store.precreate_next_file();
      if (seconds_since(last) * 1000 >= static_cast<double>(store.config().flush_interval_commit_log_ms)) {
        (void)store.flush();
        last = SteadyClock::now();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  auto m = make_message(body);
  SystemClock wall;
  CaseResult r;
  int64_t n = 0, bytes = 0;
  auto t0 = SteadyClock::now();
  while (seconds_since(t0) < o.seconds_per_case) {
    for (int k = 0; k < 64; ++k) {
      m.queue_id = static_cast<int32_t>(n & 3);
      auto p = store.put_message(m, wall.now_ms());
      if (!p.ok()) {
        ++r.errors;
        break;
      }
      ++n;
      bytes += p.wrote_bytes;
    }
    if (r.errors) break;
  }
  double secs = seconds_since(t0);
  stop = true;
  worker.join();
  (void)store.shutdown();
  r.appends_per_s = static_cast<double>(n) / secs;
  r.mb_per_s = static_cast<double>(bytes) / 1e6 / secs;
  return r;
}

CaseResult run_sync(const std::string& dir, size_t body, const Options& o) {
  PosixFileSystem fs;
  MessageStore store(bench_config(dir, o), fs, Logger(std::make_shared<LogSink>(stderr, LogLevel::kWarn), "[bench]"));
  if (!store.open().ok()) return {};
  std::mutex mu;
  std::condition_variable cv;
  GroupCommit gc;  // owned by the loop thread in the broker; here guarded by mu
  int outstanding = 0;
  int64_t completed = 0, fsyncs = 0;
  bool stop = false;
  std::thread worker([&] {
    int k = 0;
    while (true) {
      {
        std::unique_lock g(mu);
        cv.wait(g, [&] { return stop || !gc.empty(); });
        if (stop && gc.empty()) return;
      }
      auto f = store.flush_commit_log();
      if (!f.ok()) return;
      if (++k % 16 == 0) {
        (void)store.precreate_next_file();
        (void)store.flush();
      }
      std::lock_guard g(mu);
      ++fsyncs;
      auto done = gc.complete_up_to(*f);
      completed += static_cast<int64_t>(done.size());
      outstanding -= static_cast<int>(done.size());
      cv.notify_all();
    }
  });
  auto m = make_message(body);
  SystemClock wall;
  CaseResult r;
  int64_t n = 0, bytes = 0;
  auto t0 = SteadyClock::now();
  while (seconds_since(t0) < o.seconds_per_case) {
    {
      std::unique_lock g(mu);
      cv.wait(g, [&] { return outstanding < o.window; });
    }
    m.queue_id = static_cast<int32_t>(n & 3);
    auto p = store.put_message(m, wall.now_ms());
    if (!p.ok()) {
      ++r.errors;
      break;
    }
    ++n;
    bytes += p.wrote_bytes;
    std::lock_guard g(mu);
    ++outstanding;
    gc.add(static_cast<uint64_t>(n), p.end_offset, INT64_MAX);
    cv.notify_all();
  }
  {
    std::unique_lock g(mu);
    cv.wait(g, [&] { return outstanding == 0; });
    stop = true;
    cv.notify_all();
  }
  double secs = seconds_since(t0);
  worker.join();
  (void)store.shutdown();
  r.appends_per_s = static_cast<double>(completed) / secs;
  r.mb_per_s = static_cast<double>(bytes) / 1e6 / secs;
  r.puts_per_fsync = fsyncs ? static_cast<double>(completed) / static_cast<double>(fsyncs) : 0;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  const char* tmp = std::getenv("TMPDIR");
  o.dir = std::string(tmp ? tmp : "/tmp") + "/mq-store-bench";
  std::string cmd;
  for (int i = 0; i < argc; ++i) cmd += (i ? " " : "") + std::string(argv[i]);
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--dir") o.dir = next();
    else if (a == "--seconds-per-case") o.seconds_per_case = std::atof(next().c_str());
    else if (a == "--window") o.window = std::atoi(next().c_str());
    else if (a == "--segment-mib") o.segment_mib = std::atoll(next().c_str());
    else {
      std::fprintf(stderr, "usage: %s [--dir DIR] [--seconds-per-case S] [--window W] [--segment-mib N]\n", argv[0]);
      return 2;
    }
  }
  std::filesystem::create_directories(o.dir);
  std::printf("# %s\n# dir %s, %.1f s per case, sync window %d, segments %lld MiB\n", cmd.c_str(), o.dir.c_str(),
              o.seconds_per_case, o.window, static_cast<long long>(o.segment_mib));
  double probe_secs = std::max(0.5, o.seconds_per_case / 2);
  std::string probe_dir = make_dir(o.dir, "probe");
  double fsync_rate = measure_fsync_rate(probe_dir, probe_secs);
  double seq_mbps = measure_seq_write(probe_dir, probe_secs);
  std::printf("machine: fsync rate %.0f/s (4 KiB write + fdatasync), sequential write %.0f MB/s (1 MiB writes + fdatasync)\n",
              fsync_rate, seq_mbps);
  std::printf("raw append into page cache (no fsync):\n");
  for (size_t sz : {128u, 1024u, 16384u}) {
    auto [pw, mm] = measure_raw_append(probe_dir, sz, std::max(0.2, o.seconds_per_case / 6));
    std::printf("  %6zu B  pwrite %10.0f/s  mmap memcpy %10.0f/s\n", sz, pw, mm);
  }
  std::printf("%-13s %6s %12s %10s %11s\n", "flush/append", "body", "appends/s", "MB/s", "puts/fsync");
  for (const char* mode : {"async/mmap", "async/pwrite", "sync/mmap"}) {
    std::string m = mode;
    for (size_t sz : {128u, 1024u, 16384u}) {
      std::string d = make_dir(o.dir, "case-" + std::to_string(sz));
      CaseResult r = m == "sync/mmap" ? run_sync(d, sz, o) : run_async(d, sz, o, m == "async/mmap");
      std::filesystem::remove_all(d);
      char per_fsync[32] = "-";
      if (m == "sync/mmap") std::snprintf(per_fsync, sizeof per_fsync, "%.1f", r.puts_per_fsync);
      std::printf("%-13s %6zu %12.0f %10.1f %11s%s\n", mode, sz, r.appends_per_s, r.mb_per_s, per_fsync,
                  r.errors ? "  (errors)" : "");
      std::fflush(stdout);
    }
  }
  std::printf("(MB/s counts whole records: body + 91 B header + topic + properties; sync = SYNC_FLUSH group commit, %d puts in flight)\n",
              o.window);
  std::filesystem::remove_all(o.dir);
  return 0;
}
